//! Where a URL that arrives inside an event may point before inlet calls
//! it: DingTalk's `sessionWebhook` (`DINGTALK_REPLY_HOSTS`), Slack's
//! `response_url` (`SLACK_REPLY_HOSTS`).
//!
//! Such a URL is data from a request. DingTalk's `sign` covers the
//! timestamp only, so whoever holds one signed pair can post any body for
//! an hour, `sessionWebhook` included; a reply client POSTs to the URL, so
//! one taken on trust would aim inlet's replies (with the reply's content)
//! at any address: another service, an internal one, or the Lambda runtime
//! API on loopback. Only an address on the platform's own hosts (or hosts
//! the operator names) is called.
//!
//! The rules, chosen so that no URL parser can read the host differently:
//! - visible ASCII only, no backslash (where parsers disagree);
//! - `https://`; `http://` only for a loopback host the setting names
//!   (`localhost`, `127.x.x.x`, `[::1]`), for the local stack;
//! - no userinfo (`user@host`), and the host equal, ignoring ASCII case,
//!   to an entry of the setting: no suffix match, no trailing dot, no
//!   other spelling of an address;
//! - a bare entry allows only the scheme's default port (443, or 80 for
//!   `http://`); `host:port` allows exactly that port. So naming
//!   `127.0.0.1` does not open the runtime API's port on it.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::config::EnvSource;
use crate::error::ConfigError;
use crate::verify::truncate_for_log;

/// The longest URL kept (DingTalk's and Slack's are about 100 characters).
pub const MAX_URL_LEN: usize = 2048;

/// One entry: a host name or address (lower case, IPv6 in brackets) and,
/// when named, the one port allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    pub host: String,
    pub port: Option<u16>,
}

impl AllowedHost {
    fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self.host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
            || self
                .host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse::<Ipv6Addr>().ok())
                .is_some_and(|ip| ip.is_loopback())
    }
}

/// The allowed hosts of one setting, read once at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyHosts {
    setting: &'static str,
    hosts: Vec<AllowedHost>,
}

impl ReplyHosts {
    /// The platform's own hosts, for `setting`.
    pub fn defaults(setting: &'static str, defaults: &[&str]) -> Self {
        let hosts = defaults.iter().map(|h| AllowedHost { host: h.to_string(), port: None }).collect();
        ReplyHosts { setting, hosts }
    }

    /// `setting`, or `defaults` (the platform's hosts) when it is unset or empty.
    pub fn from_env(env: &dyn EnvSource, setting: &'static str, defaults: &[&str]) -> Result<Self, ConfigError> {
        Self::parse(setting, defaults, &env.get(setting).unwrap_or_default())
    }

    /// Comma-separated `host` or `host:port` entries. Anything else (a
    /// URL, a path, userinfo, a wildcard, an IPv6 address without brackets)
    /// is a mistake that would silently allow nothing or too much: refused.
    pub fn parse(setting: &'static str, defaults: &[&str], raw: &str) -> Result<Self, ConfigError> {
        let mut hosts = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let host = parse_entry(entry).map_err(|why| ConfigError::new(setting, format!("entry {entry:?} {why}")))?;
            hosts.push(host);
        }
        if hosts.is_empty() {
            return Ok(ReplyHosts::defaults(setting, defaults));
        }
        Ok(ReplyHosts { setting, hosts })
    }

    pub fn setting(&self) -> &'static str {
        self.setting
    }

    pub fn hosts(&self) -> &[AllowedHost] {
        &self.hosts
    }

    /// Whether `url` may become a reply handle; the refusal says why and
    /// names the host, never the path or query (DingTalk's carry the
    /// session token).
    pub fn check(&self, url: &str) -> Result<(), String> {
        if url.len() > MAX_URL_LEN {
            return Err(format!("is longer than {MAX_URL_LEN} characters"));
        }
        if !url.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'\\') {
            return Err("holds a space, a control or non-ASCII character, or a backslash".into());
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err("is not an absolute URL".into());
        };
        let https = scheme.eq_ignore_ascii_case("https");
        if !https && !scheme.eq_ignore_ascii_case("http") {
            return Err(format!("has scheme {:?}, not https", truncate_for_log(scheme)));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err("carries userinfo (user@host)".into());
        }
        let (host, port) = split_host_port(authority)
            .ok_or_else(|| format!("has an unreadable host or port {:?}", truncate_for_log(authority)))?;
        let host = host.to_ascii_lowercase();
        let named: Vec<&AllowedHost> = self.hosts.iter().filter(|a| a.host == host).collect();
        if named.is_empty() {
            return Err(format!("is on host {:?}, not one of {}", truncate_for_log(&host), self.setting));
        }
        let default_port = if https { 443 } else { 80 };
        let port_ok = |allowed: &AllowedHost| match allowed.port {
            Some(only) => port.unwrap_or(default_port) == only,
            None => port.is_none_or(|p| p == default_port),
        };
        // One host may be named with several ports (two local servers).
        let Some(allowed) = named.into_iter().find(|allowed| port_ok(allowed)) else {
            return Err(format!(
                "is on host {host:?} at port {}, which {} does not name",
                port.unwrap_or(default_port),
                self.setting
            ));
        };
        if !https && !allowed.is_loopback() {
            return Err(format!("is http:// on {host:?}; http:// is kept only for a loopback host"));
        }
        Ok(())
    }
}

/// `host` and optional port of an authority; `None` for an empty host, an
/// empty or non-numeric port, port 0, or an IPv6 address without brackets.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        let (host, after) = authority.split_at(end);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None => None,
        Some(digits) => {
            if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(digits.parse::<u16>().ok().filter(|p| *p != 0)?)
        }
    };
    Some((host, port))
}

fn parse_entry(entry: &str) -> Result<AllowedHost, &'static str> {
    if entry.contains("://") || entry.contains('/') {
        return Err("is a URL or path: name the host only (host or host:port)");
    }
    if entry.contains('@') {
        return Err("holds userinfo: name the host only");
    }
    if entry.contains('*') {
        return Err("is a wildcard: name each host exactly");
    }
    if !entry.starts_with('[') && entry.matches(':').count() > 1 {
        return Err("is an IPv6 address without brackets: write it as [::1] or [::1]:port");
    }
    let (host, port) = split_host_port(entry).ok_or("has an empty host, or a port that is not 1-65535")?;
    let host = host.to_ascii_lowercase();
    let valid = if let Some(inner) = host.strip_prefix('[') {
        inner.strip_suffix(']').is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok())
    } else {
        is_dns_name(&host)
    };
    if !valid {
        return Err("is not a host name (letters, digits, - and . labels) or an address");
    }
    Ok(AllowedHost { host, port })
}

/// A DNS name (an IPv4 address is one too): labels of 1–63 of `a-z0-9-`,
/// not starting or ending with `-`, at most 253 characters, no trailing dot
/// (a URL's host must then be written exactly so).
fn is_dns_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTING: &str = "DINGTALK_REPLY_HOSTS";
    const DEFAULT_HOSTS: &[&str] = &["oapi.dingtalk.com", "api.dingtalk.com"];

    fn hosts(raw: &str) -> ReplyHosts {
        ReplyHosts::parse(SETTING, DEFAULT_HOSTS, raw).expect("valid setting")
    }

    fn dingtalk() -> ReplyHosts {
        ReplyHosts::defaults(SETTING, DEFAULT_HOSTS)
    }

    #[test]
    fn unset_or_empty_means_the_platforms_hosts() {
        assert_eq!(hosts(""), dingtalk());
        assert_eq!(hosts(" , "), dingtalk());
        let default = dingtalk();
        let names: Vec<&str> = default.hosts().iter().map(|h| h.host.as_str()).collect();
        assert_eq!(names, ["oapi.dingtalk.com", "api.dingtalk.com"]);
    }

    #[test]
    fn dingtalks_session_webhooks_are_kept() {
        let default = dingtalk();
        for url in [
            "https://oapi.dingtalk.com/robot/sendBySession?session=c5d4e2f1a0b9",
            "https://OAPI.DingTalk.com/robot/sendBySession?session=x",
            "https://oapi.dingtalk.com:443/robot/sendBySession?session=x",
            "https://api.dingtalk.com/v1.0/robot/oToMessages/batchSend",
            "https://oapi.dingtalk.com",
            "https://oapi.dingtalk.com?session=x",
            "https://oapi.dingtalk.com#x",
        ] {
            assert_eq!(default.check(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        let default = dingtalk();
        for (url, why) in [
            ("http://oapi.dingtalk.com/robot/sendBySession", "loopback"),
            ("https://evil.example/robot/sendBySession", "not one of"),
            ("https://oapi.dingtalk.com.evil.example/x", "not one of"),
            ("https://evil-oapi.dingtalk.com/x", "not one of"),
            ("https://oapi.dingtalk.com./x", "not one of"),
            ("https://oapi.dingtalk.com@evil.example/x", "userinfo"),
            ("https://user:pw@oapi.dingtalk.com/x", "userinfo"),
            ("https://evil.example#@oapi.dingtalk.com/x", "not one of"),
            ("https://evil.example?@oapi.dingtalk.com/x", "not one of"),
            ("https://evil.example\\@oapi.dingtalk.com/x", "backslash"),
            ("https://oapi.dingtalk.com\\.evil.example/x", "backslash"),
            ("https://oapi.dingtalk.com:8443/x", "port 8443"),
            ("https://oapi.dingtalk.com:/x", "unreadable"),
            ("https://oapi.dingtalk.com:0/x", "unreadable"),
            ("https://oapi.dingtalk.com:65536/x", "unreadable"),
            ("https://oapi.dingtalk.com:+443/x", "unreadable"),
            ("https:// oapi.dingtalk.com/x", "space"),
            ("https://oapi.dingtalk.com/x\n", "control"),
            ("https://oapi.dingtalk.cοm/x", "non-ASCII"),
            ("https://oapi%2Edingtalk.com/x", "not one of"),
            ("//oapi.dingtalk.com/x", "absolute"),
            ("oapi.dingtalk.com/robot", "absolute"),
            ("ftp://oapi.dingtalk.com/x", "scheme"),
            ("javascript://oapi.dingtalk.com/%0aalert(1)", "scheme"),
            ("https:///x", "unreadable"),
            ("https://127.0.0.1:9001/2018-06-01/runtime/invocation/next", "not one of"),
            ("http://169.254.169.254/latest/meta-data/", "not one of"),
            ("https://[::1]/x", "not one of"),
        ] {
            let refused = default.check(url).expect_err(url);
            assert!(refused.contains(why), "{url}: {refused}");
            assert!(!refused.contains("/x") && !refused.contains("session"), "no path in the reason: {refused}");
        }
        let long = format!("https://oapi.dingtalk.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(default.check(&long).is_err());
    }

    #[test]
    fn http_only_for_loopback_hosts_named_and_ports_exactly_as_named() {
        let two_ports = hosts("127.0.0.1:8099,127.0.0.1:9100");
        assert_eq!(two_ports.check("http://127.0.0.1:9100/x"), Ok(()), "each entry's port counts");
        assert!(two_ports.check("http://127.0.0.1:9101/x").is_err());
        let local = hosts("127.0.0.1:8099,localhost,[::1]:9000,oapi.dingtalk.com,hooks.internal.example");
        for url in [
            "http://127.0.0.1:8099/robot/sendBySession?session=x",
            "https://127.0.0.1:8099/x",
            "http://localhost/x",
            "http://localhost:80/x",
            "https://localhost/x",
            "http://[::1]:9000/x",
            "https://oapi.dingtalk.com/x",
            "https://hooks.internal.example/x",
        ] {
            assert_eq!(local.check(url), Ok(()), "{url}");
        }
        for url in [
            "http://127.0.0.1/x",
            "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
            "http://127.0.0.2:8099/x",
            "http://127.1:8099/x",
            "http://2130706433:8099/x",
            "http://localhost:8099/x",
            "http://[::1]/x",
            "http://[0:0:0:0:0:0:0:1]:9000/x",
            "http://hooks.internal.example/x",
            "http://oapi.dingtalk.com/x",
        ] {
            assert!(local.check(url).is_err(), "{url}");
        }
    }

    #[test]
    fn settings_that_are_not_host_names_stop_start_up() {
        for bad in [
            "https://oapi.dingtalk.com",
            "oapi.dingtalk.com/robot",
            "user@oapi.dingtalk.com",
            "*.dingtalk.com",
            "::1",
            "oapi.dingtalk.com:",
            "oapi.dingtalk.com:0",
            "oapi.dingtalk.com:99999",
            "oapi.dingtalk.com.",
            "oapi_dingtalk.com",
            "-oapi.dingtalk.com",
            "oapi..dingtalk.com",
            "oapi.dingtalk.com,evil example",
            "[not-an-ip]",
            "钉钉.com",
        ] {
            let refused = ReplyHosts::parse(SETTING, DEFAULT_HOSTS, bad).expect_err(bad);
            assert!(refused.to_string().contains(SETTING), "{bad}: {refused}");
        }
        assert_eq!(hosts("OAPI.DingTalk.com").hosts()[0].host, "oapi.dingtalk.com", "read in lower case");
        assert_eq!(hosts(" 127.0.0.1:8099 ").hosts()[0], AllowedHost { host: "127.0.0.1".into(), port: Some(8099) });
    }
}
