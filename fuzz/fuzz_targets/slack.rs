#![no_main]
//! The slack handler over arbitrary requests on its three routes, on the
//! harness (`inlet_fuzz::harness`, which checks the general promises, and
//! keeps the rotated-in secret out of answers and Envelopes as the
//! settings' own).
//!
//! The oracle a 2xx is held to: `X-Slack-Signature` is exactly `v0=` + the
//! HMAC of a secret of the answering deployment over `v0:{timestamp}:{body}`
//! with a timestamp of plain decimal seconds inside the window (or the
//! request is Slack's unsigned certificate check). Modes 1 and 3 are
//! genuine: never refused as unauthenticated.
//!
//! Modes (the control byte's bits 3–7): 0 raw, as the input carries it ·
//! 1 signed now with the first `SLACK_SIGNING_SECRET` entry · 2 signed with
//! that entry at the input's own `X-Slack-Request-Timestamp` (any text, so
//! stale, future and unreadable timestamps reach the window check) · 3
//! signed now with the second entry of a deployment that is rotating.
//!
//! Seeds come from the provider's own samples, not from `events/`.

use inlet_fuzz::harness::{Exchange, Platform, Prepared};
use inlet_fuzz::seeds::{self, Seeds};
use inlet_fuzz::{NOW_UNIX, configured, fuzz_settings, set_header, settings_adding};
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::Provider;
use slack::signature::slack_signature;
use slack::{SIGNATURE_HEADER, SIGNING_SECRET_SETTING, SlackFunction, TIMESTAMP_HEADER};

/// The second entry of the rotating deployment (mode 3).
const ROTATED_IN: &str = "fuzz-slack-rotated-in-secret";

struct Slack {
    /// The dev settings: one signing secret.
    single: SlackFunction,
    /// The dev secret, then [`ROTATED_IN`].
    rotating: SlackFunction,
    secret: String,
    tolerance_secs: u64,
}

/// Slack's certificate check arrives unsigned and is answered as Bolt does:
/// an empty 200 that enqueues nothing, on the slash-command route, to a
/// form that names ssl_check. Anything else unsigned is a failure.
fn certificate_check(exchange: &Exchange<'_>) -> bool {
    let request = exchange.request;
    request.path == "/slack/commands"
        && exchange.reply.body.is_empty()
        && exchange.publisher.sent_messages().is_empty()
        && request.body.windows(b"ssl_check=1".len()).any(|w| w == b"ssl_check=1")
}

impl Platform for Slack {
    type Function = SlackFunction;
    const MODES: usize = 4;

    fn deploy() -> Self {
        let settings = fuzz_settings();
        let secret = configured(&settings, SIGNING_SECRET_SETTING)
            .into_iter()
            .next()
            .expect("events/env.json configures SLACK_SIGNING_SECRET");
        let single = SlackFunction::from_env(&settings).expect("slack settings");
        let rotating = SlackFunction::from_env(&settings_adding(SIGNING_SECRET_SETTING, ROTATED_IN));
        let tolerance_secs = single.ingress.timestamp_window.tolerance_secs;
        Slack { single, rotating: rotating.expect("rotating settings"), secret, tolerance_secs }
    }

    fn secrets(&self) -> Vec<String> {
        vec![ROTATED_IN.to_string()]
    }

    fn seeds(&self, _target: &str) -> Result<Seeds, String> {
        seeds::from_samples::<SlackFunction>(Self::MODES)
    }

    fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, SlackFunction> {
        let now = NOW_UNIX.to_string();
        let signer = match mode {
            1 => Some((self.secret.as_str(), now)),
            2 => Some((self.secret.as_str(), request.header(TIMESTAMP_HEADER).unwrap_or("1700000000").to_string())),
            3 => Some((ROTATED_IN, now)),
            _ => None,
        };
        if let Some((secret, timestamp)) = signer {
            let signature = slack_signature(secret, &timestamp, &request.body);
            set_header(request, TIMESTAMP_HEADER, &timestamp);
            set_header(request, SIGNATURE_HEADER, &signature);
        }
        let function = if mode == 3 { &self.rotating } else { &self.single };
        Prepared::by(function).genuine(matches!(mode, 1 | 3))
    }

    /// Written without the provider's verifier.
    fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
        if certificate_check(exchange) {
            return Ok(());
        }
        let request = exchange.request;
        let secrets =
            if exchange.mode == 3 { &[self.secret.as_str(), ROTATED_IN][..] } else { &[self.secret.as_str()] };
        let timestamp = request.header(TIMESTAMP_HEADER).unwrap_or_default();
        let presented = request.header(SIGNATURE_HEADER).unwrap_or_default();
        let signed = secrets.iter().any(|secret| slack_signature(secret, timestamp, &request.body) == presented);
        let fresh = timestamp.trim().parse::<i64>().is_ok_and(|t| t.abs_diff(NOW_UNIX) <= self.tolerance_secs);
        if signed && fresh {
            Ok(())
        } else {
            Err(format!("without a fresh valid signature (signed {signed}, fresh {fresh})"))
        }
    }
}

inlet_fuzz::platform_target!("slack", Slack);
