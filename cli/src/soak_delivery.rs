//! The soak's destinations and their audit.
//!
//! The soak's stack delivers to two destinations: an HTTP destination served
//! by `inlet listen`'s own code (it verifies every signature), matching every
//! provider but one and answering 503 to the first delivery of one event in
//! twenty, and the local `inlet` bus, whose rule sends every event to a queue
//! the audit reads. After the run, every acknowledged event must
//! have reached each destination it matches, once by `webhook-id` (the
//! Envelope id) — twice only when its first attempt was in a batch whose
//! invocation failed after delivering (killed or timed out before the
//! completion write) — and no event may reach a destination it does not
//! match.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

use crate::listen::{Delivery, ListenConfig};
use crate::stack::DevStack;

pub const HTTP_DESTINATION: &str = "soak-http";
pub const BUS_DESTINATION: &str = "soak-bus";
/// The local stack's bus (`inlet dev` creates it).
pub const BUS: &str = "inlet";
/// Events of this provider do not match the HTTP destination: the audit
/// checks that none arrives there.
pub const NOT_FOR_HTTP: &str = "telegram";
const SECRET_SETTING: &str = "INLET_SOAK_DESTINATION_SECRET";
/// A dev value, not a secret: base64 of `soak-destination-NOT-A-SECRET-0123`.
const SECRET: &str = "whsec_c29hay1kZXN0aW5hdGlvbi1OT1QtQS1TRUNSRVQtMDEyMw==";
const RULE: &str = "soak-every-event";
/// The processor's backoff setting (`processor::RedeliverySchedule`) and the
/// soak's value for it, in seconds per receive.
const REDELIVERY_DELAYS_SETTING: &str = "INLET_REDELIVERY_DELAYS";
const REDELIVERY_DELAYS: &str = "2,4,8";

/// One request the HTTP destination answered.
#[derive(Clone, Debug)]
struct Arrival {
    webhook_id: String,
    verified: bool,
    /// Answered 503 on purpose (the first attempt of a chosen event).
    failed_on_purpose: bool,
    /// From `received_at` of the Envelope to its arrival.
    latency_ms: Option<f64>,
}

/// Share of events whose first HTTP delivery is answered 503, so that the
/// run also proves a retry repeats only what failed: those events reach the
/// bus once and the HTTP destination once more, after the backoff.
const FAIL_FIRST_PERCENT: u64 = 5;

/// Whether the first delivery of `webhook_id` is answered 503: a hash of the
/// id, so the choice is the same in every run.
fn fails_first(webhook_id: &str) -> bool {
    let digest = inlet_shared::verify::sha256_hex(webhook_id.as_bytes());
    u64::from_str_radix(&digest[..8], 16).unwrap_or(0) % 100 < FAIL_FIRST_PERCENT
}

fn arrival_of(delivery: &Delivery, now: time::OffsetDateTime) -> Arrival {
    let latency_ms = serde_json::from_slice::<serde_json::Value>(&delivery.body)
        .ok()
        .and_then(|envelope| envelope.get("received_at")?.as_str().map(str::to_string))
        .and_then(|at| time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339).ok())
        .map(|at| (now - at).as_seconds_f64() * 1e3);
    Arrival {
        webhook_id: delivery.webhook_id.clone(),
        verified: delivery.verified,
        failed_on_purpose: false,
        latency_ms,
    }
}

/// The HTTP destination's server and what it received.
pub struct SoakDestinations {
    port: u16,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for SoakDestinations {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What the destinations received, against what they should have.
#[derive(Clone, Debug, Default)]
pub struct DeliveryAudit {
    pub http_delivered: usize,
    /// First deliveries answered 503 on purpose (then retried).
    pub http_failed_on_purpose: usize,
    pub http_expected: usize,
    /// Events that reached a destination twice, all in a failed batch.
    pub repeated_after_failed_invocation: usize,
    pub bus_delivered: usize,
    pub bus_expected: usize,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    /// With ordering: pairs of one conversation whose order was known (the
    /// first acknowledged before the second was first sent), and those that
    /// arrived the other way round.
    pub order_pairs_checked: u64,
    pub order_violations: u64,
    pub problems: Vec<String>,
}

/// One acknowledged event, as the audit of order needs it.
#[derive(Clone, Debug)]
pub struct SentEvent {
    pub id: String,
    pub conversation: String,
    pub started: std::time::Instant,
    pub acked: Option<std::time::Instant>,
}

impl SoakDestinations {
    /// Serves the HTTP destination on a free loopback port.
    pub async fn start() -> Result<SoakDestinations, String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let config = Arc::new(ListenConfig::new(SECRET_SETTING, SECRET, None)?);
        let arrivals: Arc<Mutex<Vec<Arrival>>> = Arc::new(Mutex::new(Vec::new()));
        let handler = {
            let arrivals = arrivals.clone();
            move |request: hyper::Request<hyper::body::Incoming>, _peer: std::net::SocketAddr| {
                let (config, arrivals) = (config.clone(), arrivals.clone());
                async move {
                    let (parts, body) = request.into_parts();
                    let Ok(body) = crate::httpd::read_body(body, crate::listen::MAX_BODY_BYTES).await else {
                        return crate::httpd::respond(http::StatusCode::PAYLOAD_TOO_LARGE, "text/plain", "");
                    };
                    let now = time::OffsetDateTime::now_utc();
                    let (delivery, response) =
                        crate::listen::answer(&config, parts.headers, body, now.unix_timestamp()).await;
                    let mut arrival = arrival_of(&delivery, now);
                    let Ok(mut all) = arrivals.lock() else { return response };
                    let first = !all.iter().any(|a| a.webhook_id == arrival.webhook_id);
                    if delivery.verified && first && fails_first(&arrival.webhook_id) {
                        arrival.failed_on_purpose = true;
                        all.push(arrival);
                        return crate::httpd::respond(http::StatusCode::SERVICE_UNAVAILABLE, "text/plain", "try later");
                    }
                    all.push(arrival);
                    response
                }
            }
        };
        let server = tokio::spawn(crate::httpd::serve(listener, handler));
        Ok(SoakDestinations { port, arrivals, server })
    }

    /// The settings `inlet dev` passes to the functions: the destinations
    /// document and the HTTP destination's secret.
    pub fn stack_env(&self) -> Vec<(String, String)> {
        let document = serde_json::json!([
            {
                "name": HTTP_DESTINATION,
                "type": "http",
                "url": format!("http://127.0.0.1:{}/", self.port),
                "secret_setting": SECRET_SETTING,
                "match": {"provider": [{"anything-but": [NOT_FOR_HTTP]}]},
            },
            {"name": BUS_DESTINATION, "type": "eventbridge", "bus": BUS},
        ]);
        vec![
            (inlet_shared::delivery::config::SETTING.to_string(), document.to_string()),
            (SECRET_SETTING.to_string(), SECRET.to_string()),
            // A short backoff: an event that failed three times (a kill, a
            // live lease, a 503) would otherwise come back after 2 minutes,
            // longer than the audit waits for a queue that stopped draining.
            (REDELIVERY_DELAYS_SETTING.to_string(), REDELIVERY_DELAYS.to_string()),
        ]
    }

    /// A rule on the stack's bus that sends every inlet event to a queue of
    /// its own; its URL.
    pub async fn route_bus(&self, stack: &DevStack) -> Result<String, String> {
        let sdk = inlet_shared::aws::access::local_sdk_config(&stack.moto_endpoint());
        let (sqs, events) = (aws_sdk_sqs::Client::new(&sdk), aws_sdk_eventbridge::Client::new(&sdk));
        let queue_url = sqs
            .create_queue()
            .queue_name("soak-bus-target")
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
            .queue_url
            .ok_or("CreateQueue answered no URL")?;
        let arn = crate::pump::queue_arn(&sqs, &queue_url).await?;
        let failed = |e: String| format!("routing the bus to a queue: {e}");
        events
            .put_rule()
            .name(RULE)
            .event_bus_name(BUS)
            .event_pattern(r#"{"source": [{"prefix": "inlet."}]}"#)
            .send()
            .await
            .map_err(|e| failed(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string()))?;
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("soak-queue")
            .arn(arn)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        events
            .put_targets()
            .rule(RULE)
            .event_bus_name(BUS)
            .targets(target)
            .send()
            .await
            .map_err(|e| failed(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string()))?;
        Ok(queue_url)
    }

    /// Checks what each destination received against `expected` (every
    /// acknowledged event id); `failed_batches` are the ids of batches whose
    /// invocation failed, the only ones allowed to arrive twice.
    pub async fn audit(
        &self,
        stack: &DevStack,
        bus_queue_url: &str,
        expected: &BTreeSet<String>,
        failed_batches: &BTreeSet<String>,
    ) -> Result<DeliveryAudit, String> {
        let arrivals = self.arrivals.lock().map_err(|e| e.to_string())?.clone();
        let mut audit = DeliveryAudit::default();
        let unverified = arrivals.iter().filter(|a| !a.verified).count();
        if unverified > 0 {
            audit.problems.push(format!("{unverified} HTTP delivery(ies) did not verify"));
        }
        let mut http: BTreeMap<String, usize> = BTreeMap::new();
        for arrival in arrivals.iter().filter(|a| a.verified && !a.failed_on_purpose) {
            *http.entry(arrival.webhook_id.clone()).or_default() += 1;
        }
        audit.http_failed_on_purpose = arrivals.iter().filter(|a| a.failed_on_purpose).count();
        let mut latencies: Vec<f64> =
            arrivals.iter().filter(|a| a.verified && !a.failed_on_purpose).filter_map(|a| a.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        let at = |q: f64| latencies.get(((latencies.len().max(1) - 1) as f64 * q).round() as usize).copied();
        (audit.latency_ms_p50, audit.latency_ms_p99) = (at(0.5).unwrap_or_default(), at(0.99).unwrap_or_default());

        let bus = read_bus_queue(stack, bus_queue_url).await?;
        let http_expected: BTreeSet<&String> =
            expected.iter().filter(|id| !id.starts_with(&format!("{NOT_FOR_HTTP}:"))).collect();
        (audit.http_expected, audit.bus_expected) = (http_expected.len(), expected.len());
        (audit.http_delivered, audit.bus_delivered) = (http.len(), bus.len());
        let mut repeated = BTreeSet::new();
        for (destination, received, wanted) in [
            (HTTP_DESTINATION, &http, http_expected.iter().map(|id| id.as_str()).collect::<BTreeSet<&str>>()),
            (BUS_DESTINATION, &bus, expected.iter().map(String::as_str).collect()),
        ] {
            let missing: Vec<&str> = wanted.iter().copied().filter(|id| !received.contains_key(*id)).collect();
            if !missing.is_empty() {
                audit.problems.push(format!(
                    "{destination}: {} matching event(s) never delivered, e.g. {:?}",
                    missing.len(),
                    &missing[..missing.len().min(5)]
                ));
            }
            let stray: Vec<&String> = received.keys().filter(|id| !wanted.contains(id.as_str())).collect();
            if !stray.is_empty() {
                audit.problems.push(format!(
                    "{destination}: {} event(s) delivered that it does not match (or never acknowledged), e.g. {:?}",
                    stray.len(),
                    &stray[..stray.len().min(5)]
                ));
            }
            for (id, count) in received.iter().filter(|(_, count)| **count > 1) {
                if failed_batches.contains(id) {
                    repeated.insert(id.clone());
                } else {
                    audit
                        .problems
                        .push(format!("{destination}: {id} delivered {count} times outside any failed invocation"));
                }
            }
        }
        audit.repeated_after_failed_invocation = repeated.len();
        Ok(audit)
    }
}

impl SoakDestinations {
    /// Per-conversation order at the HTTP destination: when an event of a
    /// conversation was acknowledged before another of it was first sent,
    /// the first must have been delivered (its first successful arrival)
    /// before the second. Events sent while another of their conversation
    /// was still unacknowledged have no order to keep.
    pub fn audit_order(&self, events: &[SentEvent], audit: &mut DeliveryAudit) -> Result<(), String> {
        let arrivals = self.arrivals.lock().map_err(|e| e.to_string())?;
        let mut first_arrival: BTreeMap<&str, usize> = BTreeMap::new();
        for (position, arrival) in arrivals.iter().enumerate().filter(|(_, a)| a.verified && !a.failed_on_purpose) {
            first_arrival.entry(arrival.webhook_id.as_str()).or_insert(position);
        }
        let mut by_conversation: BTreeMap<&str, Vec<&SentEvent>> = BTreeMap::new();
        for event in events.iter().filter(|e| first_arrival.contains_key(e.id.as_str())) {
            by_conversation.entry(event.conversation.as_str()).or_default().push(event);
        }
        let mut examples = Vec::new();
        for (conversation, members) in by_conversation {
            for later in &members {
                for earlier in &members {
                    let Some(acked) = earlier.acked else { continue };
                    if acked >= later.started {
                        continue;
                    }
                    audit.order_pairs_checked += 1;
                    if first_arrival[earlier.id.as_str()] > first_arrival[later.id.as_str()] {
                        audit.order_violations += 1;
                        if examples.len() < 3 {
                            examples.push(format!("{} after {} in {conversation}", earlier.id, later.id));
                        }
                    }
                }
            }
        }
        if audit.order_violations > 0 {
            audit.problems.push(format!(
                "{} pair(s) delivered out of their conversation's order, e.g. {}",
                audit.order_violations,
                examples.join("; ")
            ));
        }
        Ok(())
    }
}

/// Every event the bus's rule put on the audit's queue, by Envelope id, with
/// how often it came.
async fn read_bus_queue(stack: &DevStack, queue_url: &str) -> Result<BTreeMap<String, usize>, String> {
    let sqs = aws_sdk_sqs::Client::new(&inlet_shared::aws::access::local_sdk_config(&stack.moto_endpoint()));
    let mut received = BTreeMap::new();
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok(received);
        }
        for message in &messages {
            let event: serde_json::Value =
                serde_json::from_str(message.body().unwrap_or_default()).map_err(|e| e.to_string())?;
            let id = event.pointer("/detail/id").and_then(|id| id.as_str()).unwrap_or_default();
            *received.entry(id.to_string()).or_default() += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn destinations_that_received(ids: &[&str]) -> SoakDestinations {
        let arrivals = ids
            .iter()
            .map(|id| Arrival {
                webhook_id: id.to_string(),
                verified: true,
                failed_on_purpose: false,
                latency_ms: None,
            })
            .collect();
        SoakDestinations { port: 0, arrivals: Arc::new(Mutex::new(arrivals)), server: tokio::spawn(async {}) }
    }

    fn event(id: &str, conversation: &str, started: Instant, acked: Instant) -> SentEvent {
        SentEvent { id: id.into(), conversation: conversation.into(), started, acked: Some(acked) }
    }

    #[tokio::test]
    async fn an_event_acknowledged_before_the_next_was_sent_must_arrive_first() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        // a1 acknowledged at 10 ms, a2 first sent at 20 ms: a1 goes first.
        // b1 and b2 overlapped (b2 sent before b1's acknowledgement): no order.
        let events = [
            event("a1", "chat-a", ms(0), ms(10)),
            event("a2", "chat-a", ms(20), ms(30)),
            event("b1", "chat-b", ms(0), ms(50)),
            event("b2", "chat-b", ms(40), ms(60)),
        ];
        let mut audit = DeliveryAudit::default();
        destinations_that_received(&["a1", "b2", "b1", "a2"]).audit_order(&events, &mut audit).unwrap();
        assert_eq!((audit.order_pairs_checked, audit.order_violations), (1, 0));
        assert!(audit.problems.is_empty());

        let mut audit = DeliveryAudit::default();
        destinations_that_received(&["a2", "a1"]).audit_order(&events, &mut audit).unwrap();
        assert_eq!((audit.order_pairs_checked, audit.order_violations), (1, 1));
        assert!(audit.problems[0].contains("a1 after a2 in chat-a"), "{:?}", audit.problems);
    }

    #[test]
    fn about_one_event_in_twenty_fails_its_first_delivery() {
        let failing = (0..2000).filter(|n| fails_first(&format!("lark:{n}"))).count();
        assert!((60..140).contains(&failing), "{failing} of 2000");
    }
}
