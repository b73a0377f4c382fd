//! The Envelope's payload is the JSON Lark sent, byte for byte: the
//! decrypted plaintext as it was sealed, less the Verification Token, never
//! a tree parsed and written out again.

use std::collections::BTreeMap;

use http::Method;
use inlet_shared::envelope::Envelope;
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::{HttpFunction, Provider};
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::dev_settings;
use lark::LarkFunction;
use lark::crypto::{encrypt_lark_body, lark_signature};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use time::OffsetDateTime;

const NOW: i64 = 1_700_000_000;
const TOKEN: &str = "dev-verification-token-NOT-A-SECRET";
const KEY: &str = "dev-encrypt-key-NOT-A-SECRET";

/// `plaintext` sealed and signed as Lark sends an event.
fn sealed(plaintext: &str) -> IncomingRequest {
    let body = json!({"encrypt": encrypt_lark_body(KEY, [9; 16], plaintext.as_bytes())}).to_string();
    let mut request = IncomingRequest::new(Method::POST, "/lark/event", body.clone());
    let ts = NOW.to_string();
    request.headers.insert("x-lark-request-timestamp", ts.parse().unwrap());
    request.headers.insert("x-lark-request-nonce", "nonce".parse().unwrap());
    request.headers.insert("x-lark-signature", lark_signature(&ts, "nonce", KEY, body.as_bytes()).parse().unwrap());
    request
}

/// The queued message bodies of one request, and the Envelopes the
/// processor's decoder makes of them.
async fn queued(request: &IncomingRequest) -> Vec<(String, Envelope)> {
    let function = LarkFunction::from_env(&dev_settings()).expect("settings");
    let publisher = MemoryPublisher::new();
    let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
    let reply = function.handle(&publisher, request, now).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    publisher
        .sent_messages()
        .into_iter()
        .map(|message| {
            let envelope = Envelope::decode(&message.body).expect("the processor decodes it");
            (message.body, envelope)
        })
        .collect()
}

/// The `payload` member of a queued body, as the text it is there.
fn payload_text(body: &str) -> String {
    let members: BTreeMap<String, Box<RawValue>> = serde_json::from_str(body).unwrap();
    members["payload"].get().to_string()
}

/// What the payload was before it was kept as bytes: the plaintext parsed,
/// less `header.token` (v2) or `token` (v1 `event_callback`).
fn redacted_value(plaintext: &str) -> Value {
    let mut json: Value = serde_json::from_str(plaintext).unwrap();
    if json["schema"] == "2.0" {
        if let Some(header) = json.get_mut("header").and_then(Value::as_object_mut) {
            header.remove("token");
        }
    } else if json["type"] == "event_callback" {
        json.as_object_mut().unwrap().remove("token");
    }
    json
}

#[tokio::test]
async fn the_queued_payload_is_the_decrypted_plaintext_byte_for_byte_less_the_token() {
    // Written as no serializer writes it: keys unsorted, spaces and a
    // newline, escapes a parser would undo, numbers a parser would reformat.
    let plaintext = format!(
        concat!(
            r#"{{ "schema": "2.0",  "header": {{"event_type": "im.message.receive_v1", "token": "{token}","#,
            r#" "event_id": "ev-bytes", "tenant_key": "t"}},"#,
            "\n",
            r#" "event": {{"message": {{"message_type": "text", "content": "{{\"text\":\"caf\\u00e9 \\/ ok\"}}","#,
            r#" "chat_id": "oc_1", "message_id": "om_1"}}, "weight": 1.50, "big": 12345678901234567890123, "e": 1e2,"#,
            r#" "s": "\u00e9\ud83d\ude00"}} }}"#
        ),
        token = TOKEN
    );
    let expected = plaintext.replacen(&format!(r#" "token": "{TOKEN}","#), "", 1);
    assert!(!expected.contains(TOKEN) && expected.len() < plaintext.len());

    let sent = queued(&sealed(&plaintext)).await;
    assert_eq!(sent.len(), 1);
    let (body, envelope) = &sent[0];
    assert_eq!(payload_text(body), expected, "the queued payload is the plaintext's own bytes");
    assert_eq!(envelope.payload.as_str(), expected);
    assert!(!body.contains(TOKEN), "the Verification Token never reaches the queue");
    // The same JSON as the parsed plaintext less its token.
    assert_eq!(envelope.payload.to_value().unwrap(), redacted_value(&plaintext));
    assert_eq!(envelope.message.as_ref().and_then(|m| m.text.as_deref()), Some("café / ok"));
}

#[tokio::test]
async fn every_copy_of_the_token_is_cut_however_it_is_written() {
    // Duplicate keys (a Value keeps the last), an escaped key, a token
    // written with escapes, a token that is not a string, two headers: the
    // payload holds none of them, and reads as the old redaction did.
    let escaped_token: String = TOKEN.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    let cases = [
        format!(
            r#"{{"schema":"2.0","header":{{"token":"{TOKEN}","event_id":"e1","token":"{TOKEN}","event_type":"k"}}}}"#
        ),
        format!(r#"{{"schema":"2.0","header":{{"event_id":"e2","event_type":"k","tok\u0065n":"{TOKEN}"}}}}"#),
        format!(r#"{{"schema":"2.0","header":{{"event_id":"e3","event_type":"k","token":"{escaped_token}"}}}}"#),
        format!(
            r#"{{"header":{{"token":"retired-token-x"}},"schema":"2.0","header":{{"token":[1,{{"a":"}}"}}],"event_id":"e4","event_type":"k","token":"{TOKEN}"}}}}"#
        ),
        format!(
            r#"{{"token":"{TOKEN}","uuid":"u5","type":"event_callback","event":{{"type":"message","token":"card"}}, "token" : "{TOKEN}" }}"#
        ),
    ];
    for plaintext in cases {
        let sent = queued(&sealed(&plaintext)).await;
        let (body, envelope) = &sent[0];
        assert!(!body.contains(TOKEN) && !body.contains(&escaped_token) && !body.contains("retired-token-x"), "{body}");
        assert_eq!(envelope.payload.to_value().unwrap(), redacted_value(&plaintext), "{plaintext}");
    }
}

#[tokio::test]
async fn the_samples_payloads_read_as_their_parsed_plaintext_less_the_token() {
    for unique in ["a", "b"] {
        let event = lark::samples::message_v2(TOKEN, unique, NOW);
        let plaintext = event.to_string();
        let (_, envelope) = &queued(&sealed(&plaintext)).await[0];
        assert_eq!(envelope.payload.to_value().unwrap(), redacted_value(&plaintext));
        // serde_json wrote the sample with its keys sorted: less the token,
        // the bytes are the same as the tree written out again.
        assert_eq!(envelope.payload.as_str(), redacted_value(&plaintext).to_string());
    }
    assert!(LarkFunction::ROUTES.iter().any(|route| route.path == "/lark/event"));
}
