//! `inlet listen`: a local HTTP destination, the `stripe listen` of inlet.
//!
//! It verifies each delivery's Standard Webhooks signature (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature`) with the `whsec_` secret of a
//! setting (`INLET_LISTEN_SECRET`, a dev value in events/env.json), prints
//! it (webhook-id, provider, kind, a one-line summary) and answers 200; a
//! bad, missing or stale signature gets 401. With `--forward URL` a verified
//! delivery goes on to the team's app, headers and body unchanged, and the
//! app's status (and its `content-type` and `Retry-After`) is the answer, so
//! a 500 from the app is retried by the processor as any destination's.
//!
//! Point a destination at it (events/env.json's `INLET_DESTINATIONS`, or
//! the environment):
//!
//! ```json
//! {"name": "listen", "type": "http", "url": "http://127.0.0.1:9100/", "secret_setting": "INLET_LISTEN_SECRET"}
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use hyper::Request;
use hyper::body::Incoming;
use inlet_shared::verify::standard_webhooks::{V1, secret_key, signature_bytes};
use inlet_shared::verify::{SecretList, TimestampWindow, constant_time_eq, truncate_for_log};
use tokio::net::TcpListener;

use crate::httpd::{HttpResponse, read_body, respond};

pub const DEFAULT_PORT: u16 = 9100;
pub const DEFAULT_SECRET_SETTING: &str = "INLET_LISTEN_SECRET";
/// Larger than any Envelope a queue message can carry.
pub const MAX_BODY_BYTES: usize = 4 << 20;
/// How long the team's app may take to answer a forwarded delivery; the
/// processor's own timeout (10 s) is shorter.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// The destination document entry that points at a listener on `port`.
pub fn destination_entry(port: u16, secret_setting: &str) -> String {
    serde_json::json!({
        "name": "listen",
        "type": "http",
        "url": format!("http://127.0.0.1:{port}/"),
        "secret_setting": secret_setting,
    })
    .to_string()
}

/// What a listener checks with and where it forwards.
pub struct ListenConfig {
    keys: Vec<Vec<u8>>,
    pub forward: Option<String>,
    pub window: TimestampWindow,
}

impl ListenConfig {
    /// `secrets` is the value of `secret_setting`: one `whsec_` secret, or
    /// several separated by commas (any of them verifies). Errors name the
    /// setting, never a value.
    pub fn new(secret_setting: &str, secrets: &str, forward: Option<String>) -> Result<Self, String> {
        let list = SecretList::parse(secret_setting, secrets);
        if list.is_empty() {
            return Err(format!(
                "{secret_setting} is empty; inlet listen needs the whsec_ secret deliveries are signed with"
            ));
        }
        let keys = list
            .iter()
            .enumerate()
            .map(|(index, secret)| {
                secret_key(secret.value.expose()).map_err(|why| format!("{secret_setting}: secret {} {why}", index + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(url) = &forward
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!("--forward {url:?} is not an http:// or https:// URL"));
        }
        Ok(ListenConfig { keys, forward, window: TimestampWindow::default() })
    }

    /// Checks the Standard Webhooks headers of a delivery against `body` at
    /// `now` (Unix seconds); the answer is its webhook-id, or why not.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<String, String> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or_default();
        let (id, timestamp, signatures) =
            (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
        if id.is_empty() || timestamp.is_empty() || signatures.is_empty() {
            return Err("missing webhook-id, webhook-timestamp or webhook-signature".into());
        }
        self.window.check(timestamp, now).map_err(|_| {
            format!("webhook-timestamp {:?} is not within 5 minutes of now", truncate_for_log(timestamp))
        })?;
        let expected: Vec<[u8; 32]> = self.keys.iter().map(|key| signature_bytes(key, id, timestamp, body)).collect();
        let matches = signatures
            .split(' ')
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == V1)
            .filter_map(|(_, signature)| BASE64.decode(signature).ok())
            .any(|presented| expected.iter().any(|e| constant_time_eq(e, &presented)));
        if matches { Ok(id.to_string()) } else { Err("no v1 signature matches the secret".into()) }
    }
}

/// One request a listener answered.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The webhook-id (empty when missing).
    pub webhook_id: String,
    pub verified: bool,
    /// Why it was refused, when it was.
    pub refusal: Option<String>,
    pub provider: String,
    pub kind: String,
    pub summary: String,
    /// The status the listener answered.
    pub status: u16,
    /// `--forward`: the app's status, or why the app was not reached.
    pub forwarded: Option<Result<u16, String>>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Delivery {
    /// The line `inlet listen` prints.
    pub fn line(&self) -> String {
        if !self.verified {
            return format!(
                "✗ {} refused ({}): webhook-id {:?}",
                self.status,
                self.refusal.as_deref().unwrap_or_default(),
                self.webhook_id
            );
        }
        let mut line = format!("✓ {}  {}  {}  {}", self.webhook_id, self.provider, self.kind, self.summary);
        match &self.forwarded {
            Some(Ok(status)) => line.push_str(&format!("  → forwarded, app answered {status}")),
            Some(Err(why)) => line.push_str(&format!("  → not forwarded ({why}), answered {}", self.status)),
            None => {}
        }
        line
    }
}

/// The one-line summary of an Envelope: its message's text, its alert's
/// status and name, or nothing.
pub fn summary(envelope: &serde_json::Value) -> String {
    let text = if let Some(text) = envelope.pointer("/message/text").and_then(|v| v.as_str()) {
        text.to_string()
    } else if let Some(name) = envelope.pointer("/alert/name").and_then(|v| v.as_str()) {
        let status = envelope.pointer("/alert/status").and_then(|v| v.as_str()).unwrap_or_default();
        format!("{status} {name}").trim().to_string()
    } else {
        String::new()
    };
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(100) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Called with every request a listener answered.
pub type Report = Arc<dyn Fn(&Delivery) + Send + Sync>;

/// Serves `config` on `listener` until the task running it is aborted.
pub async fn serve(listener: TcpListener, config: Arc<ListenConfig>, report: Report) {
    crate::httpd::serve(listener, move |request: Request<Incoming>, _peer: SocketAddr| {
        let (config, report) = (config.clone(), report.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = match read_body(body, MAX_BODY_BYTES).await {
                Ok(body) => body,
                Err(_) => return respond(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", "body unreadable or too large"),
            };
            let (delivery, response) = answer(&config, parts.headers, body, now_unix()).await;
            report(&delivery);
            response
        }
    })
    .await
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// Verifies one delivery, forwards it when configured, and says what to
/// answer.
pub async fn answer(config: &ListenConfig, headers: HeaderMap, body: Bytes, now: i64) -> (Delivery, HttpResponse) {
    let mut delivery = Delivery {
        webhook_id: headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string(),
        verified: false,
        refusal: None,
        provider: String::new(),
        kind: String::new(),
        summary: String::new(),
        status: 401,
        forwarded: None,
        headers,
        body,
    };
    if let Err(why) = config.verify(&delivery.headers, &delivery.body, now) {
        delivery.refusal = Some(why);
        let response = respond(StatusCode::UNAUTHORIZED, "text/plain", "signature not verified");
        return (delivery, response);
    }
    delivery.verified = true;
    if let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(&delivery.body) {
        let field = |name: &str| envelope.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        (delivery.provider, delivery.kind) = (field("provider"), field("kind"));
        delivery.summary = summary(&envelope);
    }
    let Some(url) = config.forward.clone() else {
        delivery.status = 200;
        return (delivery, respond(StatusCode::OK, "text/plain", "verified"));
    };
    let (headers, body) = (delivery.headers.clone(), delivery.body.clone());
    let forwarded = tokio::task::spawn_blocking(move || forward(&url, &headers, &body))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    let response = match &forwarded {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = respond(status, &answer.content_type, answer.body.clone());
            if let Some(value) = answer.retry_after.as_deref().and_then(|v| http::HeaderValue::from_str(v).ok()) {
                response.headers_mut().insert(http::header::RETRY_AFTER, value);
            }
            response
        }
        // Worth another attempt: the processor retries a 502 later.
        Err(why) => respond(StatusCode::BAD_GATEWAY, "text/plain", format!("the app was not reached: {why}")),
    };
    delivery.status = response.status().as_u16();
    delivery.forwarded = Some(forwarded.map(|answer| answer.status));
    (delivery, response)
}

/// The app's answer to a forwarded delivery.
struct AppAnswer {
    status: u16,
    content_type: String,
    retry_after: Option<String>,
    body: Vec<u8>,
}

/// Headers that describe one connection, not the delivery.
const HOP_BY_HOP: &[&str] =
    &["host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"];

/// POSTs the delivery to `url` with its headers and body unchanged.
fn forward(url: &str, headers: &HeaderMap, body: &[u8]) -> Result<AppAnswer, String> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(FORWARD_TIMEOUT)).build().into();
    let mut request = agent.post(url);
    for (name, value) in headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            request = request.header(name.clone(), value.clone());
        }
    }
    let mut response = request.send(body).map_err(|e| e.to_string())?;
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (content_type, retry_after) =
        (header("content-type").unwrap_or_else(|| "text/plain".into()), header("retry-after"));
    let status = response.status().as_u16();
    let body = response.body_mut().with_config().limit(1 << 20).read_to_vec().map_err(|e| e.to_string())?;
    Ok(AppAnswer { status, content_type, retry_after, body })
}

/// A local HTTP destination: verify, print (or forward) each delivery
///
/// Listens on 127.0.0.1:PORT, verifies each delivery's Standard Webhooks signature with the whsec_ secret of a setting, prints it
/// and answers 200 (401 when the signature is bad); with --forward, passes
/// each verified delivery unchanged to URL and answers with its status.
///
/// Point a destination at it in INLET_DESTINATIONS:
/// {"name":"listen","type":"http","url":"http://127.0.0.1:PORT/","secret_setting":"INLET_LISTEN_SECRET"}
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ListenArgs {
    /// The port to listen on, on 127.0.0.1.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Pass each verified delivery on to URL (your app) and answer with its status.
    #[arg(long, value_name = "URL")]
    pub forward: Option<String>,
    /// The setting holding the whsec_ secret (events/env.json or the environment).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_SECRET_SETTING)]
    pub secret_setting: String,
}

/// Runs `inlet listen` until Ctrl-C.
pub async fn run(args: ListenArgs) -> Result<(), crate::error::CliError> {
    use crate::error::CliError;
    let ListenArgs { port, forward, secret_setting: setting } = args;
    // The setting as the functions see it: events/env.json's value, or the
    // environment's (which also overrides the file's).
    let settings = crate::settings::with_overrides()?;
    let secrets = settings.get(&setting).cloned().or_else(|| std::env::var(&setting).ok()).ok_or_else(|| {
        CliError::config(
            &setting,
            format!("no setting {setting} in events/env.json or the environment (--secret-setting names it)"),
        )
    })?;
    let config = Arc::new(ListenConfig::new(&setting, &secrets, forward.clone()).map_err(|e| {
        // A bad --forward URL is the command line's; the rest is the secret's.
        if e.contains("--forward") { CliError::usage(e) } else { CliError::config(&setting, e) }
    })?);
    let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        CliError::unavailable(format!("cannot listen on 127.0.0.1:{port}: {e} (--port chooses another)"))
    })?;
    println!("inlet listen: verifying deliveries on http://127.0.0.1:{port}/ with the secret of {setting}");
    if let Some(url) = &forward {
        println!("inlet listen: forwarding verified deliveries to {url}");
    }
    println!(
        "inlet listen: point a destination at it (INLET_DESTINATIONS in events/env.json or the environment, then \
         restart `make dev`):\n  {}",
        destination_entry(port, &setting)
    );
    let report: Report = Arc::new(|delivery| println!("{}", delivery.line()));
    tokio::select! {
        _ = serve(listener, config, report) => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_shared::verify::standard_webhooks::{lenient_secret_key, signature_header};
    use std::sync::Mutex;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const OTHER: &str = "whsec_b3RoZXItc291cmNlLXNlY3JldC1OT1QtQS1TRUNSRVQ=";
    const NOW: i64 = 1_700_000_000;
    const BODY: &str =
        r#"{"id":"lark:ev_1","provider":"lark","kind":"im.message.receive_v1","message":{"text":"hello\nthere"}}"#;

    fn signed(secret: &str, id: &str, timestamp: i64, body: &str) -> HeaderMap {
        let key = lenient_secret_key(secret).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        headers.insert("webhook-signature", signature_header(&[key], id, timestamp, body.as_bytes()).parse().unwrap());
        headers
    }

    #[tokio::test]
    async fn a_signed_delivery_is_verified_printed_and_answered_200() {
        let config = ListenConfig::new("INLET_LISTEN_SECRET", SECRET, None).unwrap();
        let (delivery, response) = answer(&config, signed(SECRET, "lark:ev_1", NOW, BODY), BODY.into(), NOW + 30).await;
        assert_eq!(response.status(), 200);
        assert!(delivery.verified);
        assert_eq!(
            (delivery.webhook_id.as_str(), delivery.provider.as_str(), delivery.kind.as_str()),
            ("lark:ev_1", "lark", "im.message.receive_v1")
        );
        assert_eq!(delivery.summary, "hello there");
        assert_eq!(delivery.line(), "✓ lark:ev_1  lark  im.message.receive_v1  hello there");
    }

    #[tokio::test]
    async fn bad_missing_or_stale_signatures_are_refused_with_401() {
        let config = ListenConfig::new("INLET_LISTEN_SECRET", &format!("{OTHER}, {SECRET}"), None).unwrap();
        let good = signed(SECRET, "lark:ev_1", NOW, BODY);
        let (_, response) = answer(&config, good.clone(), BODY.into(), NOW).await;
        assert_eq!(response.status(), 200, "either secret of a rotation verifies");
        let alone = ListenConfig::new("S", OTHER, None).unwrap();
        let mut other_id = good.clone();
        other_id.insert("webhook-id", "lark:ev_2".parse().unwrap());
        let cases: Vec<(&str, &ListenConfig, HeaderMap, String, i64)> = vec![
            ("another secret", &alone, good.clone(), BODY.into(), NOW),
            ("a changed body", &config, good.clone(), BODY.replace("hello", "HELLO"), NOW),
            ("a stale delivery", &config, good.clone(), BODY.into(), NOW + 301),
            ("no signature", &config, HeaderMap::new(), BODY.into(), NOW),
            ("another id", &config, other_id, BODY.into(), NOW),
        ];
        for (name, config, headers, body, now) in cases {
            let (delivery, response) = answer(config, headers, body.into(), now).await;
            assert_eq!(response.status(), 401, "{name}");
            assert!(!delivery.verified && delivery.refusal.is_some(), "{name}");
            assert!(delivery.line().starts_with("✗ 401 refused"), "{name}: {}", delivery.line());
        }
    }

    #[tokio::test]
    async fn forwarding_passes_headers_and_body_unchanged_and_answers_with_the_apps_status() {
        let seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app_url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let recorded = seen.clone();
        let app = tokio::spawn(crate::httpd::serve(listener, move |request: Request<Incoming>, _| {
            let recorded = recorded.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = read_body(body, 1 << 20).await.unwrap();
                let mut recorded = recorded.lock().unwrap();
                recorded.push((parts.headers, body));
                let mut response = if recorded.len() == 1 {
                    respond(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "busy")
                } else {
                    respond(StatusCode::OK, "application/json", "{\"ok\":true}")
                };
                response.headers_mut().insert("retry-after", "3".parse().unwrap());
                response
            }
        }));
        let config = ListenConfig::new("S", SECRET, Some(app_url)).unwrap();
        let headers = signed(SECRET, "lark:ev_1", NOW, BODY);
        let (first, response) = answer(&config, headers.clone(), BODY.into(), NOW).await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "3");
        assert_eq!(first.forwarded, Some(Ok(503)));
        let (second, response) = answer(&config, headers.clone(), BODY.into(), NOW).await;
        assert_eq!((response.status().as_u16(), second.forwarded.clone()), (200, Some(Ok(200))));
        {
            let seen = seen.lock().unwrap();
            for name in ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"] {
                assert_eq!(seen[1].0.get(name), headers.get(name), "{name} is forwarded unchanged");
            }
            assert_eq!(seen[1].1, BODY.as_bytes());
        }
        // A forged delivery never reaches the app.
        let (_, response) = answer(&config, signed(OTHER, "lark:ev_1", NOW, BODY), BODY.into(), NOW).await;
        assert_eq!(response.status(), 401);
        assert_eq!(seen.lock().unwrap().len(), 2);
        app.abort();
    }

    #[tokio::test]
    async fn an_app_that_is_not_there_is_a_502_worth_retrying() {
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let config = ListenConfig::new("S", SECRET, Some(format!("http://127.0.0.1:{port}/"))).unwrap();
        let (delivery, response) = answer(&config, signed(SECRET, "x:1", NOW, BODY), BODY.into(), NOW).await;
        assert_eq!(response.status(), 502);
        assert!(matches!(delivery.forwarded, Some(Err(_))), "{delivery:?}");
    }

    #[test]
    fn configuration_errors_name_the_setting_and_the_entry_is_a_valid_destination() {
        assert!(ListenConfig::new("INLET_LISTEN_SECRET", "", None).err().unwrap().contains("INLET_LISTEN_SECRET"));
        let error = ListenConfig::new("INLET_LISTEN_SECRET", "whsec_a b", None).err().unwrap();
        assert!(error.contains("INLET_LISTEN_SECRET") && !error.contains("a b"), "{error}");
        assert!(ListenConfig::new("S", SECRET, Some("ftp://x".into())).is_err());
        let document = format!("[{}]", destination_entry(9100, DEFAULT_SECRET_SETTING));
        let specs = inlet_shared::delivery::config::parse(&document).expect("a destination the processor accepts");
        assert_eq!(inlet_shared::delivery::targets::secret_settings(&specs), vec![DEFAULT_SECRET_SETTING.to_string()]);
    }
}
