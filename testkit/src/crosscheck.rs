//! Test support: runs a platform's official library over requests inlet
//! built or judged, so the repository's own tests show that inlet and the
//! real sender's library agree (docs/contributing/testing.md).
//!
//! A check is a script beside the provider's tests that reads one JSON
//! document on stdin and writes one on stdout. Python scripts run with the
//! project venv's python and Node scripts with the project's node_modules
//! (both installed by `make tools`). A missing tool fails the test with the
//! command that installs it: a cross-check never passes by being skipped.

use std::fmt::{Debug, Display};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderValue, StatusCode};
use serde_json::Value;

use inlet_shared::ingress::{IncomingRequest, Reply};

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

/// Runs `script` as [`run`] does, then checks that the report names the
/// library it was written against: `report[key]` is `library` exactly, or,
/// when `library` ends with a space (`"slack-sdk "`), starts with it.
pub fn run_library(runtime: Runtime, script: &Path, input: &Value, key: &str, library: &str) -> Value {
    let report = run(runtime, script, input);
    let named = report[key]
        .as_str()
        .is_some_and(|name| if library.ends_with(' ') { name.starts_with(library) } else { name == library });
    assert!(named, "{} must report {key} {library:?}: {report}", script.display());
    report
}

/// `request` with header `name` set to `value` (replacing any there).
pub fn with_header(mut request: IncomingRequest, name: &'static str, value: &str) -> IncomingRequest {
    request.headers.insert(name, HeaderValue::from_str(value).expect("header value"));
    request
}

/// `request` without header `name`.
pub fn without_header(mut request: IncomingRequest, name: &str) -> IncomingRequest {
    request.headers.remove(name);
    request
}

/// `request` with `body` in place of its own.
pub fn with_body(mut request: IncomingRequest, body: impl Into<Vec<u8>>) -> IncomingRequest {
    request.body = body.into();
    request
}

/// Bytes as a check script takes them (`body_b64`): standard base64.
pub fn base64_of(bytes: impl AsRef<[u8]>) -> String {
    BASE64.encode(bytes)
}

/// Bytes a check script sent as standard base64.
pub fn from_base64(text: &str) -> Vec<u8> {
    BASE64.decode(text).expect("base64 from the script")
}

/// A POST as a check script describes one: `path`, `headers` (name to
/// text) and `body_b64`.
pub fn request_of(case: &Value) -> IncomingRequest {
    let body = from_base64(case["body_b64"].as_str().expect("body_b64"));
    let mut request = IncomingRequest::new(http::Method::POST, case["path"].as_str().expect("path"), body);
    for (name, value) in case["headers"].as_object().expect("headers") {
        let name = http::HeaderName::from_bytes(name.as_bytes()).expect("header name");
        request
            .headers
            .insert(name, HeaderValue::from_str(value.as_str().expect("header text")).expect("header value"));
    }
    request
}

/// The headers of `request` whose names start with `prefix` (`""` for
/// all), as a JSON object of name to text, for a check script.
pub fn headers_json(request: &IncomingRequest, prefix: &str) -> Value {
    let headers: serde_json::Map<String, Value> = request
        .headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with(prefix))
        .map(|(name, value)| (name.to_string(), Value::from(value.to_str().expect("ASCII header"))))
        .collect();
    Value::Object(headers)
}

/// `"accepts"` or `"refuses"`, for a report line.
pub fn accepts(accepted: bool) -> &'static str {
    if accepted { "accepts" } else { "refuses" }
}

/// A reply's status and body, for a report line.
pub fn reply_text(reply: &Reply) -> String {
    format!("{} {}", reply.status, String::from_utf8_lossy(&reply.body))
}

/// What a case expects where each side either accepts a request or refuses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    BothAccept,
    BothRefuse,
    /// The library accepts, inlet refuses, for the stated reason.
    InletStricter(&'static str),
    /// The library refuses, inlet accepts, for the stated reason.
    InletLenient(&'static str),
}

impl Expect {
    /// Whether the library's and inlet's verdicts are the expected ones.
    pub fn holds(self, library_accepts: bool, inlet_accepts: bool) -> bool {
        let expected = match self {
            Expect::BothAccept => (true, true),
            Expect::BothRefuse => (false, false),
            Expect::InletStricter(_) => (true, false),
            Expect::InletLenient(_) => (false, true),
        };
        (library_accepts, inlet_accepts) == expected
    }
}

/// How one side judged a request, where the library tells authentication
/// apart from reading the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Library: verification raised. inlet: 401.
    Unauthenticated,
    /// Library: verified, then the body did not parse. inlet: another refusal.
    NotAnEvent,
    /// Library: returned the event. inlet: 2xx.
    Event,
}

impl Outcome {
    /// inlet's outcome, from its reply's status.
    pub fn of_status(status: StatusCode) -> Self {
        match status {
            status if status.is_success() => Outcome::Event,
            StatusCode::UNAUTHORIZED => Outcome::Unauthenticated,
            _ => Outcome::NotAnEvent,
        }
    }

    /// The library's outcome, from a verdict `{"authenticated": bool, "event": bool}`.
    pub fn of_verdict(verdict: &Value) -> Self {
        match (verdict["authenticated"].as_bool(), verdict["event"].as_bool()) {
            (Some(true), Some(true)) => Outcome::Event,
            (Some(true), Some(false)) => Outcome::NotAnEvent,
            (Some(false), _) => Outcome::Unauthenticated,
            _ => panic!("no verdict: {verdict}"),
        }
    }
}

/// What a case expects of two [`Outcome`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectOutcome {
    Both(Outcome),
    /// The library cannot read the body as text and refuses before
    /// verifying; inlet verifies the raw bytes, then refuses the body.
    BothRefuse,
    /// The library returns an event, inlet refuses it (any way), for the reason given.
    InletStricter(&'static str),
    /// The library returns an event, inlet authenticates the request and
    /// refuses its body, for the reason given.
    InletRefusesBody(&'static str),
}

impl ExpectOutcome {
    /// Whether the library's and inlet's outcomes are the expected ones.
    pub fn holds(self, library: Outcome, inlet: Outcome) -> bool {
        match self {
            ExpectOutcome::Both(outcome) => library == outcome && inlet == outcome,
            ExpectOutcome::BothRefuse => library != Outcome::Event && inlet != Outcome::Event,
            ExpectOutcome::InletStricter(_) => library == Outcome::Event && inlet != Outcome::Event,
            ExpectOutcome::InletRefusesBody(_) => library == Outcome::Event && inlet == Outcome::NotAnEvent,
        }
    }
}

/// The verdicts of one cross-check: every case is recorded with what it
/// expects and what each side said, and the disagreements are reported
/// all at once at the end, so one run shows every difference.
#[derive(Debug)]
pub struct Verdicts {
    library: String,
    cases: usize,
    disagreements: Vec<String>,
}

impl Verdicts {
    /// A cross-check against `library` (its name in the report).
    pub fn new(library: impl Into<String>) -> Self {
        Verdicts { library: library.into(), cases: 0, disagreements: Vec::new() }
    }

    /// Records one case; unless it `agrees`, a report line says what was
    /// expected and what each side said. Returns `agrees`.
    pub fn record(
        &mut self,
        name: &str,
        expected: &dyn Debug,
        agrees: bool,
        library: impl Display,
        inlet: impl Display,
    ) -> bool {
        self.cases += 1;
        if !agrees {
            self.disagreements
                .push(format!("{name}: expected {expected:?}; {} {library}, inlet {inlet}", self.library));
        }
        agrees
    }

    /// Records a case judged accept-or-refuse; `*_detail` explain each verdict.
    pub fn judge(
        &mut self,
        name: &str,
        expect: Expect,
        (library_accepts, library_detail): (bool, impl Display),
        (inlet_accepts, inlet_detail): (bool, impl Display),
    ) -> bool {
        let agrees = expect.holds(library_accepts, inlet_accepts);
        self.record(
            name,
            &expect,
            agrees,
            format_args!("{} ({library_detail})", accepts(library_accepts)),
            format_args!("{} ({inlet_detail})", accepts(inlet_accepts)),
        )
    }

    /// Records a case judged by [`Outcome`]; `*_detail` explain each verdict.
    pub fn judge_outcome(
        &mut self,
        name: &str,
        expect: ExpectOutcome,
        (library, library_detail): (Outcome, impl Display),
        (inlet, inlet_detail): (Outcome, impl Display),
    ) -> bool {
        let agrees = expect.holds(library, inlet);
        self.record(
            name,
            &expect,
            agrees,
            format_args!("{library:?} ({library_detail})"),
            format_args!("{inlet:?} ({inlet_detail})"),
        )
    }

    /// Records a case from the library's verdict (see [`Outcome::of_verdict`],
    /// explained by its `error`) and inlet's reply status.
    pub fn judge_verdict(&mut self, name: &str, expect: ExpectOutcome, verdict: &Value, status: StatusCode) -> bool {
        self.judge_outcome(
            name,
            expect,
            (Outcome::of_verdict(verdict), &verdict["error"]),
            (Outcome::of_status(status), status),
        )
    }

    /// Panics, listing every disagreement, unless every case agreed.
    pub fn assert_all_agree(&self) {
        assert!(
            self.disagreements.is_empty(),
            "{} of {} cases disagree with {}:\n{}",
            self.disagreements.len(),
            self.cases,
            self.library,
            self.disagreements.join("\n")
        );
    }
}

/// How one provider's cross-check configures both sides of a [`Case`]:
/// what the check script is told beyond the case's name, body and clock,
/// and inlet's answer.
pub trait CaseConfig {
    /// The script's fields for `request` (the library's secrets, the
    /// signature headers), as a JSON object.
    fn library_json(&self, request: &IncomingRequest) -> Value;

    /// The status of inlet's answer to `request` at `now`, configured alike.
    fn inlet_status(&self, request: &IncomingRequest, now: i64) -> impl Future<Output = StatusCode>;
}

/// One case of a cross-check judged by [`Outcome`]: a request, the clock
/// both sides judge it at, what is expected, and how both are configured.
#[derive(Clone, Debug)]
pub struct Case<C> {
    pub name: &'static str,
    pub config: C,
    pub request: IncomingRequest,
    pub now: i64,
    pub expect: ExpectOutcome,
}

impl<C: CaseConfig> Case<C> {
    /// The case as a check script reads it: `name`, `body_b64`, `now` and
    /// the config's [`CaseConfig::library_json`] fields.
    pub fn json(&self) -> Value {
        let mut case = self.config.library_json(&self.request);
        let fields = case.as_object_mut().expect("library_json is a JSON object");
        fields.insert("name".into(), self.name.into());
        fields.insert("body_b64".into(), base64_of(&self.request.body).into());
        fields.insert("now".into(), self.now.into());
        case
    }

    /// The status of inlet's answer to the case.
    pub async fn inlet_status(&self) -> StatusCode {
        self.config.inlet_status(&self.request, self.now).await
    }
}

/// Has `library` (run by `check`, given `{"verdicts": [case, ...]}`) judge
/// every case, judges each against inlet's answer with
/// [`Verdicts::judge_verdict`], and asserts that all agree. Returns the
/// library's report.
pub async fn cross_check<C: CaseConfig>(
    library: &str,
    check: impl FnOnce(&Value) -> Value,
    cases: &[Case<C>],
) -> Value {
    let report = check(&serde_json::json!({ "verdicts": cases.iter().map(Case::json).collect::<Vec<_>>() }));
    let mut verdicts = Verdicts::new(library);
    for case in cases {
        verdicts.judge_verdict(case.name, case.expect, &report["verdicts"][case.name], case.inlet_status().await);
    }
    verdicts.assert_all_agree();
    report
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
    fn verdicts_pass_when_all_agree_and_report_every_disagreement_otherwise() {
        let mut agreeing = Verdicts::new("lib");
        assert!(agreeing.judge("a", Expect::BothAccept, (true, "ok"), (true, "200")));
        assert!(agreeing.judge("b", Expect::InletStricter("why"), (true, "ok"), (false, "401")));
        assert!(agreeing.judge_outcome(
            "c",
            ExpectOutcome::Both(Outcome::NotAnEvent),
            (Outcome::NotAnEvent, "-"),
            (Outcome::of_status(StatusCode::BAD_REQUEST), "400")
        ));
        agreeing.assert_all_agree();

        let mut found = Verdicts::new("lib 1.0");
        assert!(!found.judge("case a", Expect::BothRefuse, (true, "no error"), (false, "401")));
        assert!(found.judge("case b", Expect::InletLenient("why"), (false, "bad"), (true, "200")));
        assert!(!found.judge_outcome(
            "case c",
            ExpectOutcome::InletRefusesBody("why"),
            (Outcome::Event, "-"),
            (Outcome::of_status(StatusCode::UNAUTHORIZED), "401")
        ));
        let verdict = serde_json::json!({"authenticated": true, "event": false, "error": "JSONDecodeError"});
        assert!(!found.judge_verdict("case d", ExpectOutcome::BothRefuse, &verdict, StatusCode::OK));
        let report = std::panic::catch_unwind(|| found.assert_all_agree()).expect_err("two disagreements must fail");
        let text = report.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("3 of 4 cases disagree with lib 1.0"), "{text}");
        assert!(
            text.contains("case a: expected BothRefuse; lib 1.0 accepts (no error), inlet refuses (401)"),
            "{text}"
        );
        assert!(
            text.contains("case c: expected InletRefusesBody(\"why\"); lib 1.0 Event (-), inlet Unauthenticated"),
            "{text}"
        );
        assert!(
            text.contains(
                "case d: expected BothRefuse; lib 1.0 NotAnEvent (\"JSONDecodeError\"), inlet Event (200 OK)"
            ),
            "{text}"
        );
        assert!(!text.contains("case b"), "{text}");
    }

    #[test]
    fn outcomes_and_request_helpers() {
        assert_eq!(Outcome::of_verdict(&serde_json::json!({"authenticated": false})), Outcome::Unauthenticated);
        assert_eq!(
            Outcome::of_verdict(&serde_json::json!({"authenticated": true, "event": false})),
            Outcome::NotAnEvent
        );
        assert_eq!(Outcome::of_status(StatusCode::ACCEPTED), Outcome::Event);
        let request = IncomingRequest::new(http::Method::POST, "/x", "body");
        let request = with_header(with_header(request, "x-a", "1"), "y-b", "2");
        assert_eq!(headers_json(&request, "x-"), serde_json::json!({"x-a": "1"}));
        assert_eq!(headers_json(&request, "").as_object().map(|m| m.len()), Some(2));
        let described =
            serde_json::json!({"path": "/x", "headers": headers_json(&request, ""), "body_b64": base64_of("body")});
        let rebuilt = request_of(&described);
        assert_eq!((rebuilt.path.as_str(), rebuilt.body.as_slice()), ("/x", b"body".as_slice()));
        assert_eq!((rebuilt.header("x-a"), rebuilt.header("y-b")), (Some("1"), Some("2")));
        let request = with_body(without_header(request, "x-a"), "other");
        assert_eq!(request.header("x-a"), None);
        assert_eq!(from_base64(&base64_of(&request.body)), b"other");
        assert_eq!(accepts(false), "refuses");
    }
}
