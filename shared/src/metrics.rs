//! CloudWatch metrics as Embedded Metric Format lines: one JSON line on
//! stdout per request (receivers) or per batch (processor), which Lambda's
//! log pipeline turns into metrics. No API call, no client, nothing on the
//! request's path but one write.
//!
//! The names are a contract: template.yaml's alarms and dashboards read
//! exactly these metrics, dimensions and units.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::config::{EnvSource, flag, optional};
use crate::error::ConfigError;

/// Where EMF lines go.
pub trait MetricsSink: Send + Sync {
    /// Writes one complete line (without its newline).
    fn write_line(&self, line: &str);
}

/// The process's stdout, as Lambda forwards it to CloudWatch Logs. Each line
/// is one write of the whole line on the locked handle, so a log line from
/// another thread can never land inside it. A failed write is dropped: a
/// metric is never worth a failed request.
pub struct StdoutSink;

impl MetricsSink for StdoutSink {
    fn write_line(&self, line: &str) {
        let mut text = String::with_capacity(line.len() + 1);
        text.push_str(line);
        text.push('\n');
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
    }
}

/// Whether and where a function writes its metrics: `INLET_METRICS` (on by
/// default; `off` for benches) and `INLET_METRICS_NAMESPACE` (`inlet`).
#[derive(Clone)]
pub struct Metrics {
    namespace: String,
    sink: Option<Arc<dyn MetricsSink>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("namespace", &self.namespace).field("enabled", &self.enabled()).finish()
    }
}

impl Metrics {
    pub const DEFAULT_NAMESPACE: &'static str = "inlet";
    /// CloudWatch's longest namespace.
    const MAX_NAMESPACE_CHARS: usize = 255;

    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let namespace = optional(env, "INLET_METRICS_NAMESPACE").unwrap_or_else(|| Self::DEFAULT_NAMESPACE.into());
        if namespace.chars().count() > Self::MAX_NAMESPACE_CHARS {
            return Err(ConfigError::new("INLET_METRICS_NAMESPACE", "is longer than CloudWatch's 255 characters"));
        }
        let enabled = flag(env, "INLET_METRICS", true)?;
        Ok(Metrics { namespace, sink: enabled.then(|| Arc::new(StdoutSink) as Arc<dyn MetricsSink>) })
    }

    /// No lines at all.
    pub fn off() -> Self {
        Metrics { namespace: Self::DEFAULT_NAMESPACE.into(), sink: None }
    }

    /// Lines into `sink` (tests capture them this way).
    pub fn to(sink: Arc<dyn MetricsSink>) -> Self {
        Metrics { namespace: Self::DEFAULT_NAMESPACE.into(), sink: Some(sink) }
    }

    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Writes `line`, stamped now, when metrics are on.
    pub fn emit(&self, line: &MetricLine) {
        if let Some(sink) = &self.sink {
            sink.write_line(&line.render(&self.namespace, now_ms()));
        }
    }
}

/// Milliseconds since the epoch by the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// True for the first call in this process: the request a cold start served.
pub fn take_cold_start() -> bool {
    static COLD: AtomicBool = AtomicBool::new(true);
    COLD.swap(false, Ordering::Relaxed)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Percent,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Percent => "Percent",
        }
    }
}

/// One EMF document: dimension sets, metrics with their units, and the
/// dimension values and properties as top-level members.
#[derive(Clone, Debug)]
pub struct MetricLine {
    dimension_sets: Vec<&'static [&'static str]>,
    metrics: Vec<(&'static str, Unit)>,
    /// In the order set; a name set twice keeps its last value.
    members: Vec<(&'static str, Value)>,
}

impl MetricLine {
    pub fn new(dimension_sets: &[&'static [&'static str]]) -> Self {
        MetricLine { dimension_sets: dimension_sets.to_vec(), metrics: Vec::new(), members: Vec::with_capacity(12) }
    }

    fn set(&mut self, name: &'static str, value: Value) {
        match self.members.iter_mut().find(|(existing, _)| *existing == name) {
            Some(member) => member.1 = value,
            None => self.members.push((name, value)),
        }
    }

    /// A dimension's value (every name in the dimension sets needs one).
    pub fn dimension(mut self, name: &'static str, value: &str) -> Self {
        self.set(name, Value::String(value.into()));
        self
    }

    /// A metric: a number, or an array of at most 100 numbers (EMF's limit).
    pub fn metric(mut self, name: &'static str, unit: Unit, value: impl Into<Value>) -> Self {
        self.metrics.push((name, unit));
        self.set(name, value.into());
        self
    }

    /// A property: searchable in Logs Insights, not a metric.
    pub fn property(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.set(name, value.into());
        self
    }

    /// The line, written straight into one buffer: it is built on every
    /// request, and building a `Value` tree of the whole document first cost
    /// 7 µs of it (BENCHMARKS.md, "the metric line").
    pub fn render(&self, namespace: &str, timestamp_ms: i64) -> String {
        let mut out = Vec::with_capacity(640);
        out.push(b'{');
        for (name, value) in &self.members {
            write_json(&mut out, name);
            out.push(b':');
            write_json(&mut out, value);
            out.push(b',');
        }
        out.extend_from_slice(b"\"_aws\":{\"Timestamp\":");
        write_json(&mut out, &timestamp_ms);
        out.extend_from_slice(b",\"CloudWatchMetrics\":[{\"Namespace\":");
        write_json(&mut out, &namespace);
        out.extend_from_slice(b",\"Dimensions\":");
        write_json(&mut out, &self.dimension_sets);
        out.extend_from_slice(b",\"Metrics\":[");
        for (n, (name, unit)) in self.metrics.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"Name\":");
            write_json(&mut out, name);
            out.extend_from_slice(b",\"Unit\":\"");
            out.extend_from_slice(unit.as_str().as_bytes());
            out.extend_from_slice(b"\"}");
        }
        out.extend_from_slice(b"]}]}}");
        // serde_json writes UTF-8 only, and the rest is ASCII.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Appends `value` as JSON (into a Vec<u8>, this cannot fail).
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(out, value);
}

/// What one receiver request did, as its metric line reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestMetrics<'a> {
    pub provider: &'a str,
    /// The route as the logs show it (secret segments already `***`), or
    /// `ingress::UNMATCHED_ROUTE` for a path of no route.
    pub route: &'a str,
    pub status: u16,
    /// Set when the request was refused: the refusal's class.
    pub refused: Option<&'static str>,
    /// A 2xx answered or acknowledged after the enqueue.
    pub accepted: bool,
    /// The queue was down or refused, or the provider's fallback answered
    /// for an event that was not captured.
    pub queue_failure: bool,
    /// Arrival at API Gateway → answer.
    pub ack_latency_ms: f64,
    /// The platform's deadline for this answer.
    pub deadline_ms: u32,
    /// Time spent sending, when something was sent.
    pub enqueue_latency_ms: Option<f64>,
    pub events: usize,
    pub cold_start: bool,
}

impl RequestMetrics<'_> {
    const BY_PROVIDER: &'static [&'static str] = &["Provider"];
    const BY_ROUTE: &'static [&'static str] = &["Provider", "Route"];
    const BY_CLASS: &'static [&'static str] = &["Provider", "Class"];

    pub fn line(&self) -> MetricLine {
        let sets: &[&'static [&'static str]] = match self.refused {
            Some(_) => &[Self::BY_PROVIDER, Self::BY_ROUTE, Self::BY_CLASS],
            None => &[Self::BY_PROVIDER, Self::BY_ROUTE],
        };
        let count = |yes: bool| u8::from(yes);
        let used = if self.deadline_ms == 0 { 0.0 } else { self.ack_latency_ms / f64::from(self.deadline_ms) * 100.0 };
        let mut line = MetricLine::new(sets)
            .dimension("Provider", self.provider)
            .dimension("Route", self.route)
            .metric("Accepted", Unit::Count, count(self.accepted))
            .metric("Refused", Unit::Count, count(self.refused.is_some()))
            .metric("QueueFailures", Unit::Count, count(self.queue_failure))
            .metric("AckLatency", Unit::Milliseconds, round2(self.ack_latency_ms))
            .metric("AckDeadlineUsed", Unit::Percent, round2(used));
        if let Some(enqueue) = self.enqueue_latency_ms {
            line = line.metric("EnqueueLatency", Unit::Milliseconds, round2(enqueue));
        }
        if let Some(class) = self.refused {
            line = line.dimension("Class", class);
        }
        line.property("Status", self.status)
            .property("Events", self.events)
            .property("ColdStart", self.cold_start)
            .property("DeadlineMs", self.deadline_ms)
    }
}

/// What one processor batch did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchMetrics {
    pub batch_size: usize,
    pub processed: usize,
    pub duplicates: usize,
    /// Everything left for redelivery: in progress elsewhere, lost lock, failed.
    pub failed: usize,
    pub refusals_recorded: usize,
    /// Now − `Envelope.received_at` of each processed event.
    pub event_ages_ms: Vec<f64>,
}

impl BatchMetrics {
    /// EMF takes at most this many values for one metric.
    const MAX_VALUES: usize = 100;

    pub fn line(&self) -> MetricLine {
        let mut line = MetricLine::new(&[&["Function"]])
            .dimension("Function", "processor")
            .metric("Processed", Unit::Count, self.processed)
            .metric("Duplicates", Unit::Count, self.duplicates)
            .metric("Failed", Unit::Count, self.failed)
            .metric("RefusalsRecorded", Unit::Count, self.refusals_recorded)
            .metric("BatchSize", Unit::Count, self.batch_size);
        if !self.event_ages_ms.is_empty() {
            // Over EMF's limit, the oldest are kept: the alarm watches the maximum.
            let mut ages = self.event_ages_ms.clone();
            if ages.len() > Self::MAX_VALUES {
                ages.sort_by(|a, b| b.total_cmp(a));
                ages.truncate(Self::MAX_VALUES);
            }
            let ages: Vec<Value> = ages.into_iter().map(|age| json!(round2(age.max(0.0)))).collect();
            line = line.metric("EventAge", Unit::Milliseconds, ages);
        }
        line
    }
}

/// One destination's deliveries in one batch: a line of its own, under the
/// `Destination` dimension and, summed over every destination, under none
/// (the totals the template's alarms watch).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DestinationMetrics {
    pub destination: String,
    pub delivered: usize,
    /// Failed, owed to a redelivery.
    pub failed: usize,
    /// Refused for good: recorded, never retried.
    pub refused: usize,
    /// Now − `Envelope.received_at` of each delivered event.
    pub latencies_ms: Vec<f64>,
}

impl DestinationMetrics {
    pub fn line(&self) -> MetricLine {
        let mut line = MetricLine::new(&[&["Destination"], &[]])
            .dimension("Destination", &self.destination)
            .metric("Delivered", Unit::Count, self.delivered)
            .metric("DeliveryFailed", Unit::Count, self.failed)
            .metric("DeliveryRefused", Unit::Count, self.refused);
        if !self.latencies_ms.is_empty() {
            let mut latencies = self.latencies_ms.clone();
            if latencies.len() > BatchMetrics::MAX_VALUES {
                latencies.sort_by(|a, b| b.total_cmp(a));
                latencies.truncate(BatchMetrics::MAX_VALUES);
            }
            let values: Vec<Value> = latencies.into_iter().map(|ms| json!(round2(ms.max(0.0)))).collect();
            line = line.metric("DeliveryLatency", Unit::Milliseconds, values);
        }
        line
    }
}

/// What one batch of the reply function did: a line under `Function` =
/// `replier`, as the processor's is under `processor`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplyMetrics {
    pub batch_size: usize,
    /// Posted by the platform.
    pub sent: usize,
    /// Already sent (a redelivered request): acknowledged, not posted again.
    pub duplicates: usize,
    /// Left for redelivery: the platform or the store failed, or the event
    /// is not processed yet.
    pub failed: usize,
    /// Never sent and never retried: refused by the platform, no
    /// conversation to answer, or an unreadable request.
    pub refused: usize,
}

impl ReplyMetrics {
    pub fn line(&self) -> MetricLine {
        MetricLine::new(&[&["Function"]])
            .dimension("Function", "replier")
            .metric("RepliesSent", Unit::Count, self.sent)
            .metric("Duplicates", Unit::Count, self.duplicates)
            .metric("ReplyFailed", Unit::Count, self.failed)
            .metric("ReplyRefused", Unit::Count, self.refused)
            .metric("BatchSize", Unit::Count, self.batch_size)
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Keeps every line written, for tests.
#[derive(Default)]
pub struct CapturedMetrics {
    lines: std::sync::Mutex<Vec<String>>,
}

impl CapturedMetrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|lines| lines.clone()).unwrap_or_default()
    }

    /// Every line, parsed.
    pub fn documents(&self) -> Vec<Value> {
        self.lines().iter().filter_map(|line| serde_json::from_str(line).ok()).collect()
    }
}

impl MetricsSink for CapturedMetrics {
    fn write_line(&self, line: &str) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Route, logged_path};
    use std::collections::HashMap;

    fn request<'a>(route: &'a str, refused: Option<&'static str>) -> RequestMetrics<'a> {
        RequestMetrics {
            provider: "openim",
            route,
            status: if refused.is_some() { 401 } else { 200 },
            refused,
            accepted: refused.is_none(),
            queue_failure: false,
            ack_latency_ms: 150.0,
            deadline_ms: 5000,
            enqueue_latency_ms: refused.is_none().then_some(12.5),
            events: usize::from(refused.is_none()),
            cold_start: true,
        }
    }

    fn parse(line: &MetricLine) -> Value {
        serde_json::from_str(&line.render("inlet-test", 1_700_000_000_123)).expect("valid JSON")
    }

    fn units(document: &Value) -> HashMap<String, String> {
        document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["Name"].as_str().unwrap().to_string(), m["Unit"].as_str().unwrap().to_string()))
            .collect()
    }

    #[test]
    fn a_request_line_is_emf_with_its_dimensions_units_and_properties() {
        let document = parse(&request("/openim/callbackX", None).line());
        assert_eq!(document["_aws"]["Timestamp"], 1_700_000_000_123i64);
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "inlet-test");
        assert_eq!(directive["Dimensions"], json!([["Provider"], ["Provider", "Route"]]));
        let units = units(&document);
        for (name, unit) in [
            ("Accepted", "Count"),
            ("Refused", "Count"),
            ("QueueFailures", "Count"),
            ("AckLatency", "Milliseconds"),
            ("AckDeadlineUsed", "Percent"),
            ("EnqueueLatency", "Milliseconds"),
        ] {
            assert_eq!(units.get(name).map(String::as_str), Some(unit), "{name}");
            assert!(document[name].is_number(), "{name} has a value");
        }
        assert_eq!(
            (document["Provider"].as_str(), document["Route"].as_str()),
            (Some("openim"), Some("/openim/callbackX"))
        );
        assert_eq!((document["Accepted"].as_u64(), document["Refused"].as_u64()), (Some(1), Some(0)));
        assert_eq!(document["AckDeadlineUsed"], 3.0);
        assert_eq!(document["Status"], 200);
        assert_eq!(document["Events"], 1);
        assert_eq!(document["ColdStart"], true);
        assert_eq!(document["DeadlineMs"], 5000);
        assert!(document.get("Class").is_none());
    }

    #[test]
    fn a_name_set_twice_appears_once_with_its_last_value_on_one_line() {
        let line = MetricLine::new(&[&["Function"]])
            .dimension("Function", "first")
            .property("Note", "quote \" and\nnewline")
            .dimension("Function", "processor")
            .render("ns \"quoted\"", 5);
        assert!(!line.contains('\n'), "one line: {line}");
        assert_eq!(line.matches("\"Function\":").count(), 1, "{line}");
        let document: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(document["Function"], "processor");
        assert_eq!(document["Note"], "quote \" and\nnewline");
        assert_eq!(document["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ns \"quoted\"");
        assert_eq!(document["_aws"]["CloudWatchMetrics"][0]["Metrics"], json!([]));
    }

    #[test]
    fn a_refused_line_carries_its_class_and_no_enqueue_latency() {
        let document = parse(&request("/openim/callbackX", Some("bad_credential")).line());
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Provider"], ["Provider", "Route"], ["Provider", "Class"]])
        );
        assert_eq!(document["Class"], "bad_credential");
        assert_eq!(document["Refused"], 1);
        assert!(!units(&document).contains_key("EnqueueLatency"), "nothing was sent");
    }

    #[test]
    fn a_secret_path_segment_never_reaches_the_line() {
        const ROUTES: &[Route] =
            &[Route::post("/openim/{command}"), Route::post("/openim/{token}/{command}").secret(&["token"])];
        let path = "/openim/S3CRET-PATH-TOKEN/callbackBeforeSendSingleMsgCommand";
        for not_found in [false, true] {
            let route = logged_path(ROUTES, path, not_found);
            let line = request(&route, Some("malformed")).line().render("inlet", 0);
            assert!(!line.contains("S3CRET"), "{line}");
            assert!(line.contains("/openim/***/"), "{line}");
        }
    }

    #[test]
    fn a_batch_line_has_the_function_dimension_and_event_ages() {
        let batch = BatchMetrics {
            batch_size: 4,
            processed: 2,
            duplicates: 1,
            failed: 1,
            refusals_recorded: 0,
            event_ages_ms: vec![120.0, 80.5],
        };
        let document = parse(&batch.line());
        assert_eq!(document["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Function"]]));
        assert_eq!(document["Function"], "processor");
        let unit_of = units(&document);
        for name in ["Processed", "Duplicates", "Failed", "RefusalsRecorded", "BatchSize"] {
            assert_eq!(unit_of[name], "Count", "{name}");
        }
        assert_eq!(unit_of["EventAge"], "Milliseconds");
        assert_eq!(document["EventAge"], json!([120.0, 80.5]));
        assert_eq!((document["Processed"].as_u64(), document["BatchSize"].as_u64()), (Some(2), Some(4)));
        let many = BatchMetrics { event_ages_ms: (0..250).map(f64::from).collect(), ..batch };
        let ages = parse(&many.line())["EventAge"].as_array().unwrap().clone();
        assert_eq!((ages.len(), ages[0].as_f64()), (100, Some(249.0)), "EMF's limit, the oldest kept");
        let empty = parse(&BatchMetrics::default().line());
        assert!(empty.get("EventAge").is_none() && !units(&empty).contains_key("EventAge"));
    }

    #[test]
    fn a_reply_batch_line_is_under_the_replier_function() {
        let batch = ReplyMetrics { batch_size: 4, sent: 1, duplicates: 1, failed: 1, refused: 1 };
        let document = parse(&batch.line());
        assert_eq!(document["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Function"]]));
        assert_eq!(document["Function"], "replier");
        let unit_of = units(&document);
        for name in ["RepliesSent", "Duplicates", "ReplyFailed", "ReplyRefused", "BatchSize"] {
            assert_eq!(unit_of[name], "Count", "{name}");
            assert!(document[name].is_number(), "{name}");
        }
        assert_eq!(document["BatchSize"], 4);
    }

    #[test]
    fn settings_default_on_in_the_inlet_namespace_and_can_be_turned_off() {
        let env = |pairs: &[(&'static str, &'static str)]| pairs.iter().copied().collect::<HashMap<_, _>>();
        let metrics = Metrics::from_env(&env(&[])).unwrap();
        assert!(metrics.enabled());
        assert_eq!(metrics.namespace(), "inlet");
        let metrics = Metrics::from_env(&env(&[("INLET_METRICS", "off"), ("INLET_METRICS_NAMESPACE", "acme/inlet")]));
        let metrics = metrics.unwrap();
        assert!(!metrics.enabled());
        assert_eq!(metrics.namespace(), "acme/inlet");
        assert_eq!(Metrics::from_env(&env(&[("INLET_METRICS", "maybe")])).unwrap_err().name, "INLET_METRICS");
        let long = "n".repeat(256);
        let long: &'static str = Box::leak(long.into_boxed_str());
        assert!(Metrics::from_env(&env(&[("INLET_METRICS_NAMESPACE", long)])).is_err());
    }

    #[test]
    fn emitted_lines_are_one_per_emit_and_nothing_when_off() {
        let captured = CapturedMetrics::new();
        let metrics = Metrics::to(captured.clone());
        metrics.emit(&BatchMetrics::default().line());
        Metrics::off().emit(&BatchMetrics::default().line());
        assert_eq!(captured.lines().len(), 1);
        assert!(!captured.lines()[0].contains('\n'), "one line");
    }
    #[test]
    fn a_destination_line_counts_under_its_name_and_in_the_totals() {
        let metrics = DestinationMetrics {
            destination: "app".into(),
            delivered: 2,
            failed: 1,
            refused: 0,
            latencies_ms: vec![12.345, 80.0],
        };
        let document: Value = serde_json::from_str(&metrics.line().render("inlet", 1)).unwrap();
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([["Destination"], []]));
        assert_eq!(document["Destination"], "app");
        assert_eq!((document["Delivered"].clone(), document["DeliveryFailed"].clone()), (json!(2), json!(1)));
        assert_eq!(document["DeliveryRefused"], 0);
        assert_eq!(document["DeliveryLatency"], json!([12.35, 80.0]));
    }
}
