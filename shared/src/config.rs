//! Typed configuration, read once from the environment at start-up.
//!
//! Readers take an [`EnvSource`] so tests pass a map instead of mutating the
//! process environment.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::IpNet;

use crate::error::ConfigError;
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
}

impl IngressSettings {
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

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
        })
    }
}

impl Default for IngressSettings {
    fn default() -> Self {
        IngressSettings {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            timestamp_window: TimestampWindow::default(),
            allowed_cidrs: Vec::new(),
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
}

impl QueueSettings {
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        Ok(QueueSettings {
            queue_url: required(env, "INLET_QUEUE_URL")?,
            timeout: Duration::from_millis(number(env, "INLET_QUEUE_TIMEOUT_MS", 2000u64)?),
        })
    }
}

/// The dedup table and its windows, for the processor and the CLI.
#[derive(Clone, Debug)]
pub struct DedupSettings {
    pub table_name: String,
    /// How long a completed event is remembered. Must outlast the longest
    /// provider retry horizon (Lark: about 7 hours).
    pub window: Duration,
    /// How long an attempt holds its lock before another may take it over.
    pub lease: Duration,
}

impl DedupSettings {
    pub const DEFAULT_WINDOW_SECS: u64 = 7 * 24 * 3600;
    pub const DEFAULT_LEASE_SECS: u64 = 60;

    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let window = number(env, "INLET_DEDUP_WINDOW_SECS", Self::DEFAULT_WINDOW_SECS)?;
        let lease = number(env, "INLET_LEASE_SECS", Self::DEFAULT_LEASE_SECS)?;
        if window == 0 || lease == 0 {
            return Err(ConfigError::new("INLET_DEDUP_WINDOW_SECS/INLET_LEASE_SECS", "must be greater than 0"));
        }
        Ok(DedupSettings {
            table_name: required(env, "INLET_TABLE_NAME")?,
            window: Duration::from_secs(window),
            lease: Duration::from_secs(lease),
        })
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
    fn queue_url_is_required() {
        assert_eq!(QueueSettings::from_env(&env(&[])).unwrap_err().name, "INLET_QUEUE_URL");
    }

    #[test]
    fn dedup_defaults_to_seven_days() {
        let settings = DedupSettings::from_env(&env(&[("INLET_TABLE_NAME", "t")])).unwrap();
        assert_eq!(settings.window, Duration::from_secs(604_800));
    }

    #[test]
    fn flags_parse_common_spellings() {
        assert!(flag(&env(&[("F", "yes")]), "F", false).unwrap());
        assert!(!flag(&env(&[("F", "0")]), "F", true).unwrap());
        assert!(flag(&env(&[("F", "maybe")]), "F", true).is_err());
    }
}
