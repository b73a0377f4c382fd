//! What the hooks tests share (`mod common;`): the fixed clock, the public
//! host the URL-signing senders sign, and a request posted to a source.
#![allow(dead_code)]

use http::{HeaderValue, Method};
use inlet_shared::ingress::IncomingRequest;

/// The fixed clock.
pub const NOW: i64 = 1_700_000_000;
/// The host of the public URL in these tests.
pub const HOST: &str = "hooks.example.com";

/// `POST /hooks/{source}` as API Gateway's HTTP API hands it over: Host,
/// `X-Forwarded-Proto: https`, a JSON content type.
pub fn post(source: &str, body: impl Into<Vec<u8>>) -> IncomingRequest {
    let mut request = IncomingRequest::new(Method::POST, &format!("/hooks/{source}"), body);
    request.path_params.insert("source".into(), source.into());
    request.source_ip = "192.0.2.10".parse().ok();
    request.request_id = Some(format!("req-{source}"));
    set(&mut request, "host", HOST);
    set(&mut request, "x-forwarded-proto", "https");
    set(&mut request, "content-type", "application/json");
    request
}

/// `GET /hooks/{source}?{query}`.
pub fn get(source: &str, query: &str) -> IncomingRequest {
    let mut request = post(source, Vec::new());
    request.method = Method::GET;
    request.headers.remove("content-type");
    request.set_raw_query(query);
    request
}

/// Sets (replaces) a header.
pub fn set(request: &mut IncomingRequest, name: &'static str, value: &str) {
    request.headers.insert(name, HeaderValue::from_str(value).expect("a header value"));
}

/// The public URL `post` gives `source`.
pub fn url_of(source: &str) -> String {
    format!("https://{HOST}/hooks/{source}")
}
