//! The `inlet` binary's command line, run as a user runs it: every
//! subcommand's help, clap's refusals (exit 2, with a suggestion), and the
//! exit codes of the typed errors (src/error.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Each subcommand with the flags (and positional names) its help must show.
const SUBCOMMANDS: &[(&str, &[&str])] = &[
    ("dev", &["MOTO_PORT", "API_PORT"]),
    ("samples", &[]),
    ("send", &["<SAMPLE>", "--unique", "--times"]),
    ("inbox", &["--limit", "--json"]),
    ("listen", &["--port", "--forward", "--secret-setting"]),
    ("dlq", &["--aws", "--json"]),
    ("redrive", &["--id", "--aws", "--json"]),
    ("replay", &["<EVENT_ID>", "--destination", "--aws", "--json"]),
    ("deliveries", &["<EVENT_ID>", "--aws", "--json"]),
    ("reply", &["<EVENT_ID>", "--text", "--card", "--update", "--id", "--aws", "--json"]),
    ("refused", &["--provider", "--limit", "--aws", "--json"]),
    ("gen", &["--now", "--out"]),
    ("gen-events", &["--now", "--out"]),
    ("soak", &["--events", "--short", "--max-backlog", "--ordering", "--write", "--seed"]),
    ("coldstart", &["--runs", "--target", "--only"]),
    ("completions", &["<SHELL>", "bash", "zsh", "fish", "powershell", "elvish"]),
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A directory of its own, empty, as the repository root of a run that must
/// not start anything (a stack would write its state under it).
fn empty_root(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("inlet-cli-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `inlet args` with `env`, stdin closed, killed if it is still running
/// after a minute (a help that started the soak would run for sixteen).
fn inlet(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inlet"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the inlet binary runs");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().ok();
            panic!("inlet {args:?} was still running after a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_subcommand_answers_help_and_starts_nothing() {
    let root = empty_root("help");
    let root_env = root.to_str().unwrap();
    for (name, flags) in SUBCOMMANDS {
        for args in [vec![*name, "--help"], vec!["help", name]] {
            let output = inlet(&args, &[("INLET_ROOT", root_env), ("MOTO_PORT", "1"), ("API_PORT", "1")]);
            let help = text(&output.stdout);
            assert_eq!(output.status.code(), Some(0), "inlet {args:?}: {help}{}", text(&output.stderr));
            assert!(help.contains("Usage: inlet "), "inlet {args:?}: {help}");
            for flag in *flags {
                assert!(help.contains(flag), "inlet {args:?} does not name {flag}:\n{help}");
            }
        }
    }
    let top = inlet(&["--help"], &[]);
    assert_eq!(top.status.code(), Some(0));
    for (name, _) in SUBCOMMANDS {
        assert!(text(&top.stdout).contains(name), "inlet --help lists {name}");
    }
    assert!(text(&top.stdout).contains("Exit codes"), "inlet --help documents the exit codes");
    let left: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
    assert!(left.is_empty(), "a help wrote under the root: {left:?}");
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn an_unknown_flag_is_refused_with_the_flag_meant() {
    for (args, meant) in [
        (&["send", "lark-message", "--uniqe", "x"][..], "--unique"),
        (&["soak", "--event", "5"][..], "--events"),
        (&["coldstart", "--run", "1"][..], "--runs"),
        (&["redrive", "--ids", "m"][..], "--id"),
    ] {
        let output = inlet(args, &[]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "inlet {args:?}: {stderr}");
        assert!(stderr.contains("unexpected argument"), "inlet {args:?}: {stderr}");
        assert!(stderr.contains(&format!("a similar argument exists: '{meant}")), "inlet {args:?}: {stderr}");
    }
    let unknown = inlet(&["sned"], &[]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("send"), "{}", text(&unknown.stderr));
}

#[test]
fn a_missing_or_bad_argument_is_a_usage_error() {
    for (args, says) in [
        (&["replay"][..], "<EVENT_ID>"),
        (&["deliveries"][..], "<EVENT_ID>"),
        (&["send"][..], "<SAMPLE>"),
        (&["reply", "telegram:bot:1"][..], "--text"),
        (&["completions"][..], "<SHELL>"),
        (&["send", "lark-message", "--times", "many"][..], "--times"),
        (&["soak", "--ordering", "sometimes"][..], "per-conversation"),
        (&["soak", "--seed", "xyz"][..], "hex seed"),
        (&["reply", "e", "--card", "{nope"][..], "not JSON"),
        (&[][..], "Usage: inlet"),
    ] {
        let output = inlet(args, &[]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "inlet {args:?}: {stderr}");
        assert!(stderr.contains(says), "inlet {args:?} does not say {says}: {stderr}");
    }
}

#[test]
fn typed_errors_exit_with_their_codes() {
    let repository = repository();
    let root = repository.to_str().unwrap();
    // Not found (4): a sample inlet does not have.
    let output = inlet(&["send", "no-such-sample"], &[("INLET_ROOT", root)]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("no sample \"no-such-sample\"") && stderr.contains("inlet samples"), "{stderr}");
    // Configuration (3): a port setting that is no port, named, before anything starts.
    let empty = empty_root("config");
    let output = inlet(&["dev"], &[("INLET_ROOT", empty.to_str().unwrap()), ("MOTO_PORT", "fifty")]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("MOTO_PORT"), "{stderr}");
    assert!(std::fs::read_dir(&empty).unwrap().next().is_none(), "nothing was started");
    std::fs::remove_dir_all(&empty).ok();
    // Configuration (3): no settings file.
    let output = inlet(&["samples"], &[("INLET_ENV_FILE", "/nonexistent/env.json")]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("INLET_ENV_FILE") && stderr.contains("/nonexistent/env.json"), "{stderr}");
    // Not found (4): release binaries that are not there.
    let output = inlet(&["coldstart", "--target", "/nonexistent"], &[("INLET_ROOT", root)]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("make coldstart"), "{stderr}");
    // Unavailable (5): no local stack where the settings point.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port().to_string()
    };
    let output = inlet(&["dlq"], &[("INLET_ROOT", root), ("MOTO_PORT", &port), ("AWS_ENDPOINT_URL", "")]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("is `make dev` running?"), "{stderr}");
}

#[test]
fn completions_print_a_script_with_the_subcommands() {
    let output = inlet(&["completions", "bash"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let script = text(&output.stdout);
    assert!(script.contains("complete") && script.contains("inlet"), "{script}");
    for (name, _) in SUBCOMMANDS {
        assert!(script.contains(name), "the bash script completes {name}");
    }
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let output = inlet(&["completions", shell], &[]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        assert!(text(&output.stdout).contains("coldstart"), "{shell}");
    }
}

#[test]
fn captured_stderr_gets_no_progress_drawing() {
    // A command with a bar, failing after its start: nothing is drawn on a
    // stderr that is not a terminal, only the error line.
    let empty = empty_root("bar");
    let output = inlet(&["dev"], &[("INLET_ROOT", empty.to_str().unwrap()), ("MOTO_PORT", "1"), ("API_PORT", "2")]);
    let stderr = text(&output.stderr);
    assert!(!stderr.contains('\u{1b}') && !stderr.contains('\r'), "{stderr:?}");
    assert!(stderr.lines().all(|line| line.starts_with("inlet: ")), "{stderr:?}");
    std::fs::remove_dir_all(&empty).ok();
}
