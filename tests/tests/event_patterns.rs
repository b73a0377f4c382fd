//! A destination's `match` (shared/src/delivery/pattern.rs) against moto's
//! EventBridge on a corpus of patterns and Envelopes: every pattern becomes a
//! rule with its own SQS target on a fresh bus, every Envelope is put on the
//! bus as inlet's EventBridge destination puts it (`Source` =
//! `inlet.<provider>`, `DetailType` = `kind`, `Detail` = the Envelope), and
//! what reached each queue is moto's answer for every (pattern, Envelope)
//! pair. moto's server does not implement TestEventPattern, hence the rules.
//!
//! inlet must give moto's answer for each pair, except the pairs listed in
//! [`MOTO_DEVIATIONS`], where moto departs from EventBridge's documented
//! behaviour (and from aws/event-ruler, its reference implementation) and
//! inlet gives EventBridge's answer.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use inlet_shared::delivery::pattern::Pattern;
use inlet_shared::envelope::{AlertView, Envelope, MessageView, Verification};
use inlet_testkit::moto::{aws_endpoint, create_queue, receive, unique};
use serde_json::{Value, json};

fn envelope(provider: &str, event_id: &str, kind: &str, scheme: &str, payload: Value) -> Envelope {
    let received = time::macros::datetime!(2024-05-01 10:00:00 UTC);
    Envelope::new(provider, event_id, kind, received, Verification { scheme: scheme.into(), matched: None }, payload)
}

fn message(chat_id: &str, chat_type: Option<&str>, sender: &str, text: Option<&str>) -> MessageView {
    MessageView {
        chat_id: Some(chat_id.into()),
        chat_type: chat_type.map(Into::into),
        sender_id: Some(sender.into()),
        message_id: None,
        text: text.map(Into::into),
        reply_handle: Some(json!({"chat_id": chat_id})),
    }
}

fn labels(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// Envelopes shaped as the receivers build them: chat messages with a
/// `message` view, alerts with an `alert` view, and raw provider payloads.
fn envelopes() -> Vec<(&'static str, Value)> {
    let mut lark_group = envelope(
        "lark",
        "ev-group-1",
        "im.message.receive_v1",
        "lark-token",
        json!({"schema": "2.0",
               "header": {"event_id": "ev-group-1", "event_type": "im.message.receive_v1", "tenant_key": "t1"},
               "event": {"message": {"chat_type": "group", "message_type": "text",
                                      "mentions": [{"key": "@_user_1", "name": "inlet", "id": {"open_id": "ou_bot"}},
                                                   {"key": "@_user_2", "name": "Ann"}]}}}),
    );
    lark_group.tenant = Some("cli_a1b2".into());
    lark_group.message = Some(message("oc_team42", Some("group"), "ou_7", Some("Deploy NOW please")));

    let mut lark_p2p = envelope(
        "lark",
        "ev-p2p-2",
        "im.message.receive_v1",
        "lark-signature",
        json!({"schema": "2.0",
               "header": {"event_id": "ev-p2p-2", "event_type": "im.message.receive_v1"},
               "event": {"message": {"chat_type": "p2p", "message_type": "text", "mentions": []}}}),
    );
    lark_p2p.tenant = Some("cli_a1b2".into());
    lark_p2p.message = Some(message("oc_dm9", Some("p2p"), "ou_8", Some("/help")));

    let mut telegram = envelope(
        "telegram",
        "bot123:10001",
        "message",
        "secret-token",
        json!({"update_id": 10001,
               "message": {"message_id": 55, "date": 1714557600, "text": "/deploy prod",
                           "chat": {"id": -100123, "type": "supergroup", "title": "Ops"},
                           "entities": [{"type": "bot_command", "offset": 0, "length": 7}]}}),
    );
    telegram.tenant = Some("bot123".into());
    telegram.message = Some(message("-100123", Some("supergroup"), "42", Some("/deploy prod")));

    let mut slack = envelope(
        "slack",
        "Ev0123",
        "event_callback",
        "slack-signature",
        json!({"team_id": "T0123", "event_id": "Ev0123", "is_ext_shared_channel": false,
               "event": {"type": "app_mention", "channel": "C042", "text": "<@U0BOT> ship it"}}),
    );
    slack.tenant = Some("T0123".into());
    slack.message = Some(message("C042", None, "U1", Some("<@U0BOT> ship it")));

    let mut am_firing = envelope(
        "alertmanager",
        "fp1:firing:2024-05-01T09:58:00Z",
        "alert",
        "bearer",
        json!({"version": "4", "status": "firing", "receiver": "inlet", "truncatedAlerts": 0,
               "alerts": [{"status": "firing", "labels": {"alertname": "HighCPU", "severity": "critical"}},
                          {"status": "resolved", "labels": {"alertname": "DiskFull", "severity": "warning"}}],
               "value": 95.5}),
    );
    am_firing.alert = Some(AlertView {
        name: "HighCPU".into(),
        status: "firing".into(),
        severity: Some("critical".into()),
        labels: labels(json!({"alertname": "HighCPU", "team": "infra", "env": "prod-eu"})),
        annotations: labels(json!({"summary": "CPU above 90%"})),
        summary: Some("CPU above 90%".into()),
        fingerprint: Some("fp1".into()),
        starts_at: Some("2024-05-01T09:58:00Z".into()),
        ..AlertView::default()
    });

    let mut am_resolved = envelope(
        "alertmanager",
        "fp2:resolved:2024-05-01T08:00:00Z",
        "alert",
        "bearer",
        json!({"version": "4", "status": "resolved", "receiver": "inlet", "truncatedAlerts": 2,
               "alerts": [{"status": "resolved", "labels": {"alertname": "QueueDepth", "severity": "warning"}}],
               "value": 12}),
    );
    am_resolved.alert = Some(AlertView {
        name: "QueueDepth".into(),
        status: "resolved".into(),
        severity: Some("warning".into()),
        labels: labels(json!({"alertname": "QueueDepth", "team": "payments", "env": "staging"})),
        fingerprint: Some("fp2".into()),
        starts_at: Some("2024-05-01T08:00:00Z".into()),
        ends_at: Some("2024-05-01T09:00:00Z".into()),
        ..AlertView::default()
    });

    let mut grafana = envelope(
        "grafana",
        "rule7:alerting",
        "alert",
        "hmac",
        json!({"state": "alerting", "ruleId": 7, "orgId": 1, "evalMatches": [], "value": null, "title": "Latency"}),
    );
    grafana.alert = Some(AlertView { name: "Latency".into(), status: "firing".into(), ..AlertView::default() });

    let mut github = envelope(
        "github",
        "8f5c0a00-guid",
        "push",
        "hmac-sha256",
        json!({"ref": "refs/heads/main", "forced": false, "size": 2,
               "repository": {"full_name": "acme/inlet", "stargazers_count": 1200, "private": true},
               "commits": [{"id": "a1", "message": "fix: retry budget"}, {"id": "b2", "message": "feat: destinations"}]}),
    );
    github.tenant = Some("acme".into());

    let stripe = envelope(
        "stripe",
        "evt_1PAbc",
        "invoice.paid",
        "stripe-signature",
        json!({"id": "evt_1PAbc", "api_version": "2024-04-10", "livemode": true, "pending_webhooks": 1,
               "data": {"object": {"object": "invoice", "amount_paid": 2000, "currency": "usd"}}}),
    );

    let mut discord = envelope(
        "discord",
        "1234567890",
        "application_command",
        "ed25519",
        json!({"type": 2, "guild_id": "8", "data": {"name": "deploy", "options": [{"name": "env", "value": "prod"}]}}),
    );
    discord.message = Some(message("99887766", None, "5544", None));

    [
        ("lark_group", lark_group),
        ("lark_p2p", lark_p2p),
        ("telegram", telegram),
        ("slack", slack),
        ("am_firing", am_firing),
        ("am_resolved", am_resolved),
        ("grafana", grafana),
        ("github", github),
        ("stripe", stripe),
        ("discord", discord),
    ]
    .into_iter()
    .map(|(name, envelope)| (name, serde_json::to_value(envelope).expect("an Envelope encodes")))
    .collect()
}

/// Patterns over the Envelope (a destination's `match`; on the bus, the
/// rule's pattern is `{"detail": <this>}`), every operator at least once.
fn patterns() -> Vec<(&'static str, Value)> {
    vec![
        ("exact_provider", json!({"provider": ["lark"]})),
        ("exact_values_ored", json!({"provider": ["slack", "telegram"]})),
        ("exact_fields_anded", json!({"provider": ["lark"], "message": {"chat_type": ["group"]}})),
        ("exact_string_not_number", json!({"message": {"chat_id": ["-100123"]}})),
        ("exact_negative_number", json!({"payload": {"message": {"chat": {"id": [-100123]}}}})),
        ("exact_integer", json!({"payload": {"truncatedAlerts": [0]}})),
        ("exact_float", json!({"payload": {"value": [95.5]}})),
        ("exact_true", json!({"payload": {"livemode": [true]}})),
        ("exact_false", json!({"payload": {"is_ext_shared_channel": [false]}})),
        ("exact_null", json!({"payload": {"value": [null]}})),
        ("exact_one_vs_true", json!({"payload": {"livemode": [1]}})),
        ("nested_labels", json!({"alert": {"labels": {"team": ["infra", "payments"]}}})),
        ("array_of_objects_entities", json!({"payload": {"message": {"entities": {"type": ["bot_command"]}}}})),
        ("array_of_objects_commits", json!({"payload": {"commits": {"message": [{"prefix": "feat"}]}}})),
        ("array_of_objects_alerts", json!({"payload": {"alerts": {"labels": {"severity": ["warning"]}}}})),
        ("prefix", json!({"kind": [{"prefix": "im."}]})),
        // Slack's text has "ship" inside, not at the start.
        ("prefix_not_infix", json!({"message": {"text": [{"prefix": "ship"}, {"prefix": "/help"}]}})),
        ("prefix_ignore_case", json!({"message": {"text": [{"prefix": {"equals-ignore-case": "deploy"}}]}})),
        ("suffix", json!({"kind": [{"suffix": ".paid"}]})),
        ("suffix_ignore_case", json!({"payload": {"ref": [{"suffix": {"equals-ignore-case": "/MAIN"}}]}})),
        ("equals_ignore_case", json!({"alert": {"status": [{"equals-ignore-case": "FIRING"}]}})),
        ("wildcard", json!({"payload": {"ref": [{"wildcard": "refs/*/main"}]}})),
        ("anything_but_string", json!({"provider": [{"anything-but": "lark"}]})),
        ("anything_but_list", json!({"alert": {"severity": [{"anything-but": ["critical", "page"]}]}})),
        ("anything_but_number", json!({"payload": {"truncatedAlerts": [{"anything-but": 0}]}})),
        ("anything_but_prefix", json!({"message": {"text": [{"anything-but": {"prefix": "/"}}]}})),
        ("anything_but_suffix", json!({"kind": [{"anything-but": {"suffix": "_v1"}}]})),
        (
            "anything_but_ignore_case",
            json!({"alert": {"status": [{"anything-but": {"equals-ignore-case": "RESOLVED"}}]}}),
        ),
        ("exists_true", json!({"message": {"chat_id": [{"exists": true}]}})),
        ("exists_false", json!({"tenant": [{"exists": false}]})),
        ("exists_false_under_absent_parent", json!({"alert": {"severity": [{"exists": false}]}})),
        ("exists_true_on_null", json!({"payload": {"value": [{"exists": true}]}})),
        ("exists_true_on_object", json!({"alert": {"labels": [{"exists": true}]}})),
        ("exists_true_on_empty_array", json!({"payload": {"evalMatches": [{"exists": true}]}})),
        ("numeric_gt", json!({"payload": {"value": [{"numeric": [">", 50]}]}})),
        (
            "numeric_range",
            json!({"payload": {"data": {"object": {"amount_paid": [{"numeric": [">=", 1000, "<", 5000]}]}}}}),
        ),
        ("numeric_eq", json!({"payload": {"truncatedAlerts": [{"numeric": ["=", 2]}]}})),
        ("numeric_le", json!({"payload": {"repository": {"stargazers_count": [{"numeric": ["<=", 1200]}]}}})),
        ("numeric_lt_negative", json!({"payload": {"message": {"chat": {"id": [{"numeric": ["<", 0]}]}}}})),
        ("numeric_open_range", json!({"payload": {"value": [{"numeric": [">", 10, "<=", 12]}]}})),
        ("numeric_on_boolean", json!({"payload": {"forced": [{"numeric": ["<", 1]}]}})),
        ("or_top_level", json!({"$or": [{"alert": {"severity": ["critical"]}}, {"message": {"chat_type": ["p2p"]}}]})),
        (
            "or_nested_with_sibling",
            json!({"provider": ["alertmanager"],
                   "alert": {"$or": [{"status": ["resolved"]}, {"labels": {"env": [{"prefix": "prod"}]}}]}}),
        ),
        (
            "or_mixed_operators",
            json!({"$or": [{"payload": {"livemode": [true]}},
                           {"payload": {"size": [{"numeric": [">", 1]}]}},
                           {"kind": [{"suffix": "command"}]}]}),
        ),
        (
            "combined",
            json!({"provider": ["lark", "slack"],
                   "message": {"text": [{"anything-but": {"prefix": "/"}}], "chat_id": [{"prefix": "oc_"}]}}),
        ),
    ]
}

/// Pairs where moto's answer is not EventBridge's: (pattern, Envelope,
/// EventBridge's answer, why). inlet gives EventBridge's answer.
const MOTO_DEVIATIONS: &[(&str, &str, bool, &str)] = &[
    // EventBridge: "If the value in the event is an array, the event pattern
    // matches if ..." any element matches, objects inside arrays included
    // (event-ruler flattens them with array consistency). moto's
    // EventPattern._flatten_dict does not descend into lists, so a field
    // inside an array of objects is never found.
    ("array_of_objects_entities", "telegram", true, "moto does not look inside arrays of objects"),
    ("array_of_objects_commits", "github", true, "moto does not look inside arrays of objects"),
    ("array_of_objects_alerts", "am_firing", true, "moto does not look inside arrays of objects"),
    ("array_of_objects_alerts", "am_resolved", true, "moto does not look inside arrays of objects"),
    // "Comparison operators only work on leaf nodes": an empty object or an
    // empty array has no leaf, so the field does not exist for EventBridge
    // (event-ruler's flattened event has no such field). moto keeps `{}` and
    // `[]` as values, so `exists: true` holds there.
    ("exists_true_on_object", "grafana", false, "moto counts an empty object as a value"),
    ("exists_true_on_empty_array", "grafana", false, "moto counts an empty array as a value"),
    // Types are strict in EventBridge (event-ruler compares JSON tokens: the
    // literal `true` is not the number 1, and numeric ranges take numbers
    // only). moto compares with Python's ==, where True == 1 and False == 0,
    // and its numeric check accepts bool as a subclass of int.
    ("exact_one_vs_true", "stripe", false, "moto: Python True == 1"),
    ("numeric_on_boolean", "github", false, "moto: bool is an int in Python"),
];

/// Patterns no Envelope of the corpus matches in EventBridge: they are
/// here for the moto deviations above.
const ONLY_TO_SHOW_A_DEVIATION: &[&str] =
    &["exact_one_vs_true", "numeric_on_boolean", "exists_true_on_object", "exists_true_on_empty_array"];

struct Moto {
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
}

impl Moto {
    fn new() -> Self {
        let sdk = inlet_shared::aws::access::local_sdk_config(&aws_endpoint());
        Moto { events: aws_sdk_eventbridge::Client::new(&sdk), sqs: aws_sdk_sqs::Client::new(&sdk) }
    }

    /// One queue per pattern, behind a rule `{"detail": pattern}` on `bus`.
    async fn rule_with_queue(&self, bus: &str, name: &str, pattern: &Value) -> String {
        let queue_url = create_queue(&self.sqs, &unique("pattern"), &[]).await;
        let arn = inlet_cli::pump::queue_arn(&self.sqs, &queue_url).await.expect("queue arn");
        self.events
            .put_rule()
            .name(name)
            .event_bus_name(bus)
            .event_pattern(json!({"detail": pattern}).to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto refused the rule {name}: {e:?}"));
        self.events
            .put_targets()
            .rule(name)
            .event_bus_name(bus)
            .targets(Target::builder().id("queue").arn(arn).build().expect("target"))
            .send()
            .await
            .expect("put targets");
        queue_url
    }

    /// The Envelope ids that reached the queue.
    async fn delivered(&self, queue_url: &str) -> BTreeSet<String> {
        let events = receive(&self.sqs, queue_url, 0).await.into_iter().map(|message| {
            let event: Value = serde_json::from_str(message.body().unwrap_or_default()).expect("event JSON");
            event["detail"]["id"].as_str().expect("an Envelope id").to_string()
        });
        events.collect()
    }
}

/// The event EventBridge builds from inlet's PutEvents entry.
fn as_eventbridge_event(envelope: &Value) -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": envelope["kind"],
        "source": format!("inlet.{}", envelope["provider"].as_str().unwrap_or_default()),
        "account": "123456789012",
        "time": "2024-05-01T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": envelope,
    })
}

#[tokio::test]
async fn inlet_matches_as_moto_eventbridge_does_except_its_known_deviations() {
    let moto = Moto::new();
    let bus = unique("inlet-bus");
    moto.events.create_event_bus().name(&bus).send().await.expect("create bus");

    let patterns = patterns();
    let envelopes = envelopes();
    let mut queues = Vec::new();
    for (name, pattern) in &patterns {
        queues.push(moto.rule_with_queue(&bus, name, pattern).await);
    }
    for chunk in envelopes.chunks(10) {
        let entries = chunk.iter().map(|(_, envelope)| {
            PutEventsRequestEntry::builder()
                .event_bus_name(&bus)
                .source(format!("inlet.{}", envelope["provider"].as_str().expect("provider")))
                .detail_type(envelope["kind"].as_str().expect("kind"))
                .detail(envelope.to_string())
                .build()
        });
        let answer = moto.events.put_events().set_entries(Some(entries.collect())).send().await.expect("put events");
        assert_eq!(answer.failed_entry_count, 0, "{answer:?}");
    }

    let deviations: BTreeMap<(&str, &str), (bool, &str)> =
        MOTO_DEVIATIONS.iter().map(|(p, e, answer, why)| ((*p, *e), (*answer, *why))).collect();
    let mut seen_deviations = BTreeSet::new();
    let mut disagreements = Vec::new();
    let mut pairs = 0;
    for ((pattern_name, pattern), queue_url) in patterns.iter().zip(&queues) {
        let matched_by_moto = moto.delivered(queue_url).await;
        let parsed = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern_name}: {e}"));
        let on_bus = Pattern::parse(&json!({"detail": pattern})).expect("the rule's pattern parses");
        let (mut matched, mut unmatched) = (0, 0);
        for (envelope_name, envelope) in &envelopes {
            pairs += 1;
            let inlet = parsed.matches(envelope);
            assert_eq!(
                inlet,
                on_bus.matches(&as_eventbridge_event(envelope)),
                "{pattern_name} × {envelope_name}: the destination's match and the bus rule disagree"
            );
            if inlet {
                matched += 1
            } else {
                unmatched += 1
            }
            let moto_answer = matched_by_moto.contains(envelope["id"].as_str().expect("id"));
            match deviations.get(&(*pattern_name, *envelope_name)) {
                Some((eventbridge, why)) => {
                    seen_deviations.insert((*pattern_name, *envelope_name));
                    assert_eq!(inlet, *eventbridge, "{pattern_name} × {envelope_name}: EventBridge says {eventbridge}");
                    assert_ne!(
                        moto_answer, *eventbridge,
                        "{pattern_name} × {envelope_name}: moto now agrees with EventBridge ({why}); drop the deviation"
                    );
                }
                None if inlet != moto_answer => {
                    disagreements.push(format!("{pattern_name} × {envelope_name}: inlet {inlet}, moto {moto_answer}"))
                }
                None => {}
            }
        }
        assert!(
            (matched > 0 || ONLY_TO_SHOW_A_DEVIATION.contains(pattern_name)) && unmatched > 0,
            "{pattern_name} must match some Envelopes and not others ({matched} matched, {unmatched} not)"
        );
    }
    assert!(
        disagreements.is_empty(),
        "inlet and moto disagree on {} pairs:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert_eq!(seen_deviations.len(), MOTO_DEVIATIONS.len(), "every listed deviation names a pair of the corpus");
    assert!(pairs >= 40, "corpus of {pairs} pairs");
    eprintln!("{pairs} (pattern, Envelope) pairs, {} of them known moto deviations", MOTO_DEVIATIONS.len());
}

/// Patterns EventBridge refuses, refused by inlet too, saying where; moto's
/// own validation is looser (it accepts unknown operators, for one), so
/// these are checked against EventBridge's documented rules, not moto.
#[test]
fn malformed_patterns_are_refused_with_their_place() {
    for (pattern, place) in [
        (json!({"alert": {"status": "firing"}}), "alert.status"),
        (json!({"alert": {"status": []}}), "alert.status"),
        (json!({"kind": [{"prefx": "im."}]}), "kind[0]"),
        (json!({"payload": {"value": [{"numeric": ["<", 5, ">", 1]}]}}), "payload.value[0].numeric[2]"),
        (json!({"provider": [{"anything-but": ["lark", 1]}]}), "provider[0].anything-but"),
        (json!({"$or": [{"provider": ["lark"]}]}), "$or"),
    ] {
        let error = Pattern::parse(&pattern).expect_err("refused");
        assert!(error.contains(place), "{pattern}: {error}");
    }
}
