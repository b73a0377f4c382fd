//! Senders that follow the Standard Webhooks specification
//! (standardwebhooks.com): `POST /webhooks/{source}`, one deployment for
//! several senders, each with its own secret(s).
//!
//! Each request carries `webhook-id`, `webhook-timestamp` and
//! `webhook-signature`; the signature is verified with the keys of the
//! source the path names, and only those: a `whsec_` secret checks `v1`
//! (HMAC) entries as the reference library does, a `whpk_` public key `v1a`
//! (Ed25519) entries as the specification defines them ([`scheme`]); the
//! timestamp must be within
//! `INLET_TIMESTAMP_TOLERANCE_SECS` both ways, as the library requires. An
//! unknown source is refused exactly like a bad signature. The dedup id is
//! `<source>:<webhook-id>`: the specification keeps `webhook-id` across a
//! message's retries, and ids are only unique per sender.

use inlet_shared::prelude::*;
use inlet_shared::verify::truncate_for_log;

pub mod samples;
pub mod scheme;

use scheme::{Entry, Key, entries, signature_bytes, signed_content, timestamp_of, verify_entries, verify_v1a_entries};

pub const PROVIDER: &str = "standard-webhooks";
pub const SETTING: &str = "STANDARD_WEBHOOKS_SECRETS";
pub const ROUTE: &str = "/webhooks/{source}";
pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// `verification.scheme` of an event a `whsec_` secret verified (`v1`).
pub const SCHEME: &str = "standard-webhooks-v1";
/// `verification.scheme` of an event a `whpk_` public key verified (`v1a`).
pub const SCHEME_V1A: &str = "standard-webhooks-v1a";
/// `kind` of a payload without a string `type`.
pub const DEFAULT_KIND: &str = "webhook";

/// One configured key: its source, the name `verification.matched`
/// records, and the HMAC secret or Ed25519 public key.
pub struct SourceKey {
    pub source: String,
    /// `STANDARD_WEBHOOKS_SECRETS:<source>`, or `…:<source>#<n>` (the n-th
    /// entry of that source) when the source has several entries while its
    /// secret is rotated.
    pub name: String,
    key: Key,
}

impl SourceKey {
    /// Whether this is a `whpk_` public key (it verifies `v1a` only).
    pub fn is_public_key(&self) -> bool {
        matches!(self.key, Key::Ed25519(_))
    }
}

impl std::fmt::Debug for SourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceKey").field("name", &self.name).finish_non_exhaustive()
    }
}

pub struct StandardWebhooksFunction {
    pub keys: Vec<SourceKey>,
    pub ingress: IngressSettings,
}

/// A source name: 1–64 of `A-Za-z0-9_-`, one path segment.
pub fn valid_source(source: &str) -> bool {
    (1..=64).contains(&source.len()) && source.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads `source=whsec_…` and `source=whpk_…` pairs into keys, refusing
/// what could not verify anything (see [`scheme::Key::parse`]).
pub fn parse_keys(raw: &str) -> Result<Vec<SourceKey>, ConfigError> {
    let list = SecretList::parse_labelled(SETTING, raw)?;
    let mut keys: Vec<SourceKey> = Vec::new();
    for entry in list.iter() {
        let source = entry.name.strip_prefix(SETTING).and_then(|s| s.strip_prefix(':')).unwrap_or_default();
        if !valid_source(source) {
            return Err(ConfigError::new(SETTING, format!("source name {source:?} must be 1-64 of A-Za-z0-9_-")));
        }
        let key = Key::parse(entry.value.expose())
            .map_err(|why| ConfigError::new(SETTING, format!("the key of source {source} {why}")))?;
        keys.push(SourceKey { source: source.to_string(), name: String::new(), key });
    }
    // Name each entry; number them only for a source listed more than once.
    let counts: Vec<usize> = keys.iter().map(|k| keys.iter().filter(|o| o.source == k.source).count()).collect();
    let mut seen: Vec<String> = Vec::new();
    for (key, count) in keys.iter_mut().zip(counts) {
        seen.push(key.source.clone());
        let position = seen.iter().filter(|s| **s == key.source).count();
        key.name = if count > 1 {
            format!("{SETTING}:{}#{position}", key.source)
        } else {
            format!("{SETTING}:{}", key.source)
        };
    }
    Ok(keys)
}

/// Verified with no key at all, so an unknown source costs about what a
/// known one does and the time taken does not tell them apart either.
const UNKNOWN_SOURCE_KEY: &[u8] = b"inlet: no such source";

impl Provider for StandardWebhooksFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "STANDARD_WEBHOOKS";
    const ROUTES: &'static [Route] = &[
        // Not in docs/platforms/standard-webhooks.md: the Standard Webhooks spec recommends senders
        // time out after 15 s (Svix does), so 15 s.
        Route::post(ROUTE).deadline_ms(15_000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[SETTING];

    const PLATFORM: &'static str = include_str!("../platform.toml");

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let keys = parse_keys(&env.get(SETTING).unwrap_or_default())?;
        if keys.is_empty() {
            return Err(ConfigError::new(
                SETTING,
                "is required: source=whsec_… (or source=whpk_…) pairs, comma-separated",
            ));
        }
        Ok(StandardWebhooksFunction { keys, ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)? })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        // An invalid source name is unknown: refused below like a bad signature.
        let source = source_of(route, request).unwrap_or_default();
        let id = request.credential_header(ID_HEADER)?;
        let raw_timestamp = request.credential_header(TIMESTAMP_HEADER)?;
        let signature = request.credential_header(SIGNATURE_HEADER)?;
        let timestamp = timestamp_of(raw_timestamp).ok_or_else(|| IngressError::StaleTimestamp {
            timestamp: truncate_for_log(raw_timestamp),
            tolerance_secs: self.ingress.timestamp_window.tolerance_secs,
        })?;
        let entries = entries(signature);
        let (matched, scheme) = self.matching_key(source, id, timestamp, &entries, &request.body)?;
        self.check_window(timestamp, now)?;
        // Proven genuine. The specification's payloads are JSON.
        let (view, payload) = inlet_shared::envelope::Payload::view::<Kind>(&request.body)?;
        let kind = view.kind.text().unwrap_or(DEFAULT_KIND);
        let verification = Verification { scheme: scheme.into(), matched: Some(matched.to_string()) };
        // webhook-id is unique per sender only: the source scopes it.
        let mut envelope = Envelope::new(PROVIDER, &format!("{source}:{id}"), kind, now, verification, payload);
        envelope.tenant = Some(source.to_string());
        Ok(Decision::enqueue(vec![envelope], Reply::empty(StatusCode::OK)))
    }
}

inlet_shared::json_object! {
    /// The one field inlet reads of a payload: its `type`.
    struct Kind<'a> { kind = "type" }
}

impl StandardWebhooksFunction {
    /// The name of the first of `source`'s keys the entries verify with,
    /// and the scheme it checked; an unknown source is refused like a wrong
    /// key.
    fn matching_key(
        &self,
        source: &str,
        id: &str,
        timestamp: i64,
        entries: &[Entry],
        body: &[u8],
    ) -> Result<(&str, &'static str), IngressError> {
        let timestamp = timestamp.to_string();
        let mut found = None;
        let mut reason = "no v1 signature matches";
        let mut known = false;
        for key in self.keys.iter().filter(|k| k.source == source) {
            known = true;
            match key.key.verify(entries, id, &timestamp, body) {
                Ok(()) if found.is_none() => found = Some((key.name.as_str(), scheme_of(&key.key))),
                Ok(()) => {}
                Err(why) => reason = why,
            }
        }
        if !known {
            let _ = verify_entries(entries, &signature_bytes(UNKNOWN_SOURCE_KEY, id, &timestamp, body));
            if self.keys.iter().any(SourceKey::is_public_key) {
                // Where public keys are configured, a known source may cost an
                // Ed25519 check: so does an unknown one.
                let _ = verify_v1a_entries(entries, unknown_source_public_key(), &signed_content(id, &timestamp, body));
            }
            return Err(IngressError::unauthenticated(format!(
                "no key for source {:?} (refused like a bad signature)",
                truncate_for_log(source)
            )));
        }
        found.ok_or_else(|| IngressError::unauthenticated(format!("webhook-signature: {reason}")))
    }

    /// ±tolerance around `now` (with its fraction of a second, as the
    /// library compares datetimes).
    fn check_window(&self, timestamp: i64, now: OffsetDateTime) -> Result<(), IngressError> {
        let window = self.ingress.timestamp_window;
        if window.too_old(timestamp, now) || window.too_new(timestamp, now) {
            return Err(IngressError::StaleTimestamp {
                timestamp: timestamp.to_string(),
                tolerance_secs: window.tolerance_secs,
            });
        }
        Ok(())
    }
}

fn scheme_of(key: &Key) -> &'static str {
    match key {
        Key::Hmac(_) => SCHEME,
        Key::Ed25519(_) => SCHEME_V1A,
    }
}

/// The public key an unknown source is checked with: that of a fixed seed,
/// whose signatures nobody presents.
fn unknown_source_public_key() -> &'static ed25519_dalek::VerifyingKey {
    static KEY: std::sync::OnceLock<ed25519_dalek::VerifyingKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| ed25519_dalek::SigningKey::from_bytes(&[0x1e; 32]).verifying_key())
}

/// The source: API Gateway's `{source}` path parameter, else the route's.
fn source_of<'a>(route: &'a RouteMatch, request: &'a IncomingRequest) -> Option<&'a str> {
    request.path_params.get("source").map(String::as_str).or(route.param("source")).filter(|s| valid_source(s))
}
