//! The promises every handler keeps, whatever it is sent, as checks on one
//! answered request. Shared by the fuzz targets (`fuzz/`) and the property
//! tests (`tests/tests/properties.rs`), so both hold the handlers to the
//! same rules:
//!
//! - 5xx only as 503, and 503 only when the queue is down;
//! - a 2xx means every Envelope the queue received decodes with the
//!   processor's decoder and round-trips through it unchanged, fits the
//!   queue's message limit and has a dedup key DynamoDB accepts;
//! - a refusal enqueues nothing and says why in `{"error": ...}`;
//! - no answer and no Envelope carries a configured secret, unless the
//!   sender itself put that text in the body (an echo of its own input).

use inlet_shared::envelope::{Envelope, is_refused_by_sqs};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::queue::{DEFAULT_MAX_MESSAGE_BYTES, MemoryPublisher};

/// DynamoDB refuses partition keys longer than this.
pub const DYNAMODB_MAX_KEY_BYTES: usize = 2048;

/// Settings whose values are secrets: comma-separated lists, `label=secret`
/// pairs (Telegram, Standard Webhooks) or `user:password` entries (HTTP Basic).
// BEGIN GENERATED: secret settings — edit the registry and run inlet gen
pub const SECRET_SETTINGS: [&str; 22] = [
    "LARK_VERIFICATION_TOKEN",
    "LARK_ENCRYPT_KEY",
    "ALERTMANAGER_BASIC_AUTH",
    "ALERTMANAGER_BEARER_TOKENS",
    "GRAFANA_BASIC_AUTH",
    "GRAFANA_BEARER_TOKENS",
    "GRAFANA_HMAC_SECRET",
    "ALERT_API_KEYS",
    "DISCORD_DEV_SIGNING_SEED",
    "TELEGRAM_SECRET_TOKENS",
    "OPENIM_PATH_TOKEN",
    "OPENIM_DECISION_SECRET",
    "SLACK_SIGNING_SECRET",
    "GITHUB_WEBHOOK_SECRET",
    "STRIPE_WEBHOOK_SECRET",
    "STANDARD_WEBHOOKS_SECRETS",
    "WECOM_TOKEN",
    "WECOM_ENCODING_AES_KEY",
    "DINGTALK_APP_SECRET",
    "HOOK_SECRETS",
    "HOOK_VERIFY_TOKENS",
    "HOOK_DEV_SIGNING_KEYS",
];
// END GENERATED

/// Settings of `label=secret` pairs: Telegram's `bot=secret`, Standard
/// Webhooks' `source=whsec_...`.
pub const LABELLED_SECRET_SETTINGS: [&str; 2] = ["TELEGRAM_SECRET_TOKENS", "STANDARD_WEBHOOKS_SECRETS"];

/// Every secret value in `settings`, in each form a leak could take: the
/// value, the password of a `user:password` pair, and the Basic header's
/// base64 of the pair.
pub fn configured_secrets<'a>(settings: impl Fn(&str) -> Option<&'a str>) -> Vec<String> {
    use base64::Engine as _;
    let mut secrets = Vec::new();
    for setting in SECRET_SETTINGS {
        for entry in settings(setting).unwrap_or_default().split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let value = match entry.split_once('=') {
                Some((_, value)) if LABELLED_SECRET_SETTINGS.contains(&setting) => value.trim(),
                _ => entry,
            };
            secrets.push(value.to_string());
            // A Standard Webhooks key is also leaked without its `whsec_` prefix.
            if let Some(bare) = value.strip_prefix("whsec_") {
                secrets.push(bare.to_string());
            }
            if setting.ends_with("_BASIC_AUTH") {
                if let Some((_, password)) = value.split_once(':') {
                    secrets.push(password.to_string());
                }
                secrets.push(base64::engine::general_purpose::STANDARD.encode(value));
            }
        }
    }
    // Short values could turn up by chance; every configured one is long.
    secrets.retain(|s| s.len() >= 8);
    secrets.sort();
    secrets.dedup();
    secrets
}

/// Headers whose values are credentials, never text the sender may see echoed.
pub const CREDENTIAL_HEADERS: [&str; 2] = ["authorization", "x-telegram-bot-api-secret-token"];

/// Query parameters whose values are credentials (Meta's verify token).
pub const CREDENTIAL_QUERY: [&str; 1] = ["hub.verify_token"];

/// What the sender wrote itself: `plaintext` (the body before the harness
/// signed or encrypted it), the body, the method, every header but the
/// credentials, every query value but the credentials (a handshake's
/// challenge, which Meta and Dropbox require echoed), and the path's last
/// segment (a bot name or OpenIM command, which refusals may quote). Not the
/// rest of the path, which may hold a secret (OpenIM's token).
pub fn sender_text(request: &IncomingRequest, plaintext: &[u8]) -> Vec<Vec<u8>> {
    let last_segment = request.path.rsplit('/').next().unwrap_or_default();
    let mut text = vec![
        plaintext.to_vec(),
        request.body.clone(),
        request.method.as_str().as_bytes().to_vec(),
        last_segment.as_bytes().to_vec(),
    ];
    for (name, value) in &request.headers {
        if !CREDENTIAL_HEADERS.contains(&name.as_str()) {
            text.push(value.as_bytes().to_vec());
        }
    }
    for (name, value) in &request.query {
        if !CREDENTIAL_QUERY.contains(&name.as_str()) {
            text.push(value.as_bytes().to_vec());
        }
    }
    text
}

/// What the checks need to know about the request besides its answer.
pub struct Sent<'a> {
    /// The queue was down while the request was handled.
    pub publisher_down: bool,
    pub secrets: &'a [String],
    /// Text the sender wrote itself ([`sender_text`]): a secret found
    /// there may be echoed without leaking anything.
    pub sender_text: &'a [Vec<u8>],
}

impl Sent<'_> {
    /// The first configured secret in `text` that the sender did not write.
    fn leaked_secret(&self, text: &[u8]) -> Option<&str> {
        self.secrets
            .iter()
            .find(|secret| {
                contains(text, secret.as_bytes()) && !self.sender_text.iter().any(|t| contains(t, secret.as_bytes()))
            })
            .map(String::as_str)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

/// Checks every promise for one answered request; the error says which broke.
pub fn check_answer(reply: &Reply, publisher: &MemoryPublisher, sent: &Sent<'_>) -> Result<(), String> {
    let status = reply.status.as_u16();
    let body = String::from_utf8_lossy(&reply.body);
    if status >= 500 && (status != 503 || !sent.publisher_down) {
        return Err(format!("answered {status} (queue down: {}): {body}", sent.publisher_down));
    }
    if let Some(secret) = sent.leaked_secret(&reply.body) {
        return Err(format!("answer {status} contains the configured secret {secret:?}: {body}"));
    }
    let messages = publisher.sent_messages();
    if !reply.status.is_success() {
        if !messages.is_empty() {
            return Err(format!("refused with {status} but enqueued {} message(s)", messages.len()));
        }
        if (400..500).contains(&status) {
            let reason = reply.body_json().and_then(|json| json.get("error").and_then(|e| e.as_str().map(str::len)));
            if reason.is_none_or(|len| len == 0) {
                return Err(format!("refusal {status} does not say why in {{\"error\": ...}}: {body}"));
            }
        }
        return Ok(());
    }
    for message in &messages {
        check_message(&message.body, message.size(), sent)?;
    }
    Ok(())
}

/// One queued message: what the processor will decode, and whether a
/// consumer that writes the Envelope out again gets the same one back.
fn check_message(body: &str, size: usize, sent: &Sent<'_>) -> Result<(), String> {
    let envelope = Envelope::decode(body).map_err(|e| format!("queued message does not decode ({e}): {body}"))?;
    round_trips(&envelope)?;
    if size > DEFAULT_MAX_MESSAGE_BYTES {
        return Err(format!("queued message is {size} bytes, over the queue's {DEFAULT_MAX_MESSAGE_BYTES}"));
    }
    if body.contains(is_refused_by_sqs) {
        return Err("queued message holds a character SQS refuses".into());
    }
    if envelope.id.is_empty() || envelope.id.len() > DYNAMODB_MAX_KEY_BYTES {
        return Err(format!("Envelope id of {} bytes is not a valid dedup key", envelope.id.len()));
    }
    if let Some(secret) = sent.leaked_secret(body.as_bytes()) {
        return Err(format!("queued Envelope contains the configured secret {secret:?}"));
    }
    Ok(())
}

/// `Envelope::decode` of the Envelope written out (as serde_json writes it
/// and as the queue encoding writes it) is the same Envelope.
pub fn round_trips(envelope: &Envelope) -> Result<(), String> {
    let plain = serde_json::to_string(envelope).map_err(|e| format!("Envelope does not serialize: {e}"))?;
    match Envelope::decode(&plain) {
        Ok(back) if &back == envelope => {}
        Ok(back) => return Err(format!("Envelope changes through serde_json and decode:\n{plain}\n{back:?}")),
        Err(e) => return Err(format!("serialized Envelope does not decode ({e}): {plain}")),
    }
    let encoded = envelope.encode().map_err(|e| format!("Envelope does not encode: {e}"))?;
    match Envelope::decode(&encoded) {
        Ok(back) if &back == envelope => Ok(()),
        Ok(_) => Err(format!("Envelope changes through encode and decode: {encoded}")),
        Err(e) => Err(format!("encoded Envelope does not decode ({e}): {encoded}")),
    }
}
