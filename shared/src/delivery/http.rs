//! The HTTP destination: a POST of the Envelope to the team's endpoint,
//! signed with Standard Webhooks 1.0, so any of the specification's
//! libraries (Python `standardwebhooks`, Svix's, the team's own ten lines)
//! verifies it.
//!
//! ```text
//! POST <url>
//! content-type: application/json
//! webhook-id: <Envelope id>            the same on every retry: the receiver's dedup key
//! webhook-timestamp: <unix seconds>    when this attempt was signed
//! webhook-signature: v1,<base64>[ v1,<base64>]   one per secret (two while rotating)
//!
//! <the Envelope, the bytes the queue carried>
//! ```
//!
//! What the answer means (docs/reference/destinations.md; as Standard Webhooks senders retry): 2xx is
//! delivered; 408, 429 (with its `Retry-After`), 5xx, a transport error or
//! no answer within the timeout are worth another attempt; any other status
//! (410 Gone included) is the endpoint refusing this event for good.
//!
//! A 2xx whose body is a JSON object with a `reply` field asks inlet to
//! answer the event's conversation (docs/reference/replies.md): the reply is
//! handed back with the delivery, and the processor queues it.
//!
//! One connector serves every request (and every HTTP destination that
//! shares it), so connections to the endpoint are reused across events and
//! batches.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use aws_smithy_types::body::SdkBody;
use futures::StreamExt;

use super::{Delivered, Delivery, DeliveryError, Destination, Outgoing};
use crate::aws::outbound::{CallError, call, parse_retry_after, standard_webhook};
use crate::aws::tls::TlsRoots;
use crate::config::EnvSource;
use crate::error::ConfigError;
pub use crate::verify::standard_webhooks::KEY_BYTES;
use crate::verify::standard_webhooks::SigningKeys;

/// How long one request may take, connection and answer included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many events of a batch are in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// How much of an answer's body is read: enough for a reply with a card.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Where "now" comes from when a request is signed.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A signed-HTTP destination.
pub struct HttpDestination {
    name: String,
    url: String,
    keys: SigningKeys,
    connector: SharedHttpConnector,
    timeout: Duration,
    concurrency: usize,
    clock: Clock,
}

impl fmt::Debug for HttpDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpDestination")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("keys", &self.keys.count())
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl HttpDestination {
    /// A destination that signs with each secret of `secrets` (the value
    /// of its `secret_setting`: one `whsec_` secret, or two separated by a
    /// comma while the receiver rotates), sending through `connector`.
    /// `url` is as `delivery::config` validated it. The error names
    /// `secret_setting` and which of its secrets is unusable, never a value.
    pub fn new(
        name: &str,
        url: &str,
        secret_setting: &str,
        secrets: &str,
        connector: SharedHttpConnector,
    ) -> Result<Self, ConfigError> {
        let keys = SigningKeys::parse(secret_setting, secrets, &format!("destination {name:?}"))?;
        // Checked once here, so a request can always be built from it.
        url.parse::<http::Uri>()
            .map_err(|error| ConfigError::new(name, format!("url is not a URL an HTTP client accepts: {error}")))?;
        Ok(HttpDestination {
            name: name.to_string(),
            url: url.to_string(),
            keys,
            connector,
            timeout: DEFAULT_TIMEOUT,
            concurrency: DEFAULT_CONCURRENCY,
            clock: Arc::new(SystemTime::now),
        })
    }

    /// [`HttpDestination::new`] with the secrets read from `env` (where
    /// secret settings land after init resolved them from a store).
    pub fn from_env(
        name: &str,
        url: &str,
        secret_setting: &str,
        env: &dyn EnvSource,
        connector: SharedHttpConnector,
    ) -> Result<Self, ConfigError> {
        let secrets = env.get(secret_setting).ok_or_else(|| {
            ConfigError::new(secret_setting, format!("is required: destination {name:?} signs with it"))
        })?;
        Self::new(name, url, secret_setting, &secrets, connector)
    }

    /// The connector to build once and share between HTTP destinations.
    /// Teams' endpoints are not AWS's: their certificates come from any
    /// public authority, so `roots` is usually [`TlsRoots::System`], not
    /// the Amazon-only roots the AWS clients use.
    pub fn connector(roots: &TlsRoots) -> SharedHttpConnector {
        crate::aws::outbound::connector(roots)
    }

    /// The time one request may take, from connecting to its answer's
    /// status and headers.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many events of a batch are sent at once (at least one).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Where `webhook-timestamp` comes from (tests pin it).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The request for one event, signed now.
    pub fn request(&self, event: &Outgoing<'_>) -> Result<http::Request<SdkBody>, DeliveryError> {
        standard_webhook(&self.url, &self.keys, &event.envelope.id, (self.clock)(), event.body.as_bytes())
            // Only the id can be at fault (the URL was checked when built,
            // the other values are ASCII): say so without the signature.
            .map_err(|_| DeliveryError::permanent("the Envelope id cannot be sent as a webhook-id header"))
    }

    async fn deliver_one(&self, event: &Outgoing<'_>) -> Delivery {
        let request = self.request(event)?;
        let answer = match call(&self.connector, request, self.timeout, MAX_ANSWER_BYTES).await {
            Ok(answer) => answer,
            Err(CallError::Timeout(timeout)) => return Err(no_answer(timeout)),
            Err(CallError::NotSent(reason)) => return Err(DeliveryError::transient(format!("not sent: {reason}"))),
            Err(CallError::Build(reason)) => {
                return Err(DeliveryError::permanent(format!("cannot build the request: {reason}")));
            }
        };
        let retry_after = answer.headers.get("retry-after").and_then(|v| v.to_str().ok());
        classify(answer.status, retry_after, (self.clock)())?;
        let reply = reply_of(&answer.body);
        if reply.is_none() && mentions_a_reply(&answer.body) {
            // Delivered all the same: the endpoint took the event.
            tracing::error!(
                id = %event.envelope.id,
                destination = %self.name,
                bytes = answer.body.len(),
                limit = MAX_ANSWER_BYTES,
                "REPLY REFUSED: the answer mentions a reply but is not a JSON object within the limit (cut short or malformed)"
            );
        }
        Ok(Delivered { reply })
    }
}

/// Whether an answer that gave no reply still names one: a body cut at
/// the read limit or malformed JSON, whose reply would otherwise vanish
/// without a word.
fn mentions_a_reply(body: &[u8]) -> bool {
    body.windows(b"\"reply\"".len()).any(|window| window == b"\"reply\"")
        && serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body).is_err()
}

/// The `reply` of a 2xx answer's JSON object, when it has one. Anything
/// else (an empty body, text, JSON without `reply`) is a plain delivery.
pub fn reply_of(body: &[u8]) -> Option<serde_json::Value> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    let mut answer: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).ok()?;
    answer.remove("reply").filter(|reply| !reply.is_null())
}

#[async_trait]
impl Destination for HttpDestination {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, events: &[Outgoing<'_>]) -> Vec<Delivery> {
        // The futures are made first, so the stream holds no closure (whose
        // lifetimes the async trait's Send bound cannot name).
        let sends: Vec<_> = events.iter().map(|event| self.deliver_one(event)).collect();
        futures::stream::iter(sends).buffered(self.concurrency).collect().await
    }
}

fn no_answer(timeout: Duration) -> DeliveryError {
    DeliveryError::transient(format!("no answer within {} ms", timeout.as_millis()))
}

/// What an answer's status means for this event: 2xx delivered; 408, 429
/// and 5xx worth another attempt (after `Retry-After` when the endpoint
/// said, in seconds or as an HTTP date, unbounded: the caller clamps it to what the
/// queue can wait); anything else refused for good.
pub fn classify(status: u16, retry_after: Option<&str>, now: SystemTime) -> Result<(), DeliveryError> {
    let reason = || match http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()) {
        Some(text) => format!("answered {status} {text}"),
        None => format!("answered {status}"),
    };
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => {
            Err(DeliveryError::transient_after(retry_after.and_then(|value| parse_retry_after(value, now)), reason()))
        }
        _ => Err(DeliveryError::permanent(reason())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Retry;
    use crate::envelope::{Envelope, Verification};
    use crate::verify::standard_webhooks::{secret_key, sign};
    use std::time::UNIX_EPOCH;
    use time::OffsetDateTime;

    const VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const VECTOR_TIMESTAMP: u64 = 1_649_367_553;
    const VECTOR_BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
    const VECTOR_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
    /// Another 32-byte key, for rotation.
    const NEXT_SECRET: &str = "whsec_bmV4dC1zZWNyZXQtMzItYnl0ZXMtbG9uZy4uLi4=";

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn destination(secrets: &str) -> HttpDestination {
        HttpDestination::new(
            "app",
            "https://app.example.com/hooks",
            "APP_SECRET",
            secrets,
            HttpDestination::connector(&TlsRoots::System),
        )
        .expect("valid")
        .with_clock(Arc::new(|| at(VECTOR_TIMESTAMP)))
    }

    fn envelope(id: &str) -> Envelope {
        let mut envelope = Envelope::new(
            "test",
            "1",
            "message",
            OffsetDateTime::UNIX_EPOCH,
            Verification { scheme: "test".into(), matched: None },
            serde_json::json!({}),
        );
        envelope.id = id.to_string();
        envelope
    }

    fn header<'a>(request: &'a http::Request<SdkBody>, name: &str) -> &'a str {
        request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    #[test]
    fn requests_are_signed_as_the_specifications_test_vector() {
        let envelope = envelope(VECTOR_ID);
        let request = destination(VECTOR_SECRET).request(&Outgoing { envelope: &envelope, body: VECTOR_BODY }).unwrap();
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri(), "https://app.example.com/hooks");
        assert_eq!(header(&request, "content-type"), "application/json");
        assert_eq!(header(&request, "webhook-id"), VECTOR_ID);
        assert_eq!(header(&request, "webhook-timestamp"), "1649367553");
        assert_eq!(header(&request, "webhook-signature"), VECTOR_SIGNATURE);
        assert_eq!(request.body().bytes(), Some(VECTOR_BODY.as_bytes()));
    }

    #[test]
    fn two_secrets_while_rotating_give_two_signatures() {
        let envelope = envelope(VECTOR_ID);
        let destination = destination(&format!("{VECTOR_SECRET}, {NEXT_SECRET}"));
        let request = destination.request(&Outgoing { envelope: &envelope, body: VECTOR_BODY }).unwrap();
        let next = sign(&secret_key(NEXT_SECRET).unwrap(), VECTOR_ID, VECTOR_TIMESTAMP as i64, VECTOR_BODY.as_bytes());
        assert_eq!(header(&request, "webhook-signature"), format!("{VECTOR_SIGNATURE} {next}"));
    }

    #[test]
    fn the_timestamp_is_the_clocks_and_the_id_the_envelopes() {
        let envelope = envelope("lark:ev_1");
        let destination =
            destination(VECTOR_SECRET).with_clock(Arc::new(|| at(1_700_000_000) + Duration::from_millis(999)));
        let request = destination.request(&Outgoing { envelope: &envelope, body: "{}" }).unwrap();
        assert_eq!(header(&request, "webhook-timestamp"), "1700000000");
        assert_eq!(header(&request, "webhook-id"), "lark:ev_1");
        let bad = self::envelope("lark:ev\n1");
        let error = destination.request(&Outgoing { envelope: &bad, body: "{}" }).unwrap_err();
        assert!(error.is_permanent());
        assert!(!error.reason.contains("v1,"));
    }

    #[test]
    fn secrets_are_whsec_keys_of_24_to_64_bytes_and_errors_never_show_them() {
        let build = |secrets: &str| {
            HttpDestination::new(
                "app",
                "https://a.example/",
                "APP_SECRET",
                secrets,
                HttpDestination::connector(&TlsRoots::System),
            )
        };
        assert!(build(VECTOR_SECRET).is_ok());
        assert!(build(VECTOR_SECRET.trim_start_matches("whsec_")).is_ok(), "the prefix is optional, as in the library");
        assert!(build(&"A".repeat(86)).is_ok(), "64 bytes, unpadded");
        for (bad, why) in [
            ("", "is empty"),
            (" , ", "is empty"),
            ("whsec_c2hvcnQ=", "secret 1 of destination \"app\" is a key of 5 bytes"),
            (
                &format!("{VECTOR_SECRET},whsec_{}", "A".repeat(88)),
                "secret 2 of destination \"app\" is a key of 66 bytes",
            ),
            ("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7o!", "outside base64"),
            ("whpk_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "outside base64"),
        ] {
            let error = build(bad).unwrap_err();
            assert_eq!(error.name, "APP_SECRET");
            assert!(error.reason.contains(why), "{bad}: {error}");
            assert!(!error.to_string().contains("C2FVsBQ") && !error.to_string().contains("c2hvcnQ"), "{error}");
        }
        let env = std::collections::HashMap::from([("APP_SECRET", VECTOR_SECRET)]);
        let connector = HttpDestination::connector(&TlsRoots::System);
        assert!(HttpDestination::from_env("app", "https://a.example/", "APP_SECRET", &env, connector.clone()).is_ok());
        let error = HttpDestination::from_env("app", "https://a.example/", "OTHER", &env, connector).unwrap_err();
        assert_eq!(error.to_string(), "setting OTHER: is required: destination \"app\" signs with it");
        assert!(!format!("{:?}", destination(VECTOR_SECRET)).contains("C2FV"), "Debug shows no key");
    }

    #[test]
    fn statuses_are_delivered_retried_or_refused() {
        let now = at(1_700_000_000);
        for ok in [200, 201, 202, 204, 299] {
            assert_eq!(classify(ok, None, now), Ok(()), "{ok}");
        }
        for transient in [408, 429, 500, 502, 503, 504, 599] {
            let error = classify(transient, None, now).unwrap_err();
            assert_eq!(error.retry, Retry::Later { after: None }, "{transient}");
            assert!(error.reason.starts_with(&format!("answered {transient}")), "{}", error.reason);
        }
        for permanent in [100, 301, 304, 400, 401, 403, 404, 409, 410, 413, 422, 451, 600, 999] {
            assert_eq!(classify(permanent, None, now).unwrap_err().retry, Retry::Never, "{permanent}");
        }
        assert_eq!(classify(410, None, now).unwrap_err().reason, "answered 410 Gone");
    }

    #[test]
    fn retry_after_is_honoured_in_seconds_or_as_a_date() {
        let now = at(1_700_000_000);
        let after = |status, value| classify(status, Some(value), now).unwrap_err().retry;
        assert_eq!(after(429, "7"), Retry::Later { after: Some(Duration::from_secs(7)) });
        assert_eq!(after(503, " 120 "), Retry::Later { after: Some(Duration::from_secs(120)) });
        assert_eq!(after(408, "0"), Retry::Later { after: Some(Duration::ZERO) });
        // 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT.
        assert_eq!(after(429, "Tue, 14 Nov 2023 22:13:50 GMT"), Retry::Later { after: Some(Duration::from_secs(30)) });
        assert_eq!(after(429, "Tue, 14 Nov 2023 22:00:00 GMT"), Retry::Later { after: Some(Duration::ZERO) }, "passed");
        for unreadable in ["-1", "1.5", "soon", "", "Tuesday, 14-Nov-23 22:13:50 GMT"] {
            assert_eq!(after(429, unreadable), Retry::Later { after: None }, "{unreadable:?}");
        }
        assert_eq!(after(429, "99999999999999999999999"), Retry::Later { after: Some(Duration::from_secs(u64::MAX)) });
        assert_eq!(classify(410, Some("7"), now).unwrap_err().retry, Retry::Never, "a 410 stays permanent");
    }

    #[tokio::test]
    async fn answers_are_read_up_to_the_limit() {
        use crate::aws::outbound::read_at_most;
        let body = SdkBody::from(vec![b'x'; MAX_ANSWER_BYTES + 10]);
        assert_eq!(read_at_most(body, MAX_ANSWER_BYTES).await.len(), MAX_ANSWER_BYTES);
        assert_eq!(read_at_most(SdkBody::from("ok"), MAX_ANSWER_BYTES).await, b"ok");
    }

    #[test]
    fn an_answer_that_names_a_reply_it_does_not_hold_is_noticed() {
        assert!(mentions_a_reply(br#"{"reply": {"text": "cut he"#), "cut at the read limit");
        assert!(mentions_a_reply(br#"{"reply": {"text": 'single quotes'}}"#), "not JSON");
        assert!(!mentions_a_reply(br#"{"reply": null}"#), "no reply, said plainly");
        assert!(!mentions_a_reply(br#"{"ok": true}"#));
    }

    #[test]
    fn a_reply_is_the_reply_field_of_a_json_object_answer_and_anything_else_is_none() {
        assert_eq!(reply_of(br#" {"reply": {"text": "pong"}, "other": 1}"#), Some(serde_json::json!({"text": "pong"})));
        for body in [&b""[..], b"ok", b"[1]", br#"{"reply": null}"#, br#"{"text": "no reply field"}"#, b"{broken"] {
            assert_eq!(reply_of(body), None, "{}", String::from_utf8_lossy(body));
        }
    }
}
