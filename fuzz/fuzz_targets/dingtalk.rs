#![no_main]
//! The dingtalk handler over arbitrary requests, with the promises of
//! `inlet_fuzz::promises` plus DingTalk's own:
//!
//! - nothing is accepted unless `sign` is the AppSecret's HMAC over the
//!   request's own `timestamp` (as sent, or `%`-encoded) and that timestamp
//!   is within an hour of now, in milliseconds;
//! - a request the harness signed now is never refused as unauthenticated;
//! - every 401 is the one fixed body.
//!
//! Modes (the control byte's bits 3–7): 0 raw; 1 the harness signs with
//! the AppSecret at now (the body is whatever the input holds, so the JSON
//! handling behind the signature is fuzzed); 2 the harness signs the
//! input's own `timestamp` header, whatever it holds (the window is fuzzed).

use std::sync::OnceLock;

use dingtalk::{DingtalkFunction, SIGN_HEADER, TIMESTAMP_HEADER, sign, sign_matches};
use http::StatusCode;
use inlet_fuzz::promises::{Sent, check_answer, sender_text};
use inlet_fuzz::{FuzzInput, NOW_UNIX, all_secrets, answer, fuzz_settings, set_header};
use inlet_shared::error::IngressError;
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::Provider;

const ROUTES: [&str; 1] = ["/dingtalk/robot"];
const MODES: usize = 3;

struct Dingtalk {
    function: DingtalkFunction,
    secret: String,
    secrets: Vec<String>,
}

fn get() -> &'static Dingtalk {
    static DINGTALK: OnceLock<Dingtalk> = OnceLock::new();
    DINGTALK.get_or_init(|| {
        let settings = fuzz_settings();
        let function = DingtalkFunction::from_env(&settings).expect("dingtalk settings");
        let configured = settings.get("DINGTALK_APP_SECRET").cloned().unwrap_or_default();
        let listed: Vec<String> =
            configured.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        let secret = listed.first().cloned().unwrap_or_default();
        let mut secrets = all_secrets().to_vec();
        secrets.extend(listed.into_iter().filter(|s| s.len() >= 8));
        Dingtalk { function, secret, secrets }
    })
}

fn signed_and_fresh(dingtalk: &Dingtalk, request: &IncomingRequest) -> bool {
    let (Some(timestamp), Some(presented)) = (request.header(TIMESTAMP_HEADER), request.header(SIGN_HEADER)) else {
        return false;
    };
    let fresh = timestamp.trim().parse::<i64>().is_ok_and(|ms| ms.abs_diff(NOW_UNIX * 1000) <= 3_600_000);
    fresh && sign_matches(&sign(&dingtalk.secret, timestamp), presented)
}

fn dingtalk_promises(
    dingtalk: &Dingtalk,
    request: &IncomingRequest,
    reply: &Reply,
    signed_now: bool,
) -> Result<(), String> {
    if reply.status.is_success() && !signed_and_fresh(dingtalk, request) {
        return Err(format!("accepted ({}) without a fresh valid sign", reply.status));
    }
    if reply.status == StatusCode::UNAUTHORIZED {
        if reply.body != Reply::refusal(&IngressError::unauthenticated("")).body {
            return Err("a 401 that is not the one fixed body".into());
        }
        if signed_now {
            return Err("a request signed now with the AppSecret was refused as unauthenticated".into());
        }
    }
    Ok(())
}

fn run(data: &[u8]) {
    let dingtalk = get();
    let Some(input) = FuzzInput::parse(data) else { return };
    let Some(mut request) = input.request(&ROUTES) else { return };
    let mode = input.mode(MODES);
    let timestamp = match mode {
        1 => Some((NOW_UNIX * 1000).to_string()),
        2 => request.header(TIMESTAMP_HEADER).map(str::to_string),
        _ => None,
    };
    if let Some(timestamp) = &timestamp {
        set_header(&mut request, TIMESTAMP_HEADER, timestamp);
        set_header(&mut request, SIGN_HEADER, &sign(&dingtalk.secret, timestamp));
    }
    let (reply, publisher) = answer(&dingtalk.function, &request, input.publisher_down());
    static TRACE: OnceLock<bool> = OnceLock::new();
    if *TRACE.get_or_init(|| std::env::var_os("INLET_FUZZ_TRACE").is_some()) {
        // Which answers a corpus reaches: `INLET_FUZZ_TRACE=1 cargo fuzz run dingtalk <corpus> -- -runs=0`.
        eprintln!(
            "dingtalk mode {mode} {} {} -> {} {}",
            request.method,
            request.path,
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    let text = sender_text(&request, &request.body);
    let sent = Sent { publisher_down: input.publisher_down(), secrets: &dingtalk.secrets, sender_text: &text };
    let signed_now = mode == 1 && request.method == http::Method::POST;
    if let Err(broken) =
        check_answer(&reply, &publisher, &sent).and(dingtalk_promises(dingtalk, &request, &reply, signed_now))
    {
        panic!(
            "dingtalk: PROMISE BROKEN: {broken}\nrequest: {} {} headers {:?} source {:?} mode {mode}\nbody: {}\nanswer: {} {}",
            request.method,
            request.path,
            request.headers,
            request.source_ip,
            String::from_utf8_lossy(&request.body),
            reply.status,
            String::from_utf8_lossy(&reply.body),
        );
    }
}

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("dingtalk"), |data: &[u8]| run(data));
