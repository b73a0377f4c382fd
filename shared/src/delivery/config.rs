//! `INLET_DESTINATIONS`: the destinations a deployment delivers to, as data.
//!
//! ```json
//! [
//!   {"name": "bus", "type": "eventbridge", "bus": "inlet"},
//!   {"name": "app", "type": "http", "url": "https://app.example.com/hooks",
//!    "secret_setting": "APP_WEBHOOK_SECRET", "match": {"provider": ["lark"]}},
//!   {"name": "audit", "type": "sqs", "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/audit.fifo"}
//! ]
//! ```
//!
//! Read once at start-up: a document inlet cannot use stops the processor
//! with an error that names the setting, the entry (by index and name) and
//! the field, as `INLET_DESTINATIONS[1] ("app"): url: ...`. Unknown fields
//! are refused, so a misspelt `secret_setting` or `match` is a start-up
//! error rather than a destination that silently signs nothing or receives
//! everything.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use crate::config::EnvSource;
use crate::delivery::pattern::Pattern;
use crate::error::ConfigError;
use crate::verify::truncate_for_log;

/// The setting that holds the destinations document (JSON).
pub const SETTING: &str = "INLET_DESTINATIONS";

/// The longest destination name: names key the per-destination state in
/// DynamoDB records and are metric dimension values.
pub const MAX_NAME_LEN: usize = 64;

/// The longest URL accepted (`url`, `queue_url`).
pub const MAX_URL_LEN: usize = 2048;

/// One entry of the destinations document.
#[derive(Clone, Debug, PartialEq)]
pub struct DestinationSpec {
    pub name: String,
    pub kind: DestinationKind,
    /// Only events the pattern matches go to this destination; all when None.
    pub pattern: Option<Pattern>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DestinationKind {
    /// PutEvents to a bus (name or ARN).
    EventBridge { bus: String },
    /// POST signed with Standard Webhooks; the `whsec_` secret is read from
    /// the setting named `secret_setting` (a secret setting like the others).
    Http { url: String, secret_setting: String },
    /// SendMessage to a queue (FIFO when the URL ends in `.fifo`).
    Sqs { queue_url: String },
}

impl DestinationKind {
    /// The `type` that names this kind in the document.
    pub fn type_name(&self) -> &'static str {
        match self {
            DestinationKind::EventBridge { .. } => "eventbridge",
            DestinationKind::Http { .. } => "http",
            DestinationKind::Sqs { .. } => "sqs",
        }
    }
}

/// Reads and validates the document; no setting (or an empty one) is no
/// destinations. An error names the entry and the field.
pub fn from_env(env: &dyn EnvSource) -> Result<Vec<DestinationSpec>, ConfigError> {
    match env.get(SETTING) {
        None => Ok(Vec::new()),
        Some(text) if text.trim().is_empty() => Ok(Vec::new()),
        Some(text) => parse(&text),
    }
}

/// The fields every entry may have, whatever its type.
const COMMON_FIELDS: &[&str] = &["name", "type", "match"];
const TYPES: &str = "eventbridge, http or sqs";

/// Parses and validates a destinations document.
pub fn parse(document: &str) -> Result<Vec<DestinationSpec>, ConfigError> {
    let value: Value =
        serde_json::from_str(document).map_err(|error| ConfigError::new(SETTING, format!("is not JSON: {error}")))?;
    let Value::Array(entries) = value else {
        return Err(ConfigError::new(
            SETTING,
            format!("must be a JSON array of destinations, not {}", json_type(&value)),
        ));
    };
    let mut specs: Vec<DestinationSpec> = Vec::with_capacity(entries.len());
    // Lower-cased name → index of the entry that has it.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        let spec = parse_entry(index, entry)?;
        if let Some(first) = seen.insert(spec.name.to_ascii_lowercase(), index) {
            return Err(EntryRef::new(index, Some(&spec.name)).error(
                "name",
                format!(
                    "is already the name of {SETTING}[{first}] ({:?}); names are unique, compared ignoring case",
                    specs[first].name
                ),
            ));
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// Which entry an error is about: its index and, once read, its name.
struct EntryRef {
    index: usize,
    name: Option<String>,
}

impl EntryRef {
    fn new(index: usize, name: Option<&str>) -> Self {
        EntryRef { index, name: name.map(str::to_string) }
    }

    fn error(&self, field: &str, reason: impl std::fmt::Display) -> ConfigError {
        let entry = match &self.name {
            Some(name) => format!("{SETTING}[{}] ({name:?})", self.index),
            None => format!("{SETTING}[{}]", self.index),
        };
        ConfigError::new(&entry, format!("{field}: {reason}"))
    }
}

fn parse_entry(index: usize, entry: &Value) -> Result<DestinationSpec, ConfigError> {
    let mut at = EntryRef::new(index, None);
    let Value::Object(fields) = entry else {
        return Err(ConfigError::new(
            &format!("{SETTING}[{index}]"),
            format!("each destination must be a JSON object, not {}", json_type(entry)),
        ));
    };

    let name = required_string(&at, fields, "name")?;
    // Shown in errors only once it is known to be a plain, short name.
    check_name(name).map_err(|why| at.error("name", why))?;
    at.name = Some(name.to_string());

    let type_name = required_string(&at, fields, "type")?;
    let own_fields: &[&str] = match type_name {
        "eventbridge" => &["bus"],
        "http" => &["url", "secret_setting"],
        "sqs" => &["queue_url"],
        other => return Err(at.error("type", format!("{:?} is not {TYPES}", truncate_for_log(other)))),
    };
    for field in fields.keys() {
        if !COMMON_FIELDS.contains(&field.as_str()) && !own_fields.contains(&field.as_str()) {
            let allowed: Vec<&str> = COMMON_FIELDS.iter().chain(own_fields).copied().collect();
            return Err(at.error(
                &truncate_for_log(field),
                format!("is not a field of an {type_name} destination (its fields: {})", allowed.join(", ")),
            ));
        }
    }

    let kind = match type_name {
        "eventbridge" => {
            let bus = required_string(&at, fields, "bus")?;
            check_bus(bus).map_err(|why| at.error("bus", why))?;
            DestinationKind::EventBridge { bus: bus.to_string() }
        }
        "http" => {
            let url = required_string(&at, fields, "url")?;
            check_http_url(url).map_err(|why| at.error("url", why))?;
            let secret_setting = required_string(&at, fields, "secret_setting")?;
            check_setting_name(secret_setting).map_err(|why| at.error("secret_setting", why))?;
            DestinationKind::Http { url: url.to_string(), secret_setting: secret_setting.to_string() }
        }
        _ => {
            let queue_url = required_string(&at, fields, "queue_url")?;
            check_queue_url(queue_url).map_err(|why| at.error("queue_url", why))?;
            DestinationKind::Sqs { queue_url: queue_url.to_string() }
        }
    };

    let pattern = match fields.get("match") {
        None => None,
        Some(pattern) => Some(Pattern::parse(pattern).map_err(|why| at.error("match", why))?),
    };
    Ok(DestinationSpec { name: name.to_string(), kind, pattern })
}

fn required_string<'a>(at: &EntryRef, fields: &'a Map<String, Value>, field: &str) -> Result<&'a str, ConfigError> {
    match fields.get(field) {
        None => Err(at.error(field, "is missing")),
        Some(Value::String(text)) if text.is_empty() => Err(at.error(field, "is empty")),
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(at.error(field, format!("must be a string, not {}", json_type(other)))),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// 1–64 characters of `[A-Za-z0-9_-]`: safe as a DynamoDB map key, a metric
/// dimension value, a log field and a CLI argument without quoting.
fn check_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_NAME_LEN {
        return Err(format!("is longer than {MAX_NAME_LEN} characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(format!("{:?} may hold only letters, digits, _ and -", truncate_for_log(name)));
    }
    Ok(())
}

/// The name of a setting, as the environment (and the template's
/// parameters) spell one: `[A-Za-z_][A-Za-z0-9_]*`. The value is never read
/// here, and never shown.
fn check_setting_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') || name.len() > 128 {
        // The value is not repeated: it may be a secret pasted here by mistake.
        return Err("is not the name of a setting (up to 128 letters, digits and _, not starting with a digit): \
                    name the setting that holds the whsec_ secret, not the secret"
            .into());
    }
    if name == SETTING {
        return Err(format!("names {SETTING} itself"));
    }
    Ok(())
}

/// An EventBridge bus: its name (`[/.\-_A-Za-z0-9]`, 1–256 characters, as
/// CreateEventBus allows) or its ARN
/// (`arn:<partition>:events:<region>:<account>:event-bus/<name>`).
fn check_bus(bus: &str) -> Result<(), String> {
    let name = match bus.strip_prefix("arn:") {
        None => bus,
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, service, region, account, resource] = parts[..] else {
                return Err(
                    "is not an event bus ARN (arn:<partition>:events:<region>:<account>:event-bus/<name>)".into()
                );
            };
            if !partition.starts_with("aws") || service != "events" || region.is_empty() {
                return Err("is not an EventBridge ARN (arn:<partition>:events:<region>:…)".into());
            }
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err("has an account that is not 12 digits".into());
            }
            resource.strip_prefix("event-bus/").ok_or("is an ARN, but not of an event bus (event-bus/<name>)")?
        }
    };
    if name.is_empty() || name.len() > 256 {
        return Err("must name a bus of 1 to 256 characters".into());
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b)) {
        return Err(format!("{:?} is not a bus name (letters, digits, / . _ -)", truncate_for_log(name)));
    }
    Ok(())
}

/// A URL's parts as this module reads them.
struct UrlParts<'a> {
    https: bool,
    host: &'a str,
    path: &'a str,
}

/// Reads an absolute `http(s)://` URL strictly enough that no HTTP client
/// can see another host in it: visible ASCII, no backslash, no userinfo,
/// no fragment, a numeric port; and one `http::Uri` accepts.
fn split_url(url: &str) -> Result<UrlParts<'_>, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("is longer than {MAX_URL_LEN} characters"));
    }
    if !url.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'\\') {
        return Err("holds a space, a control or non-ASCII character, or a backslash".into());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("is not an absolute URL (https://host/path)".into());
    };
    // Lower case only: HTTP clients compare the scheme as written, and an
    // `HTTPS://` they do not recognise could go out in the clear.
    let https = scheme == "https";
    if !https && scheme != "http" {
        return Err(format!("has scheme {:?}, not https (in lower case)", truncate_for_log(scheme)));
    }
    if url.contains('#') {
        return Err("has a fragment (#…), which is never sent".into());
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return Err("carries userinfo (user@host); put credentials in the secret, not the URL".into());
    }
    let host = split_host_port(authority).ok_or_else(|| "has an empty or unreadable host or port".to_string())?;
    url.parse::<http::Uri>().map_err(|error| format!("is not a URL an HTTP client accepts: {error}"))?;
    Ok(UrlParts { https, host, path })
}

/// The host of `host[:port]` or `[v6][:port]`; None when the host is empty,
/// the port is not 1–65535 in digits, or a v6 address lacks its brackets.
fn split_host_port(authority: &str) -> Option<&str> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        let (host, after) = authority.split_at(end);
        (host, if after.is_empty() { None } else { Some(after.strip_prefix(':')?) })
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host == "[]" {
        return None;
    }
    if let Some(digits) = port {
        let valid = !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit());
        if !valid || digits.parse::<u16>().ok().filter(|p| *p != 0).is_none() {
            return None;
        }
    }
    Some(host)
}

/// `localhost`, an address in 127.0.0.0/8, or `[::1]`.
fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .and_then(|h| h.parse::<Ipv6Addr>().ok())
            .is_some_and(|ip| ip.is_loopback())
}

/// An HTTP destination: `https://`, or `http://` to a loopback address for
/// local development (the events would otherwise cross a network in the
/// clear, signature and all).
fn check_http_url(url: &str) -> Result<(), String> {
    let parts = split_url(url)?;
    if !parts.https && !is_loopback_host(parts.host) {
        return Err(format!(
            "is http:// to {:?}; use https://, or http:// only to a loopback address \
             (127.0.0.0/8, [::1], localhost) for local development",
            truncate_for_log(parts.host)
        ));
    }
    Ok(())
}

/// An SQS queue URL: `http(s)://host/<account>/<queue name>` (plain http is
/// what a local emulator serves), the name 1–80 characters of
/// `[A-Za-z0-9_-]` with an optional `.fifo`.
fn check_queue_url(url: &str) -> Result<(), String> {
    let parts = split_url(url)?;
    let path = parts.path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let [_account, queue] = segments[..] else {
        return Err("is not a queue URL (https://sqs.<region>.amazonaws.com/<account>/<queue name>)".into());
    };
    let base = queue.strip_suffix(".fifo").unwrap_or(queue);
    let valid = !base.is_empty()
        && queue.len() <= 80
        && base.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(format!(
            "ends in {:?}, not a queue name (1 to 80 letters, digits, _ and -, optionally .fifo)",
            truncate_for_log(queue)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_value(document: Value) -> Result<Vec<DestinationSpec>, ConfigError> {
        parse(&document.to_string())
    }

    /// The error's whole text, as the processor logs it at start-up.
    fn error_of(document: Value) -> String {
        parse_value(document).expect_err("refused").to_string()
    }

    fn http(url: &str) -> Value {
        json!({"name": "app", "type": "http", "url": url, "secret_setting": "APP_SECRET"})
    }

    #[test]
    fn a_document_of_each_type_is_read() {
        let specs = parse_value(json!([
            {"name": "bus", "type": "eventbridge", "bus": "inlet"},
            {"name": "app", "type": "http", "url": "https://app.example.com/hooks?x=1",
             "secret_setting": "APP_SECRET", "match": {"provider": ["lark"]}},
            {"name": "audit_1", "type": "sqs", "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/audit.fifo"}
        ]))
        .expect("valid");
        assert_eq!(specs.len(), 3);
        assert_eq!(specs[0].kind, DestinationKind::EventBridge { bus: "inlet".into() });
        assert_eq!(specs[0].pattern, None);
        assert_eq!(
            specs[1].kind,
            DestinationKind::Http {
                url: "https://app.example.com/hooks?x=1".into(),
                secret_setting: "APP_SECRET".into()
            }
        );
        assert_eq!(specs[1].pattern, Some(Pattern::parse(&json!({"provider": ["lark"]})).unwrap()));
        assert_eq!(specs[2].name, "audit_1");
        assert_eq!(specs[2].kind.type_name(), "sqs");
    }

    #[test]
    fn no_setting_an_empty_one_and_an_empty_array_are_no_destinations() {
        assert_eq!(from_env(&HashMap::<&str, &str>::new()), Ok(Vec::new()));
        assert_eq!(from_env(&HashMap::from([(SETTING, "  ")])), Ok(Vec::new()));
        assert_eq!(from_env(&HashMap::from([(SETTING, "[]")])), Ok(Vec::new()));
        let error = from_env(&HashMap::from([(SETTING, "[{]")])).unwrap_err();
        assert_eq!(error.name, SETTING);
    }

    #[test]
    fn the_document_is_a_json_array_of_objects() {
        assert!(error_of(json!({"name": "x"})).contains("INLET_DESTINATIONS: must be a JSON array"));
        let error = parse("[{\"name\": ").unwrap_err();
        assert!(error.to_string().starts_with("setting INLET_DESTINATIONS: is not JSON"), "{error}");
        let error = error_of(json!([http("https://a.example"), "app"]));
        assert!(
            error.contains("INLET_DESTINATIONS[1]: each destination must be a JSON object, not a string"),
            "{error}"
        );
    }

    #[test]
    fn errors_name_the_setting_the_entry_by_index_and_name_and_the_field() {
        let error = parse_value(json!([
            {"name": "bus", "type": "eventbridge", "bus": "inlet"},
            http("ftp://app.example.com/")
        ]))
        .unwrap_err();
        assert_eq!(error.name, "INLET_DESTINATIONS[1] (\"app\")");
        assert!(error.reason.starts_with("url: "), "{error}");
        assert!(error.to_string().contains("INLET_DESTINATIONS[1] (\"app\"): url: has scheme \"ftp\""), "{error}");
    }

    #[test]
    fn names_are_1_to_64_characters_of_letters_digits_underscore_and_hyphen() {
        for good in ["a", "App_2-x", &"n".repeat(64)] {
            let mut entry = http("https://a.example/");
            entry["name"] = json!(good);
            assert!(parse_value(json!([entry])).is_ok(), "{good}");
        }
        for (bad, why) in [
            (json!(""), "name: is empty"),
            (json!("n".repeat(65)), "name: is longer than 64"),
            (json!("my app"), "name: \"my app\" may hold only letters"),
            (json!("app.v2"), "name: \"app.v2\" may hold only letters"),
            (json!("appé"), "name: \"appé\" may hold only letters"),
            (json!(7), "name: must be a string, not a number"),
        ] {
            let mut entry = http("https://a.example/");
            entry["name"] = bad.clone();
            let error = error_of(json!([entry]));
            assert!(error.contains(&format!("INLET_DESTINATIONS[0]: {why}")), "{bad}: {error}");
        }
        let mut entry = http("https://a.example/");
        entry.as_object_mut().unwrap().remove("name");
        assert!(error_of(json!([entry])).contains("INLET_DESTINATIONS[0]: name: is missing"));
    }

    #[test]
    fn names_are_unique_ignoring_case() {
        let error = error_of(json!([
            http("https://a.example/"),
            {"name": "bus", "type": "eventbridge", "bus": "inlet"},
            {"name": "App", "type": "sqs", "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/q"}
        ]));
        assert!(
            error.contains(
                "INLET_DESTINATIONS[2] (\"App\"): name: is already the name of INLET_DESTINATIONS[0] (\"app\")"
            ),
            "{error}"
        );
    }

    #[test]
    fn the_type_is_one_of_three() {
        for (bad, why) in [
            (json!("lambda"), "type: \"lambda\" is not eventbridge, http or sqs"),
            (json!("HTTP"), "type: \"HTTP\" is not"),
            (json!(null), "type: must be a string, not null"),
        ] {
            let mut entry = http("https://a.example/");
            entry["type"] = bad;
            let error = error_of(json!([entry]));
            assert!(error.contains(&format!("INLET_DESTINATIONS[0] (\"app\"): {why}")), "{error}");
        }
        let error = error_of(json!([{"name": "x", "bus": "inlet"}]));
        assert!(error.contains("INLET_DESTINATIONS[0] (\"x\"): type: is missing"), "{error}");
    }

    #[test]
    fn unknown_fields_and_another_types_fields_are_refused() {
        let mut entry = http("https://a.example/");
        entry["secret"] = json!("whsec_c2VjcmV0");
        let error = error_of(json!([entry]));
        assert!(
            error.contains("INLET_DESTINATIONS[0] (\"app\"): secret: is not a field of an http destination"),
            "{error}"
        );
        assert!(!error.contains("whsec_c2VjcmV0"), "the value is never repeated: {error}");
        let error =
            error_of(json!([{"name": "q", "type": "sqs", "queue_url": "https://sqs.x/123456789012/q", "bus": "b"}]));
        assert!(
            error.contains(
                "(\"q\"): bus: is not a field of an sqs destination (its fields: name, type, match, queue_url)"
            ),
            "{error}"
        );
        let error = error_of(json!([{"name": "b", "type": "eventbridge", "bus": "inlet", "Match": {}}]));
        assert!(error.contains("(\"b\"): Match: is not a field"), "{error}");
    }

    #[test]
    fn each_type_requires_its_fields_as_strings() {
        let cases = [
            (json!({"name": "b", "type": "eventbridge"}), "(\"b\"): bus: is missing"),
            (json!({"name": "h", "type": "http", "secret_setting": "S"}), "(\"h\"): url: is missing"),
            (json!({"name": "h", "type": "http", "url": "https://a.example/"}), "(\"h\"): secret_setting: is missing"),
            (
                json!({"name": "h", "type": "http", "url": "https://a.example/", "secret_setting": ""}),
                "secret_setting: is empty",
            ),
            (json!({"name": "q", "type": "sqs"}), "(\"q\"): queue_url: is missing"),
            (json!({"name": "q", "type": "sqs", "queue_url": ["x"]}), "queue_url: must be a string, not an array"),
        ];
        for (entry, why) in cases {
            let error = error_of(json!([entry]));
            assert!(error.contains(why), "{entry}: {error}");
        }
    }

    #[test]
    fn buses_are_names_or_event_bus_arns() {
        for good in [
            "inlet",
            "default",
            "aws.partner/example.com/123/events",
            "arn:aws:events:eu-west-1:123456789012:event-bus/inlet",
            "arn:aws-cn:events:cn-north-1:123456789012:event-bus/inlet",
        ] {
            assert!(parse_value(json!([{"name": "b", "type": "eventbridge", "bus": good}])).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("my bus", "is not a bus name"),
            (&"b".repeat(257), "1 to 256"),
            ("arn:aws:events:eu-west-1:event-bus/x", "not an event bus ARN"),
            ("arn:aws:sqs:eu-west-1:123456789012:q", "not an EventBridge ARN"),
            ("arn:aws:sqs:eu-west-1:123456789012:event-bus/x", "not an EventBridge ARN"),
            ("arn:aws:events:eu-west-1:1234:event-bus/x", "12 digits"),
            ("arn:aws:events:eu-west-1:123456789012:rule/x", "not of an event bus"),
            ("arn:aws:events:eu-west-1:123456789012:event-bus/", "1 to 256"),
        ] {
            let error = error_of(json!([{"name": "b", "type": "eventbridge", "bus": bad}]));
            assert!(error.contains("(\"b\"): bus: ") && error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn http_urls_are_https_or_http_to_a_loopback_address() {
        for good in [
            "https://app.example.com/hooks",
            "https://app.example.com:8443/a?b=c",
            "https://[2001:db8::1]/x",
            "http://127.0.0.1:8000/hooks",
            "http://127.9.9.9/",
            "http://localhost:3000",
            "http://LocalHost/x",
            "http://[::1]:8080/x",
        ] {
            assert!(parse_value(json!([http(good)])).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("http://app.example.com/hooks", "use https://, or http:// only to a loopback address"),
            ("http://10.0.0.1/", "loopback"),
            ("http://[::2]/", "loopback"),
            ("http://localhost.example.com/", "loopback"),
            ("http://127.0.0.1.nip.io/", "loopback"),
            ("ftp://a.example/", "scheme"),
            ("HTTPS://app.example.com", "scheme \"HTTPS\", not https"),
            ("app.example.com/hooks", "not an absolute URL"),
            ("https://user:pass@app.example.com/", "userinfo"),
            ("https://app.example.com@evil.example/", "userinfo"),
            ("http://evil.example\\@127.0.0.1/", "backslash"),
            ("https://app.example.com/a b", "space"),
            ("https://app.example.com/#x", "fragment"),
            ("https:///path", "host"),
            ("https://a.example:0/", "port"),
            ("https://a.example:99999/", "port"),
            ("https://a.example:x/", "port"),
            ("https://::1/", "port"),
        ] {
            let error = error_of(json!([http(bad)]));
            assert!(error.contains("INLET_DESTINATIONS[0] (\"app\"): url: ") && error.contains(why), "{bad}: {error}");
            assert!(!error.contains("pass@"), "userinfo is not repeated: {error}");
        }
        let long = format!("https://a.example/{}", "x".repeat(MAX_URL_LEN));
        assert!(error_of(json!([http(&long)])).contains("longer than 2048"));
    }

    #[test]
    fn the_secret_setting_is_the_name_of_a_setting() {
        for good in ["APP_SECRET", "_x", "a1"] {
            let mut entry = http("https://a.example/");
            entry["secret_setting"] = json!(good);
            assert!(parse_value(json!([entry])).is_ok(), "{good}");
        }
        for bad in ["1APP", "APP-SECRET", "app secret", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "c2VjcmV0=", SETTING]
        {
            let mut entry = http("https://a.example/");
            entry["secret_setting"] = json!(bad);
            let error = error_of(json!([entry]));
            assert!(error.contains("INLET_DESTINATIONS[0] (\"app\"): secret_setting: "), "{bad}: {error}");
            assert!(
                !error.contains("C2FVsBQ") && !error.contains("c2VjcmV0"),
                "a pasted secret is not repeated: {error}"
            );
        }
    }

    #[test]
    fn queue_urls_name_an_account_and_a_queue() {
        for good in [
            "https://sqs.eu-west-1.amazonaws.com/123456789012/events",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/events.fifo",
            "http://127.0.0.1:5000/123456789012/dev-queue",
            "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/q_1",
        ] {
            assert!(parse_value(json!([{"name": "q", "type": "sqs", "queue_url": good}])).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("https://sqs.eu-west-1.amazonaws.com/events", "not a queue URL"),
            ("https://sqs.eu-west-1.amazonaws.com/123456789012/a/b", "not a queue URL"),
            ("https://sqs.eu-west-1.amazonaws.com/123456789012/my.queue", "not a queue name"),
            ("https://sqs.eu-west-1.amazonaws.com/123456789012/.fifo", "not a queue name"),
            ("sqs://x/123456789012/q", "scheme"),
            ("https://u@sqs.x/123456789012/q", "userinfo"),
        ] {
            let error = error_of(json!([{"name": "q", "type": "sqs", "queue_url": bad}]));
            assert!(
                error.contains("INLET_DESTINATIONS[0] (\"q\"): queue_url: ") && error.contains(why),
                "{bad}: {error}"
            );
        }
        let long = format!("https://sqs.x/123456789012/{}", "q".repeat(81));
        assert!(error_of(json!([{"name": "q", "type": "sqs", "queue_url": long}])).contains("not a queue name"));
    }

    #[test]
    fn the_match_is_parsed_as_an_event_pattern_and_its_error_is_named() {
        let specs = parse_value(json!([{"name": "b", "type": "eventbridge", "bus": "inlet",
            "match": {"kind": [{"prefix": "im."}]}}]))
        .unwrap();
        assert!(specs[0].pattern.is_some());
        // Whatever Pattern::parse refuses is reported under `match`, in its words.
        let pattern = json!(7);
        let why = Pattern::parse(&pattern).expect_err("a number is not an event pattern");
        let error = error_of(json!([{"name": "b", "type": "eventbridge", "bus": "inlet", "match": pattern}]));
        assert_eq!(error, format!("setting INLET_DESTINATIONS[0] (\"b\"): match: {why}"));
    }
}
