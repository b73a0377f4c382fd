//! One receiver for every preset: prove the request the way its preset
//! says, answer a handshake, or build the Envelope. One `match` over the
//! preset's small enums each; the only sender-specific code is what a
//! sender's scheme makes unique (Twilio's parameters, the handshakes).
//!
//! Order, for every preset: a GET is a handshake or nothing; an unsigned
//! handshake (Asana, Notion) is recognised by its shape and answered with
//! nothing taken from it but a checked echo; everything else is proven
//! over the raw bytes first, then its timestamp checked, then its body
//! read. Every failure before the proof is the one uniform 401.

use base64::Engine;
use hmac::{KeyInit, Mac};
use http::header::X_CONTENT_TYPE_OPTIONS;
use http::{HeaderName, HeaderValue, Method};
use inlet_shared::envelope::Payload;
use inlet_shared::form::{is_form, parse_form, percent_decode};
use inlet_shared::prelude::*;
use inlet_shared::verify::{constant_time_eq, hmac_sha256, sha256_bytes, sha256_hex, truncate_for_log};
use p256::ecdsa::signature::Verifier;
use time::format_description::well_known::Rfc3339;

use crate::keys::{Key, LENIENT_BASE64, Source, SourceKey};
use crate::presets::{
    Algorithm, Body, Encoding, Fallback, Field, Handshake, Layout, Location, Part, Preset, Timestamp, Unit, UrlForm,
};

/// `Envelope.provider`.
pub const PROVIDER: &str = "hooks";
/// `kind` when the preset's fields give none.
pub const DEFAULT_KIND: &str = "webhook";
/// Longest echo of an unsigned or signed challenge.
pub const MAX_ECHO: usize = 256;

/// Decides a request to a configured source.
pub fn decide(source: &Source, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
    let preset = source.preset;
    if request.method == Method::GET {
        return get_handshake(source, request);
    }
    if let Some(answer) = unsigned_handshake(preset, request)? {
        return Ok(answer);
    }
    let mut proven = prove(source, request)?;
    if let (Some(timestamp), Some(text)) = (preset.timestamp, proven.timestamp.as_deref()) {
        check_window(text, preset, timestamp, now)?;
    }
    // Proven genuine: from here a bad body is the sender's mistake (400).
    let body = read_body(preset, request, proven.json.take())?;
    if let Some(timestamp) = preset.timestamp
        && let Field::Json(pointer) = timestamp.from
        && proven.timestamp.is_none()
    {
        let text =
            body.json.as_ref().and_then(|json| text_at(json, pointer)).ok_or_else(|| IngressError::StaleTimestamp {
                timestamp: "(missing)".into(),
                tolerance_secs: timestamp.window_secs.unwrap_or(0),
            })?;
        check_window(&text, preset, timestamp, now)?;
    }
    let mut kind_override = None;
    match preset.handshake {
        Handshake::ZoomUrlValidation => {
            if let Some(answer) = zoom_url_validation(proven.key, body.json.as_ref())? {
                return Ok(answer);
            }
        }
        Handshake::TwitchChallenge => match request.header("twitch-eventsub-message-type") {
            Some("webhook_callback_verification") => {
                let challenge = body.json.as_ref().and_then(|json| json.pointer("/challenge")).and_then(Value::as_str);
                let challenge = challenge.and_then(|c| safe_echo(c)).ok_or_else(|| {
                    IngressError::malformed("webhook_callback_verification without a usable challenge")
                })?;
                return Ok(Decision::Answer(text_reply(challenge)));
            }
            Some("revocation") => kind_override = Some("revocation".to_string()),
            _ => {}
        },
        _ => {}
    }
    let id = event_id(preset, request, &body, &proven);
    let kind = kind_override.unwrap_or_else(|| kind_of(preset, request, &body));
    let verification =
        Verification { scheme: format!("{PROVIDER}:{}", preset.name), matched: Some(proven.key.name.clone()) };
    let mut envelope =
        Envelope::new(PROVIDER, &format!("{}:{id}", source.name), &kind, now, verification, body.payload);
    envelope.tenant = Some(source.name.clone());
    let ack = match preset.ack_json {
        Some(json) => Reply::new(StatusCode::OK, Some("application/json"), json),
        None => Reply::empty(StatusCode::OK),
    };
    Ok(Decision::enqueue(vec![envelope], ack))
}

/// What the proof established.
struct Proven<'s> {
    key: &'s SourceKey,
    /// The signed timestamp as sent, when one was read before the body.
    timestamp: Option<String>,
    /// The signature as presented (for [`Fallback::SignatureAndBody`]).
    signature: String,
    /// The body, when the proof had to read it (Mailgun).
    json: Option<Value>,
}

fn unauthenticated(preset: &Preset, why: &str) -> IngressError {
    IngressError::unauthenticated(format!("{}: {why}", preset.name))
}

/// Proves `request` with one of `source`'s keys; every key is tried, so the
/// time taken does not tell which matched.
fn prove<'s>(source: &'s Source, request: &IncomingRequest) -> Result<Proven<'s>, IngressError> {
    let preset = source.preset;
    let proof = &preset.proof;
    match proof.algorithm {
        Algorithm::Token | Algorithm::BasicAuth => {
            let Location::Headers(names) = proof.location else { return Err(unauthenticated(preset, "no header")) };
            let (_, presented) = first_header(request, names).ok_or_else(|| missing(preset, names))?;
            let presented = match proof.algorithm {
                Algorithm::BasicAuth => {
                    basic_credentials(presented).ok_or_else(|| unauthenticated(preset, "not Basic credentials"))?
                }
                _ => presented.as_bytes().to_vec(),
            };
            // Compared as digests: equal lengths, so the time taken does not
            // tell the secret's length either.
            let presented = sha256_bytes(&presented);
            let key = first_match(
                &source.keys,
                |key| matches!(&key.key, Key::Bytes(secret) if constant_time_eq(&sha256_bytes(secret), &presented)),
            )
            .ok_or_else(|| unauthenticated(preset, "the credential matches no secret of the source"))?;
            Ok(Proven { key, timestamp: None, signature: String::new(), json: None })
        }
        Algorithm::StandardWebhooks => prove_standard_webhooks(source, request),
        Algorithm::HmacSha256 | Algorithm::HmacSha1 | Algorithm::EcdsaP256Sha256 => prove_signature(source, request),
    }
}

fn missing(preset: &Preset, names: &[&str]) -> IngressError {
    unauthenticated(preset, &format!("missing {}", names.join(" / ")))
}

fn first_header<'r>(request: &'r IncomingRequest, names: &[&'static str]) -> Option<(&'static str, &'r str)> {
    names.iter().find_map(|name| request.header(name).map(str::trim).filter(|v| !v.is_empty()).map(|v| (*name, v)))
}

/// The `user:password` bytes of `Authorization: Basic …`.
fn basic_credentials(header: &str) -> Option<Vec<u8>> {
    use inlet_shared::verify::http_auth::{Authorization, decode_basic};
    Authorization::parse(header).filter(|auth| auth.is_scheme("basic")).and_then(|auth| decode_basic(auth.credentials))
}

/// The first key for which `matches` holds, every key evaluated.
fn first_match(keys: &[SourceKey], mut matches: impl FnMut(&SourceKey) -> bool) -> Option<&SourceKey> {
    let mut found = None;
    for key in keys {
        if matches(key) && found.is_none() {
            found = Some(key);
        }
    }
    found
}

fn prove_standard_webhooks<'s>(source: &'s Source, request: &IncomingRequest) -> Result<Proven<'s>, IngressError> {
    use standard_webhooks::scheme::{entries, timestamp_of};
    let preset = source.preset;
    let Location::Headers(names) = preset.proof.location else { return Err(unauthenticated(preset, "no header")) };
    let (_, signature) = first_header(request, names).ok_or_else(|| missing(preset, names))?;
    let id_header = preset.message_id.unwrap_or_default();
    let id = request.header(id_header).filter(|v| !v.is_empty()).ok_or_else(|| missing(preset, &[id_header]))?;
    let Some(crate::presets::Timestamp { from: Field::Header(ts_header), .. }) = preset.timestamp else {
        return Err(unauthenticated(preset, "no timestamp header"));
    };
    let raw = request.header(ts_header).ok_or_else(|| missing(preset, &[ts_header]))?;
    // Signed as the integer written back, as the reference library does.
    let timestamp = timestamp_of(raw).ok_or_else(|| IngressError::StaleTimestamp {
        timestamp: truncate_for_log(raw),
        tolerance_secs: preset.timestamp.and_then(|t| t.window_secs).unwrap_or(0),
    })?;
    // As many entries as any other preset's signatures are checked (each
    // `v1a` one is an Ed25519 verification of the body).
    let mut entries = entries(signature);
    entries.truncate(MAX_PRESENTED_SIGNATURES);
    let timestamp = timestamp.to_string();
    let key = first_match(&source.keys, |key| match &key.key {
        Key::StandardWebhooks(sw) => sw.verify(&entries, id, &timestamp, &request.body).is_ok(),
        _ => false,
    })
    .ok_or_else(|| unauthenticated(preset, "no v1/v1a signature matches a key of the source"))?;
    Ok(Proven { key, timestamp: Some(timestamp), signature: signature.to_string(), json: None })
}

/// What the signature header(s) hold.
struct Presented {
    signatures: Vec<Vec<u8>>,
    text: String,
    tag_timestamp: Option<String>,
}

fn presented(preset: &Preset, request: &IncomingRequest, json: Option<&Value>) -> Result<Presented, IngressError> {
    let proof = &preset.proof;
    let texts: Vec<String> = match proof.location {
        Location::Headers(names) => names
            .iter()
            .filter_map(|name| request.header(name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string))
            .collect(),
        Location::Json(pointer) => json.and_then(|json| text_at(json, pointer)).into_iter().collect(),
    };
    if texts.is_empty() {
        return Err(match proof.location {
            Location::Headers(names) => missing(preset, names),
            Location::Json(pointer) => unauthenticated(preset, &format!("no signature at {pointer}")),
        });
    }
    let decode = |value: &str| -> Option<Vec<u8>> {
        let value = value.trim().strip_prefix(proof.prefix)?;
        match proof.encoding {
            Encoding::Hex => hex::decode(value).ok(),
            Encoding::Base64 => LENIENT_BASE64.decode(value).ok(),
            Encoding::Plain => Some(value.as_bytes().to_vec()),
        }
    };
    let mut found = Presented { signatures: Vec::new(), text: texts.join("\n"), tag_timestamp: None };
    for text in &texts {
        match proof.layout {
            Layout::Single => found.signatures.extend(decode(text)),
            Layout::List(separator) => found.signatures.extend(text.split(separator).filter_map(decode)),
            Layout::Tagged { sep, timestamp, signature } => {
                for (key, value) in text.split(sep).filter_map(|pair| pair.split_once('=')) {
                    let (key, value) = (key.trim(), value.trim());
                    if key == timestamp && found.tag_timestamp.is_none() {
                        found.tag_timestamp = Some(value.to_string());
                    } else if key == signature {
                        found.signatures.extend(decode(value));
                    }
                }
            }
        }
    }
    // What the caller sends is checked, not what it could send: an empty
    // entry proves nothing, a repeated one nothing more, and a sender lists
    // a few signatures at most (one per secret while rotating). Each one
    // kept costs a comparison, or a verification for ECDSA.
    found.signatures.retain(|signature| !signature.is_empty());
    found.signatures.sort();
    found.signatures.dedup();
    found.signatures.truncate(MAX_PRESENTED_SIGNATURES);
    Ok(found)
}

/// The signatures of one request that are checked; more are ignored.
const MAX_PRESENTED_SIGNATURES: usize = 8;

fn prove_signature<'s>(source: &'s Source, request: &IncomingRequest) -> Result<Proven<'s>, IngressError> {
    let preset = source.preset;
    // Mailgun signs fields of its body: the one preset read before its proof,
    // and a body that is not JSON is then a request that proves nothing.
    let json = match preset.proof.location {
        Location::Json(_) => Some(
            serde_json::from_slice::<Value>(&request.body)
                .map_err(|_| unauthenticated(preset, "the body that holds the signature is not JSON"))?,
        ),
        Location::Headers(_) => None,
    };
    let presented = presented(preset, request, json.as_ref())?;
    let timestamp = match preset.timestamp.map(|t| t.from) {
        Some(Field::Header(name)) => Some(
            request
                .header(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| missing(preset, &[name]))?
                .to_string(),
        ),
        Some(Field::Tag) => Some(
            presented.tag_timestamp.clone().ok_or_else(|| unauthenticated(preset, "no timestamp in the signature"))?,
        ),
        _ => None,
    };
    let messages = signed_messages(preset, request, timestamp.as_deref(), json.as_ref())?;
    let key = first_match(&source.keys, |key| {
        let mut matched = false;
        for message in &messages {
            matched |= any_signature_matches(preset.proof.algorithm, &key.key, message, &presented.signatures);
        }
        matched
    })
    .ok_or_else(|| unauthenticated(preset, "no signature matches a secret of the source"))?;
    Ok(Proven { key, timestamp, signature: presented.text, json })
}

/// Whether any of `presented` is `key`'s signature of `message`: an HMAC is
/// computed once and compared with each (every one, in constant time).
fn any_signature_matches(algorithm: Algorithm, key: &Key, message: &[u8], presented: &[Vec<u8>]) -> bool {
    let expected: Vec<u8> = match (algorithm, key) {
        (Algorithm::HmacSha256, Key::Bytes(key)) => hmac_sha256(key, &[message]).to_vec(),
        (Algorithm::HmacSha1, Key::Bytes(key)) => hmac_sha1(key, message).to_vec(),
        (Algorithm::EcdsaP256Sha256, Key::P256(key)) => {
            let mut matched = false;
            for signature in presented {
                // Senders' libraries may write either s; both verify.
                matched |= p256::ecdsa::Signature::from_der(signature)
                    .is_ok_and(|signature| key.verify(message, &signature.normalize_s()).is_ok());
            }
            return matched;
        }
        _ => return false,
    };
    let mut matched = false;
    for signature in presented {
        matched |= constant_time_eq(&expected, signature);
    }
    matched
}

/// Raw HMAC-SHA1 of `message` under `key`.
pub fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The message(s) the sender signed: one, or one per URL form the preset
/// allows (Twilio's port). Refused when a part cannot be had.
pub fn signed_messages(
    preset: &Preset,
    request: &IncomingRequest,
    timestamp: Option<&str>,
    json: Option<&Value>,
) -> Result<Vec<Vec<u8>>, IngressError> {
    let mut messages: Vec<Vec<u8>> = vec![Vec::new()];
    let append =
        |messages: &mut Vec<Vec<u8>>, bytes: &[u8]| messages.iter_mut().for_each(|m| m.extend_from_slice(bytes));
    for part in preset.proof.signed {
        match part {
            Part::Lit(text) => append(&mut messages, text.as_bytes()),
            Part::Body => append(&mut messages, &request.body),
            Part::Method => append(&mut messages, request.method.as_str().as_bytes()),
            Part::Timestamp => {
                let timestamp = timestamp.ok_or_else(|| unauthenticated(preset, "no signed timestamp"))?;
                append(&mut messages, timestamp.as_bytes());
            }
            Part::MessageId => {
                let name = preset.message_id.unwrap_or_default();
                let id = request.header(name).ok_or_else(|| missing(preset, &[name]))?;
                append(&mut messages, id.as_bytes());
            }
            Part::Json(pointer) => {
                let value = json
                    .and_then(|json| text_at(json, pointer))
                    .ok_or_else(|| unauthenticated(preset, &format!("no {pointer} in the body")))?;
                append(&mut messages, value.as_bytes());
            }
            Part::Url(form) => {
                let urls =
                    url_forms(request, *form).ok_or_else(|| unauthenticated(preset, "no Host to rebuild the URL"))?;
                messages = messages
                    .iter()
                    .flat_map(|message| {
                        urls.iter().map(move |url| {
                            let mut with = message.clone();
                            with.extend_from_slice(url.as_bytes());
                            with
                        })
                    })
                    .collect();
            }
            Part::TwilioParams => {
                let params = twilio_params(request).ok_or_else(|| {
                    unauthenticated(preset, "neither form parameters nor a matching bodySHA256 to sign the body")
                })?;
                append(&mut messages, params.as_bytes());
            }
        }
    }
    Ok(messages)
}

/// The public URL of the request as API Gateway's HTTP API received it:
/// `X-Forwarded-Proto` (API Gateway sets it) `://` `Host` path, then `?`
/// and the query string exactly as sent. The path is `rawPath`, which for
/// a named stage already starts with the stage.
pub fn public_url(request: &IncomingRequest) -> Option<String> {
    let (proto, host, rest) = url_parts(request)?;
    Some(format!("{proto}://{host}{rest}"))
}

/// Scheme, host and path-with-query of the public URL.
fn url_parts(request: &IncomingRequest) -> Option<(&str, &str, String)> {
    let proto = request.header("x-forwarded-proto").and_then(|p| p.split(',').next()).map(str::trim);
    let proto = proto.filter(|p| !p.is_empty()).unwrap_or("https");
    let host = request.header("host").map(str::trim).filter(|h| !h.is_empty())?;
    let mut rest = request.path.clone();
    if !request.raw_query.is_empty() {
        rest.push('?');
        rest.push_str(&request.raw_query);
    }
    Some((proto, host, rest))
}

/// The URL forms a preset accepts.
fn url_forms(request: &IncomingRequest, form: UrlForm) -> Option<Vec<String>> {
    let (proto, host, rest) = url_parts(request)?;
    let url = format!("{proto}://{host}{rest}");
    Some(match form {
        UrlForm::Exact => vec![url],
        UrlForm::HubSpot => vec![hubspot_decoded(&url)],
        UrlForm::AnyPort => {
            // With the port the Host names removed, or the scheme's added.
            let port = host.rsplit_once(':').filter(|(name, port)| {
                !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && (!name.contains(':') || name.ends_with(']'))
            });
            let other = match port {
                Some((name, _)) => format!("{proto}://{name}{rest}"),
                None => format!("{proto}://{host}:{}{rest}", if proto == "http" { 80 } else { 443 }),
            };
            vec![url, other]
        }
    })
}

/// The escapes HubSpot's v3 documentation decodes before signing.
pub fn hubspot_decoded(url: &str) -> String {
    const DECODED: [(&str, &str); 12] = [
        ("%3A", ":"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%40", "@"),
        ("%21", "!"),
        ("%24", "$"),
        ("%27", "'"),
        ("%28", "("),
        ("%29", ")"),
        ("%2A", "*"),
        ("%2C", ","),
        ("%3B", ";"),
    ];
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).unwrap_or("");
        match DECODED.iter().find(|(e, _)| e.eq_ignore_ascii_case(escape)) {
            Some((_, plain)) => {
                out.push_str(plain);
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Twilio's signed parameters: a form body's fields sorted by name (then
/// value), each name followed by its value. A JSON body signs none; the
/// URL's `bodySHA256` must then be its SHA-256, else nothing signs the body
/// and `None` refuses it.
pub fn twilio_params(request: &IncomingRequest) -> Option<String> {
    if is_form(request.header("content-type")) {
        let mut fields = parse_form(&request.body).ok()?;
        fields.sort();
        return Some(fields.iter().map(|(k, v)| format!("{k}{v}")).collect());
    }
    let presented = request
        .raw_query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| percent_decode(key, true) == "bodySHA256")
        .map(|(_, value)| percent_decode(value, true))?;
    constant_time_eq(sha256_hex(&request.body).as_bytes(), presented.to_ascii_lowercase().as_bytes()).then(String::new)
}

/// How far ahead of the receiver's clock a signed timestamp may be when its
/// sender documents no window.
const UNDOCUMENTED_WINDOW_AHEAD_SECS: u64 = 300;

/// `text` as a signed timestamp within the preset's window of `now`, either
/// way. Where the sender documents no window, a timestamp older than the
/// preset's dedup window (or more than 5 min ahead) is refused too: a
/// replayed request is then either a duplicate the processor still
/// remembers or stale, never a new event.
fn check_window(text: &str, preset: &Preset, timestamp: Timestamp, now: OffsetDateTime) -> Result<(), IngressError> {
    let (behind, ahead) = match timestamp.window_secs {
        Some(window) => (window, window),
        None => (preset.dedup_window_secs, UNDOCUMENTED_WINDOW_AHEAD_SECS),
    };
    let stale = || IngressError::StaleTimestamp { timestamp: truncate_for_log(text), tolerance_secs: behind };
    let at = timestamp_secs(text, timestamp.unit).ok_or_else(stale)?;
    let now = now.unix_timestamp();
    let too_old = at < now && now.abs_diff(at) > behind;
    let too_new = at > now && at.abs_diff(now) > ahead;
    if too_old || too_new { Err(stale()) } else { Ok(()) }
}

/// A timestamp in whole seconds since the epoch.
pub fn timestamp_secs(text: &str, unit: Unit) -> Option<i64> {
    let text = text.trim();
    match unit {
        Unit::Seconds => text.parse().ok(),
        Unit::Millis => text.parse::<i64>().ok().map(|ms| ms.div_euclid(1000)),
        Unit::Rfc3339 => OffsetDateTime::parse(text, &Rfc3339).ok().map(|at| at.unix_timestamp()),
    }
}

/// The body once proven: its fields and the Envelope's payload.
struct ReadBody {
    json: Option<Value>,
    form: Option<Vec<(String, String)>>,
    payload: Payload,
}

fn read_body(preset: &Preset, request: &IncomingRequest, already: Option<Value>) -> Result<ReadBody, IngressError> {
    if preset.body == Body::FormOrJson && is_form(request.header("content-type")) {
        let fields = parse_form(&request.body)?;
        let mut object = serde_json::Map::new();
        for (key, value) in &fields {
            match object.get_mut(key) {
                Some(Value::Array(values)) => values.push(Value::String(value.clone())),
                Some(first) => *first = Value::Array(vec![first.clone(), Value::String(value.clone())]),
                None => {
                    object.insert(key.clone(), Value::String(value.clone()));
                }
            }
        }
        let payload = Payload::from_value(&Value::Object(object));
        return Ok(ReadBody { json: None, form: Some(fields), payload });
    }
    let text = std::str::from_utf8(&request.body).map_err(|_| IngressError::malformed("body is not UTF-8"))?;
    let json = match already {
        Some(json) => json,
        None => serde_json::from_str::<Value>(text)
            .map_err(|e| IngressError::malformed(format!("body is not valid JSON ({e})")))?,
    };
    let payload =
        Payload::from_json(text).map_err(|e| IngressError::malformed(format!("body is not valid JSON ({e})")))?;
    Ok(ReadBody { json: Some(json), form: None, payload })
}

/// A string, or a number written as JSON writes it, at `pointer`.
pub fn text_at(json: &Value, pointer: &str) -> Option<String> {
    match json.pointer(pointer)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn field_text(field: &Field, request: &IncomingRequest, body: &ReadBody) -> Option<String> {
    match field {
        Field::Header(name) => request.header(name).map(str::trim).map(str::to_string),
        Field::Json(pointer) => body.json.as_ref().and_then(|json| text_at(json, pointer)),
        Field::Form(name) => {
            body.form.as_ref().and_then(|fields| fields.iter().find(|(k, _)| k == name)).map(|(_, v)| v.clone())
        }
        Field::Literal(text) => Some(text.to_string()),
        Field::Tag => None,
    }
    .filter(|text| !text.is_empty())
}

/// Visible ASCII, not too long: usable as it is in an id or a kind.
fn plain(text: &str, max: usize) -> bool {
    text.len() <= max && text.bytes().all(|b| b.is_ascii_graphic())
}

fn event_id(preset: &Preset, request: &IncomingRequest, body: &ReadBody, proven: &Proven) -> String {
    if let Some(id) = preset.event_id.iter().find_map(|field| field_text(field, request, body)) {
        // An id that is not plain text is kept as its hash, which is as unique.
        return if plain(&id, 256) { id } else { format!("sha256:{}", sha256_hex(id.as_bytes())) };
    }
    let secret_in_header = matches!(preset.proof.algorithm, Algorithm::Token | Algorithm::BasicAuth);
    match preset.fallback_id {
        Fallback::SignatureAndBody if !secret_in_header => {
            let mut bytes = proven.signature.as_bytes().to_vec();
            bytes.push(b'\n');
            bytes.extend_from_slice(&request.body);
            format!("sha256:{}", sha256_hex(&bytes))
        }
        // A token or password is never hashed into an id.
        Fallback::SignatureAndBody | Fallback::BodyHash => format!("sha256:{}", sha256_hex(&request.body)),
        Fallback::PerRequest => request.request_scoped_id(),
        Fallback::EachEventId(member) => {
            let ids: Option<Vec<String>> = body
                .json
                .as_ref()
                .and_then(Value::as_array)
                .filter(|events| !events.is_empty())
                .and_then(|events| events.iter().map(|event| event.get(member).map(Value::to_string)).collect());
            match ids {
                Some(mut ids) => {
                    ids.sort();
                    format!("sha256:{}", sha256_hex(ids.join("\n").as_bytes()))
                }
                // An event without its id: the body stands for the batch.
                None => format!("sha256:{}", sha256_hex(&request.body)),
            }
        }
    }
}

fn kind_of(preset: &Preset, request: &IncomingRequest, body: &ReadBody) -> String {
    preset
        .kind
        .iter()
        .filter_map(|field| field_text(field, request, body))
        // GitLab's kinds have spaces (`Push Hook`).
        .find(|kind| kind.len() <= 128 && kind.bytes().all(|b| b == b' ' || b.is_ascii_graphic()))
        .unwrap_or_else(|| DEFAULT_KIND.to_string())
}

/// An echo that reflects nothing dangerous: 1 to [`MAX_ECHO`] of
/// `A-Za-z0-9_-`.
pub fn safe_echo(text: &str) -> Option<&str> {
    ((1..=MAX_ECHO).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        .then_some(text)
}

/// Asana's handshake header, echoed back in the answer.
const X_HOOK_SECRET: HeaderName = HeaderName::from_static("x-hook-secret");

/// An echoed challenge: plain text the browser must not sniff as anything
/// else (it is 1–256 of `A-Za-z0-9_-` already: [`safe_echo`]).
fn text_reply(text: &str) -> Reply {
    Reply::new(StatusCode::OK, Some("text/plain"), text.as_bytes().to_vec())
        .with_header(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"))
}

/// GET: only the handshakes that use it; anything else proves nothing.
fn get_handshake(source: &Source, request: &IncomingRequest) -> Decided {
    let preset = source.preset;
    let query = |name: &str| request.query.get(name).map(String::as_str);
    match preset.handshake {
        Handshake::MetaHubChallenge => {
            let token = query("hub.verify_token").unwrap_or_default();
            let mut matched = false;
            for expected in &source.verify_tokens {
                matched |=
                    constant_time_eq(&sha256_bytes(expected.expose().as_bytes()), &sha256_bytes(token.as_bytes()));
            }
            if !matched || query("hub.mode") != Some("subscribe") {
                return Err(unauthenticated(preset, "hub.verify_token or hub.mode does not match"));
            }
            let challenge = query("hub.challenge")
                .and_then(safe_echo)
                .ok_or_else(|| unauthenticated(preset, "hub.challenge missing or not 1-256 of A-Za-z0-9_-"))?;
            Ok(Decision::Answer(text_reply(challenge)))
        }
        Handshake::DropboxChallenge => {
            let challenge = query("challenge")
                .and_then(safe_echo)
                .ok_or_else(|| unauthenticated(preset, "challenge missing or not 1-256 of A-Za-z0-9_-"))?;
            Ok(Decision::Answer(text_reply(challenge)))
        }
        Handshake::OktaVerification => {
            prove(source, request)?;
            let challenge = request
                .header("x-okta-verification-challenge")
                .map(str::trim)
                .filter(|c| !c.is_empty() && plain(c, 512))
                .ok_or_else(|| unauthenticated(preset, "X-Okta-Verification-Challenge missing or not plain text"))?;
            Ok(Decision::Answer(Reply::ok_json(json!({"verification": challenge}))))
        }
        _ => Err(unauthenticated(preset, "GET is only a handshake's, and this preset has none")),
    }
}

/// The handshakes a sender makes before it has a secret: recognised by
/// their shape, answered without enqueueing, logged without their value.
fn unsigned_handshake(preset: &Preset, request: &IncomingRequest) -> Result<Option<Decision>, IngressError> {
    match preset.handshake {
        Handshake::AsanaHookSecret => {
            let Some(secret) = request.header("x-hook-secret") else { return Ok(None) };
            let secret = safe_echo(secret.trim())
                .ok_or_else(|| unauthenticated(preset, "X-Hook-Secret is not 1-256 of A-Za-z0-9_-"))?;
            // Asana wants it back in the X-Hook-Secret response header (and
            // only there: the body stays empty).
            let echo = HeaderValue::from_str(secret)
                .map_err(|_| unauthenticated(preset, "X-Hook-Secret is not a header value"))?;
            Ok(Some(Decision::Answer(Reply::empty(StatusCode::OK).with_header(X_HOOK_SECRET, echo))))
        }
        Handshake::NotionVerification => {
            if request.header("x-notion-signature").is_some() {
                return Ok(None);
            }
            let token_only = serde_json::from_slice::<Value>(&request.body)
                .ok()
                .and_then(|json| json.as_object().cloned())
                .is_some_and(|object| {
                    object.len() == 1 && object.get("verification_token").is_some_and(Value::is_string)
                });
            // Its token is the secret-to-be: neither logged nor enqueued.
            Ok(token_only.then(|| Decision::Answer(Reply::empty(StatusCode::OK))))
        }
        _ => Ok(None),
    }
}

/// Zoom's `endpoint.url_validation`, signed like any event: the plain token
/// back with its HMAC under the matched secret.
fn zoom_url_validation(key: &SourceKey, json: Option<&Value>) -> Result<Option<Decision>, IngressError> {
    let Some(json) = json else { return Ok(None) };
    if json.pointer("/event").and_then(Value::as_str) != Some("endpoint.url_validation") {
        return Ok(None);
    }
    let plain_token = json
        .pointer("/payload/plainToken")
        .and_then(Value::as_str)
        .filter(|t| plain(t, MAX_ECHO) && !t.is_empty())
        .ok_or_else(|| IngressError::malformed("endpoint.url_validation without a usable plainToken"))?;
    let Key::Bytes(secret) = &key.key else { return Err(IngressError::malformed("no secret token")) };
    let encrypted = hex::encode(hmac_sha256(secret, &[plain_token.as_bytes()]));
    Ok(Some(Decision::Answer(Reply::ok_json(json!({"plainToken": plain_token, "encryptedToken": encrypted})))))
}
