//! One sample per preset (`hooks-<preset>`), for the first source of that
//! preset in `HOOK_SOURCES`, signed with its first secret; plus the signed
//! or token-checked handshakes (Zoom's URL validation, Twitch's callback
//! verification, Meta's and Okta's GET). The unsigned handshakes (Dropbox,
//! Asana, Notion) carry no credential, which every sample must: they are
//! in `tests/handler.rs` instead.
//!
//! The samples are built from the preset's data, and signed over the very
//! message the receiver computes ([`crate::engine::signed_messages`]); the
//! tests sign each preset independently, by hand, from its documentation.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use inlet_shared::form::encode_form;
use inlet_shared::prelude::*;
use inlet_shared::verify::{hmac_sha256, sha256_hex};
use time::format_description::well_known::Rfc3339;

use crate::engine::{hmac_sha1, signed_messages};
use crate::keys::{SECRETS, SOURCES, VERIFY_TOKENS, labelled, parse_key, source_pairs};
use crate::presets::{Algorithm, Body, Encoding, Field, Layout, Location, Part, Preset, Unit, preset};
use crate::{DEV_SIGNING_KEYS, HooksFunction, ROUTE};

/// The handshake samples, beside one `hooks-<preset>` per preset.
pub const HANDSHAKE_SAMPLES: [&str; 4] =
    ["hooks-zoom-url-validation", "hooks-twitch-verification", "hooks-meta-verification", "hooks-okta-verification"];

/// What a sample is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Event,
    ZoomUrlValidation,
    TwitchVerification,
    MetaVerification,
    OktaVerification,
}

impl Samples for HooksFunction {
    const SAMPLE_NAMES: &'static [&'static str] = &[
        "hooks-shopify",
        "hooks-twilio",
        "hooks-zoom",
        "hooks-linear",
        "hooks-intercom",
        "hooks-gitlab",
        "hooks-gitea",
        "hooks-bitbucket",
        "hooks-jira",
        "hooks-sentry",
        "hooks-pagerduty",
        "hooks-twitch",
        "hooks-meta",
        "hooks-line",
        "hooks-teams",
        "hooks-mailgun",
        "hooks-sendgrid",
        "hooks-postmark",
        "hooks-paddle",
        "hooks-square",
        "hooks-typeform",
        "hooks-calendly",
        "hooks-vercel",
        "hooks-hubspot",
        "hooks-mux",
        "hooks-coinbase",
        "hooks-razorpay",
        "hooks-zendesk",
        "hooks-box",
        "hooks-airtable",
        "hooks-notion",
        "hooks-okta",
        "hooks-dropbox",
        "hooks-asana",
        "hooks-svix",
        "hooks-clerk",
        "hooks-resend",
        "hooks-zoom-url-validation",
        "hooks-twitch-verification",
        "hooks-meta-verification",
        "hooks-okta-verification",
    ];
    /// The secrets, the verify tokens, and the dev private keys SendGrid's
    /// samples sign with (the function holds only the public key).
    const SIGNING_SETTINGS: &'static [&'static str] = &[SECRETS, VERIFY_TOKENS, DEV_SIGNING_KEYS];

    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let (preset, shape) = match name {
            "hooks-zoom-url-validation" => (preset("zoom")?, Shape::ZoomUrlValidation),
            "hooks-twitch-verification" => (preset("twitch")?, Shape::TwitchVerification),
            "hooks-meta-verification" => (preset("meta")?, Shape::MetaVerification),
            "hooks-okta-verification" => (preset("okta")?, Shape::OktaVerification),
            _ => (preset(name.strip_prefix("hooks-")?)?, Shape::Event),
        };
        let sources = env.get(SOURCES)?;
        let (source, _) = source_pairs(&sources).find(|(_, p)| *p == preset.name)?;
        let secrets = env.get(SECRETS).unwrap_or_default();
        let secret = labelled(&secrets, source).next()?;
        let dev_keys = env.get(DEV_SIGNING_KEYS).unwrap_or_default();
        let tokens = env.get(VERIFY_TOKENS).unwrap_or_default();
        let second = match shape {
            Shape::MetaVerification => labelled(&tokens, source).next(),
            _ => labelled(&dev_keys, source).next(),
        };
        let mut sample = signed_sample(preset, shape, source, secret, second, timestamp, unique)?;
        sample.name = name.to_string();
        Some(sample)
    }
}

/// A stable id for a sample: the same name and unique, the same event.
pub fn sample_id(preset: &Preset, unique: &str) -> String {
    format!("{}-{}", preset.name, &sha256_hex(format!("{}:{unique}", preset.name).as_bytes())[..24])
}

/// The path of `source`'s requests.
pub fn path_of(source: &str) -> String {
    ROUTE.replace("{source}", source)
}

/// A request as `preset`'s sender would send it to `source`, signed with
/// `secret` (the dev private key in `second` for key-pair senders, the
/// verify token for Meta's GET) at `timestamp`.
pub fn signed_sample(
    preset: &'static Preset,
    shape: Shape,
    source: &str,
    secret: &str,
    second: Option<&str>,
    timestamp: i64,
    unique: &str,
) -> Option<SampleRequest> {
    let id = sample_id(preset, unique);
    let path = path_of(source);
    let description = format!("{} ({}), signed for source {source}", preset.title, preset.name);
    match shape {
        Shape::MetaVerification => {
            let query = encode_form(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", second?),
                ("hub.challenge", &format!("{}", 1_000_000_000 + timestamp % 1_000_000)),
            ]);
            let mut sample = SampleRequest::post_json("", &description, &format!("{path}?{query}"), Vec::new())
                .with_path_param("source", source);
            sample.method = "GET".into();
            sample.headers.clear();
            return Some(sample);
        }
        Shape::OktaVerification => {
            let mut sample = SampleRequest::post_json("", &description, &path, Vec::new())
                .with_path_param("source", source)
                .with_header("authorization", secret)
                .with_header("x-okta-verification-challenge", format!("okta-challenge-{id}"));
            sample.method = "GET".into();
            sample.headers.retain(|(name, _)| name != "content-type");
            return Some(sample);
        }
        _ => {}
    }
    let mut sample = SampleRequest::post_json("", &description, &path, Vec::new())
        .with_path_param("source", source)
        .with_header("user-agent", format!("inlet-sample-sender/1.0 ({})", preset.title))
        .with_header("host", "127.0.0.1:9000")
        .with_header("x-forwarded-proto", "http");
    let ts_text = preset.timestamp.map(|t| match t.unit {
        Unit::Seconds => timestamp.to_string(),
        Unit::Millis => (timestamp * 1000).to_string(),
        Unit::Rfc3339 => OffsetDateTime::from_unix_timestamp(timestamp)
            .ok()
            .and_then(|at| at.format(&Rfc3339).ok())
            .unwrap_or_default(),
    });
    // The body: the preset's id, kind and timestamp where it reads them.
    let kind = sample_kind(preset, shape);
    let mut form: Vec<(String, String)> = Vec::new();
    let array_root =
        preset.kind.iter().chain(preset.event_id).any(|f| matches!(f, Field::Json(p) if p.starts_with("/0/")));
    let mut body = if array_root { json!([{}]) } else { json!({}) };
    let info = json!({"preset": preset.name, "unique": unique, "at": timestamp});
    match &mut body {
        Value::Array(items) => items[0]["sample"] = info,
        other => other["sample"] = info,
    }
    let mut set_field = |field: &Field, value: Value, headers: &mut Vec<(String, String)>| match field {
        Field::Header(name) => {
            headers.push((name.to_string(), value.as_str().map(str::to_string).unwrap_or(value.to_string())))
        }
        Field::Json(pointer) => set_pointer(&mut body, pointer, value),
        Field::Form(name) => form.push((name.to_string(), value.as_str().unwrap_or_default().to_string())),
        Field::Tag | Field::Literal(_) => {}
    };
    if let Some(field) = preset.event_id.first() {
        set_field(field, json!(id), &mut sample.headers);
    }
    if let Some(field) = preset.kind.first() {
        set_field(field, json!(kind), &mut sample.headers);
    }
    if let Some(header) = preset.message_id
        && !preset.event_id.contains(&Field::Header(header))
    {
        sample.headers.push((header.to_string(), id.clone()));
    }
    if let (Some(t), Some(text)) = (preset.timestamp, &ts_text) {
        match t.from {
            Field::Json(_) if t.unit == Unit::Millis => {
                set_field(&t.from, json!(timestamp * 1000), &mut sample.headers)
            }
            Field::Json(_) | Field::Header(_) => set_field(&t.from, json!(text), &mut sample.headers),
            _ => {}
        }
    }
    for part in preset.proof.signed {
        if let Part::Json(pointer) = part
            && body.pointer(pointer).is_none()
        {
            set_pointer(&mut body, pointer, json!(format!("{}", &sha256_hex(id.as_bytes())[..50])));
        }
    }
    match shape {
        Shape::ZoomUrlValidation => {
            body = json!({"event": "endpoint.url_validation", "payload": {"plainToken": format!("plain-{id}")}, "event_ts": timestamp * 1000});
        }
        Shape::TwitchVerification => {
            body["challenge"] = json!(format!("challenge-{id}"));
            sample.headers.push(("twitch-eventsub-message-type".into(), "webhook_callback_verification".into()));
        }
        _ if preset.name == "twitch" => {
            sample.headers.push(("twitch-eventsub-message-type".into(), "notification".into()));
        }
        _ => {}
    }
    senders_own_fields(preset, &mut body, &mut sample.headers, timestamp);
    if preset.body == Body::FormOrJson {
        form.extend(
            [
                ("AccountSid", "AC00000000000000000000000000000000"),
                ("From", "+15005550006"),
                ("To", "+15005550001"),
                ("Body", "Hello from inlet's sample"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        form.push(("MessageSid".into(), format!("SM{}", &sha256_hex(id.as_bytes())[..32])));
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        sample.body = encode_form(&pairs).into_bytes();
        sample.headers.retain(|(name, _)| name != "content-type");
        sample.headers.insert(0, ("content-type".into(), "application/x-www-form-urlencoded".into()));
    } else {
        sample.body = body.to_string().into_bytes();
    }
    sign(preset, &mut sample, secret, second, ts_text.as_deref(), &mut body)?;
    Some(sample)
}

/// What the sender always sends besides what inlet reads, so a sample is
/// what its official library takes too: Shopify's shop domain and API
/// version, Box's signature version and algorithm, the fields of every LINE
/// event.
fn senders_own_fields(preset: &Preset, body: &mut Value, headers: &mut Vec<(String, String)>, timestamp: i64) {
    let own: &[(&str, &str)] = match preset.name {
        "shopify" => &[("x-shopify-shop-domain", "inlet-sample.myshopify.com"), ("x-shopify-api-version", "2025-10")],
        "box" => &[("box-signature-version", "1"), ("box-signature-algorithm", "HmacSHA256")],
        _ => &[],
    };
    headers.extend(own.iter().map(|(name, value)| (name.to_string(), value.to_string())));
    if preset.name == "line" {
        body["destination"] = json!("U00000000000000000000000000000000");
        if let Some(event) = body.pointer_mut("/events/0") {
            event["timestamp"] = json!(timestamp * 1000);
            event["mode"] = json!("active");
            event["deliveryContext"] = json!({"isRedelivery": false});
            event["source"] = json!({"type": "user", "userId": "U00000000000000000000000000000001"});
        }
    }
}

fn sample_kind(preset: &Preset, shape: Shape) -> &'static str {
    match (preset.name, shape) {
        ("twitch", Shape::TwitchVerification) => "channel.follow",
        ("zoom", _) => "meeting.started",
        ("twilio", _) => "received",
        ("gitlab", _) => "Push Hook",
        ("meta", _) => "page",
        _ => "sample.event",
    }
}

/// Sets `value` at `pointer`, making the objects and arrays on the way.
pub fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    let mut current = root;
    for (index, segment) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        let next = || match segments.get(index + 1) {
            Some(next) if next.parse::<usize>().is_ok() => json!([]),
            _ => json!({}),
        };
        let slot = match (current, segment.parse::<usize>()) {
            (Value::Array(items), Ok(at)) => {
                while items.len() <= at {
                    items.push(Value::Null);
                }
                &mut items[at]
            }
            (current, _) => {
                if !current.is_object() {
                    *current = json!({});
                }
                let Value::Object(map) = current else { return };
                map.entry(segment.to_string()).or_insert(Value::Null)
            }
        };
        if last {
            *slot = value;
            return;
        }
        if slot.is_null() {
            *slot = next();
        }
        current = slot;
    }
}

/// Signs `sample` as `preset`'s sender does.
fn sign(
    preset: &'static Preset,
    sample: &mut SampleRequest,
    secret: &str,
    second: Option<&str>,
    ts_text: Option<&str>,
    body: &mut Value,
) -> Option<()> {
    let proof = &preset.proof;
    let header_of = |sample: &mut SampleRequest, value: String| {
        if let Location::Headers(names) = proof.location {
            sample.headers.push((names[0].to_string(), value));
        }
    };
    match proof.algorithm {
        Algorithm::Token => {
            header_of(sample, secret.to_string());
            return Some(());
        }
        Algorithm::BasicAuth => {
            header_of(sample, inlet_shared::verify::http_auth::basic_header(secret));
            return Some(());
        }
        Algorithm::StandardWebhooks => {
            let key = standard_webhooks::scheme::lenient_secret_key(secret)?;
            let id = sample.headers.iter().find(|(n, _)| Some(n.as_str()) == preset.message_id)?.1.clone();
            let timestamp: i64 = ts_text?.parse().ok()?;
            let signature = standard_webhooks::scheme::sign(&key, &id, timestamp, &sample.body);
            header_of(sample, signature);
            return Some(());
        }
        _ => {}
    }
    let request = sample.to_incoming();
    let json = serde_json::from_slice::<Value>(&sample.body).ok();
    let tag_or_header = ts_text.filter(|_| preset.timestamp.is_some_and(|t| !matches!(t.from, Field::Json(_))));
    let message = signed_messages(preset, &request, tag_or_header, json.as_ref()).ok()?.into_iter().next()?;
    let hmac_key = || match parse_key(proof.key, secret) {
        Ok(crate::keys::Key::Bytes(key)) => Some(key),
        _ => None,
    };
    let raw = match proof.algorithm {
        Algorithm::HmacSha256 => hmac_sha256(&hmac_key()?, &[&message]).to_vec(),
        Algorithm::HmacSha1 => hmac_sha1(&hmac_key()?, &message).to_vec(),
        // The function's key is the public one: the sample signs with the dev private key.
        Algorithm::EcdsaP256Sha256 => {
            use p256::ecdsa::signature::Signer;
            let scalar = hex::decode(second?).ok()?;
            let key = p256::ecdsa::SigningKey::from_slice(&scalar).ok()?;
            let signature: p256::ecdsa::Signature = key.sign(&message);
            signature.to_der().as_bytes().to_vec()
        }
        _ => return None,
    };
    let encoded = match proof.encoding {
        Encoding::Hex => hex::encode(&raw),
        Encoding::Base64 => BASE64.encode(&raw),
        Encoding::Plain => return None,
    };
    let value = match proof.layout {
        Layout::Single | Layout::List(_) => format!("{}{encoded}", proof.prefix),
        Layout::Tagged { sep, timestamp, signature } => format!("{timestamp}={}{sep}{signature}={encoded}", ts_text?),
    };
    match proof.location {
        Location::Headers(_) => header_of(sample, value),
        Location::Json(pointer) => {
            set_pointer(body, pointer, json!(value));
            sample.body = body.to_string().into_bytes();
        }
    }
    Some(())
}
