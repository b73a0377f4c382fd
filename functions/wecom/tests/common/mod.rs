//! Helpers shared by `handler.rs` and `official_lib.rs` (`mod common;`).

use http::Method;
use inlet_shared::ingress::IncomingRequest;

/// The public vector's `echostr` (docs/contributing/testing.md, "Public test vectors").
pub const VECTOR_ECHOSTR: &str =
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
/// The public vector's `timestamp`.
pub const VECTOR_TIMESTAMP: i64 = 1_409_659_589;

/// The public vector's URL check, with `echostr` in place of its own.
pub fn vector_request(echostr: &str) -> IncomingRequest {
    let mut request = IncomingRequest::new(Method::GET, "/wecom/callback", "");
    for (name, value) in [
        ("msg_signature", "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"),
        ("timestamp", "1409659589"),
        ("nonce", "263014780"),
        ("echostr", echostr),
    ] {
        request.query.insert(name.into(), value.into());
    }
    request
}
