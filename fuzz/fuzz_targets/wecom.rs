#![no_main]
//! The wecom handler over arbitrary requests, with the promises of
//! `inlet_fuzz::promises` plus WeCom's own:
//!
//! - nothing is accepted unless `msg_signature` is the Token's SHA-1 over
//!   the ciphertext the request carries, with a fresh timestamp;
//! - a request the harness sealed and signed correctly is never refused as
//!   unauthenticated (verification never turns a genuine sender away),
//!   except a URL check whose echo is not shaped like WeCom's;
//! - a URL check is answered only with a plaintext shaped like WeCom's echo
//!   (so it never decrypts a captured message), and an echo of any other
//!   shape, however well sealed and signed, is the uniform 401;
//! - every 401 is the one fixed body (no padding oracle).
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

use std::sync::OnceLock;

use http::StatusCode;
use inlet_fuzz::promises::{Sent, check_answer, sender_text};
use inlet_fuzz::{FuzzInput, NOW_UNIX, all_secrets, answer, fuzz_settings};
use inlet_shared::error::IngressError;
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::Provider;
use wecom::WecomFunction;
use wecom::crypto::{msg_signature, seal, seal_padded, signature_matches};
use wecom::samples::{WecomApp, outer_body};

const ROUTES: [&str; 1] = ["/wecom/callback"];
const MODES: usize = 5;

struct Wecom {
    function: WecomFunction,
    app: WecomApp,
    secrets: Vec<String>,
}

fn get() -> &'static Wecom {
    static WECOM: OnceLock<Wecom> = OnceLock::new();
    WECOM.get_or_init(|| {
        let settings = fuzz_settings();
        let function = WecomFunction::from_env(&settings).expect("wecom settings");
        let app = WecomApp::from_env(&settings).expect("wecom sample settings");
        let mut secrets = all_secrets().to_vec();
        for name in ["WECOM_TOKEN", "WECOM_ENCODING_AES_KEY"] {
            let value = settings.get(name).cloned().unwrap_or_default();
            secrets.extend(value.split(',').map(str::trim).filter(|s| s.len() >= 8).map(str::to_string));
        }
        Wecom { function, app, secrets }
    })
}

fn signed_request(app: &WecomApp, method: http::Method, ciphertext: &str, body: Vec<u8>) -> IncomingRequest {
    let nonce = "fuzznonce";
    let timestamp = NOW_UNIX.to_string();
    let mut request = IncomingRequest::new(method, ROUTES[0], body);
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

/// What the harness made of the request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Made {
    /// The input's own request, or one only re-signed.
    AsGiven,
    /// Sealed and signed as WeCom does: never refused as unauthenticated.
    Genuine,
    /// A URL check sealed and signed as WeCom does, whose echo is not
    /// shaped like WeCom's: refused as unauthenticated.
    ForeignEcho,
}

fn wecom_promises(wecom: &Wecom, request: &IncomingRequest, reply: &Reply, made: Made) -> Result<(), String> {
    if reply.status.is_success() && !is_signed_and_fresh(&wecom.app, request) {
        return Err(format!("accepted ({}) without a fresh valid msg_signature", reply.status));
    }
    if request.method == http::Method::GET && reply.status.is_success() && !wecom::is_wecom_echo(&reply.body) {
        return Err("a URL check answered a plaintext that is not WeCom's echo".into());
    }
    // Only the address allowlist (403) answers before verification; past it,
    // any other answer than the uniform 401 would tell such an echo apart.
    if made == Made::ForeignEcho && ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&reply.status) {
        return Err(format!("an echo not shaped like WeCom's was answered {}", reply.status));
    }
    if reply.status == StatusCode::UNAUTHORIZED {
        if reply.body != Reply::refusal(&IngressError::unauthenticated("")).body {
            return Err("a 401 that is not the one fixed body".into());
        }
        if made == Made::Genuine {
            return Err("a request sealed and signed as WeCom does was refused as unauthenticated".into());
        }
    }
    Ok(())
}

fn run(data: &[u8]) {
    let wecom = get();
    let Some(input) = FuzzInput::parse(data) else { return };
    let Some(mut request) = input.request(&ROUTES) else { return };
    let plaintext = request.body.clone();
    let mode = input.mode(MODES);
    let mut made = Made::AsGiven;
    match mode {
        1 => {
            let ciphertext = seal(&wecom.app.key, [b'F'; 16], &plaintext, &wecom.app.corp_id);
            let body = outer_body(&wecom.app.corp_id, &ciphertext, "1").into_bytes();
            request = with_source(signed_request(&wecom.app, http::Method::POST, &ciphertext, body), &request);
            made = Made::Genuine;
        }
        2 => {
            let ciphertext = seal(&wecom.app.key, [b'F'; 16], &plaintext, &wecom.app.corp_id);
            let mut signed = signed_request(&wecom.app, http::Method::GET, &ciphertext, Vec::new());
            signed.query.insert("echostr".into(), ciphertext);
            request = with_source(signed, &request);
            made = if wecom::is_wecom_echo(&plaintext) { Made::Genuine } else { Made::ForeignEcho };
        }
        3 => {
            let mut layout = plaintext.clone();
            let blocks = layout.len().div_ceil(16).max(1);
            layout.resize(blocks * 16, 0);
            let ciphertext = seal_padded(&wecom.app.key, &layout);
            let body = outer_body(&wecom.app.corp_id, &ciphertext, "1").into_bytes();
            request = with_source(signed_request(&wecom.app, http::Method::POST, &ciphertext, body), &request);
        }
        4 => {
            if let Some(ciphertext) = ciphertext_of(&request) {
                let body = request.body.clone();
                request = with_source(signed_request(&wecom.app, request.method.clone(), &ciphertext, body), &request);
            }
        }
        _ => {}
    }
    let (reply, publisher) = answer(&wecom.function, &request, input.publisher_down());
    static TRACE: OnceLock<bool> = OnceLock::new();
    if *TRACE.get_or_init(|| std::env::var_os("INLET_FUZZ_TRACE").is_some()) {
        // Which answers a corpus reaches: `INLET_FUZZ_TRACE=1 cargo fuzz run wecom <corpus> -- -runs=0`.
        eprintln!(
            "wecom mode {mode} {} {} -> {} {}",
            request.method,
            request.path,
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    let text = sender_text(&request, &plaintext);
    let sent = Sent { publisher_down: input.publisher_down(), secrets: &wecom.secrets, sender_text: &text };
    if let Err(broken) = check_answer(&reply, &publisher, &sent).and(wecom_promises(wecom, &request, &reply, made)) {
        panic!(
            "wecom: PROMISE BROKEN: {broken}\nrequest: {} {} query {:?} source {:?} mode {mode}\nbody: {}\nanswer: {} {}",
            request.method,
            request.path,
            request.query,
            request.source_ip,
            String::from_utf8_lossy(&request.body),
            reply.status,
            String::from_utf8_lossy(&reply.body),
        );
    }
}

/// `signed` with the source address and request id of the input's request
/// (the allowlist and the queue are fuzzed too).
fn with_source(mut signed: IncomingRequest, input: &IncomingRequest) -> IncomingRequest {
    signed.source_ip = input.source_ip;
    signed.request_id = input.request_id.clone();
    signed
}

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("wecom"), |data: &[u8]| run(data));
