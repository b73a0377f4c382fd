#![no_main]
//! The GitHub handler over arbitrary requests, on the harness
//! (`inlet_fuzz::harness`, which checks the general promises, and keeps
//! the second secret out of answers and Envelopes as the settings' own).
//! Modes (the control byte's bits 3–7): 0 raw · 1 the body signed with the
//! first configured secret · 2 with the second (rotation) · 3 with a secret
//! that is not configured.
//!
//! The oracle a 2xx is held to: `X-Hub-Signature-256` is exactly
//! `sha256=<hex HMAC-SHA256>` of the body under a configured secret,
//! computed here independently of the handler's code. Modes 1 and 2 are
//! genuine: never refused as unauthenticated.

use github::{GithubFunction, SETTING, SIGNATURE_HEADER};
use hmac::{KeyInit, Mac};
use inlet_fuzz::harness::{Exchange, Platform, Prepared};
use inlet_fuzz::{configured, set_header, settings_adding};
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::Provider;

const SECOND_SECRET: &str = "fuzz-github-second-secret";
const UNCONFIGURED_SECRET: &str = "fuzz-github-unconfigured-secret";

struct Github {
    function: GithubFunction,
    /// The dev secret, then [`SECOND_SECRET`].
    secrets: Vec<String>,
}

/// `sha256=<hex>` written from the hmac crate directly, not from the
/// handler's helper, so the oracle does not share the code it judges.
fn oracle_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Platform for Github {
    type Function = GithubFunction;
    const MODES: usize = 4;

    fn deploy() -> Self {
        let settings = settings_adding(SETTING, SECOND_SECRET);
        let function = GithubFunction::from_env(&settings).expect("github settings");
        Github { function, secrets: configured(&settings, SETTING) }
    }

    fn secrets(&self) -> Vec<String> {
        self.secrets.clone()
    }

    fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, GithubFunction> {
        let secret = match mode {
            1 => Some(self.secrets[0].as_str()),
            2 => Some(self.secrets[self.secrets.len() - 1].as_str()),
            3 => Some(UNCONFIGURED_SECRET),
            _ => None,
        };
        if let Some(secret) = secret {
            let signature = oracle_signature(secret, &request.body);
            set_header(request, SIGNATURE_HEADER, &signature);
        }
        Prepared::by(&self.function).genuine(matches!(mode, 1 | 2))
    }

    fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
        let request = exchange.request;
        let presented = request.header(SIGNATURE_HEADER).unwrap_or_default();
        if self.secrets.iter().any(|secret| oracle_signature(secret, &request.body) == presented) {
            Ok(())
        } else {
            Err("without a valid X-Hub-Signature-256".into())
        }
    }
}

inlet_fuzz::platform_target!("github", Github);
