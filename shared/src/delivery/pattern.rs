//! EventBridge event patterns over the Envelope: a destination's `match`.
//!
//! The syntax and the answers are Amazon EventBridge's ("Amazon EventBridge
//! event patterns", "Content filtering in Amazon EventBridge event
//! patterns"), as its reference engine aws/event-ruler implements them, so a
//! team writes one pattern for an inlet destination and for an EventBridge
//! rule on the `inlet` bus (where the Envelope is the event's `detail`).
//!
//! - A pattern is an object; each field is a nested object or an array of
//!   matchers. Fields are ANDed, the matchers of one array are ORed, and
//!   `"$or": [{..}, {..}]` ORs whole sub-patterns.
//! - Matchers: exact strings, numbers, `true`, `false`, `null`; `prefix`,
//!   `suffix` (both also `{"equals-ignore-case": ..}`), `equals-ignore-case`,
//!   `anything-but` (a value, a list of strings or of numbers, or a
//!   `prefix`, `suffix`, `equals-ignore-case` or `wildcard` object), `exists`,
//!   `numeric` (`=`, or a lower bound `>`/`>=` optionally followed by an
//!   upper bound `<`/`<=`, or an upper bound alone), `wildcard`, `cidr`.
//! - Only leaves match: a field whose value is an object has no value of its
//!   own (`exists: true` fails, `exists: false` holds), and so does an
//!   empty array. When the event holds an array, the field matches if any
//!   element does; a nested sub-pattern must hold within one element of an
//!   array of objects (event-ruler's "array consistency").
//! - Types are strict: `"5"` never matches `5`, `1` never matches `true`;
//!   numbers compare by value (`5` matches `5.0` and `5e0`).
//! - Validation refuses what EventBridge refuses (empty arrays and objects, a
//!   leaf that is not an array, unknown operators, a malformed `numeric`,
//!   mixed `anything-but` lists, `$or` with fewer than two objects, ...) and
//!   names the place in the pattern (`detail.alert.status[0].numeric[2]`).
//!
//! Not reproduced: event-ruler also matches an IP-address string against the
//! same address written differently, and it resolves a field named both
//! inside and outside an `$or` branch by the order of the pattern's keys.

use std::net::IpAddr;

use serde_json::{Map, Number, Value};

/// A parsed EventBridge event pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    source: Value,
    root: Object,
}

/// One object of the pattern: every field must match, and for each `$or`
/// at this level, at least one of its branches.
#[derive(Clone, Debug, PartialEq)]
struct Object {
    fields: Vec<(String, Field)>,
    any_of: Vec<Object>,
}

#[derive(Clone, Debug, PartialEq)]
enum Field {
    Nested(Object),
    Leaf(Vec<Matcher>),
}

#[derive(Clone, Debug, PartialEq)]
enum Matcher {
    Exact(Value),
    Prefix(String),
    PrefixIgnoreCase(String),
    Suffix(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(String),
    Numeric(Range),
    Cidr(ipnet::IpNet),
    Exists(bool),
    AnythingBut(AnythingBut),
}

#[derive(Clone, Debug, PartialEq)]
enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<Number>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    IgnoreCase(Vec<String>),
    Wildcards(Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
struct Range {
    /// (bound, inclusive)
    lower: Option<(f64, bool)>,
    upper: Option<(f64, bool)>,
}

/// Field names that may not appear inside an `$or` branch (event-ruler
/// reserves them so an operator can never be mistaken for a field).
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

impl Pattern {
    /// Parses a pattern as EventBridge would accept it; the error says what
    /// is wrong and where (a JSON path into the pattern).
    pub fn parse(pattern: &Value) -> Result<Pattern, String> {
        let Value::Object(object) = pattern else {
            return Err("the pattern must be a JSON object".to_string());
        };
        let root = parse_object(object, "", false)?;
        Ok(Pattern { source: pattern.clone(), root })
    }

    /// The pattern as it was written.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Whether `event` (the Envelope as JSON) matches, as EventBridge decides.
    pub fn matches(&self, event: &Value) -> bool {
        object_matches(&self.root, Some(event))
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

fn at(path: &str, message: impl std::fmt::Display) -> String {
    if path.is_empty() { format!("{message}") } else { format!("at {path}: {message}") }
}

fn parse_object(object: &Map<String, Value>, path: &str, in_or: bool) -> Result<Object, String> {
    if object.is_empty() {
        return Err(at(path, "empty objects are not allowed"));
    }
    let mut parsed = Object { fields: Vec::new(), any_of: Vec::new() };
    for (name, value) in object {
        let here = join(path, name);
        if name == "$or" {
            let Value::Array(branches) = value else {
                return Err(at(&here, "$or must be an array of objects"));
            };
            if branches.len() < 2 {
                return Err(at(&here, "$or needs at least 2 objects"));
            }
            for (i, branch) in branches.iter().enumerate() {
                let Value::Object(branch) = branch else {
                    return Err(at(&format!("{here}[{i}]"), "only objects are allowed in $or"));
                };
                parsed.any_of.push(parse_object(branch, &format!("{here}[{i}]"), true)?);
            }
            continue;
        }
        if in_or && RESERVED_IN_OR.contains(&name.as_str()) {
            return Err(at(&here, format!("\"{name}\" is a reserved name and cannot be a field inside $or")));
        }
        let field = match value {
            Value::Object(nested) => Field::Nested(parse_object(nested, &here, in_or)?),
            Value::Array(items) => Field::Leaf(parse_leaf(items, &here)?),
            _ => return Err(at(&here, format!("\"{name}\" must be an object or an array"))),
        };
        parsed.fields.push((name.clone(), field));
    }
    Ok(parsed)
}

fn parse_leaf(items: &[Value], path: &str) -> Result<Vec<Matcher>, String> {
    if items.is_empty() {
        return Err(at(path, "empty arrays are not allowed"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let here = format!("{path}[{i}]");
            match item {
                Value::Object(operator) => parse_operator(operator, &here),
                Value::Array(_) => Err(at(&here, "a match value must be a string, number, true, false or null")),
                scalar => Ok(Matcher::Exact(scalar.clone())),
            }
        })
        .collect()
}

fn parse_operator(operator: &Map<String, Value>, path: &str) -> Result<Matcher, String> {
    let mut entries = operator.iter();
    let (Some((name, value)), None) = (entries.next(), entries.next()) else {
        return Err(at(path, "a match expression must have exactly one key"));
    };
    let here = join(path, name);
    let string = |what: &str| match value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(at(&here, format!("{what} match pattern must be a string"))),
    };
    match name.as_str() {
        "prefix" | "suffix" => {
            let prefix = name == "prefix";
            let plain = |s: String| if prefix { Matcher::Prefix(s) } else { Matcher::Suffix(s) };
            let ignore_case =
                |s: String| if prefix { Matcher::PrefixIgnoreCase(s) } else { Matcher::SuffixIgnoreCase(s) };
            match value {
                Value::String(s) => Ok(plain(s.clone())),
                Value::Object(inner) => {
                    let inner = single_key(inner, &here)?;
                    match inner {
                        ("equals-ignore-case", Value::String(s)) => Ok(ignore_case(s.clone())),
                        ("equals-ignore-case", _) => Err(at(
                            &join(&here, "equals-ignore-case"),
                            "equals-ignore-case match pattern must be a string",
                        )),
                        (other, _) => Err(at(&here, format!("unsupported {name} pattern: {other}"))),
                    }
                }
                _ => Err(at(&here, format!("{name} match pattern must be a string"))),
            }
        }
        "equals-ignore-case" => Ok(Matcher::EqualsIgnoreCase(string("equals-ignore-case")?)),
        "wildcard" => {
            let pattern = string("wildcard")?;
            check_wildcard(&pattern).map_err(|e| at(&here, e))?;
            Ok(Matcher::Wildcard(pattern))
        }
        "exists" => match value {
            Value::Bool(b) => Ok(Matcher::Exists(*b)),
            _ => Err(at(&here, "exists match pattern must be either true or false")),
        },
        "numeric" => parse_numeric(value, &here).map(Matcher::Numeric),
        "cidr" => parse_cidr(&string("cidr")?).map(Matcher::Cidr).map_err(|e| at(&here, e)),
        "anything-but" => parse_anything_but(value, &here).map(Matcher::AnythingBut),
        other => Err(at(path, format!("unrecognized match type \"{other}\""))),
    }
}

fn single_key<'a>(object: &'a Map<String, Value>, path: &str) -> Result<(&'a str, &'a Value), String> {
    let mut entries = object.iter();
    match (entries.next(), entries.next()) {
        (Some((name, value)), None) => Ok((name.as_str(), value)),
        _ => Err(at(path, "a match expression must have exactly one key")),
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn parse_numeric(value: &Value, path: &str) -> Result<Range, String> {
    let Value::Array(terms) = value else {
        return Err(at(path, "value of numeric must be an array"));
    };
    let operator = |i: usize| match terms.get(i) {
        Some(Value::String(op)) => Ok(op.as_str()),
        Some(other) => Err(at(&format!("{path}[{i}]"), format!("invalid member in numeric match: {other}"))),
        None => Err(at(path, "numeric match is missing an operator")),
    };
    let operand = |i: usize, op: &str| match terms.get(i) {
        Some(v) => number(v).ok_or_else(|| at(&format!("{path}[{i}]"), format!("value of {op} must be numeric"))),
        None => Err(at(path, format!("value of {op} is missing"))),
    };
    let too_many = |n: usize| {
        if terms.len() > n {
            Err(at(&format!("{path}[{n}]"), "too many elements in numeric expression"))
        } else {
            Ok(())
        }
    };
    let first = operator(0)?;
    let bound = operand(1, first)?;
    match first {
        "=" => {
            too_many(2)?;
            Ok(Range { lower: Some((bound, true)), upper: Some((bound, true)) })
        }
        "<" | "<=" => {
            too_many(2)?;
            Ok(Range { lower: None, upper: Some((bound, first == "<=")) })
        }
        ">" | ">=" => {
            let lower = Some((bound, first == ">="));
            if terms.len() == 2 {
                return Ok(Range { lower, upper: None });
            }
            let second = operator(2)?;
            if second != "<" && second != "<=" {
                return Err(at(&format!("{path}[2]"), format!("bad numeric range operator: {second}")));
            }
            let top = operand(3, second)?;
            too_many(4)?;
            Ok(Range { lower, upper: Some((top, second == "<=")) })
        }
        other => Err(at(&format!("{path}[0]"), format!("unrecognized numeric range operator: {other}"))),
    }
}

fn parse_cidr(text: &str) -> Result<ipnet::IpNet, String> {
    let (address, bits) = text.split_once('/').ok_or("malformed CIDR, one '/' required")?;
    let bits: u8 = bits.parse().map_err(|_| "malformed CIDR, mask bits must be a non-negative integer")?;
    let address: IpAddr = address.parse().map_err(|_| format!("invalid IP address: {address}"))?;
    // event-ruler's limits: a /32 (/128) is an address, written as one.
    let max = if address.is_ipv4() { 32 } else { 128 };
    if bits >= max {
        return Err(format!("mask bits must be < {max}"));
    }
    ipnet::IpNet::new(address, bits).map_err(|e| e.to_string())
}

fn check_wildcard(pattern: &str) -> Result<(), String> {
    let bytes = pattern.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'*' if bytes.get(i + 1) == Some(&b'*') => {
                return Err(format!("consecutive wildcard characters at pos {i}"));
            }
            b'\\' => match bytes.get(i + 1) {
                Some(b'*' | b'\\') => i += 1,
                _ => return Err(format!("invalid escape character at pos {i}")),
            },
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn parse_anything_but(value: &Value, path: &str) -> Result<AnythingBut, String> {
    match value {
        Value::String(s) => Ok(AnythingBut::Strings(vec![s.clone()])),
        Value::Number(n) => Ok(AnythingBut::Numbers(vec![n.clone()])),
        Value::Array(items) => {
            let strings: Vec<String> = items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
            let numbers: Vec<Number> =
                items.iter().filter_map(|v| if let Value::Number(n) = v { Some(n.clone()) } else { None }).collect();
            if let Some(i) = items.iter().position(|v| !v.is_string() && !v.is_number()) {
                return Err(at(&format!("{path}[{i}]"), "inside an anything-but list, only strings and numbers"));
            }
            match (strings.is_empty(), numbers.is_empty()) {
                (false, true) => Ok(AnythingBut::Strings(strings)),
                (true, false) => Ok(AnythingBut::Numbers(numbers)),
                _ => Err(at(path, "an anything-but list must be all strings or all numbers, and not empty")),
            }
        }
        Value::Object(inner) => {
            let (name, inner) = single_key(inner, path)?;
            if !["prefix", "suffix", "equals-ignore-case", "wildcard"].contains(&name) {
                return Err(at(path, format!("unsupported anything-but pattern: {name}")));
            }
            let here = join(path, name);
            let values: Vec<String> = match inner {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            at(&format!("{here}[{i}]"), format!("{name} match pattern must be a string"))
                        })
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(at(&here, format!("{name} match pattern must be a string or a list of strings"))),
            };
            match name {
                "prefix" | "suffix" => {
                    if values.iter().any(String::is_empty) {
                        return Err(at(&here, "an empty prefix or suffix is not allowed in anything-but"));
                    }
                    Ok(if name == "prefix" { AnythingBut::Prefixes(values) } else { AnythingBut::Suffixes(values) })
                }
                "equals-ignore-case" => Ok(AnythingBut::IgnoreCase(values)),
                _ => {
                    for value in &values {
                        check_wildcard(value).map_err(|e| at(&here, e))?;
                    }
                    Ok(AnythingBut::Wildcards(values))
                }
            }
        }
        _ => Err(at(path, "value of anything-but must be an array or a single string or number")),
    }
}

/// Whether `object` holds at `event` (absent, or a value that is not an
/// object: then every field of `object` is absent).
fn object_matches(object: &Object, event: Option<&Value>) -> bool {
    object.fields.iter().all(|(name, field)| {
        let child = match event {
            Some(Value::Object(map)) => map.get(name),
            _ => None,
        };
        match field {
            Field::Leaf(matchers) => leaf_matches(matchers, child),
            Field::Nested(nested) => nested_matches(nested, child),
        }
    }) && (object.any_of.is_empty() || object.any_of.iter().any(|branch| object_matches(branch, event)))
}

/// A nested sub-pattern against an event value: within one element when
/// the event holds an array (array consistency).
fn nested_matches(nested: &Object, child: Option<&Value>) -> bool {
    match child {
        Some(Value::Array(_)) => {
            let mut elements = Vec::new();
            flatten(child, &mut elements);
            if elements.is_empty() {
                object_matches(nested, None)
            } else {
                elements.into_iter().any(|element| object_matches(nested, Some(element)))
            }
        }
        other => object_matches(nested, other),
    }
}

/// Every value at this place, arrays (of arrays) flattened.
fn flatten<'a>(value: Option<&'a Value>, into: &mut Vec<&'a Value>) {
    match value {
        Some(Value::Array(items)) => items.iter().for_each(|item| flatten(Some(item), into)),
        Some(value) => into.push(value),
        None => {}
    }
}

fn leaf_matches(matchers: &[Matcher], child: Option<&Value>) -> bool {
    let mut values = Vec::new();
    flatten(child, &mut values);
    // Objects are not leaves: a field holding only objects has no value.
    values.retain(|v| !v.is_object());
    if values.is_empty() {
        return matchers.contains(&Matcher::Exists(false));
    }
    matchers.iter().any(|matcher| values.iter().any(|value| value_matches(matcher, value)))
}

fn numbers_equal(a: &Number, b: &Number) -> bool {
    match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

fn scalars_equal(pattern: &Value, event: &Value) -> bool {
    match (pattern, event) {
        (Value::Number(a), Value::Number(b)) => numbers_equal(a, b),
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Null, Value::Null) => true,
        _ => false,
    }
}

fn ignore_case_eq(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

fn value_matches(matcher: &Matcher, value: &Value) -> bool {
    let text = value.as_str();
    match matcher {
        Matcher::Exact(expected) => scalars_equal(expected, value),
        Matcher::Prefix(p) => text.is_some_and(|s| s.starts_with(p.as_str())),
        Matcher::Suffix(p) => text.is_some_and(|s| s.ends_with(p.as_str())),
        Matcher::PrefixIgnoreCase(p) => text.is_some_and(|s| s.to_lowercase().starts_with(&p.to_lowercase())),
        Matcher::SuffixIgnoreCase(p) => text.is_some_and(|s| s.to_lowercase().ends_with(&p.to_lowercase())),
        Matcher::EqualsIgnoreCase(p) => text.is_some_and(|s| ignore_case_eq(s, p)),
        Matcher::Wildcard(p) => text.is_some_and(|s| wildcard_matches(p, s)),
        Matcher::Numeric(range) => number(value).is_some_and(|n| range.contains(n)),
        Matcher::Cidr(net) => text.and_then(|s| s.parse::<IpAddr>().ok()).is_some_and(|ip| net.contains(&ip)),
        Matcher::Exists(exists) => *exists,
        // Anything-but matches every value (of any type) but the excluded.
        Matcher::AnythingBut(excluded) => !match excluded {
            AnythingBut::Strings(list) => text.is_some_and(|s| list.iter().any(|x| x == s)),
            AnythingBut::Numbers(list) => match value {
                Value::Number(n) => list.iter().any(|x| numbers_equal(x, n)),
                _ => false,
            },
            AnythingBut::Prefixes(list) => text.is_some_and(|s| list.iter().any(|x| s.starts_with(x.as_str()))),
            AnythingBut::Suffixes(list) => text.is_some_and(|s| list.iter().any(|x| s.ends_with(x.as_str()))),
            AnythingBut::IgnoreCase(list) => text.is_some_and(|s| list.iter().any(|x| ignore_case_eq(s, x))),
            AnythingBut::Wildcards(list) => text.is_some_and(|s| list.iter().any(|x| wildcard_matches(x, s))),
        },
    }
}

impl Range {
    fn contains(&self, n: f64) -> bool {
        let above = match self.lower {
            Some((bound, inclusive)) => n > bound || (inclusive && n == bound),
            None => true,
        };
        let below = match self.upper {
            Some((bound, inclusive)) => n < bound || (inclusive && n == bound),
            None => true,
        };
        above && below
    }
}

/// `*` is any run of characters; `\*` and `\\` are a literal `*` and `\`.
fn wildcard_matches(pattern: &str, text: &str) -> bool {
    enum Token {
        Any,
        Char(char),
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '*' => Token::Any,
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            c => Token::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // Greedy matching with backtracking to the last star: linear for
    // patterns without consecutive stars (which parse refuses).
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(Token::Any) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| matches!(token, Token::Any))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lark() -> Value {
        json!({
            "id": "lark:ev-1",
            "provider": "lark",
            "kind": "im.message.receive_v1",
            "tenant": "cli_a1b2",
            "received_at": "2024-05-01T10:00:00Z",
            "verification": {"scheme": "lark-token", "matched": "LARK_VERIFICATION_TOKEN"},
            "message": {"chat_id": "oc_team42", "chat_type": "group", "sender_id": "ou_7", "text": "Deploy now"},
            "payload": {"header": {"event_id": "ev-1", "create_time": "1714557600000"}, "event": {"message": {"mentions": [{"key": "@_user_1", "name": "inlet"}, {"key": "@_user_2"}]}}}
        })
    }

    fn alert() -> Value {
        json!({
            "id": "alertmanager:fp1:firing:2024-05-01T10:00:00Z",
            "provider": "alertmanager",
            "kind": "alert",
            "received_at": "2024-05-01T10:00:01Z",
            "verification": {"scheme": "bearer"},
            "alert": {"name": "HighCPU", "status": "firing", "severity": "critical",
                      "labels": {"team": "infra", "env": "prod"}, "annotations": {}, "fingerprint": "fp1"},
            "payload": {"version": "4", "truncatedAlerts": 0, "ratio": 0.75, "tags": ["cpu", "prod"], "empty": [], "nothing": null}
        })
    }

    fn check(pattern: Value, event: &Value) -> bool {
        Pattern::parse(&pattern).unwrap_or_else(|e| panic!("{pattern} should parse: {e}")).matches(event)
    }

    fn error(pattern: Value) -> String {
        Pattern::parse(&pattern).expect_err(&format!("{pattern} should be refused"))
    }

    #[test]
    fn exact_values_or_within_an_array_and_across_fields() {
        let e = lark();
        assert!(check(json!({"provider": ["lark"]}), &e));
        assert!(check(json!({"provider": ["slack", "lark"]}), &e));
        assert!(!check(json!({"provider": ["slack"]}), &e));
        assert!(check(json!({"provider": ["lark"], "message": {"chat_id": ["oc_team42"]}}), &e));
        assert!(!check(json!({"provider": ["lark"], "message": {"chat_id": ["oc_other"]}}), &e));
        assert!(!check(json!({"provider": ["Lark"]}), &e), "case-sensitive");
        // A field the event lacks never matches an exact value.
        assert!(!check(json!({"alert": {"status": ["firing"]}}), &e));
    }

    #[test]
    fn numbers_booleans_and_null_are_typed() {
        let e = alert();
        assert!(check(json!({"payload": {"truncatedAlerts": [0]}}), &e));
        assert!(check(json!({"payload": {"truncatedAlerts": [0.0]}}), &e), "0 and 0.0 are equal");
        assert!(check(json!({"payload": {"ratio": [7.5e-1]}}), &e));
        assert!(!check(json!({"payload": {"truncatedAlerts": ["0"]}}), &e), "a string is not a number");
        assert!(!check(json!({"payload": {"version": [4]}}), &e), "a number is not a string");
        assert!(!check(json!({"payload": {"truncatedAlerts": [false]}}), &e), "0 is not false");
        assert!(check(json!({"payload": {"nothing": [null]}}), &e));
        assert!(!check(json!({"payload": {"nothing": [""]}}), &e), "null is not the empty string");
        assert!(!check(json!({"payload": {"missing": [null]}}), &e), "absent is not null");
        assert!(check(json!({"flag": [true]}), &json!({"flag": true})));
        assert!(!check(json!({"flag": [1]}), &json!({"flag": true})), "true is not 1");
        assert!(check(json!({"big": [12345678901234567890u64]}), &json!({"big": 12345678901234567890u64})));
    }

    #[test]
    fn arrays_in_the_event_match_if_any_element_does() {
        let e = alert();
        assert!(check(json!({"payload": {"tags": ["prod"]}}), &e));
        assert!(!check(json!({"payload": {"tags": ["mem"]}}), &e));
        assert!(check(json!({"payload": {"tags": [{"prefix": "cp"}]}}), &e));
        // Arrays of objects: the sub-pattern holds within one element.
        let e = lark();
        assert!(check(json!({"payload": {"event": {"message": {"mentions": {"name": ["inlet"]}}}}}), &e));
        assert!(check(json!({"payload": {"event": {"message": {"mentions": {"key": ["@_user_2"]}}}}}), &e));
        assert!(!check(
            json!({"payload": {"event": {"message": {"mentions": {"key": ["@_user_2"], "name": ["inlet"]}}}}}),
            &e
        ));
        assert!(check(json!({"a": ["x"]}), &json!({"a": [["y"], ["x"]]})), "nested arrays flatten");
    }

    #[test]
    fn prefix_and_suffix() {
        let e = lark();
        assert!(check(json!({"kind": [{"prefix": "im.message."}]}), &e));
        assert!(!check(json!({"kind": [{"prefix": "im.chat."}]}), &e));
        assert!(!check(json!({"kind": [{"prefix": "message"}]}), &e), "inside is not at the start");
        assert!(!check(json!({"kind": [{"suffix": "message"}]}), &e), "inside is not at the end");
        assert!(!check(json!({"kind": [{"prefix": "IM."}]}), &e));
        assert!(check(json!({"kind": [{"prefix": {"equals-ignore-case": "IM.MESSAGE"}}]}), &e));
        assert!(check(json!({"kind": [{"suffix": "_v1"}]}), &e));
        assert!(!check(json!({"kind": [{"suffix": "_v2"}]}), &e));
        assert!(check(json!({"kind": [{"suffix": {"equals-ignore-case": "RECEIVE_V1"}}]}), &e));
        assert!(!check(json!({"kind": [{"suffix": {"equals-ignore-case": "send_v1"}}]}), &e));
        assert!(check(json!({"kind": [{"prefix": ""}]}), &e), "the empty prefix matches any string");
        assert!(!check(json!({"n": [{"prefix": "1"}]}), &json!({"n": 12})), "only strings have prefixes");
        assert!(!check(json!({"gone": [{"prefix": ""}]}), &e));
    }

    #[test]
    fn equals_ignore_case_and_wildcard() {
        let e = lark();
        assert!(check(json!({"message": {"text": [{"equals-ignore-case": "DEPLOY NOW"}]}}), &e));
        assert!(!check(json!({"message": {"text": [{"equals-ignore-case": "deploy"}]}}), &e));
        assert!(check(json!({"kind": [{"wildcard": "im.*.receive_*"}]}), &e));
        assert!(!check(json!({"kind": [{"wildcard": "im.*.send_*"}]}), &e));
        assert!(check(json!({"s": [{"wildcard": "a\\*b*"}]}), &json!({"s": "a*bcd"})));
        assert!(!check(json!({"s": [{"wildcard": "a\\*b*"}]}), &json!({"s": "axbcd"})));
        assert!(wildcard_matches("*a*b", "xaxab") && !wildcard_matches("*a*b", "xaxa") && wildcard_matches("*", ""));
    }

    #[test]
    fn anything_but() {
        let e = alert();
        let status = |m: Value| check(json!({"alert": {"status": [m]}}), &e);
        assert!(status(json!({"anything-but": "resolved"})));
        assert!(!status(json!({"anything-but": "firing"})));
        assert!(!status(json!({"anything-but": ["resolved", "firing"]})));
        assert!(status(json!({"anything-but": ["resolved", "silenced"]})));
        assert!(!status(json!({"anything-but": {"prefix": "fir"}})));
        assert!(status(json!({"anything-but": {"prefix": ["res", "sil"]}})));
        assert!(!status(json!({"anything-but": {"suffix": "ing"}})));
        assert!(status(json!({"anything-but": {"suffix": "ed"}})));
        assert!(!status(json!({"anything-but": {"equals-ignore-case": ["FIRING"]}})));
        assert!(status(json!({"anything-but": {"equals-ignore-case": "RESOLVED"}})));
        assert!(!status(json!({"anything-but": {"wildcard": "f*g"}})));
        let count = |m: Value| check(json!({"payload": {"truncatedAlerts": [m]}}), &e);
        assert!(!count(json!({"anything-but": 0})));
        assert!(!count(json!({"anything-but": [0.0, 5]})), "numbers compare by value");
        assert!(count(json!({"anything-but": [1, 2]})));
        assert!(count(json!({"anything-but": "0"})), "a string list excludes only strings");
        // Absent fields never match anything-but; other types always do.
        assert!(!check(json!({"alert": {"missing": [{"anything-but": "x"}]}}), &e));
        assert!(check(json!({"payload": {"nothing": [{"anything-but": "x"}]}}), &e));
        // In an array, any element other than the excluded matches.
        assert!(check(json!({"payload": {"tags": [{"anything-but": "cpu"}]}}), &e));
        assert!(!check(json!({"payload": {"tags": [{"anything-but": ["cpu", "prod"]}]}}), &e));
    }

    #[test]
    fn exists_only_on_leaves() {
        let e = alert();
        assert!(check(json!({"alert": {"severity": [{"exists": true}]}}), &e));
        assert!(!check(json!({"alert": {"severity": [{"exists": false}]}}), &e));
        assert!(check(json!({"alert": {"summary": [{"exists": false}]}}), &e));
        assert!(!check(json!({"alert": {"summary": [{"exists": true}]}}), &e));
        assert!(check(json!({"payload": {"nothing": [{"exists": true}]}}), &e), "null is a value");
        // An object, an empty object, an empty array: no leaf, no value.
        assert!(!check(json!({"alert": {"labels": [{"exists": true}]}}), &e));
        assert!(check(json!({"alert": {"labels": [{"exists": false}]}}), &e));
        assert!(!check(json!({"alert": {"annotations": [{"exists": true}]}}), &e));
        assert!(!check(json!({"payload": {"empty": [{"exists": true}]}}), &e));
        assert!(check(json!({"payload": {"empty": [{"exists": false}]}}), &e));
        // Under a missing parent, every child is absent.
        assert!(check(json!({"message": {"chat_id": [{"exists": false}]}}), &e));
        assert!(!check(json!({"message": {"chat_id": [{"exists": true}]}}), &e));
    }

    #[test]
    fn numeric_ranges() {
        let e = alert();
        let ratio = |m: Value| check(json!({"payload": {"ratio": [{"numeric": m}]}}), &e);
        assert!(ratio(json!([">", 0.5])));
        assert!(!ratio(json!([">", 0.75])));
        assert!(ratio(json!([">=", 0.75])));
        assert!(ratio(json!(["<", 1])));
        assert!(!ratio(json!(["<", 0.75])));
        assert!(ratio(json!(["<=", 0.75])));
        assert!(ratio(json!(["=", 75e-2])));
        assert!(!ratio(json!(["=", 0.7])));
        assert!(ratio(json!([">", 0, "<=", 0.75])));
        assert!(!ratio(json!([">", 0, "<", 0.75])));
        assert!(!ratio(json!([">=", 1, "<", 2])));
        assert!(check(json!({"n": [{"numeric": ["=", 5]}]}), &json!({"n": 5.0})));
        assert!(!check(json!({"n": [{"numeric": [">", 0]}]}), &json!({"n": "5"})), "strings are not numbers");
        assert!(!check(json!({"n": [{"numeric": [">", 0]}]}), &json!({"n": true})), "true is not a number");
        assert!(check(json!({"n": [{"numeric": ["<", 0]}]}), &json!({"n": [3, -1]})));
    }

    #[test]
    fn cidr() {
        let m = |ip: &str| check(json!({"ip": [{"cidr": "10.0.0.0/24"}]}), &json!({"ip": ip}));
        assert!(m("10.0.0.7") && !m("10.0.1.7") && !m("not an address"));
        assert!(check(json!({"ip": [{"cidr": "2001:db8::/32"}]}), &json!({"ip": "2001:db8::1"})));
    }

    #[test]
    fn or_of_sub_patterns() {
        let e = alert();
        let p = json!({"provider": ["alertmanager"], "$or": [
            {"alert": {"severity": ["critical"]}},
            {"alert": {"labels": {"team": ["payments"]}}}
        ]});
        assert!(check(p, &e));
        let p = json!({"$or": [{"alert": {"severity": ["warning"]}}, {"alert": {"labels": {"team": ["payments"]}}}]});
        assert!(!check(p, &e));
        let p = json!({"alert": {"$or": [{"severity": ["warning"]}, {"labels": {"env": [{"prefix": "pro"}]}}]}});
        assert!(check(p, &e));
        // The $or is ANDed with its siblings.
        let p = json!({"provider": ["lark"], "$or": [{"kind": ["alert"]}, {"tenant": ["x"]}]});
        assert!(!check(p, &e));
    }

    #[test]
    fn parse_errors_name_the_place() {
        let cases = [
            (json!(["not", "an", "object"]), "must be a JSON object"),
            (json!({}), "empty objects"),
            (json!({"detail": {}}), "at detail: empty objects"),
            (json!({"provider": "lark"}), "at provider: \"provider\" must be an object or an array"),
            (json!({"provider": 5}), "must be an object or an array"),
            (json!({"alert": {"status": []}}), "at alert.status: empty arrays"),
            (json!({"alert": {"status": [["firing"]]}}), "at alert.status[0]: a match value"),
            (json!({"kind": ["a", {"prefx": "im."}]}), "at kind[1]: unrecognized match type \"prefx\""),
            (json!({"kind": [{}]}), "at kind[0]: a match expression must have exactly one key"),
            (json!({"kind": [{"prefix": "a", "suffix": "b"}]}), "exactly one key"),
            (json!({"kind": [{"prefix": 5}]}), "at kind[0].prefix: prefix match pattern must be a string"),
            (json!({"kind": [{"prefix": ["a"]}]}), "prefix match pattern must be a string"),
            (json!({"kind": [{"prefix": {"exists": true}}]}), "unsupported prefix pattern"),
            (json!({"kind": [{"suffix": {"equals-ignore-case": 1}}]}), "must be a string"),
            (json!({"kind": [{"equals-ignore-case": ["a"]}]}), "equals-ignore-case match pattern must be a string"),
            (json!({"kind": [{"exists": "yes"}]}), "at kind[0].exists: exists match pattern must be either"),
            (json!({"n": [{"numeric": 5}]}), "at n[0].numeric: value of numeric must be an array"),
            (json!({"n": [{"numeric": []}]}), "missing an operator"),
            (json!({"n": [{"numeric": ["!=", 5]}]}), "at n[0].numeric[0]: unrecognized numeric range operator: !="),
            (json!({"n": [{"numeric": [">", "5"]}]}), "at n[0].numeric[1]: value of > must be numeric"),
            (json!({"n": [{"numeric": [">"]}]}), "value of > is missing"),
            (json!({"n": [{"numeric": ["=", 5, "<", 6]}]}), "at n[0].numeric[2]: too many elements"),
            (json!({"n": [{"numeric": ["<", 6, ">", 5]}]}), "too many elements"),
            (json!({"n": [{"numeric": [">", 5, ">", 6]}]}), "at n[0].numeric[2]: bad numeric range operator: >"),
            (json!({"n": [{"numeric": [">", 5, "<", 6, "<", 7]}]}), "at n[0].numeric[4]: too many"),
            (json!({"n": [{"numeric": [5, ">"]}]}), "invalid member in numeric match"),
            (json!({"s": [{"anything-but": []}]}), "all strings or all numbers, and not empty"),
            (json!({"s": [{"anything-but": ["a", 1]}]}), "all strings or all numbers"),
            (json!({"s": [{"anything-but": [null]}]}), "at s[0].anything-but[0]: inside an anything-but list"),
            (json!({"s": [{"anything-but": true}]}), "value of anything-but must be"),
            (json!({"s": [{"anything-but": {"prefix": ""}}]}), "empty prefix or suffix"),
            (json!({"s": [{"anything-but": {"prefix": 5}}]}), "at s[0].anything-but.prefix: prefix match"),
            (json!({"s": [{"anything-but": {"exists": true}}]}), "unsupported anything-but pattern: exists"),
            (json!({"s": [{"anything-but": {"numeric": [">", 1]}}]}), "unsupported anything-but pattern"),
            (json!({"s": [{"wildcard": "a**b"}]}), "consecutive wildcard characters"),
            (json!({"s": [{"wildcard": "a\\b"}]}), "invalid escape character"),
            (json!({"s": [{"cidr": "10.0.0.0"}]}), "one '/' required"),
            (json!({"s": [{"cidr": "10.0.0.0/32"}]}), "mask bits must be < 32"),
            (json!({"$or": [{"a": ["x"]}]}), "at $or: $or needs at least 2 objects"),
            (json!({"$or": {"a": ["x"]}}), "$or must be an array"),
            (json!({"$or": [{"a": ["x"]}, ["b"]]}), "at $or[1]: only objects"),
            (json!({"$or": [{"a": ["x"]}, {"prefix": ["b"]}]}), "at $or[1].prefix: \"prefix\" is a reserved name"),
            (json!({"detail": {"$or": [{"a": ["x"]}, {"b": []}]}}), "at detail.$or[1].b: empty arrays"),
        ];
        for (pattern, expected) in cases {
            let message = error(pattern.clone());
            assert!(message.contains(expected), "{pattern}: {message:?} does not say {expected:?}");
        }
    }

    #[test]
    fn a_broad_valid_pattern_parses_and_keeps_its_source() {
        let source = json!({
            "provider": ["lark", "slack"],
            "message": {"chat_id": [{"prefix": "oc_"}], "text": [{"anything-but": {"prefix": "/"}}]},
            "$or": [{"tenant": [{"exists": true}]}, {"kind": [{"wildcard": "im.*"}]}]
        });
        let pattern = Pattern::parse(&source).expect("valid");
        assert_eq!(pattern.source(), &source);
        assert!(pattern.matches(&lark()));
        assert!(!pattern.matches(&alert()));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn scalar() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                (-1000i64..1000).prop_map(|n| json!(n)),
                (-1000i64..1000).prop_map(|n| json!(n as f64 / 4.0)),
                "[a-cA-C]{0,4}".prop_map(Value::String),
            ]
        }

        fn json_value() -> impl Strategy<Value = Value> {
            scalar().prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map("[a-c$]{1,3}|prefix|numeric|exists|anything-but", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                failure_persistence: Some(Box::new(prop::test_runner::FileFailurePersistence::Off)),
                ..ProptestConfig::default()
            })]

            // Any JSON at all: parse answers (never panics), and a parsed
            // pattern answers for any event.
            #[test]
            fn parse_and_match_never_panic(pattern in json_value(), event in json_value()) {
                if let Ok(pattern) = Pattern::parse(&pattern) {
                    let _ = pattern.matches(&event);
                }
            }

            // anything-but of a value is exactly the complement of the value,
            // for a present leaf.
            #[test]
            fn anything_but_is_the_complement_of_exact(value in "[a-c]{0,3}", event in scalar()) {
                let exact = check(json!({"f": [value.clone()]}), &json!({"f": event.clone()}));
                let but = check(json!({"f": [{"anything-but": value}]}), &json!({"f": event}));
                prop_assert_eq!(exact, !but);
            }

            #[test]
            fn prefix_suffix_and_ignore_case_agree_with_str(p in "[aAbB]{0,3}", s in "[aAbB]{0,5}") {
                let e = json!({"f": s.clone()});
                prop_assert_eq!(check(json!({"f": [{"prefix": p.clone()}]}), &e), s.starts_with(&p));
                prop_assert_eq!(check(json!({"f": [{"suffix": p.clone()}]}), &e), s.ends_with(&p));
                prop_assert_eq!(
                    check(json!({"f": [{"equals-ignore-case": p.clone()}]}), &e),
                    s.to_lowercase() == p.to_lowercase()
                );
                // A wildcard without stars is an exact match.
                prop_assert_eq!(check(json!({"f": [{"wildcard": p.clone()}]}), &e), s == p);
                let starred = if p.is_empty() { "*".to_string() } else { format!("*{p}*") };
                prop_assert_eq!(check(json!({"f": [{"wildcard": starred}]}), &e), s.contains(&p));
            }

            #[test]
            fn numeric_ranges_agree_with_f64(lo in -50i32..50, hi in -50i32..50, n in -60i32..60, half in any::<bool>()) {
                let x = f64::from(n) + if half { 0.5 } else { 0.0 };
                let (lo, hi) = (f64::from(lo), f64::from(hi));
                let e = json!({"n": x});
                prop_assert_eq!(check(json!({"n": [{"numeric": [">", lo, "<=", hi]}]}), &e), x > lo && x <= hi);
                prop_assert_eq!(check(json!({"n": [{"numeric": [">=", lo, "<", hi]}]}), &e), x >= lo && x < hi);
                prop_assert_eq!(check(json!({"n": [{"numeric": ["=", lo]}]}), &e), x == lo);
                prop_assert_eq!(check(json!({"n": [lo]}), &e), x == lo);
            }
        }
    }
}
