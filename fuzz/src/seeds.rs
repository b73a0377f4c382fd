//! Seed corpora from the committed `events/`: the API Gateway events hold
//! real signed requests (body, headers, path), written here in the fuzz
//! input format once per mode of the target ([`from_events`], with the
//! plaintext body for modes where the harness signs or encrypts it, as the
//! target's `Platform::seeds` says), or from a platform's own samples
//! ([`from_samples`]); the Envelopes the handlers make of the events seed
//! the decoder, their alert notifications the splitter.

use std::path::{Path, PathBuf};

use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::Provider;
use inlet_shared::samples::{Samples, events_dir, incoming_from_apigw_v2_event};
use serde_json::Value;

use crate::{FuzzInput, NOW_UNIX, answer, fuzz_settings};

/// Named seeds: a seed `name` is written as `seed-<name>`.
pub type Seeds = Vec<(String, Vec<u8>)>;

/// The seeds of a target over shared code (no platform's).
pub fn structure_seeds(target: &str) -> Result<Seeds, String> {
    match target {
        "envelope_decode" => envelope_seeds(),
        "alert_split" => alert_seeds(),
        "destinations" => Ok(destination_seeds()),
        "replies" => Ok(reply_seeds()),
        other => Err(format!("no target named {other}")),
    }
}

/// Writes `seeds` into `dir`; returns how many.
pub fn write_all(seeds: &Seeds, dir: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, bytes) in seeds {
        let path = dir.join(format!("seed-{name}"));
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(seeds.len())
}

/// Says how seeding went (`make fuzz` reads `<target>: wrote …`) and exits.
pub fn exit_after_seeding(target: &str, dir: &Path, written: Result<usize, String>) -> ! {
    match written {
        Ok(count) => {
            eprintln!("{target}: wrote {count} seeds to {}", dir.display());
            std::process::exit(0);
        }
        Err(error) => {
            eprintln!("{target}: seeding failed: {error}");
            std::process::exit(1);
        }
    }
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

/// Each `events/` request of the platform once per mode, its body as
/// `body(mode, body)` makes it (the plaintext, for modes that seal it).
pub fn from_events(target: &str, modes: usize, body: impl Fn(usize, &[u8]) -> Vec<u8>) -> Result<Seeds, String> {
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
        let sent = event.get("body").and_then(Value::as_str).unwrap_or_default().as_bytes();
        for mode in 0..modes {
            let seed = FuzzInput::render(FuzzInput::control(mode), method, &target_line, &headers, &body(mode, sent));
            seeds.push((format!("{name}-m{mode}"), seed));
        }
    }
    Ok(seeds)
}

/// Each of the platform's own samples, signed with the fuzz settings at
/// [`NOW_UNIX`], once per mode with the queue up and once with it down (for
/// a platform without `events/` of its own, or whose samples reach more).
pub fn from_samples<P: Samples>(modes: usize) -> Result<Seeds, String> {
    let settings = fuzz_settings();
    let mut seeds = Vec::new();
    for name in P::SAMPLE_NAMES {
        let Some(sample) = P::sample(name, &settings, NOW_UNIX, "fuzz") else { continue };
        for mode in 0..modes {
            for (queue, down) in [("up", 0), ("down", 1)] {
                let control = FuzzInput::control(mode) | down;
                let seed = FuzzInput::render(control, &sample.method, &sample.path, &sample.headers, &sample.body);
                seeds.push((format!("{name}-m{mode}-{queue}"), seed));
            }
        }
    }
    Ok(seeds)
}

/// What each platform's deployment from the fuzz settings enqueues for a
/// request, by the name of its target.
type Published = fn(&IncomingRequest) -> Vec<String>;
const PLATFORMS: [(&str, Published); 13] = [
    ("lark", published::<::lark::LarkFunction>),
    ("discord", published::<::discord::DiscordFunction>),
    ("telegram", published::<::telegram::TelegramFunction>),
    ("openim", published::<::openim::OpenimFunction>),
    ("alertmanager", published::<::alertmanager::AlertmanagerFunction>),
    ("grafana", published::<::grafana::GrafanaFunction>),
    ("alert_api", published::<::alert_api::AlertApiFunction>),
    ("slack", published::<::slack::SlackFunction>),
    ("github", published::<::github::GithubFunction>),
    ("stripe", published::<::stripe::StripeFunction>),
    ("standard_webhooks", published::<::standard_webhooks::StandardWebhooksFunction>),
    ("wecom", published::<::wecom::WecomFunction>),
    ("dingtalk", published::<::dingtalk::DingtalkFunction>),
];

/// The queue messages the handlers make of every event, and the SQS
/// sample's record bodies.
fn envelope_seeds() -> Result<Seeds, String> {
    let mut seeds = Vec::new();
    for (target, published) in PLATFORMS {
        for (name, event) in events(&provider_prefix(target))? {
            let request = incoming_from_apigw_v2_event(&event).ok_or_else(|| format!("{name} is not an event"))?;
            for (index, body) in published(&request).into_iter().enumerate() {
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

/// The bodies a deployment from the fuzz settings (`events/env.json`) enqueues for `request`.
fn published<P: Provider>(request: &IncomingRequest) -> Vec<String> {
    let function = P::from_env(&fuzz_settings()).expect("settings of events/env.json");
    let publisher = answer(&function, request, false).1;
    publisher.sent_messages().into_iter().map(|message| message.body).collect()
}

/// The notifications of the alert senders' events.
fn alert_seeds() -> Result<Seeds, String> {
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
fn reply_seeds() -> Seeds {
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
fn destination_seeds() -> Seeds {
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
