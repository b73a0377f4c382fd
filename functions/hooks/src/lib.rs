//! The long tail of webhook senders: `POST /hooks/{source}` (and `GET` for
//! the handshakes that need it), one deployment for any number of senders,
//! each a *preset* — data, not code ([`presets::PRESETS`]).
//!
//! `HOOK_SOURCES` names the sources (`shop=shopify,billing=paddle`),
//! `HOOK_SECRETS` gives each its secret(s), `HOOK_VERIFY_TOKENS` the second
//! value a handshake needs (Meta's `hub.verify_token`). A request is proven
//! with the keys of the source its path names, and only those, the way its
//! preset says ([`engine`]); an unknown source is refused exactly like a bad
//! signature. The dedup id is `<source>:<event id>`, the event id read
//! where the preset says (or derived, see [`presets::Fallback`]); the kind
//! is the sender's event type; the tenant is the source.

use inlet_shared::prelude::*;
use inlet_shared::verify::{hmac_sha256, truncate_for_log};

pub mod engine;
pub mod keys;
pub mod presets;
pub mod samples;

pub use engine::PROVIDER;
pub use keys::{SECRETS, SOURCES, Source, VERIFY_TOKENS};

pub const ROUTE: &str = "/hooks/{source}";
pub const SETTINGS_PREFIX: &str = "HOOK";
/// Dev only: the private keys the samples of key-pair senders (SendGrid)
/// sign with; the function reads the public key from `HOOK_SECRETS`.
pub const DEV_SIGNING_KEYS: &str = "HOOK_DEV_SIGNING_KEYS";

pub struct HooksFunction {
    pub sources: Vec<Source>,
    pub ingress: IngressSettings,
}

/// Costs an unknown source about what a known one costs.
const UNKNOWN_SOURCE_KEY: &[u8] = b"inlet: no such source";

impl Provider for HooksFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = SETTINGS_PREFIX;
    const ROUTES: &'static [Route] = &[
        // 3 s: Zoom wants every answer, its URL validation included, within
        // 3 s, the strictest of the presets (Shopify 5 s, Teams 5 s, GitHub-
        // like senders 10 s, Meta 20 s); the others tolerate it.
        Route::new(&["POST", "GET"], ROUTE).deadline_ms(3000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[SECRETS, VERIFY_TOKENS];

    const PLATFORM: &'static str = include_str!("../platform.toml");

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let sources = keys::sources(env)?;
        Ok(HooksFunction { sources, ingress: IngressSettings::from_env(env, SETTINGS_PREFIX)? })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        let name = request.path_params.get("source").map(String::as_str).or(route.param("source")).unwrap_or_default();
        match self.sources.iter().find(|source| source.name == name) {
            Some(source) => engine::decide(source, request, now),
            None => {
                let _ = hmac_sha256(UNKNOWN_SOURCE_KEY, &[&request.body]);
                Err(IngressError::unauthenticated(format!(
                    "no source {:?} (refused like a bad signature)",
                    truncate_for_log(name)
                )))
            }
        }
    }
}
