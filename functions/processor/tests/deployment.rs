//! The processor's settings as deployed (template.yaml) and as the local
//! stack runs them (events/env.json) must keep the lease inside the queue's
//! visibility timeout and cover the function's whole run.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use inlet_shared::config::load_env_file;
use inlet_shared::dedup::DedupSettings;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The lines of one top-level resource of template.yaml.
fn resource(template: &str, name: &str) -> Vec<String> {
    let header = format!("  {name}:");
    template
        .lines()
        .skip_while(|line| *line != header)
        .skip(1)
        .take_while(|line| line.is_empty() || line.starts_with("   "))
        .map(str::trim)
        .map(str::to_string)
        .collect()
}

fn value(lines: &[String], key: &str) -> String {
    let prefix = format!("{key}:");
    lines
        .iter()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{key} not found"))
        .trim()
        .trim_matches('"')
        .to_string()
}

#[test]
fn template_lease_stays_inside_the_queue_visibility_and_covers_the_timeout() {
    let template = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let queue_visibility = value(&resource(&template, "EventQueue"), "VisibilityTimeout");
    let processor = resource(&template, "ProcessorFunction");
    assert_eq!(
        value(&processor, "INLET_QUEUE_VISIBILITY_SECS"),
        queue_visibility,
        "the processor must be told the queue's real visibility timeout"
    );
    let timeout: u64 = value(&processor, "Timeout").parse().unwrap();
    let env: HashMap<&str, &str> =
        [("INLET_TABLE_NAME", "t"), ("INLET_QUEUE_VISIBILITY_SECS", queue_visibility.as_str())].into();
    let settings = DedupSettings::from_env(&env).expect("production settings start");
    assert!(
        settings.lease.max() >= Duration::from_secs(timeout),
        "a live invocation ({timeout} s) must never outlast its lease ({:?})",
        settings.lease.max()
    );
    assert!(settings.lease.max() < Duration::from_secs(queue_visibility.parse().unwrap()));
    assert!(!processor.iter().any(|line| line.starts_with("INLET_LEASE_SECS")), "the lease follows the deadline");
}

#[test]
fn local_settings_start_the_processor() {
    let settings = load_env_file(&root().join("events/env.json")).expect("events/env.json");
    let dedup = DedupSettings::from_env(&settings).expect("the local stack's processor settings are valid");
    let visibility: u64 = settings["INLET_QUEUE_VISIBILITY_SECS"].parse().unwrap();
    assert!(dedup.lease.max() < Duration::from_secs(visibility));
}
