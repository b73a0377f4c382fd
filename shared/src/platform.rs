//! A platform described once, as data.
//!
//! Beside its protocol code (`Provider`), each platform's crate describes
//! itself as a [`Platform`] in `functions/<name>/platform.toml`
//! (`Provider::PLATFORM` is that file's text): its names, its settings with
//! their template parameters, descriptions, defaults and dev values, its URLs and
//! the console steps that point the platform at inlet, its API Gateway
//! throttling group, and its sender's retries with the dedup window that
//! follows. `inlet gen` writes the rest of the repository from the registry
//! (cli/src/providers.rs): template.yaml's per-platform parameters,
//! conditions, functions, log groups, alarms and outputs; the platform and
//! settings tables of the docs; the fuzz targets' list; events/ and the
//! dedup windows below. Plain data: nothing here touches AWS.

use serde::{Deserialize, Deserializer, Serialize};

/// What the template, the docs, the fuzz targets and the local stack need
/// to know about a platform besides its protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// The platform's name in running text: "Lark", "GitHub", "the custom
    /// alert API" (the template's throttling descriptions list them).
    #[serde(deserialize_with = "leak::text")]
    pub title: &'static str,
    /// What it sends, for the README's platform table: "Lark / Feishu
    /// events and card callbacks".
    #[serde(deserialize_with = "leak::text")]
    pub summary: &'static str,
    /// How its requests are proven, in a few words (the README's table).
    #[serde(deserialize_with = "leak::text")]
    pub verified_by: &'static str,
    /// The Lambda function's `Description` in template.yaml.
    #[serde(deserialize_with = "leak::text")]
    pub function_description: &'static str,
    /// The API Gateway throttling group of every route.
    pub throttling: Throttling,
    /// The template's name of each API event, one per route and method, in
    /// the order of `Provider::ROUTES` and of each route's methods. They are
    /// logical ids: renaming one replaces its API Gateway route.
    #[serde(deserialize_with = "leak::texts")]
    pub route_names: &'static [&'static str],
    /// Every setting of the platform besides the shared `INLET_*` ones, in
    /// the order the template passes them (`<PREFIX>_ALLOWED_CIDRS`
    /// included).
    #[serde(deserialize_with = "leak::list")]
    pub settings: &'static [Setting],
    /// The URLs to give the platform: the stack's outputs.
    #[serde(deserialize_with = "leak::list")]
    pub urls: &'static [Url],
    /// Pointing the platform at inlet, step by step (Markdown, one line each).
    #[serde(deserialize_with = "leak::texts")]
    pub console_steps: &'static [&'static str],
    /// The sender's retries and the dedup window that follows.
    pub retries: Retries,
}

impl Platform {
    /// A platform without a readable platform.toml: `inlet gen` and the
    /// registry's tests refuse it, so a platform cannot be added without its
    /// description.
    pub const UNDESCRIBED: Platform = Platform {
        title: "",
        summary: "",
        verified_by: "",
        function_description: "",
        throttling: Throttling::Webhook,
        route_names: &[],
        settings: &[],
        urls: &[],
        console_steps: &[],
        retries: Retries { horizon: "", documented: false, signed_timestamp: "", dedup_window_secs: 0 },
    };

    /// The secret settings, in order: `Provider::SECRET_SETTINGS`.
    pub fn secret_settings(&self) -> impl Iterator<Item = &'static Setting> {
        self.settings.iter().filter(|setting| setting.secret)
    }

    /// The settings that reach the deployed function (not the dev-only ones).
    pub fn deployed_settings(&self) -> impl Iterator<Item = &'static Setting> {
        self.settings.iter().filter(|setting| setting.parameter.is_some())
    }
}

/// One setting: an environment variable of the function and the template
/// parameter that gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// The environment variable: `LARK_ENCRYPT_KEY`.
    #[serde(deserialize_with = "leak::text")]
    pub name: &'static str,
    /// Its template parameter: `LarkEncryptKey`. `None` for a dev-only
    /// setting the function never reads (events/env.json only).
    #[serde(deserialize_with = "leak::optional", default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<&'static str>,
    /// Never logged, never in an Envelope, `NoEcho` in the template, and
    /// read from the secrets store when one is chosen.
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
    /// One line: the template parameter's `Description`, and the meaning in
    /// every settings table of the docs.
    /// Left out of a description file for `<PREFIX>_ALLOWED_CIDRS`, which
    /// then says [`ALLOWED_CIDRS_DESCRIPTION`].
    #[serde(deserialize_with = "leak::text", default = "allowed_cidrs_description")]
    #[serde(skip_serializing_if = "is_allowed_cidrs_description")]
    pub description: &'static str,
    /// More for the docs' tables (validation rules, rotation); may be empty.
    #[serde(deserialize_with = "leak::text", default, skip_serializing_if = "str::is_empty")]
    pub details: &'static str,
    /// The parameter's default; empty for most.
    #[serde(deserialize_with = "leak::text", default, skip_serializing_if = "str::is_empty")]
    pub default: &'static str,
    /// What the parameter accepts.
    #[serde(default, skip_serializing_if = "Values::is_text")]
    pub values: Values,
    /// Whether it decides if the function is deployed.
    #[serde(default, skip_serializing_if = "Deploys::is_no")]
    pub deploys: Deploys,
    /// Its value in the local stack and the tests (events/env.json).
    #[serde(deserialize_with = "leak::text", default, skip_serializing_if = "str::is_empty")]
    pub dev: &'static str,
}

/// A description is read once by a tool (`inlet gen`) and lives as long as
/// it does: its strings are leaked into the `'static` lifetime the types
/// share with the registry's constant data.
mod leak {
    use super::*;

    pub fn text<'de, D: Deserializer<'de>>(from: D) -> Result<&'static str, D::Error> {
        String::deserialize(from).map(|text| &*text.leak())
    }

    pub fn optional<'de, D: Deserializer<'de>>(from: D) -> Result<Option<&'static str>, D::Error> {
        Option::<String>::deserialize(from).map(|text| text.map(|text| &*text.leak()))
    }

    pub fn texts<'de, D: Deserializer<'de>>(from: D) -> Result<&'static [&'static str], D::Error> {
        let texts = Vec::<String>::deserialize(from)?;
        Ok(texts.into_iter().map(|text| &*text.leak()).collect::<Vec<_>>().leak())
    }

    pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(from: D) -> Result<&'static [T], D::Error> {
        Vec::<T>::deserialize(from).map(|list| &*list.leak())
    }
}

/// The description of every `<PREFIX>_ALLOWED_CIDRS` that says nothing more.
pub const ALLOWED_CIDRS_DESCRIPTION: &str =
    "Source networks allowed to call this provider's routes (comma-separated CIDRs); empty allows all.";

fn allowed_cidrs_description() -> &'static str {
    ALLOWED_CIDRS_DESCRIPTION
}

fn is_allowed_cidrs_description(description: &&'static str) -> bool {
    *description == ALLOWED_CIDRS_DESCRIPTION
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Values {
    fn is_text(&self) -> bool {
        *self == Values::Text
    }
}

impl Deploys {
    fn is_no(&self) -> bool {
        *self == Deploys::No
    }
}

/// What a template parameter accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Values {
    /// Any text (`Type: String`).
    #[default]
    Text,
    /// A number in a range (`Type: Number`, `MinValue`, `MaxValue`).
    Number { min: u64, max: u64 },
    /// One of these (`AllowedValues`).
    OneOf(#[serde(deserialize_with = "leak::texts")] &'static [&'static str]),
}

/// Whether a setting decides if the platform's function is deployed (its
/// `Has<Platform>` condition).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deploys {
    /// It has no say.
    #[default]
    No,
    /// Set, it deploys the function: any one setting marked `Any` suffices.
    /// A secret counts while the secrets come from the parameters; with a
    /// store, `StoreProviders` naming the platform counts instead.
    Any,
    /// The function is deployed only when it is set (and every other
    /// setting marked `Required`); for secrets, as for `Any`.
    Required,
}

/// The API Gateway throttling group of a platform's routes: the template's
/// `<Group>ThrottlingRateLimit` and `<Group>ThrottlingBurstLimit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Throttling {
    /// Chat platforms deliver every message and interaction of busy
    /// workspaces and retry a 429.
    Chat,
    /// Business webhooks arrive in bursts after bulk operations and are
    /// retried for hours or days.
    Webhook,
    /// Alert sources group alerts: even a storm is a few requests a second.
    Alert,
}

impl Throttling {
    pub const ALL: [Throttling; 3] = [Throttling::Chat, Throttling::Webhook, Throttling::Alert];

    /// The start of the group's parameter names: `Chat`.
    pub const fn stem(self) -> &'static str {
        match self {
            Throttling::Chat => "Chat",
            Throttling::Webhook => "Webhook",
            Throttling::Alert => "Alert",
        }
    }

    /// The defaults of the rate and burst parameters (requests a second).
    pub const fn defaults(self) -> (u64, u64) {
        match self {
            Throttling::Chat => (200, 400),
            Throttling::Webhook => (100, 200),
            Throttling::Alert => (20, 50),
        }
    }

    /// What follows the list of platforms in the rate parameter's description.
    pub const fn rate_note(self) -> &'static str {
        match self {
            Throttling::Chat => "; more get 429 from API Gateway (the platforms retry).",
            Throttling::Webhook | Throttling::Alert => ".",
        }
    }
}

/// A URL to give the platform, as a stack output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Url {
    /// The output's logical id: `LarkEventUrl`.
    #[serde(deserialize_with = "leak::text")]
    pub output: &'static str,
    /// The path as the platform is given it: `/telegram/<bot>`.
    #[serde(deserialize_with = "leak::text")]
    pub path: &'static str,
    /// Where it goes in the platform's console.
    #[serde(deserialize_with = "leak::text")]
    pub description: &'static str,
}

/// How long a platform's sender may deliver an event again, and how long
/// the processor remembers its ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// The sender's retry (or redelivery) horizon in words, as its
    /// documentation states it; for a platform that documents none, what is
    /// known of its undocumented default.
    #[serde(deserialize_with = "leak::text")]
    pub horizon: &'static str,
    /// Whether the platform documents that horizon.
    pub documented: bool,
    /// The window in which a signed timestamp is accepted, in words
    /// (`±tol` is `INLET_TIMESTAMP_TOLERANCE_SECS`).
    #[serde(deserialize_with = "leak::text")]
    pub signed_timestamp: &'static str,
    /// The default dedup window: at least the horizon (so every retry is
    /// caught) and not much longer where an id is a body hash. Overridden by
    /// `<PREFIX>_DEDUP_WINDOW_SECS`, then `INLET_DEDUP_WINDOW_SECS`.
    pub dedup_window_secs: u64,
}

/// The CloudFormation logical-id stem of a provider: `alert-api` →
/// `AlertApi` (`AlertApiFunction`, `HasAlertApi`, `AlertApiLogGroup`, …).
pub fn logical_id(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// A duration in the docs' words: `3600` → `1 h`, `345600` → `4 days`.
pub fn human_duration(secs: u64) -> String {
    const DAY: u64 = 24 * 3600;
    if secs >= 3 * DAY && secs.is_multiple_of(DAY) {
        format!("{} days", secs / DAY)
    } else if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// One row of the dedup window table: a provider, how long it may deliver an
/// event again, and how long its ids are remembered by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DedupWindowDefault {
    /// `Envelope.provider`.
    pub provider: &'static str,
    /// The sender's retry (or redelivery) horizon, as its documentation says.
    pub retry_horizon: &'static str,
    pub window_secs: u64,
}

/// Default dedup windows, one per platform of the registry (its
/// [`Retries`]). Each outlasts its provider's retry horizon; where ids are
/// body hashes (a repeat may be a real second event) it stays close to that
/// horizon. Overrides: `<PROVIDER>_DEDUP_WINDOW_SECS` (provider upper-cased,
/// `-` → `_`), then `INLET_DEDUP_WINDOW_SECS` for all.
#[rustfmt::skip]
// BEGIN GENERATED: dedup windows — edit the registry and run inlet gen
pub const DEDUP_WINDOWS: &[DedupWindowDefault] = &[
    DedupWindowDefault { provider: "lark", retry_horizon: "~7 h (15 s, 5 min, 1 h, 6 h)", window_secs: 86400 },
    DedupWindowDefault { provider: "alertmanager", retry_horizon: "until the next group interval (default 5 min)", window_secs: 3600 },
    DedupWindowDefault { provider: "grafana", retry_horizon: "none", window_secs: 3600 },
    DedupWindowDefault { provider: "alert-api", retry_horizon: "the client's own retries", window_secs: 3600 },
    DedupWindowDefault { provider: "discord", retry_horizon: "webhook events ~10 min; interactions none", window_secs: 3600 },
    DedupWindowDefault { provider: "telegram", retry_horizon: "~24 h (updates kept 24 h)", window_secs: 172800 },
    DedupWindowDefault { provider: "openim", retry_horizon: "none", window_secs: 3600 },
    DedupWindowDefault { provider: "slack", retry_horizon: "3 retries over ~5 min (at once, ~1 min, ~5 min)", window_secs: 7200 },
    DedupWindowDefault { provider: "github", retry_horizon: "none automatic; manual redelivery of the last 3 days", window_secs: 345600 },
    DedupWindowDefault { provider: "stripe", retry_horizon: "up to 3 days", window_secs: 345600 },
    DedupWindowDefault { provider: "standard-webhooks", retry_horizon: "chosen by each sender (Svix: ~28 h)", window_secs: 604800 },
    DedupWindowDefault { provider: "wecom", retry_horizon: "3 retries within seconds of a missed 5 s answer", window_secs: 3600 },
    DedupWindowDefault { provider: "dingtalk", retry_horizon: "not documented (DingTalk's undocumented default); its signed timestamp is accepted ±1 h", window_secs: 10800 },
    DedupWindowDefault { provider: "hooks", retry_horizon: "per preset (see the preset table)", window_secs: 604800 },
];
// END GENERATED

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_are_the_names_in_camel_case() {
        assert_eq!(logical_id("lark"), "Lark");
        assert_eq!(logical_id("alert-api"), "AlertApi");
        assert_eq!(logical_id("standard-webhooks"), "StandardWebhooks");
    }

    #[test]
    fn durations_read_as_the_docs_write_them() {
        assert_eq!(human_duration(3600), "1 h");
        assert_eq!(human_duration(48 * 3600), "48 h");
        assert_eq!(human_duration(4 * 24 * 3600), "4 days");
        assert_eq!(human_duration(24 * 3600), "24 h");
        assert_eq!(human_duration(7 * 24 * 3600), "7 days");
        assert_eq!(human_duration(90), "90 s");
    }
}
