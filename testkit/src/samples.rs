//! What handler tests assert about a provider's answer to a sample, and the
//! requests and settings they start from.

use serde_json::Value;

use inlet_shared::config::EnvSource;
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::Provider;
use inlet_shared::samples::{dev_settings, events_dir, incoming_from_apigw_v2_event};

/// `events/<name>.json` as the handlers see it.
pub fn event_request(name: &str) -> IncomingRequest {
    let path = events_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make events`)", path.display()));
    let event: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    incoming_from_apigw_v2_event(&event).unwrap_or_else(|| panic!("{} is not an API Gateway v2 event", path.display()))
}

/// `events/env.json`'s settings with some replaced.
pub fn dev_settings_with(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    let mut settings = dev_settings();
    for (name, value) in pairs {
        settings.insert(name.to_string(), value.to_string());
    }
    settings
}

/// `P` built from `env` handles `request` at `now` (Unix
/// seconds) with an in-memory queue; returns the answer and the queue.
pub async fn handle_with<P: Provider>(
    env: &dyn EnvSource,
    request: &IncomingRequest,
    now: i64,
) -> (inlet_shared::ingress::Reply, inlet_shared::queue::MemoryPublisher) {
    use inlet_shared::provider::HttpFunction;
    let function = P::from_env(env).unwrap_or_else(|e| panic!("{}: settings refused: {e}", P::NAME));
    let publisher = inlet_shared::queue::MemoryPublisher::new();
    let now = time::OffsetDateTime::from_unix_timestamp(now).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let reply = function.handle(&publisher, request, now).await;
    (reply, publisher)
}

/// asserts that `reply` refused with `status`, that its
/// reason mentions `reason_part`, and that nothing reached the queue.
pub fn assert_refused(
    reply: &inlet_shared::ingress::Reply,
    publisher: &inlet_shared::queue::MemoryPublisher,
    status: http::StatusCode,
    reason_part: &str,
) {
    assert_eq!(reply.status, status, "body: {}", String::from_utf8_lossy(&reply.body));
    let reason = reply.body_json().and_then(|b| b["error"].as_str().map(str::to_string)).unwrap_or_default();
    assert!(reason.contains(reason_part), "reason {reason:?} should mention {reason_part:?}");
    assert!(publisher.sent().is_empty(), "nothing may be enqueued");
}

/// asserts a 401 with the one body every 401 answers, and
/// that nothing reached the queue.
pub fn assert_unauthenticated(reply: &inlet_shared::ingress::Reply, publisher: &inlet_shared::queue::MemoryPublisher) {
    let reason = reply.body_json().and_then(|b| b["error"].as_str().map(str::to_string)).unwrap_or_default();
    assert_eq!(
        (reply.status, reason.as_str()),
        (http::StatusCode::UNAUTHORIZED, inlet_shared::IngressError::UNAUTHENTICATED_BODY)
    );
    assert!(publisher.sent().is_empty(), "nothing may be enqueued");
}

/// `P` built from `env` answers `request` at `now` with the one 401 and
/// enqueues nothing (see [`assert_unauthenticated`]), and the log says
/// `logged`; `name` labels the failures.
///
/// tracing caches per-callsite interest globally; while another test thread
/// installs or drops its own capture, one event can be missed. The answer is
/// checked every time; the log, on up to three tries.
pub async fn assert_unauthenticated_and_logged<P: Provider>(
    env: &dyn EnvSource,
    request: &IncomingRequest,
    now: i64,
    name: &str,
    logged: &str,
) {
    let mut log = String::new();
    for _ in 0..3 {
        let logs = crate::CapturedLogs::start();
        let (reply, publisher) = handle_with::<P>(env, request, now).await;
        assert_eq!(reply.status, http::StatusCode::UNAUTHORIZED, "{name}: {}", String::from_utf8_lossy(&reply.body));
        assert_unauthenticated(&reply, &publisher);
        log = logs.text();
        if log.contains(logged) {
            break;
        }
    }
    assert!(log.contains(logged), "{name}: the log should say {logged:?}: {log}");
}
