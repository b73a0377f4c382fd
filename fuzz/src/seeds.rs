//! Seed corpora from the committed `events/`: the API Gateway events hold
//! real signed requests (body, headers, path), written here in the fuzz
//! input format once per mode of the target, with the plaintext body for
//! modes where the harness signs or encrypts it; the Envelopes the
//! handlers make of them seed the decoder, their alert notifications the
//! splitter.

use std::path::{Path, PathBuf};

use ::lark::crypto::decrypt_lark_body;
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::Provider;
use inlet_shared::samples::{events_dir, incoming_from_apigw_v2_event};
use serde_json::Value;

use crate::providers::{self, TARGETS, modes};
use crate::{FuzzInput, answer};

/// Writes the seeds of `target` into `dir`; returns how many.
pub fn write(target: &str, dir: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let seeds = match target {
        "envelope_decode" => envelope_seeds()?,
        "alert_split" => alert_seeds()?,
        "destinations" => destination_seeds(),
        "replies" => reply_seeds(),
        provider if TARGETS.contains(&provider) => request_seeds(provider)?,
        other => return Err(format!("no target named {other}")),
    };
    for (name, bytes) in &seeds {
        let path = dir.join(format!("seed-{name}"));
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(seeds.len())
}

/// Every API Gateway event in `events/` whose name starts with `prefix`.
fn events(prefix: &str) -> Result<Vec<(String, Value)>, String> {
    let dir = events_dir();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path: PathBuf = entry.map_err(|e| e.to_string())?.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { continue };
        if path.extension().is_none_or(|e| e != "json") || !(stem == prefix || stem.starts_with(&format!("{prefix}-")))
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let event: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if event.get("rawPath").is_some() {
            found.push((stem, event));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    if found.is_empty() {
        return Err(format!("no events/{prefix}*.json (run `make events`)"));
    }
    Ok(found)
}

fn provider_prefix(target: &str) -> String {
    target.replace('_', "-")
}

fn request_seeds(target: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut seeds = Vec::new();
    for (name, event) in events(&provider_prefix(target))? {
        let method = event.pointer("/requestContext/http/method").and_then(Value::as_str).unwrap_or("POST");
        let path = event.get("rawPath").and_then(Value::as_str).unwrap_or("/");
        let query = event.get("rawQueryString").and_then(Value::as_str).unwrap_or_default();
        let target_line = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
        let headers: Vec<(String, String)> = event
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| h.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        let body = event.get("body").and_then(Value::as_str).unwrap_or_default().as_bytes().to_vec();
        let plaintext = if target == "lark" { lark_plaintext(&body) } else { body.clone() };
        for mode in 0..modes(target) {
            // Lark's modes past the first two sign or encrypt the body themselves.
            let body = if target == "lark" && mode >= 2 { &plaintext } else { &body };
            let seed = FuzzInput::render(FuzzInput::control(mode), method, &target_line, &headers, body);
            seeds.push((format!("{name}-m{mode}"), seed));
        }
    }
    Ok(seeds)
}

/// An encrypted Lark body opened with the dev Encrypt Key; others unchanged.
fn lark_plaintext(body: &[u8]) -> Vec<u8> {
    let lark = providers::lark::get();
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|outer| outer.get("encrypt").and_then(Value::as_str).map(str::to_string))
        .and_then(|ciphertext| decrypt_lark_body(&lark.key, &ciphertext).ok())
        .unwrap_or_else(|| body.to_vec())
}

/// The queue messages the handlers make of every event, and the SQS
/// sample's record bodies.
fn envelope_seeds() -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut seeds = Vec::new();
    for target in TARGETS {
        for (name, event) in events(&provider_prefix(target))? {
            let request = incoming_from_apigw_v2_event(&event).ok_or_else(|| format!("{name} is not an event"))?;
            for (index, body) in published(target, &request).into_iter().enumerate() {
                seeds.push((format!("{name}-{index}"), body.into_bytes()));
            }
        }
    }
    let path = events_dir().join("sqs-batch.json");
    let sqs: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| format!("{} is not JSON", path.display()))?;
    for (index, record) in sqs.get("Records").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if let Some(body) = record.get("body").and_then(Value::as_str) {
            seeds.push((format!("sqs-batch-{index}"), body.as_bytes().to_vec()));
        }
    }
    Ok(seeds)
}

fn published(target: &str, request: &IncomingRequest) -> Vec<String> {
    let publisher = match target {
        "lark" => answer(&providers::lark::get().keyed, request, false).1,
        "discord" => answer(&providers::discord::get().function, request, false).1,
        "telegram" => answer(&providers::telegram::get().function, request, false).1,
        "openim" => answer(&providers::openim::get().allowlist, request, false).1,
        "alertmanager" => answer(&providers::alertmanager::get().function, request, false).1,
        "grafana" => answer(&providers::grafana::get().with_timestamp, request, false).1,
        "alert_api" => answer(&providers::alert_api::get().function, request, false).1,
        // The self-contained targets keep their deployments to themselves:
        // built here from the same settings, only to render their events.
        "slack" => answer(&deployed::<::slack::SlackFunction>(), request, false).1,
        "github" => answer(&deployed::<::github::GithubFunction>(), request, false).1,
        "stripe" => answer(&deployed::<::stripe::StripeFunction>(), request, false).1,
        "standard_webhooks" => answer(&deployed::<::standard_webhooks::StandardWebhooksFunction>(), request, false).1,
        "wecom" => answer(&deployed::<::wecom::WecomFunction>(), request, false).1,
        "dingtalk" => answer(&deployed::<::dingtalk::DingtalkFunction>(), request, false).1,
        other => panic!("no deployment for target {other}"),
    };
    publisher.sent_messages().into_iter().map(|message| message.body).collect()
}

/// A deployment from the fuzz settings (`events/env.json`).
fn deployed<P: Provider>() -> P {
    P::from_env(&crate::fuzz_settings()).expect("settings of events/env.json")
}

/// The notifications of the alert senders' events.
fn alert_seeds() -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut seeds = Vec::new();
    for prefix in ["alertmanager", "grafana"] {
        for (name, event) in events(prefix)? {
            let body = event.get("body").and_then(Value::as_str).unwrap_or_default();
            seeds.push((name, body.as_bytes().to_vec()));
        }
    }
    Ok(seeds)
}

/// Reply requests as docs/reference/replies.md shows them, a destination's answers, and
/// response_urls.
fn reply_seeds() -> Vec<(String, Vec<u8>)> {
    let inputs = [
        r#"{"event_id":"telegram:bot1:7","reply":{"text":"pong"}}"#,
        r#"{"event_id":"lark:ev_1","reply":{"card":{"elements":[]},"update":true},"id":"k1"}"#,
        r#"{"event_id":"slack:T1:1","reply":{"blocks":[{"type":"divider"}],"text":"x"}}"#,
        r#"{"reply":{"text":"echo: hi"},"other":1}"#,
        "https://hooks.slack.com/commands/T1/123/abc",
        "https://hooks.slack.com@evil.example/x",
    ];
    inputs.iter().enumerate().map(|(n, text)| (format!("replies-{n}"), text.as_bytes().to_vec())).collect()
}

/// Destinations documents as docs/reference/destinations.md shows them, and patterns followed
/// by an Envelope.
fn destination_seeds() -> Vec<(String, Vec<u8>)> {
    let documents = [
        r#"[{"name":"inlet-bus","type":"eventbridge","bus":"inlet"}]"#,
        r#"[{"name":"app","type":"http","url":"https://example.com/hook","secret_setting":"INLET_DESTINATION_SECRET","match":{"provider":["lark"]}}]"#,
        r#"[{"name":"q","type":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo"}]"#,
        r#"{"provider":[{"prefix":"la"}],"alert":{"status":[{"anything-but":["resolved"]}]}} {"provider":"lark","alert":{"status":"firing"}}"#,
        r#"{"$or":[{"kind":[{"suffix":"_v1"}]},{"message":{"text":[{"exists":true}]}}]} {"kind":"im.message.receive_v1"}"#,
        r#"{"n":[{"numeric":[">",0,"<=",5]}],"s":[{"equals-ignore-case":"ABC"}]} {"n":5,"s":"abc"}"#,
    ];
    documents.iter().enumerate().map(|(n, text)| (format!("destinations-{n}"), text.as_bytes().to_vec())).collect()
}
