//! The short soak (`make test`): a few hundred events across every provider
//! against a local stack of its own, 30 % redelivered, one queue outage and
//! one processor killed mid-batch, the senders held back while the queue's
//! backlog is over a low cap, every event delivered to an HTTP destination
//! and the local bus; then the audit. `make soak` runs the long
//! one and records it in SOAK.md.

use std::path::Path;

use inlet_cli::soak::{SoakConfig, run};
use inlet_cli::soak_delivery::SoakDestinations;
use inlet_cli::stack::{DevStack, StackSpec};
use inlet_shared::config::load_env_file_with_overrides;

#[tokio::test]
async fn short_soak_loses_nothing_and_processes_every_acknowledged_event_once() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let settings = load_env_file_with_overrides(&root.join("events/env.json")).unwrap();
    let destinations = SoakDestinations::start().await.unwrap();
    let mut spec = StackSpec::on_free_ports(&root).unwrap();
    spec.env.extend(destinations.stack_env());
    let mut stack = DevStack::start(spec).await.unwrap();
    let config = SoakConfig::short();
    let report = run(&stack, &settings, &config, &destinations).await.unwrap_or_else(|e| panic!("soak: {e}"));
    println!("{}", report.summary());

    assert_eq!(report.events, config.events);
    assert_eq!(report.acknowledged, report.events, "every event was acknowledged in the end");
    assert!(report.redeliveries > 0, "some events were delivered twice");
    assert_eq!(report.outages.len(), 1, "the queue went away once");
    assert!(report.status_503 > 0, "and the receivers said so with 503");
    assert_eq!(report.kills.len(), 1, "the processor was killed once, mid-batch");
    assert!(report.held_back > std::time::Duration::ZERO, "the backlog reached the cap and the senders waited");
    // Past the cap: the events already started (8 senders, each with a
    // redelivery and the alert notifications' two messages), plus a poll's
    // lag.
    let cap = config.max_backlog.expect("the short soak caps its backlog");
    assert!(report.deepest_backlog <= cap + 60, "backlog {}", report.deepest_backlog);
    assert!(report.failed_invocations >= 1, "and its batch failed");
    assert_eq!(report.lost, 0, "acknowledged means processed");
    assert_eq!(report.processed, report.ids);
    assert_eq!(report.in_progress, 0);
    assert_eq!(report.dlq, 0);
    assert_eq!(
        report.processed_twice,
        report.processed_twice_after_failed_invocation + report.processed_twice_after_failed_delivery,
        "the lock was taken twice only for events whose first attempt died holding it, or whose destination failed"
    );
    // Delivery: every acknowledged event reached each destination it
    // matches, once by webhook-id (twice only after a failed invocation),
    // and none reached a destination it does not match.
    let delivery = &report.delivery;
    assert_eq!(delivery.bus_delivered, report.ids, "every event id on the bus");
    assert!(delivery.http_expected > 0 && delivery.http_expected < report.ids, "one provider does not match HTTP");
    assert_eq!(delivery.http_delivered, delivery.http_expected, "every matching event over HTTP, no other");
    assert!(delivery.http_failed_on_purpose > 0, "some first deliveries failed, and were retried alone");
    assert!(report.passed(), "{}", report.summary());

    stack.stop().await.unwrap();
    assert!(stack.leftovers().is_empty(), "{:?}", stack.leftovers());
    stack.remove_state_dir();
}

/// The same faults on FIFO queues (`INLET_ORDERING=per-conversation`): with
/// a queue outage, a processor killed mid-batch and one first HTTP delivery
/// in twenty answered 503, every conversation still arrives at the HTTP
/// destination in its order, and nothing is lost or delivered twice.
#[tokio::test]
async fn short_ordered_soak_keeps_each_conversation_in_order_through_faults() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let settings = load_env_file_with_overrides(&root.join("events/env.json")).unwrap();
    let destinations = SoakDestinations::start().await.unwrap();
    let mut spec = StackSpec::on_free_ports(&root).unwrap();
    spec.env.extend(destinations.stack_env());
    spec.env.push(("INLET_ORDERING".into(), "per-conversation".into()));
    let mut stack = DevStack::start(spec).await.unwrap();
    assert_eq!(stack.status().await.unwrap().ordering, "per-conversation");
    let config = SoakConfig { events: 200, ordering: true, ..SoakConfig::short() };
    let report = run(&stack, &settings, &config, &destinations).await.unwrap_or_else(|e| panic!("soak: {e}"));
    println!("{}", report.summary());

    assert_eq!(report.acknowledged, report.events);
    assert_eq!(report.kills.len(), 1);
    assert_eq!((report.lost, report.in_progress, report.dlq), (0, 0, 0));
    let delivery = &report.delivery;
    assert_eq!(delivery.http_delivered, delivery.http_expected);
    assert_eq!(delivery.bus_delivered, report.ids);
    assert!(delivery.order_pairs_checked > 100, "conversations had events whose order was known");
    assert_eq!(delivery.order_violations, 0);
    assert!(report.passed(), "{}", report.summary());

    stack.stop().await.unwrap();
    assert!(stack.leftovers().is_empty(), "{:?}", stack.leftovers());
    stack.remove_state_dir();
}
