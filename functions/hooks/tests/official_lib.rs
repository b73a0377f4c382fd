//! inlet's presets against their senders' official libraries, both ways,
//! through the scripts in `tests/checks/` (one per library; `_check.py` and
//! `_check.js` are the frame they share and describe the input and output).
//! The libraries are pinned in the Makefile (`PY_TOOLS`, `NODE_TOOLS`) and
//! installed by `make tools`; a missing one fails the test with that command.
//!
//! | library (pinned) | runtime | presets | signs here |
//! | --- | --- | --- | --- |
//! | `@shopify/shopify-api` 15.0.0 (`webhooks.validate`, web-api adapter) | Node | shopify | `createSHA256HMAC` |
//! | `twilio` 9.13.0 (`RequestValidator`) | Python | twilio | `compute_signature`, `compute_hash` |
//! | `@linear/sdk` 98.0.0 (`LinearWebhookClient.parseData`) | Node | linear | — |
//! | `line-bot-sdk` 3.27.0 (`linebot.v3.WebhookParser`) | Python | line | — (its test vector) |
//! | `sendgrid` 6.12.5 (`EventWebhook.verify_signature`) | Python | sendgrid | — (its test vector; a key pair made by the script) |
//! | `paddle-python-sdk` 1.16.1 (`Notifications.Verifier`) | Python | paddle | — (its test vector) |
//! | `squareup` 46.0.0.20260916 (`webhooks_helper.verify_signature`) | Python | square | — |
//! | `@hubspot/api-client` 14.0.1 (`Signature.isValid`, v3) | Node | hubspot | `Signature.getSignature` |
//! | `@mux/mux-node` 15.3.0 (`webhooks.verifySignature`, `unwrap`) | Node | mux | `webhooks.computeSignature` (and its test vector) |
//! | `coinbase-commerce` 1.0.1 (`Webhook.construct_event`) | Python | coinbase | `WebhookSignature._compute_signature` |
//! | `razorpay` 2.0.1 (`Utility.verify_webhook_signature`) | Python | razorpay | — (its test vector) |
//! | `box-sdk-gen` 1.17.0 (`WebhooksManager.validate_message`) | Python | box | `compute_webhook_signature` |
//! | `svix` 2.9.1 (`svix.webhooks.Webhook`) | Python | svix, clerk, resend | `Webhook.sign` |
//!
//! Each library has an `inlet_and_<library>_agree_on_…` test: inlet's sample
//! of the preset, the library's published test vector where it has one,
//! and forgeries (body changed, another secret, the secret of another source
//! of the same preset, a stale or future timestamp, a missing header, another
//! prefix or encoding, an unknown source, a signed body that is not JSON).
//! Both sides judge each case three ways: not authenticated (library:
//! refused; inlet: 401), authenticated but not an event (library: refused
//! reading the body after the signature passed; inlet: 400), or an event
//! (library: returned it, or verified and the body parsed; inlet: 2xx and one
//! Envelope). Where the library signs, a `requests_signed_by_<library>_are_
//! accepted_by_inlet` test has it sign several requests and inlet accept
//! them. A library without a signer is shown its own test vector, and inlet
//! must answer it as the library does (the Square and Twilio vectors sign
//! URLs outside `/hooks/{source}` and cannot be replayed at inlet).
//!
//! Where they deliberately differ, the case says so (`InletStricter`, or a
//! `Want::Differ` with the reason):
//!
//! - Hex or base64 forms: inlet reads hex in either case and base64 with or
//!   without padding (the same bytes), where the libraries compare text
//!   (Linear, Paddle, Mux, Coinbase, Razorpay, Shopify, LINE; Twilio's
//!   `bodySHA256`).
//! - Tagged headers: inlet trims the tags and ignores tags it does not know;
//!   Paddle's library raises on `; h1` and on an unknown key, Mux's reads
//!   `, v1` as another key.
//! - Windows: inlet applies its window both ways where the library checks
//!   only the past (HubSpot, Mux: refused 301 s ahead), and allows Box's
//!   10 minutes ahead as well as behind (the library refuses any time ahead);
//!   Linear's window is judged in whole seconds (up to 999 ms more ahead);
//!   where the sender documents no window (SendGrid), inlet refuses a signed
//!   timestamp older than the preset's dedup window, which the library
//!   accepts.
//! - Bodies: inlet enqueues any JSON its sender signed, where a library also
//!   requires a shape (LINE's parser: an `events` list with full events;
//!   Coinbase: an `event` object) or headers (Shopify: shop domain and API
//!   version; Box: signature version and algorithm). inlet's samples carry
//!   them, as the senders do. Linear's `webhookTimestamp` may be a JSON
//!   string.
//! - Keys: the box preset checks each signature header against each secret
//!   of the source; the library pairs primary with primary.
//! - Not handled by the presets (inlet refuses what the library accepts):
//!   Shopify's events deliveries (`shopify-hmac-sha256` headers), Twilio's
//!   SharedKey HMAC-SHA256 signatures (`X-Twilio-Webhooks-Signature-Settings`),
//!   and Svix requests with `webhook-*` header names.
//!
//! HubSpot's documentation and its library disagree: the v3 documentation
//! decodes `%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B` in the request
//! URI before signing, `@hubspot/api-client`'s `Signature` signs the URL as
//! it is handed. inlet follows the documentation; a URL with one of those
//! escapes is judged differently, both ways, and the two cases say so.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hooks::HooksFunction;
use http::{HeaderValue, Method};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::samples::Samples;
use inlet_shared::verify::{hmac_sha256, sha256_hex};
use inlet_testkit::crosscheck::ExpectOutcome::{self, Both, BothRefuse, InletStricter};
use inlet_testkit::crosscheck::Outcome::{self, Event, NotAnEvent, Unauthenticated};
use inlet_testkit::crosscheck::{
    Runtime, Verdicts, base64_of, headers_json, reply_text, run_library, with_body, with_header, without_header,
};
use inlet_testkit::samples::{dev_settings_with, handle_with};
use p256::ecdsa::signature::Signer;
use p256::pkcs8::EncodePublicKey;
use serde_json::{Value, json};

/// The fixed clock.
const NOW: i64 = 1_700_000_000;
/// The public host of the requests built here (the samples keep their own).
const HOST: &str = "hooks.example.com";

// ---------------------------------------------------------------------------
// The sources both sides are configured with.
// ---------------------------------------------------------------------------

/// The private scalars of the dev SendGrid keys (`sg`, `sg2`): samples sign
/// with them, inlet holds the public keys.
const SENDGRID_SCALAR: &str = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
const SENDGRID_OTHER_SCALAR: &str = "0f56db78ca460b055c500064824bed999a25aaf48ebb519ac201537b85479813";

/// SendGrid's own test vector (sendgrid-python, test/unit/test_eventwebhook.py).
const SENDGRID_VECTOR_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
const SENDGRID_VECTOR_SIGNATURE: &str =
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
const SENDGRID_VECTOR_TIMESTAMP: &str = "1600112502";
const SENDGRID_VECTOR_PAYLOAD: &str = concat!(
    r#"[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","#,
    r#""sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","#,
    r#""sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","#,
    r#""smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]"#,
    "\r\n"
);

/// Paddle's own test vector (paddle-python-sdk, tests/Unit/Notification/test_Verifier.py):
/// three secrets, of which the third signed "hello-world" at 1696195954.
const PADDLE_VECTOR_SECRETS: [&str; 3] = [
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4",
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_vB/yIOnTOCWIvpBadM5jzBZPHc7OmdSo",
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh",
];
const PADDLE_VECTOR_HEADER: &str =
    "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02";
const PADDLE_VECTOR_TIME: i64 = 1_696_195_954;

/// Mux's own test vector (mux-node-sdk, tests/api-resources/webhooks.test.ts).
const MUX_VECTOR_SECRET: &str = "SuperSecret123";
const MUX_VECTOR_TIME: i64 = 1_565_125_718;
const MUX_VECTOR_BODY: &str = r#"{"test":"body"}"#;
const MUX_VECTOR_HEADER: &str = "t=1565125718,v1=854ece4c22acef7c66b57d4e504153bc512595e8e9c772ece2a68150548c19a7";

/// Razorpay's own test vector (razorpay-python, tests/test_client_utility.py
/// with tests/mocks/fake_payment_authorized_webhook.json).
const RAZORPAY_VECTOR_SECRET: &str = "key_secret";
const RAZORPAY_VECTOR_SIGNATURE: &str = "d60e67fd884556c045e9be7dad57903e33efc7172c17c6e3ef77db42d2b366e9";
const RAZORPAY_VECTOR_BODY: &str = r#"{
  "event": "payment.authorized",
  "entity": "event",
  "contains": [
    "payment"
  ],
  "payload": {
    "payment": {
      "entity": {
        "id": "pay_6koWN7bvxujzxM",
        "entity": "payment",
        "amount": 1000000,
        "currency": "INR",
        "status": "captured",
        "order_id": "order_100000000order",
        "international": false,
        "method": "card",
        "amount_refunded": 0,
        "refund_status": null,
        "captured": true,
        "description": "random description",
        "card_id": "card_6koWNAT6LASUqy",
        "bank": null,
        "wallet": null,
        "vpa": null,
        "email": "a@b.com",
        "contact": "+919999999999",
        "notes": {
          "merchant_order_id": "random order id"
        },
        "fee": 23000,
        "service_tax": 3000,
        "error_code": null,
        "error_description": null,
        "created_at": 1479978483
      }
    }
  },
  "created_at": 1400826760
}
"#;

/// LINE's own test vector (line-bot-sdk-python, tests/test_signature.py).
const LINE_VECTOR_SECRET: &str = "channel_secret";
const LINE_VECTOR_BODY: &str = "bodybodybodybody";
const LINE_VECTOR_SIGNATURE: &str = "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k=";

/// One configured source: its name, preset and secrets, in order.
struct Src {
    name: &'static str,
    preset: &'static str,
    secrets: Vec<String>,
}

/// Every source of these tests. The first source of a preset is the one its
/// sample (`hooks-<preset>`) is signed for; the second (`…2`) has a secret
/// of its own, for requests signed for one source and sent to the other.
fn sources() -> &'static [Src] {
    static SOURCES: OnceLock<Vec<Src>> = OnceLock::new();
    SOURCES.get_or_init(|| {
        let plain = |name: &'static str, preset: &'static str| Src {
            name,
            preset,
            secrets: vec![format!("{name}-{preset}-secret-NOT-A-SECRET")],
        };
        let with = |name: &'static str, preset: &'static str, secrets: &[&str]| Src {
            name,
            preset,
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
        };
        vec![
            plain("shop", "shopify"),
            plain("shop2", "shopify"),
            plain("tw", "twilio"),
            plain("tw2", "twilio"),
            plain("lin", "linear"),
            plain("lin2", "linear"),
            plain("line", "line"),
            plain("line2", "line"),
            with("linevec", "line", &[LINE_VECTOR_SECRET]),
            with("sg", "sendgrid", &[&public_key_of(SENDGRID_SCALAR)]),
            with("sg2", "sendgrid", &[&public_key_of(SENDGRID_OTHER_SCALAR)]),
            with("sgvec", "sendgrid", &[SENDGRID_VECTOR_KEY]),
            plain("pad", "paddle"),
            plain("pad2", "paddle"),
            with("padvec", "paddle", &PADDLE_VECTOR_SECRETS),
            plain("sq", "square"),
            plain("sq2", "square"),
            plain("hs", "hubspot"),
            plain("hs2", "hubspot"),
            plain("mux", "mux"),
            plain("mux2", "mux"),
            with("muxvec", "mux", &[MUX_VECTOR_SECRET]),
            plain("cb", "coinbase"),
            plain("cb2", "coinbase"),
            plain("rzp", "razorpay"),
            plain("rzp2", "razorpay"),
            with("rzpvec", "razorpay", &[RAZORPAY_VECTOR_SECRET]),
            with("box", "box", &["box-primary-key-NOT-A-SECRET", "box-secondary-key-NOT-A-SECRET"]),
            with("box2", "box", &["box2-primary-key-NOT-A-SECRET"]),
            with("svix", "svix", &["whsec_c3ZpeC1zb3VyY2Utc2VjcmV0LU5PVC1BLVNFQ1JFVA=="]),
            with("clerk", "clerk", &["whsec_Y2xlcmstc291cmNlLXNlY3JldC1OT1QtQS1TRUNSRVQ="]),
            with("resend", "resend", &["whsec_cmVzZW5kLXNvdXJjZS1zZWNyZXQtTk9ULUEtU0VDUkVU"]),
        ]
    })
}

/// The secrets of source `name` (none for a source that is not configured).
fn secrets_of(name: &str) -> Vec<String> {
    sources().iter().find(|s| s.name == name).map(|s| s.secrets.clone()).unwrap_or_default()
}

/// The first secret of source `name`.
fn secret(name: &str) -> String {
    secrets_of(name).into_iter().next().unwrap_or_else(|| panic!("no source {name}"))
}

/// `events/env.json`'s settings with `HOOK_SOURCES`, `HOOK_SECRETS` and
/// SendGrid's dev signing keys for [`sources`].
fn settings() -> &'static HashMap<String, String> {
    static SETTINGS: OnceLock<HashMap<String, String>> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let names: Vec<String> = sources().iter().map(|s| format!("{}={}", s.name, s.preset)).collect();
        let secrets: Vec<String> =
            sources().iter().flat_map(|s| s.secrets.iter().map(move |secret| format!("{}={secret}", s.name))).collect();
        let signing = format!("sg={SENDGRID_SCALAR},sg2={SENDGRID_OTHER_SCALAR}");
        dev_settings_with(&[
            ("HOOK_SOURCES", &names.join(",")),
            ("HOOK_SECRETS", &secrets.join(",")),
            ("HOOK_VERIFY_TOKENS", ""),
            ("HOOK_DEV_SIGNING_KEYS", &signing),
        ])
    })
}

/// The base64 DER public key of a P-256 private scalar (hex), as SendGrid shows it.
fn public_key_of(scalar_hex: &str) -> String {
    let key = signing_key(scalar_hex);
    let der = key.verifying_key().to_public_key_der().expect("DER public key");
    BASE64.encode(der.as_bytes())
}

fn signing_key(scalar_hex: &str) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&hex::decode(scalar_hex).expect("hex")).expect("a P-256 scalar")
}

// ---------------------------------------------------------------------------
// Requests.
// ---------------------------------------------------------------------------

/// `hooks-<preset>` for the first source of that preset, signed at `at`.
fn sample(preset: &str, at: i64) -> IncomingRequest {
    HooksFunction::sample(&format!("hooks-{preset}"), settings(), at, "official-lib")
        .unwrap_or_else(|| panic!("no sample hooks-{preset}"))
        .to_incoming()
}

/// `POST /hooks/{source}` as API Gateway hands it over: Host,
/// `X-Forwarded-Proto: https`, a JSON content type, and `headers`.
fn post(source: &str, body: impl Into<Vec<u8>>, headers: &[(&'static str, &str)]) -> IncomingRequest {
    let mut request = IncomingRequest::new(Method::POST, &format!("/hooks/{source}"), body);
    request.path_params.insert("source".into(), source.into());
    for (name, value) in
        [("host", HOST), ("x-forwarded-proto", "https"), ("content-type", "application/json")].iter().chain(headers)
    {
        request.headers.insert(*name, HeaderValue::from_str(value).expect("a header value"));
    }
    request
}

/// `request` sent to `source` instead (path and path parameter).
fn to_source(mut request: IncomingRequest, source: &str) -> IncomingRequest {
    request.path = format!("/hooks/{source}");
    request.path_params.insert("source".into(), source.into());
    request
}

/// `request` with the query string `query`.
fn with_query(mut request: IncomingRequest, query: &str) -> IncomingRequest {
    request.set_raw_query(query);
    request
}

/// The public URL of `request` as its sender signed it:
/// `{x-forwarded-proto}://{host}{path}` and `?{raw_query}` when there is one.
fn url_of(request: &IncomingRequest) -> String {
    let proto = request.header("x-forwarded-proto").unwrap_or("https");
    let host = request.header("host").unwrap_or_default();
    let query = if request.raw_query.is_empty() { String::new() } else { format!("?{}", request.raw_query) };
    format!("{proto}://{host}{}{query}", request.path)
}

fn hmac_hex(key: &str, message: &[u8]) -> String {
    hex::encode(hmac_sha256(key.as_bytes(), &[message]))
}

fn hmac_b64(key: &str, message: &[u8]) -> String {
    BASE64.encode(hmac_sha256(key.as_bytes(), &[message]))
}

fn text(request: &IncomingRequest) -> String {
    String::from_utf8(request.body.clone()).expect("UTF-8 body")
}

// ---------------------------------------------------------------------------
// Judging.
// ---------------------------------------------------------------------------

/// An official library, and the script that runs it.
struct Library {
    runtime: Runtime,
    script: &'static str,
    /// `<package> <version>` as the script reports it.
    name: &'static str,
}

impl Library {
    fn run(&self, input: &Value) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/checks").join(self.script);
        run_library(self.runtime, &script, input, "library", self.name)
    }
}

const SHOPIFY: Library =
    Library { runtime: Runtime::Node, script: "shopify_check.js", name: "@shopify/shopify-api 15.0.0" };
const TWILIO: Library = Library { runtime: Runtime::VenvPython, script: "twilio_check.py", name: "twilio 9.13.0" };
const LINEAR: Library = Library { runtime: Runtime::Node, script: "linear_check.js", name: "@linear/sdk 98.0.0" };
const LINE: Library = Library { runtime: Runtime::VenvPython, script: "line_check.py", name: "line-bot-sdk 3.27.0" };
const SENDGRID: Library =
    Library { runtime: Runtime::VenvPython, script: "sendgrid_check.py", name: "sendgrid 6.12.5" };
const PADDLE: Library =
    Library { runtime: Runtime::VenvPython, script: "paddle_check.py", name: "paddle-python-sdk 1.16.1" };
const SQUARE: Library =
    Library { runtime: Runtime::VenvPython, script: "square_check.py", name: "squareup 46.0.0.20260916" };
const HUBSPOT: Library =
    Library { runtime: Runtime::Node, script: "hubspot_check.js", name: "@hubspot/api-client 14.0.1" };
const MUX: Library = Library { runtime: Runtime::Node, script: "mux_check.js", name: "@mux/mux-node 15.3.0" };
const COINBASE: Library =
    Library { runtime: Runtime::VenvPython, script: "coinbase_check.py", name: "coinbase-commerce 1.0.1" };
const RAZORPAY: Library = Library { runtime: Runtime::VenvPython, script: "razorpay_check.py", name: "razorpay 2.0.1" };
const BOX: Library = Library { runtime: Runtime::VenvPython, script: "box_check.py", name: "box-sdk-gen 1.17.0" };
const SVIX: Library = Library { runtime: Runtime::VenvPython, script: "svix_check.py", name: "svix 2.9.1" };

/// What a case expects of the library's outcome and inlet's.
#[derive(Clone, Copy)]
enum Want {
    /// As [`ExpectOutcome`] says: the same, both refusing, or inlet
    /// deliberately stricter.
    Agree(ExpectOutcome),
    /// A deliberate difference the other way, or one the outcome kinds above
    /// cannot say: exactly these outcomes, for the reason given.
    Differ { library: Outcome, inlet: Outcome, why: &'static str },
}

impl fmt::Debug for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Want::Agree(expect) => write!(f, "{expect:?}"),
            Want::Differ { library, inlet, why } => write!(f, "library {library:?}, inlet {inlet:?} ({why})"),
        }
    }
}

impl Want {
    fn holds(self, library: Outcome, inlet: Outcome) -> bool {
        match self {
            Want::Agree(expect) => expect.holds(library, inlet),
            Want::Differ { library: want_library, inlet: want_inlet, .. } => {
                (library, inlet) == (want_library, want_inlet)
            }
        }
    }
}

impl From<ExpectOutcome> for Want {
    fn from(expect: ExpectOutcome) -> Self {
        Want::Agree(expect)
    }
}

/// Inlet accepts where the library refuses, for the reason given.
fn lenient(library: Outcome, why: &'static str) -> Want {
    Want::Differ { library, inlet: Event, why }
}

/// One request judged by both sides at `now`. The library is given the
/// secrets of the source the path names, the request's headers and its
/// public URL; inlet, [`settings`].
struct Case {
    name: String,
    request: IncomingRequest,
    now: i64,
    want: Want,
}

fn case(name: impl Into<String>, request: IncomingRequest, now: i64, want: impl Into<Want>) -> Case {
    Case { name: name.into(), request, now, want: want.into() }
}

impl Case {
    fn json(&self) -> Value {
        let source = self.request.path_params.get("source").cloned().unwrap_or_default();
        json!({
            "name": self.name,
            "secrets": secrets_of(&source),
            "body_b64": base64_of(&self.request.body),
            "headers": headers_json(&self.request, ""),
            "url": url_of(&self.request),
            "method": self.request.method.as_str(),
            "now": self.now,
        })
    }
}

/// inlet's answer to `request` at `now` under [`settings`], and how many
/// Envelopes it enqueued.
async fn inlet(request: &IncomingRequest, now: i64) -> (Reply, usize) {
    let (reply, publisher) = handle_with::<HooksFunction>(settings(), request, now).await;
    (reply, publisher.sent().len())
}

/// Has `library` judge every case, judges each against inlet's answer, and
/// asserts that all are as expected (every disagreement is listed at once).
async fn agree(library: &Library, cases: &[Case]) {
    let mut names = std::collections::HashSet::new();
    for case in cases {
        assert!(names.insert(case.name.as_str()), "two cases are called {:?}", case.name);
    }
    let report = library.run(&json!({ "verdicts": cases.iter().map(Case::json).collect::<Vec<_>>() }));
    let mut verdicts = Verdicts::new(library.name);
    for case in cases {
        let verdict = &report["verdicts"][case.name.as_str()];
        let library = Outcome::of_verdict(verdict);
        let (reply, enqueued) = inlet(&case.request, case.now).await;
        let inlet = Outcome::of_status(reply.status);
        assert_eq!(enqueued, usize::from(inlet == Event), "{}: an event enqueues one Envelope, else none", case.name);
        verdicts.record(
            &case.name,
            &case.want,
            case.want.holds(library, inlet),
            format_args!("{library:?} ({})", verdict["error"]),
            format_args!("{inlet:?} ({})", reply_text(&reply)),
        );
    }
    verdicts.assert_all_agree();
}

/// inlet answers `request` at `now` with 2xx and enqueues one Envelope.
async fn assert_accepted(name: &str, request: &IncomingRequest, now: i64) {
    let (reply, enqueued) = inlet(request, now).await;
    assert!(
        reply.status.is_success(),
        "{name}: inlet refused a request its sender's library signed: {}",
        reply_text(&reply)
    );
    assert_eq!(enqueued, 1, "{name}: one Envelope");
}

/// inlet accepts each of `requests`, the library's signing of the recipes
/// `names` names.
async fn assert_all_accepted<'a>(names: impl Iterator<Item = &'a str>, requests: Vec<IncomingRequest>) {
    for (name, request) in names.zip(requests) {
        assert_accepted(name, &request, NOW).await;
    }
}

// ---------------------------------------------------------------------------
// Shopify: @shopify/shopify-api.
// ---------------------------------------------------------------------------

/// The headers Shopify sends with every webhook besides the HMAC, which
/// the library requires (inlet reads the id and topic when present).
const SHOPIFY_HEADERS: [(&str, &str); 3] = [
    ("x-shopify-shop-domain", "inlet-test.myshopify.com"),
    ("x-shopify-api-version", "2025-10"),
    ("x-shopify-triggered-at", "2023-11-14T22:13:20.000Z"),
];

fn shopify_sample() -> IncomingRequest {
    SHOPIFY_HEADERS.iter().fold(sample("shopify", NOW), |request, (name, value)| with_header(request, name, value))
}

fn shopify_signed(source: &str, key: &str, body: &str) -> IncomingRequest {
    let mut headers =
        vec![("x-shopify-webhook-id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"), ("x-shopify-topic", "orders/create")];
    headers.extend(SHOPIFY_HEADERS);
    let hmac = hmac_b64(key, body.as_bytes());
    headers.push(("x-shopify-hmac-sha256", &hmac));
    post(source, body.to_string(), &headers)
}

#[tokio::test]
async fn requests_signed_by_shopify_api_are_accepted_by_inlet() {
    let bodies = [
        ("sample body", text(&sample("shopify", NOW))),
        ("non-ASCII JSON", json!({"id": 820982911946154508_u64, "note": "Zoë — 企业 🚀"}).to_string()),
        ("pretty JSON", "{\n  \"id\": 1,\n  \"email\": \"jon@example.com\"\n}\n".to_string()),
    ];
    let headers: serde_json::Map<String, Value> = shopify_signed("shop", "x", "{}")
        .headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-shopify-") && name.as_str() != "x-shopify-hmac-sha256")
        .map(|(name, value)| (name.to_string(), json!(value.to_str().expect("ASCII"))))
        .collect();
    let recipes: Vec<Value> = bodies
        .iter()
        .map(|(name, body)| json!({"name": name, "secret": secret("shop"), "body_b64": base64_of(body), "headers": headers}))
        .collect();
    let report = SHOPIFY.run(&json!({ "sign": recipes }));
    for (name, body) in &bodies {
        let signed = &report["signed"][name];
        assert_eq!(signed["library_accepts"], true, "{name}: the library must accept its own HMAC: {report}");
        let hmac = signed["hmac"].as_str().expect("an HMAC");
        let request = with_header(shopify_signed("shop", &secret("shop"), body), "x-shopify-hmac-sha256", hmac);
        assert_accepted(name, &request, NOW).await;
    }
}

#[tokio::test]
async fn inlet_and_shopify_api_agree_on_samples_and_forgeries() {
    let event = shopify_sample();
    let hmac = event.header("x-shopify-hmac-sha256").expect("signed").to_string();
    let body = text(&event);
    let hmac_bytes = BASE64.decode(&hmac).expect("base64");
    let cases = vec![
        case("hooks-shopify", sample("shopify", NOW), NOW, Both(Event)),
        case("hooks-shopify with the triggered-at header", event.clone(), NOW, Both(Event)),
        case("signed for shop2, sent to shop2", shopify_signed("shop2", &secret("shop2"), &body), NOW, Both(Event)),
        case("a day later (no timestamp is signed)", event.clone(), NOW + 86_400, Both(Event)),
        case("body changed", with_body(event.clone(), body.replace("sample", "Sample")), NOW, Both(Unauthenticated)),
        case("another secret", shopify_signed("shop", "not-the-secret", &body), NOW, Both(Unauthenticated)),
        case(
            "shop2's secret, sent to shop",
            shopify_signed("shop", &secret("shop2"), &body),
            NOW,
            Both(Unauthenticated),
        ),
        case("no HMAC header", without_header(event.clone(), "x-shopify-hmac-sha256"), NOW, Both(Unauthenticated)),
        case("empty HMAC header", with_header(event.clone(), "x-shopify-hmac-sha256", ""), NOW, Both(Unauthenticated)),
        case(
            "HMAC in hex",
            with_header(event.clone(), "x-shopify-hmac-sha256", &hex::encode(&hmac_bytes)),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "HMAC with a sha256= prefix",
            with_header(event.clone(), "x-shopify-hmac-sha256", &format!("sha256={hmac}")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "HMAC without its base64 padding",
            with_header(event.clone(), "x-shopify-hmac-sha256", hmac.trim_end_matches('=')),
            NOW,
            lenient(Unauthenticated, "inlet reads base64 with or without its padding (the same 32 bytes)"),
        ),
        case(
            "an events delivery (shopify-* headers)",
            post(
                "shop",
                body.clone(),
                &[
                    ("shopify-hmac-sha256", &hmac),
                    ("shopify-topic", "orders/create"),
                    ("shopify-shop-domain", "inlet-test.myshopify.com"),
                    ("shopify-api-version", "2025-10"),
                    ("shopify-webhook-id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
                ],
            ),
            NOW,
            InletStricter(
                "the preset reads X-Shopify-Hmac-Sha256, what Shopify's webhooks send; the library also reads \
                 shopify-hmac-sha256 of Shopify's newer events deliveries, which the preset does not handle",
            ),
        ),
        case("unknown source", to_source(event.clone(), "nosuchshop"), NOW, Both(Unauthenticated)),
        case("signed, not JSON", shopify_signed("shop", &secret("shop"), "{oops"), NOW, Both(NotAnEvent)),
        case("signed, empty body", shopify_signed("shop", &secret("shop"), ""), NOW, BothRefuse),
        case(
            "signed, not UTF-8",
            with_header(
                with_body(event.clone(), b"{\"a\":\"\xff\"}".to_vec()),
                "x-shopify-hmac-sha256",
                &BASE64.encode(hmac_sha256(secret("shop").as_bytes(), &[b"{\"a\":\"\xff\"}"])),
            ),
            NOW,
            BothRefuse,
        ),
    ];
    agree(&SHOPIFY, &cases).await;
}

// ---------------------------------------------------------------------------
// Twilio: twilio (RequestValidator).
// ---------------------------------------------------------------------------

const FORM: &str = "application/x-www-form-urlencoded";

/// A POST to `url` (`{proto}://{host}/hooks/{source}[?query]`).
fn request_at(url: &str, body: &str, content_type: &str, headers: &[(&'static str, &str)]) -> IncomingRequest {
    let (proto, rest) = url.split_once("://").expect("a URL");
    let (host, path) = rest.split_at(rest.find('/').expect("a path"));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let source = path.strip_prefix("/hooks/").expect("a /hooks/ path");
    let mut request = post(source, body.to_string(), headers);
    request.headers.insert("host", HeaderValue::from_str(host).expect("host"));
    request.headers.insert("x-forwarded-proto", HeaderValue::from_str(proto).expect("proto"));
    request.headers.insert("content-type", HeaderValue::from_str(content_type).expect("content type"));
    with_query(request, query)
}

/// `(name, token, url, body, json, algorithm)`.
type TwilioRecipe<'a> = (&'a str, &'a str, &'a str, &'a str, bool, Option<&'a str>);

/// Signs each recipe with the library and returns the requests, in order:
/// the URL it signed (with the body's bodySHA256 for JSON) and its
/// X-Twilio-Signature (and the signature settings naming `algorithm`).
fn twilio_signed(recipes: &[TwilioRecipe]) -> Vec<IncomingRequest> {
    let input: Vec<Value> = recipes
        .iter()
        .map(|(name, token, url, body, json, algorithm)| {
            json!({"name": name, "token": token, "url": url, "body_b64": base64_of(body), "json": json, "algorithm": algorithm})
        })
        .collect();
    let report = TWILIO.run(&json!({ "sign": input }));
    recipes
        .iter()
        .map(|(name, _, _, body, json, algorithm)| {
            let signed = &report["signed"][*name];
            assert_eq!(signed["library_accepts"], true, "{name}: the library must accept its own signature: {report}");
            let url = signed["url"].as_str().expect("the signed URL");
            let signature = signed["signature"].as_str().expect("a signature");
            let mut headers = vec![("x-twilio-signature", signature)];
            let settings = algorithm.map(|a| format!("key=webhooks_sharedkey_inlet,algorithm={a}"));
            if let Some(settings) = &settings {
                headers.push(("x-twilio-webhooks-signature-settings", settings));
            }
            request_at(url, body, if *json { "application/json" } else { FORM }, &headers)
        })
        .collect()
}

const TWILIO_FORM: &str = "AccountSid=AC00000000000000000000000000000000&ApiVersion=2010-04-01&Body=Hello+%F0%9F%91%8B+Zo%C3%AB&From=%2B15005550006&MessageSid=SM0123456789abcdef0123456789abcdef&MessageStatus=received&To=%2B15005550001";

#[tokio::test]
async fn requests_signed_by_twilio_request_validator_are_accepted_by_inlet() {
    let tw = secret("tw");
    let url = "https://hooks.example.com/hooks/tw";
    let status = "{\"MessageSid\": \"SM1\", \"MessageStatus\": \"delivered\"}";
    let recipes = [
        ("form", tw.as_str(), url, TWILIO_FORM, false, None),
        (
            "form, a query string",
            tw.as_str(),
            "https://hooks.example.com/hooks/tw?foo=1&bar=2",
            TWILIO_FORM,
            false,
            None,
        ),
        ("form, a repeated field", tw.as_str(), url, "To=%2B1500&From=%2B1501&To=%2B1499", false, None),
        ("form, an empty field", tw.as_str(), url, "Body=&From=%2B1501&MessageStatus=sent", false, None),
        ("form, Host with :443", tw.as_str(), "https://hooks.example.com:443/hooks/tw", TWILIO_FORM, false, None),
        ("form, http and a port", tw.as_str(), "http://127.0.0.1:9000/hooks/tw", TWILIO_FORM, false, None),
        ("JSON, bodySHA256", tw.as_str(), url, status, true, None),
        ("JSON, bodySHA256 after a query", tw.as_str(), "https://hooks.example.com/hooks/tw?x=y", status, true, None),
    ];
    assert_all_accepted(recipes.iter().map(|recipe| recipe.0), twilio_signed(&recipes)).await;
}

#[tokio::test]
async fn inlet_and_twilio_agree_on_samples_and_forgeries() {
    let (tw, tw2) = (secret("tw"), secret("tw2"));
    let url = "https://hooks.example.com/hooks/tw";
    let tampered = TWILIO_FORM.replace("received", "delivered");
    let reordered: String = TWILIO_FORM.split('&').rev().collect::<Vec<_>>().join("&");
    let status = "{\"MessageSid\": \"SM1\", \"MessageStatus\": \"delivered\"}";
    let recipes = [
        ("form", tw.as_str(), url, TWILIO_FORM, false, None),
        ("signed without the port", tw.as_str(), url, TWILIO_FORM, false, None),
        ("signed with :443", tw.as_str(), "https://hooks.example.com:443/hooks/tw", TWILIO_FORM, false, None),
        ("signed for http", tw.as_str(), "http://hooks.example.com/hooks/tw", TWILIO_FORM, false, None),
        (
            "signed with a query",
            tw.as_str(),
            "https://hooks.example.com/hooks/tw?foo=1&bar=2",
            TWILIO_FORM,
            false,
            None,
        ),
        ("another token", "not-the-auth-token", url, TWILIO_FORM, false, None),
        ("tw2's token", tw2.as_str(), url, TWILIO_FORM, false, None),
        ("tw2's token, sent to tw2", tw2.as_str(), "https://hooks.example.com/hooks/tw2", TWILIO_FORM, false, None),
        ("JSON", tw.as_str(), url, status, true, None),
        ("JSON, not JSON", tw.as_str(), url, "{oops", true, None),
        ("HMAC-SHA256 by signature settings", tw.as_str(), url, TWILIO_FORM, false, Some("HMAC_SHA256")),
        ("HMAC-SHA1 by signature settings", tw.as_str(), url, TWILIO_FORM, false, Some("HMAC_SHA1")),
    ];
    let signed: HashMap<&str, IncomingRequest> = recipes.iter().map(|r| r.0).zip(twilio_signed(&recipes)).collect();
    let get = |name: &str| signed[name].clone();
    let set_host = |request: IncomingRequest, host: &str| with_header(request, "host", host);
    let json = get("JSON");
    let json_query = json.raw_query.clone();
    let cases = vec![
        case("hooks-twilio", sample("twilio", NOW), NOW, Both(Event)),
        case("form", get("form"), NOW, Both(Event)),
        case("a day later (no timestamp is signed)", get("form"), NOW + 86_400, Both(Event)),
        case("fields in another order", with_body(get("form"), reordered), NOW, Both(Event)),
        case("a field changed", with_body(get("form"), tampered), NOW, Both(Unauthenticated)),
        case("a field added", with_body(get("form"), format!("{TWILIO_FORM}&X=1")), NOW, Both(Unauthenticated)),
        case(
            "signed without the port, Host has :443",
            set_host(get("signed without the port"), "hooks.example.com:443"),
            NOW,
            Both(Event),
        ),
        case("signed with :443, Host has none", set_host(get("signed with :443"), HOST), NOW, Both(Event)),
        case(
            "signed for http, received over https",
            with_header(get("signed for http"), "x-forwarded-proto", "https"),
            NOW,
            Both(Unauthenticated),
        ),
        case("signed for another host", set_host(get("form"), "other.example.com"), NOW, Both(Unauthenticated)),
        case("signed with a query", get("signed with a query"), NOW, Both(Event)),
        case("query changed", with_query(get("signed with a query"), "foo=1&bar=3"), NOW, Both(Unauthenticated)),
        case("query dropped", with_query(get("signed with a query"), ""), NOW, Both(Unauthenticated)),
        case("another token", get("another token"), NOW, Both(Unauthenticated)),
        case("tw2's token, sent to tw", get("tw2's token"), NOW, Both(Unauthenticated)),
        case("tw2's token, sent to tw2", get("tw2's token, sent to tw2"), NOW, Both(Event)),
        case("no X-Twilio-Signature", without_header(get("form"), "x-twilio-signature"), NOW, Both(Unauthenticated)),
        case("unknown source", to_source(get("form"), "nosuchsource"), NOW, Both(Unauthenticated)),
        case("JSON, bodySHA256", json.clone(), NOW, Both(Event)),
        case(
            "JSON, body changed",
            with_body(json.clone(), status.replace("delivered", "failed")),
            NOW,
            Both(Unauthenticated),
        ),
        case("JSON, bodySHA256 dropped", with_query(json.clone(), ""), NOW, Both(Unauthenticated)),
        case(
            "JSON, bodySHA256 in capitals (signed as such)",
            {
                let upper =
                    json_query.replace(&sha256_hex(status.as_bytes()), &sha256_hex(status.as_bytes()).to_uppercase());
                // The URL alone is signed (a body without fields signs none).
                let relabelled = twilio_signed(&[("upper", tw.as_str(), &format!("{url}?{upper}"), "", false, None)]);
                with_header(
                    with_query(json.clone(), &upper),
                    "x-twilio-signature",
                    relabelled[0].header("x-twilio-signature").expect("signed"),
                )
            },
            NOW,
            lenient(Unauthenticated, "inlet reads the hex digest of bodySHA256 in either case"),
        ),
        case("JSON, signed, not JSON", get("JSON, not JSON"), NOW, Both(NotAnEvent)),
        case("HMAC-SHA1 named in signature settings", get("HMAC-SHA1 by signature settings"), NOW, Both(Event)),
        case(
            "HMAC-SHA256 named in signature settings",
            get("HMAC-SHA256 by signature settings"),
            NOW,
            InletStricter(
                "the preset verifies Twilio's Auth Token signature (HMAC-SHA1); twilio-python 9.13 also verifies \
                 the newer SharedKey signatures that X-Twilio-Webhooks-Signature-Settings names (HMAC_SHA256), \
                 which the preset does not read",
            ),
        ),
    ];
    agree(&TWILIO, &cases).await;
}

// ---------------------------------------------------------------------------
// Linear: @linear/sdk (LinearWebhookClient). It has no signer.
// ---------------------------------------------------------------------------

fn linear_signed(source: &str, key: &str, body: &str) -> IncomingRequest {
    let signature = hmac_hex(key, body.as_bytes());
    post(
        source,
        body.to_string(),
        &[
            ("linear-signature", &signature),
            ("linear-delivery", "0c9f2b4e-1f7a-4c6e-9d1e-6f1f1f1f1f1f"),
            ("linear-event", "Issue"),
        ],
    )
}

fn linear_body(timestamp: Value) -> String {
    json!({"action": "create", "type": "Issue", "data": {"id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9", "title": "Zoë 🚀"}, "webhookTimestamp": timestamp}).to_string()
}

#[tokio::test]
async fn inlet_and_linear_sdk_agree_on_samples_and_forgeries() {
    let (lin, lin2) = (secret("lin"), secret("lin2"));
    let event = sample("linear", NOW);
    let signature = event.header("linear-signature").expect("signed").to_string();
    let ms = NOW * 1000;
    let signed = |timestamp: Value| linear_signed("lin", &lin, &linear_body(timestamp));
    let cases = vec![
        case("hooks-linear", event.clone(), NOW, Both(Event)),
        case("webhookTimestamp 60 s ago", event.clone(), NOW + 60, Both(Event)),
        case("webhookTimestamp 61 s ago", event.clone(), NOW + 61, Both(Unauthenticated)),
        case("webhookTimestamp 60 s ahead", event.clone(), NOW - 60, Both(Event)),
        case("webhookTimestamp 61 s ahead", event.clone(), NOW - 61, Both(Unauthenticated)),
        case("a body signed by hand", signed(json!(ms)), NOW, Both(Event)),
        case("webhookTimestamp 59.001 s ago", signed(json!(ms - 59_001)), NOW, Both(Event)),
        case("webhookTimestamp 60.999 s ago", signed(json!(ms - 60_999)), NOW, Both(Unauthenticated)),
        case(
            "webhookTimestamp 60.999 s ahead",
            signed(json!(ms + 60_999)),
            NOW,
            lenient(
                Unauthenticated,
                "inlet judges the window in whole seconds (the milliseconds are dropped), so up to a second more \
                 ahead is accepted",
            ),
        ),
        case("no webhookTimestamp", linear_signed("lin", &lin, "{\"type\":\"Issue\"}"), NOW, Both(Unauthenticated)),
        case(
            "webhookTimestamp as a string",
            signed(json!(ms.to_string())),
            NOW,
            lenient(Unauthenticated, "inlet reads a timestamp written as a JSON string too"),
        ),
        case("webhookTimestamp in seconds", signed(json!(NOW)), NOW, Both(Unauthenticated)),
        case(
            "body changed",
            with_body(event.clone(), text(&event).replace("sample", "Sample")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "another secret",
            linear_signed("lin", "not-the-secret", &linear_body(json!(ms))),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "lin2's secret, sent to lin",
            linear_signed("lin", &lin2, &linear_body(json!(ms))),
            NOW,
            Both(Unauthenticated),
        ),
        case("lin2's secret, sent to lin2", linear_signed("lin2", &lin2, &linear_body(json!(ms))), NOW, Both(Event)),
        case("no linear-signature", without_header(event.clone(), "linear-signature"), NOW, Both(Unauthenticated)),
        case(
            "signature with a sha256= prefix",
            with_header(event.clone(), "linear-signature", &format!("sha256={signature}")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "signature in base64",
            with_header(event.clone(), "linear-signature", &BASE64.encode(hex::decode(&signature).expect("hex"))),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "signature in capitals",
            with_header(event.clone(), "linear-signature", &signature.to_uppercase()),
            NOW,
            lenient(Unauthenticated, "inlet reads hex in either case (the same 32 bytes)"),
        ),
        case("unknown source", to_source(event.clone(), "nosuchsource"), NOW, Both(Unauthenticated)),
        case("signed, not JSON", linear_signed("lin", &lin, "{oops"), NOW, Both(NotAnEvent)),
    ];
    agree(&LINEAR, &cases).await;
}

// ---------------------------------------------------------------------------
// LINE: line-bot-sdk (WebhookParser). It has no signer.
// ---------------------------------------------------------------------------

fn line_signed(source: &str, key: &str, body: &str) -> IncomingRequest {
    post(source, body.to_string(), &[("x-line-signature", &hmac_b64(key, body.as_bytes()))])
}

#[tokio::test]
async fn inlet_and_line_bot_sdk_agree_on_samples_vectors_and_forgeries() {
    let (line, line2) = (secret("line"), secret("line2"));
    let event = sample("line", NOW);
    let signature = event.header("x-line-signature").expect("signed").to_string();
    let message = json!({
        "destination": "U00000000000000000000000000000000",
        "events": [{
            "type": "message",
            "message": {"type": "text", "id": "14353798921116", "text": "Zoë — 企业 🚀", "quoteToken": "q3Plxr4AgKd"},
            "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZR",
            "deliveryContext": {"isRedelivery": false},
            "timestamp": 1_625_665_242_211_i64,
            "source": {"type": "user", "userId": "U80696558e1aa831d2b4a4f5fb2d7d6f2"},
            "replyToken": "757913772c4646b784d4b7ce46d12671",
            "mode": "active"
        }]
    })
    .to_string();
    let verify_button = "{\"destination\":\"U00000000000000000000000000000000\",\"events\":[]}";
    let cases = vec![
        case("hooks-line", event.clone(), NOW, Both(Event)),
        case("a text message event", line_signed("line", &line, &message), NOW, Both(Event)),
        case("the console's Verify button (no events)", line_signed("line", &line, verify_button), NOW, Both(Event)),
        case(
            "LINE's own vector (secret channel_secret)",
            post("linevec", LINE_VECTOR_BODY, &[("x-line-signature", LINE_VECTOR_SIGNATURE)]),
            NOW,
            Both(NotAnEvent),
        ),
        case("a day later (no timestamp is signed)", line_signed("line", &line, &message), NOW + 86_400, Both(Event)),
        case(
            "body changed",
            with_body(event.clone(), text(&event).replace("sample", "Sample")),
            NOW,
            Both(Unauthenticated),
        ),
        case("another secret", line_signed("line", "not-the-secret", &message), NOW, Both(Unauthenticated)),
        case("line2's secret, sent to line", line_signed("line", &line2, &message), NOW, Both(Unauthenticated)),
        case("line2's secret, sent to line2", line_signed("line2", &line2, &message), NOW, Both(Event)),
        case("no X-Line-Signature", without_header(event.clone(), "x-line-signature"), NOW, Both(Unauthenticated)),
        case(
            "signature in hex",
            with_header(event.clone(), "x-line-signature", &hex::encode(BASE64.decode(&signature).expect("base64"))),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "signature without its base64 padding",
            with_header(event.clone(), "x-line-signature", signature.trim_end_matches('=')),
            NOW,
            lenient(Unauthenticated, "inlet reads base64 with or without its padding (the same 32 bytes)"),
        ),
        case("unknown source", to_source(event.clone(), "nosuchsource"), NOW, Both(Unauthenticated)),
        case("signed, not JSON", line_signed("line", &line, "{oops"), NOW, Both(NotAnEvent)),
        case(
            "signed JSON without an events list",
            line_signed("line", &line, "{\"destination\":\"U0\"}"),
            NOW,
            lenient(
                NotAnEvent,
                "inlet enqueues any JSON body LINE signed (the events are read by the consumer); the library's \
                 parser needs an events list",
            ),
        ),
    ];
    agree(&LINE, &cases).await;
}

// ---------------------------------------------------------------------------
// SendGrid: sendgrid (EventWebhook). SendGrid signs with a key it keeps.
// ---------------------------------------------------------------------------

const SENDGRID_SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
const SENDGRID_TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

/// Signs `timestamp + body` with the P-256 scalar `scalar_hex`, as SendGrid does.
fn sendgrid_signed(source: &str, scalar_hex: &str, timestamp: &str, body: &[u8]) -> IncomingRequest {
    let message = [timestamp.as_bytes(), body].concat();
    let signature: p256::ecdsa::Signature = signing_key(scalar_hex).sign(&message);
    let signature = BASE64.encode(signature.to_der().as_bytes());
    post(source, body.to_vec(), &[(SENDGRID_SIGNATURE, &signature), (SENDGRID_TIMESTAMP, timestamp)])
}

/// The same signature with `s` replaced by `n - s`: the other of the two
/// signatures ECDSA allows for one message.
fn other_s(signature_b64: &str) -> String {
    let signature = p256::ecdsa::Signature::from_der(&BASE64.decode(signature_b64).expect("base64")).expect("DER");
    let (r, s) = signature.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r, -s).expect("a signature");
    BASE64.encode(flipped.to_der().as_bytes())
}

#[tokio::test]
async fn requests_signed_for_sendgrids_event_webhook_are_accepted_by_inlet() {
    let batch = json!([
        {"email": "zoe@example.com", "event": "delivered", "sg_event_id": "ZGVsaXZlcmVk", "timestamp": NOW},
        {"email": "zoe@example.com", "event": "open", "sg_event_id": "b3Blbg", "timestamp": NOW, "useragent": "Zoë 🚀"}
    ])
    .to_string()
        + "\r\n";
    let recipes = [("a batch", NOW, batch.clone()), ("a batch an hour old", NOW - 3600, batch)];
    let input: Vec<Value> = recipes
        .iter()
        .map(|(name, t, body)| json!({"name": name, "timestamp": t, "body_b64": base64_of(body)}))
        .collect();
    let report = SENDGRID.run(&json!({ "sign": input }));
    for (name, t, body) in &recipes {
        let signed = &report["signed"][*name];
        assert_eq!(signed["library_accepts"], true, "{name}: the library must accept the signature: {report}");
        let key = signed["public_key"].as_str().expect("the public key");
        let env = dev_settings_with(&[
            ("HOOK_SOURCES", "sgpy=sendgrid"),
            ("HOOK_SECRETS", &format!("sgpy={key}")),
            ("HOOK_VERIFY_TOKENS", ""),
            ("HOOK_DEV_SIGNING_KEYS", ""),
        ]);
        let request = post(
            "sgpy",
            body.clone(),
            &[
                (SENDGRID_SIGNATURE, signed["signature"].as_str().expect("signed")),
                (SENDGRID_TIMESTAMP, &t.to_string()),
            ],
        );
        let (reply, publisher) = handle_with::<HooksFunction>(&env, &request, NOW).await;
        assert!(
            reply.status.is_success(),
            "{name}: inlet refused a signature the library accepts: {}",
            reply_text(&reply)
        );
        assert_eq!(publisher.sent().len(), 1, "{name}");
    }
    // SendGrid's own vector, with its public key configured.
    let vector = post(
        "sgvec",
        SENDGRID_VECTOR_PAYLOAD,
        &[(SENDGRID_SIGNATURE, SENDGRID_VECTOR_SIGNATURE), (SENDGRID_TIMESTAMP, SENDGRID_VECTOR_TIMESTAMP)],
    );
    // Judged at its own time: inlet refuses a signed timestamp older than
    // the dedup window where the sender documents no window.
    let vector_time: i64 = SENDGRID_VECTOR_TIMESTAMP.parse().expect("a Unix time");
    assert_accepted("sendgrid-python's vector", &vector, vector_time).await;
}

#[tokio::test]
async fn inlet_and_sendgrid_agree_on_samples_and_forgeries() {
    let event = sample("sendgrid", NOW);
    let signature = event.header(SENDGRID_SIGNATURE).expect("signed").to_string();
    let body = event.body.clone();
    let at = NOW.to_string();
    let vector_time: i64 = SENDGRID_VECTOR_TIMESTAMP.parse().expect("a Unix time");
    let vector = post(
        "sgvec",
        SENDGRID_VECTOR_PAYLOAD,
        &[(SENDGRID_SIGNATURE, SENDGRID_VECTOR_SIGNATURE), (SENDGRID_TIMESTAMP, SENDGRID_VECTOR_TIMESTAMP)],
    );
    let der = BASE64.decode(&signature).expect("base64");
    let raw = p256::ecdsa::Signature::from_der(&der).expect("DER").to_bytes();
    let cases = vec![
        case("hooks-sendgrid", event.clone(), NOW, Both(Event)),
        case("SendGrid's own vector, at its time", vector.clone(), vector_time, Both(Event)),
        case(
            "a timestamp a year old, signed",
            sendgrid_signed("sg", SENDGRID_SCALAR, &(NOW - 365 * 86_400).to_string(), &body),
            NOW,
            InletStricter(
                "SendGrid documents no window and its library checks none; inlet refuses a signed timestamp \
                 older than the dedup window (2 days), so a replay is a remembered duplicate or stale",
            ),
        ),
        case(
            "the other s of the signature",
            with_header(event.clone(), SENDGRID_SIGNATURE, &other_s(&signature)),
            NOW,
            Both(Event),
        ),
        case(
            "body changed",
            with_body(event.clone(), text(&event).replace("sample", "Sample")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "vector body changed",
            with_body(vector.clone(), SENDGRID_VECTOR_PAYLOAD.trim_end()),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "timestamp changed",
            with_header(event.clone(), SENDGRID_TIMESTAMP, &(NOW + 1).to_string()),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "sg2's key, sent to sg",
            sendgrid_signed("sg", SENDGRID_OTHER_SCALAR, &at, &body),
            NOW,
            Both(Unauthenticated),
        ),
        case("sg2's key, sent to sg2", sendgrid_signed("sg2", SENDGRID_OTHER_SCALAR, &at, &body), NOW, Both(Event)),
        case("no signature header", without_header(event.clone(), SENDGRID_SIGNATURE), NOW, Both(Unauthenticated)),
        case("no timestamp header", without_header(event.clone(), SENDGRID_TIMESTAMP), NOW, Both(Unauthenticated)),
        case(
            "signature not base64",
            with_header(event.clone(), SENDGRID_SIGNATURE, "%%%%"),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "signature as raw r||s, not DER",
            with_header(event.clone(), SENDGRID_SIGNATURE, &BASE64.encode(raw)),
            NOW,
            Both(Unauthenticated),
        ),
        case("unknown source", to_source(event.clone(), "nosuchsource"), NOW, Both(Unauthenticated)),
        case("signed, not JSON", sendgrid_signed("sg", SENDGRID_SCALAR, &at, b"{oops"), NOW, Both(NotAnEvent)),
        case("signed, not UTF-8", sendgrid_signed("sg", SENDGRID_SCALAR, &at, b"[\"\xff\"]"), NOW, BothRefuse),
    ];
    agree(&SENDGRID, &cases).await;
}

// ---------------------------------------------------------------------------
// Paddle: paddle-python-sdk (Notifications.Verifier). It has no signer.
// ---------------------------------------------------------------------------

fn paddle_header(key: &str, ts: &str, body: &[u8]) -> String {
    format!("ts={ts};h1={}", hmac_hex(key, &[ts.as_bytes(), b":", body].concat()))
}

fn paddle_signed(source: &str, key: &str, ts: &str, body: &str) -> IncomingRequest {
    post(source, body.to_string(), &[("paddle-signature", &paddle_header(key, ts, body.as_bytes()))])
}

#[tokio::test]
async fn inlet_and_paddle_sdk_agree_on_samples_vectors_and_forgeries() {
    let (pad, pad2) = (secret("pad"), secret("pad2"));
    let event = sample("paddle", NOW);
    let body = text(&event);
    let at = NOW.to_string();
    let h1 = hmac_hex(&pad, format!("{at}:{body}").as_bytes());
    let header = |value: String| with_header(event.clone(), "paddle-signature", &value);
    let cases = vec![
        case("hooks-paddle", event.clone(), NOW, Both(Event)),
        case(
            "Paddle's own vector (three secrets, h1=dummy first)",
            post("padvec", "hello-world", &[("paddle-signature", PADDLE_VECTOR_HEADER)]),
            PADDLE_VECTOR_TIME,
            Both(NotAnEvent),
        ),
        case("ts 5 s ago", event.clone(), NOW + 5, Both(Event)),
        case("ts 6 s ago", event.clone(), NOW + 6, Both(Unauthenticated)),
        case("ts 5 s ahead", event.clone(), NOW - 5, Both(Event)),
        case("ts 6 s ahead", event.clone(), NOW - 6, Both(Unauthenticated)),
        case("two h1, the second right", header(format!("ts={at};h1={};h1={h1}", "0".repeat(64))), NOW, Both(Event)),
        case("h1 before ts", header(format!("h1={h1};ts={at}")), NOW, Both(Event)),
        case("body changed", with_body(event.clone(), body.replace("sample", "Sample")), NOW, Both(Unauthenticated)),
        case("ts changed", header(format!("ts={};h1={h1}", NOW + 1)), NOW + 1, Both(Unauthenticated)),
        case("another secret", paddle_signed("pad", "pdl_ntf_other", &at, &body), NOW, Both(Unauthenticated)),
        case("pad2's secret, sent to pad", paddle_signed("pad", &pad2, &at, &body), NOW, Both(Unauthenticated)),
        case("pad2's secret, sent to pad2", paddle_signed("pad2", &pad2, &at, &body), NOW, Both(Event)),
        case("no Paddle-Signature", without_header(event.clone(), "paddle-signature"), NOW, Both(Unauthenticated)),
        case("no ts", header(format!("h1={h1}")), NOW, Both(Unauthenticated)),
        case("no h1", header(format!("ts={at}")), NOW, Both(Unauthenticated)),
        case(
            "h1 in base64",
            header(format!("ts={at};h1={}", BASE64.encode(hex::decode(&h1).expect("hex")))),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "h1 in capitals",
            header(format!("ts={at};h1={}", h1.to_uppercase())),
            NOW,
            lenient(Unauthenticated, "inlet reads hex in either case (the same 32 bytes)"),
        ),
        case(
            "a space after ;",
            header(format!("ts={at}; h1={h1}")),
            NOW,
            lenient(Unauthenticated, "inlet trims each tag; the library raises on the key \" h1\""),
        ),
        case(
            "a tag the library does not know",
            header(format!("ts={at};h1={h1};h2=abc")),
            NOW,
            lenient(
                Unauthenticated,
                "inlet ignores tags it does not know (a future hash beside h1); the library raises \
                 \"Unrecognized Paddle-Signature key\"",
            ),
        ),
        case("unknown source", to_source(event.clone(), "nosuchsource"), NOW, Both(Unauthenticated)),
        case("signed, not JSON", paddle_signed("pad", &pad, &at, "{oops"), NOW, Both(NotAnEvent)),
    ];
    agree(&PADDLE, &cases).await;
}

// ---------------------------------------------------------------------------
// Square: squareup (webhooks_helper.verify_signature). It has no signer.
// ---------------------------------------------------------------------------

fn square_signed(source: &str, key: &str, url: &str, body: &str) -> IncomingRequest {
    let signature = hmac_b64(key, [url.as_bytes(), body.as_bytes()].concat().as_slice());
    post(source, body.to_string(), &[("x-square-hmacsha256-signature", &signature)])
}

#[tokio::test]
async fn inlet_and_squareup_agree_on_samples_and_forgeries() {
    let (sq, sq2) = (secret("sq"), secret("sq2"));
    let event = sample("square", NOW);
    let body = text(&event);
    let url = "https://hooks.example.com/hooks/sq";
    let signed = square_signed("sq", &sq, url, &body);
    let with_query_signed = with_query(square_signed("sq", &sq, &format!("{url}?tenant=a%2Fb"), &body), "tenant=a%2Fb");
    let cases = vec![
        case("hooks-square", event.clone(), NOW, Both(Event)),
        case("signed by hand for the public URL", signed.clone(), NOW, Both(Event)),
        case("a day later (no timestamp is signed)", signed.clone(), NOW + 86_400, Both(Event)),
        case("a URL with a query", with_query_signed.clone(), NOW, Both(Event)),
        case("query changed", with_query(with_query_signed, "tenant=a/b"), NOW, Both(Unauthenticated)),
        case(
            "received over http",
            with_header(signed.clone(), "x-forwarded-proto", "http"),
            NOW,
            Both(Unauthenticated),
        ),
        case("another Host", with_header(signed.clone(), "host", "other.example.com"), NOW, Both(Unauthenticated)),
        case(
            "Host with :443",
            with_header(signed.clone(), "host", "hooks.example.com:443"),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "signed for the URL with a trailing /",
            square_signed("sq", &sq, &format!("{url}/"), &body),
            NOW,
            Both(Unauthenticated),
        ),
        case("body changed", with_body(signed.clone(), body.replace("sample", "Sample")), NOW, Both(Unauthenticated)),
        case("another key", square_signed("sq", "not-the-key", url, &body), NOW, Both(Unauthenticated)),
        case("sq2's key, sent to sq", square_signed("sq", &sq2, url, &body), NOW, Both(Unauthenticated)),
        case(
            "sq2's key, sent to sq2",
            square_signed("sq2", &sq2, "https://hooks.example.com/hooks/sq2", &body),
            NOW,
            Both(Event),
        ),
        case(
            "no signature header",
            without_header(signed.clone(), "x-square-hmacsha256-signature"),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "signature in hex",
            with_header(
                signed.clone(),
                "x-square-hmacsha256-signature",
                &hex::encode(hmac_sha256(sq.as_bytes(), &[url.as_bytes(), body.as_bytes()])),
            ),
            NOW,
            Both(Unauthenticated),
        ),
        case("unknown source", to_source(signed.clone(), "nosuchsource"), NOW, Both(Unauthenticated)),
        case("signed, not JSON", square_signed("sq", &sq, url, "{oops"), NOW, Both(NotAnEvent)),
        // The library refuses an empty body before it verifies anything.
        case("signed, empty body", square_signed("sq", &sq, url, ""), NOW, BothRefuse),
    ];
    agree(&SQUARE, &cases).await;
}

// ---------------------------------------------------------------------------
// HubSpot: @hubspot/api-client (Signature, v3).
// ---------------------------------------------------------------------------

const HUBSPOT_BATCH: &str = r#"[{"eventId":100,"subscriptionId":2001,"portalId":62515,"appId":54321,"occurredAt":1700000000000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW"}]"#;

/// `(name, secret, url, timestamp ms, body, sent query)`.
type HubSpotRecipe<'a> = (&'a str, &'a str, &'a str, i64, &'a str, Option<&'a str>);

/// Signs each recipe with the library's Signature.getSignature (v3, POST)
/// and returns the requests, in order; a `sent query` replaces the query
/// the request carries (the URL signed stays as given).
fn hubspot_signed(recipes: &[HubSpotRecipe]) -> Vec<IncomingRequest> {
    let input: Vec<Value> = recipes
        .iter()
        .map(|(name, secret, url, t, body, _)| {
            json!({"name": name, "secret": secret, "url": url, "method": "POST", "timestamp": t, "body_b64": base64_of(body)})
        })
        .collect();
    let report = HUBSPOT.run(&json!({ "sign": input }));
    recipes
        .iter()
        .map(|(name, _, url, t, body, sent_query)| {
            let signed = &report["signed"][*name];
            let signature = signed["signature"].as_str().unwrap_or_else(|| panic!("{name}: not signed: {report}"));
            let request = request_at(
                url,
                body,
                "application/json",
                &[("x-hubspot-signature-v3", signature), ("x-hubspot-request-timestamp", &t.to_string())],
            );
            match sent_query {
                Some(query) => with_query(request, query),
                None => request,
            }
        })
        .collect()
}

#[tokio::test]
async fn requests_signed_by_hubspot_api_client_are_accepted_by_inlet() {
    let hs = secret("hs");
    let url = "https://hooks.example.com/hooks/hs";
    let ms = NOW * 1000;
    let unicode =
        json!([{"eventId": 1, "subscriptionType": "contact.propertyChange", "propertyValue": "Zoë 🚀"}]).to_string();
    let recipes = [
        ("a batch", hs.as_str(), url, ms, HUBSPOT_BATCH, None),
        ("non-ASCII JSON", hs.as_str(), url, ms, unicode.as_str(), None),
        ("a plain query", hs.as_str(), "https://hooks.example.com/hooks/hs?portal=62515&x=y", ms, HUBSPOT_BATCH, None),
        ("signed 299 s ago", hs.as_str(), url, ms - 299_000, HUBSPOT_BATCH, None),
        ("http and a port", hs.as_str(), "http://127.0.0.1:9000/hooks/hs", ms, HUBSPOT_BATCH, None),
    ];
    assert_all_accepted(recipes.iter().map(|recipe| recipe.0), hubspot_signed(&recipes)).await;
}

#[tokio::test]
async fn inlet_and_hubspot_api_client_agree_on_samples_and_forgeries() {
    let (hs, hs2) = (secret("hs"), secret("hs2"));
    let url = "https://hooks.example.com/hooks/hs";
    let ms = NOW * 1000;
    let escaped = "tenant=a%3Ab%2Fc";
    let recipes = [
        ("plain", hs.as_str(), url, ms, HUBSPOT_BATCH, None),
        ("another secret", "not-the-client-secret", url, ms, HUBSPOT_BATCH, None),
        ("hs2's secret", hs2.as_str(), url, ms, HUBSPOT_BATCH, None),
        ("hs2's secret, sent to hs2", hs2.as_str(), "https://hooks.example.com/hooks/hs2", ms, HUBSPOT_BATCH, None),
        ("300 s old", hs.as_str(), url, ms - 300_000, HUBSPOT_BATCH, None),
        ("300.001 s old", hs.as_str(), url, ms - 300_001, HUBSPOT_BATCH, None),
        ("300 s ahead", hs.as_str(), url, ms + 300_000, HUBSPOT_BATCH, None),
        ("301 s ahead", hs.as_str(), url, ms + 301_000, HUBSPOT_BATCH, None),
        ("not JSON", hs.as_str(), url, ms, "{oops", None),
        ("escapes, URL as sent", hs.as_str(), &format!("{url}?{escaped}"), ms, HUBSPOT_BATCH, None),
        ("escapes, URL decoded", hs.as_str(), &format!("{url}?tenant=a:b/c"), ms, HUBSPOT_BATCH, Some(escaped)),
    ];
    let signed: HashMap<&str, IncomingRequest> = recipes.iter().map(|r| r.0).zip(hubspot_signed(&recipes)).collect();
    let get = |name: &str| signed[name].clone();
    let cases = vec![
        case("hooks-hubspot", sample("hubspot", NOW), NOW, Both(Event)),
        case("signed by the library", get("plain"), NOW, Both(Event)),
        case("body changed", with_body(get("plain"), HUBSPOT_BATCH.replace("123", "124")), NOW, Both(Unauthenticated)),
        case(
            "timestamp changed",
            with_header(get("plain"), "x-hubspot-request-timestamp", &(ms + 1).to_string()),
            NOW,
            Both(Unauthenticated),
        ),
        case("another Host", with_header(get("plain"), "host", "other.example.com"), NOW, Both(Unauthenticated)),
        case("a query added", with_query(get("plain"), "x=1"), NOW, Both(Unauthenticated)),
        case("another secret", get("another secret"), NOW, Both(Unauthenticated)),
        case("hs2's secret, sent to hs", get("hs2's secret"), NOW, Both(Unauthenticated)),
        case("hs2's secret, sent to hs2", get("hs2's secret, sent to hs2"), NOW, Both(Event)),
        case("signed 300 s ago", get("300 s old"), NOW, Both(Event)),
        case("signed 300.001 s ago", get("300.001 s old"), NOW, Both(Unauthenticated)),
        case("signed 300 s ahead", get("300 s ahead"), NOW, Both(Event)),
        case(
            "signed 301 s ahead",
            get("301 s ahead"),
            NOW,
            InletStricter("inlet refuses a timestamp more than 5 minutes ahead too; the library checks only the past"),
        ),
        case(
            "no X-HubSpot-Signature-v3",
            without_header(get("plain"), "x-hubspot-signature-v3"),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "no X-HubSpot-Request-Timestamp",
            without_header(get("plain"), "x-hubspot-request-timestamp"),
            NOW,
            Both(Unauthenticated),
        ),
        case("unknown source", to_source(get("plain"), "nosuchsource"), NOW, Both(Unauthenticated)),
        case("signed, not JSON", get("not JSON"), NOW, Both(NotAnEvent)),
        // HubSpot's documentation and its library disagree here (see the module doc).
        case(
            "escaped query, signed by the library over the URL as sent",
            get("escapes, URL as sent"),
            NOW,
            InletStricter(
                "HubSpot's v3 documentation decodes %3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B in the URI \
                 before signing, and inlet follows it; the library signs the URL it is handed, undecoded",
            ),
        ),
        case(
            "escaped query, signed over the decoded URL as documented",
            get("escapes, URL decoded"),
            NOW,
            lenient(
                Unauthenticated,
                "signed as HubSpot's v3 documentation describes (those escapes decoded); the library, handed the \
                 URL as received, does not decode them",
            ),
        ),
    ];
    agree(&HUBSPOT, &cases).await;
}

// ---------------------------------------------------------------------------
// Mux: @mux/mux-node (webhooks.verifySignature, unwrap).
// ---------------------------------------------------------------------------

fn mux_header(key: &str, t: &str, body: &str) -> String {
    format!("t={t},v1={}", hmac_hex(key, format!("{t}.{body}").as_bytes()))
}

fn mux_signed(source: &str, key: &str, t: &str, body: &str) -> IncomingRequest {
    post(source, body.to_string(), &[("mux-signature", &mux_header(key, t, body))])
}

const MUX_EVENT: &str = r#"{"type":"video.asset.ready","id":"3a56ac3d-33da-4366-855b-f592d898409d","object":{"type":"asset","id":"0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002"},"environment":{"name":"Zoë's 🚀 env","id":"j0863n"},"data":{"status":"ready"},"created_at":"2023-11-14T22:13:20.000000Z"}"#;

#[tokio::test]
async fn requests_signed_by_mux_node_are_accepted_by_inlet() {
    let mux = secret("mux");
    let sample_body = text(&sample("mux", NOW));
    let recipes = [
        ("an event", NOW, MUX_EVENT.to_string()),
        ("the sample body", NOW, sample_body),
        ("signed 299 s ago", NOW - 299, MUX_EVENT.to_string()),
    ];
    let input: Vec<Value> = recipes
        .iter()
        .map(|(name, t, body)| json!({"name": name, "secret": mux, "timestamp": t, "body_b64": base64_of(body)}))
        .collect();
    let report = MUX.run(&json!({ "sign": input }));
    for (name, _, body) in &recipes {
        let signed = &report["signed"][*name];
        assert_eq!(signed["library_accepts"], true, "{name}: the library must accept its own signature: {report}");
        let request = post("mux", body.clone(), &[("mux-signature", signed["header"].as_str().expect("a header"))]);
        assert_accepted(name, &request, NOW).await;
    }
    // Mux's own vector.
    let vector = post("muxvec", MUX_VECTOR_BODY, &[("mux-signature", MUX_VECTOR_HEADER)]);
    assert_accepted("mux-node's vector", &vector, MUX_VECTOR_TIME).await;
}

#[tokio::test]
async fn inlet_and_mux_node_agree_on_samples_and_forgeries() {
    let (mux, mux2) = (secret("mux"), secret("mux2"));
    let event = sample("mux", NOW);
    let body = text(&event);
    let at = NOW.to_string();
    let header = event.header("mux-signature").expect("signed").to_string();
    let v1 = header.split_once(",v1=").expect("v1").1.to_string();
    let with_sig = |value: String| with_header(event.clone(), "mux-signature", &value);
    let vector = post("muxvec", MUX_VECTOR_BODY, &[("mux-signature", MUX_VECTOR_HEADER)]);
    let cases = vec![
        case("hooks-mux", event.clone(), NOW, Both(Event)),
        case("Mux's own vector", vector.clone(), MUX_VECTOR_TIME, Both(Event)),
        case("Mux's own vector, 6 minutes later", vector, MUX_VECTOR_TIME + 360, Both(Unauthenticated)),
        case("signed 300 s ago", event.clone(), NOW + 300, Both(Event)),
        case("signed 301 s ago", event.clone(), NOW + 301, Both(Unauthenticated)),
        case("signed 300 s ahead", event.clone(), NOW - 300, Both(Event)),
        case(
            "signed 301 s ahead",
            event.clone(),
            NOW - 301,
            InletStricter("inlet refuses a timestamp more than 5 minutes ahead too; the library checks only the past"),
        ),
        case("two v1, the second right", with_sig(format!("t={at},v1=invalid-sig,v1={v1}")), NOW, Both(Event)),
        case("a v2 before the v1", with_sig(format!("t={at},v2={v1},v1={v1}")), NOW, Both(Event)),
        case("v2 only", with_sig(format!("t={at},v2={v1}")), NOW, Both(Unauthenticated)),
        case("no t", with_sig(format!("v1={v1}")), NOW, Both(Unauthenticated)),
        case("t changed", with_sig(format!("t={},v1={v1}", NOW + 1)), NOW, Both(Unauthenticated)),
        case("body changed", with_body(event.clone(), body.replace("sample", "Sample")), NOW, Both(Unauthenticated)),
        case("another secret", mux_signed("mux", "not-the-secret", &at, &body), NOW, Both(Unauthenticated)),
        case("mux2's secret, sent to mux", mux_signed("mux", &mux2, &at, &body), NOW, Both(Unauthenticated)),
        case("mux2's secret, sent to mux2", mux_signed("mux2", &mux2, &at, &body), NOW, Both(Event)),
        case("no Mux-Signature", without_header(event.clone(), "mux-signature"), NOW, Both(Unauthenticated)),
        case(
            "v1 in capitals",
            with_sig(format!("t={at},v1={}", v1.to_uppercase())),
            NOW,
            lenient(Unauthenticated, "inlet reads hex in either case (the same 32 bytes)"),
        ),
        case(
            "a space after the comma",
            with_sig(format!("t={at}, v1={v1}")),
            NOW,
            lenient(Unauthenticated, "inlet trims each tag; the library reads the key \" v1\" as another one"),
        ),
        case("unknown source", to_source(event.clone(), "nosuchsource"), NOW, Both(Unauthenticated)),
        case("signed, not JSON", mux_signed("mux", &mux, &at, "{oops"), NOW, Both(NotAnEvent)),
    ];
    agree(&MUX, &cases).await;
}

// ---------------------------------------------------------------------------
// Coinbase Commerce: coinbase-commerce (Webhook, WebhookSignature).
// ---------------------------------------------------------------------------

fn hex_signed(source: &str, header: &'static str, key: &str, body: &str) -> IncomingRequest {
    post(source, body.to_string(), &[(header, &hmac_hex(key, body.as_bytes()))])
}

const COINBASE_EVENT: &str = r#"{"id":1,"scheduled_for":"2023-11-14T22:13:20Z","event":{"id":"24934862-d980-46cb-9402-43c81b0cdba6","resource":"event","type":"charge:confirmed","api_version":"2018-03-22","created_at":"2023-11-14T22:13:20Z","data":{"code":"66BEOV2A","name":"Zoë's 🚀","pricing_type":"fixed_price"}}}"#;

#[tokio::test]
async fn requests_signed_by_coinbase_commerce_are_accepted_by_inlet() {
    let cb = secret("cb");
    let bodies = [("an event", COINBASE_EVENT.to_string()), ("the sample body", text(&sample("coinbase", NOW)))];
    let input: Vec<Value> =
        bodies.iter().map(|(name, body)| json!({"name": name, "secret": cb, "body_b64": base64_of(body)})).collect();
    let report = COINBASE.run(&json!({ "sign": input }));
    for (name, body) in &bodies {
        let signed = &report["signed"][*name];
        assert_eq!(signed["library_accepts"], true, "{name}: the library must accept its own signature: {report}");
        let request =
            post("cb", body.clone(), &[("x-cc-webhook-signature", signed["signature"].as_str().expect("signed"))]);
        assert_accepted(name, &request, NOW).await;
    }
}

#[tokio::test]
async fn inlet_and_coinbase_commerce_agree_on_samples_and_forgeries() {
    let (cb, cb2) = (secret("cb"), secret("cb2"));
    let header = "x-cc-webhook-signature";
    let event = sample("coinbase", NOW);
    let signed = hex_signed("cb", header, &cb, COINBASE_EVENT);
    let signature = signed.header(header).expect("signed").to_string();
    let cases = vec![
        case("hooks-coinbase", event.clone(), NOW, Both(Event)),
        case("a charge event", signed.clone(), NOW, Both(Event)),
        case("a day later (no timestamp is signed)", signed.clone(), NOW + 86_400, Both(Event)),
        case(
            "body changed",
            with_body(signed.clone(), COINBASE_EVENT.replace("confirmed", "failed")),
            NOW,
            Both(Unauthenticated),
        ),
        case("another secret", hex_signed("cb", header, "not-the-secret", COINBASE_EVENT), NOW, Both(Unauthenticated)),
        case("cb2's secret, sent to cb", hex_signed("cb", header, &cb2, COINBASE_EVENT), NOW, Both(Unauthenticated)),
        case("cb2's secret, sent to cb2", hex_signed("cb2", header, &cb2, COINBASE_EVENT), NOW, Both(Event)),
        case("no signature header", without_header(signed.clone(), header), NOW, Both(Unauthenticated)),
        case(
            "signature in base64",
            with_header(signed.clone(), header, &BASE64.encode(hex::decode(&signature).expect("hex"))),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "signature in capitals",
            with_header(signed.clone(), header, &signature.to_uppercase()),
            NOW,
            lenient(Unauthenticated, "inlet reads hex in either case (the same 32 bytes)"),
        ),
        case("unknown source", to_source(signed.clone(), "nosuchsource"), NOW, Both(Unauthenticated)),
        case("signed, not JSON", hex_signed("cb", header, &cb, "{oops"), NOW, Both(NotAnEvent)),
        case(
            "signed JSON without an event object",
            hex_signed("cb", header, &cb, "{\"id\":1}"),
            NOW,
            lenient(
                NotAnEvent,
                "inlet enqueues any JSON body Coinbase signed (kind and id are read when present); \
                 construct_event needs an \"event\" object",
            ),
        ),
    ];
    agree(&COINBASE, &cases).await;
}

// ---------------------------------------------------------------------------
// Razorpay: razorpay (Utility.verify_webhook_signature). It has no signer.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn inlet_and_razorpay_agree_on_samples_vectors_and_forgeries() {
    let (rzp, rzp2) = (secret("rzp"), secret("rzp2"));
    let header = "x-razorpay-signature";
    let event = sample("razorpay", NOW);
    let body = text(&event);
    let signature = event.header(header).expect("signed").to_string();
    let vector = post("rzpvec", RAZORPAY_VECTOR_BODY, &[(header, RAZORPAY_VECTOR_SIGNATURE)]);
    let cases = vec![
        case("hooks-razorpay", event.clone(), NOW, Both(Event)),
        case("Razorpay's own vector", vector.clone(), NOW, Both(Event)),
        case(
            "Razorpay's own vector, body reformatted",
            with_body(vector, RAZORPAY_VECTOR_BODY.trim_end()),
            NOW,
            Both(Unauthenticated),
        ),
        case("a day later (no timestamp is signed)", event.clone(), NOW + 86_400, Both(Event)),
        case("body changed", with_body(event.clone(), body.replace("sample", "Sample")), NOW, Both(Unauthenticated)),
        case("another secret", hex_signed("rzp", header, "not-the-secret", &body), NOW, Both(Unauthenticated)),
        case("rzp2's secret, sent to rzp", hex_signed("rzp", header, &rzp2, &body), NOW, Both(Unauthenticated)),
        case("rzp2's secret, sent to rzp2", hex_signed("rzp2", header, &rzp2, &body), NOW, Both(Event)),
        case("no X-Razorpay-Signature", without_header(event.clone(), header), NOW, Both(Unauthenticated)),
        case(
            "signature with a sha256= prefix",
            with_header(event.clone(), header, &format!("sha256={signature}")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "signature in capitals",
            with_header(event.clone(), header, &signature.to_uppercase()),
            NOW,
            lenient(Unauthenticated, "inlet reads hex in either case (the same 32 bytes)"),
        ),
        case("unknown source", to_source(event.clone(), "nosuchsource"), NOW, Both(Unauthenticated)),
        case("signed, not JSON", hex_signed("rzp", header, &rzp, "{oops"), NOW, Both(NotAnEvent)),
    ];
    agree(&RAZORPAY, &cases).await;
}

// ---------------------------------------------------------------------------
// Box: box-sdk-gen (WebhooksManager.validate_message).
// ---------------------------------------------------------------------------

/// The headers Box sends besides the signatures, which the library requires.
const BOX_HEADERS: [(&str, &str); 2] = [("box-signature-version", "1"), ("box-signature-algorithm", "HmacSHA256")];

const BOX_EVENT: &str = r#"{"type":"webhook_event","id":"eb0c4e06-751f-442c-86f8-fd5bb404dbec","created_at":"2023-11-14T22:13:20-00:00","trigger":"FILE.UPLOADED","webhook":{"id":"53","type":"webhook"},"source":{"id":"73","type":"file","name":"Zoë 🚀.pdf"}}"#;

/// Box's delivery timestamp for `at`.
fn box_time(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .expect("a time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
}

/// A Box delivery signed with `primary` (and `secondary`) at `at`.
fn box_signed(source: &str, primary: Option<&str>, secondary: Option<&str>, at: &str, body: &str) -> IncomingRequest {
    let sign = |key: &str| hmac_b64(key, [body.as_bytes(), at.as_bytes()].concat().as_slice());
    let (p, s) = (primary.map(sign), secondary.map(sign));
    let mut headers: Vec<(&str, &str)> = BOX_HEADERS.to_vec();
    headers.push(("box-delivery-timestamp", at));
    if let Some(p) = &p {
        headers.push(("box-signature-primary", p));
    }
    if let Some(s) = &s {
        headers.push(("box-signature-secondary", s));
    }
    post(source, body.to_string(), &headers)
}

#[tokio::test]
async fn requests_signed_by_box_sdk_gen_are_accepted_by_inlet() {
    let keys = secrets_of("box");
    let recipes = [
        ("both keys", Some(keys[1].as_str()), NOW, BOX_EVENT.to_string()),
        ("primary only", None, NOW, BOX_EVENT.to_string()),
        ("the sample body, 9 minutes old", Some(keys[1].as_str()), NOW - 540, text(&sample("box", NOW))),
    ];
    let input: Vec<Value> = recipes
        .iter()
        .map(|(name, secondary, at, body)| {
            json!({"name": name, "primary": keys[0], "secondary": secondary, "timestamp": box_time(*at), "now": NOW, "body_b64": base64_of(body)})
        })
        .collect();
    let report = BOX.run(&json!({ "sign": input }));
    for (name, _, at, body) in &recipes {
        let signed = &report["signed"][*name];
        assert_eq!(signed["library_accepts"], true, "{name}: the library must accept its own signature: {report}");
        let time = box_time(*at);
        let mut headers: Vec<(&str, &str)> = BOX_HEADERS.to_vec();
        headers.push(("box-delivery-timestamp", &time));
        headers.push(("box-signature-primary", signed["primary"].as_str().expect("primary")));
        if let Some(secondary) = signed["secondary"].as_str() {
            headers.push(("box-signature-secondary", secondary));
        }
        assert_accepted(name, &post("box", body.clone(), &headers), NOW).await;
    }
}

#[tokio::test]
async fn inlet_and_box_sdk_gen_agree_on_samples_and_forgeries() {
    let keys = secrets_of("box");
    let (primary, secondary) = (keys[0].as_str(), keys[1].as_str());
    let box2 = secret("box2");
    let at = box_time(NOW);
    let both = box_signed("box", Some(primary), Some(secondary), &at, BOX_EVENT);
    let cases = vec![
        case("hooks-box", sample("box", NOW), NOW, Both(Event)),
        case("both signatures", both.clone(), NOW, Both(Event)),
        case("primary only", box_signed("box", Some(primary), None, &at, BOX_EVENT), NOW, Both(Event)),
        case(
            "secondary only (primary rotated)",
            box_signed("box", None, Some(secondary), &at, BOX_EVENT),
            NOW,
            Both(Event),
        ),
        case(
            "the primary header signed with the secondary key",
            box_signed("box", Some(secondary), None, &at, BOX_EVENT),
            NOW,
            lenient(
                Unauthenticated,
                "the preset checks each signature header against each secret of the source (the order of the \
                 keys in HOOK_SECRETS does not matter); the library pairs primary with primary",
            ),
        ),
        case("delivered 600 s ago", both.clone(), NOW + 600, Both(Event)),
        case("delivered 601 s ago", both.clone(), NOW + 601, Both(Unauthenticated)),
        case(
            "delivered 1 s ahead",
            both.clone(),
            NOW - 1,
            lenient(
                Unauthenticated,
                "inlet allows 10 minutes either way (clock skew); the library refuses any delivery time ahead of \
                 its clock",
            ),
        ),
        case("delivered 601 s ahead", both.clone(), NOW - 601, Both(Unauthenticated)),
        case(
            "timestamp changed",
            with_header(both.clone(), "box-delivery-timestamp", &box_time(NOW - 1)),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "no delivery timestamp",
            without_header(both.clone(), "box-delivery-timestamp"),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "body changed",
            with_body(both.clone(), BOX_EVENT.replace("UPLOADED", "DELETED")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "another key",
            box_signed("box", Some("not-a-key"), Some("nor-this"), &at, BOX_EVENT),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "box2's key, sent to box",
            box_signed("box", Some(&box2), None, &at, BOX_EVENT),
            NOW,
            Both(Unauthenticated),
        ),
        case("box2's key, sent to box2", box_signed("box2", Some(&box2), None, &at, BOX_EVENT), NOW, Both(Event)),
        case("no signature header", box_signed("box", None, None, &at, BOX_EVENT), NOW, Both(Unauthenticated)),
        case("unknown source", to_source(both.clone(), "nosuchsource"), NOW, Both(Unauthenticated)),
        case("signed, not JSON", box_signed("box", Some(primary), None, &at, "{oops"), NOW, Both(NotAnEvent)),
    ];
    agree(&BOX, &cases).await;
}

// ---------------------------------------------------------------------------
// Svix, Clerk, Resend: svix (Webhook).
// ---------------------------------------------------------------------------

/// Signs `(name, source, msg_id, timestamp, body)` with svix's Webhook.sign
/// and returns the requests, in order.
fn svix_signed(recipes: &[(&str, &str, &str, i64, &str)]) -> Vec<IncomingRequest> {
    let input: Vec<Value> = recipes
        .iter()
        .map(|(name, source, id, t, body)| {
            json!({"name": name, "secret": secret(source), "msg_id": id, "timestamp": t, "body_b64": base64_of(body)})
        })
        .collect();
    let report = SVIX.run(&json!({ "sign": input }));
    recipes
        .iter()
        .map(|(name, source, id, t, body)| {
            let signed = &report["signed"][*name];
            assert_eq!(signed["library_accepts"], true, "{name}: the library must accept its own signature: {report}");
            post(
                source,
                body.to_string(),
                &[
                    ("svix-id", id),
                    ("svix-timestamp", &t.to_string()),
                    ("svix-signature", signed["signature"].as_str().expect("signed")),
                ],
            )
        })
        .collect()
}

#[tokio::test]
async fn requests_signed_by_svix_are_accepted_by_inlet() {
    let clerk = r#"{"data":{"id":"user_29w83sxmDNGwOuEthce5gg56FcC","first_name":"Zoë"},"object":"event","type":"user.created"}"#;
    let resend = r#"{"type":"email.delivered","created_at":"2023-11-14T22:13:20.000Z","data":{"email_id":"56761188-7520-42d8-8898-ff6fc54ce618","subject":"🚀"}}"#;
    let recipes = [
        ("svix", "svix", "msg_2Lib1", NOW, r#"{"type":"invoice.paid","data":{"id":1}}"#),
        ("clerk", "clerk", "msg_2Lib2", NOW, clerk),
        ("resend", "resend", "msg_2Lib3", NOW, resend),
        ("signed 299 s ago", "svix", "msg_2Lib4", NOW - 299, r#"{"type":"a"}"#),
        ("signed 299 s ahead", "svix", "msg_2Lib5", NOW + 299, r#"{"type":"a"}"#),
    ];
    assert_all_accepted(recipes.iter().map(|recipe| recipe.0), svix_signed(&recipes)).await;
}

#[tokio::test]
async fn inlet_and_svix_agree_on_samples_and_forgeries() {
    let body = r#"{"type":"user.created","data":{"id":"user_1"}}"#;
    let recipes = [
        ("svix", "svix", "msg_1", NOW, body),
        ("clerk", "clerk", "msg_2", NOW, body),
        ("resend", "resend", "msg_3", NOW, body),
        ("clerk's secret", "clerk", "msg_4", NOW, body),
        ("not JSON", "svix", "msg_5", NOW, "{oops"),
    ];
    let signed: HashMap<&str, IncomingRequest> = recipes.iter().map(|r| r.0).zip(svix_signed(&recipes)).collect();
    let get = |name: &str| signed[name].clone();
    let svix = get("svix");
    let signature = svix.header("svix-signature").expect("signed").to_string();
    let renamed = ["id", "timestamp", "signature"].iter().fold(svix.clone(), |request, part| {
        let value = svix.header(&format!("svix-{part}")).expect("a header").to_string();
        let request = without_header(request, &format!("svix-{part}"));
        let name: &'static str = match *part {
            "id" => "webhook-id",
            "timestamp" => "webhook-timestamp",
            _ => "webhook-signature",
        };
        with_header(request, name, &value)
    });
    let cases = vec![
        case("hooks-svix", sample("svix", NOW), NOW, Both(Event)),
        case("hooks-clerk", sample("clerk", NOW), NOW, Both(Event)),
        case("hooks-resend", sample("resend", NOW), NOW, Both(Event)),
        case("svix, signed by the library", svix.clone(), NOW, Both(Event)),
        case("clerk, signed by the library", get("clerk"), NOW, Both(Event)),
        case("resend, signed by the library", get("resend"), NOW, Both(Event)),
        case("signed 300 s ago", svix.clone(), NOW + 300, Both(Event)),
        case("signed 301 s ago", svix.clone(), NOW + 301, Both(Unauthenticated)),
        case("signed 300 s ahead", svix.clone(), NOW - 300, Both(Event)),
        case("signed 301 s ahead", svix.clone(), NOW - 301, Both(Unauthenticated)),
        case("body changed", with_body(svix.clone(), body.replace("user_1", "user_2")), NOW, Both(Unauthenticated)),
        case("svix-id changed", with_header(svix.clone(), "svix-id", "msg_other"), NOW, Both(Unauthenticated)),
        case("clerk's secret, sent to resend", to_source(get("clerk's secret"), "resend"), NOW, Both(Unauthenticated)),
        case("no svix-signature", without_header(svix.clone(), "svix-signature"), NOW, Both(Unauthenticated)),
        case("no svix-id", without_header(svix.clone(), "svix-id"), NOW, Both(Unauthenticated)),
        case("no svix-timestamp", without_header(svix.clone(), "svix-timestamp"), NOW, Both(Unauthenticated)),
        case(
            "a v1a entry first",
            with_header(svix.clone(), "svix-signature", &format!("v1a,AAAA {signature}")),
            NOW,
            Both(Event),
        ),
        case(
            "v2 instead of v1",
            with_header(svix.clone(), "svix-signature", &signature.replace("v1,", "v2,")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "webhook-* headers instead of svix-*",
            renamed,
            NOW,
            InletStricter(
                "the svix, clerk and resend presets read the svix-* headers those senders send; the library also \
                 takes webhook-* (Standard Webhooks), which the standard-webhooks function receives",
            ),
        ),
        case("unknown source", to_source(svix.clone(), "nosuchsource"), NOW, Both(Unauthenticated)),
        case("signed, not JSON", get("not JSON"), NOW, Both(NotAnEvent)),
    ];
    agree(&SVIX, &cases).await;
}
