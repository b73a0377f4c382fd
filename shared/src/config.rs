//! Typed configuration, read once from the environment at start-up.
//!
//! Readers take an [`EnvSource`] so tests pass a map instead of mutating the
//! process environment.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::IpNet;

use crate::dedup::LeasePolicy;
use crate::error::ConfigError;
use crate::metrics::Metrics;
use crate::verify::{SecretList, TimestampWindow};

pub trait EnvSource {
    fn get(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl EnvSource for HashMap<&str, &str> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).map(|v| v.to_string())
    }
}

/// A non-empty value, or None when unset or blank.
pub fn optional(env: &dyn EnvSource, name: &str) -> Option<String> {
    env.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

pub fn required(env: &dyn EnvSource, name: &str) -> Result<String, ConfigError> {
    optional(env, name).ok_or_else(|| ConfigError::new(name, "is required"))
}

pub fn number<T: std::str::FromStr>(env: &dyn EnvSource, name: &str, default: T) -> Result<T, ConfigError> {
    match optional(env, name) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|_| ConfigError::new(name, format!("{raw:?} is not a valid number"))),
    }
}

pub fn flag(env: &dyn EnvSource, name: &str, default: bool) -> Result<bool, ConfigError> {
    match optional(env, name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(ConfigError::new(name, format!("{v:?} is not true or false"))),
    }
}

pub fn secrets(env: &dyn EnvSource, name: &str) -> SecretList {
    SecretList::parse(name, &env.get(name).unwrap_or_default())
}

/// Parses a comma-separated list of CIDRs (a bare address means /32 or /128).
pub fn cidrs(env: &dyn EnvSource, name: &str) -> Result<Vec<IpNet>, ConfigError> {
    let raw = env.get(name).unwrap_or_default();
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| ConfigError::new(name, format!("{entry:?} is not a CIDR or IP address")))
        })
        .collect()
}

/// Settings every ingress function shares.
#[derive(Clone, Debug)]
pub struct IngressSettings {
    /// Requests with larger bodies are refused with 413 before any crypto.
    pub max_body_bytes: usize,
    pub timestamp_window: TimestampWindow,
    /// Source networks allowed to call the route; empty allows all.
    pub allowed_cidrs: Vec<IpNet>,
    /// `INLET_REFUSAL_RECORDS_PER_SEC`: refusal records one function
    /// instance sends per provider and second (0: none). The processor keeps
    /// one per second and provider anyway, and a flood of forged requests
    /// must not become a flood of queue sends.
    pub refusal_records_per_sec: u32,
    /// `INLET_METRICS`, `INLET_METRICS_NAMESPACE`: one EMF line per request.
    pub metrics: Metrics,
}

impl IngressSettings {
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    pub const DEFAULT_REFUSAL_RECORDS_PER_SEC: u32 = 1;

    /// Reads the shared settings, with `<PROVIDER>_ALLOWED_CIDRS` for the
    /// allowlist of `provider_prefix` (e.g. `LARK`).
    pub fn from_env(env: &dyn EnvSource, provider_prefix: &str) -> Result<Self, ConfigError> {
        let max_body_bytes = number(env, "INLET_MAX_BODY_BYTES", Self::DEFAULT_MAX_BODY_BYTES)?;
        if max_body_bytes == 0 {
            return Err(ConfigError::new("INLET_MAX_BODY_BYTES", "must be greater than 0"));
        }
        Ok(IngressSettings {
            max_body_bytes,
            timestamp_window: TimestampWindow {
                tolerance_secs: number(env, "INLET_TIMESTAMP_TOLERANCE_SECS", TimestampWindow::DEFAULT_SECS)?,
            },
            allowed_cidrs: cidrs(env, &format!("{provider_prefix}_ALLOWED_CIDRS"))?,
            refusal_records_per_sec: number(
                env,
                "INLET_REFUSAL_RECORDS_PER_SEC",
                Self::DEFAULT_REFUSAL_RECORDS_PER_SEC,
            )?,
            metrics: Metrics::from_env(env)?,
        })
    }
}

/// Handler tests build settings this way: metrics off, so they print nothing.
impl Default for IngressSettings {
    fn default() -> Self {
        IngressSettings {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            timestamp_window: TimestampWindow::default(),
            allowed_cidrs: Vec::new(),
            refusal_records_per_sec: Self::DEFAULT_REFUSAL_RECORDS_PER_SEC,
            metrics: Metrics::off(),
        }
    }
}

/// Where the queue is and how long an ingress function waits for it: the
/// wait must end well inside the platforms' 3 s deadline so a slow queue
/// becomes a 503 (and a platform retry), not a timeout.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    pub queue_url: String,
    pub timeout: Duration,
    /// The queue's MaximumMessageSize: every Envelope is checked against it
    /// before the request is acknowledged.
    pub max_message_bytes: usize,
    /// Open the queue connection during init (`INLET_QUEUE_WARM_UP`, on by
    /// default; off only to measure what it saves).
    pub warm_up: bool,
}

impl QueueSettings {
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let max_message_bytes = number(env, "INLET_QUEUE_MAX_MESSAGE_BYTES", crate::queue::DEFAULT_MAX_MESSAGE_BYTES)?;
        if !(1024..=crate::queue::LARGEST_MAX_MESSAGE_BYTES).contains(&max_message_bytes) {
            return Err(ConfigError::new(
                "INLET_QUEUE_MAX_MESSAGE_BYTES",
                "must be the queue's MaximumMessageSize, 1024 to 1048576 bytes",
            ));
        }
        Ok(QueueSettings {
            queue_url: required(env, "INLET_QUEUE_URL")?,
            timeout: Duration::from_millis(number(env, "INLET_QUEUE_TIMEOUT_MS", 2000u64)?),
            max_message_bytes,
            warm_up: flag(env, "INLET_QUEUE_WARM_UP", true)?,
        })
    }
}

/// One row of the dedup window table: a provider, how long it may deliver an
/// event again, and how long its ids are remembered by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DedupWindowDefault {
    /// `Envelope.provider`.
    pub provider: &'static str,
    /// The sender's retry (or redelivery) horizon, as its documentation says.
    pub retry_horizon: &'static str,
    pub window_secs: u64,
}

/// Default dedup windows. Each outlasts its provider's retry horizon; where
/// ids are body hashes (a repeat may be a real second event) it stays close
/// to that horizon. Overrides: `<PROVIDER>_DEDUP_WINDOW_SECS` (provider
/// upper-cased, `-` → `_`), then `INLET_DEDUP_WINDOW_SECS` for all.
pub const DEDUP_WINDOWS: &[DedupWindowDefault] = &[
    DedupWindowDefault { provider: "lark", retry_horizon: "~7 h (15 s, 5 min, 1 h, 6 h)", window_secs: 24 * 3600 },
    DedupWindowDefault { provider: "telegram", retry_horizon: "~24 h (updates kept 24 h)", window_secs: 48 * 3600 },
    DedupWindowDefault {
        provider: "discord",
        retry_horizon: "webhook events ~10 min; interactions none",
        window_secs: 3600,
    },
    DedupWindowDefault { provider: "openim", retry_horizon: "none", window_secs: 3600 },
    DedupWindowDefault {
        provider: "alertmanager",
        retry_horizon: "until the next group interval (default 5 min)",
        window_secs: 3600,
    },
    // No retries, but signed-timestamp ids must outlast a replay (2 × the
    // tolerance) plus the time a copy may wait in the queue before its claim.
    DedupWindowDefault { provider: "grafana", retry_horizon: "none", window_secs: 3600 },
    DedupWindowDefault { provider: "alert-api", retry_horizon: "the client's own retries", window_secs: 3600 },
    DedupWindowDefault {
        provider: "slack",
        retry_horizon: "3 retries over ~5 min (at once, ~1 min, ~5 min)",
        window_secs: 2 * 3600,
    },
    DedupWindowDefault {
        provider: "github",
        retry_horizon: "none automatic; manual redelivery of the last 3 days",
        // A day over the horizon: a redelivery at its very end still finds the record.
        window_secs: 4 * 24 * 3600,
    },
    DedupWindowDefault { provider: "stripe", retry_horizon: "up to 3 days", window_secs: 4 * 24 * 3600 },
    DedupWindowDefault {
        provider: "standard-webhooks",
        retry_horizon: "chosen by each sender (Svix: ~28 h)",
        window_secs: 7 * 24 * 3600,
    },
    DedupWindowDefault {
        provider: "wecom",
        retry_horizon: "3 retries within seconds of a missed 5 s answer",
        window_secs: 3600,
    },
    // Its signed timestamp is accepted ±1 h, whatever the tolerance setting:
    // a replay inside those 2 h must still be a duplicate.
    DedupWindowDefault { provider: "dingtalk", retry_horizon: "not documented", window_secs: 3 * 3600 },
];

/// How long a completed id is remembered, per `Envelope.provider`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DedupWindows {
    by_provider: std::collections::BTreeMap<String, Duration>,
    other: Duration,
}

impl DedupWindows {
    /// The same window for every provider.
    pub fn uniform(window: Duration) -> Self {
        DedupWindows { by_provider: Default::default(), other: window }
    }

    pub fn with(mut self, provider: &str, window: Duration) -> Self {
        self.by_provider.insert(provider.to_string(), window);
        self
    }

    pub fn for_provider(&self, provider: &str) -> Duration {
        self.by_provider.get(provider).copied().unwrap_or(self.other)
    }

    /// The setting that overrides `provider`'s window (`ALERT_API_DEDUP_WINDOW_SECS`).
    pub fn setting_for(provider: &str) -> String {
        format!("{}_DEDUP_WINDOW_SECS", provider.to_ascii_uppercase().replace('-', "_"))
    }
}

/// The dedup table, its windows and the processor's lease.
#[derive(Clone, Debug)]
pub struct DedupSettings {
    pub table_name: String,
    pub windows: DedupWindows,
    /// Leases end before the queue redelivers a message (see [`LeasePolicy`]).
    pub lease: LeasePolicy,
}

impl DedupSettings {
    /// Window of providers missing from [`DEDUP_WINDOWS`]: as long as the
    /// longest there, since their retries are unknown.
    pub const DEFAULT_WINDOW_SECS: u64 = 7 * 24 * 3600;
    /// SQS's own limit on the visibility timeout.
    pub const MAX_VISIBILITY_SECS: u64 = 12 * 3600;

    /// What must pass between the end of a lease and the earliest redelivery:
    /// SQS's visibility clock starts when it hands the message out, a little
    /// before the claim. A tenth of the visibility timeout, at least 1 s.
    pub fn lease_margin(visibility: Duration) -> Duration {
        (visibility / 10).max(Duration::from_secs(1))
    }

    /// Reads and checks the processor's settings. Refuses to start when a
    /// lease could outlast the visibility timeout or a dedup window is shorter
    /// than the span in which a signed request is accepted (twice
    /// `INLET_TIMESTAMP_TOLERANCE_SECS`): a replay must always be a duplicate.
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let table_name = required(env, "INLET_TABLE_NAME")?;
        let tolerance = number(env, "INLET_TIMESTAMP_TOLERANCE_SECS", TimestampWindow::DEFAULT_SECS)?;
        let replay_span = tolerance.saturating_mul(2);

        const VISIBILITY: &str = "INLET_QUEUE_VISIBILITY_SECS";
        let visibility = required(env, VISIBILITY)?
            .parse::<u64>()
            .map_err(|_| ConfigError::new(VISIBILITY, "is not a whole number of seconds"))?;
        if !(2..=Self::MAX_VISIBILITY_SECS).contains(&visibility) {
            return Err(ConfigError::new(VISIBILITY, format!("must be 2 to {} seconds", Self::MAX_VISIBILITY_SECS)));
        }
        let visibility = Duration::from_secs(visibility);
        let longest_lease = visibility - Self::lease_margin(visibility);
        let lease = match optional(env, "INLET_LEASE_SECS") {
            None => longest_lease,
            Some(_) => {
                let cap = Duration::from_secs(number(env, "INLET_LEASE_SECS", 0u64)?);
                if cap.is_zero() || cap > longest_lease {
                    return Err(ConfigError::new(
                        "INLET_LEASE_SECS",
                        format!(
                            "must be 1 to {} s: a lease must end before the queue's visibility timeout \
                             ({VISIBILITY} = {} s) redelivers the message",
                            longest_lease.as_secs(),
                            visibility.as_secs()
                        ),
                    ));
                }
                cap
            }
        };

        // Table defaults rise to the replay span by themselves; a window set
        // explicitly below it is refused rather than silently changed.
        let explicit = |name: &str| -> Result<Option<Duration>, ConfigError> {
            let Some(raw) = optional(env, name) else { return Ok(None) };
            let secs: u64 =
                raw.parse().map_err(|_| ConfigError::new(name, format!("{raw:?} is not a whole number of seconds")))?;
            if secs == 0 || secs < replay_span {
                return Err(ConfigError::new(
                    name,
                    format!(
                        "{secs} s is shorter than twice INLET_TIMESTAMP_TOLERANCE_SECS ({replay_span} s): \
                         a replayed request would be processed as a second event"
                    ),
                ));
            }
            Ok(Some(Duration::from_secs(secs)))
        };
        let global = explicit("INLET_DEDUP_WINDOW_SECS")?;
        let at_least_replay_span = |secs: u64| Duration::from_secs(secs.max(replay_span));
        let mut windows = DedupWindows::uniform(global.unwrap_or(at_least_replay_span(Self::DEFAULT_WINDOW_SECS)));
        for row in DEDUP_WINDOWS {
            let window = match explicit(&DedupWindows::setting_for(row.provider))? {
                Some(window) => window,
                None => global.unwrap_or(at_least_replay_span(row.window_secs)),
            };
            windows = windows.with(row.provider, window);
        }
        Ok(DedupSettings { table_name, windows, lease: LeasePolicy::new(lease) })
    }
}

/// How the processor keeps the records it writes next to the events:
/// refusals (a short, capped diagnosis ring per provider) and failures (as
/// long as the dead-letter queue keeps the message they explain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationsSettings {
    /// `INLET_REFUSAL_TTL_SECS`: how long a refusal record is shown.
    pub refusal_ttl: Duration,
    /// `INLET_REFUSAL_CAP`: ring slots per provider, so a flood of forged
    /// requests overwrites old records instead of growing the table.
    pub refusal_cap: u32,
    /// The dead-letter queue's retention: a failure record is there as long
    /// as the message it explains can be.
    pub failure_ttl: Duration,
}

impl OperationsSettings {
    pub const DEFAULT_REFUSAL_TTL_SECS: u64 = 24 * 3600;
    pub const DEFAULT_REFUSAL_CAP: u32 = 100;
    /// Above this a provider's ring costs `inlet refused` more than a few
    /// BatchGetItem calls (100 keys each) and stops being "brief".
    pub const MAX_REFUSAL_CAP: u32 = 1000;
    /// template.yaml's and the local stack's DLQ MessageRetentionPeriod.
    pub const FAILURE_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let ttl = number(env, "INLET_REFUSAL_TTL_SECS", Self::DEFAULT_REFUSAL_TTL_SECS)?;
        if ttl == 0 {
            return Err(ConfigError::new("INLET_REFUSAL_TTL_SECS", "must be greater than 0"));
        }
        let cap = number(env, "INLET_REFUSAL_CAP", Self::DEFAULT_REFUSAL_CAP)?;
        if !(1..=Self::MAX_REFUSAL_CAP).contains(&cap) {
            return Err(ConfigError::new("INLET_REFUSAL_CAP", format!("must be 1 to {}", Self::MAX_REFUSAL_CAP)));
        }
        Ok(OperationsSettings {
            refusal_ttl: Duration::from_secs(ttl),
            refusal_cap: cap,
            failure_ttl: Self::FAILURE_TTL,
        })
    }
}

impl Default for OperationsSettings {
    fn default() -> Self {
        OperationsSettings {
            refusal_ttl: Duration::from_secs(Self::DEFAULT_REFUSAL_TTL_SECS),
            refusal_cap: Self::DEFAULT_REFUSAL_CAP,
            failure_ttl: Self::FAILURE_TTL,
        }
    }
}

/// Reads SAM's `--env-vars` file (`{"Parameters": {"NAME": "value"}}`), the
/// one place dev settings live, then lets the process environment override
/// any entry of the same name.
pub fn load_env_file_with_overrides(path: &std::path::Path) -> Result<HashMap<String, String>, ConfigError> {
    let mut settings = load_env_file(path)?;
    for (name, value) in settings.iter_mut() {
        if let Ok(overridden) = std::env::var(name) {
            *value = overridden;
        }
    }
    Ok(settings)
}

/// Reads SAM's `--env-vars` file without overrides.
pub fn load_env_file(path: &std::path::Path) -> Result<HashMap<String, String>, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(&name, e.to_string()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ConfigError::new(&name, format!("not JSON: {e}")))?;
    let parameters = json
        .get("Parameters")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| ConfigError::new(&name, "has no \"Parameters\" object"))?;
    Ok(parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn ingress_defaults_apply_when_unset() {
        let settings = IngressSettings::from_env(&env(&[]), "LARK").unwrap();
        assert_eq!(settings.max_body_bytes, 1024 * 1024);
        assert_eq!(settings.timestamp_window.tolerance_secs, 300);
        assert!(settings.allowed_cidrs.is_empty());
    }

    #[test]
    fn refusal_records_default_to_one_a_second_and_zero_turns_them_off() {
        let settings = IngressSettings::from_env(&env(&[]), "LARK").unwrap();
        assert_eq!(settings.refusal_records_per_sec, 1);
        assert!(settings.metrics.enabled(), "metrics are on unless INLET_METRICS=off");
        let off = IngressSettings::from_env(
            &env(&[("INLET_REFUSAL_RECORDS_PER_SEC", "0"), ("INLET_METRICS", "off")]),
            "LARK",
        );
        let off = off.unwrap();
        assert_eq!(off.refusal_records_per_sec, 0);
        assert!(!off.metrics.enabled());
        let error = IngressSettings::from_env(&env(&[("INLET_REFUSAL_RECORDS_PER_SEC", "-1")]), "LARK").unwrap_err();
        assert_eq!(error.name, "INLET_REFUSAL_RECORDS_PER_SEC");
    }

    #[test]
    fn bad_numbers_and_cidrs_name_the_setting() {
        let error = IngressSettings::from_env(&env(&[("INLET_MAX_BODY_BYTES", "lots")]), "LARK").unwrap_err();
        assert_eq!(error.name, "INLET_MAX_BODY_BYTES");
        let error = IngressSettings::from_env(&env(&[("LARK_ALLOWED_CIDRS", "10.0.0.0/8,nope")]), "LARK").unwrap_err();
        assert_eq!(error.name, "LARK_ALLOWED_CIDRS");
        assert!(IngressSettings::from_env(&env(&[("INLET_MAX_BODY_BYTES", "0")]), "LARK").is_err());
    }

    #[test]
    fn cidrs_accept_bare_addresses() {
        let nets = cidrs(&env(&[("X", "10.0.0.0/8, 192.0.2.7 ,::1")]), "X").unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[1].contains(&"192.0.2.7".parse::<std::net::IpAddr>().unwrap()));
    }

    #[test]
    fn operations_settings_default_and_refuse_an_unbounded_ring() {
        let settings = OperationsSettings::from_env(&env(&[])).unwrap();
        assert_eq!(settings, OperationsSettings::default());
        assert_eq!((settings.refusal_ttl.as_secs(), settings.refusal_cap), (86_400, 100));
        let set = OperationsSettings::from_env(&env(&[("INLET_REFUSAL_TTL_SECS", "60"), ("INLET_REFUSAL_CAP", "5")]));
        assert_eq!(set.map(|s| (s.refusal_ttl.as_secs(), s.refusal_cap)).unwrap(), (60, 5));
        for (name, value) in
            [("INLET_REFUSAL_CAP", "0"), ("INLET_REFUSAL_CAP", "100000"), ("INLET_REFUSAL_TTL_SECS", "0")]
        {
            assert_eq!(OperationsSettings::from_env(&env(&[(name, value)])).unwrap_err().name, name);
        }
    }

    #[test]
    fn queue_url_is_required() {
        assert_eq!(QueueSettings::from_env(&env(&[])).unwrap_err().name, "INLET_QUEUE_URL");
    }

    #[test]
    fn queue_message_limit_defaults_to_sqs_default_and_must_be_a_size_sqs_allows() {
        let settings = QueueSettings::from_env(&env(&[("INLET_QUEUE_URL", "q")])).unwrap();
        assert_eq!(settings.max_message_bytes, 262_144);
        for bad in ["0", "1048577"] {
            let error =
                QueueSettings::from_env(&env(&[("INLET_QUEUE_URL", "q"), ("INLET_QUEUE_MAX_MESSAGE_BYTES", bad)]));
            assert_eq!(error.unwrap_err().name, "INLET_QUEUE_MAX_MESSAGE_BYTES");
        }
    }

    const PROCESSOR: [(&str, &str); 2] = [("INLET_TABLE_NAME", "t"), ("INLET_QUEUE_VISIBILITY_SECS", "180")];

    fn processor_env(extra: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        PROCESSOR.iter().chain(extra).copied().collect()
    }

    #[test]
    fn dedup_windows_default_per_provider_from_one_table() {
        let settings = DedupSettings::from_env(&processor_env(&[])).unwrap();
        for row in DEDUP_WINDOWS {
            assert_eq!(settings.windows.for_provider(row.provider), Duration::from_secs(row.window_secs), "{row:?}");
        }
        assert_eq!(settings.windows.for_provider("lark"), Duration::from_secs(24 * 3600));
        assert_eq!(settings.windows.for_provider("grafana"), Duration::from_secs(3600));
        assert_eq!(settings.windows.for_provider("someone-new"), Duration::from_secs(7 * 24 * 3600));
    }

    #[test]
    fn every_default_window_covers_the_default_replay_span() {
        let span = 2 * TimestampWindow::DEFAULT_SECS;
        assert!(DedupSettings::DEFAULT_WINDOW_SECS >= span);
        for row in DEDUP_WINDOWS {
            assert!(row.window_secs >= span, "{row:?}");
        }
    }

    #[test]
    fn dedup_windows_are_overridden_per_provider_then_globally() {
        let settings = DedupSettings::from_env(&processor_env(&[
            ("INLET_DEDUP_WINDOW_SECS", "7200"),
            ("ALERT_API_DEDUP_WINDOW_SECS", "900"),
            ("LARK_DEDUP_WINDOW_SECS", "90000"),
        ]))
        .unwrap();
        assert_eq!(settings.windows.for_provider("alert-api"), Duration::from_secs(900));
        assert_eq!(settings.windows.for_provider("lark"), Duration::from_secs(90_000));
        assert_eq!(settings.windows.for_provider("telegram"), Duration::from_secs(7200), "global beats the table");
        assert_eq!(settings.windows.for_provider("someone-new"), Duration::from_secs(7200));
        assert_eq!(DedupWindows::setting_for("alert-api"), "ALERT_API_DEDUP_WINDOW_SECS");
    }

    #[test]
    fn dedup_windows_shorter_than_twice_the_timestamp_tolerance_are_refused() {
        let error = DedupSettings::from_env(&processor_env(&[("GRAFANA_DEDUP_WINDOW_SECS", "599")])).unwrap_err();
        assert_eq!(error.name, "GRAFANA_DEDUP_WINDOW_SECS");
        let error = DedupSettings::from_env(&processor_env(&[
            ("INLET_TIMESTAMP_TOLERANCE_SECS", "1000"),
            ("INLET_DEDUP_WINDOW_SECS", "1999"),
        ]))
        .unwrap_err();
        assert_eq!(error.name, "INLET_DEDUP_WINDOW_SECS");
        assert!(DedupSettings::from_env(&processor_env(&[("LARK_DEDUP_WINDOW_SECS", "0")])).is_err());
        assert!(DedupSettings::from_env(&processor_env(&[("LARK_DEDUP_WINDOW_SECS", "a day")])).is_err());
        // Exactly the replay span is enough.
        let settings = DedupSettings::from_env(&processor_env(&[("GRAFANA_DEDUP_WINDOW_SECS", "600")])).unwrap();
        assert_eq!(settings.windows.for_provider("grafana"), Duration::from_secs(600));
    }

    #[test]
    fn default_windows_rise_to_a_longer_replay_span() {
        let settings = DedupSettings::from_env(&processor_env(&[("INLET_TIMESTAMP_TOLERANCE_SECS", "2400")])).unwrap();
        assert_eq!(settings.windows.for_provider("grafana"), Duration::from_secs(4800));
        assert_eq!(settings.windows.for_provider("lark"), Duration::from_secs(24 * 3600), "already longer");
    }

    #[test]
    fn queue_visibility_is_required_and_caps_the_lease() {
        let error = DedupSettings::from_env(&env(&[("INLET_TABLE_NAME", "t")])).unwrap_err();
        assert_eq!(error.name, "INLET_QUEUE_VISIBILITY_SECS");
        for bad in ["0", "1", "43201", "ten"] {
            let error =
                DedupSettings::from_env(&env(&[("INLET_TABLE_NAME", "t"), ("INLET_QUEUE_VISIBILITY_SECS", bad)]))
                    .unwrap_err();
            assert_eq!(error.name, "INLET_QUEUE_VISIBILITY_SECS", "{bad}");
        }
        // Production: 180 s visibility, 30 s timeout.
        let production = DedupSettings::from_env(&processor_env(&[])).unwrap();
        assert_eq!(production.lease.max(), Duration::from_secs(162));
        // The local stack: 10 s visibility.
        let local =
            DedupSettings::from_env(&env(&[("INLET_TABLE_NAME", "t"), ("INLET_QUEUE_VISIBILITY_SECS", "10")])).unwrap();
        assert_eq!(local.lease.max(), Duration::from_secs(9));
        for visibility in [2u64, 3, 10, 11, 180, 43_200] {
            let margin = DedupSettings::lease_margin(Duration::from_secs(visibility));
            assert!(margin >= Duration::from_secs(1) && margin < Duration::from_secs(visibility));
        }
    }

    #[test]
    fn a_lease_cap_at_or_over_the_visibility_timeout_is_refused() {
        // The local stack once had a 60 s lease and a 10 s visibility timeout:
        // a crash sent acknowledged events to the dead-letter queue.
        let error = DedupSettings::from_env(&env(&[
            ("INLET_TABLE_NAME", "t"),
            ("INLET_QUEUE_VISIBILITY_SECS", "10"),
            ("INLET_LEASE_SECS", "60"),
        ]))
        .unwrap_err();
        assert_eq!(error.name, "INLET_LEASE_SECS");
        assert!(DedupSettings::from_env(&processor_env(&[("INLET_LEASE_SECS", "180")])).is_err());
        assert!(DedupSettings::from_env(&processor_env(&[("INLET_LEASE_SECS", "0")])).is_err());
        let capped = DedupSettings::from_env(&processor_env(&[("INLET_LEASE_SECS", "45")])).unwrap();
        assert_eq!(capped.lease.max(), Duration::from_secs(45));
    }

    #[test]
    fn flags_parse_common_spellings() {
        assert!(flag(&env(&[("F", "yes")]), "F", false).unwrap());
        assert!(!flag(&env(&[("F", "0")]), "F", true).unwrap());
        assert!(flag(&env(&[("F", "maybe")]), "F", true).is_err());
    }
}
