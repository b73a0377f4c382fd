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

/// Test support (the testkit re-exports it; ingress tests use it here):
/// every log line written on this thread while the guard
/// lives, as text, so tests can prove what logs never contain.
///
/// One global subscriber, installed once, writes each line to the buffer of
/// the thread that logged it. (A per-test `set_default` subscriber looked
/// simpler but lost lines under load: tracing caches each call site's
/// interest process-wide, and a call site first reached on a thread with no
/// subscriber could be cached as "never".)
#[cfg(any(test, feature = "testkit"))]
pub struct CapturedLogs {
    buffer: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

#[cfg(any(test, feature = "testkit"))]
thread_local! {
    static CAPTURE: std::cell::RefCell<Option<std::sync::Arc<std::sync::Mutex<Vec<u8>>>>> =
        const { std::cell::RefCell::new(None) };
}

#[cfg(any(test, feature = "testkit"))]
impl CapturedLogs {
    pub fn start() -> Self {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(|| ThreadBuffer)
                .finish();
            // A test binary that installed its own global subscriber keeps it.
            let _ = tracing::subscriber::set_global_default(subscriber);
        });
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(buffer.clone()));
        CapturedLogs { buffer }
    }

    pub fn text(&self) -> String {
        self.buffer.lock().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }
}

#[cfg(any(test, feature = "testkit"))]
impl Drop for CapturedLogs {
    fn drop(&mut self) {
        CAPTURE.with(|capture| *capture.borrow_mut() = None);
    }
}

/// Writes to the calling thread's capture buffer, if it has one.
#[cfg(any(test, feature = "testkit"))]
struct ThreadBuffer;

#[cfg(any(test, feature = "testkit"))]
impl std::io::Write for ThreadBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(buffer) = capture.borrow().as_ref()
                && let Ok(mut buffer) = buffer.lock()
            {
                buffer.extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
