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

use crate::error::CliError;
use crate::progress::Progress;
use crate::runtime_api::{Function, FunctionConfig};
use crate::settings;

/// Cold starts of the release binaries under the Runtime API emulator
///
/// Starts each release binary in DIR cold under the Runtime API emulator N
/// times: init, first and warm invoke, peak RSS, next to hello-lambda (`make
/// coldstart` builds them).
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ColdstartArgs {
    /// Cold starts of each binary.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub runs: u64,
    /// The directory of the release binaries (default: the repository's target/release).
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,
    /// Only these binaries: hello-lambda or providers' names, comma-separated.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub only: Vec<String>,
}

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

/// Starts `subject` cold `runs` times, a step of `progress` each.
pub async fn measure(subject: &Subject, runs: usize, progress: &Progress) -> Result<Figures, String> {
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
        progress.inc(1);
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

/// Runs `inlet coldstart`: the table on stdout, a bar on a terminal's stderr.
pub async fn run(args: ColdstartArgs) -> Result<(), CliError> {
    let runs = args.runs as usize;
    let target = args.target.unwrap_or_else(|| settings::root().join("target/release"));
    let settings = settings::as_written()?;
    let mut env: BTreeMap<String, String> = settings.clone().into_iter().collect();
    // Lambda gives every function its role's credentials; nothing is called
    // with these (the events need no queue), but init reads them.
    // No queue runs here: the init figure leaves out the connection warm-up
    // (one GetQueueAttributes round trip to SQS inside Lambda), and the
    // refused requests send no refusal record (every call stays on this
    // machine).
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", "coldstart"),
        ("AWS_SECRET_ACCESS_KEY", "coldstart"),
        ("INLET_QUEUE_WARM_UP", "false"),
        ("INLET_REFUSAL_RECORDS_PER_SEC", "0"),
    ] {
        env.insert(name.into(), value.into());
    }
    let event = |sample: &inlet_shared::samples::SampleRequest| {
        Bytes::from(sample.to_apigw_v2_event(settings::now_unix() * 1000).to_string())
    };
    // A request every receiver answers without a network call: no route.
    let unknown =
        inlet_shared::samples::SampleRequest::post_json("coldstart", "no route", "/inlet-coldstart/none", "{}");
    let mut subjects = vec![Subject {
        name: "hello-lambda".into(),
        program: target.join("hello-lambda"),
        env: env.clone(),
        event: event(&unknown),
    }];
    for provider in crate::providers::PROVIDERS {
        let program = target.join(provider.name);
        subjects.push(Subject {
            name: format!("{} (404)", provider.name),
            program,
            env: env.clone(),
            event: event(&unknown),
        });
    }
    // Answered in full without enqueueing: decryption and all.
    for (function, sample) in [("lark", "lark-challenge-encrypted"), ("discord", "discord-ping")] {
        let request = crate::samples::build(sample, &settings, settings::now_unix(), "coldstart").ok_or_else(|| {
            CliError::not_found(format!("no sample {sample} (or it needs a setting events/env.json leaves empty)"))
        })?;
        subjects.push(Subject {
            name: format!("{function} ({sample})"),
            program: target.join(function),
            env: env.clone(),
            event: event(&request),
        });
    }
    // `--only lark,hello-lambda`: the subjects of those binaries alone.
    if !args.only.is_empty() {
        let wanted: Vec<&str> = args.only.iter().map(|name| name.trim()).collect();
        subjects.retain(|s| s.program.file_name().and_then(|n| n.to_str()).is_some_and(|n| wanted.contains(&n)));
        if subjects.is_empty() {
            return Err(CliError::not_found(format!(
                "--only {}: no such binary (hello-lambda or a provider's name)",
                args.only.join(",")
            )));
        }
    }
    if let Some(missing) = subjects.iter().find(|s| !s.program.is_file()) {
        return Err(CliError::not_found(format!(
            "{}: no such binary; `make coldstart` builds the release binaries (--target names another directory)",
            missing.program.display()
        )));
    }
    let progress = Progress::on_stderr(
        (subjects.len() * runs) as u64,
        "{spinner} coldstart [{elapsed_precise}] {bar:30} {pos}/{len} runs · {msg}",
    );
    let mut all = Vec::new();
    for subject in &subjects {
        progress.set_message(subject.name.clone());
        all.push(measure(subject, runs, &progress).await?);
    }
    progress.finish();
    println!("{runs} cold starts each, binaries from {}:\n", target.display());
    print!("{}", table(&all));
    Ok(())
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
