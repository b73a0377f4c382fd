//! The `inlet` command line: every subcommand and its flags (each command's
//! arguments live next to the code that runs it), the dispatch to that code,
//! and `inlet completions`. `main` parses, calls [`run`], and exits with the
//! error's code ([`CliError::exit_code`]).

use std::io::Write;

use clap::{CommandFactory, Parser, Subcommand};

use crate::coldstart::ColdstartArgs;
use crate::dev::DevArgs;
use crate::error::CliError;
use crate::r#gen::GenArgs;
use crate::inbox::InboxArgs;
use crate::listen::ListenArgs;
use crate::ops::{DeliveriesArgs, DlqArgs, RedriveArgs, RefusedArgs, ReplayArgs};
use crate::reply::ReplyArgs;
use crate::send::SendArgs;
use crate::soak::SoakArgs;

const AFTER_HELP: &str = "\
Operating commands (dlq, redrive, replay, deliveries, reply, refused) run against the local stack by default, and \
against a deployed stack with --aws or when INLET_QUEUE_URL, INLET_DLQ_URL and INLET_TABLE_NAME are set (reply: when \
INLET_REPLY_QUEUE_URL is), with the standard AWS environment or profile for credentials and region.

Settings come from events/env.json (INLET_ENV_FILE), each overridable by an environment variable of the same name. \
MOTO_PORT (5000) and API_PORT (9000) choose the local ports.

Exit codes: 0 success, 1 the operation failed, 2 usage, 3 a setting is missing or invalid, 4 not found (an event, \
sample, destination or binary), 5 unavailable (the local stack, moto, AWS or a port), 130 interrupted.";

/// inlet — local tool for the inlet webhook receivers.
#[derive(Parser, Debug)]
#[command(name = "inlet", version, arg_required_else_help = true, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Dev(DevArgs),
    /// List the signed samples `send` knows.
    Samples,
    Send(SendArgs),
    Inbox(InboxArgs),
    Listen(ListenArgs),
    Dlq(DlqArgs),
    Redrive(RedriveArgs),
    Replay(ReplayArgs),
    Deliveries(DeliveriesArgs),
    Reply(ReplyArgs),
    Refused(RefusedArgs),
    #[command(visible_alias = "gen-events")]
    Gen(GenArgs),
    Soak(SoakArgs),
    Coldstart(ColdstartArgs),
    Completions(CompletionsArgs),
}

/// Print a shell completion script on stdout
///
/// e.g. `inlet completions bash > ~/.local/share/bash-completion/completions/inlet`
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> Result<(), CliError> {
    runtime()?.block_on(run_async(cli.command))
}

async fn run_async(command: Command) -> Result<(), CliError> {
    match command {
        Command::Samples => crate::send::list(),
        Command::Send(args) => crate::send::run(args),
        Command::Completions(args) => completions(args.shell, &mut std::io::stdout()),
        Command::Dev(args) => crate::dev::run(args).await,
        Command::Inbox(args) => crate::inbox::run(args).await,
        Command::Listen(args) => crate::listen::run(args).await,
        Command::Dlq(args) => crate::ops::run_dlq(args).await,
        Command::Redrive(args) => crate::ops::run_redrive(args).await,
        Command::Replay(args) => crate::ops::run_replay(args).await,
        Command::Deliveries(args) => crate::ops::run_deliveries(args).await,
        Command::Reply(args) => crate::reply::run(args).await,
        Command::Refused(args) => crate::ops::run_refused(args).await,
        Command::Gen(args) => crate::r#gen::run(args).await,
        Command::Soak(args) => crate::soak::run_command(args).await,
        Command::Coldstart(args) => crate::coldstart::run(args).await,
    }
}

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<(), CliError> {
    let mut command = Cli::command();
    let name = command.get_name().to_string();
    clap_complete::generate(shell, &mut command, name, out);
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the async runtime: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derived_command_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_of_today_parses_to_its_meaning() {
        let parse = |line: &str| Cli::try_parse_from(line.split_whitespace()).map(|cli| cli.command);
        match parse("inlet soak --events 50 --max-backlog 7 --ordering per-conversation --write S.md --seed ff") {
            Ok(Command::Soak(args)) => {
                assert_eq!((args.events, args.max_backlog, args.seed), (50, Some(7), Some(255)));
                assert_eq!(args.ordering, crate::soak::SoakOrdering::PerConversation);
                assert_eq!(args.write.as_deref(), Some("S.md"));
            }
            other => panic!("{other:?}"),
        }
        match parse("inlet soak") {
            Ok(Command::Soak(args)) => assert!(args.events == 3000 && !args.short && args.seed.is_none()),
            other => panic!("{other:?}"),
        }
        assert!(parse("inlet soak --short --events 5").is_err(), "--short is its own number of events");
        match parse("inlet gen-events --now --out /tmp/x") {
            Ok(Command::Gen(args)) => assert!(args.now && args.out == Some("/tmp/x".into())),
            other => panic!("{other:?}"),
        }
        match parse("inlet redrive --id a --id b --aws") {
            Ok(Command::Redrive(args)) => assert!(args.ids == ["a", "b"] && args.target.aws),
            other => panic!("{other:?}"),
        }
        match parse("inlet coldstart --only lark,hello-lambda") {
            Ok(Command::Coldstart(args)) => assert!(args.only == ["lark", "hello-lambda"] && args.runs == 10),
            other => panic!("{other:?}"),
        }
        match parse("inlet listen") {
            Ok(Command::Listen(args)) => {
                assert_eq!((args.port, args.secret_setting.as_str()), (9100, "INLET_LISTEN_SECRET"))
            }
            other => panic!("{other:?}"),
        }
        match parse("inlet refused --provider lark --limit 3 --json") {
            Ok(Command::Refused(args)) => {
                assert!(args.provider.as_deref() == Some("lark") && args.limit == 3 && args.target.json)
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("inlet refused --provider nope").is_err(), "a provider inlet has");
        match parse("inlet send lark-message --unique u --times 3") {
            Ok(Command::Send(args)) => assert!(args.sample == "lark-message" && args.unique.as_deref() == Some("u")),
            other => panic!("{other:?}"),
        }
        match parse("inlet inbox --json") {
            Ok(Command::Inbox(args)) => assert!(args.json && args.limit == 20),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_completion_script_names_the_subcommands() {
        let mut out = Vec::new();
        completions(clap_complete::Shell::Zsh, &mut out).unwrap();
        let script = String::from_utf8(out).unwrap();
        for name in ["soak", "redrive", "gen", "coldstart", "--max-backlog"] {
            assert!(script.contains(name), "{name}");
        }
    }
}
