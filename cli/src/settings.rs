//! Where the commands find the repository and its settings: events/env.json
//! (`INLET_ENV_FILE`), each setting overridable by an environment variable
//! of the same name, in the repository at `INLET_ROOT` or around the current
//! directory.

use std::collections::HashMap;
use std::path::PathBuf;

use inlet_shared::config::{load_env_file, load_env_file_with_overrides};

use crate::error::CliError;

/// The repository root: INLET_ROOT, else the nearest ancestor of the
/// current directory with events/env.json.
pub fn root() -> PathBuf {
    if let Ok(root) = std::env::var("INLET_ROOT") {
        return PathBuf::from(root);
    }
    let mut dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    loop {
        if dir.join("events/env.json").is_file() {
            return dir;
        }
        if !dir.pop() {
            return PathBuf::from(".");
        }
    }
}

/// The settings file: INLET_ENV_FILE, else the root's events/env.json.
pub fn env_file() -> PathBuf {
    std::env::var("INLET_ENV_FILE").map(PathBuf::from).unwrap_or_else(|_| root().join("events/env.json"))
}

/// events/env.json with each setting overridden by the environment's: what
/// the local stack's functions run with.
pub fn with_overrides() -> Result<HashMap<String, String>, CliError> {
    let path = env_file();
    load_env_file_with_overrides(&path).map_err(|e| unreadable(&path, &e.reason))
}

/// events/env.json as written, without overrides: what the committed events
/// are signed with.
pub fn as_written() -> Result<HashMap<String, String>, CliError> {
    let path = env_file();
    load_env_file(&path).map_err(|e| unreadable(&path, &e.reason))
}

fn unreadable(path: &std::path::Path, reason: &str) -> CliError {
    CliError::config(
        "INLET_ENV_FILE",
        format!(
            "settings file {}: {reason} (INLET_ENV_FILE names another file, INLET_ROOT another repository)",
            path.display()
        ),
    )
}

/// A port from the environment variable `name`, `default` when unset or
/// empty.
pub fn port(name: &str, default: u16) -> Result<u16, CliError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().parse().map_err(|_| CliError::config(name, format!("{name}={value:?} is not a port")))
        }
        _ => Ok(default),
    }
}

/// Now, in Unix seconds.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
