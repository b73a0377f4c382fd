//! Standard Webhooks samples for the first source in
//! `STANDARD_WEBHOOKS_SECRETS` that has a `whsec_` secret (a `whpk_` public
//! key cannot sign), signed with that secret at the sample's
//! timestamp, in the specification's recommended payload shape
//! (`{type, timestamp, data}`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use inlet_shared::prelude::*;
use inlet_shared::verify::sha256_hex;

use crate::scheme::{PUBLIC_KEY_PREFIX, lenient_secret_key, sign};
use crate::{ID_HEADER, SETTING, SIGNATURE_HEADER, StandardWebhooksFunction, TIMESTAMP_HEADER};

impl Samples for StandardWebhooksFunction {
    const SAMPLE_NAMES: &'static [&'static str] = &["standard-webhooks-event", "standard-webhooks-several-signatures"];

    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let secrets = SecretList::parse_labelled(SETTING, &env.get(SETTING)?).ok()?;
        let entry = secrets.iter().find(|entry| !entry.value.expose().starts_with(PUBLIC_KEY_PREFIX))?;
        let source = entry.name.split_once(':')?.1.to_string();
        let key = lenient_secret_key(entry.value.expose())?;
        let id = message_id(name, unique);
        let at = OffsetDateTime::from_unix_timestamp(timestamp).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let (description, body) = match name {
            "standard-webhooks-event" => (
                "invoice.paid in the recommended {type, timestamp, data} shape",
                json!({
                    "type": "invoice.paid",
                    "timestamp": inlet_shared::envelope::rfc3339(at),
                    "data": {"id": "invoice_31415", "amount": 4200, "currency": "EUR", "customer": {"id": "cust_271828", "name": "Zoë"}}
                }),
            ),
            "standard-webhooks-several-signatures" => (
                "a v1a entry, a v1 of an older secret, then the configured secret's v1 (any v1 may match)",
                json!({
                    "type": "user.created",
                    "timestamp": inlet_shared::envelope::rfc3339(at),
                    "data": {"id": "user_1618", "email": "new.user@example.com"}
                }),
            ),
            _ => return None,
        };
        let body = body.to_string();
        let own = sign(&key, &id, timestamp, body.as_bytes());
        let signature = match name {
            "standard-webhooks-several-signatures" => {
                // v1a is the asymmetric (Ed25519) version: a whsec_ secret skips it.
                let v1a = format!("v1a,{}", BASE64.encode([0x5a; 64]));
                let older = sign(b"an older secret, rotated out", &id, timestamp, body.as_bytes());
                format!("{v1a} {older} {own}")
            }
            _ => own,
        };
        Some(signed_request(name, description, &source, &id, timestamp, body, &signature))
    }
}

/// A request as a Standard Webhooks sender posts it to `/webhooks/{source}`.
pub fn signed_request(
    name: &str,
    description: &str,
    source: &str,
    id: &str,
    timestamp: i64,
    body: String,
    signature: &str,
) -> SampleRequest {
    SampleRequest::post_json(name, description, &format!("/webhooks/{source}"), body)
        .with_path_param("source", source)
        .with_header("user-agent", "inlet-sample-sender/1.0 (Standard Webhooks)")
        .with_header(ID_HEADER, id)
        .with_header(TIMESTAMP_HEADER, timestamp.to_string())
        .with_header(SIGNATURE_HEADER, signature)
}

/// A `msg_…` id derived from `unique`: the same unique, the same message.
pub fn message_id(name: &str, unique: &str) -> String {
    format!("msg_{}", &sha256_hex(format!("{name}:{unique}").as_bytes())[..27])
}
