//! inlet next to its peers on identical request bytes (`make bench-peers`).
//!
//! Lark: one signed, encrypted v2 `im.message.receive_v1` event of about
//! 1.6 KB, handled by
//! - lark-oapi's EventDispatcherHandler (Python, the project venv),
//! - @larksuiteoapi/node-sdk's EventDispatcher (Node, `.tools/peers`),
//! - inlet's Lark function (the whole request path: verification,
//!   decryption, parsing, normalization, the Envelope encoded as queued and
//!   checked with the processor's decoder; the queue accepts and drops),
//! - the raw work: SHA-256 over the signed bytes and the hex compare, base64,
//!   AES-256-CBC, one JSON parse of the plaintext.
//!
//! Discord: inlet's Discord function on a signed application command against
//! a bare Ed25519 verification of the same bytes (key parsed once).
//!
//! inlet's figures come twice: with metrics off, and with the one EMF line
//! per request production writes (rendered as in production, written with
//! one `write` to /dev/null instead of the pipe Lambda reads).
//!
//! Every figure is the best of `RUNS` runs of a timed loop, reported as
//! microseconds per request, inlet's contenders taking turns run by run; the peers time themselves the same way and
//! report back as JSON. Results: BENCHMARKS.md.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use ed25519_dalek::{Signature, VerifyingKey};
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::metrics::{Metrics, MetricsSink, RequestMetrics};
use inlet_shared::provider::HttpFunction;
use inlet_shared::provider::Provider;
use inlet_shared::queue::{PublishError, Publisher, QueueMessage};
use inlet_shared::samples::{Samples, dev_settings};
use inlet_shared::verify::constant_time_eq;
use inlet_testkit::conformance::NOW;
use inlet_testkit::crosscheck::{self, Runtime};
use lark::crypto::{decrypt_lark_body, encrypt_lark_body, lark_signature};
use serde_json::{Value, json};
use time::OffsetDateTime;

const RUNS: usize = 7;
const NONCE: &str = "bench-nonce";

/// Accepts every message and keeps none.
struct DroppingPublisher;

#[async_trait]
impl Publisher for DroppingPublisher {
    async fn publish(&self, _: &[QueueMessage]) -> Result<(), PublishError> {
        Ok(())
    }
}

/// The metric lines as production writes them, into /dev/null.
struct DevNullSink(Mutex<File>);

impl DevNullSink {
    fn metrics() -> Metrics {
        let null = File::create("/dev/null").expect("/dev/null");
        Metrics::to(Arc::new(DevNullSink(Mutex::new(null))))
    }
}

impl MetricsSink for DevNullSink {
    fn write_line(&self, line: &str) {
        let mut text = String::with_capacity(line.len() + 1);
        text.push_str(line);
        text.push('\n');
        if let Ok(mut null) = self.0.lock() {
            let _ = null.write_all(text.as_bytes());
        }
    }
}

/// One request handled by `function` to the end, the queue accepting and
/// dropping what it is given: a contender of the timed loops.
fn handling<'a, F: HttpFunction>(
    runtime: &'a tokio::runtime::Runtime,
    function: &'a F,
    request: &'a IncomingRequest,
    now: OffsetDateTime,
) -> impl FnMut() + 'a {
    move || {
        runtime.block_on(function.handle(&DroppingPublisher, request, now));
    }
}

/// For each contender, the best of [`RUNS`] runs of `iterations` calls, in
/// µs per call. The contenders take turns run by run, so a drift of the
/// machine (clock, caches, a neighbour) falls on all of them alike.
fn best_of_each<const N: usize>(iterations: usize, mut contenders: [&mut dyn FnMut(); N]) -> [f64; N] {
    let mut best = [f64::INFINITY; N];
    for work in contenders.iter_mut() {
        work();
    }
    for _ in 0..RUNS {
        for (work, best) in contenders.iter_mut().zip(best.iter_mut()) {
            let start = Instant::now();
            for _ in 0..iterations {
                work();
            }
            *best = best.min(start.elapsed().as_secs_f64() * 1e6 / iterations as f64);
        }
    }
    best
}

/// The Lark request every contender handles.
struct LarkRequest {
    encrypt_key: String,
    verification_token: String,
    timestamp: String,
    body: String,
    signature: String,
}

impl LarkRequest {
    fn new() -> Self {
        let settings = dev_settings();
        let secrets = lark::samples::LarkSecrets::from_env(&settings);
        let encrypt_key = secrets.encrypt_key.expect("events/env.json sets LARK_ENCRYPT_KEY");
        let mut event = lark::samples::message_v2(&secrets.verification_token, "peers", NOW);
        // A realistic chat message, so the encrypted body is about 1.6 KB.
        let text = "@_user_1 deploy status? ".repeat(24);
        event["event"]["message"]["content"] = json!(json!({ "text": text }).to_string());
        let body = json!({ "encrypt": encrypt_lark_body(&encrypt_key, [7; 16], event.to_string().as_bytes()) });
        let body = body.to_string();
        let timestamp = NOW.to_string();
        let signature = lark_signature(&timestamp, NONCE, &encrypt_key, body.as_bytes());
        LarkRequest { encrypt_key, verification_token: secrets.verification_token, timestamp, body, signature }
    }

    fn headers(&self) -> Value {
        json!({
            "content-type": "application/json",
            "x-lark-request-timestamp": self.timestamp,
            "x-lark-request-nonce": NONCE,
            "x-lark-signature": self.signature,
        })
    }

    fn incoming(&self) -> IncomingRequest {
        let mut request =
            inlet_shared::ingress::IncomingRequest::new(http::Method::POST, "/lark/event", self.body.clone());
        for (name, value) in self.headers().as_object().expect("headers").iter() {
            request.append_header(name.as_bytes(), value.as_str().unwrap_or_default().as_bytes());
        }
        request
    }

    /// The work no receiver can skip.
    fn raw_work(&self) -> Value {
        let expected = lark_signature(&self.timestamp, NONCE, &self.encrypt_key, self.body.as_bytes());
        assert!(constant_time_eq(expected.as_bytes(), self.signature.as_bytes()));
        let ciphertext = &self.body[r#"{"encrypt":""#.len()..self.body.len() - 2];
        let plaintext = decrypt_lark_body(&self.encrypt_key, ciphertext).expect("decrypts");
        serde_json::from_slice(&plaintext).expect("JSON")
    }
}

fn peer(runtime: Runtime, script: &str, input: &Value) -> (String, f64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/peers").join(script);
    let report = match runtime {
        Runtime::Node => run_node_peer(&script, input),
        Runtime::VenvPython => crosscheck::run(runtime, &script, input),
    };
    assert_eq!(report["accepted"], true, "{} refused the request: {report}", script.display());
    (report["sdk"].as_str().unwrap_or("?").to_string(), report["us_per_event"].as_f64().expect("a figure"))
}

/// The Node SDK lives in its own node_modules (`.tools/peers`), apart from
/// the cross-checks' libraries.
fn run_node_peer(script: &Path, input: &Value) -> Value {
    let modules: PathBuf = crosscheck::repository_root().join(".tools/peers/node_modules");
    assert!(modules.exists(), "{} is missing: run `make bench-peers`", modules.display());
    let mut child = std::process::Command::new("node")
        .arg(script)
        .env("NODE_PATH", &modules)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("input");
    let output = child.wait_with_output().expect("node ran");
    assert!(output.status.success(), "{} failed", script.display());
    // The report is the last line; anything before it is the SDK's own.
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn main() {
    // `cargo bench` passes `--bench`; a filter is not supported.
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let now = OffsetDateTime::from_unix_timestamp(NOW).expect("time");
    let settings = dev_settings();

    let lark = LarkRequest::new();
    let request = lark.incoming();
    let function = lark::LarkFunction::from_env(&settings).expect("lark settings");
    let reply = runtime.block_on(function.handle(&DroppingPublisher, &request, now));
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let mut metered = lark::LarkFunction::from_env(&settings).expect("lark settings");
    metered.ingress.metrics = DevNullSink::metrics();
    // `INLET_PEERS_PROFILE=inlet` (or `inlet-metrics`, `raw`): only that
    // loop, 20 000 times, for a profiler (valgrind --tool=callgrind, perf
    // record) to see where the time goes.
    match std::env::var("INLET_PEERS_PROFILE").as_deref() {
        Ok("inlet") => {
            let mut work = handling(&runtime, &function, &request, now);
            for _ in 0..20_000 {
                work();
            }
            return;
        }
        Ok("inlet-metrics") => {
            let mut work = handling(&runtime, &metered, &request, now);
            for _ in 0..20_000 {
                work();
            }
            return;
        }
        Ok("raw") => {
            for _ in 0..20_000 {
                std::hint::black_box(lark.raw_work());
            }
            return;
        }
        _ => {}
    }
    // The metric line alone, as the Lark request above writes it.
    let request_metrics = RequestMetrics {
        provider: "lark",
        route: "/lark/event",
        status: 200,
        refused: None,
        accepted: true,
        queue_failure: false,
        ack_latency_ms: 12.34,
        deadline_ms: 3000,
        enqueue_latency_ms: Some(4.56),
        events: 1,
        cold_start: false,
    };
    let to_dev_null = DevNullSink::metrics();
    let [inlet, inlet_metered, raw, line_rendered, line_written] = best_of_each(
        20_000,
        [
            &mut handling(&runtime, &function, &request, now),
            &mut handling(&runtime, &metered, &request, now),
            &mut || {
                std::hint::black_box(lark.raw_work());
            },
            &mut || {
                std::hint::black_box(request_metrics.line().render("inlet", 1_796_356_800_000));
            },
            &mut || to_dev_null.emit(&request_metrics.line()),
        ],
    );
    let input = json!({
        "encrypt_key": lark.encrypt_key,
        "verification_token": lark.verification_token,
        "path": "/lark/event",
        "headers": lark.headers(),
        "body": lark.body,
        "iterations": 2_000,
        "runs": RUNS,
    });
    let (python_sdk, python) = peer(Runtime::VenvPython, "lark_oapi_bench.py", &input);
    let (node_sdk, node) = peer(Runtime::Node, "lark_node_bench.js", &input);

    println!("Lark: one signed, encrypted v2 message event, {} bytes of body", lark.body.len());
    println!("| Contender | µs per event | inlet is faster by |");
    println!("|---|---|---|");
    println!("| {python_sdk} (EventDispatcherHandler.do) | {python:.2} | {:.1}× |", python / inlet);
    println!("| {node_sdk} (EventDispatcher.invoke) | {node:.2} | {:.1}× |", node / inlet);
    println!("| inlet lark (whole request path, metrics off) | {inlet:.2} | 1.0× |");
    println!(
        "| inlet lark (whole request path, with its metric line) | {inlet_metered:.2} | {:.2}× the metrics-off figure |",
        inlet_metered / inlet
    );
    println!(
        "| raw work (SHA-256, base64, AES-256-CBC, one JSON parse) | {raw:.2} | inlet is {:.2}× the raw work |",
        inlet / raw
    );
    println!("| the metric line alone: built and rendered | {line_rendered:.2} | |");
    println!("| the metric line alone: built, rendered and written to /dev/null | {line_written:.2} | |");

    // Discord: the handler against the verification alone.
    let sample = discord::DiscordFunction::sample("discord-command", &settings, NOW, "peers").expect("sample");
    let request = sample.to_incoming();
    let function = discord::DiscordFunction::from_env(&settings).expect("discord settings");
    let reply = runtime.block_on(function.handle(&DroppingPublisher, &request, now));
    assert!(reply.status.is_success(), "{}", String::from_utf8_lossy(&reply.body));
    let key_hex = settings.get("DISCORD_PUBLIC_KEY").expect("DISCORD_PUBLIC_KEY");
    let key_bytes: [u8; 32] = hex::decode(key_hex).expect("hex").try_into().expect("32 bytes");
    let key = VerifyingKey::from_bytes(&key_bytes).expect("a public key");
    let timestamp = request.header("x-signature-timestamp").expect("timestamp").to_string();
    let signature_hex = request.header("x-signature-ed25519").expect("signature").to_string();
    let body = request.body.clone();
    let mut metered = discord::DiscordFunction::from_env(&settings).expect("discord settings");
    metered.ingress.metrics = DevNullSink::metrics();
    let [handler, handler_metered, bare] = best_of_each(
        5_000,
        [
            &mut handling(&runtime, &function, &request, now),
            &mut handling(&runtime, &metered, &request, now),
            &mut || {
                let bytes: [u8; 64] = hex::decode(&signature_hex).expect("hex").try_into().expect("64 bytes");
                let mut message = Vec::with_capacity(timestamp.len() + body.len());
                message.extend_from_slice(timestamp.as_bytes());
                message.extend_from_slice(&body);
                key.verify_strict(&message, &Signature::from_bytes(&bytes)).expect("verifies");
            },
        ],
    );
    println!();
    println!("Discord: one signed application command, {} bytes of body", body.len());
    println!("| Contender | µs per request |");
    println!("|---|---|");
    println!("| inlet discord (whole request path, metrics off) | {handler:.2} |");
    println!("| inlet discord (whole request path, with its metric line) | {handler_metered:.2} |");
    println!("| bare Ed25519 verify_strict (key parsed once) | {bare:.2} |");
    println!("| inlet ÷ bare verify | {:.2}× ({:.2}× with the metric line) |", handler / bare, handler_metered / bare);
}
