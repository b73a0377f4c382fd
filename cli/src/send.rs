//! `inlet samples` and `inlet send`: the signed samples, and one of them
//! signed with the configured secrets and POSTed to the local API.

use std::time::Duration;

use clap::Args;

use crate::error::CliError;
use crate::samples;
use crate::settings;

/// Sign a sample with the configured secrets and POST it to the local API
///
/// The local API is API_URL, default http://127.0.0.1:$API_PORT; with
/// --times N > 1 it also prints latency percentiles.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct SendArgs {
    /// The sample to send (`inlet samples` lists them).
    #[arg(value_name = "SAMPLE")]
    pub sample: String,
    /// What makes the event unique (its ids); the same value twice sends the
    /// same event again. Default: the current time in nanoseconds.
    #[arg(long, value_name = "ID")]
    pub unique: Option<String>,
    /// Send it N times (every answer printed for up to 10, then a summary
    /// with latency percentiles).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub times: u64,
}

/// Runs `inlet samples`: every sample with what it is.
pub fn list() -> Result<(), CliError> {
    let settings = settings::with_overrides()?;
    for name in samples::names() {
        let description = samples::build(name, &settings, settings::now_unix(), "x")
            .map(|s| s.description)
            .unwrap_or_else(|| "(not available with the current settings)".into());
        println!("{name:28} {description}");
    }
    Ok(())
}

/// Runs `inlet send`.
pub fn run(args: SendArgs) -> Result<(), CliError> {
    let name = args.sample.as_str();
    let settings = settings::with_overrides()?;
    let unique = args.unique.unwrap_or_else(|| format!("{}", time::OffsetDateTime::now_utc().unix_timestamp_nanos()));
    let times = args.times as usize;
    let api = std::env::var("API_URL").unwrap_or_else(|_| {
        format!("http://127.0.0.1:{}", std::env::var("API_PORT").unwrap_or_else(|_| "9000".into()))
    });
    let sample = samples::build(name, &settings, settings::now_unix(), &unique).ok_or_else(|| {
        CliError::not_found(format!("no sample {name:?} (or it needs a setting that is empty); see `inlet samples`"))
    })?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut latencies = Vec::with_capacity(times);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for attempt in 0..times {
        let url = format!("{api}{}", sample.path);
        let started = std::time::Instant::now();
        let (status, body) = samples::send(&agent, &api, &sample)
            .map_err(|e| CliError::unavailable(format!("{} {url}: {e} (is `make dev` running?)", sample.method)))?;
        latencies.push(started.elapsed());
        *statuses.entry(status).or_default() += 1;
        // Print every answer for a few sends, a summary for many.
        if times <= 10 || attempt == 0 {
            println!("{} {url} → {status} {body}", sample.name);
        }
    }
    if times > 1 {
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
        println!(
            "{times} requests, statuses {statuses:?}, latency ms: min {:.2} p50 {:.2} p95 {:.2} p99 {:.2} max {:.2}",
            at(0.0),
            at(0.5),
            at(0.95),
            at(0.99),
            at(1.0)
        );
    }
    Ok(())
}
