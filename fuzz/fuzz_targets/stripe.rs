#![no_main]
//! The Stripe handler over arbitrary requests, on the harness
//! (`inlet_fuzz::harness`, which checks the general promises, and keeps
//! the second secret out of answers and Envelopes as the settings' own).
//! Modes (the control byte's bits 3–7): 0 raw · 1 signed now with the first
//! configured secret · 2 signed with the second secret (rotation) at the `t`
//! of the input's own `Stripe-Signature`, after a `v1` of an unconfigured
//! secret · 3 signed now with an unconfigured secret.
//!
//! The oracle a 2xx is held to: a `v1` item equal to the hex HMAC-SHA256 of
//! `{t}.{body}` under a configured secret, for a `t` that is not older than
//! the tolerance, computed here with the hmac crate. Mode 1 is genuine:
//! never refused as unauthenticated.

use hmac::{KeyInit, Mac};
use inlet_fuzz::harness::{Exchange, Platform, Prepared};
use inlet_fuzz::{NOW_UNIX, configured, set_header, settings_adding};
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::Provider;
use stripe::{SETTING, SIGNATURE_HEADER, StripeFunction};

const SECOND_SECRET: &str = "whsec_fuzz-stripe-second-secret";
const UNCONFIGURED_SECRET: &str = "whsec_fuzz-stripe-unconfigured";

struct Stripe {
    function: StripeFunction,
    /// The dev secret, then [`SECOND_SECRET`].
    secrets: Vec<String>,
    tolerance_secs: u64,
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

impl Platform for Stripe {
    type Function = StripeFunction;
    const MODES: usize = 4;

    fn deploy() -> Self {
        let settings = settings_adding(SETTING, SECOND_SECRET);
        let function = StripeFunction::from_env(&settings).expect("stripe settings");
        let tolerance_secs = function.ingress.timestamp_window.tolerance_secs;
        Stripe { function, secrets: configured(&settings, SETTING), tolerance_secs }
    }

    fn secrets(&self) -> Vec<String> {
        self.secrets.clone()
    }

    fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, StripeFunction> {
        let now = NOW_UNIX.to_string();
        let header = match mode {
            1 => Some(format!("t={now},v1={}", oracle_hex(&self.secrets[0], &now, &request.body))),
            2 => {
                let t = input_t(request).unwrap_or_else(|| now.clone());
                let last = &self.secrets[self.secrets.len() - 1];
                let decoy = oracle_hex(UNCONFIGURED_SECRET, &t, &request.body);
                Some(format!("t={t},v1={decoy},v1={}", oracle_hex(last, &t, &request.body)))
            }
            3 => Some(format!("t={now},v1={}", oracle_hex(UNCONFIGURED_SECRET, &now, &request.body))),
            _ => None,
        };
        if let Some(header) = header {
            set_header(request, SIGNATURE_HEADER, &header);
        }
        Prepared::by(&self.function).genuine(mode == 1)
    }

    fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
        let request = exchange.request;
        let header = request.header(SIGNATURE_HEADER).unwrap_or_default();
        let items: Vec<&str> = header.split(',').collect();
        let Some(t) =
            items.iter().find_map(|item| item.strip_prefix("t=")).and_then(|v| canonical(v.split('=').next()?))
        else {
            return Err("without a readable t".into());
        };
        let fresh = match t.parse::<i64>() {
            Ok(t) => t >= NOW_UNIX - i64::try_from(self.tolerance_secs).unwrap_or(i64::MAX),
            Err(_) => !t.starts_with('-'),
        };
        let signed = self.secrets.iter().any(|secret| {
            let expected = oracle_hex(secret, &t, &request.body);
            items
                .iter()
                .filter_map(|item| item.strip_prefix("v1="))
                .any(|v| v.split('=').next() == Some(expected.as_str()))
        });
        if signed && fresh {
            Ok(())
        } else {
            Err(format!("without a valid v1 for a fresh t (signed {signed}, fresh {fresh})"))
        }
    }
}

inlet_fuzz::platform_target!("stripe", Stripe);
