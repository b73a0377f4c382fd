//! The HTTP destination (shared/src/delivery/http.rs) against a local
//! receiver on 127.0.0.1 that records every request, each delivery judged
//! by the specification's reference library, `standardwebhooks` 1.1 (the
//! project venv's, through functions/standard-webhooks'
//! `standardwebhooks_check.py`, the script that cross-checks inlet's own
//! verifier):
//!
//! - `deliveries_verify_with_standardwebhooks_and_tampered_ones_do_not`: a
//!   batch signed with two secrets (a rotation) verifies with each secret
//!   alone; a changed body, id or timestamp, or another secret, does not.
//!   The batch goes out at most 8 at once, over reused connections.
//! - `a_500_then_a_200_is_retried_then_delivered_with_the_same_webhook_id`.
//! - `a_429_with_retry_after_is_transient_after_that_many_seconds`.
//! - `a_410_is_a_permanent_failure`.
//! - `a_receiver_that_never_answers_is_transient_within_the_timeout`.
//! - `a_refused_connection_is_transient`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use inlet_cli::httpd::{read_body, respond, serve};
use inlet_shared::aws::tls::TlsRoots;
use inlet_shared::delivery::http::HttpDestination;
use inlet_shared::delivery::{Delivered, DeliveryError, Destination, Outgoing, Retry};
use inlet_shared::envelope::{Envelope, Verification};
use inlet_testkit::crosscheck::{Runtime, base64_of, repository_root, run_library};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// The next secret of a rotation (32 bytes, unpadded as the library allows).
const NEXT_SECRET: &str = "whsec_bmV4dC1zZWNyZXQtMzItYnl0ZXMtbG9uZy4uLi4";
const OTHER_SECRET: &str = "whsec_b3RoZXItc291cmNlLXNlY3JldC1OT1QtQS1TRUNSRVQ=";

/// How the receiver answers one request.
#[derive(Clone, Debug)]
enum Answer {
    Status(u16, Vec<(&'static str, &'static str)>),
    /// A status with a JSON body.
    Json(u16, &'static str),
    /// Reads the request, then never answers.
    Never,
}

/// A request as the receiver saw it.
#[derive(Clone, Debug)]
struct Recorded {
    peer: SocketAddr,
    content_type: String,
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    most_in_flight: Arc<AtomicUsize>,
    server: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A receiver on 127.0.0.1 answering the n-th request with `answers[n]`
/// (the last answer repeats), each after `delay`.
async fn receiver(answers: Vec<Answer>, delay: Duration) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("address"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let most_in_flight = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (recorded, most) = (requests.clone(), most_in_flight.clone());
    let server = tokio::spawn(serve(listener, move |request, peer| {
        let (recorded, most, in_flight, answers) = (recorded.clone(), most.clone(), in_flight.clone(), answers.clone());
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            let header =
                |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let (content_type, id) = (header("content-type"), header("webhook-id"));
            let (timestamp, signature) = (header("webhook-timestamp"), header("webhook-signature"));
            let body = read_body(request.into_body(), 1 << 20).await.expect("a body").to_vec();
            let answer = {
                let mut recorded = recorded.lock().unwrap();
                recorded.push(Recorded { peer, content_type, id, timestamp, signature, body });
                answers[(recorded.len() - 1).min(answers.len() - 1)].clone()
            };
            tokio::time::sleep(delay).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            match answer {
                Answer::Never => std::future::pending().await,
                Answer::Json(status, body) => {
                    respond(http::StatusCode::from_u16(status).unwrap(), "application/json", body)
                }
                Answer::Status(status, headers) => {
                    let mut response =
                        respond(http::StatusCode::from_u16(status).unwrap(), "text/plain", format!("answer {status}"));
                    for (name, value) in headers {
                        response.headers_mut().insert(name, http::HeaderValue::from_static(value));
                    }
                    response
                }
            }
        }
    }));
    Receiver { url, requests, most_in_flight, server }
}

fn ok() -> Answer {
    Answer::Status(200, Vec::new())
}

fn destination(url: &str, secrets: &str, now: u64) -> HttpDestination {
    HttpDestination::new("app", url, "APP_SECRET", secrets, HttpDestination::connector(&TlsRoots::System))
        .expect("a valid destination")
        .with_clock(Arc::new(move || UNIX_EPOCH + Duration::from_secs(now)))
}

fn envelope(id: &str, text: &str) -> (Envelope, String) {
    let envelope = Envelope::new(
        "lark",
        id,
        "im.message.receive_v1",
        OffsetDateTime::from_unix_timestamp(NOW as i64).unwrap(),
        Verification { scheme: "lark-token".into(), matched: Some("LARK_VERIFICATION_TOKEN#1".into()) },
        json!({"text": text, "unicode": "飞书 ✓"}),
    );
    let body = envelope.encode().expect("encodes");
    (envelope, body)
}

/// One verdict of the library: `secret` judges `request` (possibly altered)
/// at `now`.
fn verdict(name: &str, request: &Recorded, secret: &str, now: u64) -> Value {
    json!({
        "name": name,
        "secrets": [secret],
        "body_b64": base64_of(&request.body),
        "headers": {
            "webhook-id": request.id,
            "webhook-timestamp": request.timestamp,
            "webhook-signature": request.signature,
        },
        "now": now,
    })
}

/// Which of `cases` standardwebhooks accepts as an event.
fn library_accepts(cases: Vec<Value>) -> HashMap<String, bool> {
    let script = repository_root().join("functions/standard-webhooks/tests/standardwebhooks_check.py");
    let report =
        run_library(Runtime::VenvPython, &script, &json!({"verdicts": cases}), "library", "standardwebhooks 1.1.0");
    let verdicts = report["verdicts"].as_object().expect("verdicts");
    verdicts.iter().map(|(name, verdict)| (name.clone(), verdict["event"] == json!(true))).collect()
}

fn never_leaks(error: &DeliveryError) {
    for secret in [SECRET, NEXT_SECRET, "C2FVsBQ", "v1,"] {
        assert!(!error.reason.contains(secret), "the reason shows a secret or a signature: {}", error.reason);
    }
}

#[tokio::test]
async fn deliveries_verify_with_standardwebhooks_and_tampered_ones_do_not() {
    let receiver = receiver(vec![ok()], Duration::from_millis(50)).await;
    let destination = destination(&receiver.url, &format!("{SECRET},{NEXT_SECRET}"), NOW);
    let events: Vec<(Envelope, String)> =
        (0..20).map(|n| envelope(&format!("ev_{n}"), &format!("hello {n}"))).collect();
    let outgoing: Vec<Outgoing> = events.iter().map(|(envelope, body)| Outgoing { envelope, body }).collect();

    let results = destination.deliver(&outgoing).await;
    assert_eq!(results, vec![Ok(Delivered::default()); 20]);

    let requests = receiver.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 20);
    let most = receiver.most_in_flight.load(Ordering::SeqCst);
    assert!((2..=8).contains(&most), "a batch goes out concurrently, at most 8 at once: {most}");
    let connections: HashSet<SocketAddr> = requests.iter().map(|r| r.peer).collect();
    assert!(connections.len() <= 8, "connections are reused: {} for 20 requests", connections.len());

    let mut cases = Vec::new();
    let by_id: HashMap<&str, &Recorded> = requests.iter().map(|r| (r.id.as_str(), r)).collect();
    for (envelope, body) in &events {
        let request = by_id.get(envelope.id.as_str()).unwrap_or_else(|| panic!("{} was not delivered", envelope.id));
        assert_eq!(request.body, body.as_bytes(), "the body is the Envelope's bytes");
        assert_eq!(request.content_type, "application/json");
        assert_eq!(request.timestamp, NOW.to_string());
        assert_eq!(request.signature.split(' ').count(), 2, "one signature per secret");
        cases.push(verdict(&format!("{} with the old secret", envelope.id), request, SECRET, NOW));
        cases.push(verdict(&format!("{} with the new secret", envelope.id), request, NEXT_SECRET, NOW));
    }
    let genuine = cases.len();
    let first = by_id["lark:ev_0"].clone();
    let mut body = first.clone();
    body.body = first.body.iter().map(|b| if *b == b'0' { b'1' } else { *b }).collect();
    let mut id = first.clone();
    id.id = "lark:ev_1".into();
    let mut timestamp = first.clone();
    timestamp.timestamp = (NOW + 1).to_string();
    let mut one_signature_tampered = first.clone();
    // One base64 character of the first signature changed: still readable, no longer matching.
    let mut signature = first.signature.clone().into_bytes();
    signature[10] = if signature[10] == b'A' { b'B' } else { b'A' };
    one_signature_tampered.signature = String::from_utf8(signature).unwrap();
    cases.push(verdict("tampered body", &body, SECRET, NOW));
    cases.push(verdict("tampered id", &id, SECRET, NOW));
    cases.push(verdict("tampered timestamp", &timestamp, SECRET, NOW + 1));
    cases.push(verdict("another secret", &first, OTHER_SECRET, NOW));
    cases.push(verdict("a stale delivery", &first, SECRET, NOW + 301));
    cases.push(verdict("the old secret's signature altered", &one_signature_tampered, SECRET, NOW));

    let verdicts = library_accepts(cases.clone());
    for (index, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        assert_eq!(verdicts[name], index < genuine, "standardwebhooks on {name}");
    }
}

#[tokio::test]
async fn a_500_then_a_200_is_retried_then_delivered_with_the_same_webhook_id() {
    let receiver = receiver(vec![Answer::Status(500, Vec::new()), ok()], Duration::ZERO).await;
    let (envelope, body) = envelope("ev_retry", "again");
    let event = [Outgoing { envelope: &envelope, body: &body }];

    let first = destination(&receiver.url, SECRET, NOW).deliver(&event).await;
    let error = first[0].clone().expect_err("a 500 fails");
    assert_eq!(error.retry, Retry::Later { after: None });
    assert_eq!(error.reason, "answered 500 Internal Server Error");
    never_leaks(&error);

    // The retry comes later (SQS's visibility), signed anew.
    let second = destination(&receiver.url, SECRET, NOW + 40).deliver(&event).await;
    assert_eq!(second, vec![Ok(Delivered::default())]);

    let requests = receiver.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].id, "lark:ev_retry");
    assert_eq!(requests[1].id, requests[0].id, "the same webhook-id on the retry");
    assert_eq!(requests[1].body, requests[0].body);
    assert_eq!((requests[0].timestamp.as_str(), requests[1].timestamp.as_str()), ("1700000000", "1700000040"));
    let verdicts = library_accepts(vec![
        verdict("first attempt", &requests[0], SECRET, NOW),
        verdict("retry", &requests[1], SECRET, NOW + 40),
    ]);
    assert!(verdicts["first attempt"] && verdicts["retry"], "{verdicts:?}");
}

#[tokio::test]
async fn a_429_with_retry_after_is_transient_after_that_many_seconds() {
    let receiver = receiver(vec![Answer::Status(429, vec![("retry-after", "7")])], Duration::ZERO).await;
    let (envelope, body) = envelope("ev_429", "slow down");
    let results =
        destination(&receiver.url, SECRET, NOW).deliver(&[Outgoing { envelope: &envelope, body: &body }]).await;
    let error = results[0].clone().expect_err("a 429 fails");
    assert_eq!(error.retry, Retry::Later { after: Some(Duration::from_secs(7)) });
    assert_eq!(error.reason, "answered 429 Too Many Requests");
    never_leaks(&error);
}

#[tokio::test]
async fn a_410_is_a_permanent_failure() {
    let receiver = receiver(vec![Answer::Status(410, vec![("retry-after", "7")])], Duration::ZERO).await;
    let (envelope, body) = envelope("ev_410", "gone");
    let results =
        destination(&receiver.url, SECRET, NOW).deliver(&[Outgoing { envelope: &envelope, body: &body }]).await;
    let error = results[0].clone().expect_err("a 410 fails");
    assert!(error.is_permanent(), "{error:?}");
    assert_eq!(error.reason, "answered 410 Gone");
    never_leaks(&error);
}

#[tokio::test]
async fn a_receiver_that_never_answers_is_transient_within_the_timeout() {
    let receiver = receiver(vec![Answer::Never], Duration::ZERO).await;
    let (envelope, body) = envelope("ev_hang", "anyone there?");
    let destination = destination(&receiver.url, SECRET, NOW).with_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let results = destination.deliver(&[Outgoing { envelope: &envelope, body: &body }]).await;
    let took = started.elapsed();
    let error = results[0].clone().expect_err("no answer fails");
    assert_eq!(error.retry, Retry::Later { after: None });
    assert_eq!(error.reason, "no answer within 500 ms");
    assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(3), "gave up after {took:?}");
    assert_eq!(receiver.requests.lock().unwrap().len(), 1, "the request did arrive");
    never_leaks(&error);
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    // A port that was just free: nothing listens there now.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let (envelope, body) = envelope("ev_refused", "hello?");
    let destination = destination(&format!("http://127.0.0.1:{port}/hooks"), SECRET, NOW);
    let started = Instant::now();
    let results = destination.deliver(&[Outgoing { envelope: &envelope, body: &body }]).await;
    let error = results[0].clone().expect_err("refused fails");
    assert_eq!(error.retry, Retry::Later { after: None });
    assert!(error.reason.starts_with("not sent: "), "{}", error.reason);
    assert!(error.reason.to_ascii_lowercase().contains("refused"), "the cause is named: {}", error.reason);
    assert!(started.elapsed() < Duration::from_secs(5));
    never_leaks(&error);
}

/// The clock a destination signs with is injectable, and by default the
/// system's: a delivery made without one carries the current time.
#[tokio::test]
async fn without_a_pinned_clock_the_timestamp_is_now() {
    let receiver = receiver(vec![ok()], Duration::ZERO).await;
    let destination =
        HttpDestination::new("app", &receiver.url, "APP_SECRET", SECRET, HttpDestination::connector(&TlsRoots::System))
            .unwrap();
    let (envelope, body) = envelope("ev_now", "now");
    assert_eq!(
        destination.deliver(&[Outgoing { envelope: &envelope, body: &body }]).await,
        vec![Ok(Delivered::default())]
    );
    let sent: u64 = receiver.requests.lock().unwrap()[0].timestamp.parse().unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(now.abs_diff(sent) <= 5, "{sent} vs {now}");
}

#[tokio::test]
async fn an_endpoint_answers_with_a_reply_and_the_delivery_carries_it_back() {
    let receiver = receiver(
        vec![
            Answer::Json(200, r#"{"reply": {"text": "pong", "card": {"k": 1}}}"#),
            Answer::Json(202, r#"{"ok": true}"#),
            Answer::Json(500, r#"{"reply": {"text": "not on a failure"}}"#),
        ],
        Duration::ZERO,
    )
    .await;
    let destination = destination(&receiver.url, SECRET, NOW);
    let (first, body) = envelope("e1", "ping");
    let delivered = destination.deliver(&[Outgoing { envelope: &first, body: &body }]).await;
    let reply = delivered[0].as_ref().expect("delivered").reply.clone();
    assert_eq!(reply, Some(json!({"text": "pong", "card": {"k": 1}})));
    let again = destination.deliver(&[Outgoing { envelope: &first, body: &body }]).await;
    assert_eq!(again[0].as_ref().expect("delivered").reply, None, "a 2xx without a reply is a plain delivery");
    let failed = destination.deliver(&[Outgoing { envelope: &first, body: &body }]).await;
    assert!(failed[0].as_ref().is_err_and(|e| !e.is_permanent()), "a 5xx is retried, its body ignored");
}
