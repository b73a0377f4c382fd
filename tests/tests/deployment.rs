//! What template.yaml deploys around the functions: secret settings from a
//! store with exactly the permissions each function needs, log retention,
//! per-route throttling, alarms on the metrics the functions emit, and the
//! delivery side: the stack's own bus as the default destination, FIFO
//! queues for per-conversation order, and IAM for exactly the buses, queues
//! and secrets named; and the reply function, its queue and credentials.
//!
//! The template is parsed as YAML (CloudFormation's short tags included) and
//! its intrinsic functions are compared in a compact rendering: `!Ref X`,
//! `!If [Cond, "", !Ref X]`, `{Name: Provider, Value: lark}`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use inlet_cli::providers::PROVIDERS;
use inlet_shared::aws::secrets::{PREFIX_SETTING, SOURCE_SETTING, SecretsSource};
use inlet_shared::aws::tls::{self, TlsRoots};
use inlet_shared::delivery::config::{self as destinations, DestinationKind};
use serde_norway::{Mapping, Value};

/// The metrics the functions emit (embedded metric format), as
/// shared/src/metrics.rs defines them: the contract the alarms rely on
/// (checked against the lines it renders below).
const RECEIVER_METRICS: &[&str] =
    &["Accepted", "Refused", "QueueFailures", "AckLatency", "AckDeadlineUsed", "EnqueueLatency"];
const PROCESSOR_METRICS: &[&str] = &["Processed", "Duplicates", "Failed", "RefusalsRecorded", "EventAge", "BatchSize"];
/// The processor's delivery metrics, one line per destination, under
/// [Destination] and under no dimension (the totals the alarms watch).
const DELIVERY_METRICS: &[&str] = &["Delivered", "DeliveryFailed", "DeliveryRefused", "DeliveryLatency"];
/// The reply function's batch line, under [Function] = replier.
const REPLIER_METRICS: &[&str] = &["RepliesSent", "Duplicates", "ReplyFailed", "ReplyRefused", "BatchSize"];
/// The receivers' dimension sets are [Provider], [Provider, Route] and
/// [Provider, Class]; the processor's is [Function] = processor.
const RECEIVER_DIMENSIONS: &[&str] = &["Provider", "Route", "Class"];

/// Every value CloudWatch Logs accepts as RetentionInDays.
const LOG_RETENTION_DAYS: &[u64] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

const METRICS_NAMESPACE: &str = r#"!Sub inlet/${AWS::StackName}"#;
/// The secret setting the processor's http destinations can be given by the
/// template (the `DestinationSecret` parameter); with a store, also
/// `INLET_DESTINATION_SECRET_<x>`.
const DESTINATION_SECRET: &str = "INLET_DESTINATION_SECRET";
const ORDERING_SETTING: &str = "INLET_ORDERING";
const SECRETS_PREFIX: &str = r#"!If [HasSecretsPrefix, !Ref SecretsPrefix, !Sub /inlet/${AWS::StackName}/]"#;

fn template() -> Value {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"));
    let text = std::fs::read_to_string(path).expect("template.yaml");
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

/// A compact, comparable rendering of a template value.
fn show(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.is_empty() => r#""""#.into(),
        Value::String(s) => s.clone(),
        Value::Sequence(items) => format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", ")),
        Value::Mapping(map) => {
            format!(
                "{{{}}}",
                map.iter().map(|(k, v)| format!("{}: {}", show(k), show(v))).collect::<Vec<_>>().join(", ")
            )
        }
        Value::Tagged(tagged) => {
            format!("!{} {}", tagged.tag.to_string().trim_start_matches('!'), show(&tagged.value))
        }
    }
}

fn mapping<'a>(value: &'a Value, what: &str) -> &'a Mapping {
    value.as_mapping().unwrap_or_else(|| panic!("{what} is not a mapping"))
}

fn entries<'a>(value: &'a Value, what: &str) -> impl Iterator<Item = (&'a str, &'a Value)> {
    mapping(value, what).iter().map(|(k, v)| (k.as_str().expect("string key"), v))
}

/// Logical id → resource, for resources of `kind`.
fn resources_of<'a>(template: &'a Value, kind: &str) -> BTreeMap<&'a str, &'a Value> {
    entries(&template["Resources"], "Resources").filter(|(_, r)| r["Type"].as_str() == Some(kind)).collect()
}

/// The functions that are not receivers: they consume queues.
const QUEUE_FUNCTIONS: &[&str] = &["ProcessorFunction", "ReplyFunction"];

/// Provider name (its binary) → the logical id of its function.
fn receivers(template: &Value) -> BTreeMap<String, String> {
    resources_of(template, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(id, _)| !QUEUE_FUNCTIONS.contains(id))
        .map(|(id, f)| {
            let binary = f["Metadata"]["BuildProperties"]["Binary"].as_str().expect("Binary");
            (binary.to_string(), id.to_string())
        })
        .collect()
}

fn function<'a>(template: &'a Value, provider: &str) -> &'a Value {
    let id = receivers(template).get(provider).cloned().unwrap_or_else(|| panic!("no function for {provider}"));
    &template["Resources"][id.as_str()]
}

fn no_echo_parameters(template: &Value) -> BTreeSet<String> {
    entries(&template["Parameters"], "Parameters")
        .filter(|(_, p)| p["NoEcho"].as_bool() == Some(true))
        .map(|(name, _)| name.to_string())
        .collect()
}

#[test]
fn every_function_reads_the_secrets_source_prefix_and_metrics_namespace_from_globals() {
    let template = template();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(show(&globals[SOURCE_SETTING]), "!Ref SecretsSource");
    assert_eq!(show(&globals[PREFIX_SETTING]), SECRETS_PREFIX);
    assert_eq!(show(&globals["INLET_METRICS_NAMESPACE"]), METRICS_NAMESPACE);
    assert_eq!(show(&globals[ORDERING_SETTING]), "!Ref Ordering");
    let mut functions = receivers(&template);
    functions.insert("processor".into(), "ProcessorFunction".into());
    functions.insert("replier".into(), "ReplyFunction".into());
    for (function, id) in functions {
        let own = &template["Resources"][id.as_str()]["Properties"]["Environment"]["Variables"];
        for setting in [SOURCE_SETTING, PREFIX_SETTING, "INLET_METRICS_NAMESPACE", ORDERING_SETTING] {
            assert!(own.get(setting).is_none(), "{function}: {setting} must come from Globals, not be overridden");
        }
    }
    let allowed: Vec<String> =
        template["Parameters"]["SecretsSource"]["AllowedValues"].as_sequence().unwrap().iter().map(show).collect();
    let sources = [SecretsSource::Env, SecretsSource::Ssm, SecretsSource::SecretsManager];
    assert_eq!(allowed, sources.map(|s| s.setting_value().to_string()), "SecretsSource's AllowedValues");
    assert_eq!(show(&template["Parameters"]["SecretsSource"]["Default"]), "env");
}

#[test]
fn every_function_takes_its_tls_roots_from_the_parameter_whose_values_the_functions_accept() {
    let template = template();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(show(&globals[tls::SETTING]), "!Ref TlsRoots");
    for (provider, id) in receivers(&template) {
        let own = &template["Resources"][id.as_str()]["Properties"]["Environment"]["Variables"];
        assert!(own.get(tls::SETTING).is_none(), "{provider}: {} must come from Globals", tls::SETTING);
    }
    let parameter = &template["Parameters"]["TlsRoots"];
    let text = |value: &Value| value.as_str().map(str::to_string).unwrap_or_else(|| show(value));
    let default = text(&parameter["Default"]);
    let allowed: Vec<String> = parameter["AllowedValues"].as_sequence().unwrap().iter().map(text).collect();
    assert!(allowed.contains(&default), "the default {default:?} is one of {allowed:?}");
    // Every value the stack may pass starts a function; the default is the
    // functions' own choice per region, not a fixed one.
    let unset = std::collections::HashMap::<&str, &str>::new();
    for region in ["eu-west-1", "cn-north-1"] {
        for value in &allowed {
            let env = std::collections::HashMap::from([(tls::SETTING, value.as_str())]);
            let chosen = TlsRoots::from_env(&env, region);
            assert!(chosen.is_ok(), "TlsRoots={value:?} in {region}: {chosen:?}");
        }
        let env = std::collections::HashMap::from([(tls::SETTING, default.as_str())]);
        assert_eq!(TlsRoots::from_env(&env, region).unwrap(), TlsRoots::from_env(&unset, region).unwrap(), "{region}");
    }
    assert_eq!(TlsRoots::from_env(&unset, "eu-west-1").unwrap(), TlsRoots::Amazon);
    assert_eq!(TlsRoots::from_env(&unset, "cn-north-1").unwrap(), TlsRoots::System);
}

#[test]
fn every_secret_setting_is_a_no_echo_parameter_passed_empty_when_a_store_is_chosen() {
    let template = template();
    let hidden = no_echo_parameters(&template);
    let mut used = BTreeSet::new();
    // Each receiver's provider secrets, and the processor's destination secret.
    let mut functions: Vec<(&str, &Value, &[&str])> = PROVIDERS
        .iter()
        .map(|provider| (provider.name, function(&template, provider.name), provider.secret_settings))
        .collect();
    functions.push(("processor", &template["Resources"]["ProcessorFunction"], &[DESTINATION_SECRET]));
    functions.push(("replier", &template["Resources"]["ReplyFunction"], inlet_shared::reply::SECRET_SETTINGS));
    for (name, function, secret_settings) in functions {
        let variables = &function["Properties"]["Environment"]["Variables"];
        for setting in secret_settings {
            let value = show(&variables[*setting]);
            let parameter = value
                .strip_prefix(r#"!If [UseSecretsStore, "", !Ref "#)
                .and_then(|rest| rest.strip_suffix(']'))
                .unwrap_or_else(|| panic!("{name}: {setting} is {value}, not blanked when a store is chosen"));
            assert!(hidden.contains(parameter), "{name}: parameter {parameter} of {setting} must be NoEcho");
            used.insert(parameter.to_string());
        }
        // No other variable of the function carries a NoEcho parameter as is.
        for (variable, value) in entries(variables, "Variables") {
            if !secret_settings.contains(&variable) {
                let value = show(value);
                assert!(
                    !hidden.iter().any(|p| value.contains(&format!("!Ref {p}"))),
                    "{name}: {variable} = {value} is a secret not listed as a secret setting"
                );
            }
        }
    }
    assert_eq!(used, hidden, "every NoEcho parameter is some function's secret setting");
}

#[test]
fn a_provider_with_secrets_in_a_store_is_deployed_when_store_providers_names_it() {
    let template = template();
    let conditions = &template["Conditions"];
    for provider in PROVIDERS.iter().filter(|p| !p.secret_settings.is_empty()) {
        let id = receivers(&template)[provider.name].clone();
        let logical = id.strip_suffix("Function").unwrap();
        let in_store = show(&conditions[format!("{logical}InStore").as_str()]);
        assert!(in_store.contains("!Condition UseSecretsStore"), "{}: {in_store}", provider.name);
        assert!(in_store.contains(&format!(",{},", provider.name)), "{}: {in_store}", provider.name);
        let deployed = function(&template, provider.name)["Condition"].as_str().unwrap();
        let has = show(&conditions[deployed]);
        assert!(has.contains(&format!("!Condition {logical}InStore")), "{deployed}: {has}");
        // Credentials from the parameters count only while they are in force.
        assert!(has.contains("!Condition UseEnvSecrets"), "{deployed}: {has}");
    }
}

/// The statements of `function`'s policy that applies under `condition`.
fn conditional_statements(function: &Value, condition: &str) -> Vec<Value> {
    let policies = function["Properties"]["Policies"].as_sequence().expect("Policies");
    let found: Vec<&Value> = policies
        .iter()
        .filter_map(|p| match p {
            Value::Tagged(t) if t.tag == "If" => Some(&t.value),
            _ => None,
        })
        .filter(|args| args[0].as_str() == Some(condition))
        .collect();
    assert!(found.len() <= 1, "{condition}: one policy at most");
    found
        .first()
        .map(|args| {
            assert_eq!(show(&args[2]), "!Ref AWS::NoValue", "{condition}: nothing otherwise");
            args[1]["Statement"].as_sequence().expect("Statement").clone()
        })
        .unwrap_or_default()
}

/// The resources of the statement allowing `action`, rendered.
fn resources_for(statements: &[Value], action: &str) -> Vec<String> {
    let statement = statements
        .iter()
        .find(|s| show(&s["Action"]) == action)
        .unwrap_or_else(|| panic!("no statement allows {action}"));
    assert_eq!(show(&statement["Effect"]), "Allow");
    match &statement["Resource"] {
        Value::Sequence(items) => items.iter().map(show).collect(),
        one => vec![show(one)],
    }
}

#[test]
fn each_function_may_read_exactly_its_own_secrets_and_only_from_the_chosen_store() {
    let template = template();
    for provider in PROVIDERS {
        let function = function(&template, provider.name);
        let ssm = conditional_statements(function, "UseSsmSecrets");
        let secrets_manager = conditional_statements(function, "UseSecretsManagerSecrets");
        if provider.secret_settings.is_empty() {
            assert!(ssm.is_empty() && secrets_manager.is_empty(), "{} has no secrets to read", provider.name);
            continue;
        }
        let arn = |service: &str, name: &str| {
            format!(
                "!Sub [arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{name}, {{Prefix: {SECRETS_PREFIX}}}]"
            )
        };
        let parameters: Vec<String> =
            provider.secret_settings.iter().map(|s| arn("ssm", &format!("parameter${{Prefix}}{s}"))).collect();
        assert_eq!(resources_for(&ssm, "ssm:GetParameters"), parameters, "{}", provider.name);
        assert_eq!(
            resources_for(&ssm, "kms:Decrypt"),
            ["!Sub arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"],
            "{}",
            provider.name
        );
        let kms = ssm.iter().find(|s| show(&s["Action"]) == "kms:Decrypt").unwrap();
        assert_eq!(
            show(&kms["Condition"]),
            "{StringEquals: {kms:ViaService: !Sub ssm.${AWS::Region}.amazonaws.com}}",
            "{}: the key only through SSM",
            provider.name
        );
        assert_eq!(ssm.len(), 2, "{}: nothing else under ssm", provider.name);

        let secrets: Vec<String> = provider
            .secret_settings
            .iter()
            .map(|s| arn("secretsmanager", &format!("secret:${{Prefix}}{s}-??????")))
            .collect();
        assert_eq!(resources_for(&secrets_manager, "secretsmanager:GetSecretValue"), secrets, "{}", provider.name);
        // BatchGetSecretValue has no resource-level permissions; it returns
        // only what GetSecretValue allows.
        assert_eq!(resources_for(&secrets_manager, "secretsmanager:BatchGetSecretValue"), ["*"]);
        assert_eq!(secrets_manager.len(), 2, "{}: nothing else under secretsmanager", provider.name);
    }
}

#[test]
fn every_function_logs_to_a_group_kept_for_the_retention_parameter() {
    let template = template();
    let groups = resources_of(&template, "AWS::Logs::LogGroup");
    let mut named = BTreeMap::new();
    for (id, group) in &groups {
        assert_eq!(show(&group["Properties"]["RetentionInDays"]), "!Ref LogRetentionDays", "{id}");
        named.insert(show(&group["Properties"]["LogGroupName"]), *group);
    }
    let functions = resources_of(&template, "AWS::Serverless::Function");
    for (id, function) in &functions {
        let name = format!("!Sub /aws/lambda/${{{id}}}");
        let group = named.get(&name).unwrap_or_else(|| panic!("{id} has no log group {name}"));
        assert_eq!(group["Condition"], function["Condition"], "{id}: the log group exists exactly with the function");
    }
    assert_eq!(groups.len(), functions.len(), "one log group per function");
    let retention = &template["Parameters"]["LogRetentionDays"];
    let allowed: Vec<u64> =
        retention["AllowedValues"].as_sequence().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(allowed, LOG_RETENTION_DAYS);
    assert_eq!(retention["Default"].as_u64(), Some(30));
}

#[test]
fn every_route_is_throttled_by_its_platforms_limits() {
    let template = template();
    let mut classes = BTreeMap::new();
    for (provider, id) in receivers(&template) {
        for (event, definition) in entries(&template["Resources"][id.as_str()]["Properties"]["Events"], "Events") {
            let settings = &definition["Properties"]["RouteSettings"];
            let rate = show(&settings["ThrottlingRateLimit"]);
            let burst = show(&settings["ThrottlingBurstLimit"]);
            let class = rate
                .strip_prefix("!Ref ")
                .and_then(|p| p.strip_suffix("ThrottlingRateLimit"))
                .unwrap_or_else(|| panic!("{provider} {event}: ThrottlingRateLimit is {rate}"));
            assert_eq!(burst, format!("!Ref {class}ThrottlingBurstLimit"), "{provider} {event}");
            classes.entry(provider.clone()).or_insert_with(BTreeSet::new).insert(class.to_string());
        }
    }
    for (provider, class) in &classes {
        assert_eq!(class.len(), 1, "{provider}: every route of a platform in one class");
    }
    let parameters = &template["Parameters"];
    for class in classes.values().flatten().collect::<BTreeSet<_>>() {
        let rate = parameters[format!("{class}ThrottlingRateLimit").as_str()]["Default"].as_u64().unwrap();
        let burst = parameters[format!("{class}ThrottlingBurstLimit").as_str()]["Default"].as_u64().unwrap();
        assert!(rate >= 1 && burst >= rate, "{class}: rate {rate}, burst {burst}");
    }
    let ceiling = &template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"];
    assert!(ceiling["ThrottlingRateLimit"].as_u64().is_some() && ceiling["ThrottlingBurstLimit"].as_u64().is_some());
}

fn alarms(template: &Value) -> BTreeMap<&str, &Value> {
    resources_of(template, "AWS::CloudWatch::Alarm")
}

/// `Name=Value` pairs of an alarm's dimensions.
fn dimensions(alarm: &Value) -> BTreeMap<String, String> {
    alarm["Properties"]["Dimensions"]
        .as_sequence()
        .map(|ds| ds.iter().map(|d| (show(&d["Name"]), show(&d["Value"]))).collect())
        .unwrap_or_default()
}

#[test]
fn every_alarm_notifies_the_alarm_topic_when_it_fires_and_when_it_clears() {
    let template = template();
    let resources = &template["Resources"];
    assert_eq!(resources["AlarmTopic"]["Type"].as_str(), Some("AWS::SNS::Topic"));
    let subscription = &resources["AlarmEmailSubscription"];
    assert_eq!(subscription["Condition"].as_str(), Some("HasAlarmEmail"));
    assert_eq!(show(&subscription["Properties"]["Endpoint"]), "!Ref AlarmEmail");
    assert_eq!(show(&template["Conditions"]["HasAlarmEmail"]), r#"!Not [!Equals [!Ref AlarmEmail, ""]]"#);
    let all = alarms(&template);
    assert!(all.contains_key("DeadLetterAlarm"));
    for (id, alarm) in all {
        for actions in ["AlarmActions", "OKActions"] {
            assert_eq!(show(&alarm["Properties"][actions]), "[!Ref AlarmTopic]", "{id}: {actions}");
        }
        assert_eq!(show(&alarm["Properties"]["TreatMissingData"]), "notBreaching", "{id}: no data is no trouble");
    }
}

#[test]
fn every_deployed_provider_has_refusal_latency_and_queue_failure_alarms() {
    let template = template();
    for provider in PROVIDERS {
        let deployed = &function(&template, provider.name)["Condition"];
        let own: BTreeMap<String, &Value> = alarms(&template)
            .into_iter()
            .filter(|(_, a)| dimensions(a).get("Provider").map(String::as_str) == Some(provider.name))
            .map(|(_, a)| (show(&a["Properties"]["MetricName"]), a))
            .collect();
        for (metric, statistic, threshold) in [
            ("Refused", "Statistic: Sum", "!Ref RefusalAlarmThreshold"),
            ("AckDeadlineUsed", "ExtendedStatistic: p99", "!Ref AckDeadlineAlarmPercent"),
            ("QueueFailures", "Statistic: Sum", "0"),
        ] {
            let alarm = own.get(metric).unwrap_or_else(|| panic!("{}: no {metric} alarm", provider.name));
            assert_eq!(
                &alarm["Condition"], deployed,
                "{}: {metric} alarm exists exactly with the function",
                provider.name
            );
            let properties = &alarm["Properties"];
            let (key, value) = statistic.split_once(": ").unwrap();
            assert_eq!(show(&properties[key]), value, "{}: {metric}", provider.name);
            assert_eq!(show(&properties["Threshold"]), threshold, "{}: {metric}", provider.name);
            assert_eq!(show(&properties["ComparisonOperator"]), "GreaterThanThreshold");
        }
        // Three one-minute periods in a row: one slow cold start is not an alarm.
        let latency = &own["AckDeadlineUsed"]["Properties"];
        assert_eq!(
            (show(&latency["Period"]), show(&latency["EvaluationPeriods"]), show(&latency["DatapointsToAlarm"])),
            ("60".into(), "3".into(), "3".into())
        );
    }
}

#[test]
fn alarms_watch_only_metrics_the_functions_emit_in_the_stacks_own_namespace() {
    let template = template();
    let providers: BTreeSet<&str> = PROVIDERS.iter().map(|p| p.name).collect();
    let mut inlet_alarms = 0;
    for (id, alarm) in alarms(&template) {
        let properties = &alarm["Properties"];
        let namespace = show(&properties["Namespace"]);
        let metric = show(&properties["MetricName"]);
        let dimensions = dimensions(alarm);
        if namespace.starts_with("AWS/") {
            continue;
        }
        inlet_alarms += 1;
        assert_eq!(namespace, METRICS_NAMESPACE, "{id}: the namespace the functions are given");
        if RECEIVER_METRICS.contains(&metric.as_str()) {
            assert!(dimensions.keys().all(|d| RECEIVER_DIMENSIONS.contains(&d.as_str())), "{id}: {dimensions:?}");
            let provider = dimensions.get("Provider").unwrap_or_else(|| panic!("{id}: no Provider dimension"));
            assert!(providers.contains(provider.as_str()), "{id}: unknown provider {provider}");
        } else if PROCESSOR_METRICS.contains(&metric.as_str())
            && dimensions.get("Function").map(String::as_str) == Some("processor")
        {
            assert_eq!(dimensions.len(), 1, "{id}: {dimensions:?}");
        } else if REPLIER_METRICS.contains(&metric.as_str()) {
            assert_eq!(dimensions, BTreeMap::from([("Function".into(), "replier".into())]), "{id}");
        } else if DELIVERY_METRICS.contains(&metric.as_str()) {
            // The template knows no destination's name: the totals.
            assert!(dimensions.is_empty(), "{id}: {dimensions:?}");
        } else {
            panic!("{id}: {metric} is not a metric the functions emit");
        }
    }
    assert!(inlet_alarms > PROVIDERS.len(), "the per-provider alarms are on inlet's metrics");
}

#[test]
fn the_queues_the_processor_and_the_api_are_watched() {
    let template = template();
    let watched: BTreeSet<(String, String, String)> = alarms(&template)
        .values()
        .map(|a| {
            let p = &a["Properties"];
            (show(&p["Namespace"]), show(&p["MetricName"]), show(&p["Threshold"]))
        })
        .collect();
    for expected in [
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "0"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", "!Ref OldestMessageAlarmSeconds"),
        ("AWS/Lambda", "Errors", "0"),
        ("AWS/ApiGateway", "5xx", "0"),
        (METRICS_NAMESPACE, "Failed", "0"),
        (METRICS_NAMESPACE, "DeliveryRefused", "0"),
        (METRICS_NAMESPACE, "DeliveryFailed", "!Ref DeliveryFailureAlarmThreshold"),
        (METRICS_NAMESPACE, "ReplyRefused", "0"),
    ] {
        let expected = (expected.0.to_string(), expected.1.to_string(), expected.2.to_string());
        assert!(watched.contains(&expected), "no alarm on {expected:?}");
    }
    let dead_letters = dimensions(alarms(&template)["DeadLetterAlarm"]);
    assert_eq!(dead_letters["QueueName"], "!GetAtt DeadLetterQueue.QueueName");
    let api = dimensions(alarms(&template)["ApiServerErrorAlarm"]);
    assert_eq!(api["ApiId"], "!Ref HttpApi");
}

/// The metric names and dimension sets in the lines shared/src/metrics.rs
/// renders.
fn rendered(line: &inlet_shared::metrics::MetricLine) -> (BTreeSet<String>, Vec<Vec<String>>) {
    let document: serde_json::Value = serde_json::from_str(&line.render("inlet/test", 0)).expect("EMF is JSON");
    let directive = &document["_aws"]["CloudWatchMetrics"][0];
    let names = directive["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap().into()).collect();
    let sets = serde_json::from_value(directive["Dimensions"].clone()).unwrap();
    (names, sets)
}

#[test]
fn the_contract_lists_are_what_the_functions_emit() {
    use inlet_shared::metrics::{BatchMetrics, DestinationMetrics, RequestMetrics};
    let refused = RequestMetrics {
        provider: "lark",
        route: "/lark/event",
        status: 401,
        refused: Some("signature"),
        accepted: false,
        queue_failure: false,
        ack_latency_ms: 3.0,
        deadline_ms: 3000,
        enqueue_latency_ms: Some(1.0),
        events: 0,
        cold_start: false,
    };
    let (names, sets) = rendered(&refused.line());
    assert_eq!(names, RECEIVER_METRICS.iter().map(|m| m.to_string()).collect());
    let dimensions: BTreeSet<String> = sets.into_iter().flatten().collect();
    assert_eq!(dimensions, RECEIVER_DIMENSIONS.iter().map(|d| d.to_string()).collect());
    let batch = BatchMetrics { batch_size: 1, processed: 1, event_ages_ms: vec![5.0], ..BatchMetrics::default() };
    let (names, sets) = rendered(&batch.line());
    assert_eq!(names, PROCESSOR_METRICS.iter().map(|m| m.to_string()).collect());
    assert_eq!(sets, [["Function"]]);
    let replies = inlet_shared::metrics::ReplyMetrics { batch_size: 1, sent: 1, ..Default::default() };
    let (names, sets) = rendered(&replies.line());
    assert_eq!(names, REPLIER_METRICS.iter().map(|m| m.to_string()).collect());
    assert_eq!(sets, [["Function"]]);
    let delivered =
        DestinationMetrics { destination: "app".into(), delivered: 1, failed: 1, refused: 1, latencies_ms: vec![5.0] };
    let (names, sets) = rendered(&delivered.line());
    assert_eq!(names, DELIVERY_METRICS.iter().map(|m| m.to_string()).collect());
    assert_eq!(sets, [vec!["Destination".to_string()], vec![]], "per destination, and the totals");
}

/// The dashboard body with `!Sub`'s `${...}` filled by placeholders, as JSON.
fn dashboard_body(template: &Value) -> serde_json::Value {
    let dashboards = resources_of(template, "AWS::CloudWatch::Dashboard");
    let dashboard = dashboards.get("Dashboard").expect("a Dashboard resource");
    let Value::Tagged(sub) = &dashboard["Properties"]["DashboardBody"] else { panic!("DashboardBody is a !Sub") };
    assert_eq!(sub.tag.to_string(), "!Sub");
    let mut text = sub.value.as_str().expect("a !Sub string").to_string();
    while let Some(start) = text.find("${") {
        let end = start + text[start..].find('}').expect("closed ${...}");
        let name = &text[start + 2..end];
        // Parameters used as numbers stay numbers; everything else is a name.
        let value = if name.ends_with("Percent") || name.ends_with("Seconds") {
            "50".to_string()
        } else {
            name.replace("::", "-").replace('.', "-")
        };
        text.replace_range(start..=end, &value);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("DashboardBody is not JSON once substituted: {e}\n{text}"))
}

#[test]
fn the_dashboard_shows_every_alarmed_metric_and_only_metrics_that_exist() {
    let template = template();
    let body = dashboard_body(&template);
    let widgets = body["widgets"].as_array().expect("widgets");
    let text = body.to_string();
    for metric in [
        "AckDeadlineUsed",
        "AckLatency",
        "Accepted",
        "Refused",
        "QueueFailures",
        "Processed",
        "Failed",
        "EventAge",
        "Delivered",
        "DeliveryFailed",
        "DeliveryRefused",
        "DeliveryLatency",
    ] {
        assert!(
            text.contains(&format!("\\\"{metric}\\\"")) || text.contains(&format!("\"{metric}\"")),
            "{metric} is not on the dashboard"
        );
    }
    for widget in widgets {
        for series in widget["properties"]["metrics"].as_array().expect("metrics") {
            let first = &series[0];
            if let Some(expression) = first["expression"].as_str() {
                // SEARCH('{"inlet/<stack>",Provider…} MetricName="X"', …): the stack's namespace, a contract metric.
                assert!(expression.contains(r#"{"inlet/AWS-StackName","#), "{expression}");
                let name = expression
                    .split("MetricName=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .expect("MetricName");
                if expression.contains(",Destination}") {
                    assert!(DELIVERY_METRICS.contains(&name), "{name} is not a delivery metric");
                } else {
                    assert!(RECEIVER_METRICS.contains(&name), "{name} is not a receiver metric");
                }
            } else if first.as_str() == Some("AWS/SQS") {
                assert!(series[3].as_str().is_some_and(|q| q.ends_with("-QueueName")), "{series}");
            } else {
                assert_eq!(first.as_str(), Some("inlet/AWS-StackName"), "{series}");
                assert!(PROCESSOR_METRICS.contains(&series[1].as_str().unwrap_or_default()), "{series}");
                assert_eq!((series[2].as_str(), series[3].as_str()), (Some("Function"), Some("processor")));
            }
        }
    }
}

/// `value` as deployed when each condition in `conditions` has its value:
/// `!If` chosen, `!Ref AWS::NoValue` dropped (None), everything else as is.
fn under(value: &Value, conditions: &BTreeMap<&str, bool>) -> Option<Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "If" => {
            let args = tagged.value.as_sequence().expect("!If [Condition, then, else]");
            let name = args[0].as_str().expect("a condition name");
            let chosen = *conditions.get(name).unwrap_or_else(|| panic!("condition {name} not given"));
            under(&args[if chosen { 1 } else { 2 }], conditions)
        }
        Value::Tagged(tagged) if tagged.tag == "Ref" && tagged.value.as_str() == Some("AWS::NoValue") => None,
        Value::Mapping(map) => {
            Some(Value::Mapping(map.iter().filter_map(|(k, v)| under(v, conditions).map(|v| (k.clone(), v))).collect()))
        }
        Value::Sequence(items) => Some(Value::Sequence(items.iter().filter_map(|v| under(v, conditions)).collect())),
        other => Some(other.clone()),
    }
}

/// The rendered properties of resource `id` under `conditions`.
fn properties_under(template: &Value, id: &str, conditions: &BTreeMap<&str, bool>) -> BTreeMap<String, String> {
    let properties = under(&template["Resources"][id]["Properties"], conditions).expect("Properties");
    entries(&properties, "Properties").map(|(k, v)| (k.to_string(), show(v))).collect()
}

const FIFO_ATTRIBUTES: &[&str] =
    &["FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"];

#[test]
fn ordering_per_conversation_makes_both_queues_fifo_in_high_throughput_mode() {
    let template = template();
    let ordering = &template["Parameters"]["Ordering"];
    assert_eq!(show(&ordering["AllowedValues"]), "[none, per-conversation]");
    assert_eq!(show(&ordering["Default"]), "none", "today's standard queue unless asked");
    assert_eq!(show(&template["Conditions"]["PerConversationOrdering"]), "!Equals [!Ref Ordering, per-conversation]");

    let ordered = BTreeMap::from([("PerConversationOrdering", true)]);
    let queue = properties_under(&template, "EventQueue", &ordered);
    let fifo: Vec<(&str, &str)> = FIFO_ATTRIBUTES.iter().map(|a| (*a, queue[*a].as_str())).collect();
    assert_eq!(
        fifo,
        [
            ("FifoQueue", "true"),
            // The receivers give the Envelope id as the deduplication id.
            ("ContentBasedDeduplication", "false"),
            ("DeduplicationScope", "messageGroup"),
            ("FifoThroughputLimit", "perMessageGroupId"),
        ]
    );
    assert!(!queue.contains_key("QueueName"), "a generated name (with .fifo), so the queue can be replaced");
    assert_eq!(queue["RedrivePolicy"], "{deadLetterTargetArn: !GetAtt DeadLetterQueue.Arn, maxReceiveCount: 5}");
    // A FIFO queue's dead-letter queue must be FIFO too.
    let dead_letters = properties_under(&template, "DeadLetterQueue", &ordered);
    assert_eq!(dead_letters["FifoQueue"], "true");
    assert_eq!(dead_letters["ContentBasedDeduplication"], "false");

    // Ordering none: today's standard queues, no FIFO attribute at all.
    let unordered = BTreeMap::from([("PerConversationOrdering", false)]);
    for id in ["EventQueue", "DeadLetterQueue"] {
        let properties = properties_under(&template, id, &unordered);
        for attribute in FIFO_ATTRIBUTES {
            assert!(!properties.contains_key(*attribute), "{id}: {attribute} on a standard queue");
        }
    }

    // Lambda reads a FIFO queue in batches of at most 10 and without a
    // batching window.
    let queue_event = &template["Resources"]["ProcessorFunction"]["Properties"]["Events"]["Queue"]["Properties"];
    assert_eq!(show(&queue_event["Queue"]), "!GetAtt EventQueue.Arn");
    assert!(queue_event["BatchSize"].as_u64().is_some_and(|size| (1..=10).contains(&size)));
    assert!(queue_event.get("MaximumBatchingWindowInSeconds").is_none());

    // Every function finds the queue that is there and sends to it.
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(show(&globals["INLET_QUEUE_URL"]), "!Ref EventQueue");
    for provider in PROVIDERS {
        let policies = show(&function(&template, provider.name)["Properties"]["Policies"]);
        assert!(
            policies.contains("{SQSSendMessagePolicy: {QueueName: !GetAtt EventQueue.QueueName}}"),
            "{}: {policies}",
            provider.name
        );
    }
}

/// The processor's unconditional statements.
fn processor_statements(template: &Value) -> Vec<Value> {
    let policies = template["Resources"]["ProcessorFunction"]["Properties"]["Policies"].as_sequence().unwrap();
    policies.iter().filter_map(|p| p["Statement"].as_sequence()).flatten().cloned().collect()
}

#[test]
fn the_processor_may_deliver_to_exactly_the_stacks_bus_and_the_arns_listed() {
    let template = template();
    let processor = &template["Resources"]["ProcessorFunction"];
    let always = processor_statements(&template);
    assert_eq!(resources_for(&always, "events:PutEvents"), ["!GetAtt EventBus.Arn"]);
    // The backoff of a failed delivery, on its own queue only.
    assert_eq!(resources_for(&always, "[sqs:ChangeMessageVisibility, sqs:GetQueueUrl]"), ["!GetAtt EventQueue.Arn"]);
    let listed = conditional_statements(processor, "HasDestinationArns");
    assert_eq!(resources_for(&listed, "[events:PutEvents, sqs:SendMessage]"), ["!Ref DestinationArns"]);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        show(&template["Conditions"]["HasDestinationArns"]),
        r#"!Not [!Equals [!Join ["", !Ref DestinationArns], ""]]"#,
        "an empty list grants nothing"
    );
    let parameter = &template["Parameters"]["DestinationArns"];
    assert_eq!((show(&parameter["Type"]), show(&parameter["Default"])), ("CommaDelimitedList".into(), r#""""#.into()));
    // Nothing grants delivery anywhere else.
    for statement in always.iter().chain(&listed) {
        let resource = show(&statement["Resource"]);
        assert!(!resource.contains('*'), "{resource}: no wildcard on a delivery or queue permission");
    }

    let bus = &template["Resources"]["EventBus"];
    assert_eq!(show(&bus["Type"]), "AWS::Events::EventBus");
    assert_eq!(show(&bus["Properties"]["Name"]), "!Sub ${AWS::StackName}-inlet", "one bus per stack");
    assert_eq!(show(&template["Outputs"]["EventBusName"]["Value"]), "!Ref EventBus");
    assert_eq!(show(&template["Outputs"]["EventBusArn"]["Value"]), "!GetAtt EventBus.Arn");
}

#[test]
fn the_processor_may_read_only_the_destination_secrets_and_only_from_the_chosen_store() {
    let template = template();
    let processor = &template["Resources"]["ProcessorFunction"];
    let arn = |service: &str, name: &str| {
        format!(
            "!Sub [arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{name}, {{Prefix: {SECRETS_PREFIX}}}]"
        )
    };
    let ssm = conditional_statements(processor, "UseSsmSecrets");
    assert_eq!(
        resources_for(&ssm, "ssm:GetParameters"),
        [
            arn("ssm", &format!("parameter${{Prefix}}{DESTINATION_SECRET}")),
            arn("ssm", &format!("parameter${{Prefix}}{DESTINATION_SECRET}_*")),
        ]
    );
    let kms = ssm.iter().find(|s| show(&s["Action"]) == "kms:Decrypt").expect("kms:Decrypt");
    assert_eq!(
        show(&kms["Condition"]),
        "{StringEquals: {kms:ViaService: !Sub ssm.${AWS::Region}.amazonaws.com}}",
        "the key only through SSM"
    );
    assert_eq!(ssm.len(), 2);
    let secrets_manager = conditional_statements(processor, "UseSecretsManagerSecrets");
    assert_eq!(
        resources_for(&secrets_manager, "secretsmanager:GetSecretValue"),
        [
            arn("secretsmanager", &format!("secret:${{Prefix}}{DESTINATION_SECRET}-??????")),
            arn("secretsmanager", &format!("secret:${{Prefix}}{DESTINATION_SECRET}_*")),
        ]
    );
    assert_eq!(resources_for(&secrets_manager, "secretsmanager:BatchGetSecretValue"), ["*"]);
    assert_eq!(secrets_manager.len(), 2);
    // With the secrets in the environment, the processor reads no store.
    assert!(processor_statements(&template).iter().all(|s| !show(s).contains("ssm:")));
}

#[test]
fn every_event_goes_to_the_stacks_own_bus_unless_the_destinations_document_says_otherwise() {
    let template = template();
    let variables = &template["Resources"]["ProcessorFunction"]["Properties"]["Environment"]["Variables"];
    let document = &variables[destinations::SETTING];
    let pick = |parameter: bool, given: bool| {
        let conditions = BTreeMap::from([("HasDestinationsParameter", parameter), ("HasDestinations", given)]);
        under(document, &conditions).expect("always a document")
    };
    // An SSM String parameter, resolved by CloudFormation: `ssm-secure` is
    // not allowed in a function's environment (and the document names
    // secret settings, it holds no secret).
    assert_eq!(show(&pick(true, false)), "!Sub {{resolve:ssm:${DestinationsParameter}}}");
    assert_eq!(show(&pick(false, true)), "!Ref Destinations");
    let Value::Tagged(default) = pick(false, false) else { panic!("the default is a !Sub") };
    assert_eq!(default.tag, "Sub");
    let stack_bus = "my-stack-inlet";
    let text = default.value.as_str().expect("a !Sub string").replace("${EventBus}", stack_bus);
    let specs = destinations::parse(&text).unwrap_or_else(|e| panic!("the default document is refused: {e}"));
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].kind, DestinationKind::EventBridge { bus: stack_bus.into() });
    assert!(specs[0].pattern.is_none(), "every event");

    for parameter in ["Destinations", "DestinationsParameter"] {
        let p = &template["Parameters"][parameter];
        assert_eq!((show(&p["Type"]), show(&p["Default"])), ("String".into(), r#""""#.into()), "{parameter}");
    }
    let rule = show(&template["Rules"]["OneDestinationsDocument"]);
    assert!(rule.contains(r#"Assert: !Equals [!Ref Destinations, ""]"#), "{rule}");
}

#[test]
fn delivery_alarms_watch_the_totals_a_permanent_refusal_at_once_and_failures_that_last() {
    let template = template();
    let all = alarms(&template);
    let refused = &all["DeliveryRefusedAlarm"]["Properties"];
    let failed = &all["DeliveryFailedAlarm"]["Properties"];
    let fields = |p: &Value| {
        [
            "MetricName",
            "Statistic",
            "Period",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "ComparisonOperator",
        ]
        .map(|k| p.get(k).map(show).unwrap_or_default())
    };
    assert_eq!(fields(refused), ["DeliveryRefused", "Sum", "60", "1", "", "0", "GreaterThanThreshold"]);
    assert_eq!(
        fields(failed),
        [
            "DeliveryFailed",
            "Sum",
            "60",
            "5",
            "3",
            "!Ref DeliveryFailureAlarmThreshold",
            "GreaterThanOrEqualToThreshold"
        ]
    );
    for alarm in [refused, failed] {
        assert!(alarm.get("Dimensions").is_none(), "the totals, whatever the destinations are named");
    }
}

#[test]
fn the_local_stack_has_every_delivery_setting_the_template_passes() {
    let settings =
        inlet_shared::config::load_env_file(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/env.json")))
            .expect("events/env.json");
    let template = template();
    let processor = &template["Resources"]["ProcessorFunction"]["Properties"]["Environment"]["Variables"];
    for setting in [destinations::SETTING, DESTINATION_SECRET] {
        assert!(processor.get(setting).is_some(), "the template passes {setting}");
        assert!(settings.contains_key(setting), "events/env.json lacks {setting}");
    }
    let ordering = settings.get(ORDERING_SETTING).expect("events/env.json lacks INLET_ORDERING");
    let allowed = show(&template["Parameters"]["Ordering"]["AllowedValues"]);
    assert!(allowed.trim_matches(['[', ']']).split(", ").any(|v| v == ordering), "{ordering} is not one of {allowed}");
    destinations::from_env(&settings).expect("events/env.json's destinations document is one the processor accepts");
}

/// The statements of a function's unconditional policies.
fn unconditional_statements(function: &Value) -> Vec<Value> {
    let policies = function["Properties"]["Policies"].as_sequence().expect("Policies");
    policies.iter().filter_map(|p| p["Statement"].as_sequence()).flatten().cloned().collect()
}

#[test]
fn the_reply_function_consumes_its_own_queue_with_partial_batch_failures_and_a_watched_dead_letter_queue() {
    let template = template();
    let resources = &template["Resources"];
    let queue = properties_under(&template, "ReplyQueue", &BTreeMap::new());
    assert_eq!(
        queue["RedrivePolicy"], "{deadLetterTargetArn: !GetAtt ReplyDeadLetterQueue.Arn, maxReceiveCount: 5}",
        "redriven as the event queue is"
    );
    assert!(!queue.contains_key("FifoQueue"), "a standard queue");
    assert_eq!(show(&resources["ReplyDeadLetterQueue"]["Type"]), "AWS::SQS::Queue");

    let function = &resources["ReplyFunction"];
    assert_eq!(show(&function["Metadata"]["BuildProperties"]["Binary"]), "replier");
    assert!(function.get("Condition").is_none(), "deployed with every stack, as the processor is");
    let events: Vec<(&str, &Value)> = entries(&function["Properties"]["Events"], "Events").collect();
    assert_eq!(events.len(), 1);
    let source = &events[0].1["Properties"];
    assert_eq!(show(&events[0].1["Type"]), "SQS");
    assert_eq!(show(&source["Queue"]), "!GetAtt ReplyQueue.Arn");
    assert_eq!(show(&source["BatchSize"]), "10");
    assert_eq!(show(&source["FunctionResponseTypes"]), "[ReportBatchItemFailures]");
    let concurrency = show(&function["Properties"]["ReservedConcurrentExecutions"]);
    assert_eq!(concurrency, "!Ref ReplyConcurrency");
    assert_eq!(show(&source["ScalingConfig"]["MaximumConcurrency"]), concurrency, "no more pollers than instances");
    let parameter = &template["Parameters"]["ReplyConcurrency"];
    assert!(parameter["Default"].as_u64().is_some_and(|n| (2..=10).contains(&n)), "modest: {parameter:?}");

    // Its lease stays inside the reply queue's visibility timeout and covers
    // the function's whole run, as the processor's does.
    let variables = &function["Properties"]["Environment"]["Variables"];
    let visibility = show(&queue_visibility(&template, "ReplyQueue"));
    assert_eq!(show(&variables["INLET_QUEUE_VISIBILITY_SECS"]), visibility);
    assert_eq!(show(&variables["INLET_TABLE_NAME"]), "!Ref DedupTable");
    let env: std::collections::HashMap<&str, &str> =
        [("INLET_TABLE_NAME", "t"), ("INLET_QUEUE_VISIBILITY_SECS", visibility.as_str())].into();
    let lease = inlet_shared::dedup::DedupSettings::from_env(&env).expect("the reply function starts").lease;
    let timeout = function["Properties"]["Timeout"].as_u64().expect("a Timeout of its own");
    assert!(lease.max() >= std::time::Duration::from_secs(timeout), "{lease:?} vs {timeout} s");

    let always = unconditional_statements(function);
    assert_eq!(
        resources_for(&always, "[dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:GetItem]"),
        ["!GetAtt DedupTable.Arn"]
    );
    assert_eq!(resources_for(&always, "[sqs:ChangeMessageVisibility, sqs:GetQueueUrl]"), ["!GetAtt ReplyQueue.Arn"]);
    assert_eq!(always.len(), 2, "nothing else");

    // The processor queues a destination's answer there.
    let processor = &resources["ProcessorFunction"];
    let processor_variables = &processor["Properties"]["Environment"]["Variables"];
    assert_eq!(show(&processor_variables[inlet_shared::reply::request::QUEUE_URL_SETTING]), "!Ref ReplyQueue");
    assert_eq!(resources_for(&processor_statements(&template), "sqs:SendMessage"), ["!GetAtt ReplyQueue.Arn"]);
    assert_eq!(show(&template["Outputs"]["ReplyQueueUrl"]["Value"]), "!Ref ReplyQueue");

    let dead_letters = alarms(&template)["ReplyDeadLetterAlarm"];
    assert_eq!(dimensions(dead_letters)["QueueName"], "!GetAtt ReplyDeadLetterQueue.QueueName");
    let properties = &dead_letters["Properties"];
    assert_eq!(
        (show(&properties["MetricName"]), show(&properties["Threshold"])),
        ("ApproximateNumberOfMessagesVisible".into(), "0".into())
    );
    let errors = dimensions(alarms(&template)["ReplyErrorAlarm"]);
    assert_eq!(errors["FunctionName"], "!Ref ReplyFunction");
}

fn queue_visibility(template: &Value, queue: &str) -> Value {
    template["Resources"][queue]["Properties"]["VisibilityTimeout"].clone()
}

#[test]
fn the_reply_function_may_read_exactly_the_platforms_credentials_and_only_from_the_chosen_store() {
    let template = template();
    let function = &template["Resources"]["ReplyFunction"];
    let arn = |service: &str, name: &str| {
        format!(
            "!Sub [arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{name}, {{Prefix: {SECRETS_PREFIX}}}]"
        )
    };
    let secrets = inlet_shared::reply::SECRET_SETTINGS;
    let ssm = conditional_statements(function, "UseSsmSecrets");
    let parameters: Vec<String> = secrets.iter().map(|s| arn("ssm", &format!("parameter${{Prefix}}{s}"))).collect();
    assert_eq!(resources_for(&ssm, "ssm:GetParameters"), parameters);
    let kms = ssm.iter().find(|s| show(&s["Action"]) == "kms:Decrypt").expect("kms:Decrypt");
    assert_eq!(show(&kms["Condition"]), "{StringEquals: {kms:ViaService: !Sub ssm.${AWS::Region}.amazonaws.com}}");
    assert_eq!(ssm.len(), 2);
    let secrets_manager = conditional_statements(function, "UseSecretsManagerSecrets");
    let names: Vec<String> =
        secrets.iter().map(|s| arn("secretsmanager", &format!("secret:${{Prefix}}{s}-??????"))).collect();
    assert_eq!(resources_for(&secrets_manager, "secretsmanager:GetSecretValue"), names);
    assert_eq!(resources_for(&secrets_manager, "secretsmanager:BatchGetSecretValue"), ["*"]);
    assert_eq!(secrets_manager.len(), 2);
}

#[test]
fn the_local_stack_has_every_reply_setting_the_template_passes() {
    let settings =
        inlet_shared::config::load_env_file(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/env.json")))
            .expect("events/env.json");
    let template = template();
    let resources = &template["Resources"];
    let processor = &resources["ProcessorFunction"]["Properties"]["Environment"]["Variables"];
    let replier = &resources["ReplyFunction"]["Properties"]["Environment"]["Variables"];
    // The dedup settings are the processor's (checked with it); the rest are
    // the reply clients' and must have a local value.
    let mut reply_settings: Vec<&str> =
        entries(replier, "Variables").map(|(name, _)| name).filter(|name| processor.get(*name).is_none()).collect();
    reply_settings.push(inlet_shared::reply::request::QUEUE_URL_SETTING);
    assert!(reply_settings.len() > inlet_shared::reply::SECRET_SETTINGS.len(), "{reply_settings:?}");
    for setting in reply_settings {
        assert!(settings.contains_key(setting), "events/env.json lacks {setting}");
    }
    // And the replies start with the local settings.
    let connector = inlet_shared::aws::outbound::connector(&inlet_shared::aws::tls::TlsRoots::System);
    let replies = inlet_shared::reply::Replies::from_env(&settings, connector).expect("the reply clients start");
    assert!(replies.providers().any(|p| p == "telegram"), "{replies:?}");
}
