//! What an `inlet` command can fail with, and the exit code each kind of
//! failure has. The codes are stable: scripts and CI may rely on them.
//!
//! | Code | Meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | [`CliError::Failed`]: the operation itself failed (an audit, a build, a send the stack refused, messages not moved) |
//! | 2 | usage: the command line is wrong (clap's own errors, and [`CliError::Usage`]) |
//! | 3 | [`CliError::Config`]: a setting is missing or invalid (events/env.json, an environment variable); the message names it |
//! | 4 | [`CliError::NotFound`]: what the command names does not exist (an event id, a sample, a destination, a binary) |
//! | 5 | [`CliError::Unavailable`]: something the command needs cannot be reached (the local stack, moto, AWS, a port) |
//! | 130 | [`CliError::Interrupted`]: stopped by Ctrl-C, SIGTERM or SIGHUP before it finished |

use inlet_shared::error::ConfigError;

/// The exit codes, by name.
pub mod exit {
    pub const SUCCESS: u8 = 0;
    pub const FAILED: u8 = 1;
    /// clap exits with this for a command line it refuses.
    pub const USAGE: u8 = 2;
    pub const CONFIG: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    pub const UNAVAILABLE: u8 = 5;
    /// 128 + SIGINT, as a shell reports a command Ctrl-C ended.
    pub const INTERRUPTED: u8 = 130;
}

/// Why a command failed; its [`exit_code`](CliError::exit_code) tells the
/// kinds apart, its message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments parse but do not make sense together (clap refuses the
    /// rest itself, with the same code).
    #[error("{0}")]
    Usage(String),
    /// A missing or invalid setting; `message` names it.
    #[error("{message}")]
    Config { setting: String, message: String },
    /// What the command names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The local stack, moto, AWS or a port cannot be reached or used.
    #[error("{0}")]
    Unavailable(String),
    /// The operation itself failed.
    #[error("{0}")]
    Failed(String),
    /// A signal stopped the command before it finished.
    #[error("interrupted")]
    Interrupted,
}

impl CliError {
    /// The process's exit code for this error (see the [module](self) table).
    pub const fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Config { .. } => exit::CONFIG,
            CliError::NotFound(_) => exit::NOT_FOUND,
            CliError::Unavailable(_) => exit::UNAVAILABLE,
            CliError::Failed(_) => exit::FAILED,
            CliError::Interrupted => exit::INTERRUPTED,
        }
    }

    /// A setting that is missing or invalid. The message names the setting:
    /// when `message` does not, it is prefixed with it.
    pub fn config(setting: impl Into<String>, message: impl Into<String>) -> CliError {
        let (setting, message) = (setting.into(), message.into());
        let message = if message.contains(&setting) { message } else { format!("{setting}: {message}") };
        CliError::Config { setting, message }
    }

    pub fn failed(message: impl Into<String>) -> CliError {
        CliError::Failed(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> CliError {
        CliError::NotFound(message.into())
    }

    pub fn unavailable(message: impl Into<String>) -> CliError {
        CliError::Unavailable(message.into())
    }

    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }

    /// The same kind of error with `context` before its message.
    pub fn context(self, context: &str) -> CliError {
        let with = |message: String| format!("{context}: {message}");
        match self {
            CliError::Usage(m) => CliError::Usage(with(m)),
            CliError::Config { setting, message } => CliError::Config { setting, message: with(message) },
            CliError::NotFound(m) => CliError::NotFound(with(m)),
            CliError::Unavailable(m) => CliError::Unavailable(with(m)),
            CliError::Failed(m) => CliError::Failed(with(m)),
            CliError::Interrupted => CliError::Interrupted,
        }
    }
}

/// A setting the shared configuration refused.
impl From<ConfigError> for CliError {
    fn from(error: ConfigError) -> Self {
        CliError::Config { message: error.to_string(), setting: error.name }
    }
}

/// The internal helpers' messages: a failure of the operation unless the
/// caller says otherwise.
impl From<String> for CliError {
    fn from(message: String) -> Self {
        CliError::Failed(message)
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> Self {
        CliError::Failed(message.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_documented_exit_code() {
        let cases = [
            (CliError::failed("audit failed"), 1),
            (CliError::usage("reply takes text or a card"), 2),
            (CliError::config("MOTO_PORT", "\"x\" is not a port"), 3),
            (CliError::not_found("no event \"e\""), 4),
            (CliError::unavailable("is `make dev` running?"), 5),
            (CliError::Interrupted, 130),
        ];
        for (error, code) in &cases {
            assert_eq!(error.exit_code(), *code, "{error:?}");
        }
        let codes: std::collections::BTreeSet<u8> = cases.iter().map(|(e, _)| e.exit_code()).collect();
        assert_eq!(codes.len(), cases.len(), "no two kinds share a code");
        assert!(!codes.contains(&exit::SUCCESS));
        assert_eq!(exit::USAGE, 2, "clap's own code for a refused command line");
    }

    #[test]
    fn a_configuration_error_names_its_setting() {
        let error = CliError::config("SOAK_API_PORT", "\"x\" is not a port");
        assert_eq!(error.to_string(), "SOAK_API_PORT: \"x\" is not a port");
        let error = CliError::config("MOTO_PORT", "MOTO_PORT=\"x\" is not a port");
        assert_eq!(error.to_string(), "MOTO_PORT=\"x\" is not a port", "named once");
        let shared: CliError = ConfigError::new("INLET_REFUSAL_CAP", "\"-1\" is not a valid number").into();
        assert!(matches!(&shared, CliError::Config { setting, .. } if setting == "INLET_REFUSAL_CAP"));
        assert_eq!(shared.exit_code(), exit::CONFIG);
        assert!(shared.to_string().contains("INLET_REFUSAL_CAP"), "{shared}");
    }

    #[test]
    fn context_keeps_the_kind() {
        let error = CliError::not_found("no event \"e\"").context("not queued");
        assert_eq!((error.exit_code(), error.to_string().as_str()), (exit::NOT_FOUND, "not queued: no event \"e\""));
        assert_eq!(CliError::from("boom".to_string()).exit_code(), exit::FAILED);
    }
}
