//! Stripe samples, signed with the first secret of `STRIPE_WEBHOOK_SECRET`
//! at the sample's timestamp, with the body formatting Stripe uses
//! (pretty-printed JSON, two-space indent).

use inlet_shared::prelude::*;
use inlet_shared::verify::sha256_hex;

use crate::{PATH, SETTING, SIGNATURE_HEADER, StripeFunction, signature, signature_header};

/// A secret that is no longer configured: the first `v1` of the
/// rotated-secret sample, as Stripe sends while an old secret is still live.
pub const ROLLED_OUT_SECRET: &str = "whsec_rolled-out-previous-secret-NOT-A-SECRET";

/// The API version the samples' events are rendered with.
pub const API_VERSION: &str = "2024-06-20";

impl Samples for StripeFunction {
    const SAMPLE_NAMES: &'static [&'static str] =
        &["stripe-payment-succeeded", "stripe-rotated-secret", "stripe-connect-account", "stripe-thin-event"];

    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let secrets = SecretList::parse(SETTING, &env.get(SETTING)?);
        let secret = secrets.iter().next()?.value.expose().to_string();
        let (description, event) = match name {
            "stripe-payment-succeeded" => {
                ("payment_intent.succeeded", payment_succeeded(&event_id(name, unique), timestamp))
            }
            "stripe-rotated-secret" => (
                "invoice.paid, signed by a rolled-out secret and the configured one (two v1 entries, the second matches)",
                invoice_paid(&event_id(name, unique), timestamp),
            ),
            "stripe-connect-account" => (
                "charge.refunded on a connected account (Connect endpoint: `account` is the tenant), with a v0 entry",
                connect_refund(&event_id(name, unique), timestamp),
            ),
            "stripe-thin-event" => (
                "v2 thin event notification from an event destination, on a connected account (`context`): \
                 no data, the object to fetch in `related_object`",
                thin_event(
                    &thin_event_id(name, unique),
                    "v1.billing.meter.error_report_triggered",
                    timestamp,
                    Some(CONNECTED_ACCOUNT),
                    Some(("billing.meter", "/v1/billing/meters", &object_id("mtr_test", &thin_event_id(name, unique)))),
                ),
            ),
            _ => return None,
        };
        let body = serde_json::to_string_pretty(&event).ok()?;
        let header = match name {
            "stripe-rotated-secret" => signature_header(&[ROLLED_OUT_SECRET, &secret], timestamp, body.as_bytes()),
            "stripe-connect-account" => {
                // Test-mode events may carry a v0 signature; it is ignored.
                let v0 = signature("whsec_v0-test-mode-NOT-A-SECRET", &timestamp.to_string(), body.as_bytes());
                format!("{},v0={v0}", signature_header(&[&secret], timestamp, body.as_bytes()))
            }
            _ => signature_header(&[&secret], timestamp, body.as_bytes()),
        };
        Some(signed_request(name, description, body, &header))
    }
}

/// A request as Stripe posts it, with `header` as its `Stripe-Signature`.
pub fn signed_request(name: &str, description: &str, body: String, header: &str) -> SampleRequest {
    let mut request = SampleRequest::post_json(name, description, PATH, body);
    request.headers = vec![("content-type".into(), "application/json; charset=utf-8".into())];
    request
        .with_header("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
        .with_header("cache-control", "no-cache")
        .with_header(SIGNATURE_HEADER, header)
}

/// An `evt_…` id derived from `unique`: the same unique, the same event.
pub fn event_id(name: &str, unique: &str) -> String {
    format!("evt_{}", &sha256_hex(format!("{name}:{unique}").as_bytes())[..24])
}

/// A v2 event id (`evt_test_65…`, longer than a snapshot's) derived from
/// `unique`.
pub fn thin_event_id(name: &str, unique: &str) -> String {
    format!("evt_test_65{}", &sha256_hex(format!("{name}:{unique}").as_bytes())[..40])
}

/// The connected account of the Connect samples.
pub const CONNECTED_ACCOUNT: &str = "acct_1DevConnected0001";

/// A v2 thin event notification as an event destination posts it: no
/// `data`, the account (if any) in `context`, and, when given, the object
/// the event is about as `(type, collection path, id)`.
pub fn thin_event(
    id: &str,
    kind: &str,
    created: i64,
    context: Option<&str>,
    related: Option<(&str, &str, &str)>,
) -> Value {
    let created = OffsetDateTime::from_unix_timestamp(created).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    // v2 timestamps are RFC 3339 with milliseconds.
    let created = format!("{}.000Z", inlet_shared::envelope::rfc3339(created).trim_end_matches('Z'));
    let mut event = json!({
        "id": id,
        "object": crate::THIN_EVENT_OBJECT,
        "type": kind,
        "livemode": false,
        "created": created
    });
    if let Some(context) = context {
        event["context"] = json!(context);
    }
    if let Some((object_type, collection, object_id)) = related {
        event["related_object"] =
            json!({"id": object_id, "type": object_type, "url": format!("{collection}/{object_id}")});
    }
    event
}

fn object_id(prefix: &str, event_id: &str) -> String {
    format!("{prefix}_{}", &sha256_hex(format!("{prefix}:{event_id}").as_bytes())[..24])
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": format!("req_{}", &id[4..18]), "idempotency_key": format!("idem-{}", &id[4..12])},
        "type": kind
    })
}

fn payment_succeeded(id: &str, created: i64) -> Value {
    let intent = object_id("pi", id);
    event(
        id,
        "payment_intent.succeeded",
        created,
        json!({
            "id": intent,
            "object": "payment_intent",
            "amount": 2000,
            "amount_received": 2000,
            "currency": "usd",
            "customer": "cus_QaNrDevCustomer01",
            "description": "Order #1042 — café ☕",
            "latest_charge": object_id("ch", id),
            "metadata": {"order_id": "1042"},
            "status": "succeeded"
        }),
    )
}

fn invoice_paid(id: &str, created: i64) -> Value {
    event(
        id,
        "invoice.paid",
        created,
        json!({
            "id": object_id("in", id),
            "object": "invoice",
            "amount_paid": 4900,
            "currency": "eur",
            "customer": "cus_QaNrDevCustomer01",
            "subscription": "sub_1PdevSubscription0",
            "status": "paid"
        }),
    )
}

fn connect_refund(id: &str, created: i64) -> Value {
    let mut event = event(
        id,
        "charge.refunded",
        created,
        json!({
            "id": object_id("ch", id),
            "object": "charge",
            "amount": 1500,
            "amount_refunded": 1500,
            "currency": "gbp",
            "refunded": true,
            "status": "succeeded"
        }),
    );
    event["account"] = json!(CONNECTED_ACCOUNT);
    event
}
