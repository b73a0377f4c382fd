//! Stripe webhook events: `POST /stripe/webhook`.
//!
//! Stripe signs `{t}.{raw body}` with the endpoint's signing secret (the
//! whole `whsec_…` string as UTF-8 is the HMAC key) and sends
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`; while a secret
//! is being rolled there is one `v1` per live secret, and test-mode events
//! may carry a `v0` entry, which is ignored. The header is read exactly as
//! stripe-python 14 (`stripe.WebhookSignature.verify_header`) reads it, so
//! what the official library accepts inlet accepts and the other way round
//! (see [`parse_signature_header`] and `tests/official_lib.rs`), including
//! its timestamp rule: only a timestamp *older* than the tolerance is
//! refused; one in the future is accepted (see [`is_too_old`] for why that is
//! safe). The dedup id is the event's own `id` (`evt_…`), which Stripe's
//! retries (re-signed, with fresh timestamps) keep.
//!
//! Two kinds of event arrive, signed alike: snapshot events (`object:
//! "event"`, the object's data in `data.object`, the connected account in
//! `account`) and, from event destinations, v2 "thin" event notifications
//! (`object: "v2.core.event"`, no data, the account in `context`, the object
//! to fetch in `related_object`), which the Envelope marks with `fetch`
//! (see `fetch_of`).

use inlet_shared::config;
use inlet_shared::envelope::Payload;
use inlet_shared::prelude::*;
use inlet_shared::verify::{TimestampWindow, hmac_sha256, python_int, truncate_for_log};

pub mod samples;

pub const PROVIDER: &str = "stripe";
pub const PATH: &str = "/stripe/webhook";
pub const SETTING: &str = "STRIPE_WEBHOOK_SECRET";
pub const SIGNATURE_HEADER: &str = "stripe-signature";
pub const SCHEME: &str = "stripe-signature-v1";
/// Every endpoint signing secret starts so (Dashboard, API and `stripe listen`).
pub const SECRET_PREFIX: &str = "whsec_";
/// The `object` of a v2 thin event notification.
pub const THIN_EVENT_OBJECT: &str = "v2.core.event";

pub struct StripeFunction {
    /// `STRIPE_WEBHOOK_SECRET#1`, `#2`, …: several while a secret is rolled
    /// (or for several endpoints that post to the same URL).
    pub secrets: SecretList,
    pub ingress: IngressSettings,
}

/// Hex HMAC-SHA256 of `{timestamp}.{body}` under `secret`, as Stripe signs
/// and stripe-python's `_compute_signature` computes.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[timestamp.as_bytes(), b".", body]))
}

/// `Stripe-Signature` for `body` signed at `timestamp` by each of `secrets`.
pub fn signature_header(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mut header = format!("t={t}");
    for secret in secrets {
        header.push_str(&format!(",v1={}", signature(secret, &t, body)));
    }
    header
}

/// What `Stripe-Signature` holds, read the way stripe-python reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeader<'a> {
    /// The first `t`, as the decimal integer stripe-python formats back
    /// (`"%d" % int(t)`) before signing: `t=0017` is signed as `17`.
    pub timestamp: String,
    /// Every `v1` value, in order.
    pub v1: Vec<&'a str>,
}

/// Parses `Stripe-Signature` exactly as stripe-python's
/// `_get_timestamp_and_signatures` does: items split on `,`; each item's key
/// is what precedes its first `=` and its value what lies between the first
/// and the second `=`; no trimming of keys. The first `t` must be an
/// integer (Python's `int()`: surrounding whitespace, a sign, `_` between
/// digits); a `t` or `v1` item without `=` fails the whole header, as the
/// library's `IndexError` does; no `t` or no `v1` fails it too.
pub fn parse_signature_header(header: &str) -> Result<SignatureHeader<'_>, &'static str> {
    let mut timestamps = Vec::new();
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let mut parts = item.splitn(3, '=');
        let key = parts.next().unwrap_or_default();
        let value = parts.next();
        match key {
            "t" => timestamps.push(value.ok_or("a t item without a value")?),
            "v1" => v1.push(value.ok_or("a v1 item without a value")?),
            _ => {}
        }
    }
    let first = timestamps.first().ok_or("no t item")?;
    let timestamp = python_int(first).ok_or("t is not an integer")?;
    if v1.is_empty() {
        return Err("no v1 signature");
    }
    Ok(SignatureHeader { timestamp, v1 })
}

/// stripe-python's rule: refused when `t < now - tolerance`; a timestamp
/// in the future passes. inlet keeps that rule rather than its usual ±
/// window because accepting a future `t` gives nobody anything: only a
/// holder of the secret can sign one (and could sign anything), a captured
/// request is replayable only until `t + tolerance` whatever the clocks
/// say, and every copy carries the same event id, so the 4-day dedup window
/// makes a replay a duplicate. Refusing would only lose events when
/// Stripe's clock runs ahead of ours.
/// `now` keeps its fraction of a second, as the library's `time.time()` does.
pub fn is_too_old(canonical_timestamp: &str, now: OffsetDateTime, window: TimestampWindow) -> bool {
    if canonical_timestamp.starts_with('-') {
        return true;
    }
    match canonical_timestamp.parse::<i64>() {
        Ok(t) => window.too_old(t, now),
        // More digits than an i64 holds: far in the future.
        Err(_) => false,
    }
}

impl Provider for StripeFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "STRIPE";
    const ROUTES: &'static [Route] = &[
        // Not in docs/platforms/stripe.md: Stripe asks for a quick 2xx before any
        // processing; 10 s assumed.
        Route::post(PATH).deadline_ms(10_000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[SETTING];

    const PLATFORM: &'static str = include_str!("../platform.toml");

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let secrets = config::required_secrets(
            env,
            SETTING,
            "is required: the endpoint's signing secret (whsec_…), comma-separated while rolling",
        )?;
        for entry in secrets.iter() {
            // A Stripe API key pasted here would be a secret in the wrong place.
            if !entry.value.expose().starts_with(SECRET_PREFIX) || entry.value.expose().len() == SECRET_PREFIX.len() {
                return Err(ConfigError::new(
                    SETTING,
                    format!("{} is not an endpoint signing secret (whsec_…)", entry.name),
                ));
            }
        }
        Ok(StripeFunction { secrets, ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)? })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, _route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        let raw = request.credential_header(SIGNATURE_HEADER)?;
        let header = parse_signature_header(raw)
            .map_err(|why| IngressError::unauthenticated(format!("Stripe-Signature cannot be read: {why}")))?;
        // The secret that signed any of the `v1` values; all secrets and all
        // values are compared.
        let matched = self
            .secrets
            .find_signer(&header.v1, |secret| signature(secret, &header.timestamp, &request.body))
            .ok_or(IngressError::BadCredential("Stripe-Signature"))?;
        let window = self.ingress.timestamp_window;
        if is_too_old(&header.timestamp, now, window) {
            return Err(IngressError::StaleTimestamp {
                timestamp: truncate_for_log(&header.timestamp),
                tolerance_secs: window.tolerance_secs,
            });
        }
        let (event, payload) = Payload::view::<Event>(&request.body)?;
        // Both kinds: `evt_…` kept by every retry, and the event type.
        let id = event.id.text().ok_or_else(|| IngressError::malformed("the event has no id"))?;
        let kind = event.kind.text().ok_or_else(|| IngressError::malformed("the event has no type"))?;
        let thin = event.object.text() == Some(THIN_EVENT_OBJECT);
        // Events of connected accounts name the account: a snapshot in
        // `account`, a thin event in `context` (what the consumer sends as
        // `Stripe-Context` to fetch it).
        let tenant = if thin { &event.context } else { &event.account }.text().map(str::to_string);
        let fetch = thin.then(|| fetch_of(&event, id));
        let verification = Verification { scheme: SCHEME.into(), matched: Some(matched.name.clone()) };
        let mut envelope = Envelope::new(PROVIDER, id, kind, now, verification, payload);
        envelope.tenant = tenant;
        envelope.fetch = fetch;
        Ok(Decision::enqueue(vec![envelope], Reply::ok_json(json!({"received": true}))))
    }
}

/// The Envelope's `fetch` for a thin event: it carries no data, so a
/// consumer fetches the event (`GET /v2/core/events/{id}`, with its `data`
/// and `changes`) or the object it is about (`related_object.url`, present
/// for most types), with `context` as the `Stripe-Context` header when there
/// is one, as stripe-python's `fetch_event` and `fetch_related_object` do.
fn fetch_of(event: &Event, id: &str) -> Value {
    let mut fetch = json!({ "event": format!("/v2/core/events/{id}") });
    if let Some(related) = event.related_object.as_ref().filter(|related| related.is_object()) {
        fetch["related_object"] = related.clone();
    }
    if let Some(context) = event.context.text() {
        fetch["context"] = json!(context);
    }
    fetch
}

inlet_shared::json_object! {
    /// What inlet reads of an event, snapshot or thin.
    struct Event<'a> {
        id, kind = "type", object, account, context,
        /// A thin event's object, carried into the Envelope's `fetch` as it is.
        related_object: Option<Value>,
    }
}
