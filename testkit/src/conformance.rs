//! The conformance kit: what the shared flow promises for every provider,
//! checked on the provider's own samples by one line in its handler tests:
//!
//! ```ignore
//! #[tokio::test]
//! async fn keeps_the_provider_contract() {
//!     inlet_testkit::conformance::check::<MyFunction>(&[]).await;
//! }
//! ```
//!
//! Settings are `events/env.json`'s, with `overrides` on top (a provider
//! whose dev settings configure no credential passes one here). For every
//! sample these settings can build (a provider whose samples belong to
//! different configurations runs the kit once per configuration):
//! - it is accepted (2xx), and every Envelope it queued is the provider's,
//!   decodes with the processor's decoder and round-trips unchanged;
//! - with the queue down it answers 503 (or the fallback its decision
//!   declares), and a sample that queues nothing answers as before;
//! - a body one byte over `INLET_MAX_BODY_BYTES` is 413, exactly at it is
//!   accepted;
//! - a source outside `<PREFIX>_ALLOWED_CIDRS`, or no known source while an
//!   allowlist is set, is 403;
//! - the same sample signed with other secrets (every `SIGNING_SETTINGS`
//!   value changed) is 401, and so is the sample with its headers removed
//!   when its credential travels in headers only (skipped only when no
//!   signing setting is configured at all: a route guarded by address);
//! - every 401 answers the one body `IngressError::UNAUTHENTICATED_BODY`,
//!   and no refusal enqueues anything.
//!
//! For the provider as a whole: an unknown path is 404, a route with a
//! method it does not take is 405, and no secret setting's value appears in
//! any answer, Envelope or log line written during the run.

use std::collections::HashMap;
use std::sync::Mutex;

use http::{Method, StatusCode};
use time::OffsetDateTime;

use inlet_shared::envelope::Envelope;
use inlet_shared::error::IngressError;
use inlet_shared::ingress::{Decision, IncomingRequest, Reply};
use inlet_shared::provider::HttpFunction;
use inlet_shared::provider::match_route;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::{SampleRequest, Samples};
use inlet_shared::telemetry::CapturedLogs;

use crate::samples::dev_settings_with;

/// The time the kit's samples are signed at and judged at.
pub const NOW: i64 = 1_700_000_000;
const UNIQUE: &str = "conformance";
/// TEST-NET-1: never the samples' source address.
const FOREIGN_NETWORK: &str = "192.0.2.0/24";

/// Runs every check of the kit on provider `P`; panics with the provider,
/// sample and check that failed.
pub async fn check<P: Samples>(overrides: &[(&str, &str)]) {
    let kit = Kit::<P> { settings: dev_settings_with(overrides), seen: Mutex::new(Vec::new()), _p: Default::default() };
    let logs = CapturedLogs::start();
    let mut ran = 0;
    for name in P::SAMPLE_NAMES {
        // A sample of another configuration (Lark's, with or without an
        // Encrypt Key) does not build from these settings.
        if P::sample(name, &kit.settings, NOW, UNIQUE).is_some() {
            kit.sample_conforms(name).await;
            ran += 1;
        }
    }
    assert!(ran > 0, "{}: no sample builds from these settings", P::NAME);
    kit.unknown_paths_are_404().await;
    kit.other_methods_are_405().await;
    kit.secrets_stay_out(&logs.text());
}

struct Kit<P> {
    settings: HashMap<String, String>,
    /// Every answer body and Envelope produced, searched for secrets at the end.
    seen: Mutex<Vec<String>>,
    _p: std::marker::PhantomData<P>,
}

impl<P: Samples> Kit<P> {
    fn function(&self, changes: &[(&str, String)]) -> P {
        let mut settings = self.settings.clone();
        for (name, value) in changes {
            settings.insert(name.to_string(), value.clone());
        }
        P::from_env(&settings).unwrap_or_else(|e| panic!("{}: settings refused: {e}", P::NAME))
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Handles `request` and returns the answer and what was queued.
    async fn run(&self, function: &P, publisher: MemoryPublisher, request: &IncomingRequest) -> (Reply, Vec<Envelope>) {
        let reply = function.handle(&publisher, request, Self::now()).await;
        let messages = publisher.sent_messages();
        let sent = publisher.sent();
        assert_eq!(sent.len(), messages.len(), "{}: a queued message does not decode as an Envelope", P::NAME);
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(String::from_utf8_lossy(&reply.body).into_owned());
            seen.extend(messages.into_iter().map(|m| m.body));
            // Refusal records too: they must not carry a secret either.
            seen.extend(publisher.records().into_iter().map(|m| m.body));
        }
        (reply, sent)
    }

    fn sample(&self, name: &str, settings: &HashMap<String, String>) -> SampleRequest {
        P::sample(name, settings, NOW, UNIQUE)
            .unwrap_or_else(|| panic!("{}: sample {name} cannot be built from these settings", P::NAME))
    }

    async fn sample_conforms(&self, name: &str) {
        let what = format!("{}: sample {name}", P::NAME);
        let sample = self.sample(name, &self.settings);
        let request = sample.to_incoming();
        let function = self.function(&[]);

        let (accepted, sent) = self.run(&function, MemoryPublisher::new(), &request).await;
        assert!(accepted.status.is_success(), "{what} refused: {} {}", accepted.status, body_text(&accepted));
        for envelope in &sent {
            assert_eq!(envelope.provider, P::NAME, "{what}: Envelope of another provider");
            assert!(envelope.id.starts_with(&format!("{}:", P::NAME)), "{what}: id {} is not scoped", envelope.id);
            let encoded = envelope.encode().unwrap_or_else(|e| panic!("{what}: cannot encode: {e}"));
            let decoded = Envelope::decode(&encoded).unwrap_or_else(|e| panic!("{what}: processor cannot decode: {e}"));
            assert_eq!(&decoded, envelope, "{what}: the Envelope changes on its way through the queue");
        }

        let queue_down = if sent.is_empty() { accepted.status } else { self.queue_failure_status(&function, &request) };
        let (reply, _) = self.run(&function, MemoryPublisher::down(), &request).await;
        assert_eq!(reply.status, queue_down, "{what} with the queue down: {}", body_text(&reply));

        if request.body.len() > 1 {
            let limit = request.body.len();
            let over = self.function(&[("INLET_MAX_BODY_BYTES", (limit - 1).to_string())]);
            self.refused(&over, &request, StatusCode::PAYLOAD_TOO_LARGE, &format!("{what}, body over the cap")).await;
            let exact = self.function(&[("INLET_MAX_BODY_BYTES", limit.to_string())]);
            let (reply, _) = self.run(&exact, MemoryPublisher::new(), &request).await;
            assert!(reply.status.is_success(), "{what}: a body exactly at the cap is refused: {}", reply.status);
        }

        let allowlist = format!("{}_ALLOWED_CIDRS", P::SETTINGS_PREFIX);
        let fenced = self.function(&[(allowlist.as_str(), FOREIGN_NETWORK.to_string())]);
        self.refused(&fenced, &request, StatusCode::FORBIDDEN, &format!("{what} from outside the allowlist")).await;
        let mut unknown_source = request.clone();
        unknown_source.source_ip = None;
        self.refused(&fenced, &unknown_source, StatusCode::FORBIDDEN, &format!("{what} from an unknown source")).await;

        // A provider guarded only by its allowlist (OpenIM without a path
        // token) has no credential to forge; its kit run with one configured
        // covers this part.
        let configured = P::SIGNING_SETTINGS.iter().any(|name| self.settings.get(*name).is_some_and(|v| !v.is_empty()));
        if configured {
            self.credentials_are_checked(name, &sample, &function).await;
        }
    }

    /// The sample signed with other secrets is 401, and so is the sample
    /// without headers when its credential travels in headers only.
    async fn credentials_are_checked(&self, name: &str, sample: &SampleRequest, function: &P) {
        let what = format!("{}: sample {name}", P::NAME);
        let forged = self.sample(name, &forge(&self.settings, P::SIGNING_SETTINGS));
        assert!(forged != *sample, "{what} carries no credential from {:?}", P::SIGNING_SETTINGS);
        self.refused(
            function,
            &forged.to_incoming(),
            StatusCode::UNAUTHORIZED,
            &format!("{what} signed with other secrets"),
        )
        .await;
        let (bare, forged_bare) = (without_headers(sample), without_headers(&forged));
        if bare == forged_bare {
            self.refused(function, &bare.to_incoming(), StatusCode::UNAUTHORIZED, &format!("{what} without headers"))
                .await;
        }
    }

    /// The answer the provider declares for a queue failure, else 503.
    fn queue_failure_status(&self, function: &P, request: &IncomingRequest) -> StatusCode {
        let route = match_route(P::ROUTES, request).unwrap_or_else(|e| panic!("{}: sample has no route: {e}", P::NAME));
        match function.decide(&route, request, Self::now()) {
            Ok(Decision::Enqueue { on_queue_failure: Some(fallback), .. }) => fallback.status,
            _ => IngressError::QueueUnavailable.status(),
        }
    }

    async fn refused(&self, function: &P, request: &IncomingRequest, status: StatusCode, what: &str) {
        let (reply, sent) = self.run(function, MemoryPublisher::new(), request).await;
        assert_eq!(reply.status, status, "{what}: {}", body_text(&reply));
        assert!(sent.is_empty(), "{what}: a refused request enqueued {} event(s)", sent.len());
        if status == StatusCode::UNAUTHORIZED {
            let reason = reply.body_json().and_then(|body| body["error"].as_str().map(str::to_string));
            assert_eq!(reason.as_deref(), Some(IngressError::UNAUTHENTICATED_BODY), "{what}: every 401 is the same");
        }
    }

    async fn unknown_paths_are_404(&self) {
        let mut request = IncomingRequest::new(Method::POST, "/inlet-conformance/no-such-route", "{}");
        request.source_ip = "127.0.0.1".parse().ok();
        let what = format!("{}: unknown path", P::NAME);
        self.refused(&self.function(&[]), &request, StatusCode::NOT_FOUND, &what).await;
    }

    async fn other_methods_are_405(&self) {
        let function = self.function(&[]);
        for route in P::ROUTES {
            let path: Vec<&str> =
                route.path.split('/').map(|s| if s.starts_with('{') { "conformance" } else { s }).collect();
            let methods = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
            let Some(method) = methods.into_iter().find(|m| !route.allows(m)) else { continue };
            let mut request = IncomingRequest::new(method.clone(), &path.join("/"), "{}");
            request.source_ip = "127.0.0.1".parse().ok();
            let what = format!("{}: {method} {}", P::NAME, route.path);
            self.refused(&function, &request, StatusCode::METHOD_NOT_ALLOWED, &what).await;
        }
    }

    fn secrets_stay_out(&self, logs: &str) {
        let names = P::SECRET_SETTINGS.iter().chain(P::SIGNING_SETTINGS);
        let secrets: Vec<String> = names.flat_map(|name| secret_fragments(self.settings.get(*name))).collect();
        let seen = self.seen.lock().map(|s| s.join("\n")).unwrap_or_default();
        for secret in &secrets {
            assert!(
                !seen.contains(secret.as_str()),
                "{}: a secret setting's value appears in an answer or Envelope",
                P::NAME
            );
            assert!(!logs.contains(secret.as_str()), "{}: a secret setting's value appears in the log", P::NAME);
        }
    }
}

fn body_text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// The sample with every header but its content type removed.
fn without_headers(sample: &SampleRequest) -> SampleRequest {
    let mut bare = sample.clone();
    bare.headers.retain(|(name, _)| name == "content-type");
    bare
}

/// Entries of a secret list are `secret` or `label=secret`; Basic
/// credentials are `user:password`.
fn split_label(entry: &str) -> (Option<&str>, &str) {
    match entry.split_once('=') {
        Some((label, rest))
            if !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                && rest.bytes().any(|b| b.is_ascii_alphanumeric()) =>
        {
            (Some(label), rest)
        }
        _ => (None, entry),
    }
}

/// `settings` with each of `names` changed to another value of the same
/// shape: every letter and digit moves to the next within its class (hex
/// digits stay hex, base64 stays base64, lengths and separators stay), and
/// labels and a `whsec_`-style prefix are kept, so the samples still build.
pub fn forge(settings: &HashMap<String, String>, names: &[&str]) -> HashMap<String, String> {
    let mut forged = settings.clone();
    for name in names {
        if let Some(value) = forged.get_mut(*name) {
            let entries: Vec<String> = value
                .split(',')
                .map(|entry| match split_label(entry) {
                    (Some(label), secret) => format!("{label}={}", shift(secret)),
                    (None, secret) => shift(secret),
                })
                .collect();
            *value = entries.join(",");
        }
    }
    forged
}

fn shift(secret: &str) -> String {
    let keep = match secret.split_once('_') {
        Some((prefix, _)) if (1..=8).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_lowercase()) => {
            prefix.len() + 1
        }
        _ => 0,
    };
    let (kept, changed) = secret.split_at(keep);
    let next = |c: char| -> char {
        let within = |first: u8, last: u8| {
            let b = c as u8;
            if b == last { first as char } else { (b + 1) as char }
        };
        match c {
            '0'..='9' => within(b'0', b'9'),
            'a'..='f' => within(b'a', b'f'),
            'g'..='z' => within(b'g', b'z'),
            'A'..='F' => within(b'A', b'F'),
            'G'..='Z' => within(b'G', b'Z'),
            other => other,
        }
    };
    format!("{kept}{}", changed.chars().map(next).collect::<String>())
}

/// The secret parts of a setting's value worth searching for: each entry
/// without its label or Basic user name, if at least 8 characters long.
fn secret_fragments(value: Option<&String>) -> Vec<String> {
    let Some(value) = value else { return Vec::new() };
    value
        .split(',')
        .map(|entry| split_label(entry.trim()).1)
        .map(|secret| secret.split_once(':').map_or(secret, |(_, password)| password))
        .filter(|secret| secret.len() >= 8)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_shared::prelude::*;

    /// A provider with one configurable flaw, to prove the kit catches it.
    struct Flawed {
        token: String,
        flaw: String,
        ingress: IngressSettings,
    }

    impl Provider for Flawed {
        const NAME: &'static str = "flawed";
        const SETTINGS_PREFIX: &'static str = "FLAWED";
        const ROUTES: &'static [Route] = &[Route::post("/flawed/hook")];
        const SECRET_SETTINGS: &'static [&'static str] = &["FLAWED_TOKEN"];

        fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
            Ok(Flawed {
                token: env.get("FLAWED_TOKEN").unwrap_or_default(),
                flaw: env.get("FLAWED_FLAW").unwrap_or_default(),
                ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)?,
            })
        }

        fn ingress(&self) -> &IngressSettings {
            &self.ingress
        }

        fn decide(
            &self,
            _: &RouteMatch,
            request: &IncomingRequest,
            now: OffsetDateTime,
        ) -> Result<Decision, IngressError> {
            let presented = request.credential_header("x-token")?;
            if presented != self.token && self.flaw != "accepts-any-token" {
                return Err(match self.flaw.as_str() {
                    "names-the-header" => IngressError::malformed("x-token is wrong"),
                    _ => IngressError::BadCredential("x-token"),
                });
            }
            let body = request.json_body()?;
            let mut payload = json!({"body": body});
            if self.flaw == "leaks-the-token" {
                payload["seen"] = json!(self.token);
            }
            let id = if self.flaw == "unscoped-id" { "other:1".to_string() } else { "1".to_string() };
            let verification = Verification { scheme: "token".into(), matched: None };
            let mut envelope = Envelope::new(Self::NAME, &id, "hook", now, verification, payload);
            if self.flaw == "unscoped-id" {
                envelope.id = id;
            }
            Ok(Decision::enqueue(vec![envelope], Reply::empty(StatusCode::OK)))
        }
    }

    impl Samples for Flawed {
        const SAMPLE_NAMES: &'static [&'static str] = &["flawed-hook"];

        fn sample(name: &str, env: &dyn EnvSource, _: i64, _: &str) -> Option<SampleRequest> {
            let token = env.get("FLAWED_TOKEN")?;
            Some(SampleRequest::post_json(name, "hook", "/flawed/hook", r#"{"a":1}"#).with_header("x-token", token))
        }
    }

    async fn kit_with(flaw: &str) {
        check::<Flawed>(&[("FLAWED_TOKEN", "flawed-token-NOT-A-SECRET"), ("FLAWED_FLAW", flaw)]).await;
    }

    #[tokio::test]
    async fn a_provider_without_a_flaw_passes() {
        kit_with("").await;
    }

    #[tokio::test]
    #[should_panic(expected = "signed with other secrets")]
    async fn a_provider_that_accepts_any_token_fails() {
        kit_with("accepts-any-token").await;
    }

    #[tokio::test]
    #[should_panic(expected = "secret setting's value appears in an answer or Envelope")]
    async fn a_provider_that_puts_a_secret_in_the_envelope_fails() {
        kit_with("leaks-the-token").await;
    }

    #[tokio::test]
    #[should_panic(expected = "signed with other secrets")]
    async fn a_provider_whose_credential_refusal_is_not_a_uniform_401_fails() {
        kit_with("names-the-header").await;
    }

    #[tokio::test]
    #[should_panic(expected = "is not scoped")]
    async fn a_provider_whose_ids_are_not_scoped_fails() {
        kit_with("unscoped-id").await;
    }

    #[test]
    fn forging_keeps_the_shape_and_changes_every_secret() {
        let settings: HashMap<String, String> = [
            ("HEX", "00ff9a"),
            ("PAIRS", "bot=Secret-9z,other=x_y"),
            ("B64", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=="),
            ("BASIC", "user:pass"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let forged = forge(&settings, &["HEX", "PAIRS", "B64", "BASIC"]);
        assert_eq!(forged["HEX"], "11aa0b");
        assert_eq!(forged["PAIRS"], "bot=Tfdsfu-0g,other=x_z");
        assert!(
            forged["B64"].starts_with("whsec_") && forged["B64"].ends_with("==") && forged["B64"] != settings["B64"]
        );
        assert_eq!(forged["BASIC"], "vtfs:qbtt");
    }

    #[test]
    fn secret_fragments_drop_labels_and_user_names() {
        let value = "bot=dev-telegram-secret,alertmanager:dev-password,short".to_string();
        assert_eq!(secret_fragments(Some(&value)), ["dev-telegram-secret", "dev-password"]);
    }
}
