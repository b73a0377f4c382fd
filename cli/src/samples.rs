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
/// Envelope the Lark function makes of `lark-message`: the events part of
/// `inlet gen` ([`crate::generate::events`]), into any directory.
pub async fn write_events(
    settings: &std::collections::HashMap<String, String>,
    timestamp: i64,
    out: &std::path::Path,
) -> Result<usize, String> {
    let events = crate::generate::events::events(PROVIDERS, settings, timestamp)?;
    for (name, event) in &events {
        write_json(&out.join(format!("{name}.json")), event)?;
    }
    Ok(events.len())
}

fn write_json(path: &std::path::Path, value: &serde_json::Value) -> Result<(), String> {
    let text = crate::generate::events::json_text(value)?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}
