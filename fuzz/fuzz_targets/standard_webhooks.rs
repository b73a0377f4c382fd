#![no_main]
//! The Standard Webhooks handler over arbitrary requests, on the harness
//! (`inlet_fuzz::harness`, which checks the general promises: among them
//! that every 401 is the one fixed body, and that no configured secret, as
//! written or as the decoded key, appears in an answer or a queued
//! Envelope unless the sender wrote it). The deployment has
//! three sources: `devsource` with two `whsec_` secrets (rotation),
//! `fuzzsource` with one, and `pubsource` with only a `whpk_` public key,
//! whose private half (made here from a fixed seed) only the harness holds.
//! Each key signs in its own version: a secret writes `v1,<HMAC-SHA256>`,
//! the public key's private half `v1a,<Ed25519>`. Modes (the control byte's
//! bits 3–7): 0 raw · 1 signed now with the first key of the path's source
//! · 2 signed with its last key at the input's own `webhook-timestamp` · 3
//! signed now with another source's key (`devsource` gets `pubsource`'s
//! `v1a`; `pubsource` gets a `v1` of `devsource`'s secret, after a `v1`
//! HMAC keyed with its own public key's bytes) · 4 as 1, after a `v1a`
//! entry and an unreadable one.
//!
//! The oracle a 2xx is held to: for a key of exactly the source the path
//! names, a `v1` entry equal to the HMAC-SHA256 (computed here with the
//! hmac crate) of `{webhook-id}.{timestamp}.{body}` under a `whsec_`
//! secret, or a `v1a` entry equal to the Ed25519 signature (computed here
//! with ed25519-dalek) of the same content by the private half of a
//! `whpk_` key, and a timestamp within the tolerance both ways; so no `v1`
//! entry, whatever it is keyed with, ever satisfies `pubsource`. A request
//! signed now with a key of the path's source is genuine: never refused as
//! unauthenticated (else a verifier that refused every `v1a` would pass the
//! oracle).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signer as _;
use ed25519_dalek::SigningKey;
use hmac::{KeyInit, Mac};
use inlet_fuzz::harness::{Exchange, Platform, Prepared};
use inlet_fuzz::{NOW_UNIX, set_header, settings_adding};
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::Provider;
use standard_webhooks::scheme::{lenient_secret_key, python_b64decode, timestamp_of};
use standard_webhooks::{ID_HEADER, SETTING, SIGNATURE_HEADER, StandardWebhooksFunction, TIMESTAMP_HEADER};

/// A second source, and a second secret for the dev source.
const EXTRA: &str = "fuzzsource=whsec_ZnV6ei1zb3VyY2Utc2VjcmV0LU5PVC1BLVNFQ1JFVA==,devsource=whsec_ZnV6ei1yb3RhdGVkLWRldnNvdXJjZS1zZWNyZXQ=";
/// The source verified with a `whpk_` public key only. As long as
/// `devsource`, so that a dictionary word written over the seeds' source
/// leaves a path that names it.
const PUBLIC_KEY_SOURCE: &str = "pubsource";
/// The Ed25519 seed of `pubsource`'s sender: fixed, so crash files replay.
const SENDER_SEED: [u8; 32] = *b"inlet-fuzz-whpk-seed-NOT-SECRET!";

/// How a configured key signs, for the harness and for the oracle alike.
enum Signer {
    /// A `whsec_` secret: `v1`, HMAC-SHA256 under the decoded key.
    Hmac(Vec<u8>),
    /// A `whpk_` public key: `v1a`, Ed25519 by its private half, which the
    /// deployment never sees.
    Ed25519(SigningKey),
}

struct Key {
    source: String,
    /// The value as configured (`whsec_…` or `whpk_…`).
    configured: String,
    signer: Signer,
}

struct Sources {
    function: StandardWebhooksFunction,
    keys: Vec<Key>,
    tolerance_secs: u64,
}

fn oracle_mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Ed25519 (RFC 8032) is deterministic: this is the one signature of the
/// content by the key, and since the deployment verifies strictly (no
/// malleable variants), the only one that can verify without the seed.
fn oracle_signature(key: &SigningKey, id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let content = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body].concat();
    key.sign(&content).to_bytes().to_vec()
}

/// The entry `signer` writes, in its own version.
fn signed_entry(signer: &Signer, id: &str, timestamp: &str, body: &[u8]) -> String {
    match signer {
        Signer::Hmac(key) => format!("v1,{}", BASE64.encode(oracle_mac(key, id, timestamp, body))),
        Signer::Ed25519(key) => format!("v1a,{}", BASE64.encode(oracle_signature(key, id, timestamp, body))),
    }
}

fn source_in(request: &IncomingRequest) -> String {
    request
        .path_params
        .get("source")
        .cloned()
        .unwrap_or_else(|| request.path.rsplit('/').find(|s| !s.is_empty()).unwrap_or_default().to_string())
}

impl Platform for Sources {
    type Function = StandardWebhooksFunction;
    const MODES: usize = 5;

    fn deploy() -> Self {
        let sender = SigningKey::from_bytes(&SENDER_SEED);
        // Written here as the specification serializes it, not with the
        // crate's helper: the deployment must read what a sender publishes.
        let whpk = format!("whpk_{}", BASE64.encode(sender.verifying_key().to_bytes()));
        // Listed right after the dev secret, so that `devsource`'s "another
        // source" (mode 3) is the public key: a `v1a` where only secrets are
        // configured, as `pubsource`'s is a `v1` where only a public key is.
        let added = format!("{PUBLIC_KEY_SOURCE}={whpk},{EXTRA}");
        let settings = settings_adding(SETTING, &added);
        let keys = settings[SETTING]
            .split(',')
            .filter_map(|pair| pair.trim().split_once('='))
            .map(|(source, configured)| {
                let signer = if configured == whpk {
                    Signer::Ed25519(sender.clone())
                } else {
                    Signer::Hmac(lenient_secret_key(configured).expect("configured key"))
                };
                Key { source: source.to_string(), configured: configured.to_string(), signer }
            })
            .collect();
        let function = StandardWebhooksFunction::from_env(&settings).expect("standard-webhooks settings");
        let tolerance_secs = function.ingress.timestamp_window.tolerance_secs;
        Sources { function, keys, tolerance_secs }
    }

    /// Every `whsec_` secret without its prefix and as the decoded key. A
    /// `whpk_` key is public (nothing to keep out), and its private half
    /// never reaches the deployment.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        for key in &self.keys {
            let Signer::Hmac(decoded) = &key.signer else { continue };
            secrets.push(key.configured.trim_start_matches("whsec_").to_string());
            secrets.extend(String::from_utf8(decoded.clone()));
        }
        secrets
    }

    fn prepare(&self, mode: usize, request: &mut IncomingRequest) -> Prepared<'_, StandardWebhooksFunction> {
        let answered = Prepared::by(&self.function);
        if mode == 0 {
            return answered;
        }
        let source = source_in(request);
        let own: Vec<&Key> = self.keys.iter().filter(|k| k.source == source).collect();
        let other = self.keys.iter().find(|k| k.source != source);
        let chosen = match mode {
            2 => own.last().copied(),
            3 => other,
            _ => own.first().copied(),
        };
        let Some(key) = chosen.or(self.keys.first()) else { return answered };
        let id = request.header(ID_HEADER).unwrap_or("msg_fuzz").to_string();
        let timestamp = match mode {
            2 => request.header(TIMESTAMP_HEADER).unwrap_or("1700000000").to_string(),
            _ => NOW_UNIX.to_string(),
        };
        let signed_as = timestamp_of(&timestamp).map(|t| t.to_string()).unwrap_or_else(|| timestamp.clone());
        let entry = signed_entry(&key.signer, &id, &signed_as, &request.body);
        // A public key's bytes are anyone's: an HMAC keyed with them is
        // what a forger would present to a receiver that read `whpk_` as
        // `whsec_`.
        let forged = own.iter().find_map(|k| match &k.signer {
            Signer::Ed25519(private) => {
                let public = private.verifying_key().to_bytes();
                Some(format!("v1,{}", BASE64.encode(oracle_mac(&public, &id, &signed_as, &request.body))))
            }
            Signer::Hmac(_) => None,
        });
        let header = match (mode, forged) {
            (3, Some(forged)) => format!("{forged} {entry}"),
            (4, _) => format!("v1a,AAAA v2,x,y {entry}"),
            _ => entry,
        };
        set_header(request, ID_HEADER, &id);
        set_header(request, TIMESTAMP_HEADER, &timestamp);
        set_header(request, SIGNATURE_HEADER, &header);
        // Only where the handler reads the same source (the path parameter,
        // as API Gateway fills it) and a webhook-id (an empty one is missing).
        answered.genuine(mode == 1 && !own.is_empty() && !id.is_empty() && request.path_params.contains_key("source"))
    }

    /// Written without the provider's verifier: each key is satisfied only
    /// by an entry of its own version, so a `whpk_` source never by a `v1`
    /// and a `whsec_` source never by a `v1a`.
    fn authenticated(&self, exchange: &Exchange<'_>) -> Result<(), String> {
        let request = exchange.request;
        let source = source_in(request);
        let id = request.header(ID_HEADER).unwrap_or_default();
        let Some(timestamp) = request.header(TIMESTAMP_HEADER).and_then(timestamp_of) else {
            return Err("without a readable webhook-timestamp".into());
        };
        if (i128::from(timestamp) - i128::from(NOW_UNIX)).unsigned_abs() > u128::from(self.tolerance_secs) {
            return Err(format!("a timestamp {timestamp} outside the window"));
        }
        let header = request.header(SIGNATURE_HEADER).unwrap_or_default();
        let presented = |version: &str| -> Vec<Vec<u8>> {
            header.split(' ').filter_map(|entry| entry.strip_prefix(version)).filter_map(python_b64decode).collect()
        };
        let (v1, v1a) = (presented("v1,"), presented("v1a,"));
        let timestamp = timestamp.to_string();
        let signed = self.keys.iter().filter(|k| k.source == source).any(|key| match &key.signer {
            Signer::Hmac(secret) => v1.contains(&oracle_mac(secret, id, &timestamp, &request.body)),
            Signer::Ed25519(private) => v1a.contains(&oracle_signature(private, id, &timestamp, &request.body)),
        });
        if signed {
            Ok(())
        } else {
            Err(format!("for source {source:?} without a v1 of its secret or a v1a of its key's owner"))
        }
    }
}

inlet_fuzz::platform_target!("standard_webhooks", Sources);
