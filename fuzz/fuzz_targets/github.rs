#![no_main]
//! The GitHub handler over arbitrary requests.
//!
//! Self-contained until the harness grows a `providers::github` module (the
//! `run` below can move there as it is). Modes (the control byte's bits
//! 3–7): 0 raw · 1 the body signed with the first configured secret · 2 with
//! the second (rotation) · 3 with a secret that is not configured.
//!
//! Besides the general promises (`inlet_fuzz::assert_promises`): a 2xx
//! needs `X-Hub-Signature-256` to be exactly `sha256=<hex HMAC-SHA256>` of
//! the body under a configured secret, computed here independently of the
//! handler's code; and no configured GitHub secret appears in an answer or a
//! queued Envelope unless the sender wrote it.

use std::sync::OnceLock;

use github::{GithubFunction, SETTING, SIGNATURE_HEADER};
use hmac::{KeyInit, Mac};
use inlet_fuzz::{FuzzInput, answer, assert_promises, fuzz_settings, set_header};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;

const ROUTES: [&str; 1] = [github::PATH];
const MODES: usize = 4;
const SECOND_SECRET: &str = "fuzz-github-second-secret";
const UNCONFIGURED_SECRET: &str = "fuzz-github-unconfigured-secret";

struct Github {
    function: GithubFunction,
    secrets: Vec<String>,
}

fn get() -> &'static Github {
    static GITHUB: OnceLock<Github> = OnceLock::new();
    GITHUB.get_or_init(|| {
        let mut settings = fuzz_settings();
        let first = settings.get(SETTING).cloned().unwrap_or_default();
        settings.insert(SETTING.into(), format!("{first},{SECOND_SECRET}"));
        let secrets =
            inlet_shared::config::secrets(&settings, SETTING).iter().map(|s| s.value.expose().to_string()).collect();
        Github { function: GithubFunction::from_env(&settings).expect("github settings"), secrets }
    })
}

/// `sha256=<hex>` written from the hmac crate directly, not from the
/// handler's helper, so the oracle does not share the code it judges.
fn oracle_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn run(data: &[u8]) {
    let github = get();
    let Some(input) = FuzzInput::parse(data) else { return };
    let Some(mut request) = input.request(&ROUTES) else { return };
    let secret = match input.mode(MODES) {
        1 => Some(github.secrets[0].as_str()),
        2 => Some(github.secrets[github.secrets.len() - 1].as_str()),
        3 => Some(UNCONFIGURED_SECRET),
        _ => None,
    };
    if let Some(secret) = secret {
        let signature = oracle_signature(secret, &request.body);
        set_header(&mut request, SIGNATURE_HEADER, &signature);
    }
    let (reply, publisher) = answer(&github.function, &request, input.publisher_down());
    let extra =
        accepted_only_if_signed(github, &request, &reply).and(no_github_secret(github, &request, &reply, &publisher));
    assert_promises("github", &request, &reply, &publisher, input.publisher_down(), &request.body, extra);
}

fn accepted_only_if_signed(github: &Github, request: &IncomingRequest, reply: &Reply) -> Result<(), String> {
    if !reply.status.is_success() {
        return Ok(());
    }
    let presented = request.header(SIGNATURE_HEADER).unwrap_or_default();
    if github.secrets.iter().any(|secret| oracle_signature(secret, &request.body) == presented) {
        Ok(())
    } else {
        Err(format!("accepted ({}) without a valid X-Hub-Signature-256", reply.status))
    }
}

/// The general promises do not know GitHub's setting yet.
fn no_github_secret(
    github: &Github,
    request: &IncomingRequest,
    reply: &Reply,
    publisher: &MemoryPublisher,
) -> Result<(), String> {
    let written = inlet_fuzz::promises::sender_text(request, &request.body);
    let mut seen = vec![reply.body.clone()];
    seen.extend(publisher.sent_messages().into_iter().map(|m| m.body.into_bytes()));
    for secret in &github.secrets {
        let secret = secret.as_bytes();
        let within = |text: &[u8]| text.windows(secret.len()).any(|w| w == secret);
        if seen.iter().any(|t| within(t)) && !written.iter().any(|t| within(t)) {
            return Err("a configured GitHub secret appears in the answer or a queued Envelope".into());
        }
    }
    Ok(())
}

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("github"), |data: &[u8]| run(data));
