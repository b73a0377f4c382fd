//! The OpenIM handler on the committed `events/` files, with a fixed clock.

use std::collections::HashMap;

use http::{Method, StatusCode};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::HttpFunction;
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::dev_settings;
use inlet_testkit::samples::{assert_refused, assert_unauthenticated, dev_settings_with, event_request};
use openim::{OpenimFunction, continue_body, refuse_body};
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

async fn handle_on(env: &HashMap<String, String>, publisher: &MemoryPublisher, request: &IncomingRequest) -> Reply {
    OpenimFunction::from_env(env).expect("valid settings").handle(publisher, request, now()).await
}

async fn handle_with(env: &HashMap<String, String>, request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    let publisher = MemoryPublisher::new();
    (handle_on(env, &publisher, request).await, publisher)
}

async fn handle(request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    handle_with(&dev_settings(), request).await
}

/// The same request at `/openim/<token>/<command>`.
fn with_token(mut request: IncomingRequest, token: &str) -> IncomingRequest {
    request.path = request.path.replacen("/openim/", &format!("/openim/{token}/"), 1);
    request
}

#[tokio::test]
async fn keeps_the_provider_contract_guarded_by_address() {
    inlet_testkit::conformance::check::<OpenimFunction>(&[]).await;
}

/// The dev settings guard by address only; the kit's forged-credential
/// check needs the path token configured.
#[tokio::test]
async fn keeps_the_provider_contract_guarded_by_path_token() {
    inlet_testkit::conformance::check::<OpenimFunction>(&[("OPENIM_PATH_TOKEN", "dev-openim-path-token")]).await;
}

#[tokio::test]
async fn before_callback_is_enqueued_then_answered_continue() {
    let (reply, publisher) = handle(&event_request("openim-before-send-single")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json().unwrap(), continue_body());
    let sent = publisher.sent();
    let envelope = &sent[0];
    assert_eq!(envelope.id, "openim:callbackBeforeSendSingleMsgCommand:op-sample:client-sample");
    assert_eq!(envelope.kind, "callbackBeforeSendSingleMsgCommand");
    assert_eq!(envelope.verification.scheme, "openim-source-address");
    let message = envelope.message.as_ref().unwrap();
    assert_eq!(message.sender_id.as_deref(), Some("u-dev-alice"));
    assert_eq!(message.chat_id.as_deref(), Some("u-dev-bob"));
    assert_eq!(message.chat_type.as_deref(), Some("single"));
    assert_eq!(message.text.as_deref(), Some("hello from OpenIM"));
}

#[tokio::test]
async fn after_group_callback_is_keyed_by_operation_and_server_message_id() {
    let (reply, publisher) = handle(&event_request("openim-after-send-group")).await;
    assert_eq!(reply.body_json().unwrap(), continue_body());
    let envelope = &publisher.sent()[0];
    assert_eq!(envelope.id, "openim:callbackAfterSendGroupMsgCommand:op-sample:server-sample");
    assert_eq!(envelope.message.as_ref().unwrap().chat_id.as_deref(), Some("g-dev-ops"));
}

#[tokio::test]
async fn callback_without_message_id_is_keyed_by_command_and_operation_id() {
    let request = event_request("openim-user-online");
    let (_, publisher) = handle(&request).await;
    let envelope = &publisher.sent()[0];
    let operation = request.header("operationid").unwrap();
    assert_eq!(envelope.id, format!("openim:callbackAfterUserOnlineCommand:{operation}"));
    assert!(envelope.message.is_none());
}

#[tokio::test]
async fn identical_bodies_of_distinct_requests_are_distinct_events() {
    // Quit, rejoin, quit: the same body twice, each a real event.
    let body = r#"{"callbackCommand":"callbackAfterQuitGroupCommand","groupID":"g1","userID":"u1"}"#;
    let mut ids = Vec::new();
    for operation in ["op-quit-1", "op-quit-2"] {
        let mut request = IncomingRequest::new(Method::POST, "/openim/callbackAfterQuitGroupCommand", body);
        request.source_ip = Some("127.0.0.1".parse().unwrap());
        request.headers.insert("operationid", operation.parse().unwrap());
        let (reply, publisher) = handle(&request).await;
        assert_eq!(reply.status, StatusCode::OK);
        ids.push(publisher.sent()[0].id.clone());
    }
    assert_ne!(ids[0], ids[1]);
    // Even without the header, two requests never share an id.
    let mut without = Vec::new();
    for _ in 0..2 {
        let mut request = IncomingRequest::new(Method::POST, "/openim/callbackAfterQuitGroupCommand", body);
        request.source_ip = Some("127.0.0.1".parse().unwrap());
        let (_, publisher) = handle(&request).await;
        without.push(publisher.sent()[0].id.clone());
    }
    assert_ne!(without[0], without[1]);
}

#[tokio::test]
async fn a_trailing_slash_in_openims_configured_url_is_accepted() {
    let mut request = event_request("openim-user-online");
    request.path = request.path.replacen("/openim/", "/openim//", 1);
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent().len(), 1);
}

#[tokio::test]
async fn a_path_token_right_or_wrong_never_reaches_a_log_line() {
    let settings = dev_settings_with(&[("OPENIM_PATH_TOKEN", "Tok3nRight")]);
    let logs = inlet_testkit::CapturedLogs::start();
    let cases = [
        (with_token(event_request("openim-user-online"), "Tok3nRight"), MemoryPublisher::new(), StatusCode::OK),
        (
            with_token(event_request("openim-user-online"), "Tok3nWrong"),
            MemoryPublisher::new(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            with_token(event_request("openim-after-send-group"), "Tok3nRight"),
            MemoryPublisher::down(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ];
    for (request, publisher, status) in cases {
        assert_eq!(handle_on(&settings, &publisher, &request).await.status, status);
    }
    let mut not_found = event_request("openim-user-online");
    not_found.path = "/openim/Tok3nWrong/extra/segments".into();
    let reply = handle_on(&settings, &MemoryPublisher::new(), &not_found).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(!String::from_utf8_lossy(&reply.body).contains("Tok3n"));
    let text = logs.text();
    assert!(text.contains("/openim/***/"), "requests are logged, redacted: {text}");
    assert!(!text.contains("Tok3n"), "a path token reached the log: {text}");
}

#[tokio::test]
async fn queue_down_before_callback_continues_by_default() {
    let down = MemoryPublisher::down();
    let reply = handle_on(&dev_settings(), &down, &event_request("openim-before-send-single")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json().unwrap(), continue_body(), "the user's message must not be blocked");
}

#[tokio::test]
async fn queue_down_before_callback_refuses_when_configured_to_block() {
    let env = dev_settings_with(&[("OPENIM_BLOCK_ON_FAILURE", "true")]);
    let reply = handle_on(&env, &MemoryPublisher::down(), &event_request("openim-before-send-single")).await;
    let body = reply.body_json().unwrap();
    assert_eq!(body, refuse_body());
    assert_eq!((body["actionCode"].as_i64(), body["nextCode"].as_i64()), (Some(0), Some(1)), "OpenIM's refusal");
}

#[tokio::test]
async fn path_token_is_required_and_checked_when_configured() {
    let env = dev_settings_with(&[("OPENIM_PATH_TOKEN", "old-token,dev-path-token")]);
    let plain = event_request("openim-after-send-group");
    let (reply, publisher) = handle_with(&env, &plain).await;
    assert_unauthenticated(&reply, &publisher);
    let (reply, publisher) = handle_with(&env, &with_token(plain.clone(), "wrong-token")).await;
    assert_unauthenticated(&reply, &publisher);
    let (reply, publisher) = handle_with(&env, &with_token(plain, "dev-path-token")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let envelope = &publisher.sent()[0];
    assert_eq!(envelope.verification.scheme, "openim-path-token");
    assert_eq!(envelope.verification.matched.as_deref(), Some("OPENIM_PATH_TOKEN#2"));
    assert!(!serde_json::to_string(envelope).unwrap().contains("dev-path-token"));
}

#[tokio::test]
async fn command_must_match_the_body() {
    let mut request = event_request("openim-before-send-single");
    request.path = "/openim/callbackBeforeSendGroupMsgCommand".into();
    let (reply, publisher) = handle(&request).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "does not match");
    let mut request = event_request("openim-before-send-single");
    request.body = br#"{"sendID":"x"}"#.to_vec();
    let (reply, publisher) = handle(&request).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "callbackCommand");
}

#[tokio::test]
async fn malformed_json_and_paths_that_are_no_callback() {
    let mut request = event_request("openim-before-send-single");
    request.body = b"{nope\n".to_vec();
    let (reply, publisher) = handle(&request).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "not valid JSON");
    for path in ["/openim/notACallback", "/openim/a/b/c", "/openim/"] {
        let mut request = IncomingRequest::new(Method::POST, path, "{}");
        request.source_ip = Some("127.0.0.1".parse().unwrap());
        let (reply, _) = handle(&request).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[test]
fn an_unprotected_route_fails_start_up() {
    let env: HashMap<&str, &str> = HashMap::new();
    assert!(OpenimFunction::from_env(&env).is_err());
    let env: HashMap<&str, &str> = [("OPENIM_PATH_TOKEN", "has/slash")].into();
    assert!(OpenimFunction::from_env(&env).is_err());
    let env: HashMap<&str, &str> = [("OPENIM_PATH_TOKEN", "ok-token")].into();
    assert!(OpenimFunction::from_env(&env).is_ok());
}
