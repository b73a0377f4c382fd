//! Test support: runs a platform's official library over requests inlet
//! built or judged, so the repository's own tests show that inlet and the
//! real sender's library agree (README, "Cross-checks").
//!
//! A check is a script beside the provider's tests that reads one JSON
//! document on stdin and writes one on stdout. Python scripts run with the
//! project venv's python and Node scripts with the project's node_modules
//! (both installed by `make tools`). A missing tool fails the test with the
//! command that installs it: a cross-check never passes by being skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// Where an official library runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// `.venv/bin/python`, with the pip packages of the Makefile's `PY_TOOLS`.
    VenvPython,
    /// `node` with `NODE_PATH` at `.tools/node/node_modules` (`NODE_TOOLS`).
    Node,
}

/// The repository root (the workspace that holds `shared/`).
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `script` under `runtime` with `input` on stdin and returns what it
/// printed, parsed as JSON. Panics, with the reason, when the tool is
/// missing, the script fails or its output is not JSON.
pub fn run(runtime: Runtime, script: &Path, input: &Value) -> Value {
    let root = repository_root();
    let mut command = match runtime {
        Runtime::VenvPython => {
            let python = root.join(".venv/bin/python");
            assert!(
                python.exists(),
                "{} is missing: run `make tools` (it installs the official libraries)",
                python.display()
            );
            Command::new(python)
        }
        Runtime::Node => {
            let modules = root.join(".tools/node/node_modules");
            assert!(
                modules.exists(),
                "{} is missing: run `make tools` (it installs the official libraries)",
                modules.display()
            );
            let mut node = Command::new("node");
            node.env("NODE_PATH", modules);
            node
        }
    };
    let mut child = command
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {runtime:?} for {}: {e}", script.display()));
    let bytes = serde_json::to_vec(input).expect("input is JSON");
    child.stdin.take().expect("stdin is piped").write_all(&bytes).expect("write the input");
    let output = child.wait_with_output().expect("wait for the check");
    assert!(
        output.status.success(),
        "{} failed ({}):\n{}\n{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("{} printed no JSON ({e}): {}", script.display(), String::from_utf8_lossy(&output.stdout))
    })
}

/// The disagreements of one cross-check: each case where the library's
/// verdict and inlet's are not what the case expects. Collected, then
/// reported all at once, so one run shows every difference.
#[derive(Debug, Default)]
pub struct Disagreements(Vec<String>);

impl Disagreements {
    /// Records one disagreement, described for the report.
    pub fn push(&mut self, description: String) {
        self.0.push(description);
    }

    /// Panics, listing every disagreement, unless there were none among
    /// `cases` cases.
    pub fn assert_none(&self, cases: usize) {
        assert!(self.0.is_empty(), "{} of {cases} cases disagree:\n{}", self.0.len(), self.0.join("\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_check_gets_the_input_and_its_answer_comes_back() {
        let dir = std::env::temp_dir().join(format!("inlet-crosscheck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("echo.js");
        std::fs::write(
            &script,
            "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const i=JSON.parse(s);\
             console.log(JSON.stringify({twice:i.n*2}))});",
        )
        .unwrap();
        // Node is on every machine CI runs on; node_modules may not be yet.
        if repository_root().join(".tools/node/node_modules").exists() {
            assert_eq!(run(Runtime::Node, &script, &serde_json::json!({"n": 21}))["twice"], 42);
        }
        let failing = dir.join("fail.js");
        std::fs::write(&failing, "process.exit(3)").unwrap();
        if repository_root().join(".tools/node/node_modules").exists() {
            let outcome = std::panic::catch_unwind(|| run(Runtime::Node, &failing, &Value::Null));
            assert!(outcome.is_err(), "a failing check must fail the test");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn disagreements_pass_when_empty_and_report_every_one_otherwise() {
        let mut found = Disagreements::default();
        found.assert_none(3);
        found.push("case a: library accepts, inlet refuses".into());
        found.push("case b: library refuses, inlet accepts".into());
        let report = std::panic::catch_unwind(|| found.assert_none(3)).expect_err("two disagreements must fail");
        let text = report.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("2 of 3 cases") && text.contains("case a") && text.contains("case b"), "{text}");
    }
}
