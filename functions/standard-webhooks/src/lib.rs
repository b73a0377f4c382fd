//! Senders that follow the Standard Webhooks specification
//! (standardwebhooks.com): `POST /webhooks/{source}`, one deployment for
//! several senders, each with its own secret(s).
//!
//! Each request carries `webhook-id`, `webhook-timestamp` and
//! `webhook-signature`; the signature is verified with the secrets of the
//! source the path names, and only those, as the reference library verifies
//! it ([`scheme`]); the timestamp must be within
//! `INLET_TIMESTAMP_TOLERANCE_SECS` both ways, as the library requires. An
//! unknown source is refused exactly like a bad signature. The dedup id is
//! `<source>:<webhook-id>`: the specification keeps `webhook-id` across a
//! message's retries, and ids are only unique per sender.

use inlet_shared::prelude::*;
use inlet_shared::verify::truncate_for_log;

pub mod samples;
pub mod scheme;

use scheme::{Entry, entries, secret_key, signature_bytes, timestamp_of, verify_entries};

pub const PROVIDER: &str = "standard-webhooks";
pub const SETTING: &str = "STANDARD_WEBHOOKS_SECRETS";
pub const ROUTE: &str = "/webhooks/{source}";
pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
pub const SCHEME: &str = "standard-webhooks-v1";
/// `kind` of a payload without a string `type`.
pub const DEFAULT_KIND: &str = "webhook";

/// One configured secret: its source, the name `verification.matched`
/// records, and its HMAC key.
pub struct SourceKey {
    pub source: String,
    /// `STANDARD_WEBHOOKS_SECRETS:<source>`, or `…:<source>#<n>` (the n-th
    /// entry of that source) when the source has several entries while its
    /// secret is rotated.
    pub name: String,
    key: Vec<u8>,
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

/// Reads `source=whsec_…` pairs into keys, refusing what could not verify
/// anything (see [`scheme::secret_key`]).
pub fn parse_keys(raw: &str) -> Result<Vec<SourceKey>, ConfigError> {
    let list = SecretList::parse_labelled(SETTING, raw)?;
    let mut keys: Vec<SourceKey> = Vec::new();
    for entry in list.iter() {
        let source = entry.name.strip_prefix(SETTING).and_then(|s| s.strip_prefix(':')).unwrap_or_default();
        if !valid_source(source) {
            return Err(ConfigError::new(SETTING, format!("source name {source:?} must be 1-64 of A-Za-z0-9_-")));
        }
        let key = secret_key(entry.value.expose())
            .map_err(|why| ConfigError::new(SETTING, format!("the secret of source {source} {why}")))?;
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
        // Not in PROVIDERS.md: the Standard Webhooks spec recommends senders
        // time out after 15 s (Svix does), so 15 s.
        Route::post(ROUTE).deadline_ms(15_000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[SETTING];

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let keys = parse_keys(&env.get(SETTING).unwrap_or_default())?;
        if keys.is_empty() {
            return Err(ConfigError::new(SETTING, "is required: source=whsec_… pairs, comma-separated"));
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
        let matched = self.matching_key(source, id, timestamp, &entries, &request.body)?;
        self.check_window(timestamp, now)?;
        // Proven genuine. The specification's payloads are JSON.
        let payload = request.json_body()?;
        let kind = payload.get("type").and_then(Value::as_str).filter(|k| !k.is_empty()).unwrap_or(DEFAULT_KIND);
        let verification = Verification { scheme: SCHEME.into(), matched: Some(matched.to_string()) };
        // webhook-id is unique per sender only: the source scopes it.
        let mut envelope = Envelope::new(PROVIDER, &format!("{source}:{id}"), kind, now, verification, payload.clone());
        envelope.tenant = Some(source.to_string());
        Ok(Decision::enqueue(vec![envelope], Reply::empty(StatusCode::OK)))
    }
}

impl StandardWebhooksFunction {
    /// The name of the first of `source`'s keys the library would accept
    /// the entries with; an unknown source is refused like a wrong key.
    fn matching_key(
        &self,
        source: &str,
        id: &str,
        timestamp: i64,
        entries: &[Entry],
        body: &[u8],
    ) -> Result<&str, IngressError> {
        let timestamp = timestamp.to_string();
        let mut found = None;
        let mut reason = "no v1 signature matches";
        let mut known = false;
        for key in self.keys.iter().filter(|k| k.source == source) {
            known = true;
            match verify_entries(entries, &signature_bytes(&key.key, id, &timestamp, body)) {
                Ok(()) if found.is_none() => found = Some(key.name.as_str()),
                Ok(()) => {}
                Err(why) => reason = why,
            }
        }
        if !known {
            let _ = verify_entries(entries, &signature_bytes(UNKNOWN_SOURCE_KEY, id, &timestamp, body));
            return Err(IngressError::unauthenticated(format!(
                "no secret for source {:?} (refused like a bad signature)",
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

/// The source: API Gateway's `{source}` path parameter, else the route's.
fn source_of<'a>(route: &'a RouteMatch, request: &'a IncomingRequest) -> Option<&'a str> {
    request.path_params.get("source").map(String::as_str).or(route.param("source")).filter(|s| valid_source(s))
}
