#![no_main]
//! The slack handler over arbitrary requests on its three routes.
//!
//! Modes (the control byte's bits 3–7): 0 raw, as the input carries it ·
//! 1 signed now with the first `SLACK_SIGNING_SECRET` entry · 2 signed with
//! that entry at the input's own `X-Slack-Request-Timestamp` (any text, so
//! stale, future and unreadable timestamps reach the window check) · 3
//! signed now with the second entry of a deployment that is rotating.
//!
//! Promises on top of the general ones: every 2xx answers a request whose
//! `X-Slack-Signature` is exactly `v0=` + the HMAC of a configured secret
//! over `v0:{timestamp}:{body}` with a timestamp of plain decimal seconds
//! inside the window; no answer or Envelope carries a signing secret.
//!
//! Self-contained (the harness's `providers` module does not know Slack
//! yet): seeds come from the provider's own samples, not from `events/`.

use std::collections::HashMap;
use std::sync::OnceLock;

use inlet_fuzz::promises::sender_text;
use inlet_fuzz::{FuzzInput, NOW_UNIX, answer, assert_promises, fuzz_settings, set_header};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::Samples;
use slack::signature::slack_signature;
use slack::{SIGNATURE_HEADER, SIGNING_SECRET_SETTING, SlackFunction, TIMESTAMP_HEADER};

const ROUTES: [&str; 3] = [slack::EVENTS_PATH, slack::INTERACTIONS_PATH, slack::COMMANDS_PATH];
const MODES: usize = 4;
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

fn settings() -> HashMap<String, String> {
    fuzz_settings()
}

fn get() -> &'static Slack {
    static SLACK: OnceLock<Slack> = OnceLock::new();
    SLACK.get_or_init(|| {
        let settings = settings();
        let secret = inlet_shared::config::secrets(&settings, SIGNING_SECRET_SETTING)
            .iter()
            .next()
            .map(|s| s.value.expose().to_string())
            .expect("events/env.json configures SLACK_SIGNING_SECRET");
        let mut rotating = settings.clone();
        rotating.insert(SIGNING_SECRET_SETTING.into(), format!("{secret},{ROTATED_IN}"));
        let single = SlackFunction::from_env(&settings).expect("slack settings");
        let tolerance_secs = single.ingress.timestamp_window.tolerance_secs;
        Slack {
            single,
            rotating: SlackFunction::from_env(&rotating).expect("rotating settings"),
            secret,
            tolerance_secs,
        }
    })
}

fn init() {
    if let Some(dir) = std::env::var_os("INLET_FUZZ_SEEDS") {
        let dir = std::path::Path::new(&dir);
        let written = write_seeds(dir);
        match written {
            Ok(count) => {
                eprintln!("slack: wrote {count} seeds to {}", dir.display());
                std::process::exit(0);
            }
            Err(error) => {
                eprintln!("slack: seeding failed: {error}");
                std::process::exit(1);
            }
        }
    }
    inlet_fuzz::init("slack");
    let _ = get();
}

/// Every sample, once per mode, in the fuzz input format.
fn write_seeds(dir: &std::path::Path) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let settings = settings();
    let mut count = 0;
    for name in SlackFunction::SAMPLE_NAMES {
        let Some(sample) = SlackFunction::sample(name, &settings, NOW_UNIX, "fuzz") else { continue };
        for mode in 0..MODES {
            let seed = FuzzInput::render(
                FuzzInput::control(mode),
                &sample.method,
                &sample.path,
                &sample.headers,
                &sample.body,
            );
            let path = dir.join(format!("seed-{name}-m{mode}"));
            std::fs::write(&path, seed).map_err(|e| format!("{}: {e}", path.display()))?;
            count += 1;
        }
    }
    Ok(count)
}

fn run(data: &[u8]) {
    let slack = get();
    let Some(input) = FuzzInput::parse(data) else { return };
    let Some(mut request) = input.request(&ROUTES) else { return };
    let mode = input.mode(MODES);
    let now = NOW_UNIX.to_string();
    let signer = match mode {
        1 => Some((slack.secret.as_str(), now)),
        2 => Some((slack.secret.as_str(), request.header(TIMESTAMP_HEADER).unwrap_or("1700000000").to_string())),
        3 => Some((ROTATED_IN, now)),
        _ => None,
    };
    if let Some((secret, timestamp)) = signer {
        let signature = slack_signature(secret, &timestamp, &request.body);
        set_header(&mut request, TIMESTAMP_HEADER, &timestamp);
        set_header(&mut request, SIGNATURE_HEADER, &signature);
    }
    let function = if mode == 3 { &slack.rotating } else { &slack.single };
    let (reply, publisher) = answer(function, &request, input.publisher_down());
    let secrets = [slack.secret.as_str(), ROTATED_IN];
    let extra = accepted_only_if_signed(slack, &secrets, &request, &reply, &publisher)
        .and(secrets_stay_out(&secrets, &request, &reply, &publisher));
    assert_promises("slack", &request, &reply, &publisher, input.publisher_down(), &request.body, extra);
}

/// The oracle for a 2xx, written without the provider's verifier.
fn accepted_only_if_signed(
    slack: &Slack,
    secrets: &[&str],
    request: &IncomingRequest,
    reply: &Reply,
    publisher: &MemoryPublisher,
) -> Result<(), String> {
    if !reply.status.is_success() {
        return Ok(());
    }
    // Slack's certificate check arrives unsigned and is answered as Bolt
    // does: an empty 200 that enqueues nothing, on the slash-command route,
    // to a form that names ssl_check. Anything else unsigned is a failure.
    let certificate_check = request.path == "/slack/commands"
        && reply.body.is_empty()
        && publisher.sent_messages().is_empty()
        && request.body.windows(b"ssl_check=1".len()).any(|w| w == b"ssl_check=1");
    if certificate_check {
        return Ok(());
    }
    let timestamp = request.header(TIMESTAMP_HEADER).unwrap_or_default();
    let presented = request.header(SIGNATURE_HEADER).unwrap_or_default();
    let signed = secrets.iter().any(|secret| slack_signature(secret, timestamp, &request.body) == presented);
    let fresh = timestamp.trim().parse::<i64>().is_ok_and(|t| t.abs_diff(NOW_UNIX) <= slack.tolerance_secs);
    if signed && fresh {
        Ok(())
    } else {
        Err(format!("accepted ({}) without a fresh valid signature (signed {signed}, fresh {fresh})", reply.status))
    }
}

/// No signing secret in the answer or the queue, unless the sender wrote it.
fn secrets_stay_out(
    secrets: &[&str],
    request: &IncomingRequest,
    reply: &Reply,
    publisher: &MemoryPublisher,
) -> Result<(), String> {
    let written = sender_text(request, &request.body);
    let contains = |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    let mut texts = vec![reply.body.clone()];
    texts.extend(publisher.sent_messages().into_iter().map(|m| m.body.into_bytes()));
    for secret in secrets {
        let needle = secret.as_bytes();
        if written.iter().any(|text| contains(text, needle)) {
            continue;
        }
        if texts.iter().any(|text| contains(text, needle)) {
            return Err("a signing secret appears in the answer or a queued Envelope".into());
        }
    }
    Ok(())
}

libfuzzer_sys::fuzz_target!(init: init(), |data: &[u8]| run(data));
