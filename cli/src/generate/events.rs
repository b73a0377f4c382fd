//! events/: the dev settings of events/env.json and every signed sample as
//! an API Gateway HTTP API (payload 2.0) event, plus the processor's SQS
//! batch (what `gen-events` writes, `make events`).
//!
//! events/env.json: each platform's settings come first, in the registry's
//! order, with their dev values (`Setting::dev`); the rest of the file is
//! hand-written and kept as it is: `INLET_*`, `RUST_LOG` and the reply
//! clients' settings of a platform in the registry (`LARK_APP_ID`, …, kept
//! after that platform's own). A key of any other prefix would be a setting
//! of a platform no longer in the registry: it is dropped.

use crate::providers::Described;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use inlet_shared::samples::Descriptor;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::{GeneratedFile, Options, read};

/// The fixed signing time of committed `events/` files; handler tests use
/// it as their clock.
pub const EVENTS_TIMESTAMP: i64 = 1_700_000_000;

pub const DIR: &str = "events";
pub const ENV_FILE: &str = "events/env.json";
/// The processor's sample event.
pub const SQS_BATCH: &str = "sqs-batch";

pub fn generate(root: &Path, providers: &[Descriptor], options: &Options) -> Result<Vec<GeneratedFile>, String> {
    let env = env_file(&read(root, ENV_FILE)?, providers)?;
    let settings = settings_of(&env)?;
    let mut files = vec![GeneratedFile::new(ENV_FILE, env)];
    for (name, event) in events(providers, &settings, options.events_timestamp)? {
        files.push(GeneratedFile::new(format!("{DIR}/{name}.json"), json_text(&event)?));
    }
    Ok(files)
}

/// events/*.json files no generated file names (samples that are gone).
pub fn obsolete(root: &Path, files: &[GeneratedFile]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root.join(DIR)) else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .filter_map(|path| path.file_name().map(|name| Path::new(DIR).join(name)))
        .filter(|path| path != Path::new(ENV_FILE) && !files.iter().any(|file| &file.path == path))
        .collect()
}

/// The settings of an env.json text, as `load_env_file` reads them.
pub fn settings_of(text: &str) -> Result<HashMap<String, String>, String> {
    let json: Value = serde_json::from_str(text).map_err(|e| format!("{ENV_FILE}: not JSON: {e}"))?;
    let parameters =
        json.get("Parameters").and_then(Value::as_object).ok_or(format!("{ENV_FILE} has no \"Parameters\" object"))?;
    Ok(parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect())
}

/// events/env.json with every platform's settings from the registry.
pub fn env_file(current: &str, providers: &[Descriptor]) -> Result<String, String> {
    let existing = ordered_parameters(current)?;
    let generated: Vec<&str> = providers.iter().flat_map(|p| p.platform().settings.iter().map(|s| s.name)).collect();
    // The hand-written rest, each with the platform whose prefix it has.
    let owner = |key: &str| {
        providers
            .iter()
            .filter(|p| key.starts_with(&format!("{}_", p.settings_prefix)))
            .max_by_key(|p| p.settings_prefix.len())
            .map(|p| p.name)
    };
    let kept: Vec<&(String, Value)> = existing
        .iter()
        .filter(|(key, _)| !generated.contains(&key.as_str()))
        .filter(|(key, _)| key.starts_with("INLET_") || key.starts_with("RUST_") || owner(key).is_some())
        .collect();
    let mut entries: Vec<(String, Value)> = Vec::new();
    for provider in providers {
        for setting in provider.platform().settings {
            entries.push((setting.name.to_string(), Value::String(setting.dev.to_string())));
        }
        entries.extend(kept.iter().filter(|(key, _)| owner(key) == Some(provider.name)).map(|&e| e.clone()));
    }
    entries.extend(kept.iter().filter(|(key, _)| owner(key).is_none()).map(|&e| e.clone()));
    let mut out = String::from("{\n  \"Parameters\": {\n");
    for (n, (key, value)) in entries.iter().enumerate() {
        let comma = if n + 1 < entries.len() { "," } else { "" };
        let key = serde_json::to_string(key).map_err(|e| e.to_string())?;
        let value = serde_json::to_string(value).map_err(|e| e.to_string())?;
        out.push_str(&format!("    {key}: {value}{comma}\n"));
    }
    out.push_str("  }\n}\n");
    Ok(out)
}

/// The `Parameters` of an env.json text, in the file's order.
fn ordered_parameters(text: &str) -> Result<Vec<(String, Value)>, String> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(rename = "Parameters")]
        parameters: Ordered,
    }
    let file: File = serde_json::from_str(text).map_err(|e| format!("{ENV_FILE}: {e}"))?;
    Ok(file.parameters.0)
}

/// A JSON object's members in their order.
struct Ordered(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut members = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    members.push((key, value));
                }
                Ok(Ordered(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// Pretty JSON with a final newline, as events/ holds it.
pub fn json_text(value: &Value) -> Result<String, String> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

/// Every sample of `providers` that `settings` can sign, as an API Gateway
/// v2 event (`<sample>`), plus an SQS event for the processor
/// ([`SQS_BATCH`]) whose record is the Envelope the Lark function makes of
/// `lark-message`. A sample whose settings are empty is left out.
pub fn events(
    providers: &[Descriptor],
    settings: &HashMap<String, String>,
    timestamp: i64,
) -> Result<Vec<(String, Value)>, String> {
    let mut events = Vec::new();
    for provider in providers {
        for name in provider.sample_names {
            if let Some(sample) = (provider.sample)(name, settings, timestamp, "sample") {
                events.push((name.to_string(), sample.to_apigw_v2_event(timestamp * 1000)));
            }
        }
    }
    events.push((SQS_BATCH.to_string(), sqs_batch(settings, timestamp)?));
    Ok(events)
}

fn sqs_batch(settings: &HashMap<String, String>, timestamp: i64) -> Result<Value, String> {
    let lark = inlet_shared::samples::describe::<lark::LarkFunction>();
    // The Envelope, without the request's metric line on stdout.
    let mut quiet = settings.clone();
    quiet.insert("INLET_METRICS".into(), "off".into());
    let function = (lark.open)(&quiet).map_err(|e| e.to_string())?;
    let publisher = inlet_shared::queue::MemoryPublisher::new();
    let request =
        (lark.sample)("lark-message", settings, timestamp, "sample").ok_or("no lark-message sample")?.to_incoming();
    let now = time::OffsetDateTime::from_unix_timestamp(timestamp).map_err(|e| e.to_string())?;
    block_on(function.handle_boxed(&publisher, &request, now))?;
    let envelope = publisher.sent().into_iter().next().ok_or("the lark-message sample was not enqueued")?;
    let body = serde_json::to_string(&envelope).map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "Records": [{
            "messageId": "0b3f5b8e-1c2d-4e5f-8a9b-000000000001",
            "receiptHandle": "sample-receipt-handle",
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": (timestamp * 1000).to_string(),
                "SenderId": "123456789012",
                "ApproximateFirstReceiveTimestamp": (timestamp * 1000).to_string()
            },
            "messageAttributes": {
                "provider": {"stringValue": envelope.provider, "dataType": "String"},
                "kind": {"stringValue": envelope.kind, "dataType": "String"}
            },
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:inlet-events",
            "awsRegion": "us-east-1"
        }]
    }))
}

/// Runs a future that never waits: a handler with a `MemoryPublisher` does
/// no I/O. Generating stays synchronous, callable inside a runtime or not.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Ok(output);
        }
    }
    Err("the lark handler waited on something other than the in-memory queue".into())
}
