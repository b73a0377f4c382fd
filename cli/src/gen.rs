//! `inlet gen` (also `inlet gen-events`): writes every file the platform
//! registry derives — template.yaml's per-platform parts, the docs' tables,
//! the fuzz targets' list, events/ (`make events`) — or, with `--check`,
//! names the ones that are stale.

use std::path::PathBuf;

use clap::Args;

use crate::error::CliError;
use crate::generate::{self, EVENTS_TIMESTAMP, Options};
use crate::settings;

/// Write what the platform registry derives: template.yaml's per-platform
/// parts, the docs' tables, the fuzz list and events/
///
/// events/ is signed with events/env.json as written (no environment
/// overrides) at a fixed time, so that it is reproducible.
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct GenArgs {
    /// Sign the events at the current time instead of the fixed 1700000000,
    /// so that a receiver with the real clock accepts them (e.g. to invoke
    /// one by hand).
    #[arg(long)]
    pub now: bool,
    /// Write only the events, into DIR (the other files have one place).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write nothing: name each generated file that differs from what the
    /// registry gives, and fail if there is one.
    #[arg(long, conflicts_with_all = ["out", "now"])]
    pub check: bool,
}

/// Runs `inlet gen`.
pub async fn run(args: GenArgs) -> Result<(), CliError> {
    let root = settings::root();
    let events_timestamp = if args.now { settings::now_unix() } else { EVENTS_TIMESTAMP };
    if let Some(out) = args.out {
        let settings = settings::as_written()?;
        std::fs::create_dir_all(&out).map_err(|e| CliError::failed(format!("{}: {e}", out.display())))?;
        let written = crate::samples::write_events(&settings, events_timestamp, &out).await?;
        println!("wrote {written} events to {}", out.display());
        return Ok(());
    }
    let options = Options { events_timestamp };
    if args.check {
        let files = generate::generate(&root, &options).map_err(CliError::failed)?;
        let stale = generate::stale(&root, &files);
        if stale.is_empty() {
            println!("{} generated files are up to date", files.len());
            return Ok(());
        }
        for path in &stale {
            println!("stale: {}", path.display());
        }
        return Err(CliError::failed(format!("{} generated files are stale: run `inlet gen`", stale.len())));
    }
    let written = generate::run(&root, &options).map_err(CliError::failed)?;
    for path in &written {
        println!("wrote {}", path.display());
    }
    println!("{} generated files changed", written.len());
    Ok(())
}
