//! Logging set up once, first thing in every `main`.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// JSON lines inside Lambda (CloudWatch parses them), readable text locally.
/// `RUST_LOG` overrides the default `info` level: a level (`debug`) or
/// `target=level` pairs (`inlet_shared=debug,info`). The `Targets` filter
/// reads that form without a regex engine, which `EnvFilter` would link.
pub fn init() {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
        && std::env::var_os("INLET_LOCAL").is_none();
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if in_lambda {
        registry.with(tracing_subscriber::fmt::layer().json().without_time().with_target(false)).try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer().with_ansi(false).with_target(false)).try_init()
    };
}

/// `RUST_LOG` as a filter; unset, empty or unreadable means `info`.
fn log_filter(setting: Option<&str>) -> Targets {
    let info = || Targets::new().with_default(tracing::Level::INFO);
    match setting.map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => text.parse().unwrap_or_else(|_| info()),
        None => info(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_takes_a_level_or_target_pairs_and_defaults_to_info() {
        assert!(log_filter(None).would_enable("inlet", &Level::INFO));
        assert!(!log_filter(None).would_enable("inlet", &Level::DEBUG));
        assert!(log_filter(Some("debug")).would_enable("inlet", &Level::DEBUG));
        let pairs = log_filter(Some("inlet_shared=debug,warn"));
        assert!(pairs.would_enable("inlet_shared::ingress", &Level::DEBUG));
        assert!(!pairs.would_enable("lark", &Level::INFO));
        assert!(log_filter(Some("not a filter ===")).would_enable("inlet", &Level::INFO));
    }
}
