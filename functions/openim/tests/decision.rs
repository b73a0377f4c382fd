//! The decision hook of before-callbacks (`OPENIM_DECISION_URL`), against
//! a local hook on 127.0.0.1 that records each request and answers as told.
//! The hook's requests are judged by inlet's Standard Webhooks receiver and
//! by the specification's reference library (`standardwebhooks` 1.1, the
//! project venv's, through functions/standard-webhooks'
//! `standardwebhooks_check.py`). Every case checks that the callback was
//! enqueued: the verdict decides OpenIM's answer, never the capture.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::HttpFunction;
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_testkit::CapturedLogs;
use inlet_testkit::crosscheck::{Runtime, base64_of, repository_root, run_library};
use inlet_testkit::samples::{dev_settings_with, event_request};
use openim::decision::{
    DENY_ERR_CODE, DENY_ERR_MSG, FALLBACK_SETTING, SECRET_SETTING, TIMEOUT_SETTING, UNAVAILABLE_ERR_CODE,
    UNAVAILABLE_ERR_MSG, URL_SETTING, deny_body,
};
use openim::{OpenimFunction, continue_body, refuse_body};
use serde_json::{Value, json};
use standard_webhooks::StandardWebhooksFunction;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// 32-byte keys; the second is the next secret of a rotation.
const SECRET: &str = "whsec_ZGVjaXNpb24taG9vay1zZWNyZXQtTk9ULUEtU0VDUkVU";
const NEXT_SECRET: &str = "whsec_bmV4dC1kZWNpc2lvbi1zZWNyZXQtTk9ULUEtU0VDUkVU";
/// The budget the tests give the hook.
const BUDGET_MS: u64 = 300;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

/// How the hook answers every request.
#[derive(Clone, Debug)]
enum Answer {
    /// A status and a body, sent as JSON.
    With(u16, &'static str),
    /// Reads the request, then never answers.
    Never,
}

/// A request as the hook saw it.
#[derive(Clone, Debug)]
struct Recorded {
    request_line: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or_default()
    }
}

struct Hook {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    server: JoinHandle<()>,
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Hook {
    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// A hook on 127.0.0.1 answering every request with `answer`: a minimal
/// HTTP/1.1 server, one request per connection.
async fn hook(answer: Answer) -> Hook {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/decide", listener.local_addr().expect("address"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let recorded = requests.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_one(stream, answer.clone(), recorded.clone()));
        }
    });
    Hook { url, requests, server }
}

async fn serve_one(mut stream: TcpStream, answer: Answer, recorded: Arc<Mutex<Vec<Recorded>>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buffer[head_end..head_end + length].to_vec();
    recorded.lock().unwrap().push(Recorded { request_line, headers, body });
    match answer {
        Answer::Never => std::future::pending::<()>().await,
        Answer::With(status, body) => {
            let response = format!(
                "HTTP/1.1 {status} Answer\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

/// The dev settings with the hook at `url`, the tests' budget and `more`.
fn settings(url: &str, more: &[(&str, &str)]) -> HashMap<String, String> {
    let budget = BUDGET_MS.to_string();
    let mut pairs = vec![(URL_SETTING, url), (SECRET_SETTING, SECRET), (TIMEOUT_SETTING, budget.as_str())];
    pairs.extend_from_slice(more);
    dev_settings_with(&pairs)
}

async fn handle_on(env: &HashMap<String, String>, publisher: &MemoryPublisher, request: &IncomingRequest) -> Reply {
    OpenimFunction::from_env(env).expect("valid settings").handle(publisher, request, now()).await
}

/// A before-callback handled with the hook at `url`: the answer, its body
/// and the queue.
async fn before_callback(url: &str, more: &[(&str, &str)]) -> (Reply, Value, MemoryPublisher) {
    let publisher = MemoryPublisher::new();
    let reply = handle_on(&settings(url, more), &publisher, &event_request("openim-before-send-single")).await;
    let body = reply.body_json().expect("a JSON answer");
    (reply, body, publisher)
}

fn assert_enqueued(publisher: &MemoryPublisher) {
    let sent = publisher.sent();
    assert_eq!(sent.len(), 1, "the callback is enqueued whatever the decision");
    assert_eq!(sent[0].kind, "callbackBeforeSendSingleMsgCommand");
}

#[tokio::test]
async fn an_allowing_hook_lets_the_action_continue_and_is_asked_once() {
    let hook = hook(Answer::With(200, r#"{"allow": true}"#)).await;
    let (reply, body, publisher) = before_callback(&hook.url, &[]).await;
    assert_eq!((reply.status, body), (StatusCode::OK, continue_body()));
    assert_enqueued(&publisher);
    let requests = hook.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].request_line, "POST /decide HTTP/1.1");
}

#[tokio::test]
async fn an_allowing_hook_may_replace_fields_but_never_the_verdict() {
    let hook = hook(Answer::With(
        200,
        r#"{"allow": true, "replace": {"content": "{\"content\":\"edited\"}", "ex": "tagged",
            "actionCode": 1, "errCode": 99, "errMsg": "sneaky", "errDlt": "x", "nextCode": 1}}"#,
    ))
    .await;
    let (_, body, publisher) = before_callback(&hook.url, &[]).await;
    let mut expected = continue_body();
    expected["content"] = json!(r#"{"content":"edited"}"#);
    expected["ex"] = json!("tagged");
    assert_eq!(body, expected);
    assert_enqueued(&publisher);
    assert_eq!(
        publisher.sent()[0].message.as_ref().unwrap().text.as_deref(),
        Some("hello from OpenIM"),
        "the event is what OpenIM sent"
    );
}

#[tokio::test]
async fn a_denying_hook_refuses_the_action_with_its_err_code_and_err_msg() {
    let hook =
        hook(Answer::With(200, r#"{"allow": false, "errCode": 4001, "errMsg": "links are not allowed here"}"#)).await;
    let (reply, body, publisher) = before_callback(&hook.url, &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"actionCode": 0, "errCode": 4001, "errMsg": "links are not allowed here", "errDlt": "", "nextCode": 1})
    );
    assert_enqueued(&publisher);

    let bare = self::hook(Answer::With(200, r#"{"allow": false}"#)).await;
    let (_, body, publisher) = before_callback(&bare.url, &[]).await;
    assert_eq!(body, deny_body(DENY_ERR_CODE, DENY_ERR_MSG), "the defaults");
    assert_eq!((body["errCode"].as_i64(), body["errMsg"].as_str()), (Some(5001), Some("refused")));
    assert_enqueued(&publisher);
}

/// One verdict of the reference library on `request`, judged with `secret`.
fn library_case(name: &str, request: &Recorded, body: &[u8], secret: &str) -> Value {
    json!({
        "name": name,
        "secrets": [secret],
        "body_b64": base64_of(body),
        "headers": {
            "webhook-id": request.header("webhook-id"),
            "webhook-timestamp": request.header("webhook-timestamp"),
            "webhook-signature": request.header("webhook-signature"),
        },
        "now": request.header("webhook-timestamp").parse::<i64>().expect("a timestamp"),
    })
}

/// What inlet's Standard Webhooks receiver makes of `request` (with `body`)
/// when its source `openim-hook` has `secret`: the status and what it queued.
async fn receiver_verdict(request: &Recorded, body: &[u8], secret: &str) -> (StatusCode, Vec<Value>) {
    let keys = format!("openim-hook={secret}");
    let env: HashMap<&str, &str> = [("STANDARD_WEBHOOKS_SECRETS", keys.as_str()), ("INLET_METRICS", "off")].into();
    let receiver = StandardWebhooksFunction::from_env(&env).expect("a receiver");
    let mut incoming = IncomingRequest::new(Method::POST, "/webhooks/openim-hook", body.to_vec());
    for name in ["content-type", "webhook-id", "webhook-timestamp", "webhook-signature"] {
        incoming.append_header(name.as_bytes(), request.header(name).as_bytes());
    }
    let publisher = MemoryPublisher::new();
    let reply = receiver.handle(&publisher, &incoming, OffsetDateTime::now_utc()).await;
    (reply.status, publisher.sent().into_iter().map(|envelope| envelope.payload.to_value().unwrap()).collect())
}

#[tokio::test]
async fn the_hooks_request_is_the_queued_envelope_signed_with_standard_webhooks() {
    let hook = hook(Answer::With(200, r#"{"allow": true}"#)).await;
    let rotating = format!("{SECRET}, {NEXT_SECRET}");
    let (_, _, publisher) = before_callback(&hook.url, &[(SECRET_SETTING, &rotating)]).await;
    let queued = &publisher.sent_messages()[0];
    let request = &hook.requests()[0];

    assert_eq!(request.body, queued.body.as_bytes(), "the hook gets exactly the bytes the queue got");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("webhook-id"), publisher.sent()[0].id);
    let timestamp: u64 = request.header("webhook-timestamp").parse().expect("Unix seconds");
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(wall.abs_diff(timestamp) < 60, "signed now ({timestamp}), not at the callback's time");
    assert_eq!(request.header("webhook-signature").split(' ').count(), 2, "one v1 entry per secret");

    let envelope: Value = serde_json::from_slice(&request.body).expect("JSON");
    let tampered = queued.body.replace("hello from OpenIM", "hello from someone else");
    assert_ne!(tampered, queued.body);
    let mut cases = Vec::new();
    for (name, secret) in [("current", SECRET), ("next", NEXT_SECRET)] {
        let (status, payloads) = receiver_verdict(request, &request.body, secret).await;
        assert_eq!(status, StatusCode::OK, "inlet's receiver verifies it with the {name} secret alone");
        assert_eq!(payloads, std::slice::from_ref(&envelope));
        let (status, _) = receiver_verdict(request, tampered.as_bytes(), secret).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a changed body does not verify");
        cases.push(library_case(name, request, &request.body, secret));
        cases.push(library_case(&format!("{name}-tampered"), request, tampered.as_bytes(), secret));
    }
    let script = repository_root().join("functions/standard-webhooks/tests/standardwebhooks_check.py");
    let report =
        run_library(Runtime::VenvPython, &script, &json!({"verdicts": cases}), "library", "standardwebhooks 1.1.0");
    let event = |name: &str| report["verdicts"][name]["event"] == json!(true);
    assert!(event("current") && event("next"), "standardwebhooks accepts it with either secret: {report}");
    assert!(!event("current-tampered") && !event("next-tampered"), "and refuses a changed body: {report}");
}

#[tokio::test]
async fn a_hook_that_never_answers_gets_the_fallback_within_the_budget() {
    let hook = hook(Answer::Never).await;
    let env = settings(&hook.url, &[]);
    let function = OpenimFunction::from_env(&env).expect("valid settings");
    let publisher = MemoryPublisher::new();
    let logs = CapturedLogs::start();
    let started = Instant::now();
    let reply = function.handle(&publisher, &event_request("openim-before-send-single"), now()).await;
    let took = started.elapsed();
    assert_eq!(reply.body_json(), Some(continue_body()), "the default fallback allows");
    assert_enqueued(&publisher);
    assert_eq!(hook.requests().len(), 1, "the hook was asked");
    let budget = Duration::from_millis(BUDGET_MS);
    assert!(took >= budget, "answered by the timeout, after {took:?}");
    assert!(took < budget * 5, "answered within the budget, give or take: {took:?}");
    let text = logs.text();
    assert!(text.contains("fallback") && text.contains(&format!("no answer within {BUDGET_MS} ms")), "{text}");
    for secret in [SECRET, SECRET.trim_start_matches("whsec_"), "v1,"] {
        assert!(!text.contains(secret), "the log shows the secret or a signature: {text}");
    }
}

#[tokio::test]
async fn an_error_status_an_unreadable_answer_or_no_hook_at_all_gets_the_fallback() {
    for (answer, why) in [
        (Answer::With(500, r#"{"allow": false}"#), "a 500, whatever its body"),
        (Answer::With(403, r#"{"allow": false}"#), "a 403"),
        (Answer::With(200, "<html>oops</html>"), "garbage"),
        (Answer::With(200, r#"{"allow": "no"}"#), "allow that is not a boolean"),
        (Answer::With(200, r#"{"allow": false, "errCode": 0}"#), "a denial that OpenIM would read as success"),
    ] {
        let hook = hook(answer).await;
        let (_, body, publisher) = before_callback(&hook.url, &[]).await;
        assert_eq!(body, continue_body(), "{why}");
        assert_enqueued(&publisher);
        assert_eq!(hook.requests().len(), 1, "{why}");
    }
    // Nothing listening: the connection is refused.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = closed.local_addr().unwrap();
    drop(closed);
    let logs = CapturedLogs::start();
    let (_, body, publisher) = before_callback(&format!("http://{address}/decide?token=Tok3n"), &[]).await;
    assert_eq!(body, continue_body(), "a refused connection");
    assert_enqueued(&publisher);
    let text = logs.text();
    assert!(text.contains("not sent"), "the reason is logged: {text}");
    assert!(!text.contains("Tok3n") && !text.contains("/decide"), "the log shows the hook's URL: {text}");
}

#[tokio::test]
async fn the_deny_fallback_refuses_with_5002_when_the_hook_does_not_decide() {
    let hook = hook(Answer::With(503, "{}")).await;
    let (reply, body, publisher) = before_callback(&hook.url, &[(FALLBACK_SETTING, "deny")]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(body, deny_body(UNAVAILABLE_ERR_CODE, UNAVAILABLE_ERR_MSG));
    assert_eq!((body["errCode"].as_i64(), body["nextCode"].as_i64()), (Some(5002), Some(1)), "OpenIM's refusal");
    assert_enqueued(&publisher);
    // A hook that decides is obeyed whatever the fallback.
    let allowing = self::hook(Answer::With(200, r#"{"allow": true}"#)).await;
    let (_, body, _) = before_callback(&allowing.url, &[(FALLBACK_SETTING, "deny")]).await;
    assert_eq!(body, continue_body());
}

#[tokio::test]
async fn after_callbacks_and_other_commands_never_ask_the_hook() {
    let hook = hook(Answer::With(200, r#"{"allow": false}"#)).await;
    let env = settings(&hook.url, &[]);
    for sample in ["openim-after-send-group", "openim-user-online"] {
        let publisher = MemoryPublisher::new();
        let reply = handle_on(&env, &publisher, &event_request(sample)).await;
        assert_eq!(reply.body_json(), Some(continue_body()), "{sample}");
        assert_eq!(publisher.sent().len(), 1, "{sample}");
    }
    assert!(hook.requests().is_empty(), "{:?}", hook.requests());
}

#[tokio::test]
async fn a_queue_failure_is_answered_as_without_a_hook() {
    for answer in [r#"{"allow": true, "replace": {"content": "edited"}}"#, r#"{"allow": false, "errCode": 4001}"#] {
        let hook = hook(Answer::With(200, answer)).await;
        let down = MemoryPublisher::down();
        let request = event_request("openim-before-send-single");
        let reply = handle_on(&settings(&hook.url, &[]), &down, &request).await;
        assert_eq!(
            (reply.status, reply.body_json()),
            (StatusCode::OK, Some(continue_body())),
            "the default: the user's message continues, nothing from the hook ({answer})"
        );
        let blocking = settings(&hook.url, &[("OPENIM_BLOCK_ON_FAILURE", "true")]);
        let reply = handle_on(&blocking, &down, &request).await;
        assert_eq!(
            (reply.status, reply.body_json()),
            (StatusCode::SERVICE_UNAVAILABLE, Some(refuse_body())),
            "OPENIM_BLOCK_ON_FAILURE refuses, whatever the hook said ({answer})"
        );
        assert!(down.sent().is_empty());
    }
}

#[tokio::test]
async fn keeps_the_provider_contract_with_a_decision_hook() {
    let hook = hook(Answer::With(200, r#"{"allow": true}"#)).await;
    let budget = BUDGET_MS.to_string();
    inlet_testkit::conformance::check::<OpenimFunction>(&[
        (URL_SETTING, &hook.url),
        (SECRET_SETTING, SECRET),
        (TIMEOUT_SETTING, &budget),
    ])
    .await;
    assert!(!hook.requests().is_empty(), "the kit's before-callback asked the hook");
}

#[test]
fn start_up_refuses_a_hook_it_could_not_use_and_names_the_setting() {
    let refused = |pairs: &[(&str, &str)]| {
        let error = OpenimFunction::from_env(&dev_settings_with(pairs)).err().expect("refused at start-up");
        assert!(!error.to_string().contains("ZGVjaXNpb24"), "the error shows the secret: {error}");
        error
    };
    let url = (URL_SETTING, "https://hook.example.com/decide");
    let secret = (SECRET_SETTING, SECRET);
    for (pairs, setting, why) in [
        (vec![url], SECRET_SETTING, "is required when OPENIM_DECISION_URL is set"),
        (vec![url, (SECRET_SETTING, " , ")], SECRET_SETTING, "is empty"),
        (vec![url, (SECRET_SETTING, "whsec_c2hvcnQ=")], SECRET_SETTING, "is a key of 5 bytes"),
        (vec![url, (SECRET_SETTING, &format!("{SECRET},whsec_not*base64"))], SECRET_SETTING, "secret 2 of"),
        (vec![url, secret, (TIMEOUT_SETTING, "4001")], TIMEOUT_SETTING, "5000 ms callback timeout"),
        (vec![url, secret, (TIMEOUT_SETTING, "5000")], TIMEOUT_SETTING, "outside 50..=4000 ms"),
        (vec![url, secret, (TIMEOUT_SETTING, "49")], TIMEOUT_SETTING, "outside"),
        (vec![url, secret, (TIMEOUT_SETTING, "2s")], TIMEOUT_SETTING, "not a valid number"),
        (vec![url, secret, (FALLBACK_SETTING, "maybe")], FALLBACK_SETTING, "not allow or deny"),
        (vec![(URL_SETTING, "ftp://hook.example.com/"), secret], URL_SETTING, "http:// or https://"),
        (vec![(URL_SETTING, "/decide"), secret], URL_SETTING, "http:// or https://"),
        (vec![(URL_SETTING, "https://exa mple.com/"), secret], URL_SETTING, "not a URL"),
    ] {
        let error = refused(&pairs);
        assert_eq!(error.name, setting, "{pairs:?}: {error}");
        assert!(error.reason.contains(why), "{pairs:?}: {error}");
    }
    let accepted = |pairs: &[(&str, &str)]| OpenimFunction::from_env(&dev_settings_with(pairs)).expect("accepted");
    assert_eq!(accepted(&[url, secret]).decision.expect("a hook").budget(), Duration::from_millis(2000), "default");
    for budget in ["50", "4000"] {
        assert!(accepted(&[url, secret, (TIMEOUT_SETTING, budget)]).decision.is_some(), "{budget}");
    }
    let hook = accepted(&[url, secret, (FALLBACK_SETTING, "DENY")]).decision.expect("a hook");
    assert_eq!(hook.fallback(), openim::decision::Fallback::Deny);
    assert!(!format!("{hook:?}").contains("hook.example.com"), "Debug shows no URL: {hook:?}");
    // Without a URL there is no hook, and no connector is built.
    assert!(accepted(&[secret]).decision.is_none());
}
