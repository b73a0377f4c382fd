//! Fuzz harness for inlet: every provider's public handler driven with
//! arbitrary requests (and with arbitrary plaintext that the harness signs
//! or encrypts with the configured secrets, so the code behind
//! verification is fuzzed too), the Envelope decoder, the alert splitter,
//! destinations and replies. Every platform target runs on [`harness`],
//! which checks the promises of [`promises`] and the platform's oracles,
//! not only that nothing panicked. See FUZZING.md.

use std::collections::HashMap;
use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::provider::HttpFunction;
use serde_json::{Map, Value};
use time::OffsetDateTime;

pub mod generic;
pub mod harness;
pub mod input;
pub mod promises;
pub mod providers;
pub mod seeds;
pub mod structures;

pub use input::FuzzInput;

/// The clock of every fuzzed request: the time `events/` was signed at.
pub const NOW_UNIX: i64 = 1_700_000_000;

/// Bodies over this are refused with 413 before any work; small enough that
/// libFuzzer's inputs reach it (and the inputs stay fast).
pub const MAX_BODY_BYTES: usize = 4096;

/// OpenIM path tokens of the fuzzed path-token deployment (the dev settings
/// have none: they protect OpenIM with an address allowlist).
pub const OPENIM_PATH_TOKENS: &str = "fuzz-openim-path-token,fuzz-openim-second-token";

/// A second Telegram bot, so one bot's secret can be tried on another.
pub const SECOND_TELEGRAM_BOT: (&str, &str) = ("fuzzbot", "fuzz-telegram-second-secret");

pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW_UNIX).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The settings every target starts from: `events/env.json` plus a second
/// Telegram bot and a small body limit.
pub fn fuzz_settings() -> HashMap<String, String> {
    let mut settings = inlet_shared::samples::dev_settings();
    let telegram = settings.get("TELEGRAM_SECRET_TOKENS").cloned().unwrap_or_default();
    let (bot, secret) = SECOND_TELEGRAM_BOT;
    settings.insert("TELEGRAM_SECRET_TOKENS".into(), format!("{telegram},{bot}={secret}"));
    settings.insert("INLET_MAX_BODY_BYTES".into(), MAX_BODY_BYTES.to_string());
    settings
}

/// Every secret any fuzzed deployment is configured with.
pub fn all_secrets() -> &'static [String] {
    static SECRETS: OnceLock<Vec<String>> = OnceLock::new();
    SECRETS.get_or_init(|| {
        let settings = fuzz_settings();
        promises::configured_secrets(|name| match name {
            "OPENIM_PATH_TOKEN" => Some(OPENIM_PATH_TOKENS),
            other => settings.get(other).map(String::as_str),
        })
    })
}

/// Runs a future that never waits: a handler with a [`MemoryPublisher`]
/// does no I/O. Panics if it ever does wait, which would be a change the
/// harness must learn about.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
    panic!("the handler waited on something other than the in-memory queue");
}

/// One request answered by `function`, with the queue up or down.
pub fn answer(function: &impl HttpFunction, request: &IncomingRequest, queue_down: bool) -> (Reply, MemoryPublisher) {
    let publisher = if queue_down { MemoryPublisher::down() } else { MemoryPublisher::new() };
    let reply = block_on(function.handle(&publisher, request, now()));
    (reply, publisher)
}

/// The `error` of a refusal, if the answer is one.
pub fn refusal_reason(reply: &Reply) -> Option<String> {
    reply.body_json().and_then(|json| json.get("error").and_then(Value::as_str).map(str::to_string))
}

/// The body with `edit` applied, when it is a JSON object; else unchanged.
pub fn edit_json_object(body: &[u8], edit: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut object)) => {
            edit(&mut object);
            Value::Object(object).to_string().into_bytes()
        }
        _ => body.to_vec(),
    }
}

/// Sets a header, replacing any the input carried.
pub fn set_header(request: &mut IncomingRequest, name: &'static str, value: &str) {
    if let Ok(value) = http::HeaderValue::from_str(value) {
        request.headers.insert(name, value);
    }
}

/// The values of a secret setting, as the functions read them.
pub fn configured(settings: &HashMap<String, String>, name: &str) -> Vec<String> {
    inlet_shared::config::secrets(settings, name).iter().map(|s| s.value.expose().to_string()).collect()
}

/// The fuzz settings with `value` added to the list `setting` holds (a
/// rotation's second secret, another source).
pub fn settings_adding(setting: &str, value: &str) -> HashMap<String, String> {
    let mut settings = fuzz_settings();
    let first = settings.get(setting).cloned().unwrap_or_default();
    settings.insert(setting.into(), format!("{first},{value}"));
    settings
}

/// The init of a target over shared code (envelope_decode, alert_split,
/// destinations, replies; the platforms' are [`harness::init`]): writes
/// its seeds into `INLET_FUZZ_SEEDS` and exits, when that is set.
pub fn init(target: &str) {
    if let Some(dir) = std::env::var_os("INLET_FUZZ_SEEDS") {
        let written = seeds::structure_seeds(target).and_then(|seeds| seeds::write_all(&seeds, dir.as_ref()));
        seeds::exit_after_seeding(target, dir.as_ref(), written);
    }
}
