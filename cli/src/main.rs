//! `inlet`: the local tool. Run `inlet help` for the commands; each one and
//! its flags are in [`inlet_cli::cli`], its exit codes in [`inlet_cli::error`].

use std::process::ExitCode;

use clap::Parser;
use inlet_cli::cli::{Cli, run};

fn main() -> ExitCode {
    // clap answers --help and refuses a wrong command line itself (code 2).
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("inlet: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
