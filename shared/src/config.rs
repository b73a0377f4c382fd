//! Typed configuration, read once from the environment at start-up.
//!
//! Readers take an [`EnvSource`] so tests pass a map instead of mutating the
//! process environment.

use std::collections::HashMap;

use ipnet::IpNet;

use crate::error::ConfigError;
use crate::verify::SecretList;

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

/// [`secrets`] that must hold at least one entry; else the error is `name`
/// followed by `requirement` (`"is required: …"`).
pub fn required_secrets(env: &dyn EnvSource, name: &str, requirement: &str) -> Result<SecretList, ConfigError> {
    let secrets = secrets(env, name);
    if secrets.is_empty() {
        return Err(ConfigError::new(name, requirement));
    }
    Ok(secrets)
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

/// Test support: settings from name-value pairs, for every module's settings
/// tests.
#[cfg(test)]
pub(crate) fn test_env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
    pairs.iter().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::test_env as env;

    #[test]
    fn cidrs_accept_bare_addresses() {
        let nets = cidrs(&env(&[("X", "10.0.0.0/8, 192.0.2.7 ,::1")]), "X").unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[1].contains(&"192.0.2.7".parse::<std::net::IpAddr>().unwrap()));
    }

    #[test]
    fn flags_parse_common_spellings() {
        assert!(flag(&env(&[("F", "yes")]), "F", false).unwrap());
        assert!(!flag(&env(&[("F", "0")]), "F", true).unwrap());
        assert!(flag(&env(&[("F", "maybe")]), "F", true).is_err());
    }
}
