#![no_main]
//! The wecom handler over arbitrary requests, on the harness
//! (`inlet_fuzz::harness`: the general promises, among them that every 401
//! is the one fixed body, so no padding oracle), plus WeCom's own:
//!
//! - the oracle a 2xx is held to: `msg_signature` is the Token's SHA-1 over
//!   the ciphertext the request carries, with a fresh timestamp;
//! - a request the harness sealed and signed correctly is genuine: never
//!   refused as unauthenticated (verification never turns a genuine sender
//!   away), except a URL check whose echo is not shaped like WeCom's;
//! - a URL check is answered only with a plaintext shaped like WeCom's echo
//!   (so it never decrypts a captured message), and an echo of any other
//!   shape, however well sealed and signed, is the uniform 401.
//!
//! Modes (the control byte's bits 3–7):
//! 0 raw: the request as the input gives it (query from the request line);
//! 1 the body is a message: the harness seals it, wraps it in WeCom's outer
//!   XML and signs it (POST);
//! 2 the body is an echo: the harness seals it as `echostr` and signs (GET);
//!   it counts as genuine only when shaped like WeCom's echo;
//! 3 the body is a raw plaintext layout (prefix, length, message, receive
//!   id, padding — whatever the input holds): the harness zero-fills it to
//!   whole AES blocks, encrypts it without padding and signs the result, so
//!   the padding, length and receive-id checks run behind a valid signature;
//! 4 the body is WeCom's outer XML: the harness signs whatever `<Encrypt>`
//!   the input's XML holds.

use http::StatusCode;
use inlet_fuzz::harness::{Exchange, Platform, Prepared};
use inlet_fuzz::{NOW_UNIX, fuzz_settings};
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::Provider;
use wecom::WecomFunction;
use wecom::crypto::{msg_signature, seal, seal_padded, signature_matches};
use wecom::samples::{WecomApp, outer_body};

/// The Token and the EncodingAESKey are kept out of answers as every
/// setting of the registry's secret list is.
struct Wecom {
    function: WecomFunction,
    app: WecomApp,
}

fn signed_request(app: &WecomApp, method: http::Method, ciphertext: &str, body: Vec<u8>) -> IncomingRequest {
    let nonce = "fuzznonce";
    let timestamp = NOW_UNIX.to_string();
    let mut request = IncomingRequest::new(method, wecom::ROUTE, body);
    request.query.insert("msg_signature".into(), msg_signature(&app.token, &timestamp, nonce, ciphertext));
    request.query.insert("timestamp".into(), timestamp);
    request.query.insert("nonce".into(), nonce.into());
    request
}

/// The ciphertext the request asks to be judged on: `echostr` (spaces as
/// `+`) for GET, the outer XML's `<Encrypt>` for anything else.
fn ciphertext_of(request: &IncomingRequest) -> Option<String> {
    if request.method == http::Method::GET {
        return request.query.get("echostr").map(|e| wecom::base64_from_query(e));
    }
    let text = std::str::from_utf8(&request.body).ok()?;
    let outer = wecom::xml::parse(text).ok()?;
    outer.value.get("Encrypt")?.as_str().map(str::to_string)
}

fn is_signed_and_fresh(app: &WecomApp, request: &IncomingRequest) -> bool {
    let query = |name: &str| request.query.get(name).map(String::as_str).unwrap_or_default();
    let Some(ciphertext) = ciphertext_of(request) else { return false };
    let expected = msg_signature(&app.token, query("timestamp"), query("nonce"), &ciphertext);
    let fresh = query("timestamp").trim().parse::<i64>().is_ok_and(|t| t.abs_diff(NOW_UNIX) <= 300);
    signature_matches(&expected, query("msg_signature")) && fresh
}

/// `signed` with the source address and request id of the input's request
/// (the allowlist and the queue are fuzzed too).
fn with_source(mut signed: IncomingRequest, input: &IncomingRequest) -> IncomingRequest {
    signed.source_ip = input.source_ip;
    signed.request_id = input.request_id.clone();
    signed
}

/// A URL check sealed and signed as WeCom does, whose echo is not shaped
/// like WeCom's: refused as unauthenticated.
fn foreign_echo(mode: usize, plaintext: &[u8]) -> bool {
    mode == 2 && !wecom::is_wecom_echo(plaintext)
}

impl Platform for Wecom {
    type Function = WecomFunction;
    const MODES: usize = 5;

    fn deploy() -> Self {
        let settings = fuzz_settings();
        let function = WecomFunction::from_env(&settings).expect("wecom settings");
        let app = WecomApp::from_env(&settings).expect("wecom sample settings");
        Wecom { function, app }
    }

    fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, WecomFunction> {
        let app = &self.app;
        let plaintext = request.body.clone();
        match mode {
            1 => {
                let ciphertext = seal(&app.key, [b'F'; 16], &plaintext, &app.corp_id);
                let body = outer_body(&app.corp_id, &ciphertext, "1").into_bytes();
                *request = with_source(signed_request(app, http::Method::POST, &ciphertext, body), request);
            }
            2 => {
                let ciphertext = seal(&app.key, [b'F'; 16], &plaintext, &app.corp_id);
                let mut signed = signed_request(app, http::Method::GET, &ciphertext, Vec::new());
                signed.query.insert("echostr".into(), ciphertext);
                *request = with_source(signed, request);
            }
            3 => {
                let mut layout = plaintext.clone();
                let blocks = layout.len().div_ceil(16).max(1);
                layout.resize(blocks * 16, 0);
                let ciphertext = seal_padded(&app.key, &layout);
                let body = outer_body(&app.corp_id, &ciphertext, "1").into_bytes();
                *request = with_source(signed_request(app, http::Method::POST, &ciphertext, body), request);
            }
            4 => {
                if let Some(ciphertext) = ciphertext_of(request) {
                    let body = request.body.clone();
                    let method = request.method.clone();
                    *request = with_source(signed_request(app, method, &ciphertext, body), request);
                }
            }
            _ => {}
        }
        let genuine = match mode {
            1 => true,
            2 => wecom::is_wecom_echo(&plaintext),
            _ => false,
        };
        Prepared::by(&self.function).plaintext(plaintext).genuine(genuine)
    }

    fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
        if is_signed_and_fresh(&self.app, exchange.request) {
            Ok(())
        } else {
            Err("without a fresh valid msg_signature".into())
        }
    }

    fn check(&self, exchange: &Exchange<'_>) -> Result<(), String> {
        let (request, reply) = (exchange.request, exchange.reply);
        if request.method == http::Method::GET && reply.status.is_success() && !wecom::is_wecom_echo(&reply.body) {
            return Err("a URL check answered a plaintext that is not WeCom's echo".into());
        }
        // Only the address allowlist (403) answers before verification; past it,
        // any other answer than the uniform 401 would tell such an echo apart.
        let refused = [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&reply.status);
        if foreign_echo(exchange.mode, exchange.plaintext) && !refused {
            return Err(format!("an echo not shaped like WeCom's was answered {}", reply.status));
        }
        Ok(())
    }
}

inlet_fuzz::platform_target!("wecom", Wecom);
