//! Local servers that behave as the platforms' reply APIs document: the
//! paths, the auth each one checks, its answers, error codes, throttling
//! and expired tokens. Each records what it received, so a test can say
//! "exactly one correct reply arrived", and compare inlet's request with
//! the one the platform's official SDK sends to the same server.
//!
//! [`FakeServer`] is the shared part: it binds 127.0.0.1, records every
//! request and asks the platform's `respond` function for the answer.

pub mod dingtalk;
pub mod discord;
pub mod lark;
pub mod slack;
pub mod telegram;
pub mod wecom;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::StatusCode;
use inlet_cli::httpd::{HttpResponse, read_body, respond, serve};
use tokio::net::TcpListener;

/// One request as the server received it.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query's pairs, decoded.
    pub query: BTreeMap<String, String>,
    /// Header names in lower case; a repeated header keeps its last value.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// An answer: status, extra headers, JSON or text body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub content_type: &'static str,
}

impl Answer {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Answer { status, headers: Vec::new(), body: body.to_string(), content_type: "application/json" }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Answer { status, headers: Vec::new(), body: body.to_string(), content_type: "text/plain" }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A platform's behaviour: the answer to one request, given its state.
pub type Respond<S> = Arc<dyn Fn(&mut S, &Received) -> Answer + Send + Sync>;

/// A running server; it stops when dropped.
pub struct FakeServer<S> {
    pub url: String,
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    pub state: Arc<Mutex<S>>,
    task: tokio::task::JoinHandle<()>,
}

impl<S> Drop for FakeServer<S> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<S: Send + 'static> FakeServer<S> {
    /// Serves `respond` on a free port of 127.0.0.1.
    pub async fn start(state: S, respond_with: Respond<S>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("bound").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(Mutex::new(state));
        let (log, shared) = (received.clone(), state.clone());
        let task = tokio::spawn(serve(listener, move |request: hyper::Request<hyper::body::Incoming>, _peer| {
            let (log, shared, respond_with) = (log.clone(), shared.clone(), respond_with.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = read_body(body, 1 << 20).await.map(|b| b.to_vec()).unwrap_or_default();
                let query = parts.uri.query().map(form_urlencoded_pairs).unwrap_or_default();
                let headers = parts
                    .headers
                    .iter()
                    .map(|(name, value)| {
                        (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())
                    })
                    .collect();
                let received = Received {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    query,
                    headers,
                    body,
                };
                let answer = {
                    let mut state = shared.lock().expect("state");
                    respond_with(&mut state, &received)
                };
                log.lock().expect("log").push(received);
                to_response(answer)
            }
        }));
        FakeServer { url: format!("http://127.0.0.1:{port}"), port, received, state, task }
    }

    /// Every request so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }

    /// The requests to `path` so far.
    pub fn received_at(&self, path: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.path == path).collect()
    }

    /// Runs `change` on the platform's state (to expire a token, start throttling…).
    pub fn with_state<T>(&self, change: impl FnOnce(&mut S) -> T) -> T {
        change(&mut self.state.lock().expect("state"))
    }
}

fn to_response(answer: Answer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = respond(status, answer.content_type, answer.body);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(&value))
        {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// `a=1&b=x%20y` → pairs, `+` as space (what form-encoded queries mean).
pub fn form_urlencoded_pairs(query: &str) -> BTreeMap<String, String> {
    inlet_shared::form::parse_form(query.as_bytes()).unwrap_or_default().into_iter().collect()
}
