#![no_main]
//! The Stripe handler over arbitrary requests.
//!
//! Self-contained until the harness grows a `providers::stripe` module (the
//! `run` below can move there as it is). Modes (the control byte's bits
//! 3–7): 0 raw · 1 signed now with the first configured secret · 2 signed
//! with the second secret (rotation) at the `t` of the input's own
//! `Stripe-Signature`, after a `v1` of an unconfigured secret · 3 signed now
//! with an unconfigured secret.
//!
//! Besides the general promises: a 2xx needs a `v1` item equal to the hex
//! HMAC-SHA256 of `{t}.{body}` under a configured secret, for a `t` that is
//! not older than the tolerance, computed here with the hmac crate; and no
//! configured Stripe secret appears in an answer or a queued Envelope
//! unless the sender wrote it.

use std::sync::OnceLock;

use hmac::{KeyInit, Mac};
use inlet_fuzz::{FuzzInput, NOW_UNIX, answer, assert_promises, fuzz_settings, set_header};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use stripe::{SETTING, SIGNATURE_HEADER, StripeFunction};

const ROUTES: [&str; 1] = [stripe::PATH];
const MODES: usize = 4;
const SECOND_SECRET: &str = "whsec_fuzz-stripe-second-secret";
const UNCONFIGURED_SECRET: &str = "whsec_fuzz-stripe-unconfigured";

struct Stripe {
    function: StripeFunction,
    secrets: Vec<String>,
    tolerance_secs: u64,
}

fn get() -> &'static Stripe {
    static STRIPE: OnceLock<Stripe> = OnceLock::new();
    STRIPE.get_or_init(|| {
        let mut settings = fuzz_settings();
        let first = settings.get(SETTING).cloned().unwrap_or_default();
        settings.insert(SETTING.into(), format!("{first},{SECOND_SECRET}"));
        let secrets =
            inlet_shared::config::secrets(&settings, SETTING).iter().map(|s| s.value.expose().to_string()).collect();
        let function = StripeFunction::from_env(&settings).expect("stripe settings");
        let tolerance_secs = function.ingress.timestamp_window.tolerance_secs;
        Stripe { function, secrets, tolerance_secs }
    })
}

fn oracle_hex(secret: &str, t: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The input's own first `t`, when it has one.
fn input_t(request: &IncomingRequest) -> Option<String> {
    let header = request.header(SIGNATURE_HEADER)?;
    header
        .split(',')
        .find_map(|item| item.strip_prefix("t="))
        .map(|t| t.split('=').next().unwrap_or_default().to_string())
}

fn run(data: &[u8]) {
    let stripe = get();
    let Some(input) = FuzzInput::parse(data) else { return };
    let Some(mut request) = input.request(&ROUTES) else { return };
    let now = NOW_UNIX.to_string();
    let header = match input.mode(MODES) {
        1 => Some(format!("t={now},v1={}", oracle_hex(&stripe.secrets[0], &now, &request.body))),
        2 => {
            let t = input_t(&request).unwrap_or_else(|| now.clone());
            let last = &stripe.secrets[stripe.secrets.len() - 1];
            let decoy = oracle_hex(UNCONFIGURED_SECRET, &t, &request.body);
            Some(format!("t={t},v1={decoy},v1={}", oracle_hex(last, &t, &request.body)))
        }
        3 => Some(format!("t={now},v1={}", oracle_hex(UNCONFIGURED_SECRET, &now, &request.body))),
        _ => None,
    };
    if let Some(header) = header {
        set_header(&mut request, SIGNATURE_HEADER, &header);
    }
    let (reply, publisher) = answer(&stripe.function, &request, input.publisher_down());
    let extra =
        accepted_only_if_signed(stripe, &request, &reply).and(no_stripe_secret(stripe, &request, &reply, &publisher));
    assert_promises("stripe", &request, &reply, &publisher, input.publisher_down(), &request.body, extra);
}

/// The integer a `t` value stands for, as decimal text (whitespace, a
/// sign, `_` between digits and leading zeros are the library's forms).
fn canonical(t: &str) -> Option<String> {
    let t = t.trim_matches([' ', '\t']);
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    Some(match (trimmed.is_empty(), negative) {
        (true, _) => "0".into(),
        (false, true) => format!("-{trimmed}"),
        (false, false) => trimmed.into(),
    })
}

fn accepted_only_if_signed(stripe: &Stripe, request: &IncomingRequest, reply: &Reply) -> Result<(), String> {
    if !reply.status.is_success() {
        return Ok(());
    }
    let header = request.header(SIGNATURE_HEADER).unwrap_or_default();
    let items: Vec<&str> = header.split(',').collect();
    let Some(t) = items.iter().find_map(|item| item.strip_prefix("t=")).and_then(|v| canonical(v.split('=').next()?))
    else {
        return Err(format!("accepted ({}) without a readable t", reply.status));
    };
    let fresh = match t.parse::<i64>() {
        Ok(t) => t >= NOW_UNIX - i64::try_from(stripe.tolerance_secs).unwrap_or(i64::MAX),
        Err(_) => !t.starts_with('-'),
    };
    let signed = stripe.secrets.iter().any(|secret| {
        let expected = oracle_hex(secret, &t, &request.body);
        items.iter().filter_map(|item| item.strip_prefix("v1=")).any(|v| v.split('=').next() == Some(expected.as_str()))
    });
    if signed && fresh {
        Ok(())
    } else {
        Err(format!("accepted ({}) without a valid v1 for a fresh t (signed {signed}, fresh {fresh})", reply.status))
    }
}

/// The general promises do not know Stripe's setting yet.
fn no_stripe_secret(
    stripe: &Stripe,
    request: &IncomingRequest,
    reply: &Reply,
    publisher: &MemoryPublisher,
) -> Result<(), String> {
    let written = inlet_fuzz::promises::sender_text(request, &request.body);
    let mut seen = vec![reply.body.clone()];
    seen.extend(publisher.sent_messages().into_iter().map(|m| m.body.into_bytes()));
    for secret in &stripe.secrets {
        let secret = secret.as_bytes();
        let within = |text: &[u8]| text.windows(secret.len()).any(|w| w == secret);
        if seen.iter().any(|t| within(t)) && !written.iter().any(|t| within(t)) {
            return Err("a configured Stripe secret appears in the answer or a queued Envelope".into());
        }
    }
    Ok(())
}

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("stripe"), |data: &[u8]| run(data));
