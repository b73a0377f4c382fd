//! The normalized Envelope: one JSON document per event on the queue.
//!
//! Field names are a public contract read by consumers; they are documented
//! in docs/reference/envelope.md and must stay stable.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::IngressError;
use crate::json;
use crate::verify::sha256_hex;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Dedup key: `<provider>:<provider's own event id>`, or
    /// `<provider>:sha256:<hex>` of the body when the provider has no id.
    pub id: String,
    pub provider: String,
    /// The provider's own event type, e.g. `im.message.receive_v1`.
    pub kind: String,
    /// App, bot or organisation the event belongs to, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// When inlet received the request, RFC 3339 in UTC.
    pub received_at: String,
    pub verification: Verification,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertView>,
    /// The provider's own event id when it was too long to be a dedup key
    /// and `id` carries its SHA-256 instead (see [`Envelope::MAX_ID_BYTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_id: Option<String>,
    /// Set when `payload` is a notification that names what happened
    /// without its data (Stripe's v2 "thin" events): what a consumer
    /// fetches from the provider's API to learn it, in the provider's terms
    /// (docs/reference/envelope.md). Absent for events that carry their data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<Value>,
    /// The provider's (decrypted) JSON, unchanged: the bytes it sent.
    pub payload: Payload,
}

/// The Envelope's `payload`: the JSON the platform sent (for an encrypted
/// body, the decrypted plaintext), kept as its bytes and written into the
/// queued Envelope as they are, not rebuilt from a parsed tree.
///
/// A provider makes one from the text its view of the body was read from
/// ([`Payload::from_json`]), or, where it builds the payload itself (form
/// bodies, XML, one alert of a group), from a `Value`. Consumers read it
/// with [`Payload::parse`] or [`Payload::to_value`].
#[derive(Clone)]
pub struct Payload(Box<RawValue>);

impl Payload {
    /// JSON text as the platform sent it (surrounding whitespace dropped).
    /// Refused when it is not one JSON value (a provider has read it already,
    /// so that does not happen in the flow).
    pub fn from_json(text: impl Into<String>) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text.into()).map(Payload)
    }

    /// Reads a request body as the view `T` and keeps it whole as the
    /// payload: one parse, the view's, which checks the whole body as a
    /// `Value` parse would (see [`crate::json`]); the payload is a copy of
    /// the bytes it read.
    pub fn view<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<(T, Payload), IngressError> {
        Self::view_str(json::text_of(body)?)
    }

    /// [`Payload::view`] of JSON text (a form field, a decrypted body).
    pub fn view_str<'a, T: Deserialize<'a>>(text: &'a str) -> Result<(T, Payload), IngressError> {
        let view = json::read_str::<T>(text)?;
        Ok((view, Self::parsed(text)?))
    }

    /// [`Payload::view_str`], keeping what `keep` says of the text once the
    /// view is read: nothing, all of it, or all but a secret the platform
    /// repeats in its body.
    pub fn view_keeping<'a, T: Deserialize<'a>>(
        text: &'a str,
        keep: impl FnOnce(&T) -> Keep,
    ) -> Result<(T, Option<Payload>), IngressError> {
        let view = json::read_str::<T>(text)?;
        let payload = match keep(&view) {
            Keep::Nothing => None,
            Keep::Whole => Some(Self::parsed(text)?),
            Keep::Without { path, name, found } => Some(Self::parsed_without(text, path, name, found)?),
        };
        Ok((view, payload))
    }

    /// `text`, which serde_json has just read whole as some type.
    fn parsed(text: &str) -> Result<Payload, IngressError> {
        let text = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        if text.is_empty() {
            return Err(IngressError::malformed("body is not valid JSON (empty)"));
        }
        // SAFETY: serde_json's `from_str` returns Ok only when the
        // deserializer consumed exactly one whole JSON value with nothing
        // but whitespace around it (each of its methods consumes a whole
        // value or fails, containers their closing bracket too, and `end`
        // refuses anything after): with that whitespace trimmed, and
        // nothing consumed ruled out above, `text` is what RawValue holds.
        Ok(Payload(unsafe { RawValue::from_string_unchecked(text.to_string()) }))
    }

    /// [`Payload::parsed`] less the members `path`/`name` names.
    fn parsed_without(
        text: &str,
        path: &'static [&'static str],
        name: &'static str,
        found: Option<Vec<std::ops::Range<usize>>>,
    ) -> Result<Payload, IngressError> {
        let refused = |e: serde_json::Error| IngressError::malformed(format!("body is not valid JSON ({e})"));
        // Where the view placed them, every one a string literal: cut
        // without reading the text again.
        let cut =
            found.filter(|spans| spans.iter().all(|span| text.as_bytes().get(span.start) == Some(&b'"'))).and_then(
                |spans| if spans.is_empty() { Some(text.to_string()) } else { json::without_members(text, &spans) },
            );
        match cut {
            Some(mut cut) => {
                let trimmed = cut.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
                if trimmed.len() != cut.len() {
                    cut = trimmed.to_string();
                }
                // SAFETY: `text` is one JSON value (serde_json read it whole,
                // as in `parsed`), and `without_members` took out only whole
                // members, each checked to be `"key": "string"` after `{` or
                // `,` (json::member_cut), with one adjacent comma: what is
                // left is one JSON value, whose surrounding whitespace is
                // trimmed here.
                Ok(Payload(unsafe { RawValue::from_string_unchecked(cut) }))
            }
            // Looked up, and checked as it is made.
            None => json::without(text, path, name, None).and_then(Payload::from_json).map_err(refused),
        }
    }

    /// A payload the provider builds itself, written as serde_json writes
    /// the value.
    pub fn from_value(value: &Value) -> Self {
        // A Value always serializes (its keys are strings).
        serde_json::value::to_raw_value(value).map(Payload).unwrap_or_else(|_| Payload(RawValue::NULL.to_owned()))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// Reads the payload as `T` (a typed struct, a `Value`).
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// The payload as a `Value` tree.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        self.parse()
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Payload::from_value(&value)
    }
}

impl From<&Value> for Payload {
    fn from(value: &Value) -> Self {
        Payload::from_value(value)
    }
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Payload)
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.get())
    }
}

/// Equal when the two hold the same JSON: the same bytes, or text that
/// reads as the same value (an escape written for SQS, another key order).
impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        self.as_str() == other.as_str() || matches!((self.to_value(), other.to_value()), (Ok(a), Ok(b)) if a == b)
    }
}

impl PartialEq<Value> for Payload {
    fn eq(&self, other: &Value) -> bool {
        self.to_value().is_ok_and(|value| value == *other)
    }
}

impl PartialEq<Payload> for Value {
    fn eq(&self, other: &Payload) -> bool {
        other == self
    }
}

/// What a provider keeps, as the payload, of the JSON it read
/// ([`Payload::view_keeping`]).
pub enum Keep {
    /// Nothing: the request is answered, not queued.
    Nothing,
    /// The text as it is.
    Whole,
    /// The text less every member `name` of the objects `path` leads to (a
    /// secret the platform repeats in its body). `found`: where the view
    /// read them, when it could place every one
    /// ([`crate::json::Every::string_spans`]); else they are looked up.
    Without { path: &'static [&'static str], name: &'static str, found: Option<Vec<std::ops::Range<usize>>> },
}

/// How the request was proven genuine. `matched` names the configured
/// secret that matched (`LARK_ENCRYPT_KEY#2`), never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub scheme: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
}

/// Normalized view of a chat message, for chat platforms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Plain text of the message, when it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// What a sink needs to answer in the same conversation (provider-specific:
    /// a message id to reply to, an interaction token, a chat id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_handle: Option<Value>,
}

/// Normalized view of one alert, for alerting sources.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    pub name: String,
    /// `firing` or `resolved`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default)]
    pub labels: serde_json::Map<String, Value>,
    #[serde(default)]
    pub annotations: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_key: Option<String>,
}

impl Envelope {
    /// Longest `id` kept as it is. DynamoDB refuses partition keys over 2048
    /// bytes; longer provider ids become `<provider>:sha256:<hex of the id>`
    /// (the same id always hashes the same, so dedup still holds) and the
    /// original is kept in `original_id`.
    pub const MAX_ID_BYTES: usize = 512;

    /// Starts an Envelope with the fields every provider fills.
    pub fn new(
        provider: &str,
        event_id: &str,
        kind: &str,
        received_at: OffsetDateTime,
        verification: Verification,
        payload: impl Into<Payload>,
    ) -> Self {
        let id = format!("{provider}:{event_id}");
        let (id, original_id) = if id.len() <= Self::MAX_ID_BYTES {
            (id, None)
        } else {
            (format!("{provider}:sha256:{}", sha256_hex(event_id.as_bytes())), Some(event_id.to_string()))
        };
        Envelope {
            id,
            provider: provider.to_string(),
            kind: kind.to_string(),
            tenant: None,
            received_at: rfc3339(received_at),
            verification,
            message: None,
            alert: None,
            original_id,
            fetch: None,
            payload: payload.into(),
        }
    }

    /// Decodes a queue message body: the processor's decoder, and the one the
    /// ingress flow checks every Envelope against before acknowledging.
    ///
    /// The payload is kept as text, which serde_json reads without building
    /// it; the body is first checked as a `Value` of the whole Envelope
    /// would be (a consumer's, EventBridge's `detail`): the same JSON, the
    /// same nesting limit, numbers in range.
    pub fn decode(body: &str) -> Result<Envelope, serde_json::Error> {
        serde_json::from_str::<crate::json::Checked>(body)?;
        serde_json::from_str(body)
    }

    /// Whether [`Envelope::decode`] accepts `body`, bytes that
    /// [`Envelope::encode`] wrote: the rule [`Envelope::encode_checked`]
    /// applies while writing, stated over finished bytes (one pass that
    /// tracks the depth outside strings). The tests hold the two, and the
    /// decoder, to the same answer at every depth around the limit.
    pub fn check_decodable(body: &str) -> Result<(), String> {
        Self::check_depth(nesting_depth(body))
    }

    fn check_depth(deepest: usize) -> Result<(), String> {
        if deepest > Self::MAX_DECODABLE_DEPTH {
            return Err(format!(
                "nested {deepest} levels deep; the processor's decoder accepts {}",
                Self::MAX_DECODABLE_DEPTH
            ));
        }
        Ok(())
    }

    /// The deepest nesting of objects and arrays the decoder accepts:
    /// serde_json's recursion limit is 128, and the 128th level is refused.
    pub const MAX_DECODABLE_DEPTH: usize = 127;

    /// The event id used when a provider sends none but repeats a delivery
    /// byte for byte: a hash of the exact body. Only right for senders whose
    /// retries are identical bytes and whose real events never are (the
    /// processor remembers it for that provider's retry horizon).
    pub fn body_hash_id(body: &[u8]) -> String {
        format!("sha256:{}", sha256_hex(body))
    }

    /// The event id for a request that is its own event: senders that never
    /// retry, or whose repeats are real new events (Grafana legacy alerts,
    /// custom payloads, custom alerts without an Idempotency-Key). Never
    /// merges two requests: API Gateway's request id when there is one,
    /// else 128 random bits.
    pub fn request_scoped_id(request_id: Option<&str>) -> String {
        match request_id.filter(|id| !id.is_empty()) {
            Some(id) => format!("request:{id}"),
            None => {
                let mut bytes = [0u8; 16];
                // The OS generator does not fail on Lambda's or any test
                // machine's Linux; if it ever did, the clock and a counter
                // still keep ids apart within this process.
                if getrandom::fill(&mut bytes).is_err() {
                    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
                    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let seed = format!("{nanos}:{count}:{}", std::process::id());
                    bytes.copy_from_slice(&crate::verify::sha256_bytes(seed.as_bytes())[..16]);
                }
                format!("request:{}", hex::encode(bytes))
            }
        }
    }

    /// The queue message body: JSON in which every character SQS refuses
    /// (U+FFFE and U+FFFF; Rust strings hold no lone surrogates and JSON
    /// escapes control characters) is written as a `\u` escape, so the
    /// message is accepted and decodes to exactly the same Envelope.
    pub fn encode(&self) -> Result<String, serde_json::Error> {
        self.encode_measured().map(|(body, _)| body)
    }

    /// [`Envelope::encode`], and whether [`Envelope::decode`] accepts what it
    /// wrote, without parsing it again.
    ///
    /// Of what `encode` can write, the decoder refuses only one thing:
    /// nesting deeper than serde_json's recursion limit (the Envelope's own
    /// object counts as one level). Numbers come from `Value`s, finite and in
    /// range; strings are Rust strings, valid UTF-8 and escaped by the
    /// serializer; the payload is JSON a provider has read. So the formatter
    /// counts the nesting as it writes each `{` and `[` (and, for the
    /// payload's text, bounds it by its brackets), and the queued body needs
    /// no second pass.
    pub fn encode_checked(&self) -> Result<String, String> {
        let (body, deepest) = self.encode_measured().map_err(|e| e.to_string())?;
        Self::check_depth(deepest)?;
        Ok(body)
    }

    fn encode_measured(&self) -> Result<(String, usize), serde_json::Error> {
        // Room for the payload and the message text, which make most of it:
        // one allocation, not a doubling and a copy per kilobyte.
        let text = self.message.as_ref().and_then(|m| m.text.as_ref()).map_or(0, String::len);
        let mut out = Vec::with_capacity(512 + self.payload.as_str().len() + text + text / 8);
        let mut deepest = 0;
        let formatter = SqsSafeFormatter { depth: 0, deepest: &mut deepest };
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        self.serialize(&mut serializer)?;
        // The formatter writes only what serde_json would, plus ASCII escapes.
        let body = String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))?;
        Ok((body, deepest))
    }

    /// SHA-256 of the canonical payload, stored with the dedup record so the
    /// same id arriving with a different payload can be reported. Canonical:
    /// the payload as serde_json writes its `Value` (keys sorted), so a retry
    /// whose bytes differ only in key order or spacing hashes the same, and
    /// the hash is the one records written before the payload was kept as
    /// text hold.
    pub fn payload_hash(&self) -> String {
        match self.payload.to_value() {
            Ok(value) => sha256_hex(value.to_string().as_bytes()),
            Err(_) => sha256_hex(self.payload.as_str().as_bytes()),
        }
    }
}

/// serde_json's compact output, except that characters SQS refuses in a
/// message are escaped; it also keeps the deepest nesting it wrote.
struct SqsSafeFormatter<'a> {
    depth: usize,
    deepest: &'a mut usize,
}

impl SqsSafeFormatter<'_> {
    fn open<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.depth += 1;
        *self.deepest = (*self.deepest).max(self.depth);
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        writer.write_all(bracket)
    }
}

/// How deeply `json` nests objects and arrays: one pass that tracks the
/// depth outside strings.
fn nesting_depth(json: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in json.as_bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

impl serde_json::ser::Formatter for SqsSafeFormatter<'_> {
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.close(writer, b"]")
    }

    /// The payload's text, written as it is but for the characters SQS
    /// refuses, which valid JSON holds only inside strings, where a `\u`
    /// escape means the same. Its nesting counts on top of where it is
    /// written: bounded by its number of `{` and `[` (a SIMD count), and
    /// worked out exactly only when that bound reaches the limit.
    fn write_raw_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let opened = memchr::memchr2_iter(b'{', b'[', fragment.as_bytes()).count();
        let inner = if self.depth + opened <= Envelope::MAX_DECODABLE_DEPTH { opened } else { nesting_depth(fragment) };
        *self.deepest = (*self.deepest).max(self.depth + inner);
        self.write_string_fragment(writer, fragment)
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // Both refused characters start with the byte 0xEF in UTF-8; most
        // fragments hold none, and a byte search is far cheaper than
        // decoding every character.
        if !fragment.as_bytes().contains(&0xEF) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut rest = fragment;
        while let Some(at) = rest.find(is_refused_by_sqs) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let c = rest[at..].chars().next().unwrap_or('\u{fffd}');
            write!(writer, "\\u{:04x}", c as u32)?;
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
}

/// SQS accepts #x9 #xA #xD, #x20–#xD7FF, #xE000–#xFFFD and #x10000–#x10FFFF;
/// of what a JSON string fragment can hold raw, only these two are outside.
pub fn is_refused_by_sqs(c: char) -> bool {
    matches!(c, '\u{fffe}' | '\u{ffff}')
}

/// `received_at` of an encoded Envelope, in milliseconds since the epoch,
/// read without building the payload (the processor's `EventAge` metric).
pub fn received_at_ms(encoded: &str) -> Option<i64> {
    #[derive(Deserialize)]
    struct ReceivedAt {
        received_at: String,
    }
    let ReceivedAt { received_at } = serde_json::from_str(encoded).ok()?;
    let at = OffsetDateTime::parse(&received_at, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_at_reads_back_in_milliseconds() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let envelope =
            Envelope::new("p", "1", "k", at, Verification { scheme: "none".into(), matched: None }, Value::Null);
        assert_eq!(received_at_ms(&envelope.encode().unwrap()), Some(1_700_000_000_000));
        assert_eq!(received_at_ms(r#"{"received_at":"yesterday"}"#), None);
        assert_eq!(received_at_ms("not JSON"), None);
    }
    use serde_json::json;

    fn sample() -> Envelope {
        Envelope::new(
            "lark",
            "ev1",
            "im.message.receive_v1",
            OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            Verification { scheme: "lark-signature".into(), matched: Some("LARK_ENCRYPT_KEY#1".into()) },
            json!({"b": 1, "a": [1, 2]}),
        )
    }

    #[test]
    fn id_is_provider_scoped_and_time_is_rfc3339() {
        let envelope = sample();
        assert_eq!(envelope.id, "lark:ev1");
        assert_eq!(envelope.received_at, "2023-11-14T22:13:20Z");
    }

    #[test]
    fn absent_views_are_omitted_and_json_round_trips() {
        let envelope = sample();
        let text = serde_json::to_string(&envelope).unwrap();
        assert!(!text.contains("\"message\""));
        assert!(!text.contains("\"alert\""));
        assert!(!text.contains("\"fetch\""));
        let back: Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!(back, envelope);
    }

    #[test]
    fn fetch_is_additive_so_envelopes_without_it_read_and_write_as_before() {
        // An Envelope queued before the field existed decodes, and encodes
        // back to the same bytes.
        let before = r#"{"id":"p:1","provider":"p","kind":"k","received_at":"2023-11-14T22:13:20Z","verification":{"scheme":"s"},"payload":{}}"#;
        let envelope = Envelope::decode(before).unwrap();
        assert_eq!(envelope.fetch, None);
        assert_eq!(envelope.encode().unwrap(), before);
        let mut notification = envelope;
        notification.fetch = Some(json!({"event": "/v2/core/events/evt_1"}));
        let text = notification.encode().unwrap();
        assert!(text.contains(r#""fetch":{"event":"/v2/core/events/evt_1"},"payload""#), "{text}");
        assert_eq!(Envelope::decode(&text).unwrap(), notification);
    }

    #[test]
    fn body_hash_id_depends_on_every_byte() {
        assert_ne!(Envelope::body_hash_id(b"{}"), Envelope::body_hash_id(b"{} "));
        assert!(Envelope::body_hash_id(b"{}").starts_with("sha256:"));
    }

    #[test]
    fn long_ids_are_hashed_to_fit_the_table_and_keep_the_original() {
        let long = "x".repeat(3000);
        let at = OffsetDateTime::UNIX_EPOCH;
        let verification = Verification { scheme: "s".into(), matched: None };
        let envelope = Envelope::new("p", &long, "k", at, verification.clone(), json!({}));
        assert!(envelope.id.len() <= Envelope::MAX_ID_BYTES, "{}", envelope.id.len());
        assert!(envelope.id.starts_with("p:sha256:"));
        assert_eq!(envelope.original_id.as_deref(), Some(long.as_str()));
        let again = Envelope::new("p", &long, "k", at, verification.clone(), json!({}));
        assert_eq!(envelope.id, again.id, "the same long id must still deduplicate");
        let other = Envelope::new("p", &format!("{long}y"), "k", at, verification.clone(), json!({}));
        assert_ne!(envelope.id, other.id);
        let short = Envelope::new("p", "abc", "k", at, verification, json!({}));
        assert_eq!((short.id.as_str(), short.original_id), ("p:abc", None));
    }

    #[test]
    fn request_scoped_ids_never_repeat() {
        assert_eq!(Envelope::request_scoped_id(Some("abc")), "request:abc");
        let a = Envelope::request_scoped_id(None);
        let b = Envelope::request_scoped_id(None);
        assert_ne!(a, b);
        assert_eq!(a.len(), "request:".len() + 32);
    }

    #[test]
    fn encoding_escapes_what_sqs_refuses_and_decodes_to_the_same_envelope() {
        let mut envelope = sample();
        envelope.payload = json!({"text": "a\u{fffe}b\u{ffff}c\u{10ffff}\u{1}", "\u{ffff}key": 1}).into();
        envelope.kind = "kind\u{fffe}".into();
        let body = envelope.encode().unwrap();
        assert!(!body.contains(is_refused_by_sqs), "{body}");
        assert!(body.contains("\\ufffe") && body.contains("\\uffff"));
        assert_eq!(Envelope::decode(&body).unwrap(), envelope);
        // Without those characters the encoding is serde_json's own.
        assert_eq!(sample().encode().unwrap(), serde_json::to_string(&sample()).unwrap());
    }

    #[test]
    fn payload_hash_is_the_canonical_values_whatever_the_bytes() {
        // The hash records written before the payload was kept as text
        // hold: serde_json's writing of the Value, keys sorted.
        let value = json!({"b": 1, "a": [1, 2.5, "\u{e9}"]});
        let mut envelope = sample();
        envelope.payload = Payload::from_json(" {\"b\" : 1,\n \"a\":[1, 2.50, \"\\u00e9\"]} ").unwrap();
        assert_eq!(envelope.payload.as_str(), "{\"b\" : 1,\n \"a\":[1, 2.50, \"\\u00e9\"]}", "bytes kept, trimmed");
        assert_eq!(envelope.payload_hash(), sha256_hex(value.to_string().as_bytes()));
        assert_eq!(envelope.payload, value, "the same JSON");
        assert_eq!(envelope.payload, Payload::from_value(&value));
    }

    #[test]
    fn a_view_keeps_the_text_it_read_and_cuts_only_whole_members() {
        crate::json_object! {
            struct Secretive<'a> { secret: crate::json::Every<crate::json::Field<'a>> }
        }
        let text = r#" {"a": "x", "secret": "s1", "list": ["secret"], "secret" : "s2"} "#;
        let (_, whole) = Payload::view_str::<Secretive>(text).unwrap();
        assert_eq!(whole.as_str(), text.trim());
        let cut = |found: fn(&Secretive, &str) -> Option<Vec<std::ops::Range<usize>>>| {
            let (_, payload) = Payload::view_keeping(text, |view: &Secretive| Keep::Without {
                path: &[],
                name: "secret",
                found: found(view, text),
            })
            .unwrap();
            payload.unwrap().as_str().to_string()
        };
        let expected = r#"{"a": "x", "list": ["secret"]}"#;
        assert_eq!(cut(|view, text| view.secret.string_spans(text)), expected, "placed by the view");
        assert_eq!(cut(|_, _| None), expected, "looked up");
        // Spans that are not a member's string value are never cut blind:
        // the array's string, a key, half a value.
        let array_item = text.find(r#""secret"]"#).unwrap();
        let key = text.find(r#""secret""#).unwrap();
        for bogus in [array_item..array_item + 8, key..key + 8, key + 11..key + 13] {
            let (_, payload) = Payload::view_keeping(text, |_: &Secretive| Keep::Without {
                path: &[],
                name: "secret",
                found: Some(vec![bogus.clone()]),
            })
            .unwrap();
            assert_eq!(payload.unwrap().as_str(), expected, "{bogus:?}");
        }
        let (_, nothing) = Payload::view_keeping(text, |_: &Secretive| Keep::Nothing).unwrap();
        assert!(nothing.is_none());
        assert!(Payload::view_str::<Secretive>("[1,").is_err());
    }

    #[test]
    fn payload_hash_changes_with_payload() {
        let mut envelope = sample();
        let first = envelope.payload_hash();
        envelope.payload = json!({"b": 2}).into();
        assert_ne!(first, envelope.payload_hash());
    }

    fn minimal_envelope(payload: Value) -> Envelope {
        let verification = Verification { scheme: "s".into(), matched: None };
        Envelope::new("p", "id", "k", OffsetDateTime::UNIX_EPOCH, verification, payload)
    }

    #[test]
    fn the_check_made_while_encoding_agrees_with_decoding_and_the_byte_scan() {
        let mut outcomes = std::collections::BTreeSet::new();
        for depth in 120..135 {
            for object_every in [1, 2, 3] {
                let mut payload = json!("leaf \"[{\" brackets in a string");
                for level in 0..depth {
                    payload =
                        if level % object_every == 0 { json!({"k": payload, "s": "]}"}) } else { json!([payload, 1]) };
                }
                let envelope = minimal_envelope(payload);
                let encoded = envelope.encode().unwrap();
                let decodes = Envelope::decode(&encoded).is_ok();
                let checked = envelope.encode_checked();
                assert_eq!(checked.is_ok(), decodes, "depth {depth}");
                assert_eq!(Envelope::check_decodable(&encoded).is_ok(), decodes, "depth {depth}");
                if let Ok(body) = checked {
                    assert_eq!(body, encoded, "the same bytes");
                }
                outcomes.insert(decodes);
            }
        }
        assert_eq!(outcomes.len(), 2, "the depths cross the limit");
    }

    #[test]
    fn checking_agrees_with_decoding() {
        // Nested payloads around serde_json's nesting limit, objects and
        // arrays mixed, plus numbers at the edges of what decodes.
        let mut outcomes = std::collections::BTreeSet::new();
        for depth in 100..140 {
            for shape in ["[", "{\"k\":"] {
                let mut payload = String::new();
                for level in 0..depth {
                    payload.push_str(if level % 2 == 0 { shape } else { "[" });
                }
                payload.push('1');
                for level in (0..depth).rev() {
                    payload.push_str(if level % 2 == 0 && shape == "{\"k\":" { "}" } else { "]" });
                }
                let envelope = minimal_envelope(Value::Null);
                let encoded = envelope.encode().unwrap().replace("\"payload\":null", &format!("\"payload\":{payload}"));
                let decodes = Envelope::decode(&encoded).is_ok();
                assert_eq!(Envelope::check_decodable(&encoded).is_ok(), decodes, "depth {depth}, shape {shape}");
                outcomes.insert(decodes);
            }
        }
        assert_eq!(outcomes.len(), 2, "the depths cross the limit");
        let base = minimal_envelope(Value::Null).encode().unwrap();
        // Brackets and quotes inside strings do not count.
        let tricky = json!({"s": "[[[[{{{{\\\"[[[", "t": "\\", "u": ["]]]]"]});
        let mut payload = tricky;
        payload["deep"] = serde_json::from_str(&format!("{}1{}", "[".repeat(120), "]".repeat(120))).unwrap();
        let envelope = minimal_envelope(payload);
        let encoded = envelope.encode().unwrap();
        assert!(Envelope::check_decodable(&encoded).is_ok() && Envelope::decode(&encoded).is_ok());
        assert_eq!(envelope.encode_checked().as_deref(), Ok(encoded.as_str()));
        assert!(Envelope::check_decodable(&base).is_ok());
    }
}
