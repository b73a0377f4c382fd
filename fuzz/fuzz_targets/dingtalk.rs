#![no_main]
//! The dingtalk handler over arbitrary requests, on the harness
//! (`inlet_fuzz::harness`: the general promises, among them that every 401
//! is the one fixed body), plus DingTalk's own:
//!
//! - the oracle a 2xx is held to: `sign` is the AppSecret's HMAC over the
//!   request's own `timestamp` (as sent, or `%`-encoded) and that timestamp
//!   is within an hour of now, in milliseconds;
//! - a request the harness signed now is genuine: never refused as
//!   unauthenticated.
//!
//! Modes (the control byte's bits 3–7): 0 raw; 1 the harness signs with
//! the AppSecret at now (the body is whatever the input holds, so the JSON
//! handling behind the signature is fuzzed); 2 the harness signs the
//! input's own `timestamp` header, whatever it holds (the window is fuzzed).

use dingtalk::{APP_SECRET, DingtalkFunction, SIGN_HEADER, TIMESTAMP_HEADER, sign, sign_matches};
use inlet_fuzz::harness::{Exchange, Platform, Prepared};
use inlet_fuzz::{NOW_UNIX, configured, fuzz_settings, set_header};
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::Provider;

/// The AppSecret is kept out of answers as every setting of the registry's
/// secret list is.
struct Dingtalk {
    function: DingtalkFunction,
    secret: String,
}

/// The request's own `timestamp` is within an hour of now, in ms, and
/// `sign` is the AppSecret's over it.
fn signed_and_fresh(secret: &str, request: &IncomingRequest) -> bool {
    let (Some(timestamp), Some(presented)) = (request.header(TIMESTAMP_HEADER), request.header(SIGN_HEADER)) else {
        return false;
    };
    let fresh = timestamp.trim().parse::<i64>().is_ok_and(|ms| ms.abs_diff(NOW_UNIX * 1000) <= 3_600_000);
    fresh && sign_matches(&sign(secret, timestamp), presented)
}

impl Platform for Dingtalk {
    type Function = DingtalkFunction;
    const MODES: usize = 3;

    fn deploy() -> Self {
        let settings = fuzz_settings();
        let function = DingtalkFunction::from_env(&settings).expect("dingtalk settings");
        let secret = configured(&settings, APP_SECRET).into_iter().next().unwrap_or_default();
        Dingtalk { function, secret }
    }

    fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, DingtalkFunction> {
        let timestamp = match mode {
            1 => Some((NOW_UNIX * 1000).to_string()),
            2 => request.header(TIMESTAMP_HEADER).map(str::to_string),
            _ => None,
        };
        if let Some(timestamp) = &timestamp {
            set_header(request, TIMESTAMP_HEADER, timestamp);
            set_header(request, SIGN_HEADER, &sign(&self.secret, timestamp));
        }
        Prepared::by(&self.function).genuine(mode == 1 && request.method == http::Method::POST)
    }

    fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
        if signed_and_fresh(&self.secret, exchange.request) { Ok(()) } else { Err("without a fresh valid sign".into()) }
    }
}

inlet_fuzz::platform_target!("dingtalk", Dingtalk);
