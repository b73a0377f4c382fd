//! The platforms whose targets live in the harness's library, as
//! [`Platform`]s: each says which deployment answers a mode and whether
//! the harness signs, encrypts or authenticates the body with the
//! configured secrets, and what its verification promises (the oracle a
//! 2xx is held to; Lark's unsigned path answers one identical refusal; an
//! authenticated alert sender's JSON is never refused as malformed). The
//! harness ([`crate::harness`]) runs them and checks the general promises.

use std::collections::HashMap;

use ::grafana::crypto::{FALLBACK_SIGNATURE_HEADER, SIGNATURE_HEADER as GRAFANA_SIGNATURE_HEADER};
use ::grafana::crypto::{grafana_signature, grafana_signature_matches};
use ::lark::crypto::{decrypt_lark_body, encrypt_lark_body, lark_card_signature_v1, lark_signature, signature_matches};
use ::discord::crypto::sign_ed25519;
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::StatusCode;
use inlet_shared::error::IngressError;
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::Provider;
use inlet_shared::verify::SecretList;
use inlet_shared::verify::http_auth::{AUTHORIZATION, basic_header};
use serde_json::{Value, json};

use crate::harness::{Exchange, Platform, Prepared};
use crate::seeds::{self, Seeds};
use crate::{NOW_UNIX, configured as all_of, edit_json_object, fuzz_settings, refusal_reason, set_header};

fn first_secret(settings: &HashMap<String, String>, name: &str) -> String {
    inlet_shared::config::secrets(settings, name)
        .iter()
        .next()
        .map(|s| s.value.expose().to_string())
        .unwrap_or_default()
}

fn header<'r>(request: &'r IncomingRequest, name: &str) -> Option<&'r str> {
    request.header(name)
}

/// A fixed IV: Lark uses a random one, which the receiver treats no differently.
const IV: [u8; 16] = [7; 16];

/// Whether `Authorization` carries one of the tokens or one of the
/// `user:password` pairs, judged without the shared verifier: the oracle
/// a 2xx is held to.
fn authorization_presents(value: Option<&str>, tokens: &[String], basic: &[String]) -> bool {
    const BASE64: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let Some(value) = value else { return false };
    tokens.iter().any(|token| value.contains(token.as_str()))
        || value.split_whitespace().any(|piece| {
            BASE64.decode(piece).is_ok_and(|decoded| basic.iter().any(|pair| pair.as_bytes() == decoded.as_slice()))
        })
}

/// The refusal an authenticated alert sender may get for a JSON body: only
/// "the processor could not decode it" or "too large"; anything else would
/// lose an alert the sender never retries.
fn authenticated_json_is_kept(request: &IncomingRequest, reply: &Reply) -> Result<(), String> {
    if reply.status.is_success() || serde_json::from_slice::<Value>(&request.body).is_err() {
        return Ok(());
    }
    let reason = refusal_reason(reply).unwrap_or_default();
    match reply.status.as_u16() {
        404 | 405 | 413 | 503 => Ok(()),
        400 if reason.starts_with("event cannot be processed") => Ok(()),
        status => Err(format!("an authenticated alert sender's JSON was refused with {status}: {reason}")),
    }
}

pub mod lark {
    use super::*;
    use ::lark::{LarkFunction, NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

    pub struct Lark {
        pub keyed: LarkFunction,
        pub keyless: LarkFunction,
        pub token: String,
        pub key: String,
    }

    /// Whether mode `mode` is answered by the deployment with an Encrypt Key.
    fn keyed(mode: usize) -> bool {
        !matches!(mode, 1 | 6 | 9)
    }

    /// 0 raw (Encrypt Key configured) · 1 raw (no Encrypt Key) · 2 encrypt
    /// and sign with the key · 3 as 2, Verification Token put in · 4 sign
    /// the plaintext with the key · 5 old-style card: SHA-1 with the token
    /// over the plaintext · 6 no key, token put in · 7 old-style card,
    /// encrypted, SHA-1 over the ciphertext · 8 encrypted, unsigned, token
    /// put in · 9 no key, old-style card signature.
    impl Platform for Lark {
        type Function = LarkFunction;
        const MODES: usize = 10;

        fn deploy() -> Self {
            let settings = fuzz_settings();
            let mut keyless = settings.clone();
            keyless.insert("LARK_ENCRYPT_KEY".into(), String::new());
            Lark {
                keyed: LarkFunction::from_env(&settings).expect("lark settings"),
                keyless: LarkFunction::from_env(&keyless).expect("lark settings without a key"),
                token: first_secret(&settings, "LARK_VERIFICATION_TOKEN"),
                key: first_secret(&settings, "LARK_ENCRYPT_KEY"),
            }
        }

        /// The modes past the first two sign or encrypt the body themselves:
        /// their seeds carry an encrypted event's plaintext.
        fn seeds(&self, target: &str) -> Result<Seeds, String> {
            seeds::from_events(
                target,
                Self::MODES,
                |mode, body| if mode >= 2 { self.opened(body) } else { body.to_vec() },
            )
        }

        fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, LarkFunction> {
            if matches!(mode, 3 | 6 | 8) {
                request.body = with_token(&request.body, &self.token);
            }
            let plaintext = request.body.clone();
            let timestamp = header(request, TIMESTAMP_HEADER).unwrap_or("1700000000").to_string();
            let nonce = header(request, NONCE_HEADER).unwrap_or("fuzz-nonce").to_string();
            if matches!(mode, 2 | 3 | 7 | 8) {
                request.body = encrypted(&self.key, &plaintext);
            }
            let signature = match mode {
                2..=4 => Some(lark_signature(&timestamp, &nonce, &self.key, &request.body)),
                5 | 7 | 9 => Some(lark_card_signature_v1(&timestamp, &nonce, &self.token, &request.body)),
                _ => None,
            };
            if let Some(signature) = signature {
                set_header(request, TIMESTAMP_HEADER, &timestamp);
                set_header(request, NONCE_HEADER, &nonce);
                set_header(request, SIGNATURE_HEADER, &signature);
            }
            Prepared::by(if keyed(mode) { &self.keyed } else { &self.keyless }).plaintext(plaintext)
        }

        fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
            if self.proven(keyed(exchange.mode), exchange.request) {
                Ok(())
            } else {
                Err("without a valid signature or the Verification Token".into())
            }
        }

        fn check(&self, exchange: &Exchange<'_>) -> Result<(), String> {
            unsigned_refusals_are_identical(self, keyed(exchange.mode), exchange.request, exchange.reply)
        }
    }

    impl Lark {
        /// An encrypted Lark body opened with the Encrypt Key; others unchanged.
        fn opened(&self, body: &[u8]) -> Vec<u8> {
            serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|outer| outer.get("encrypt").and_then(Value::as_str).map(str::to_string))
                .and_then(|ciphertext| decrypt_lark_body(&self.key, &ciphertext).ok())
                .unwrap_or_else(|| body.to_vec())
        }

        /// A valid signature, or the Verification Token in the (decrypted) body.
        fn proven(&self, keyed: bool, request: &IncomingRequest) -> bool {
            let signed = match (
                header(request, TIMESTAMP_HEADER),
                header(request, NONCE_HEADER),
                header(request, SIGNATURE_HEADER),
            ) {
                (Some(timestamp), Some(nonce), Some(signature)) => {
                    (keyed && signature_matches(&lark_signature(timestamp, nonce, &self.key, &request.body), signature))
                        || (request.path.ends_with("/lark/card/action")
                            && signature_matches(
                                &lark_card_signature_v1(timestamp, nonce, &self.token, &request.body),
                                signature,
                            ))
                }
                _ => false,
            };
            signed || carries_token(self, keyed, &request.body)
        }
    }

    /// Puts the Verification Token where Lark's schemas carry it.
    pub fn with_token(body: &[u8], token: &str) -> Vec<u8> {
        edit_json_object(body, |object| {
            if object.get("schema").and_then(Value::as_str) == Some("2.0") {
                match object.get_mut("header").and_then(Value::as_object_mut) {
                    Some(header) => {
                        header.insert("token".into(), json!(token));
                    }
                    None => {
                        object.insert("header".into(), json!({ "token": token }));
                    }
                }
            } else {
                object.insert("token".into(), json!(token));
            }
        })
    }

    pub fn encrypted(key: &str, plaintext: &[u8]) -> Vec<u8> {
        json!({ "encrypt": encrypt_lark_body(key, IV, plaintext) }).to_string().into_bytes()
    }

    /// No decryption oracle: a request that carries no valid signature and
    /// whose (decrypted) body does not hold the Verification Token proves
    /// nothing, so every refusal of it must be the one fixed 401, whatever
    /// is wrong with it (and it is never accepted).
    pub fn unsigned_refusals_are_identical(
        lark: &Lark,
        keyed: bool,
        request: &IncomingRequest,
        reply: &Reply,
    ) -> Result<(), String> {
        if matches!(reply.status.as_u16(), 404 | 405 | 413 | 503) || lark.proven(keyed, request) {
            return Ok(());
        }
        let fixed = Reply::refusal(&IngressError::unauthenticated(""));
        if reply.status == StatusCode::UNAUTHORIZED && reply.body == fixed.body {
            Ok(())
        } else {
            Err(format!(
                "an unsigned request without the Verification Token got {} {} instead of the one fixed refusal",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            ))
        }
    }

    /// Whether the body, decrypted when it is encrypted, carries the
    /// Verification Token where Lark puts it.
    fn carries_token(lark: &Lark, keyed: bool, body: &[u8]) -> bool {
        let Ok(outer) = serde_json::from_slice::<Value>(body) else { return false };
        let json = match outer.get("encrypt").and_then(Value::as_str).filter(|c| !c.is_empty()) {
            Some(ciphertext) if keyed => match decrypt_lark_body(&lark.key, ciphertext) {
                Ok(plain) => match serde_json::from_slice::<Value>(&plain) {
                    Ok(json) => json,
                    Err(_) => return false,
                },
                Err(_) => return false,
            },
            Some(_) => return false,
            None => outer,
        };
        let token = if json.get("schema").and_then(Value::as_str) == Some("2.0") {
            json.pointer("/header/token")
        } else {
            json.get("token")
        };
        token.and_then(Value::as_str) == Some(lark.token.as_str())
    }
}

pub mod discord {
    use super::*;
    use ::discord::{DiscordFunction, SIGNATURE_HEADER, TIMESTAMP_HEADER};

    pub struct Discord {
        pub function: DiscordFunction,
        pub seed: [u8; 32],
        pub tolerance_secs: u64,
    }

    /// 0 raw · 1 signed now · 2 signed with the input's timestamp header.
    impl Platform for Discord {
        type Function = DiscordFunction;
        const MODES: usize = 3;

        fn deploy() -> Self {
            let settings = fuzz_settings();
            let seed = hex::decode(first_secret(&settings, "DISCORD_DEV_SIGNING_SEED"))
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .expect("DISCORD_DEV_SIGNING_SEED is 32 bytes of hex");
            let function = DiscordFunction::from_env(&settings).expect("discord settings");
            let tolerance_secs = function.ingress.timestamp_window.tolerance_secs;
            Discord { function, seed, tolerance_secs }
        }

        fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, DiscordFunction> {
            let timestamp = match mode {
                0 => None,
                1 => Some(NOW_UNIX.to_string()),
                _ => Some(header(request, TIMESTAMP_HEADER).unwrap_or("1700000000").to_string()),
            };
            if let Some(timestamp) = timestamp {
                let signature = sign_ed25519(&self.seed, &timestamp, &request.body);
                set_header(request, TIMESTAMP_HEADER, &timestamp);
                set_header(request, SIGNATURE_HEADER, &signature);
            }
            Prepared::by(&self.function).genuine(mode == 1)
        }

        /// Every 2xx, PINGs included, answers a request signed by the key's
        /// owner over `timestamp ‖ body` with a fresh timestamp. Ed25519 as
        /// Discord uses it is deterministic, so the only signature a fuzzer
        /// can present is the one the seed makes.
        fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
            let request = exchange.request;
            let timestamp = header(request, TIMESTAMP_HEADER).unwrap_or_default();
            let expected = hex::decode(sign_ed25519(&self.seed, timestamp, &request.body)).unwrap_or_default();
            let presented =
                hex::decode(header(request, SIGNATURE_HEADER).unwrap_or_default().trim()).unwrap_or_default();
            let fresh = timestamp.trim().parse::<i64>().is_ok_and(|t| t.abs_diff(NOW_UNIX) <= self.tolerance_secs);
            if presented == expected && fresh { Ok(()) } else { Err("without a fresh valid signature".into()) }
        }
    }
}

pub mod telegram {
    use super::*;
    use ::telegram::{SECRET_HEADER, TelegramFunction};

    pub struct Telegram {
        pub function: TelegramFunction,
        /// (bot, secret) pairs as configured.
        pub bots: Vec<(String, String)>,
    }

    fn bot_in_path(request: &IncomingRequest) -> &str {
        request.path.rsplit_once("/telegram/").map(|(_, bot)| bot).unwrap_or_default()
    }

    /// 0 raw · 1 the secret of the path's bot · 2 another bot's secret.
    impl Platform for Telegram {
        type Function = TelegramFunction;
        const MODES: usize = 3;

        fn deploy() -> Self {
            let settings = fuzz_settings();
            let raw = settings.get("TELEGRAM_SECRET_TOKENS").cloned().unwrap_or_default();
            let bots = SecretList::parse_labelled("TELEGRAM_SECRET_TOKENS", &raw)
                .expect("TELEGRAM_SECRET_TOKENS")
                .iter()
                .map(|entry| {
                    let bot = entry.name.split_once(':').map(|(_, bot)| bot).unwrap_or_default();
                    (bot.to_string(), entry.value.expose().to_string())
                })
                .collect();
            Telegram { function: TelegramFunction::from_env(&settings).expect("telegram settings"), bots }
        }

        fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, TelegramFunction> {
            if mode > 0 {
                let bot = bot_in_path(request).to_string();
                let own = self.bots.iter().position(|(name, _)| *name == bot).unwrap_or(0);
                let chosen = if mode == 1 { own } else { (own + 1) % self.bots.len() };
                set_header(request, SECRET_HEADER, &self.bots[chosen].1);
            }
            Prepared::by(&self.function)
        }

        /// A 2xx needs the secret of exactly the bot the path names.
        fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
            let request = exchange.request;
            let bot = request.path_params.get("bot").map(String::as_str).unwrap_or_else(|| bot_in_path(request));
            let presented = header(request, SECRET_HEADER);
            if self.bots.iter().any(|(name, secret)| name == bot && presented == Some(secret.as_str())) {
                Ok(())
            } else {
                Err(format!("for bot {bot:?} without that bot's secret"))
            }
        }
    }
}

pub mod openim {
    use super::*;
    use ::openim::OpenimFunction;

    pub struct Openim {
        pub allowlist: OpenimFunction,
        pub path_token: OpenimFunction,
        pub blocking: OpenimFunction,
        pub tokens: Vec<String>,
        pub allowed: Vec<ipnet::IpNet>,
    }

    fn command_in_path(path: &str) -> String {
        path.rsplit('/').find(|segment| !segment.is_empty()).unwrap_or("callbackAfterUserOnlineCommand").to_string()
    }

    /// Whether mode `mode` is answered by the path-token deployment.
    fn path_token(mode: usize) -> bool {
        matches!(mode, 1 | 2 | 4)
    }

    /// 0 raw, address allowlist · 1 raw, path token · 2 path token put in the
    /// path · 3 allowlist, callbackCommand put in · 4 second path token and
    /// callbackCommand put in · 5 allowlist that blocks on queue failure,
    /// callbackCommand put in.
    impl Platform for Openim {
        type Function = OpenimFunction;
        const MODES: usize = 6;

        fn deploy() -> Self {
            let settings = fuzz_settings();
            let mut with_token = settings.clone();
            with_token.insert("OPENIM_PATH_TOKEN".into(), crate::OPENIM_PATH_TOKENS.into());
            with_token.insert("OPENIM_ALLOWED_CIDRS".into(), String::new());
            let mut blocking = settings.clone();
            blocking.insert("OPENIM_BLOCK_ON_FAILURE".into(), "true".into());
            let allowlist = OpenimFunction::from_env(&settings).expect("openim settings");
            Openim {
                allowed: allowlist.ingress.allowed_cidrs.clone(),
                allowlist,
                path_token: OpenimFunction::from_env(&with_token).expect("openim settings with a path token"),
                blocking: OpenimFunction::from_env(&blocking).expect("openim blocking settings"),
                tokens: all_of(&with_token, "OPENIM_PATH_TOKEN"),
            }
        }

        fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, OpenimFunction> {
            let command = command_in_path(&request.path);
            if matches!(mode, 2 | 4) {
                let token = &self.tokens[if mode == 2 { 0 } else { self.tokens.len() - 1 }];
                request.path = format!("/openim/{token}/{command}");
                request.path_params =
                    [("token".to_string(), token.clone()), ("command".to_string(), command.clone())].into();
            }
            if matches!(mode, 3..=5) {
                request.body = edit_json_object(&request.body, |object| {
                    object.insert("callbackCommand".into(), json!(command));
                });
            }
            Prepared::by(match mode {
                _ if path_token(mode) => &self.path_token,
                5 => &self.blocking,
                _ => &self.allowlist,
            })
        }

        /// A configured token in the path (path-token deployment), else an
        /// address inside the allowlist.
        fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
            let request = exchange.request;
            if path_token(exchange.mode) {
                let presented = request.path.split('/').any(|segment| self.tokens.iter().any(|token| token == segment));
                if presented { Ok(()) } else { Err("without a configured path token in the path".into()) }
            } else {
                let allowed = request.source_ip.is_some_and(|ip| self.allowed.iter().any(|net| net.contains(&ip)));
                if allowed { Ok(()) } else { Err(format!("from {:?}, outside the allowlist", request.source_ip)) }
            }
        }
    }
}

pub mod alertmanager {
    use super::*;
    use ::alertmanager::{AlertmanagerFunction, BASIC_AUTH_SETTING, BEARER_TOKENS_SETTING};

    pub struct Alertmanager {
        pub function: AlertmanagerFunction,
        pub basic: Vec<String>,
        pub tokens: Vec<String>,
    }

    /// 0 raw · 1 Basic · 2 Bearer · 3 another scheme with the token.
    impl Platform for Alertmanager {
        type Function = AlertmanagerFunction;
        const MODES: usize = 4;

        fn deploy() -> Self {
            let settings = fuzz_settings();
            Alertmanager {
                function: AlertmanagerFunction::from_env(&settings).expect("alertmanager settings"),
                basic: all_of(&settings, BASIC_AUTH_SETTING),
                tokens: all_of(&settings, BEARER_TOKENS_SETTING),
            }
        }

        fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, AlertmanagerFunction> {
            match mode {
                1 => set_header(request, AUTHORIZATION, &basic_header(&self.basic[0])),
                2 => set_header(request, AUTHORIZATION, &format!("Bearer {}", self.tokens[0])),
                3 => set_header(request, AUTHORIZATION, &format!("Token {}", self.tokens[0])),
                _ => {}
            }
            Prepared::by(&self.function)
        }

        fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
            if authorization_presents(header(exchange.request, AUTHORIZATION), &self.tokens, &self.basic) {
                Ok(())
            } else {
                Err("without configured credentials".into())
            }
        }

        fn check(&self, exchange: &Exchange<'_>) -> Result<(), String> {
            if exchange.mode > 0 { authenticated_json_is_kept(exchange.request, exchange.reply) } else { Ok(()) }
        }
    }
}

pub mod grafana {
    use super::*;
    use ::grafana::{BASIC_AUTH_SETTING, BEARER_TOKENS_SETTING, GrafanaFunction, HMAC_SECRET_SETTING};

    pub struct Grafana {
        pub with_timestamp: GrafanaFunction,
        pub without_timestamp: GrafanaFunction,
        pub timestamp_header: &'static str,
        pub secret: String,
        pub basic: Vec<String>,
        pub tokens: Vec<String>,
    }

    /// Whether mode `mode` is answered by the deployment that names a timestamp header.
    fn with_timestamp(mode: usize) -> bool {
        !matches!(mode, 5 | 6)
    }

    /// 0 raw · 1 HMAC with timestamp · 2 Bearer · 3 Basic · 4 HMAC and
    /// Bearer · 5 HMAC without timestamp (no timestamp header configured) ·
    /// 6 raw, no timestamp header configured · 7 HMAC in the fallback header.
    impl Platform for Grafana {
        type Function = GrafanaFunction;
        const MODES: usize = 8;

        fn deploy() -> Self {
            let settings = fuzz_settings();
            let mut without = settings.clone();
            without.remove("GRAFANA_HMAC_TIMESTAMP_HEADER");
            let timestamp_header = settings
                .get("GRAFANA_HMAC_TIMESTAMP_HEADER")
                .map(|name| name.to_ascii_lowercase())
                .expect("events/env.json names GRAFANA_HMAC_TIMESTAMP_HEADER");
            Grafana {
                with_timestamp: GrafanaFunction::from_env(&settings).expect("grafana settings"),
                without_timestamp: GrafanaFunction::from_env(&without).expect("grafana settings without timestamp"),
                timestamp_header: Box::leak(timestamp_header.into_boxed_str()),
                secret: first_secret(&settings, HMAC_SECRET_SETTING),
                basic: all_of(&settings, BASIC_AUTH_SETTING),
                tokens: all_of(&settings, BEARER_TOKENS_SETTING),
            }
        }

        fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, GrafanaFunction> {
            if matches!(mode, 1..=5 | 7) {
                for name in [AUTHORIZATION, GRAFANA_SIGNATURE_HEADER, FALLBACK_SIGNATURE_HEADER] {
                    request.headers.remove(name);
                }
            }
            if matches!(mode, 1 | 4 | 5 | 7) {
                let now = NOW_UNIX.to_string();
                let timestamp = with_timestamp(mode).then_some(now.as_str());
                let signature = grafana_signature(&self.secret, timestamp, &request.body);
                if let Some(timestamp) = timestamp {
                    set_header(request, self.timestamp_header, timestamp);
                }
                let name = if mode == 7 { FALLBACK_SIGNATURE_HEADER } else { GRAFANA_SIGNATURE_HEADER };
                set_header(request, name, &signature);
            }
            match mode {
                2 | 4 => set_header(request, AUTHORIZATION, &format!("Bearer {}", self.tokens[0])),
                3 => set_header(request, AUTHORIZATION, &basic_header(&self.basic[0])),
                _ => {}
            }
            Prepared::by(if with_timestamp(mode) { &self.with_timestamp } else { &self.without_timestamp })
        }

        fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
            if authenticated(self, with_timestamp(exchange.mode), exchange.request) {
                Ok(())
            } else {
                Err("without valid credentials".into())
            }
        }

        fn check(&self, exchange: &Exchange<'_>) -> Result<(), String> {
            if matches!(exchange.mode, 0 | 6) {
                Ok(())
            } else {
                authenticated_json_is_kept(exchange.request, exchange.reply)
            }
        }
    }

    /// A fresh HMAC of the configured secret, or configured credentials.
    fn authenticated(grafana: &Grafana, with_timestamp: bool, request: &IncomingRequest) -> bool {
        let timestamp = if with_timestamp { header(request, grafana.timestamp_header) } else { None };
        let fresh = timestamp.is_none_or(|t| t.trim().parse::<i64>().is_ok_and(|t| t.abs_diff(NOW_UNIX) <= 300));
        let signed = (!with_timestamp || timestamp.is_some())
            && fresh
            && [GRAFANA_SIGNATURE_HEADER, FALLBACK_SIGNATURE_HEADER].iter().any(|name| {
                header(request, name).is_some_and(|presented| {
                    grafana_signature_matches(&grafana.secret, timestamp, &request.body, presented)
                })
            });
        signed || authorization_presents(header(request, AUTHORIZATION), &grafana.tokens, &grafana.basic)
    }
}

pub mod alert_api {
    use super::*;
    use ::alert_api::{API_KEYS_SETTING, AlertApiFunction, BOT_IDS_SETTING};

    pub struct AlertApi {
        pub function: AlertApiFunction,
        pub keys: Vec<String>,
        pub senders: Vec<String>,
    }

    /// 0 raw · 1 Bearer API key · 2 Bearer API key, allowed sender put in.
    impl Platform for AlertApi {
        type Function = AlertApiFunction;
        const MODES: usize = 3;

        fn deploy() -> Self {
            let settings = fuzz_settings();
            AlertApi {
                function: AlertApiFunction::from_env(&settings).expect("alert-api settings"),
                keys: all_of(&settings, API_KEYS_SETTING),
                senders: settings
                    .get(BOT_IDS_SETTING)
                    .map(|ids| ids.split(',').map(|id| id.trim().to_string()).filter(|id| !id.is_empty()).collect())
                    .unwrap_or_default(),
            }
        }

        fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, AlertApiFunction> {
            if mode > 0 {
                set_header(request, AUTHORIZATION, &format!("Bearer {}", self.keys[0]));
            }
            if mode == 2 {
                request.body = edit_json_object(&request.body, |object| {
                    object.insert("sender_id".into(), json!(self.senders[0]));
                });
            }
            Prepared::by(&self.function)
        }

        /// A Bearer API key and an allowed `sender_id`.
        fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
            let request = exchange.request;
            let bearer =
                header(request, AUTHORIZATION).and_then(|value| value.trim().split_once([' ', '\t'])).is_some_and(
                    |(scheme, key)| scheme.eq_ignore_ascii_case("bearer") && self.keys.iter().any(|k| k == key.trim()),
                );
            let sender = serde_json::from_slice::<Value>(&request.body)
                .ok()
                .and_then(|json| json.get("sender_id").and_then(Value::as_str).map(str::to_string));
            if bearer && sender.is_some_and(|sender| self.senders.contains(&sender)) {
                Ok(())
            } else {
                Err("without an API key and an allowed sender_id".into())
            }
        }
    }
}
