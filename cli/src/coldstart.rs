//! Cold starts measured the way Lambda starts a function: a release
//! `bootstrap` spawned by the Runtime API emulator (`runtime_api`, the real
//! wire protocol), with Lambda's environment. For each binary and run:
//! exec → its first `next` (init), the first invocation (handing the event
//! over → the response), a warm invocation, and the process's peak RSS
//! (`VmHWM`). A hello-world `lambda_http` binary built with the same
//! profile is measured the same way, as the floor.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

use crate::runtime_api::{Function, FunctionConfig};

/// One binary to start, with the settings it needs and the event it is given.
pub struct Subject {
    pub name: String,
    pub program: PathBuf,
    pub env: BTreeMap<String, String>,
    /// An API Gateway event the function answers without network calls.
    pub event: Bytes,
}

/// The figures of one binary over all runs.
#[derive(Debug, Default)]
pub struct Figures {
    pub name: String,
    pub binary_bytes: u64,
    pub init: Vec<Duration>,
    pub first_invoke: Vec<Duration>,
    pub warm_invoke: Vec<Duration>,
    pub peak_rss_kib: Vec<u64>,
}

/// Starts `subject` cold `runs` times.
pub async fn measure(subject: &Subject, runs: usize) -> Result<Figures, String> {
    let binary_bytes =
        std::fs::metadata(&subject.program).map_err(|e| format!("{}: {e}", subject.program.display()))?;
    let mut figures = Figures { name: subject.name.clone(), binary_bytes: binary_bytes.len(), ..Figures::default() };
    for _ in 0..runs {
        let mut config = FunctionConfig::new(subject.name.clone(), subject.program.clone());
        config.env = subject.env.clone();
        // The functions' own log lines would drown the table.
        config.log = Some(std::env::temp_dir().join(format!("inlet-coldstart-{}.log", std::process::id())));
        let function = Function::start(config);
        let first = function.invoke(subject.event.clone()).await.map_err(|e| format!("{}: {e}", subject.name))?;
        let warm = function.invoke(subject.event.clone()).await.map_err(|e| format!("{}: {e}", subject.name))?;
        let rss = function.status().pids().first().and_then(|pid| peak_rss_kib(*pid));
        function.shutdown().await;
        figures.init.push(first.init.ok_or(format!("{}: the first invocation was not cold", subject.name))?);
        figures.first_invoke.push(first.duration);
        figures.warm_invoke.push(warm.duration);
        figures.peak_rss_kib.push(rss.ok_or(format!("{}: no peak RSS in /proc", subject.name))?);
    }
    Ok(figures)
}

/// `VmHWM` of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

/// A Markdown table of `all`, the first being the hello-world floor the
/// init ratio is taken against.
pub fn table(all: &[Figures]) -> String {
    let floor = all.first().map(|f| median(&f.init)).unwrap_or_default();
    let mut out = String::from(
        "| Binary | Size | Init (exec → first `next`), median | × hello-world | First invoke | Warm invoke | Peak RSS (max) |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for figures in all {
        let init = median(&figures.init);
        let ratio = if floor.is_zero() { 0.0 } else { init.as_secs_f64() / floor.as_secs_f64() };
        out.push_str(&format!(
            "| {} | {:.2} MB | {} | {ratio:.2} | {} | {} | {:.1} MB |\n",
            figures.name,
            figures.binary_bytes as f64 / 1e6,
            ms(init),
            ms(median(&figures.first_invoke)),
            ms(median(&figures.warm_invoke)),
            figures.peak_rss_kib.iter().max().copied().unwrap_or_default() as f64 / 1024.0,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_takes_the_init_ratio_against_the_first_row() {
        let row = |name: &str, init_ms: u64| Figures {
            name: name.into(),
            binary_bytes: 2_000_000,
            init: vec![Duration::from_millis(init_ms)],
            first_invoke: vec![Duration::from_millis(1)],
            warm_invoke: vec![Duration::from_millis(1)],
            peak_rss_kib: vec![4096],
        };
        let table = table(&[row("hello", 2), row("lark", 3)]);
        assert!(table.contains("| hello | 2.00 MB | 2.00 ms | 1.00 |"), "{table}");
        assert!(table.contains("| lark | 2.00 MB | 3.00 ms | 1.50 |"), "{table}");
        assert!(table.contains("| 4.0 MB |"), "{table}");
    }
}
