//! Property tests: every provider's signed samples, mutated at random (body
//! bytes, JSON fields, headers, method and path; then signed again or
//! not, with the queue up or down), must keep the promises of
//! `fuzz/src/promises.rs`, the same checks the fuzz targets make:
//! every accepted request's Envelopes round-trip through the processor's
//! decoder, every refusal is a 4xx (503 only while the queue is down) with
//! a reason, and no answer or Envelope carries a configured secret.
//!
//! Every hooks preset's sample, forged one way (a byte of its body or of
//! its signature, another configured source, a timestamp past the preset's
//! window), is the one uniform 401 and enqueues nothing.
//!
//! And the hand-written metric line reads back as JSON whatever its text,
//! the allocation-free JSON Pointer finds what serde_json's finds, and a
//! reply's key survives its encoding without ever merging two replies.
//!
//! The random source is fixed so that `make test` is repeatable; set
//! `PROPTEST_RNG_SEED` to explore other cases.

#[path = "properties/payload.rs"]
mod payload;
#[path = "../../fuzz/src/promises.rs"]
mod promises;

use std::collections::HashMap;
use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use discord::crypto::sign_ed25519;
use grafana::crypto::grafana_signature;
use hooks::HooksFunction;
use hooks::presets::{Encoding, Location, PRESETS, Part, Preset, preset};
use inlet_cli::providers::PROVIDERS;
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::{SampleRequest, Samples, dev_settings};
use inlet_testkit::samples::handle_with;
use lark::crypto::{decrypt_lark_body, encrypt_lark_body, lark_card_signature_v1, lark_signature};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The time every sample is signed at and every request is handled at.
const NOW: i64 = 1_700_000_000;
const OPENIM_PATH_TOKEN: &str = "prop-openim-path-token";

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).expect("valid time")
}

/// The handlers never wait with an in-memory queue: poll to completion.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

type Handle = Box<dyn Fn(&MemoryPublisher, &IncomingRequest) -> Reply + Send + Sync>;

/// One configuration of a provider's function and the samples signed for it.
struct Deployment {
    settings: HashMap<String, String>,
    handle: Handle,
    samples: Vec<SampleRequest>,
}

fn with(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut settings = dev_settings();
    for (name, value) in pairs {
        settings.insert(name.to_string(), value.to_string());
    }
    settings
}

fn deployment(provider: &str, settings: HashMap<String, String>) -> Deployment {
    let registered = PROVIDERS.iter().find(|p| p.name == provider).unwrap_or_else(|| panic!("no provider {provider}"));
    let function = (registered.open)(&settings).unwrap_or_else(|e| panic!("{provider} settings: {e}"));
    let handle: Handle = Box::new(move |publisher, request| block_on(function.handle_boxed(publisher, request, now())));
    let samples: Vec<SampleRequest> =
        registered.sample_names.iter().filter_map(|name| (registered.sample)(name, &settings, NOW, "prop")).collect();
    assert!(!samples.is_empty(), "{provider} has no samples for its settings");
    Deployment { settings, handle, samples }
}

/// Every provider's deployments: the dev settings, plus the other shape of
/// each setting that changes how requests are verified.
fn deployments(provider: &str) -> &'static [Deployment] {
    static ALL: OnceLock<HashMap<&'static str, Vec<Deployment>>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        // Every registered provider with the dev settings; some also with the
        // other shape of a setting that changes how requests are verified.
        let mut all: HashMap<&'static str, Vec<Deployment>> =
            PROVIDERS.iter().map(|p| (p.name, vec![deployment(p.name, dev_settings())])).collect();
        let mut add = |provider: &'static str, settings| {
            all.entry(provider).or_default().push(deployment(provider, settings));
        };
        add("lark", with(&[("LARK_ENCRYPT_KEY", "")]));
        add("openim", with(&[("OPENIM_PATH_TOKEN", OPENIM_PATH_TOKEN), ("OPENIM_ALLOWED_CIDRS", "")]));
        let mut no_timestamp = dev_settings();
        no_timestamp.remove("GRAFANA_HMAC_TIMESTAMP_HEADER");
        add("grafana", no_timestamp);
        all
    });
    &all[provider]
}

/// Every secret of every deployment.
fn secrets() -> &'static [String] {
    static SECRETS: OnceLock<Vec<String>> = OnceLock::new();
    SECRETS.get_or_init(|| {
        let settings = with(&[("OPENIM_PATH_TOKEN", OPENIM_PATH_TOKEN)]);
        promises::configured_secrets(|name| settings.get(name).map(String::as_str))
    })
}

fn setting<'a>(settings: &'a HashMap<String, String>, name: &str) -> &'a str {
    settings.get(name).map(|v| v.split(',').next().unwrap_or_default().trim()).unwrap_or_default()
}

/// How a sample proves itself, so a mutated body can be sealed the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seal {
    /// Nothing over the body (tokens in headers or the body, or no proof).
    None,
    LarkEncryptKey,
    LarkVerificationToken,
    Ed25519,
    GrafanaHmac,
    SlackSignature,
    GithubSignature,
    StripeSignature,
}

fn seal_of(settings: &HashMap<String, String>, request: &IncomingRequest) -> Seal {
    let header = |name| request.header(name).unwrap_or_default();
    let (timestamp, nonce, signature) =
        (header("x-lark-request-timestamp"), header("x-lark-request-nonce"), header("x-lark-signature"));
    let key = setting(settings, "LARK_ENCRYPT_KEY");
    let token = setting(settings, "LARK_VERIFICATION_TOKEN");
    if !signature.is_empty() {
        if !key.is_empty() && lark_signature(timestamp, nonce, key, &request.body) == signature {
            return Seal::LarkEncryptKey;
        }
        if lark_card_signature_v1(timestamp, nonce, token, &request.body) == signature {
            return Seal::LarkVerificationToken;
        }
    }
    if request.header("x-signature-ed25519").is_some() {
        return Seal::Ed25519;
    }
    if request.header("x-grafana-alerting-signature").is_some() {
        return Seal::GrafanaHmac;
    }
    if request.header(slack::SIGNATURE_HEADER).is_some() {
        return Seal::SlackSignature;
    }
    // Meta's hooks preset signs in the same header, with its own secret.
    if request.header(github::SIGNATURE_HEADER).is_some() && request.path.starts_with("/github/") {
        return Seal::GithubSignature;
    }
    if request.header(stripe::SIGNATURE_HEADER).is_some() {
        return Seal::StripeSignature;
    }
    Seal::None
}

/// Signs the request's current body as `seal` says, with the deployment's secrets.
fn sign(seal: Seal, settings: &HashMap<String, String>, request: &mut IncomingRequest) {
    let header = |request: &IncomingRequest, name: &str| request.header(name).unwrap_or_default().to_string();
    let signature = match seal {
        Seal::None => return,
        Seal::LarkEncryptKey => lark_signature(
            &header(request, "x-lark-request-timestamp"),
            &header(request, "x-lark-request-nonce"),
            setting(settings, "LARK_ENCRYPT_KEY"),
            &request.body,
        ),
        Seal::LarkVerificationToken => lark_card_signature_v1(
            &header(request, "x-lark-request-timestamp"),
            &header(request, "x-lark-request-nonce"),
            setting(settings, "LARK_VERIFICATION_TOKEN"),
            &request.body,
        ),
        Seal::Ed25519 => {
            let seed: [u8; 32] = hex::decode(setting(settings, "DISCORD_DEV_SIGNING_SEED"))
                .ok()
                .and_then(|seed| seed.try_into().ok())
                .expect("DISCORD_DEV_SIGNING_SEED");
            sign_ed25519(&seed, &header(request, "x-signature-timestamp"), &request.body)
        }
        Seal::GrafanaHmac => {
            let timestamp =
                settings.get("GRAFANA_HMAC_TIMESTAMP_HEADER").map(|name| header(request, &name.to_ascii_lowercase()));
            grafana_signature(setting(settings, "GRAFANA_HMAC_SECRET"), timestamp.as_deref(), &request.body)
        }
        Seal::SlackSignature => slack::signature::slack_signature(
            setting(settings, slack::SIGNING_SECRET_SETTING),
            &header(request, slack::TIMESTAMP_HEADER),
            &request.body,
        ),
        Seal::GithubSignature => github::signature_header(setting(settings, github::SETTING), &request.body),
        Seal::StripeSignature => {
            // The sample's own `t`, signed again over the current body.
            let presented = header(request, stripe::SIGNATURE_HEADER);
            let t = presented.split(',').find_map(|item| item.strip_prefix("t=")).unwrap_or_default().to_string();
            format!("t={t},v1={}", stripe::signature(setting(settings, stripe::SETTING), &t, &request.body))
        }
    };
    let name = match seal {
        Seal::Ed25519 => "x-signature-ed25519",
        Seal::GrafanaHmac => "x-grafana-alerting-signature",
        Seal::SlackSignature => slack::SIGNATURE_HEADER,
        Seal::GithubSignature => github::SIGNATURE_HEADER,
        Seal::StripeSignature => stripe::SIGNATURE_HEADER,
        _ => "x-lark-signature",
    };
    request.headers.insert(name, signature.parse().expect("hex is a header value"));
}

/// A Lark body encrypted with the deployment's key, opened; else `None`.
fn decrypted(settings: &HashMap<String, String>, body: &[u8]) -> Option<Vec<u8>> {
    let key = setting(settings, "LARK_ENCRYPT_KEY");
    let outer: Value = serde_json::from_slice(body).ok()?;
    let ciphertext = outer.get("encrypt")?.as_str()?;
    (!key.is_empty()).then(|| decrypt_lark_body(key, ciphertext).ok()).flatten()
}

#[derive(Clone, Debug)]
enum Mutation {
    SetJson(Index, Value),
    RemoveJson(Index),
    FlipBodyByte(Index, u8),
    InsertBodyBytes(Index, Vec<u8>),
    TruncateBody(Index),
    DropHeader(Index),
    SetHeader(&'static str, String),
    Method(&'static str),
    Path(String),
}

/// Values a JSON field may become: every JSON type, floats of every
/// magnitude, text with characters the queue refuses, ids longer than a
/// dedup key, nesting at and past the decoder's limit.
fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(|f| json!(f)),
        "\\PC{0,24}".prop_map(Value::String),
        "[a-z:]{0,12}".prop_map(Value::String),
        Just(json!("\u{fffe}\u{ffff}\u{0}\u{7f}\u{10ffff}")),
        (500usize..3000).prop_map(|n| json!("i".repeat(n))),
        (1usize..140).prop_map(|depth| (0..depth).fold(json!(1), |inner, _| json!([inner]))),
        Just(json!({})),
        Just(json!([])),
    ]
}

const HEADERS: [&str; 12] = [
    "authorization",
    "x-lark-signature",
    "x-lark-request-timestamp",
    "x-lark-request-nonce",
    "x-signature-ed25519",
    "x-signature-timestamp",
    "x-telegram-bot-api-secret-token",
    "x-grafana-alerting-signature",
    "x-grafana-alerting-timestamp",
    "idempotency-key",
    "operationid",
    "content-type",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), json_value()).prop_map(|(at, value)| Mutation::SetJson(at, value)),
        2 => any::<Index>().prop_map(Mutation::RemoveJson),
        2 => (any::<Index>(), 1u8..).prop_map(|(at, xor)| Mutation::FlipBodyByte(at, xor)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(at, b)| Mutation::InsertBodyBytes(at, b)),
        1 => any::<Index>().prop_map(Mutation::TruncateBody),
        2 => any::<Index>().prop_map(Mutation::DropHeader),
        2 => (prop::sample::select(HEADERS.to_vec()), "[ -~]{0,40}").prop_map(|(name, value)| Mutation::SetHeader(name, value)),
        1 => prop::sample::select(vec!["GET", "PUT", "DELETE", "PATCH"]).prop_map(Mutation::Method),
        1 => "(/[a-zA-Z0-9_-]{0,12}){0,3}".prop_map(Mutation::Path),
    ]
}

/// Which deployment and sample, and what is done to it.
#[derive(Clone, Debug)]
struct Case {
    deployment: Index,
    sample: Index,
    change: Change,
}

#[derive(Clone, Debug, Default)]
struct Change {
    mutations: Vec<Mutation>,
    /// Sign the final body again, as the sample was signed.
    resign: bool,
    queue_down: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let change = (prop::collection::vec(mutation(), 0..4), any::<bool>(), prop::bool::weighted(0.1))
        .prop_map(|(mutations, resign, queue_down)| Change { mutations, resign, queue_down });
    (any::<Index>(), any::<Index>(), change).prop_map(|(deployment, sample, change)| Case {
        deployment,
        sample,
        change,
    })
}

/// Every JSON pointer into `value`, the root included.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                pointers(child, format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn remove_at(json: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else { return };
    let key = last.replace("~1", "/").replace("~0", "~");
    match json.pointer_mut(parent) {
        Some(Value::Object(object)) => {
            object.remove(&key);
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = key.parse::<usize>()
                && index < items.len()
            {
                items.remove(index);
            }
        }
        _ => {}
    }
}

/// The request `change` makes of `sample`, and the plaintext its sender wrote.
fn mutated(deployment: &Deployment, sample: &SampleRequest, change: &Change) -> (IncomingRequest, Vec<u8>) {
    let settings = &deployment.settings;
    let mut request = sample.to_incoming();
    let seal = seal_of(settings, &request);
    let encrypted = decrypted(settings, &request.body);
    let mut plaintext = encrypted.clone().unwrap_or_else(|| request.body.clone());

    // Fields first, on the plaintext, then sealed again as the sample was.
    let edits: Vec<&Mutation> =
        change.mutations.iter().filter(|m| matches!(m, Mutation::SetJson(..) | Mutation::RemoveJson(_))).collect();
    if let (false, Ok(mut json)) = (edits.is_empty(), serde_json::from_slice::<Value>(&plaintext)) {
        for edit in edits {
            let mut all = Vec::new();
            pointers(&json, String::new(), &mut all);
            match edit {
                Mutation::SetJson(at, value) => match json.pointer_mut(&all[at.index(all.len())]) {
                    Some(slot) => *slot = value.clone(),
                    None => json = value.clone(),
                },
                Mutation::RemoveJson(at) => remove_at(&mut json, &all[at.index(all.len())]),
                _ => {}
            }
        }
        plaintext = json.to_string().into_bytes();
        request.body = match encrypted {
            Some(_) => {
                json!({"encrypt": encrypt_lark_body(setting(settings, "LARK_ENCRYPT_KEY"), [9; 16], &plaintext)})
                    .to_string()
                    .into_bytes()
            }
            None => plaintext.clone(),
        };
    }
    for mutation in &change.mutations {
        let body = &mut request.body;
        match mutation {
            Mutation::FlipBodyByte(at, xor) if !body.is_empty() => {
                let at = at.index(body.len());
                body[at] ^= xor;
            }
            Mutation::InsertBodyBytes(at, bytes) => {
                let at = at.index(body.len() + 1);
                body.splice(at..at, bytes.iter().copied());
            }
            Mutation::TruncateBody(at) if !body.is_empty() => body.truncate(at.index(body.len())),
            _ => {}
        }
    }
    if change.resign {
        sign(seal, settings, &mut request);
    }
    for mutation in &change.mutations {
        match mutation {
            Mutation::DropHeader(at) => {
                let names: Vec<_> = request.headers.keys().cloned().collect();
                if !names.is_empty() {
                    request.headers.remove(&names[at.index(names.len())]);
                }
            }
            Mutation::SetHeader(name, value) => {
                if let Ok(value) = value.parse() {
                    request.headers.insert(*name, value);
                }
            }
            Mutation::Method(method) => request.method = method.parse().expect("a method"),
            Mutation::Path(path) => request.path = path.clone(),
            _ => {}
        }
    }
    (request, plaintext)
}

fn check_case(provider: &str, case: &Case) -> Result<(), TestCaseError> {
    let deployments = deployments(provider);
    let deployment = &deployments[case.deployment.index(deployments.len())];
    let sample = &deployment.samples[case.sample.index(deployment.samples.len())];
    answer_and_check(provider, deployment, sample, &case.change).map(drop)
}

/// Answers the request `change` makes of `sample` and checks every promise.
fn answer_and_check(
    provider: &str,
    deployment: &Deployment,
    sample: &SampleRequest,
    change: &Change,
) -> Result<Reply, TestCaseError> {
    let (request, plaintext) = mutated(deployment, sample, change);
    let publisher = if change.queue_down { MemoryPublisher::down() } else { MemoryPublisher::new() };
    let reply = (deployment.handle)(&publisher, &request);
    let sender_text = promises::sender_text(&request, &plaintext);
    let sent = promises::Sent { publisher_down: change.queue_down, secrets: secrets(), sender_text: &sender_text };
    promises::check_answer(&reply, &publisher, &sent).map_err(|broken| {
        TestCaseError::fail(format!(
            "{provider} sample {}: {broken}\nrequest {} {} {:?}\nbody {}\nanswer {} {}",
            sample.name,
            request.method,
            request.path,
            request.headers,
            String::from_utf8_lossy(&request.body),
            reply.status,
            String::from_utf8_lossy(&reply.body)
        ))
    })?;
    Ok(reply)
}

/// Modest, repeatable runs: a fixed seed unless PROPTEST_RNG_SEED says otherwise.
fn config() -> Config {
    let seed = std::env::var("PROPTEST_RNG_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x1a1e7);
    Config {
        cases: 256,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn lark_requests_keep_the_promises(case in case()) { check_case("lark", &case)?; }

    #[test]
    fn discord_requests_keep_the_promises(case in case()) { check_case("discord", &case)?; }

    #[test]
    fn telegram_requests_keep_the_promises(case in case()) { check_case("telegram", &case)?; }

    #[test]
    fn openim_requests_keep_the_promises(case in case()) { check_case("openim", &case)?; }

    #[test]
    fn alertmanager_requests_keep_the_promises(case in case()) { check_case("alertmanager", &case)?; }

    #[test]
    fn grafana_requests_keep_the_promises(case in case()) { check_case("grafana", &case)?; }

    #[test]
    fn alert_api_requests_keep_the_promises(case in case()) { check_case("alert-api", &case)?; }

    #[test]
    fn slack_requests_keep_the_promises(case in case()) { check_case("slack", &case)?; }

    #[test]
    fn github_requests_keep_the_promises(case in case()) { check_case("github", &case)?; }

    #[test]
    fn stripe_requests_keep_the_promises(case in case()) { check_case("stripe", &case)?; }

    #[test]
    fn standard_webhooks_requests_keep_the_promises(case in case()) { check_case("standard-webhooks", &case)?; }

    #[test]
    fn wecom_requests_keep_the_promises(case in case()) { check_case("wecom", &case)?; }

    #[test]
    fn dingtalk_requests_keep_the_promises(case in case()) { check_case("dingtalk", &case)?; }

    #[test]
    fn hooks_requests_keep_the_promises(case in case()) { check_case("hooks", &case)?; }
}

/// The starting points are genuine: unmutated, every sample is accepted,
/// and so is every sample signed again with the same secrets.
#[test]
fn every_unmutated_sample_is_accepted_and_keeps_the_promises() {
    for provider in PROVIDERS.iter().map(|p| p.name) {
        for (d, deployment) in deployments(provider).iter().enumerate() {
            for sample in &deployment.samples {
                for resign in [false, true] {
                    let change = Change { resign, ..Change::default() };
                    let reply =
                        answer_and_check(provider, deployment, sample, &change).unwrap_or_else(|e| panic!("{e}"));
                    assert!(
                        reply.status.is_success(),
                        "{provider} sample {} (deployment {d}, signed again: {resign}) got {} {}",
                        sample.name,
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    );
                }
            }
        }
    }
}

/// Found by fuzzing (targets alert_split and envelope_decode): without
/// serde_json's `float_roundtrip`, this number decodes in the processor
/// 1 ULP away from what the receiver parsed and acknowledged, so the
/// Envelope changes on its way through the queue.
#[test]
fn a_large_number_in_an_accepted_payload_round_trips() {
    let deployment = &deployments("alertmanager")[0];
    let mut sample = deployment.samples[0].clone();
    sample.body = br#"{"value": 1000666666666666666666666666666666666666666666666666666666666666}"#.to_vec();
    let reply =
        answer_and_check("alertmanager", deployment, &sample, &Change::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(reply.status.is_success(), "an authenticated custom payload is kept: {}", reply.status);
}

/// The checks themselves can fail: a queued message that changes on the
/// way through the decoder, a refusal with a secret in it, a 5xx other
/// than 503, and a refusal that enqueued something are each caught.
#[test]
fn the_promise_checks_catch_broken_answers() {
    use http::StatusCode;
    let secrets = vec!["dev-alert-api-key-NOT-A-SECRET".to_string()];
    let sent = promises::Sent { publisher_down: false, secrets: &secrets, sender_text: &[] };
    let refusal = |text: &str| Reply::json(StatusCode::UNAUTHORIZED, &json!({ "error": text }));

    assert!(promises::check_answer(&refusal("missing Authorization header"), &MemoryPublisher::new(), &sent).is_ok());
    let leak = refusal("key dev-alert-api-key-NOT-A-SECRET is wrong");
    assert!(promises::check_answer(&leak, &MemoryPublisher::new(), &sent).is_err());
    let body = [b"dev-alert-api-key-NOT-A-SECRET".to_vec()];
    let echoed = promises::Sent { sender_text: &body, ..sent };
    assert!(promises::check_answer(&leak, &MemoryPublisher::new(), &echoed).is_ok(), "an echo of the body is no leak");
    let sent = promises::Sent { publisher_down: false, secrets: &secrets, sender_text: &[] };
    for status in [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::SERVICE_UNAVAILABLE] {
        assert!(promises::check_answer(&Reply::empty(status), &MemoryPublisher::new(), &sent).is_err(), "{status}");
    }
    let down = promises::Sent { publisher_down: true, ..sent };
    let unavailable = Reply::json(StatusCode::SERVICE_UNAVAILABLE, &json!({"error": "queue"}));
    assert!(promises::check_answer(&unavailable, &MemoryPublisher::new(), &down).is_ok());
    let sent = promises::Sent { publisher_down: false, secrets: &secrets, sender_text: &[] };

    let publisher = MemoryPublisher::new();
    let envelope = inlet_shared::Envelope::new(
        "p",
        "id",
        "kind",
        now(),
        inlet_shared::envelope::Verification { scheme: "s".into(), matched: None },
        json!({"a": 1}),
    );
    block_on(inlet_shared::queue::Publisher::publish_envelopes(&publisher, &[envelope])).expect("published");
    assert!(promises::check_answer(&Reply::empty(StatusCode::OK), &publisher, &sent).is_ok());
    assert!(promises::check_answer(&refusal("no"), &publisher, &sent).is_err(), "a refusal that enqueued");

    let mut changing = inlet_shared::Envelope::new(
        "p",
        "id",
        "kind",
        now(),
        inlet_shared::envelope::Verification { scheme: "s".into(), matched: None },
        json!(null),
    );
    changing.payload = (0..130).fold(json!(1), |inner, _| json!([inner])).into();
    assert!(promises::round_trips(&changing).is_err(), "too deep to decode");
}

proptest! {
    #![proptest_config(config())]

    /// The metric line is written by hand (shared/src/metrics.rs): whatever a
    /// route, class or namespace holds (quotes, control characters, any
    /// Unicode), the line is one line of JSON that reads back to the values.
    #[test]
    fn metric_lines_are_json_that_reads_back_whatever_their_text(
        route in any::<String>(),
        class in any::<String>(),
        namespace in any::<String>(),
        latency in 0.0f64..1e9,
        timestamp in any::<i64>(),
    ) {
        let class: &'static str = Box::leak(class.into_boxed_str());
        let metrics = inlet_shared::metrics::RequestMetrics {
            provider: "lark",
            route: &route,
            status: 401,
            refused: Some(class),
            accepted: false,
            queue_failure: false,
            ack_latency_ms: latency,
            deadline_ms: 3000,
            enqueue_latency_ms: None,
            events: 0,
            cold_start: true,
        };
        let line = metrics.line().render(&namespace, timestamp);
        prop_assert!(!line.contains('\n'));
        let document: Value = serde_json::from_str(&line).map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
        prop_assert_eq!(document["Route"].as_str(), Some(route.as_str()));
        prop_assert_eq!(document["Class"].as_str(), Some(class));
        prop_assert_eq!(document["_aws"]["CloudWatchMetrics"][0]["Namespace"].as_str(), Some(namespace.as_str()));
        prop_assert_eq!(document["_aws"]["Timestamp"].as_i64(), Some(timestamp));
        prop_assert_eq!(document["Refused"].as_u64(), Some(1));
    }
}

fn json_document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z~/0-9]{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z~/01]{0,3}", inner, 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn json_pointer() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec("[a-z~/01+-]{0,3}", 0..5)
            .prop_map(|tokens| tokens.iter().map(|t| format!("/{t}")).collect()),
        "[a-z~/01]{0,8}",
    ]
}

proptest! {
    #![proptest_config(config())]

    /// The providers read fields with inlet_shared::json::value_at, which
    /// skips `Value::pointer`'s allocations: it finds exactly what that finds.
    #[test]
    fn value_at_finds_what_serde_jsons_pointer_finds(document in json_document(), pointer in json_pointer()) {
        prop_assert_eq!(inlet_shared::json::value_at(&document, &pointer), document.pointer(&pointer));
    }
}

/// A card built of `fields` (keys and values), with its keys in the order given.
fn card_of(fields: &[(String, Value)]) -> String {
    let members: Vec<String> =
        fields.iter().map(|(key, value)| format!("{}:{}", serde_json::to_string(key).unwrap(), value)).collect();
    format!("{{{}}}", members.join(","))
}

proptest! {
    #![proptest_config(config())]

    /// A reply's key is what keeps it from being posted twice: a request
    /// read back from what the outbox wrote, or the same card written in
    /// another key order, keeps its key; another event, another text or
    /// another id never shares it.
    #[test]
    fn a_replys_key_survives_its_encoding_and_never_merges_two_replies(
        event in "[a-z]{1,8}:[ -~]{1,40}",
        other_event in "[a-z]{1,8}:[ -~]{1,40}",
        text in "\\PC{1,60}",
        other_text in "\\PC{1,60}",
        id in proptest::option::of("[ -~]{1,30}"),
        fields in proptest::collection::btree_map("[a-z]{1,6}", json_value(), 0..5),
    ) {
        use inlet_shared::reply::Reply;
        use inlet_shared::reply::request::ReplyRequest;
        prop_assume!(!text.trim().is_empty());
        let fields: Vec<(String, Value)> = fields.into_iter().collect();
        let card = card_of(&fields);
        let reversed: Vec<(String, Value)> = fields.iter().rev().cloned().collect();
        let with_id = |request: ReplyRequest| match &id { Some(id) => request.with_id(id.clone()), None => request };
        let body = |card: &str| {
            let mut document = json!({"event_id": event, "reply": {"text": text}});
            if let Some(id) = &id { document["id"] = json!(id); }
            let text = document.to_string();
            text.replacen(r#""reply":{"#, &format!(r#""reply":{{"card":{card},"#), 1)
        };
        // Nesting past serde_json's depth limit is refused with a reason;
        // the property is about what is accepted.
        let parsed = ReplyRequest::parse(&body(&card));
        prop_assume!(!matches!(&parsed, Err(reason) if reason.contains("recursion limit")));
        let request = parsed.map_err(TestCaseError::fail)?;
        let again = ReplyRequest::parse(&request.to_json()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(again.dedup_key(), request.dedup_key(), "re-encoded");
        let reordered = ReplyRequest::parse(&body(&card_of(&reversed))).map_err(TestCaseError::fail)?;
        prop_assert_eq!(reordered.dedup_key(), request.dedup_key(), "the same card in another key order");
        let plain = with_id(ReplyRequest::new(event.clone(), Reply::text(text.clone())));
        if event != other_event {
            let elsewhere = with_id(ReplyRequest::new(other_event.clone(), Reply::text(text.clone())));
            prop_assert_ne!(elsewhere.dedup_key(), plain.dedup_key(), "another event");
        }
        if id.is_none() && text != other_text {
            let changed = ReplyRequest::new(event.clone(), Reply::text(other_text.clone()));
            prop_assert_ne!(changed.dedup_key(), plain.dedup_key(), "another text");
        }
        let second = ReplyRequest::new(event.clone(), Reply::text(text.clone())).with_id(format!("{}#2", id.clone().unwrap_or_default()));
        prop_assert_ne!(second.dedup_key(), plain.dedup_key(), "another id");
    }
}

// ---- hooks: every preset's request, forged one way, is the one 401 ----

/// events/env.json's settings, read once: every preset has a dev source.
fn hooks_settings() -> &'static HashMap<String, String> {
    static SETTINGS: OnceLock<HashMap<String, String>> = OnceLock::new();
    SETTINGS.get_or_init(dev_settings)
}

/// Every source of `HOOK_SOURCES` (`name=preset` pairs).
fn hook_sources() -> &'static [String] {
    static SOURCES: OnceLock<Vec<String>> = OnceLock::new();
    SOURCES.get_or_init(|| {
        let pairs = hooks_settings().get("HOOK_SOURCES").expect("HOOK_SOURCES in events/env.json");
        pairs.split(',').filter_map(|pair| pair.split_once('=')).map(|(source, _)| source.trim().to_string()).collect()
    })
}

/// `preset`'s event sample (`hooks-<preset>`), signed at `at` for its dev source.
fn hooks_sample(preset: &Preset, at: i64) -> IncomingRequest {
    HooksFunction::sample(&format!("hooks-{}", preset.name), hooks_settings(), at, "prop-hooks")
        .unwrap_or_else(|| panic!("no sample hooks-{}", preset.name))
        .to_incoming()
}

/// The source a request's path names.
fn hooks_source(request: &IncomingRequest) -> &str {
    request.path.strip_prefix("/hooks/").expect("a /hooks/{source} path")
}

fn hooks_handle(request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    block_on(handle_with::<HooksFunction>(hooks_settings(), request, NOW))
}

/// One way to forge a preset's signed request.
#[derive(Clone, Debug)]
enum Forgery {
    /// One byte of the body xor-ed with a nonzero mask (presets that sign
    /// the raw body).
    BodyByte(Index, u8),
    /// One byte of the signature replaced: the position, then which of
    /// [`forged_bytes`].
    SignatureByte(Index, Index),
    /// Sent to another configured source.
    OtherSource(Index),
    /// Signed, genuinely, this many seconds past the preset's window, behind
    /// or ahead of the clock.
    Beyond { ahead: bool, secs: u64 },
}

/// Whether every byte of the body is signed. Not for tokens and Basic
/// credentials (nothing of the body), Mailgun (two fields of it) or Twilio
/// (its form's decoded parameters: `%2B` and `%2b` sign the same).
fn signs_raw_body(preset: &Preset) -> bool {
    preset.proof.signed.contains(&Part::Body)
}

fn window_of(preset: &Preset) -> Option<u64> {
    preset.timestamp.and_then(|timestamp| timestamp.window_secs)
}

/// The forgeries that apply to `preset`.
fn forgery(preset: &'static Preset) -> BoxedStrategy<Forgery> {
    let mut ways = vec![
        (any::<Index>(), any::<Index>()).prop_map(|(at, to)| Forgery::SignatureByte(at, to)).boxed(),
        any::<Index>().prop_map(Forgery::OtherSource).boxed(),
    ];
    if signs_raw_body(preset) {
        ways.push((any::<Index>(), 1u8..).prop_map(|(at, xor)| Forgery::BodyByte(at, xor)).boxed());
    }
    if window_of(preset).is_some() {
        ways.push((any::<bool>(), 1u64..=7 * 86_400).prop_map(|(ahead, secs)| Forgery::Beyond { ahead, secs }).boxed());
    }
    prop::strategy::Union::new(ways).boxed()
}

fn hooks_case() -> impl Strategy<Value = (&'static str, Forgery)> {
    let names: Vec<&'static str> = PRESETS.iter().map(|preset| preset.name).collect();
    prop::sample::select(names).prop_flat_map(|name| (Just(name), forgery(preset(name).expect("a preset"))))
}

/// What the byte at `at` of a signature's text may become and still be a
/// forgery: any other visible character but the same letter in the other
/// case (hex digits and auth schemes are read in either case) and, in the
/// last character of a base64 signature, one that differs only in the bits
/// its decoder ignores (as the senders' libraries ignore them).
fn forged_bytes(encoding: Encoding, text: &[u8], at: usize) -> Vec<u8> {
    let sextet = inlet_shared::verify::standard_webhooks::sextet;
    let old = text[at];
    let last = text.iter().rposition(|&byte| byte != b'=').unwrap_or(0);
    let start = text[..=last].iter().rposition(|byte| b" ,=".contains(byte)).map_or(0, |at| at + 1);
    let ignored_bits = match (last + 1 - start) % 4 {
        2 => 4,
        3 => 2,
        _ => 0,
    };
    let unseen = |new: u8| {
        encoding == Encoding::Base64
            && at == last
            && matches!((sextet(old), sextet(new)), (Some(a), Some(b)) if (a ^ b) >> ignored_bits == 0)
    };
    (0x21..=0x7e).filter(|new: &u8| !new.eq_ignore_ascii_case(&old) && !unseen(*new)).collect()
}

/// `preset`'s sample as `forgery` changes it.
fn forged(preset: &'static Preset, forgery: &Forgery) -> IncomingRequest {
    let mut request = hooks_sample(preset, NOW);
    let replace = |text: &mut [u8], at: &Index, to: &Index| {
        let at = at.index(text.len());
        let choices = forged_bytes(preset.proof.encoding, text, at);
        text[at] = choices[to.index(choices.len())];
    };
    match forgery {
        Forgery::BodyByte(at, xor) => {
            let at = at.index(request.body.len());
            request.body[at] ^= xor;
        }
        Forgery::SignatureByte(at, to) => match preset.proof.location {
            Location::Headers(names) => {
                let name = *names.iter().find(|name| request.header(name).is_some()).expect("a signed sample");
                let mut value = request.header(name).expect("signed").as_bytes().to_vec();
                replace(&mut value, at, to);
                let value = http::HeaderValue::from_bytes(&value).expect("visible ASCII");
                request.headers.insert(http::HeaderName::from_static(name), value);
            }
            // Mailgun: the signature is a string of the body.
            Location::Json(pointer) => {
                let json: Value = serde_json::from_slice(&request.body).expect("a JSON body");
                let signature = json.pointer(pointer).and_then(Value::as_str).expect("a signature").as_bytes();
                let start = request.body.windows(signature.len()).position(|w| w == signature).expect("in the body");
                replace(&mut request.body[start..start + signature.len()], at, to);
            }
        },
        Forgery::OtherSource(at) => {
            let own = hooks_source(&request).to_string();
            let others: Vec<&String> = hook_sources().iter().filter(|source| **source != own).collect();
            let other = others[at.index(others.len())].clone();
            request.path = format!("/hooks/{other}");
            request.path_params.insert("source".into(), other);
        }
        Forgery::Beyond { ahead, secs } => {
            let shift = (window_of(preset).expect("a window") + secs) as i64;
            request = hooks_sample(preset, if *ahead { NOW + shift } else { NOW - shift });
        }
    }
    request
}

proptest! {
    #![proptest_config(config())]

    /// Any preset, any forgery of its signed sample (a byte of the body or
    /// of the signature changed, sent to another configured source, signed
    /// past its window): the one uniform 401, nothing enqueued.
    #[test]
    fn every_forgery_of_every_hooks_preset_is_the_one_401((name, forgery) in hooks_case()) {
        let preset = preset(name).expect("a preset");
        let request = forged(preset, &forgery);
        let (reply, publisher) = hooks_handle(&request);
        let reason = reply.body_json().and_then(|body| body["error"].as_str().map(str::to_string));
        prop_assert_eq!(
            (reply.status.as_u16(), reason.as_deref()),
            (401, Some(inlet_shared::IngressError::UNAUTHENTICATED_BODY)),
            "{} {:?}: {} {:?}\nbody {}",
            name,
            forgery,
            request.path,
            request.headers,
            String::from_utf8_lossy(&request.body)
        );
        prop_assert!(publisher.sent().is_empty(), "{name} {forgery:?}: a refusal enqueued");
    }
}

/// The forgeries' starting points are genuine: every preset's sample is
/// accepted with exactly one Envelope, under its source.
#[test]
fn every_hooks_presets_sample_is_accepted_with_one_envelope_under_its_source() {
    for preset in PRESETS {
        let request = hooks_sample(preset, NOW);
        let source = hooks_source(&request);
        let (reply, publisher) = hooks_handle(&request);
        assert!(
            reply.status.is_success(),
            "{}: {} {}",
            preset.name,
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        let sent = publisher.sent();
        assert_eq!(sent.len(), 1, "{}", preset.name);
        assert!(sent[0].id.starts_with(&format!("hooks:{source}:")), "{}: {}", preset.name, sent[0].id);
        assert_eq!(sent[0].tenant.as_deref(), Some(source), "{}", preset.name);
        // Just inside its window, it is still accepted.
        if let Some(window) = window_of(preset) {
            for at in [NOW - window as i64, NOW + window as i64] {
                let (reply, _) = hooks_handle(&hooks_sample(preset, at));
                assert!(reply.status.is_success(), "{}: {} s from the clock is inside", preset.name, at - NOW);
            }
        }
    }
}
