//! One fuzz entry point per provider. Each parses the input, applies its
//! mode (which deployment answers, and whether the harness signs, encrypts
//! or authenticates the body with the configured secrets), asks the
//! provider's public handler, and checks the promises: the general ones,
//! plus what that provider's verification promises (nothing unauthenticated
//! is accepted; Lark's unsigned path answers one identical refusal; an
//! authenticated alert sender's JSON is never refused as malformed).

use std::collections::HashMap;
use std::sync::OnceLock;

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

use crate::{
    FuzzInput, NOW_UNIX, answer, assert_promises, edit_json_object, fuzz_settings, refusal_reason, set_header,
};

/// The provider targets, by the name `cargo fuzz run` knows them.
pub const TARGETS: [&str; 13] = [
    "lark",
    "discord",
    "telegram",
    "openim",
    "alertmanager",
    "grafana",
    "alert_api",
    "slack",
    "github",
    "stripe",
    "standard_webhooks",
    "wecom",
    "dingtalk",
];

/// How many modes each provider target has (the control byte's bits 3–7).
pub fn modes(target: &str) -> usize {
    match target {
        "lark" => lark::MODES,
        "discord" => discord::MODES,
        "telegram" => telegram::MODES,
        "openim" => openim::MODES,
        "alertmanager" => alertmanager::MODES,
        "grafana" => grafana::MODES,
        "alert_api" => alert_api::MODES,
        // Self-contained targets (fuzz_targets/<name>.rs); keep in step with their MODES.
        "slack" | "github" | "stripe" => 4,
        "standard_webhooks" | "wecom" => 5,
        "dingtalk" => 3,
        _ => 1,
    }
}

/// Builds a target's deployments before the first input.
pub fn warm_up(target: &str) {
    match target {
        "lark" => drop(lark::get()),
        "discord" => drop(discord::get()),
        "telegram" => drop(telegram::get()),
        "openim" => drop(openim::get()),
        "alertmanager" => drop(alertmanager::get()),
        "grafana" => drop(grafana::get()),
        "alert_api" => drop(alert_api::get()),
        _ => {}
    }
}

fn first_secret(settings: &HashMap<String, String>, name: &str) -> String {
    inlet_shared::config::secrets(settings, name)
        .iter()
        .next()
        .map(|s| s.value.expose().to_string())
        .unwrap_or_default()
}

fn all_of(settings: &HashMap<String, String>, name: &str) -> Vec<String> {
    inlet_shared::config::secrets(settings, name).iter().map(|s| s.value.expose().to_string()).collect()
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

    pub const ROUTES: [&str; 2] = ["/lark/event", "/lark/card/action"];
    /// 0 raw (Encrypt Key configured) · 1 raw (no Encrypt Key) · 2 encrypt
    /// and sign with the key · 3 as 2, Verification Token put in · 4 sign
    /// the plaintext with the key · 5 old-style card: SHA-1 with the token
    /// over the plaintext · 6 no key, token put in · 7 old-style card,
    /// encrypted, SHA-1 over the ciphertext · 8 encrypted, unsigned, token
    /// put in · 9 no key, old-style card signature.
    pub const MODES: usize = 10;

    pub struct Lark {
        pub keyed: LarkFunction,
        pub keyless: LarkFunction,
        pub token: String,
        pub key: String,
    }

    pub fn get() -> &'static Lark {
        static LARK: OnceLock<Lark> = OnceLock::new();
        LARK.get_or_init(|| {
            let settings = fuzz_settings();
            let mut keyless = settings.clone();
            keyless.insert("LARK_ENCRYPT_KEY".into(), String::new());
            Lark {
                keyed: LarkFunction::from_env(&settings).expect("lark settings"),
                keyless: LarkFunction::from_env(&keyless).expect("lark settings without a key"),
                token: first_secret(&settings, "LARK_VERIFICATION_TOKEN"),
                key: first_secret(&settings, "LARK_ENCRYPT_KEY"),
            }
        })
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

    pub fn run(data: &[u8]) {
        let lark = get();
        let Some(input) = FuzzInput::parse(data) else { return };
        let Some(mut request) = input.request(&ROUTES) else { return };
        let mode = input.mode(MODES);
        let keyed = !matches!(mode, 1 | 6 | 9);
        if matches!(mode, 3 | 6 | 8) {
            request.body = with_token(&request.body, &lark.token);
        }
        let plaintext = request.body.clone();
        let timestamp = header(&request, TIMESTAMP_HEADER).unwrap_or("1700000000").to_string();
        let nonce = header(&request, NONCE_HEADER).unwrap_or("fuzz-nonce").to_string();
        if matches!(mode, 2 | 3 | 7 | 8) {
            request.body = encrypted(&lark.key, &plaintext);
        }
        let signature = match mode {
            2..=4 => Some(lark_signature(&timestamp, &nonce, &lark.key, &request.body)),
            5 | 7 | 9 => Some(lark_card_signature_v1(&timestamp, &nonce, &lark.token, &request.body)),
            _ => None,
        };
        if let Some(signature) = signature {
            set_header(&mut request, TIMESTAMP_HEADER, &timestamp);
            set_header(&mut request, NONCE_HEADER, &nonce);
            set_header(&mut request, SIGNATURE_HEADER, &signature);
        }
        let function = if keyed { &lark.keyed } else { &lark.keyless };
        let (reply, publisher) = answer(function, &request, input.publisher_down());
        let extra = unsigned_refusals_are_identical(lark, keyed, &request, &reply);
        assert_promises("lark", &request, &reply, &publisher, input.publisher_down(), &plaintext, extra);
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
        if matches!(reply.status.as_u16(), 404 | 405 | 413 | 503) {
            return Ok(());
        }
        let signed =
            match (header(request, TIMESTAMP_HEADER), header(request, NONCE_HEADER), header(request, SIGNATURE_HEADER))
            {
                (Some(timestamp), Some(nonce), Some(signature)) => {
                    (keyed && signature_matches(&lark_signature(timestamp, nonce, &lark.key, &request.body), signature))
                        || (request.path.ends_with("/lark/card/action")
                            && signature_matches(
                                &lark_card_signature_v1(timestamp, nonce, &lark.token, &request.body),
                                signature,
                            ))
                }
                _ => false,
            };
        if signed || carries_token(lark, keyed, &request.body) {
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

    pub const ROUTES: [&str; 2] = ["/discord/interactions", "/discord/events"];
    /// 0 raw · 1 signed now · 2 signed with the input's timestamp header.
    pub const MODES: usize = 3;

    pub struct Discord {
        pub function: DiscordFunction,
        pub seed: [u8; 32],
        pub tolerance_secs: u64,
    }

    pub fn get() -> &'static Discord {
        static DISCORD: OnceLock<Discord> = OnceLock::new();
        DISCORD.get_or_init(|| {
            let settings = fuzz_settings();
            let seed = hex::decode(first_secret(&settings, "DISCORD_DEV_SIGNING_SEED"))
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .expect("DISCORD_DEV_SIGNING_SEED is 32 bytes of hex");
            let function = DiscordFunction::from_env(&settings).expect("discord settings");
            let tolerance_secs = function.ingress.timestamp_window.tolerance_secs;
            Discord { function, seed, tolerance_secs }
        })
    }

    pub fn run(data: &[u8]) {
        let discord = get();
        let Some(input) = FuzzInput::parse(data) else { return };
        let Some(mut request) = input.request(&ROUTES) else { return };
        let timestamp = match input.mode(MODES) {
            0 => None,
            1 => Some(NOW_UNIX.to_string()),
            _ => Some(header(&request, TIMESTAMP_HEADER).unwrap_or("1700000000").to_string()),
        };
        if let Some(timestamp) = timestamp {
            let signature = sign_ed25519(&discord.seed, &timestamp, &request.body);
            set_header(&mut request, TIMESTAMP_HEADER, &timestamp);
            set_header(&mut request, SIGNATURE_HEADER, &signature);
        }
        let (reply, publisher) = answer(&discord.function, &request, input.publisher_down());
        let extra = accepted_only_if_signed(discord, &request, &reply);
        assert_promises("discord", &request, &reply, &publisher, input.publisher_down(), &request.body, extra);
    }

    /// Every 2xx, PINGs included, answers a request signed by the key's
    /// owner over `timestamp ‖ body` with a fresh timestamp. Ed25519 as
    /// Discord uses it is deterministic, so the only signature a fuzzer
    /// can present is the one the seed makes.
    fn accepted_only_if_signed(discord: &Discord, request: &IncomingRequest, reply: &Reply) -> Result<(), String> {
        if !reply.status.is_success() {
            return Ok(());
        }
        let timestamp = header(request, TIMESTAMP_HEADER).unwrap_or_default();
        let expected = hex::decode(sign_ed25519(&discord.seed, timestamp, &request.body)).unwrap_or_default();
        let presented = hex::decode(header(request, SIGNATURE_HEADER).unwrap_or_default().trim()).unwrap_or_default();
        let fresh = timestamp.trim().parse::<i64>().is_ok_and(|t| t.abs_diff(NOW_UNIX) <= discord.tolerance_secs);
        if presented == expected && fresh {
            Ok(())
        } else {
            Err(format!("accepted ({}) without a fresh valid signature", reply.status))
        }
    }
}

pub mod telegram {
    use super::*;
    use ::telegram::{SECRET_HEADER, TelegramFunction};

    pub const ROUTES: [&str; 1] = ["/telegram/{bot}"];
    /// 0 raw · 1 the secret of the path's bot · 2 another bot's secret.
    pub const MODES: usize = 3;

    pub struct Telegram {
        pub function: TelegramFunction,
        /// (bot, secret) pairs as configured.
        pub bots: Vec<(String, String)>,
    }

    pub fn get() -> &'static Telegram {
        static TELEGRAM: OnceLock<Telegram> = OnceLock::new();
        TELEGRAM.get_or_init(|| {
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
        })
    }

    fn bot_in_path(request: &IncomingRequest) -> &str {
        request.path.rsplit_once("/telegram/").map(|(_, bot)| bot).unwrap_or_default()
    }

    pub fn run(data: &[u8]) {
        let telegram = get();
        let Some(input) = FuzzInput::parse(data) else { return };
        let Some(mut request) = input.request(&ROUTES) else { return };
        let mode = input.mode(MODES);
        if mode > 0 {
            let bot = bot_in_path(&request).to_string();
            let own = telegram.bots.iter().position(|(name, _)| *name == bot).unwrap_or(0);
            let chosen = if mode == 1 { own } else { (own + 1) % telegram.bots.len() };
            set_header(&mut request, SECRET_HEADER, &telegram.bots[chosen].1);
        }
        let (reply, publisher) = answer(&telegram.function, &request, input.publisher_down());
        let extra = accepted_only_with_the_bots_secret(telegram, &request, &reply);
        assert_promises("telegram", &request, &reply, &publisher, input.publisher_down(), &request.body, extra);
    }

    /// A 2xx needs the secret of exactly the bot the path names.
    fn accepted_only_with_the_bots_secret(
        telegram: &Telegram,
        request: &IncomingRequest,
        reply: &Reply,
    ) -> Result<(), String> {
        if !reply.status.is_success() {
            return Ok(());
        }
        let bot = request.path_params.get("bot").map(String::as_str).unwrap_or_else(|| bot_in_path(request));
        let presented = header(request, SECRET_HEADER);
        if telegram.bots.iter().any(|(name, secret)| name == bot && presented == Some(secret.as_str())) {
            Ok(())
        } else {
            Err(format!("accepted ({}) for bot {bot:?} without that bot's secret", reply.status))
        }
    }
}

pub mod openim {
    use super::*;
    use ::openim::OpenimFunction;

    pub const ROUTES: [&str; 2] = ["/openim/{command}", "/openim/{token}/{command}"];
    /// 0 raw, address allowlist · 1 raw, path token · 2 path token put in the
    /// path · 3 allowlist, callbackCommand put in · 4 second path token and
    /// callbackCommand put in · 5 allowlist that blocks on queue failure,
    /// callbackCommand put in.
    pub const MODES: usize = 6;

    pub struct Openim {
        pub allowlist: OpenimFunction,
        pub path_token: OpenimFunction,
        pub blocking: OpenimFunction,
        pub tokens: Vec<String>,
        pub allowed: Vec<ipnet::IpNet>,
    }

    pub fn get() -> &'static Openim {
        static OPENIM: OnceLock<Openim> = OnceLock::new();
        OPENIM.get_or_init(|| {
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
        })
    }

    fn command_in_path(path: &str) -> String {
        path.rsplit('/').find(|segment| !segment.is_empty()).unwrap_or("callbackAfterUserOnlineCommand").to_string()
    }

    pub fn run(data: &[u8]) {
        let openim = get();
        let Some(input) = FuzzInput::parse(data) else { return };
        let Some(mut request) = input.request(&ROUTES) else { return };
        let mode = input.mode(MODES);
        let command = command_in_path(&request.path);
        if matches!(mode, 2 | 4) {
            let token = &openim.tokens[if mode == 2 { 0 } else { openim.tokens.len() - 1 }];
            request.path = format!("/openim/{token}/{command}");
            request.path_params =
                [("token".to_string(), token.clone()), ("command".to_string(), command.clone())].into();
        }
        if matches!(mode, 3..=5) {
            request.body = edit_json_object(&request.body, |object| {
                object.insert("callbackCommand".into(), json!(command));
            });
        }
        let function = match mode {
            1 | 2 | 4 => &openim.path_token,
            5 => &openim.blocking,
            _ => &openim.allowlist,
        };
        let (reply, publisher) = answer(function, &request, input.publisher_down());
        let extra = if matches!(mode, 1 | 2 | 4) {
            accepted_only_with_a_path_token(openim, &request, &reply)
        } else {
            accepted_only_from_allowed_addresses(openim, &request, &reply)
        };
        assert_promises("openim", &request, &reply, &publisher, input.publisher_down(), &request.body, extra);
    }

    fn accepted_only_with_a_path_token(
        openim: &Openim,
        request: &IncomingRequest,
        reply: &Reply,
    ) -> Result<(), String> {
        let presented = request.path.split('/').any(|segment| openim.tokens.iter().any(|token| token == segment));
        if !reply.status.is_success() || presented {
            Ok(())
        } else {
            Err(format!("accepted ({}) without a configured path token in the path", reply.status))
        }
    }

    fn accepted_only_from_allowed_addresses(
        openim: &Openim,
        request: &IncomingRequest,
        reply: &Reply,
    ) -> Result<(), String> {
        let allowed = request.source_ip.is_some_and(|ip| openim.allowed.iter().any(|net| net.contains(&ip)));
        if !reply.status.is_success() || allowed {
            Ok(())
        } else {
            Err(format!("accepted ({}) from {:?}, outside the allowlist", reply.status, request.source_ip))
        }
    }
}

pub mod alertmanager {
    use super::*;
    use ::alertmanager::{AlertmanagerFunction, BASIC_AUTH_SETTING, BEARER_TOKENS_SETTING};

    pub const ROUTES: [&str; 1] = [::alertmanager::PATH];
    /// 0 raw · 1 Basic · 2 Bearer · 3 another scheme with the token.
    pub const MODES: usize = 4;

    pub struct Alertmanager {
        pub function: AlertmanagerFunction,
        pub basic: Vec<String>,
        pub tokens: Vec<String>,
    }

    pub fn get() -> &'static Alertmanager {
        static ALERTMANAGER: OnceLock<Alertmanager> = OnceLock::new();
        ALERTMANAGER.get_or_init(|| {
            let settings = fuzz_settings();
            Alertmanager {
                function: AlertmanagerFunction::from_env(&settings).expect("alertmanager settings"),
                basic: all_of(&settings, BASIC_AUTH_SETTING),
                tokens: all_of(&settings, BEARER_TOKENS_SETTING),
            }
        })
    }

    pub fn run(data: &[u8]) {
        let alertmanager = get();
        let Some(input) = FuzzInput::parse(data) else { return };
        let Some(mut request) = input.request(&ROUTES) else { return };
        let mode = input.mode(MODES);
        match mode {
            1 => set_header(&mut request, AUTHORIZATION, &basic_header(&alertmanager.basic[0])),
            2 => set_header(&mut request, AUTHORIZATION, &format!("Bearer {}", alertmanager.tokens[0])),
            3 => set_header(&mut request, AUTHORIZATION, &format!("Token {}", alertmanager.tokens[0])),
            _ => {}
        }
        let (reply, publisher) = answer(&alertmanager.function, &request, input.publisher_down());
        let presented =
            authorization_presents(header(&request, AUTHORIZATION), &alertmanager.tokens, &alertmanager.basic);
        let extra = if reply.status.is_success() && !presented {
            Err(format!("accepted ({}) without configured credentials", reply.status))
        } else if mode > 0 {
            authenticated_json_is_kept(&request, &reply)
        } else {
            Ok(())
        };
        assert_promises("alertmanager", &request, &reply, &publisher, input.publisher_down(), &request.body, extra);
    }
}

pub mod grafana {
    use super::*;
    use ::grafana::{BASIC_AUTH_SETTING, BEARER_TOKENS_SETTING, GrafanaFunction, HMAC_SECRET_SETTING};

    pub const ROUTES: [&str; 1] = [::grafana::PATH];
    /// 0 raw · 1 HMAC with timestamp · 2 Bearer · 3 Basic · 4 HMAC and
    /// Bearer · 5 HMAC without timestamp (no timestamp header configured) ·
    /// 6 raw, no timestamp header configured · 7 HMAC in the fallback header.
    pub const MODES: usize = 8;

    pub struct Grafana {
        pub with_timestamp: GrafanaFunction,
        pub without_timestamp: GrafanaFunction,
        pub timestamp_header: &'static str,
        pub secret: String,
        pub basic: Vec<String>,
        pub tokens: Vec<String>,
    }

    pub fn get() -> &'static Grafana {
        static GRAFANA: OnceLock<Grafana> = OnceLock::new();
        GRAFANA.get_or_init(|| {
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
        })
    }

    pub fn run(data: &[u8]) {
        let grafana = get();
        let Some(input) = FuzzInput::parse(data) else { return };
        let Some(mut request) = input.request(&ROUTES) else { return };
        let mode = input.mode(MODES);
        let with_timestamp = !matches!(mode, 5 | 6);
        if matches!(mode, 1..=5 | 7) {
            for name in [AUTHORIZATION, GRAFANA_SIGNATURE_HEADER, FALLBACK_SIGNATURE_HEADER] {
                request.headers.remove(name);
            }
        }
        if matches!(mode, 1 | 4 | 5 | 7) {
            let now = NOW_UNIX.to_string();
            let timestamp = with_timestamp.then_some(now.as_str());
            let signature = grafana_signature(&grafana.secret, timestamp, &request.body);
            if let Some(timestamp) = timestamp {
                set_header(&mut request, grafana.timestamp_header, timestamp);
            }
            let name = if mode == 7 { FALLBACK_SIGNATURE_HEADER } else { GRAFANA_SIGNATURE_HEADER };
            set_header(&mut request, name, &signature);
        }
        match mode {
            2 | 4 => set_header(&mut request, AUTHORIZATION, &format!("Bearer {}", grafana.tokens[0])),
            3 => set_header(&mut request, AUTHORIZATION, &basic_header(&grafana.basic[0])),
            _ => {}
        }
        let function = if with_timestamp { &grafana.with_timestamp } else { &grafana.without_timestamp };
        let (reply, publisher) = answer(function, &request, input.publisher_down());
        let extra = if reply.status.is_success() && !authenticated(grafana, with_timestamp, &request) {
            Err(format!("accepted ({}) without valid credentials", reply.status))
        } else if !matches!(mode, 0 | 6) {
            authenticated_json_is_kept(&request, &reply)
        } else {
            Ok(())
        };
        assert_promises("grafana", &request, &reply, &publisher, input.publisher_down(), &request.body, extra);
    }

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

    pub const ROUTES: [&str; 1] = [::alert_api::PATH];
    /// 0 raw · 1 Bearer API key · 2 Bearer API key, allowed sender put in.
    pub const MODES: usize = 3;

    pub struct AlertApi {
        pub function: AlertApiFunction,
        pub keys: Vec<String>,
        pub senders: Vec<String>,
    }

    pub fn get() -> &'static AlertApi {
        static ALERT_API: OnceLock<AlertApi> = OnceLock::new();
        ALERT_API.get_or_init(|| {
            let settings = fuzz_settings();
            AlertApi {
                function: AlertApiFunction::from_env(&settings).expect("alert-api settings"),
                keys: all_of(&settings, API_KEYS_SETTING),
                senders: settings
                    .get(BOT_IDS_SETTING)
                    .map(|ids| ids.split(',').map(|id| id.trim().to_string()).filter(|id| !id.is_empty()).collect())
                    .unwrap_or_default(),
            }
        })
    }

    pub fn run(data: &[u8]) {
        let api = get();
        let Some(input) = FuzzInput::parse(data) else { return };
        let Some(mut request) = input.request(&ROUTES) else { return };
        let mode = input.mode(MODES);
        if mode > 0 {
            set_header(&mut request, AUTHORIZATION, &format!("Bearer {}", api.keys[0]));
        }
        if mode == 2 {
            request.body = edit_json_object(&request.body, |object| {
                object.insert("sender_id".into(), json!(api.senders[0]));
            });
        }
        let (reply, publisher) = answer(&api.function, &request, input.publisher_down());
        let extra = accepted_only_from_allowed_senders_with_a_key(api, &request, &reply);
        assert_promises("alert_api", &request, &reply, &publisher, input.publisher_down(), &request.body, extra);
    }

    fn accepted_only_from_allowed_senders_with_a_key(
        api: &AlertApi,
        request: &IncomingRequest,
        reply: &Reply,
    ) -> Result<(), String> {
        if !reply.status.is_success() {
            return Ok(());
        }
        let bearer = header(request, AUTHORIZATION).and_then(|value| value.trim().split_once([' ', '\t'])).is_some_and(
            |(scheme, key)| scheme.eq_ignore_ascii_case("bearer") && api.keys.iter().any(|k| k == key.trim()),
        );
        let sender = serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|json| json.get("sender_id").and_then(Value::as_str).map(str::to_string));
        if bearer && sender.is_some_and(|sender| api.senders.contains(&sender)) {
            Ok(())
        } else {
            Err(format!("accepted ({}) without an API key and an allowed sender_id", reply.status))
        }
    }
}
