//! Every provider's signed samples, by name.

use inlet_shared::config::EnvSource;
use inlet_shared::samples::SampleRequest;

use crate::providers::PROVIDERS;

/// All sample names, provider by provider.
pub fn names() -> Vec<&'static str> {
    PROVIDERS.iter().flat_map(|provider| provider.sample_names.iter().copied()).collect()
}

/// The provider whose sample `name` is.
pub fn provider_of(name: &str) -> Option<&'static str> {
    PROVIDERS.iter().find(|provider| provider.sample_names.contains(&name)).map(|provider| provider.name)
}

/// Builds the named sample signed with the settings in `env`.
pub fn build(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
    PROVIDERS.iter().find_map(|provider| (provider.sample)(name, env, timestamp, unique))
}

/// Sends `sample` to the API at `api` (`http://127.0.0.1:9000`) with its own
/// method, headers and body; returns the status and the body as text. The
/// agent should not treat 4xx/5xx as errors (`http_status_as_error(false)`).
pub fn send(agent: &ureq::Agent, api: &str, sample: &SampleRequest) -> Result<(u16, String), ureq::Error> {
    let mut request = http::Request::builder().method(sample.method.as_str()).uri(format!("{api}{}", sample.path));
    for (header, value) in &sample.headers {
        request = request.header(header, value);
    }
    let mut response = agent.run(request.body(sample.body.clone())?)?;
    Ok((response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default()))
}

/// Writes every sample as an API Gateway v2 event (`<sample>.json`), plus an
/// SQS event for the processor (`sqs-batch.json`) whose record is the
/// Envelope the Lark function makes of `lark-message`.
pub async fn write_events(
    settings: &std::collections::HashMap<String, String>,
    timestamp: i64,
    out: &std::path::Path,
) -> Result<usize, String> {
    let mut written = 0;
    for name in names() {
        let Some(sample) = build(name, settings, timestamp, "sample") else {
            continue;
        };
        let event = sample.to_apigw_v2_event(timestamp * 1000);
        write_json(&out.join(format!("{name}.json")), &event)?;
        written += 1;
    }

    let function = inlet_shared::samples::describe::<lark::LarkFunction>();
    let function = (function.open)(settings).map_err(|e| e.to_string())?;
    let publisher = inlet_shared::queue::MemoryPublisher::new();
    let request = build("lark-message", settings, timestamp, "sample").ok_or("no lark-message sample")?.to_incoming();
    let now = time::OffsetDateTime::from_unix_timestamp(timestamp).map_err(|e| e.to_string())?;
    function.handle_boxed(&publisher, &request, now).await;
    let envelope = publisher.sent().into_iter().next().ok_or("the lark-message sample was not enqueued")?;
    let body = serde_json::to_string(&envelope).map_err(|e| e.to_string())?;
    let sqs_event = serde_json::json!({
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
    });
    write_json(&out.join("sqs-batch.json"), &sqs_event)?;
    Ok(written + 1)
}

fn write_json(path: &std::path::Path, value: &serde_json::Value) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}
