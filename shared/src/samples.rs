//! Signed sample requests, built from the same code the receivers verify
//! against. The CLI's `send`, the committed `events/` files, handler tests
//! and benches all come from here, so they cannot drift apart.

use serde_json::{Value, json};

use crate::config::EnvSource;
use crate::error::ConfigError;
use crate::ingress::IncomingRequest;
use crate::provider::DynFunction;
use crate::provider::{Provider, Route};

/// A provider's signed sample requests, built from the same settings its
/// function reads.
pub trait Samples: Provider {
    /// Every sample, by name; `events/<name>.json` is generated from each.
    const SAMPLE_NAMES: &'static [&'static str];
    /// The settings the samples sign with. Changing them forges a request:
    /// the conformance kit checks that the function refuses it. Usually the
    /// secrets themselves; Discord signs with a private seed the function
    /// never reads.
    const SIGNING_SETTINGS: &'static [&'static str] = Self::SECRET_SETTINGS;

    /// The sample `name` signed with `env`'s secrets at `timestamp`; the
    /// same `unique` gives the same event ids. `None` for an unknown name or
    /// settings that cannot sign it.
    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest>;
}

/// Builds a provider's named sample: `(name, settings, timestamp, unique)`.
pub type SampleFn = fn(&str, &dyn EnvSource, i64, &str) -> Option<SampleRequest>;
/// Builds a provider's function from settings.
pub type OpenFn = fn(&dyn EnvSource) -> Result<Box<dyn DynFunction>, ConfigError>;

/// One provider as the tools see it: its contract as data, its samples, and
/// a way to build its function, so one list can hold every provider.
pub struct Descriptor {
    /// `Envelope.provider`, the crate and binary name.
    pub name: &'static str,
    pub settings_prefix: &'static str,
    pub routes: &'static [Route],
    pub secret_settings: &'static [&'static str],
    pub signing_settings: &'static [&'static str],
    pub sample_names: &'static [&'static str],
    pub sample: SampleFn,
    pub open: OpenFn,
    /// The rest of the platform's description: its platform.toml
    /// (`Provider::PLATFORM`), as text.
    pub description: &'static str,
    /// The function's Rust path, `alert_api::AlertApiFunction` (the fuzz
    /// targets `inlet gen` writes name it).
    pub type_name: fn() -> &'static str,
}

/// `P`'s [`Descriptor`].
pub const fn describe<P: Samples>() -> Descriptor {
    Descriptor {
        name: P::NAME,
        settings_prefix: P::SETTINGS_PREFIX,
        routes: P::ROUTES,
        secret_settings: P::SECRET_SETTINGS,
        signing_settings: P::SIGNING_SETTINGS,
        sample_names: P::SAMPLE_NAMES,
        sample: P::sample,
        open: open::<P>,
        description: P::PLATFORM,
        type_name: std::any::type_name::<P>,
    }
}

fn open<P: Provider>(env: &dyn EnvSource) -> Result<Box<dyn DynFunction>, ConfigError> {
    Ok(Box::new(P::from_env(env)?))
}

/// An HTTP request ready to send to a local stack or wrap as a Lambda event.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleRequest {
    pub name: String,
    pub description: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
    /// Values API Gateway extracts from the route template (`{bot}`, `{command}`).
    pub path_params: Vec<(String, String)>,
}

impl SampleRequest {
    pub fn post_json(name: &str, description: &str, path: &str, body: impl Into<Vec<u8>>) -> Self {
        SampleRequest {
            name: name.to_string(),
            description: description.to_string(),
            method: "POST".into(),
            path: path.to_string(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            source_ip: "127.0.0.1".into(),
            path_params: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn with_path_param(mut self, name: &str, value: impl Into<String>) -> Self {
        self.path_params.push((name.to_string(), value.into()));
        self
    }

    /// The request as an API Gateway HTTP API (payload 2.0) event, valid for
    /// `sam local invoke -e` and `cargo lambda invoke --data-file`.
    pub fn to_apigw_v2_event(&self, time_epoch_ms: i64) -> Value {
        let headers: serde_json::Map<String, Value> =
            self.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let query_map: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (crate::form::percent_decode(k, false), Value::String(crate::form::percent_decode(v, false))))
            .collect();
        let path_params: serde_json::Map<String, Value> =
            self.path_params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let mut event = json!({
            "version": "2.0",
            "routeKey": format!("{} {}", self.method, path),
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "inletlocal",
                "domainName": "localhost",
                "domainPrefix": "localhost",
                "http": {
                    "method": self.method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.source_ip,
                    "userAgent": "inlet-sample"
                },
                "requestId": format!("sample-{}", self.name),
                "routeKey": format!("{} {}", self.method, path),
                "stage": "$default",
                "time": "14/Nov/2023:22:13:20 +0000",
                "timeEpoch": time_epoch_ms
            },
            "body": String::from_utf8_lossy(&self.body),
            "isBase64Encoded": false
        });
        if !query_map.is_empty() {
            event["queryStringParameters"] = Value::Object(query_map);
        }
        if !path_params.is_empty() {
            event["pathParameters"] = Value::Object(path_params);
        }
        event
    }

    /// The request as the handlers see it, for tests and benches.
    pub fn to_incoming(&self) -> IncomingRequest {
        let method = self.method.parse().unwrap_or(http::Method::POST);
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let mut request = IncomingRequest::new(method, path, self.body.clone());
        for (name, value) in &self.headers {
            request.append_header(name.as_bytes(), value.as_bytes());
        }
        request.set_raw_query(query);
        request.path_params = self.path_params.iter().cloned().collect();
        request.source_ip = self.source_ip.parse().ok();
        request
    }
}

/// Reads an API Gateway v2 event file back into the framework-free request,
/// so handler tests run on exactly the files in `events/`.
pub fn incoming_from_apigw_v2_event(event: &Value) -> Option<IncomingRequest> {
    let method = event.pointer("/requestContext/http/method")?.as_str()?.parse().ok()?;
    let path = event.get("rawPath")?.as_str()?;
    let body = event.get("body").and_then(Value::as_str).unwrap_or_default();
    let mut request = IncomingRequest::new(method, path, body.as_bytes().to_vec());
    for (name, value) in event.get("headers")?.as_object()? {
        if let Some(value) = value.as_str() {
            request.append_header(name.as_bytes(), value.as_bytes());
        }
    }
    if let Some(params) = event.get("pathParameters").and_then(Value::as_object) {
        request.path_params = params.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect();
    }
    if let Some(query) = event.get("queryStringParameters").and_then(Value::as_object) {
        request.query = query.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect();
    }
    request.raw_query = event.get("rawQueryString").and_then(Value::as_str).unwrap_or_default().to_string();
    request.received_at_ms = event.pointer("/requestContext/timeEpoch").and_then(Value::as_i64);
    request.source_ip = event.pointer("/requestContext/http/sourceIp")?.as_str()?.parse().ok();
    Some(request)
}

/// Test support: the repository's `events/` folder.
pub fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// Test support: the dev settings of `events/env.json`, without overrides,
/// and with `INLET_METRICS=off`: handler tests check protocol, the metric
/// lines are the shared flow's (tested in `metrics` and `ingress`) and would
/// only fill the test output.
pub fn dev_settings() -> std::collections::HashMap<String, String> {
    let mut settings =
        crate::config::load_env_file(&events_dir().join("env.json")).unwrap_or_else(|e| panic!("events/env.json: {e}"));
    settings.entry("INLET_METRICS".into()).or_insert_with(|| "off".into());
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apigw_event_round_trips_to_the_same_request() {
        let sample = SampleRequest::post_json("s", "d", "/x/y?key=1", r#"{"a":1}"#).with_header("X-Thing", "v");
        let request = incoming_from_apigw_v2_event(&sample.to_apigw_v2_event(0)).unwrap();
        assert_eq!(request.path, "/x/y");
        assert_eq!(request.body, br#"{"a":1}"#);
        assert_eq!(request.header("x-thing"), Some("v"));
        assert_eq!(request.source_ip, Some("127.0.0.1".parse().unwrap()));
        let direct = sample.to_incoming();
        assert_eq!(direct.query.get("key").map(String::as_str), Some("1"));
    }
}
