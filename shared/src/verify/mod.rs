//! Signature and crypto primitives shared by every provider: constant-time
//! comparison, timestamp windows, and lists of secrets for rotation.
//!
//! Everything here takes bytes, strings and a clock; nothing knows about HTTP
//! frameworks, so each scheme is tested with the platforms' public vectors.
//! A scheme only one platform speaks (Lark's AES body and SHA-1/SHA-256
//! signatures, Grafana's HMAC layout, Discord's Ed25519) lives in that
//! platform's crate and is built from these primitives. Standard Webhooks'
//! `v1` is the exception: inlet verifies it (functions/standard-webhooks)
//! and signs with it (the HTTP destination), so it lives here once.

pub mod http_auth;
pub mod standard_webhooks;

use std::fmt;

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::{ConfigError, IngressError};

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Raw SHA-256 of `data`.
pub fn sha256_bytes(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Raw HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// A secret value whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One configured secret and the name the Envelope records when it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedSecret {
    pub name: String,
    pub value: Secret,
}

/// The secrets of one setting, in order. Several entries let an operator
/// rotate a secret without downtime: add the new one, switch the platform,
/// remove the old one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretList {
    entries: Vec<NamedSecret>,
}

impl SecretList {
    /// Parses a comma-separated list. Entries are named `SETTING#1`,
    /// `SETTING#2`, … by position, so the name reveals nothing of the value.
    pub fn parse(setting: &str, raw: &str) -> Self {
        let entries = raw
            .split(',')
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .enumerate()
            .map(|(index, value)| NamedSecret { name: format!("{setting}#{}", index + 1), value: Secret::new(value) })
            .collect();
        SecretList { entries }
    }

    /// Parses `label=secret` pairs, named `SETTING:label`.
    pub fn parse_labelled(setting: &str, raw: &str) -> Result<Self, ConfigError> {
        let mut entries = Vec::new();
        for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (label, value) =
                pair.split_once('=').ok_or_else(|| ConfigError::new(setting, "each entry must be label=secret"))?;
            let (label, value) = (label.trim(), value.trim());
            if label.is_empty() || value.is_empty() {
                return Err(ConfigError::new(setting, "each entry must be label=secret, both non-empty"));
            }
            entries.push(NamedSecret { name: format!("{setting}:{label}"), value: Secret::new(value) });
        }
        Ok(SecretList { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &NamedSecret> {
        self.entries.iter()
    }

    /// Finds the entry whose value equals `presented`, comparing in constant
    /// time against every entry so the position of a match does not leak.
    pub fn find_equal(&self, presented: &[u8]) -> Option<&NamedSecret> {
        let mut found = None;
        for entry in &self.entries {
            if constant_time_eq(entry.value.expose().as_bytes(), presented) && found.is_none() {
                found = Some(entry);
            }
        }
        found
    }

    /// Finds the first entry for which `matches` holds (for signature
    /// schemes, where each secret yields a different expected signature).
    pub fn find(&self, mut matches: impl FnMut(&Secret) -> bool) -> Option<&NamedSecret> {
        self.entries.iter().find(|entry| matches(&entry.value))
    }

    /// Like [`SecretList::find`], but `matches` runs for every entry, so the
    /// time taken does not depend on which one matched (signature schemes
    /// whose comparison is itself constant-time).
    pub fn find_all_evaluated(&self, mut matches: impl FnMut(&Secret) -> bool) -> Option<&NamedSecret> {
        let mut found = None;
        for entry in &self.entries {
            if matches(&entry.value) && found.is_none() {
                found = Some(entry);
            }
        }
        found
    }

    /// The first entry whose signature, `sign(secret)`, equals any of the
    /// `presented` ones. Every entry is signed and compared with every
    /// presented value, each in constant time, so the time taken depends
    /// neither on which entry or value matched nor on how much of a guess
    /// was right.
    pub fn find_signer<P: AsRef<[u8]>, E: AsRef<[u8]>>(
        &self,
        presented: &[P],
        mut sign: impl FnMut(&str) -> E,
    ) -> Option<&NamedSecret> {
        self.find_all_evaluated(|secret| {
            let expected = sign(secret.expose());
            // `|`, not `any`: no presented value is skipped once one matched.
            presented.iter().fold(false, |matched, value| matched | constant_time_eq(expected.as_ref(), value.as_ref()))
        })
    }
}

/// Python's `int(text)` in base 10, as canonical decimal text: surrounding
/// whitespace, an optional sign, digits with single `_` between them;
/// leading zeros dropped (`" +0_17 "` → `"17"`, `"-0"` → `"0"`). Senders
/// whose official library reads a signed timestamp this way (stripe-python,
/// standardwebhooks) sign the integer written back, not the header's text.
/// (Python also takes non-ASCII digits; a header value read as text holds
/// only visible ASCII, spaces and tabs.)
pub fn python_int(text: &str) -> Option<String> {
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return None;
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    let trimmed = digits.trim_start_matches('0');
    Some(match (trimmed.is_empty(), negative) {
        (true, _) => "0".to_string(),
        (false, true) => format!("-{trimmed}"),
        (false, false) => trimmed.to_string(),
    })
}

/// How far a signed timestamp may stray from the receiver's clock, both ways.
/// Signatures over old timestamps are how replayed requests are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampWindow {
    pub tolerance_secs: u64,
}

impl TimestampWindow {
    pub const DEFAULT_SECS: u64 = 300;

    /// Checks a decimal Unix timestamp in seconds against `now_unix`.
    pub fn check(&self, timestamp: &str, now_unix: i64) -> Result<i64, IngressError> {
        let stale = || IngressError::StaleTimestamp {
            timestamp: truncate_for_log(timestamp),
            tolerance_secs: self.tolerance_secs,
        };
        let seconds: i64 = timestamp.trim().parse().map_err(|_| stale())?;
        if seconds.abs_diff(now_unix) > self.tolerance_secs {
            return Err(stale());
        }
        Ok(seconds)
    }

    /// `timestamp` (whole seconds) is more than the tolerance before `now`,
    /// compared with `now`'s fraction of a second (as Python libraries
    /// compare with `time.time()` or a datetime). For senders whose
    /// official library refuses only old timestamps (stripe-python).
    pub fn too_old(&self, timestamp: i64, now: OffsetDateTime) -> bool {
        i128::from(timestamp) * NANOS < now.unix_timestamp_nanos() - self.tolerance_nanos()
    }

    /// `timestamp` (whole seconds) is more than the tolerance after `now`,
    /// compared with `now`'s fraction of a second.
    pub fn too_new(&self, timestamp: i64, now: OffsetDateTime) -> bool {
        i128::from(timestamp) * NANOS > now.unix_timestamp_nanos() + self.tolerance_nanos()
    }

    fn tolerance_nanos(&self) -> i128 {
        i128::from(self.tolerance_secs) * NANOS
    }
}

const NANOS: i128 = 1_000_000_000;

impl Default for TimestampWindow {
    fn default() -> Self {
        TimestampWindow { tolerance_secs: Self::DEFAULT_SECS }
    }
}

/// Client-supplied text echoed into an error is cut short so a refusal
/// can never be used to make log lines of arbitrary size.
pub fn truncate_for_log(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_requires_same_length_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn secret_list_names_entries_by_position_and_skips_blanks() {
        let list = SecretList::parse("TOKEN", " old , ,new,");
        let names: Vec<_> = list.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["TOKEN#1", "TOKEN#2"]);
        assert_eq!(list.find_equal(b"new").map(|e| e.name.as_str()), Some("TOKEN#2"));
        assert_eq!(list.find_equal(b"old").map(|e| e.name.as_str()), Some("TOKEN#1"));
        assert!(list.find_equal(b"ne").is_none());
        assert!(SecretList::parse("TOKEN", "").is_empty());
    }

    #[test]
    fn labelled_secret_list_requires_pairs() {
        let list = SecretList::parse_labelled("T", "a=1, b=2").unwrap();
        assert_eq!(list.find_equal(b"2").map(|e| e.name.as_str()), Some("T:b"));
        assert!(SecretList::parse_labelled("T", "a").is_err());
        assert!(SecretList::parse_labelled("T", "=x").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let list = SecretList::parse("TOKEN", "hunter2");
        assert!(!format!("{list:?}").contains("hunter2"));
    }

    #[test]
    fn timestamp_window_accepts_inside_and_refuses_outside_both_ways() {
        let window = TimestampWindow { tolerance_secs: 300 };
        assert!(window.check("1700000000", 1_700_000_300).is_ok());
        assert!(window.check("1700000300", 1_700_000_000).is_ok());
        assert!(window.check("1700000000", 1_700_000_301).is_err());
        assert!(window.check("1700000301", 1_700_000_000).is_err());
        assert!(matches!(window.check("soon", 0), Err(IngressError::StaleTimestamp { .. })));
    }

    #[test]
    fn one_sided_checks_compare_with_the_fraction_of_a_second() {
        let window = TimestampWindow { tolerance_secs: 300 };
        let at = |secs: i64, nanos: i64| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(secs) * NANOS + i128::from(nanos)).unwrap()
        };
        // Exactly the tolerance either way is inside.
        assert!(!window.too_old(1_700_000_000, at(1_700_000_300, 0)));
        assert!(!window.too_new(1_700_000_300, at(1_700_000_000, 0)));
        // A nanosecond past it is outside, on the side checked only.
        assert!(window.too_old(1_700_000_000, at(1_700_000_300, 1)));
        assert!(!window.too_new(1_700_000_000, at(1_700_000_300, 1)));
        assert!(window.too_new(1_700_000_301, at(1_700_000_000, 999_999_999)));
        assert!(!window.too_new(1_700_000_300, at(1_700_000_000, 1)));
        assert!(!window.too_old(1_700_000_301, at(1_700_000_000, 999_999_999)));
        // Extremes do not overflow.
        assert!(window.too_old(i64::MIN, at(0, 0)));
        assert!(window.too_new(i64::MAX, at(0, 0)));
        let forever = TimestampWindow { tolerance_secs: u64::MAX };
        assert!(!forever.too_old(i64::MIN, at(1_700_000_000, 0)));
        assert!(!forever.too_new(i64::MAX, at(1_700_000_000, 0)));
        let exact = TimestampWindow { tolerance_secs: 0 };
        assert!(!exact.too_old(1_700_000_000, at(1_700_000_000, 0)));
        assert!(exact.too_old(1_700_000_000, at(1_700_000_000, 1)));
    }

    #[test]
    fn hmac_matches_github_vector() {
        let mac = hmac_sha256(b"It's a Secret to Everybody", &[b"Hello, World!"]);
        assert_eq!(hex::encode(mac), "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    }

    #[test]
    fn long_client_text_is_truncated_in_errors() {
        let long = "x".repeat(1000);
        assert!(truncate_for_log(&long).chars().count() <= 41);
    }

    #[test]
    fn python_int_reads_what_pythons_int_reads() {
        for (text, expected) in [
            ("1700000000", Some("1700000000")),
            (" 01700000000\t", Some("1700000000")),
            ("+1_700_000_000", Some("1700000000")),
            ("-5", Some("-5")),
            ("-0", Some("0")),
            ("000", Some("0")),
            ("1__0", None),
            ("_1", None),
            ("1_", None),
            ("1.5", None),
            ("1e9", None),
            ("", None),
            ("-", None),
            ("0x10", None),
        ] {
            assert_eq!(python_int(text).as_deref(), expected, "{text:?}");
        }
    }

    #[test]
    fn find_all_evaluated_runs_every_entry_and_keeps_the_first_match() {
        let list = SecretList::parse("S", "a,b,b");
        let mut seen = Vec::new();
        let found = list.find_all_evaluated(|secret| {
            seen.push(secret.expose().to_string());
            secret.expose() == "b"
        });
        assert_eq!(found.map(|e| e.name.as_str()), Some("S#2"));
        assert_eq!(seen, ["a", "b", "b"], "every entry is evaluated");
        assert!(list.find_all_evaluated(|_| false).is_none());
    }

    #[test]
    fn find_signer_signs_with_every_entry_and_accepts_any_presented_value() {
        let list = SecretList::parse("S", "a,b,c");
        let mut signed = Vec::new();
        let mut sign = |secret: &str| {
            signed.push(secret.to_string());
            format!("sig-{secret}")
        };
        let found = list.find_signer(&["nope", "sig-b", "sig-c"], &mut sign);
        assert_eq!(found.map(|e| e.name.as_str()), Some("S#2"));
        assert_eq!(signed, ["a", "b", "c"], "every entry is signed");
        assert!(list.find_signer(&["sig-"], |secret| format!("sig-{secret}")).is_none());
        assert!(list.find_signer::<&str, String>(&[], |secret| format!("sig-{secret}")).is_none());
    }
}
