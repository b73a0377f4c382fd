//! The one harness every platform target runs on. A target says only what
//! is its platform's own ([`Platform`]): its deployments, how each mode
//! turns the fuzzer's request into one its sender would make (signed,
//! sealed, re-routed, or left as it is), the oracle a 2xx is held to, and
//! any property of its own. The harness does the rest, the same way for
//! every platform: it parses the input, fills the path parameters from the
//! platform's routes, applies the mode, answers the request with the queue
//! up or down, and checks, in this order:
//!
//! 1. the promises of [`promises::check_answer`], shared with the property
//!    tests (no 5xx but a 503 while the queue is down; a refusal enqueues
//!    nothing and says why; every queued Envelope is processable; no
//!    configured secret, the target's own included, in an answer or an
//!    Envelope unless the sender wrote it);
//! 2. every 401 is the one fixed body: which check failed, or which bot or
//!    source exists, is never told (no padding or decryption oracle);
//! 3. nothing forged is accepted: a 2xx only for a request that passes the
//!    platform's oracle ([`Platform::authenticated`]), written without the
//!    handler's verifier;
//! 4. a request the harness made as the platform's sender makes it
//!    ([`Prepared::genuine`]) is never refused as unauthenticated;
//! 5. the platform's own properties ([`Platform::check`]).
//!
//! A broken promise panics with `<target>: PROMISE BROKEN: …` and the
//! request, which is what `make fuzz` looks for.

use std::any::{Any, TypeId};
use std::sync::{Mutex, OnceLock, PoisonError};

use http::StatusCode;
use inlet_shared::error::IngressError;
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;

use crate::seeds::{self, Seeds};
use crate::{FuzzInput, all_secrets, answer, promises};

/// The fuzz target of a platform on this harness, in a target's file:
/// `inlet_fuzz::platform_target!("github", Github);` (the name is the one
/// `cargo fuzz run` and `make fuzz` know).
#[macro_export]
macro_rules! platform_target {
    ($target:literal, $platform:ty) => {
        libfuzzer_sys::fuzz_target!(
            init: $crate::harness::init::<$platform>($target),
            |data: &[u8]| $crate::harness::run::<$platform>($target, data)
        );
    };
}

/// What a fuzz target knows of its platform beyond the general promises.
pub trait Platform: Send + Sync + Sized + 'static {
    /// The platform's function: its routes are the ones fuzzed.
    type Function: Provider;
    /// How many modes the control byte's bits 3–7 choose from (at most 32).
    const MODES: usize;

    /// The deployments, keys and secrets the target works with, from
    /// [`crate::fuzz_settings`] (and the target's own additions to them).
    fn deploy() -> Self;

    /// Secrets the target configures beyond the fuzz settings (a rotation's
    /// second secret, another source's key): kept out of every answer and
    /// Envelope as the settings' own are.
    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }

    /// The seeds, named: by default each `events/` request of the platform
    /// once per mode.
    fn seeds(&self, target: &str) -> Result<Seeds, String> {
        seeds::from_events(target, Self::MODES, |_, body| body.to_vec())
    }

    /// Mode `mode` applied to the input's request, which it may sign, seal
    /// or replace: the deployment that answers, and what the harness made.
    fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, Self::Function>;

    /// The oracle a 2xx is held to, computed without the handler's code:
    /// `Ok` when the request carries what acceptance needs, else what it
    /// lacks ("without …").
    fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String>;

    /// The platform's own properties of an answered request.
    fn check(&self, _exchange: &Exchange<'_>) -> Result<(), String> {
        Ok(())
    }
}

/// What a mode made of the request.
pub struct Prepared<'a, F> {
    /// The deployment that answers.
    pub function: &'a F,
    /// The body before the harness signed or sealed it (what the sender
    /// wrote, which it may find echoed); the request's body when `None`.
    pub plaintext: Option<Vec<u8>>,
    /// Made as the platform's sender makes it, with a configured key and a
    /// fresh timestamp: never refused as unauthenticated.
    pub genuine: bool,
}

impl<'a, F> Prepared<'a, F> {
    /// The request answered by `function`, as given or only re-signed.
    pub fn by(function: &'a F) -> Self {
        Prepared { function, plaintext: None, genuine: false }
    }

    pub fn genuine(self, genuine: bool) -> Self {
        Prepared { genuine, ..self }
    }

    pub fn plaintext(self, plaintext: Vec<u8>) -> Self {
        Prepared { plaintext: Some(plaintext), ..self }
    }
}

/// One answered request, as the checks see it.
pub struct Exchange<'a> {
    pub mode: usize,
    pub request: &'a IncomingRequest,
    /// What the sender wrote (see [`Prepared::plaintext`]).
    pub plaintext: &'a [u8],
    pub genuine: bool,
    pub queue_down: bool,
    pub reply: &'a Reply,
    pub publisher: &'a MemoryPublisher,
}

/// A target's deployment with what the harness derives from it once.
struct Deployed<P> {
    platform: P,
    routes: Vec<&'static str>,
    /// Every configured secret: the fuzz settings' and the target's own.
    secrets: Vec<String>,
}

/// The deployment of `P`, built on first use (one per platform type, so a
/// binary that renders several platforms' events keeps them apart).
fn deployment<P: Platform>() -> &'static Deployed<P> {
    type Registry = Vec<(TypeId, &'static (dyn Any + Send + Sync))>;
    static DEPLOYED: Mutex<Registry> = Mutex::new(Vec::new());
    let find = || {
        let deployed = DEPLOYED.lock().unwrap_or_else(PoisonError::into_inner);
        deployed.iter().find(|(id, _)| *id == TypeId::of::<P>()).map(|(_, any)| *any)
    };
    let any = find().unwrap_or_else(|| {
        // Built outside the lock: a deployment may ask for another.
        let platform = P::deploy();
        let mut secrets = all_secrets().to_vec();
        secrets.extend(platform.secrets());
        secrets.sort();
        secrets.dedup();
        let routes = P::Function::ROUTES.iter().map(|route| route.path).collect();
        let built: &'static Deployed<P> = Box::leak(Box::new(Deployed { platform, routes, secrets }));
        let mut deployed = DEPLOYED.lock().unwrap_or_else(PoisonError::into_inner);
        match deployed.iter().find(|(id, _)| *id == TypeId::of::<P>()) {
            Some((_, any)) => *any,
            None => {
                deployed.push((TypeId::of::<P>(), built));
                built
            }
        }
    });
    any.downcast_ref().expect("the registry is keyed by type")
}

/// The platform `P` is deployed with (for seeds that need its keys).
pub fn platform<P: Platform>() -> &'static P {
    &deployment::<P>().platform
}

/// Writes the seeds into `INLET_FUZZ_SEEDS` and exits when that is set (how
/// `make fuzz` seeds a corpus with the target's own binary); otherwise
/// builds the deployment, so the first input is not slower than the rest.
pub fn init<P: Platform>(target: &str) {
    if let Some(dir) = std::env::var_os("INLET_FUZZ_SEEDS") {
        let written = platform::<P>().seeds(target).and_then(|seeds| seeds::write_all(&seeds, dir.as_ref()));
        seeds::exit_after_seeding(target, dir.as_ref(), written);
    }
    let _ = deployment::<P>();
}

/// One input: the request of its mode, answered, and every promise checked.
pub fn run<P: Platform>(target: &str, data: &[u8]) {
    let deployed = deployment::<P>();
    let platform = &deployed.platform;
    let Some(input) = FuzzInput::parse(data) else { return };
    let Some(mut request) = input.request(&deployed.routes) else { return };
    let mode = input.mode(P::MODES);
    let prepared = platform.prepare(mode, &mut request);
    let queue_down = input.publisher_down();
    let (reply, publisher) = answer(prepared.function, &request, queue_down);
    let plaintext = prepared.plaintext.unwrap_or_else(|| request.body.clone());
    let exchange = Exchange {
        mode,
        request: &request,
        plaintext: &plaintext,
        genuine: prepared.genuine,
        queue_down,
        reply: &reply,
        publisher: &publisher,
    };
    trace(target, &exchange);
    let sender_text = promises::sender_text(&request, &plaintext);
    let sent = promises::Sent { publisher_down: queue_down, secrets: &deployed.secrets, sender_text: &sender_text };
    let kept = promises::check_answer(&reply, &publisher, &sent)
        .and_then(|()| one_unauthenticated_body(&reply))
        .and_then(|()| nothing_forged_accepted(platform, &exchange))
        .and_then(|()| genuine_never_unauthenticated(&exchange))
        .and_then(|()| platform.check(&exchange));
    if let Err(broken) = kept {
        panic!("{target}: PROMISE BROKEN: {broken}\n{}", report(&exchange));
    }
}

fn one_unauthenticated_body(reply: &Reply) -> Result<(), String> {
    let fixed = Reply::refusal(&IngressError::unauthenticated(""));
    if reply.status == StatusCode::UNAUTHORIZED && reply.body != fixed.body {
        return Err("a 401 that is not the one fixed body".into());
    }
    Ok(())
}

fn nothing_forged_accepted<P: Platform>(platform: &P, exchange: &Exchange<'_>) -> Result<(), String> {
    if !exchange.reply.status.is_success() {
        return Ok(());
    }
    platform.authenticated(exchange).map_err(|lacking| format!("accepted ({}) {lacking}", exchange.reply.status))
}

fn genuine_never_unauthenticated(exchange: &Exchange<'_>) -> Result<(), String> {
    if exchange.genuine && exchange.reply.status == StatusCode::UNAUTHORIZED {
        return Err(format!(
            "a request made as the platform's sender makes it (mode {}) was refused as unauthenticated",
            exchange.mode
        ));
    }
    Ok(())
}

/// Which answers a corpus reaches, when `INLET_FUZZ_TRACE` is set:
/// `INLET_FUZZ_TRACE=1 cargo fuzz run <target> <corpus> -- -runs=0`.
fn trace(target: &str, exchange: &Exchange<'_>) {
    static TRACE: OnceLock<bool> = OnceLock::new();
    if *TRACE.get_or_init(|| std::env::var_os("INLET_FUZZ_TRACE").is_some()) {
        let (request, reply) = (exchange.request, exchange.reply);
        let answer = String::from_utf8_lossy(&reply.body);
        eprintln!("{target} mode {} {} {} -> {} {answer}", exchange.mode, request.method, request.path, reply.status);
    }
}

fn report(exchange: &Exchange<'_>) -> String {
    let (request, reply) = (exchange.request, exchange.reply);
    format!(
        "mode {} queue down {}\nrequest: {} {} query {:?} headers {:?} source {:?}\nbody: {}\nanswer: {} {}",
        exchange.mode,
        exchange.queue_down,
        request.method,
        request.path,
        request.query,
        request.headers,
        request.source_ip,
        String::from_utf8_lossy(&request.body),
        reply.status,
        String::from_utf8_lossy(&reply.body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generic::Generic;
    use crate::providers::{alert_api, alertmanager, discord, grafana, lark, openim, telegram};

    /// Every seed of `P`, through [`run`]: a seed that broke a promise
    /// would make every fuzzing run start from a crash.
    fn seeds_keep_the_promises<P: Platform>(target: &str) {
        let seeds = platform::<P>().seeds(target).expect("seeds");
        assert!(!seeds.is_empty(), "{target} has no seeds");
        for (_, seed) in &seeds {
            run::<P>(target, seed);
        }
    }

    #[test]
    fn the_library_platforms_keep_the_promises_on_their_seeds() {
        seeds_keep_the_promises::<lark::Lark>("lark");
        seeds_keep_the_promises::<discord::Discord>("discord");
        seeds_keep_the_promises::<telegram::Telegram>("telegram");
        seeds_keep_the_promises::<openim::Openim>("openim");
        seeds_keep_the_promises::<alertmanager::Alertmanager>("alertmanager");
        seeds_keep_the_promises::<grafana::Grafana>("grafana");
        seeds_keep_the_promises::<alert_api::AlertApi>("alert_api");
    }

    /// What `inlet gen` writes for a platform without a target of its own.
    #[test]
    fn every_platform_runs_as_a_generated_target() {
        seeds_keep_the_promises::<Generic<::lark::LarkFunction>>("lark");
        seeds_keep_the_promises::<Generic<::discord::DiscordFunction>>("discord");
        seeds_keep_the_promises::<Generic<::telegram::TelegramFunction>>("telegram");
        seeds_keep_the_promises::<Generic<::openim::OpenimFunction>>("openim");
        seeds_keep_the_promises::<Generic<::alertmanager::AlertmanagerFunction>>("alertmanager");
        seeds_keep_the_promises::<Generic<::grafana::GrafanaFunction>>("grafana");
        seeds_keep_the_promises::<Generic<::alert_api::AlertApiFunction>>("alert_api");
        seeds_keep_the_promises::<Generic<::slack::SlackFunction>>("slack");
        seeds_keep_the_promises::<Generic<::github::GithubFunction>>("github");
        seeds_keep_the_promises::<Generic<::stripe::StripeFunction>>("stripe");
        seeds_keep_the_promises::<Generic<::standard_webhooks::StandardWebhooksFunction>>("standard_webhooks");
        seeds_keep_the_promises::<Generic<::wecom::WecomFunction>>("wecom");
        seeds_keep_the_promises::<Generic<::dingtalk::DingtalkFunction>>("dingtalk");
    }
}
