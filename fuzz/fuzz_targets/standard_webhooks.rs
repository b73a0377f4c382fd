#![no_main]
//! The Standard Webhooks handler over arbitrary requests.
//!
//! Self-contained until the harness grows a `providers::standard_webhooks`
//! module (the `run` below can move there as it is). The deployment has two
//! sources, one of them with two secrets (rotation). Modes (the control
//! byte's bits 3–7): 0 raw · 1 signed now with the first secret of the
//! path's source · 2 signed with its last secret at the input's own
//! `webhook-timestamp` · 3 signed now with another source's secret · 4 as 1,
//! after a `v1a` entry and an unreadable one.
//!
//! Besides the general promises: a 2xx needs a `v1` entry equal to the
//! HMAC-SHA256 (computed here with the hmac crate) of
//! `{webhook-id}.{timestamp}.{body}` under a secret of exactly the source
//! the path names, and a timestamp within the tolerance both ways; and no
//! configured secret (as written, or as the decoded key in base64) appears
//! in an answer or a queued Envelope unless the sender wrote it.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{KeyInit, Mac};
use inlet_fuzz::{FuzzInput, NOW_UNIX, answer, assert_promises, fuzz_settings, set_header};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use standard_webhooks::scheme::{lenient_secret_key, python_b64decode, timestamp_of};
use standard_webhooks::{ID_HEADER, SETTING, SIGNATURE_HEADER, StandardWebhooksFunction, TIMESTAMP_HEADER};

const ROUTES: [&str; 1] = [standard_webhooks::ROUTE];
const MODES: usize = 5;
/// A second source, and a second secret for the dev source.
const EXTRA: &str = "fuzzsource=whsec_ZnV6ei1zb3VyY2Utc2VjcmV0LU5PVC1BLVNFQ1JFVA==,devsource=whsec_ZnV6ei1yb3RhdGVkLWRldnNvdXJjZS1zZWNyZXQ=";

struct Sources {
    function: StandardWebhooksFunction,
    /// (source, secret as configured, key).
    keys: Vec<(String, String, Vec<u8>)>,
    tolerance_secs: u64,
}

fn get() -> &'static Sources {
    static SOURCES: OnceLock<Sources> = OnceLock::new();
    SOURCES.get_or_init(|| {
        let mut settings = fuzz_settings();
        let first = settings.get(SETTING).cloned().unwrap_or_default();
        let all = format!("{first},{EXTRA}");
        settings.insert(SETTING.into(), all.clone());
        let keys = all
            .split(',')
            .filter_map(|pair| pair.trim().split_once('='))
            .map(|(source, secret)| {
                (source.to_string(), secret.to_string(), lenient_secret_key(secret).expect("configured key"))
            })
            .collect();
        let function = StandardWebhooksFunction::from_env(&settings).expect("standard-webhooks settings");
        let tolerance_secs = function.ingress.timestamp_window.tolerance_secs;
        Sources { function, keys, tolerance_secs }
    })
}

fn oracle_mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn source_in(request: &IncomingRequest) -> String {
    request
        .path_params
        .get("source")
        .cloned()
        .unwrap_or_else(|| request.path.rsplit('/').find(|s| !s.is_empty()).unwrap_or_default().to_string())
}

fn run(data: &[u8]) {
    let sources = get();
    let Some(input) = FuzzInput::parse(data) else { return };
    let Some(mut request) = input.request(&ROUTES) else { return };
    let mode = input.mode(MODES);
    if mode > 0 {
        let source = source_in(&request);
        let own: Vec<&(String, String, Vec<u8>)> = sources.keys.iter().filter(|(s, _, _)| *s == source).collect();
        let other = sources.keys.iter().find(|(s, _, _)| *s != source);
        let chosen = match mode {
            2 => own.last().copied(),
            3 => other,
            _ => own.first().copied(),
        };
        let Some((_, _, key)) = chosen.or(sources.keys.first()) else { return };
        let id = request.header(ID_HEADER).unwrap_or("msg_fuzz").to_string();
        let timestamp = match mode {
            2 => request.header(TIMESTAMP_HEADER).unwrap_or("1700000000").to_string(),
            _ => NOW_UNIX.to_string(),
        };
        let signed_as = timestamp_of(&timestamp).map(|t| t.to_string()).unwrap_or_else(|| timestamp.clone());
        let entry = format!("v1,{}", BASE64.encode(oracle_mac(key, &id, &signed_as, &request.body)));
        let header = if mode == 4 { format!("v1a,AAAA v2,x,y {entry}") } else { entry };
        set_header(&mut request, ID_HEADER, &id);
        set_header(&mut request, TIMESTAMP_HEADER, &timestamp);
        set_header(&mut request, SIGNATURE_HEADER, &header);
    }
    let (reply, publisher) = answer(&sources.function, &request, input.publisher_down());
    let extra =
        accepted_only_if_signed(sources, &request, &reply).and(no_secret(sources, &request, &reply, &publisher));
    assert_promises("standard_webhooks", &request, &reply, &publisher, input.publisher_down(), &request.body, extra);
}

fn accepted_only_if_signed(sources: &Sources, request: &IncomingRequest, reply: &Reply) -> Result<(), String> {
    if !reply.status.is_success() {
        return Ok(());
    }
    let source = source_in(request);
    let id = request.header(ID_HEADER).unwrap_or_default();
    let Some(timestamp) = request.header(TIMESTAMP_HEADER).and_then(timestamp_of) else {
        return Err(format!("accepted ({}) without a readable webhook-timestamp", reply.status));
    };
    if (i128::from(timestamp) - i128::from(NOW_UNIX)).unsigned_abs() > u128::from(sources.tolerance_secs) {
        return Err(format!("accepted ({}) a timestamp {timestamp} outside the window", reply.status));
    }
    let presented: Vec<Vec<u8>> = request
        .header(SIGNATURE_HEADER)
        .unwrap_or_default()
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(python_b64decode)
        .collect();
    let signed = sources.keys.iter().filter(|(s, _, _)| *s == source).any(|(_, _, key)| {
        let expected = oracle_mac(key, id, &timestamp.to_string(), &request.body);
        presented.contains(&expected)
    });
    if signed {
        Ok(())
    } else {
        Err(format!("accepted ({}) for source {source:?} without a v1 signature by that source's secret", reply.status))
    }
}

/// The general promises do not know this setting yet.
fn no_secret(
    sources: &Sources,
    request: &IncomingRequest,
    reply: &Reply,
    publisher: &MemoryPublisher,
) -> Result<(), String> {
    let written = inlet_fuzz::promises::sender_text(request, &request.body);
    let mut seen = vec![reply.body.clone()];
    seen.extend(publisher.sent_messages().into_iter().map(|m| m.body.into_bytes()));
    for (_, secret, key) in &sources.keys {
        let encoded = secret.trim_start_matches("whsec_");
        for needle in [encoded.as_bytes(), key.as_slice()] {
            let within = |text: &[u8]| text.windows(needle.len()).any(|w| w == needle);
            if seen.iter().any(|t| within(t)) && !written.iter().any(|t| within(t)) {
                return Err("a configured Standard Webhooks secret appears in the answer or a queued Envelope".into());
            }
        }
    }
    Ok(())
}

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("standard_webhooks"), |data: &[u8]| run(data));
