//! The senders, as data: one [`Preset`] each. The engine (`crate::engine`)
//! reads these fields and nothing else, so adding a sender is one entry
//! here and its test vectors in `tests/handler.rs`.
//!
//! Every preset is written from the sender's published signature
//! documentation (its `docs` URL). Where that documentation leaves a detail
//! open (a retry schedule, whether an id survives a retry, a timestamp
//! window), the entry's `notes` say so and what was chosen.

/// The MAC or comparison that proves a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha256,
    HmacSha1,
    /// ECDSA over P-256 with SHA-256; the source's secret is the sender's
    /// public key (base64 of its DER SubjectPublicKeyInfo).
    EcdsaP256Sha256,
    /// Standard Webhooks 1.0 (`v1` HMAC with a `whsec_` secret, `v1a`
    /// Ed25519 with a `whpk_` public key), read by the standard-webhooks
    /// crate's scheme code.
    StandardWebhooks,
    /// The header's whole value is the secret (constant-time compare).
    Token,
    /// `Authorization: Basic`; the secret is `user:password`.
    BasicAuth,
}

/// How a signature is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Hex, either case.
    Hex,
    /// Standard base64, padded or not.
    Base64,
    /// Not encoded: a token or Basic credentials.
    Plain,
}

/// What the configured secret is to the algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyForm {
    /// Its UTF-8 bytes.
    Text,
    /// The bytes its base64 decodes to (Teams' security token, Airtable's
    /// `macSecretBase64`).
    Base64,
    /// `whsec_…` or `whpk_…`.
    StandardWebhooks,
    /// Base64 DER SubjectPublicKeyInfo of a P-256 key.
    P256PublicKey,
    /// `user:password`.
    UserPassword,
}

/// How the value that carries the signature is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `prefix` + one encoded signature.
    Single,
    /// Several `prefix` + signature entries separated by this character
    /// (PagerDuty while a secret is rotated).
    List(char),
    /// `key=value` pairs separated by `sep`: the signed timestamp under
    /// `timestamp`, one or more signatures under `signature` (Paddle,
    /// Calendly, Mux).
    Tagged { sep: char, timestamp: &'static str, signature: &'static str },
}

/// Where the signature travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// Any of these headers; each one present is a candidate (Box sends a
    /// primary and a secondary signature, one per key).
    Headers(&'static [&'static str]),
    /// A string at this JSON pointer of the body (Mailgun): the one sender
    /// whose body must be read before it is proven.
    Json(&'static str),
}

/// A piece of the signed message, concatenated in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Lit(&'static str),
    /// The raw body.
    Body,
    /// The signed timestamp as sent (see [`Timestamp`]).
    Timestamp,
    /// The value of the preset's `message_id` header.
    MessageId,
    /// The HTTP method.
    Method,
    /// The public URL of the request (see `engine::public_url`).
    Url(UrlForm),
    /// A JSON value of the body (Mailgun's `signature.timestamp`, `.token`).
    Json(&'static str),
    /// Twilio: a form body's parameters sorted by name, each name then its
    /// value; a JSON body signs nothing here, its SHA-256 is the URL's
    /// `bodySHA256` parameter instead, which must match.
    TwilioParams,
}

/// How the URL is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlForm {
    /// As rebuilt.
    Exact,
    /// As rebuilt, or with the scheme's default port added or an explicit
    /// port removed (twilio-python's `RequestValidator` tries both).
    AnyPort,
    /// With the escapes HubSpot's v3 documentation says to decode
    /// (`%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B`).
    HubSpot,
}

/// Where a value (id, kind, timestamp) is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Header(&'static str),
    /// A string or number at this JSON pointer of the body.
    Json(&'static str),
    /// A field of a form body.
    Form(&'static str),
    /// The `timestamp` tag of a [`Layout::Tagged`] signature.
    Tag,
    /// A fixed value.
    Literal(&'static str),
}

/// How a timestamp is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Millis,
    /// RFC 3339 (Twitch, Zendesk, Box).
    Rfc3339,
}

/// A timestamp the sender signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    pub from: Field,
    pub unit: Unit,
    /// Accepted distance from the receiver's clock, either way, in
    /// seconds; `None` where the sender documents no window: then a
    /// timestamp older than the preset's dedup window, or more than 5 min
    /// ahead, is refused, so a replay is a remembered duplicate or stale.
    pub window_secs: Option<u64>,
}

/// The dedup id when no field gives one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// SHA-256 of the body: the body holds the event's own time or ids, so
    /// two real events differ and a retry (same body) is caught.
    BodyHash,
    /// SHA-256 of the signature header and the body.
    SignatureAndBody,
    /// This request's own id: the sender's notifications are identical by
    /// design (Dropbox), so none may merge.
    PerRequest,
    /// SHA-256 of this member of every event of a JSON array body, sorted
    /// (HubSpot's `eventId`): a retry of the batch counts its attempts in
    /// the body, so its hash changes, while its events' ids do not.
    EachEventId(&'static str),
}

/// What the body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    Json,
    /// A form body (kept as a JSON object of its fields) or JSON (Twilio).
    FormOrJson,
}

/// An exchange the sender makes besides events. Answered within the
/// route's deadline and never enqueued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    None,
    /// Signed `endpoint.url_validation`: answered `{plainToken,
    /// encryptedToken}` (hex HMAC-SHA256 of `plainToken` under the secret).
    ZoomUrlValidation,
    /// Signed `Twitch-Eventsub-Message-Type: webhook_callback_verification`:
    /// answered with `challenge` as text/plain. `revocation` messages are
    /// events of kind `revocation`.
    TwitchChallenge,
    /// `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`: the
    /// source's `HOOK_VERIFY_TOKENS` value must match; answered with the
    /// challenge as text/plain.
    MetaHubChallenge,
    /// Unsigned `GET ?challenge=…`: echoed as text/plain.
    DropboxChallenge,
    /// Unsigned POST with `X-Hook-Secret`: echoed (see docs/platforms/hooks.md).
    AsanaHookSecret,
    /// `GET` with `X-Okta-Verification-Challenge`, after the Authorization
    /// check: answered `{"verification": …}`.
    OktaVerification,
    /// Unsigned POST of `{"verification_token": …}` when a subscription is
    /// created: answered 200, neither logged nor enqueued.
    NotionVerification,
}

/// How a request is proven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proof {
    pub algorithm: Algorithm,
    pub location: Location,
    pub encoding: Encoding,
    /// What precedes each signature (`sha256=`, `v0=`, `HMAC `).
    pub prefix: &'static str,
    pub layout: Layout,
    /// The signed message (empty for tokens and Basic credentials).
    pub signed: &'static [Part],
    pub key: KeyForm,
}

/// One sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    /// `HOOK_SOURCES`' name of the preset, and `hooks:<name>` in
    /// `verification.scheme`.
    pub name: &'static str,
    pub title: &'static str,
    /// The sender's signature documentation.
    pub docs: &'static str,
    pub proof: Proof,
    pub timestamp: Option<Timestamp>,
    /// The header whose value [`Part::MessageId`] signs.
    pub message_id: Option<&'static str>,
    /// Where the event id is read, first found wins; `{source}:{id}` is
    /// the dedup id.
    pub event_id: &'static [Field],
    pub fallback_id: Fallback,
    /// Where `Envelope.kind` is read, first found wins (else `webhook`).
    pub kind: &'static [Field],
    pub body: Body,
    pub handshake: Handshake,
    /// The body of the acknowledgement (200); empty when `None`.
    pub ack_json: Option<&'static str>,
    /// The sender's retry horizon, in words.
    pub retries: &'static str,
    /// How long its ids are worth remembering: at least the horizon.
    pub dedup_window_secs: u64,
    /// What the documentation leaves open and what was chosen.
    pub notes: &'static str,
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

const fn hmac(
    algorithm: Algorithm,
    header: &'static [&'static str],
    encoding: Encoding,
    prefix: &'static str,
    signed: &'static [Part],
) -> Proof {
    Proof {
        algorithm,
        location: Location::Headers(header),
        encoding,
        prefix,
        layout: Layout::Single,
        signed,
        key: KeyForm::Text,
    }
}

const BODY: &[Part] = &[Part::Body];

/// The defaults most entries share; each entry names what differs.
const BASE: Preset = Preset {
    name: "",
    title: "",
    docs: "",
    proof: hmac(Algorithm::HmacSha256, &[], Encoding::Hex, "", BODY),
    timestamp: None,
    message_id: None,
    event_id: &[],
    fallback_id: Fallback::SignatureAndBody,
    kind: &[],
    body: Body::Json,
    handshake: Handshake::None,
    ack_json: None,
    retries: "",
    dedup_window_secs: DAY,
    notes: "",
};

/// Svix-delivered Standard Webhooks; Clerk and Resend send through Svix.
const SVIX: Preset = Preset {
    name: "svix",
    title: "Svix (Standard Webhooks with svix-* headers)",
    docs: "https://docs.svix.com/receiving/verifying-payloads/how-manual",
    proof: Proof {
        algorithm: Algorithm::StandardWebhooks,
        location: Location::Headers(&["svix-signature"]),
        encoding: Encoding::Base64,
        prefix: "",
        layout: Layout::Single,
        signed: &[Part::MessageId, Part::Lit("."), Part::Timestamp, Part::Lit("."), Part::Body],
        key: KeyForm::StandardWebhooks,
    },
    timestamp: Some(Timestamp { from: Field::Header("svix-timestamp"), unit: Unit::Seconds, window_secs: Some(300) }),
    message_id: Some("svix-id"),
    event_id: &[Field::Header("svix-id")],
    kind: &[Field::Json("/type")],
    retries: "~28 h (Svix: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h)",
    dedup_window_secs: 2 * DAY,
    notes: "The svix library's default tolerance is 5 minutes either way.",
    ..BASE
};

/// Every preset, by name. `clerk` and `resend` are Svix under their own names.
pub static PRESETS: &[Preset] = &[
    Preset {
        name: "shopify",
        title: "Shopify",
        docs: "https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook",
        proof: hmac(Algorithm::HmacSha256, &["x-shopify-hmac-sha256"], Encoding::Base64, "", BODY),
        event_id: &[Field::Header("x-shopify-webhook-id"), Field::Header("x-shopify-event-id")],
        kind: &[Field::Header("x-shopify-topic")],
        retries: "8 retries over 4 h (older docs: 19 over 48 h)",
        dedup_window_secs: 3 * DAY,
        notes: "X-Shopify-Webhook-Id is one delivery to one subscription and survives retries; X-Shopify-Event-Id \
                is shared by every subscription an event reaches, so it comes second. Shopify's docs have said \
                both 48 h and 4 h: the window covers 48 h.",
        ..BASE
    },
    Preset {
        name: "twilio",
        title: "Twilio",
        docs: "https://www.twilio.com/docs/usage/webhooks/webhooks-security",
        proof: hmac(
            Algorithm::HmacSha1,
            &["x-twilio-signature"],
            Encoding::Base64,
            "",
            &[Part::Url(UrlForm::AnyPort), Part::TwilioParams],
        ),
        event_id: &[Field::Header("i-twilio-idempotency-token")],
        fallback_id: Fallback::SignatureAndBody,
        kind: &[Field::Form("MessageStatus"), Field::Form("SmsStatus"), Field::Form("CallStatus")],
        body: Body::FormOrJson,
        retries: "none by default; connection overrides (#rc=) retry up to 5 times within the request",
        dedup_window_secs: DAY,
        notes: "MessageSid/CallSid are not ids of one request: every status callback of a message repeats its \
                MessageSid, so they would merge real events. Without I-Twilio-Idempotency-Token the id is the \
                SHA-256 of the signature and body. The kind is the status a callback reports.",
        ..BASE
    },
    Preset {
        name: "zoom",
        title: "Zoom",
        docs: "https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events",
        proof: hmac(
            Algorithm::HmacSha256,
            &["x-zm-signature"],
            Encoding::Hex,
            "v0=",
            &[Part::Lit("v0:"), Part::Timestamp, Part::Lit(":"), Part::Body],
        ),
        timestamp: Some(Timestamp {
            from: Field::Header("x-zm-request-timestamp"),
            unit: Unit::Seconds,
            window_secs: Some(300),
        }),
        fallback_id: Fallback::BodyHash,
        kind: &[Field::Json("/event")],
        handshake: Handshake::ZoomUrlValidation,
        retries: "3 retries (5 min, 30 min, 90 min)",
        notes: "Zoom documents no timestamp window: 5 minutes, as its sample code suggests (unsure). Zoom sends no \
                event id; the body carries event_ts and the object, so its hash is the id and a retry (new \
                timestamp, same body) is caught.",
        ..BASE
    },
    Preset {
        name: "linear",
        title: "Linear",
        docs: "https://linear.app/developers/webhooks#securing-webhooks",
        proof: hmac(Algorithm::HmacSha256, &["linear-signature"], Encoding::Hex, "", BODY),
        timestamp: Some(Timestamp {
            from: Field::Json("/webhookTimestamp"),
            unit: Unit::Millis,
            window_secs: Some(60),
        }),
        event_id: &[Field::Header("linear-delivery")],
        kind: &[Field::Header("linear-event")],
        retries: "3 retries (1 min, 1 h, 6 h)",
        notes: "webhookTimestamp (ms) is in the signed body and must be within a minute, as Linear's SDK checks. \
                Whether Linear-Delivery survives a retry is not documented (unsure).",
        ..BASE
    },
    Preset {
        name: "intercom",
        title: "Intercom",
        docs: "https://developers.intercom.com/docs/references/webhooks/webhook-models#signed-notifications",
        proof: hmac(Algorithm::HmacSha1, &["x-hub-signature"], Encoding::Hex, "sha1=", BODY),
        event_id: &[Field::Json("/id")],
        kind: &[Field::Json("/topic")],
        retries: "one retry after about a minute (unsure)",
        ..BASE
    },
    Preset {
        name: "gitlab",
        title: "GitLab",
        docs: "https://docs.gitlab.com/user/project/integrations/webhooks/#create-a-webhook",
        proof: Proof {
            algorithm: Algorithm::Token,
            location: Location::Headers(&["x-gitlab-token"]),
            encoding: Encoding::Plain,
            prefix: "",
            layout: Layout::Single,
            signed: &[],
            key: KeyForm::Text,
        },
        event_id: &[Field::Header("idempotency-key"), Field::Header("x-gitlab-event-uuid")],
        kind: &[Field::Header("x-gitlab-event")],
        retries: "none automatic; failed hooks can be resent by hand from the last 7 days' log",
        dedup_window_secs: 7 * DAY,
        notes: "Idempotency-Key (GitLab 17.4+) is one hook's delivery and survives a resend; X-Gitlab-Event-UUID is \
                shared by every hook of one event, so it comes second.",
        ..BASE
    },
    Preset {
        name: "gitea",
        title: "Gitea / Forgejo",
        docs: "https://docs.gitea.com/usage/webhooks",
        proof: hmac(Algorithm::HmacSha256, &["x-gitea-signature"], Encoding::Hex, "", BODY),
        event_id: &[Field::Header("x-gitea-delivery")],
        kind: &[Field::Header("x-gitea-event")],
        retries: "none automatic; manual redelivery",
        dedup_window_secs: 7 * DAY,
        ..BASE
    },
    Preset {
        name: "bitbucket",
        title: "Bitbucket Cloud",
        docs: "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/#Secure-webhooks",
        proof: hmac(Algorithm::HmacSha256, &["x-hub-signature"], Encoding::Hex, "sha256=", BODY),
        event_id: &[Field::Header("x-request-uuid")],
        kind: &[Field::Header("x-event-key")],
        retries: "up to 2 retries on a 5xx or timeout (unsure)",
        notes: "X-Hook-UUID names the webhook, not the event: it is never the id. Whether X-Request-UUID survives a \
                retry is not documented (unsure).",
        ..BASE
    },
    Preset {
        name: "jira",
        title: "Jira Cloud",
        docs: "https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks",
        proof: hmac(Algorithm::HmacSha256, &["x-hub-signature"], Encoding::Hex, "sha256=", BODY),
        event_id: &[Field::Header("x-atlassian-webhook-identifier")],
        kind: &[Field::Json("/webhookEvent")],
        retries: "up to 5 retries on 408/409/425/429/5xx (span unsure)",
        notes: "X-Atlassian-Webhook-Identifier is documented as the same across retries.",
        ..BASE
    },
    Preset {
        name: "sentry",
        title: "Sentry (integration platform)",
        docs: "https://docs.sentry.io/organization/integrations/integration-platform/webhooks/#verifying-the-signature",
        proof: hmac(Algorithm::HmacSha256, &["sentry-hook-signature"], Encoding::Hex, "", BODY),
        event_id: &[Field::Header("request-id")],
        kind: &[Field::Header("sentry-hook-resource")],
        retries: "not documented (unsure)",
        notes: "Sentry-Hook-Timestamp is sent but not signed: it is not checked.",
        ..BASE
    },
    Preset {
        name: "pagerduty",
        title: "PagerDuty (v3 webhooks)",
        docs: "https://developer.pagerduty.com/docs/webhooks-overview#webhook-signatures",
        proof: Proof {
            layout: Layout::List(','),
            ..hmac(Algorithm::HmacSha256, &["x-pagerduty-signature"], Encoding::Hex, "v1=", BODY)
        },
        event_id: &[Field::Json("/event/id")],
        kind: &[Field::Json("/event/event_type")],
        retries: "retried with backoff on failure (span unsure)",
        dedup_window_secs: 2 * DAY,
        notes: "One v1= signature per active secret, comma-separated; any may match.",
        ..BASE
    },
    Preset {
        name: "twitch",
        title: "Twitch EventSub",
        docs: "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message",
        proof: hmac(
            Algorithm::HmacSha256,
            &["twitch-eventsub-message-signature"],
            Encoding::Hex,
            "sha256=",
            &[Part::MessageId, Part::Timestamp, Part::Body],
        ),
        timestamp: Some(Timestamp {
            from: Field::Header("twitch-eventsub-message-timestamp"),
            unit: Unit::Rfc3339,
            window_secs: Some(600),
        }),
        message_id: Some("twitch-eventsub-message-id"),
        event_id: &[Field::Header("twitch-eventsub-message-id")],
        kind: &[Field::Json("/subscription/type")],
        handshake: Handshake::TwitchChallenge,
        retries: "retried until the subscription is revoked for failures (span unsure)",
        notes: "Twitch says to refuse messages older than 10 minutes; newer ones are refused the same distance \
                ahead.",
        ..BASE
    },
    Preset {
        name: "meta",
        title: "Meta (Facebook, Instagram, WhatsApp Graph API webhooks)",
        docs: "https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications",
        proof: hmac(Algorithm::HmacSha256, &["x-hub-signature-256"], Encoding::Hex, "sha256=", BODY),
        fallback_id: Fallback::BodyHash,
        kind: &[Field::Json("/object")],
        handshake: Handshake::MetaHubChallenge,
        retries: "retried with decreasing frequency over 36 h",
        dedup_window_secs: 2 * DAY,
        notes: "Meta sends no delivery id; entries carry their own time, so the body's hash is the id.",
        ..BASE
    },
    Preset {
        name: "line",
        title: "LINE Messaging API",
        docs: "https://developers.line.biz/en/docs/messaging-api/verify-webhook-signature/",
        proof: hmac(Algorithm::HmacSha256, &["x-line-signature"], Encoding::Base64, "", BODY),
        event_id: &[Field::Json("/events/0/webhookEventId")],
        fallback_id: Fallback::BodyHash,
        kind: &[Field::Json("/events/0/type")],
        retries: "redelivery of failed events when enabled (span unsure)",
        notes: "One request may carry several events: the first one's webhookEventId is the id (a redelivery \
                repeats it); the console's Verify button sends no event (the body's hash).",
        ..BASE
    },
    Preset {
        name: "teams",
        title: "Microsoft Teams outgoing webhook",
        docs: "https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-outgoing-webhook#2-create-a-method-to-verify-the-outgoing-webhook-hmac-token",
        proof: Proof {
            location: Location::Headers(&["authorization"]),
            encoding: Encoding::Base64,
            prefix: "HMAC ",
            key: KeyForm::Base64,
            ..hmac(Algorithm::HmacSha256, &[], Encoding::Base64, "", BODY)
        },
        event_id: &[Field::Json("/id")],
        kind: &[Field::Json("/type")],
        ack_json: Some(r#"{"type":"message","text":"Received."}"#),
        retries: "none (Teams waits 5 s for the answer)",
        notes: "The key is the base64-decoded security token Teams shows once. Teams shows the answer in the \
                channel: a one-word message.",
        ..BASE
    },
    Preset {
        name: "mailgun",
        title: "Mailgun",
        docs: "https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/#securing-webhooks",
        proof: Proof {
            location: Location::Json("/signature/signature"),
            signed: &[Part::Json("/signature/timestamp"), Part::Json("/signature/token")],
            ..hmac(Algorithm::HmacSha256, &[], Encoding::Hex, "", BODY)
        },
        timestamp: Some(Timestamp {
            from: Field::Json("/signature/timestamp"),
            unit: Unit::Seconds,
            window_secs: None,
        }),
        // Mailgun signs its timestamp and token, not the event: the token,
        // unique per signature, is the id, so a captured signature is
        // queued once (Mailgun's own advice: cache the tokens).
        event_id: &[Field::Json("/signature/token")],
        kind: &[Field::Json("/event-data/event")],
        retries: "~8 h (10 min, 10 min, 15 min, 30 min, 1 h, 2 h, 4 h)",
        notes: "The signature is in the body, so the body is read before it is proven (a body that is not JSON is \
                refused like a bad signature). Mailgun signs only its timestamp and token, not the event: the \
                token is the id, so one signature is queued once, whatever event it is sent with. Mailgun \
                documents no timestamp window: one older than the dedup window is refused.",
        ..BASE
    },
    Preset {
        name: "sendgrid",
        title: "Twilio SendGrid Event Webhook",
        docs: "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features",
        proof: Proof {
            algorithm: Algorithm::EcdsaP256Sha256,
            location: Location::Headers(&["x-twilio-email-event-webhook-signature"]),
            encoding: Encoding::Base64,
            prefix: "",
            layout: Layout::Single,
            signed: &[Part::Timestamp, Part::Body],
            key: KeyForm::P256PublicKey,
        },
        timestamp: Some(Timestamp {
            from: Field::Header("x-twilio-email-event-webhook-timestamp"),
            unit: Unit::Seconds,
            window_secs: None,
        }),
        fallback_id: Fallback::BodyHash,
        kind: &[Field::Literal("event_batch")],
        retries: "up to 24 h",
        dedup_window_secs: 2 * DAY,
        notes: "The secret is the verification key SendGrid shows (base64 DER public key). One request is a batch \
                of events: its body's hash is the id, and each event keeps its sg_event_id in the payload. No \
                timestamp window is documented.",
        ..BASE
    },
    Preset {
        name: "postmark",
        title: "Postmark",
        docs: "https://postmarkapp.com/developer/webhooks/webhooks-overview#protecting-your-webhook",
        proof: Proof {
            algorithm: Algorithm::BasicAuth,
            location: Location::Headers(&["authorization"]),
            encoding: Encoding::Plain,
            prefix: "",
            layout: Layout::Single,
            signed: &[],
            key: KeyForm::UserPassword,
        },
        fallback_id: Fallback::BodyHash,
        kind: &[Field::Json("/RecordType")],
        retries: "up to 10 retries over ~10 h (unsure)",
        notes: "Postmark's webhooks carry MessageID, shared by the delivery, open and click of one message: the \
                body's hash (which holds each event's own time) is the id instead.",
        ..BASE
    },
    Preset {
        name: "paddle",
        title: "Paddle Billing",
        docs: "https://developer.paddle.com/webhooks/signature-verification",
        proof: Proof {
            layout: Layout::Tagged { sep: ';', timestamp: "ts", signature: "h1" },
            ..hmac(
                Algorithm::HmacSha256,
                &["paddle-signature"],
                Encoding::Hex,
                "",
                &[Part::Timestamp, Part::Lit(":"), Part::Body],
            )
        },
        timestamp: Some(Timestamp { from: Field::Tag, unit: Unit::Seconds, window_secs: Some(5) }),
        event_id: &[Field::Json("/event_id")],
        kind: &[Field::Json("/event_type")],
        retries: "live: up to 60 retries over 3 days; sandbox: 3 within 15 min",
        dedup_window_secs: 4 * DAY,
        notes: "Paddle's SDKs allow 5 seconds by default; Paddle re-signs each retry.",
        ..BASE
    },
    Preset {
        name: "square",
        title: "Square",
        docs: "https://developer.squareup.com/docs/webhooks/step3validate",
        proof: hmac(
            Algorithm::HmacSha256,
            &["x-square-hmacsha256-signature"],
            Encoding::Base64,
            "",
            &[Part::Url(UrlForm::Exact), Part::Body],
        ),
        event_id: &[Field::Json("/event_id")],
        kind: &[Field::Json("/type")],
        retries: "up to 11 retries over 24 h",
        dedup_window_secs: 2 * DAY,
        notes: "The notification URL is the public URL rebuilt from the request: it must be the URL given to \
                Square exactly.",
        ..BASE
    },
    Preset {
        name: "typeform",
        title: "Typeform",
        docs: "https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
        proof: hmac(Algorithm::HmacSha256, &["typeform-signature"], Encoding::Base64, "sha256=", BODY),
        event_id: &[Field::Json("/event_id")],
        kind: &[Field::Json("/event_type")],
        retries: "retried for a few hours on failure (unsure)",
        ..BASE
    },
    Preset {
        name: "calendly",
        title: "Calendly",
        docs: "https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures",
        proof: Proof {
            layout: Layout::Tagged { sep: ',', timestamp: "t", signature: "v1" },
            ..hmac(
                Algorithm::HmacSha256,
                &["calendly-webhook-signature"],
                Encoding::Hex,
                "",
                &[Part::Timestamp, Part::Lit("."), Part::Body],
            )
        },
        timestamp: Some(Timestamp { from: Field::Tag, unit: Unit::Seconds, window_secs: Some(180) }),
        fallback_id: Fallback::BodyHash,
        kind: &[Field::Json("/event")],
        retries: "not documented (unsure)",
        notes: "3 minutes, as Calendly's example. No event id: the body (created_at, the invitee's URI) is hashed.",
        ..BASE
    },
    Preset {
        name: "vercel",
        title: "Vercel",
        docs: "https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks",
        proof: hmac(Algorithm::HmacSha1, &["x-vercel-signature"], Encoding::Hex, "", BODY),
        event_id: &[Field::Json("/id")],
        kind: &[Field::Json("/type")],
        retries: "not documented (unsure)",
        ..BASE
    },
    Preset {
        name: "hubspot",
        title: "HubSpot (signature v3)",
        docs: "https://developers.hubspot.com/docs/api/webhooks/validating-requests",
        proof: hmac(
            Algorithm::HmacSha256,
            &["x-hubspot-signature-v3"],
            Encoding::Base64,
            "",
            &[Part::Method, Part::Url(UrlForm::HubSpot), Part::Body, Part::Timestamp],
        ),
        timestamp: Some(Timestamp {
            from: Field::Header("x-hubspot-request-timestamp"),
            unit: Unit::Millis,
            window_secs: Some(300),
        }),
        fallback_id: Fallback::EachEventId("eventId"),
        kind: &[Field::Json("/0/subscriptionType")],
        retries: "up to 10 retries over 24 h",
        dedup_window_secs: 2 * DAY,
        notes: "One request is a batch of events, each with its eventId, and a retry counts its attempts in the \
                body: the id is the hash of the batch's eventIds.",
        ..BASE
    },
    Preset {
        name: "mux",
        title: "Mux",
        docs: "https://docs.mux.com/core/verify-webhook-signatures",
        proof: Proof {
            layout: Layout::Tagged { sep: ',', timestamp: "t", signature: "v1" },
            ..hmac(
                Algorithm::HmacSha256,
                &["mux-signature"],
                Encoding::Hex,
                "",
                &[Part::Timestamp, Part::Lit("."), Part::Body],
            )
        },
        timestamp: Some(Timestamp { from: Field::Tag, unit: Unit::Seconds, window_secs: Some(300) }),
        event_id: &[Field::Json("/id")],
        kind: &[Field::Json("/type")],
        retries: "up to 24 h",
        dedup_window_secs: 2 * DAY,
        notes: "5 minutes, Mux's SDK default.",
        ..BASE
    },
    Preset {
        name: "coinbase",
        title: "Coinbase Commerce",
        docs: "https://docs.cdp.coinbase.com/commerce/docs/webhooks-security",
        proof: hmac(Algorithm::HmacSha256, &["x-cc-webhook-signature"], Encoding::Hex, "", BODY),
        event_id: &[Field::Json("/event/id")],
        kind: &[Field::Json("/event/type")],
        retries: "retried with backoff for up to 3 days (unsure)",
        dedup_window_secs: 4 * DAY,
        ..BASE
    },
    Preset {
        name: "razorpay",
        title: "Razorpay",
        docs: "https://razorpay.com/docs/webhooks/validate-test/",
        proof: hmac(Algorithm::HmacSha256, &["x-razorpay-signature"], Encoding::Hex, "", BODY),
        event_id: &[Field::Header("x-razorpay-event-id")],
        kind: &[Field::Json("/event")],
        retries: "24 h with exponential backoff",
        dedup_window_secs: 2 * DAY,
        ..BASE
    },
    Preset {
        name: "zendesk",
        title: "Zendesk",
        docs: "https://developer.zendesk.com/documentation/webhooks/verifying/",
        proof: hmac(
            Algorithm::HmacSha256,
            &["x-zendesk-webhook-signature"],
            Encoding::Base64,
            "",
            &[Part::Timestamp, Part::Body],
        ),
        timestamp: Some(Timestamp {
            from: Field::Header("x-zendesk-webhook-signature-timestamp"),
            unit: Unit::Rfc3339,
            window_secs: None,
        }),
        event_id: &[Field::Header("x-zendesk-webhook-invocation-id")],
        kind: &[Field::Json("/type")],
        retries: "a few retries on 409/429/5xx (unsure)",
        notes: "No window is documented for the signed timestamp. X-Zendesk-Webhook-Id names the webhook, not the \
                event: never the id.",
        ..BASE
    },
    Preset {
        name: "box",
        title: "Box",
        docs: "https://developer.box.com/guides/webhooks/v2/signatures-v2/",
        proof: hmac(
            Algorithm::HmacSha256,
            &["box-signature-primary", "box-signature-secondary"],
            Encoding::Base64,
            "",
            &[Part::Body, Part::Timestamp],
        ),
        timestamp: Some(Timestamp {
            from: Field::Header("box-delivery-timestamp"),
            unit: Unit::Rfc3339,
            window_secs: Some(600),
        }),
        event_id: &[Field::Json("/id")],
        kind: &[Field::Json("/trigger")],
        retries: "retried on failure (span unsure)",
        notes: "List both keys as two secrets of the source: each signature header is checked against each. Box's \
                SDKs refuse a delivery older than 10 minutes.",
        ..BASE
    },
    Preset {
        name: "airtable",
        title: "Airtable",
        docs: "https://airtable.com/developers/web/api/webhooks-overview#webhook-notification-delivery",
        proof: Proof {
            key: KeyForm::Base64,
            ..hmac(Algorithm::HmacSha256, &["x-airtable-content-mac"], Encoding::Hex, "hmac-sha256=", BODY)
        },
        fallback_id: Fallback::BodyHash,
        kind: &[Field::Literal("notification")],
        retries: "not documented (unsure)",
        notes: "The secret is macSecretBase64 from the webhook's creation. A notification names the base and \
                webhook and its time: its hash is the id.",
        ..BASE
    },
    Preset {
        name: "notion",
        title: "Notion",
        docs: "https://developers.notion.com/reference/webhooks#step-3-validating-event-payloads-recommended",
        proof: hmac(Algorithm::HmacSha256, &["x-notion-signature"], Encoding::Hex, "sha256=", BODY),
        event_id: &[Field::Json("/id")],
        kind: &[Field::Json("/type")],
        handshake: Handshake::NotionVerification,
        retries: "retried with backoff (span unsure)",
        dedup_window_secs: 2 * DAY,
        notes: "The secret is the subscription's verification_token (see docs/platforms/hooks.md for how to get it).",
        ..BASE
    },
    Preset {
        name: "okta",
        title: "Okta event hooks",
        docs: "https://developer.okta.com/docs/concepts/event-hooks/#one-time-verification-request",
        proof: Proof {
            algorithm: Algorithm::Token,
            location: Location::Headers(&["authorization"]),
            encoding: Encoding::Plain,
            prefix: "",
            layout: Layout::Single,
            signed: &[],
            key: KeyForm::Text,
        },
        event_id: &[Field::Json("/eventId")],
        kind: &[Field::Json("/data/events/0/eventType"), Field::Json("/eventType")],
        handshake: Handshake::OktaVerification,
        retries: "one retry",
        notes: "The secret is the whole Authorization header value configured on the hook.",
        ..BASE
    },
    Preset {
        name: "dropbox",
        title: "Dropbox",
        docs: "https://www.dropbox.com/developers/reference/webhooks#notifications",
        proof: hmac(Algorithm::HmacSha256, &["x-dropbox-signature"], Encoding::Hex, "", BODY),
        fallback_id: Fallback::PerRequest,
        kind: &[Field::Literal("notification")],
        handshake: Handshake::DropboxChallenge,
        retries: "retried with backoff (span unsure)",
        dedup_window_secs: HOUR,
        notes: "A notification only says which accounts changed; two are byte-identical by design, so each request \
                is its own event (never merged).",
        ..BASE
    },
    Preset {
        name: "asana",
        title: "Asana",
        docs: "https://developers.asana.com/docs/webhook-security",
        proof: hmac(Algorithm::HmacSha256, &["x-hook-signature"], Encoding::Hex, "", BODY),
        fallback_id: Fallback::BodyHash,
        kind: &[Field::Literal("events")],
        handshake: Handshake::AsanaHookSecret,
        retries: "up to 24 h",
        dedup_window_secs: 2 * DAY,
        notes: "The secret is the X-Hook-Secret of the handshake (see docs/platforms/hooks.md). Events carry their \
                created_at: the body's hash is the id.",
        ..BASE
    },
    SVIX,
    Preset { name: "clerk", title: "Clerk (via Svix)", docs: "https://clerk.com/docs/webhooks/sync-data", ..SVIX },
    Preset {
        name: "resend",
        title: "Resend (via Svix)",
        docs: "https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests",
        ..SVIX
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|preset| preset.name == name)
}

/// The longest dedup window of any preset: the provider's default, since
/// the processor keeps one window per provider.
pub const fn longest_dedup_window() -> u64 {
    let mut longest = 0;
    let mut index = 0;
    while index < PRESETS.len() {
        if PRESETS[index].dedup_window_secs > longest {
            longest = PRESETS[index].dedup_window_secs;
        }
        index += 1;
    }
    longest
}

// What docs/platforms/hooks.md's preset table shows of each preset (`inlet
// gen` writes it, cli/src/generate/presets.rs): read-only renderings of the
// data above, in Markdown (code spans for what is sent as it is written).

impl Algorithm {
    /// The algorithm as the docs name it.
    pub const fn describe(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "HMAC-SHA256",
            Algorithm::HmacSha1 => "HMAC-SHA1",
            Algorithm::EcdsaP256Sha256 => "ECDSA P-256/SHA-256 (DER)",
            Algorithm::StandardWebhooks => "Standard Webhooks",
            Algorithm::Token => "token",
            Algorithm::BasicAuth => "Basic credentials",
        }
    }
}

impl Encoding {
    /// How a signature is written, as the docs say it (empty for `Plain`).
    pub const fn describe(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
            Encoding::Plain => "",
        }
    }
}

impl Unit {
    /// How a timestamp is written, as the docs say it.
    pub const fn describe(self) -> &'static str {
        match self {
            Unit::Seconds => "Unix s",
            Unit::Millis => "Unix ms",
            Unit::Rfc3339 => "RFC 3339",
        }
    }
}

impl Field {
    /// Where the value is read: `` `x-header` ``, ``body `/pointer` ``,
    /// ``form `Name` ``, or the literal.
    pub fn describe(&self) -> String {
        match self {
            Field::Header(name) => format!("`{name}`"),
            Field::Json(pointer) => format!("body `{pointer}`"),
            Field::Form(name) => format!("form `{name}`"),
            Field::Tag => "the signature's timestamp tag".to_string(),
            Field::Literal(text) => format!("`{text}`"),
        }
    }
}

impl Handshake {
    /// The exchange, as the docs name it (`—` for none).
    pub const fn describe(self) -> &'static str {
        match self {
            Handshake::None => "—",
            Handshake::ZoomUrlValidation => "`endpoint.url_validation` (signed)",
            Handshake::TwitchChallenge => "`webhook_callback_verification` (signed); `revocation` is an event",
            Handshake::MetaHubChallenge => "`GET ?hub.challenge=…` with `HOOK_VERIFY_TOKENS`",
            Handshake::DropboxChallenge => "`GET ?challenge=…` (unsigned)",
            Handshake::AsanaHookSecret => "`X-Hook-Secret` POST (unsigned)",
            Handshake::OktaVerification => "`GET` with `X-Okta-Verification-Challenge` (after the Authorization check)",
            Handshake::NotionVerification => "one-time `verification_token` POST (unsigned)",
        }
    }
}

/// A duration as the preset table writes it: `5 s`, `3 min`.
fn describe_secs(secs: u64) -> String {
    if secs >= 60 && secs.is_multiple_of(60) { format!("{} min", secs / 60) } else { format!("{secs} s") }
}

impl Preset {
    /// Where the credential travels and how its value is laid out:
    /// `` `paddle-signature` (`ts=…;h1=…`) ``, ``body `/signature/signature` ``.
    pub fn describe_header(&self) -> String {
        let proof = &self.proof;
        let names = match proof.location {
            Location::Headers(names) => names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(" / "),
            Location::Json(pointer) => return format!("body `{pointer}`"),
        };
        let format = match (proof.algorithm, proof.layout) {
            (Algorithm::BasicAuth, _) => Some("`Basic …`".to_string()),
            (_, Layout::Tagged { sep, timestamp, signature }) => Some(format!("`{timestamp}=…{sep}{signature}=…`")),
            (_, Layout::List(separator)) => Some(format!("`{}…`, `{separator}`-separated", proof.prefix)),
            (_, Layout::Single) if !proof.prefix.is_empty() => Some(format!("`{}…`", proof.prefix)),
            (_, Layout::Single) => None,
        };
        match format {
            Some(format) => format!("{names} ({format})"),
            None => names,
        }
    }

    /// The message the signature covers, as one code span:
    /// `` `v0:{x-zm-request-timestamp}:{body}` ``; empty for tokens and
    /// Basic credentials.
    pub fn describe_signed(&self) -> String {
        if self.proof.signed.is_empty() {
            return String::new();
        }
        let timestamp = match self.timestamp.map(|t| t.from) {
            Some(Field::Header(name)) => name.to_string(),
            Some(Field::Json(pointer)) => pointer.to_string(),
            Some(Field::Form(name)) => name.to_string(),
            Some(Field::Tag) => match self.proof.layout {
                Layout::Tagged { timestamp, .. } => timestamp.to_string(),
                _ => "timestamp".to_string(),
            },
            Some(Field::Literal(text)) => text.to_string(),
            None => "timestamp".to_string(),
        };
        let mut message = String::new();
        for part in self.proof.signed {
            match part {
                Part::Lit(text) => message.push_str(text),
                Part::Body => message.push_str("{body}"),
                Part::Timestamp => message.push_str(&format!("{{{timestamp}}}")),
                Part::MessageId => message.push_str(&format!("{{{}}}", self.message_id.unwrap_or("message id"))),
                Part::Method => message.push_str("{method}"),
                Part::Url(_) => message.push_str("{url}"),
                Part::Json(pointer) => message.push_str(&format!("{{{pointer}}}")),
                Part::TwilioParams => message.push_str("{form params, sorted}"),
            }
        }
        let mut text = format!("`{message}`");
        for part in self.proof.signed {
            match part {
                Part::Url(UrlForm::Exact) => text.push_str(", the URL exactly as given to the sender"),
                Part::Url(UrlForm::AnyPort) => text.push_str(", the URL with or without its port"),
                Part::Url(UrlForm::HubSpot) => text.push_str(", the URL with HubSpot's escapes decoded"),
                Part::TwilioParams => text.push_str(" (a JSON body: the URL's `bodySHA256` must be its SHA-256)"),
                _ => {}
            }
        }
        text
    }

    /// The scheme: algorithm, encoding, key and signed message.
    pub fn describe_scheme(&self) -> String {
        let proof = &self.proof;
        let key = match proof.key {
            KeyForm::Base64 => ", key: the secret base64-decoded",
            _ => "",
        };
        match proof.algorithm {
            Algorithm::Token => "the secret itself (constant-time compare)".to_string(),
            Algorithm::BasicAuth => "`user:password`, the secret (constant-time compare)".to_string(),
            Algorithm::StandardWebhooks => format!(
                "Standard Webhooks: `v1,` base64 HMAC-SHA256 (`whsec_` secret) or `v1a,` Ed25519 (`whpk_` key) of {}",
                self.describe_signed()
            ),
            Algorithm::EcdsaP256Sha256 => format!(
                "{} {} of {}; the secret is the sender's public key",
                proof.encoding.describe(),
                proof.algorithm.describe(),
                self.describe_signed()
            ),
            Algorithm::HmacSha256 | Algorithm::HmacSha1 => format!(
                "{} {} of {}{key}",
                proof.encoding.describe(),
                proof.algorithm.describe(),
                self.describe_signed()
            ),
        }
    }

    /// The signed timestamp's window, where it is read, how it is written:
    /// `5 min (`svix-timestamp`, Unix s)`; `—` without a timestamp.
    pub fn describe_window(&self) -> String {
        let Some(timestamp) = self.timestamp else { return "—".to_string() };
        let window = match timestamp.window_secs {
            Some(secs) => describe_secs(secs),
            None => "none documented".to_string(),
        };
        format!("{window} ({}, {})", timestamp.from.describe(), timestamp.unit.describe())
    }

    /// Where the dedup id comes from, first found wins, then the fallback.
    pub fn describe_dedup_id(&self) -> String {
        let mut sources: Vec<String> = self.event_id.iter().map(Field::describe).collect();
        // A token or password is never hashed into an id (engine::event_id).
        let secret_in_header = matches!(self.proof.algorithm, Algorithm::Token | Algorithm::BasicAuth);
        sources.push(match self.fallback_id {
            Fallback::SignatureAndBody if !secret_in_header => "sha256(signature, body)".to_string(),
            Fallback::SignatureAndBody | Fallback::BodyHash => "sha256(body)".to_string(),
            Fallback::PerRequest => "this request's own id (never merged)".to_string(),
            Fallback::EachEventId(member) => format!("sha256(every event's `{member}`)"),
        });
        sources.join(", else ")
    }
}
