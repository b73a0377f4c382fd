//! The settings: which source speaks which preset (`HOOK_SOURCES`), its
//! secrets (`HOOK_SECRETS`), and the second value some handshakes need
//! (`HOOK_VERIFY_TOKENS`). Everything is checked at start-up, so a
//! half-configured source stops the function instead of refusing its
//! sender's requests one by one.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use inlet_shared::prelude::*;
use inlet_shared::verify::Secret;
use p256::pkcs8::DecodePublicKey;

use crate::presets::{Handshake, KeyForm, Preset, preset};

pub const SOURCES: &str = "HOOK_SOURCES";
pub const SECRETS: &str = "HOOK_SECRETS";
pub const VERIFY_TOKENS: &str = "HOOK_VERIFY_TOKENS";

/// Standard base64 as senders print it: padded or not, unused bits ignored
/// (a key is what it decodes to).
pub const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// One configured source.
pub struct Source {
    /// Its name: the path's `{source}`, the Envelope's tenant.
    pub name: String,
    pub preset: &'static Preset,
    /// Its secrets, in `HOOK_SECRETS` order (several while rotating).
    pub keys: Vec<SourceKey>,
    /// Its `HOOK_VERIFY_TOKENS` values (Meta's `hub.verify_token`).
    pub verify_tokens: Vec<Secret>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("preset", &self.preset.name)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// One secret of a source and the name `verification.matched` records.
pub struct SourceKey {
    /// `HOOK_SECRETS:<source>`, or `HOOK_SECRETS:<source>#<n>` when the
    /// source has several.
    pub name: String,
    pub key: Key,
}

impl std::fmt::Debug for SourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceKey").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A secret as its preset's algorithm uses it.
pub enum Key {
    /// HMAC key, token, or `user:password`.
    Bytes(Vec<u8>),
    /// SendGrid's verification key.
    P256(Box<p256::ecdsa::VerifyingKey>),
    /// `whsec_…` or `whpk_…`.
    StandardWebhooks(standard_webhooks::scheme::Key),
}

/// A source name: 1–64 of `A-Za-z0-9_-`, one path segment.
pub fn valid_source(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `name=preset` pairs of `HOOK_SOURCES`, in order, unchecked: what the
/// samples read (the function reads them through [`sources`]).
pub fn source_pairs(raw: &str) -> impl Iterator<Item = (&str, &str)> {
    raw.split(',').map(str::trim).filter(|pair| !pair.is_empty()).filter_map(|pair| {
        let (name, preset) = pair.split_once('=')?;
        Some((name.trim(), preset.trim()))
    })
}

/// The secrets listed for `source` in a `HOOK_SECRETS`-style value, in
/// order, unchecked (the samples' view).
pub fn labelled<'a>(raw: &'a str, source: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    raw.split(',').map(str::trim).filter_map(move |pair| {
        let (label, value) = pair.split_once('=')?;
        (label.trim() == source).then(|| value.trim()).filter(|value| !value.is_empty())
    })
}

/// Reads and checks the three settings.
pub fn sources(env: &dyn EnvSource) -> Result<Vec<Source>, ConfigError> {
    let raw_sources = env.get(SOURCES).unwrap_or_default();
    let mut sources: Vec<Source> = Vec::new();
    for pair in raw_sources.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
        let (name, preset_name) = pair
            .split_once('=')
            .map(|(n, p)| (n.trim(), p.trim()))
            .ok_or_else(|| ConfigError::new(SOURCES, "each entry must be source=preset"))?;
        if !valid_source(name) {
            return Err(ConfigError::new(SOURCES, format!("source name {name:?} must be 1-64 of A-Za-z0-9_-")));
        }
        let preset = preset(preset_name).ok_or_else(|| {
            ConfigError::new(SOURCES, format!("source {name}: no preset {preset_name:?} (see docs/platforms/hooks.md)"))
        })?;
        if sources.iter().any(|source| source.name == name) {
            return Err(ConfigError::new(SOURCES, format!("source {name} is listed twice")));
        }
        sources.push(Source { name: name.to_string(), preset, keys: Vec::new(), verify_tokens: Vec::new() });
    }
    if sources.is_empty() {
        return Err(ConfigError::new(
            SOURCES,
            "is required: source=preset pairs, comma-separated (e.g. billing=paddle,shop=shopify)",
        ));
    }
    read_secrets(env, &mut sources)?;
    read_verify_tokens(env, &mut sources)?;
    Ok(sources)
}

fn read_secrets(env: &dyn EnvSource, sources: &mut [Source]) -> Result<(), ConfigError> {
    let list = SecretList::parse_labelled(SECRETS, &env.get(SECRETS).unwrap_or_default())?;
    for entry in list.iter() {
        let label = entry.name.strip_prefix(SECRETS).and_then(|s| s.strip_prefix(':')).unwrap_or_default();
        let source = sources.iter_mut().find(|source| source.name == label).ok_or_else(|| {
            ConfigError::new(SECRETS, format!("a secret for source {label:?}, which HOOK_SOURCES does not list"))
        })?;
        let key = parse_key(source.preset.proof.key, entry.value.expose())
            .map_err(|why| ConfigError::new(SECRETS, format!("the secret of source {label} {why}")))?;
        source.keys.push(SourceKey { name: String::new(), key });
    }
    for source in sources.iter_mut() {
        if source.keys.is_empty() {
            return Err(ConfigError::new(
                SECRETS,
                format!("source {} ({}) has no secret: add {}=…", source.name, source.preset.name, source.name),
            ));
        }
        let several = source.keys.len() > 1;
        for (position, key) in source.keys.iter_mut().enumerate() {
            key.name = if several {
                format!("{SECRETS}:{}#{}", source.name, position + 1)
            } else {
                format!("{SECRETS}:{}", source.name)
            };
        }
    }
    Ok(())
}

fn read_verify_tokens(env: &dyn EnvSource, sources: &mut [Source]) -> Result<(), ConfigError> {
    let list = SecretList::parse_labelled(VERIFY_TOKENS, &env.get(VERIFY_TOKENS).unwrap_or_default())?;
    for entry in list.iter() {
        let label = entry.name.strip_prefix(VERIFY_TOKENS).and_then(|s| s.strip_prefix(':')).unwrap_or_default();
        let source = sources.iter_mut().find(|source| source.name == label).ok_or_else(|| {
            ConfigError::new(VERIFY_TOKENS, format!("a token for source {label:?}, which HOOK_SOURCES does not list"))
        })?;
        if !needs_verify_token(source.preset) {
            return Err(ConfigError::new(
                VERIFY_TOKENS,
                format!("source {label} ({}) has no handshake that reads a verify token", source.preset.name),
            ));
        }
        source.verify_tokens.push(entry.value.clone());
    }
    if let Some(source) = sources.iter().find(|s| needs_verify_token(s.preset) && s.verify_tokens.is_empty()) {
        return Err(ConfigError::new(
            VERIFY_TOKENS,
            format!(
                "source {} ({}) needs its verify token: add {}=… (the value given as the sender's Verify Token)",
                source.name, source.preset.name, source.name
            ),
        ));
    }
    Ok(())
}

/// Whether a preset's handshake checks a second value.
pub fn needs_verify_token(preset: &Preset) -> bool {
    preset.handshake == Handshake::MetaHubChallenge
}

/// One secret as `form` says. The reason never repeats the value.
pub fn parse_key(form: KeyForm, value: &str) -> Result<Key, String> {
    match form {
        KeyForm::Text => Ok(Key::Bytes(value.as_bytes().to_vec())),
        KeyForm::Base64 => match LENIENT_BASE64.decode(value) {
            Ok(bytes) if !bytes.is_empty() => Ok(Key::Bytes(bytes)),
            _ => Err("is not base64 of a key".into()),
        },
        KeyForm::UserPassword => match value.split_once(':') {
            Some((user, _)) if !user.is_empty() => Ok(Key::Bytes(value.as_bytes().to_vec())),
            _ => Err("must be user:password".into()),
        },
        KeyForm::StandardWebhooks => standard_webhooks::scheme::Key::parse(value).map(Key::StandardWebhooks),
        KeyForm::P256PublicKey => {
            let der = LENIENT_BASE64.decode(value).map_err(|_| "is not base64 (the key as SendGrid shows it)")?;
            p256::ecdsa::VerifyingKey::from_public_key_der(&der)
                .map(|key| Key::P256(Box::new(key)))
                .map_err(|_| "is not a P-256 public key (base64 DER, as SendGrid shows it)".into())
        }
    }
}
