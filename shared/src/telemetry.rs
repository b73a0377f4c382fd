//! Logging set up once, first thing in every `main`.

use tracing_subscriber::EnvFilter;

/// JSON lines inside Lambda (CloudWatch parses them), readable text locally.
/// `RUST_LOG` overrides the default `info` level.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
        && std::env::var_os("INLET_LOCAL").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if in_lambda { builder.json().without_time().try_init() } else { builder.with_ansi(false).try_init() };
}
