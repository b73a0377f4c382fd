//! The one registry of providers: the samples, `inlet send`, the generated
//! events and the local stack's router all read it, and the layout tests
//! check it against template.yaml.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use inlet_shared::platform::Platform;
use inlet_shared::samples::{Descriptor, describe};

/// Every provider, in the order samples are listed. A new platform is one
/// line here (and its crate in Cargo.toml's dependencies of this crate).
pub const PROVIDERS: &[Descriptor] = &[
    describe::<lark::LarkFunction>(),
    describe::<alertmanager::AlertmanagerFunction>(),
    describe::<grafana::GrafanaFunction>(),
    describe::<alert_api::AlertApiFunction>(),
    describe::<discord::DiscordFunction>(),
    describe::<telegram::TelegramFunction>(),
    describe::<openim::OpenimFunction>(),
    describe::<slack::SlackFunction>(),
    describe::<github::GithubFunction>(),
    describe::<stripe::StripeFunction>(),
    describe::<standard_webhooks::StandardWebhooksFunction>(),
    describe::<wecom::WecomFunction>(),
    describe::<dingtalk::DingtalkFunction>(),
    describe::<hooks::HooksFunction>(),
];

/// Each provider's platform.toml, read once: the description, or why it
/// could not be read.
static DESCRIPTIONS: LazyLock<BTreeMap<&'static str, Result<Platform, String>>> = LazyLock::new(|| {
    PROVIDERS.iter().map(|provider| (provider.name, read_description(provider.name, provider.description))).collect()
});

/// `name`'s platform.toml, read; the error names the file, the line and the key.
fn read_description(name: &str, text: &'static str) -> Result<Platform, String> {
    toml::from_str::<Platform>(text).map_err(|error| format!("functions/{name}/platform.toml: {error}"))
}

/// A provider's platform, as its platform.toml describes it.
pub trait Described {
    /// The description; [`Platform::UNDESCRIBED`] when there is none or it
    /// cannot be read, which `inlet gen`'s check refuses with
    /// [`Described::description_error`] before anything is written.
    fn platform(&self) -> &'static Platform;
    /// Why the description cannot be read, naming the file and the line.
    fn description_error(&self) -> Option<&'static str>;
}

impl Described for Descriptor {
    fn platform(&self) -> &'static Platform {
        match DESCRIPTIONS.get(self.name) {
            Some(Ok(platform)) => platform,
            _ => &Platform::UNDESCRIBED,
        }
    }

    fn description_error(&self) -> Option<&'static str> {
        match DESCRIPTIONS.get(self.name) {
            Some(Err(error)) => Some(error),
            Some(Ok(_)) => None,
            None => Some("not in the registry"),
        }
    }
}

/// `"/path/{param}"` → function, for every route of every provider: what the
/// local API Gateway serves.
pub fn router() -> BTreeMap<String, String> {
    PROVIDERS
        .iter()
        .flat_map(|provider| provider.routes.iter().map(|route| (route.path.to_string(), provider.name.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_providers_share_a_name_a_prefix_or_a_route() {
        let mut names: Vec<_> = PROVIDERS.iter().map(|p| p.name).collect();
        let mut prefixes: Vec<_> = PROVIDERS.iter().map(|p| p.settings_prefix).collect();
        names.sort();
        names.dedup();
        prefixes.sort();
        prefixes.dedup();
        assert_eq!((names.len(), prefixes.len()), (PROVIDERS.len(), PROVIDERS.len()));
        let routes: usize = PROVIDERS.iter().map(|p| p.routes.len()).sum();
        assert_eq!(router().len(), routes, "a route is claimed twice");
    }

    #[test]
    fn every_description_is_read_and_a_wrong_one_is_refused_naming_its_file_and_key() {
        for provider in PROVIDERS {
            assert_eq!(provider.description_error(), None, "{}", provider.name);
        }
        let telegram = include_str!("../../functions/telegram/platform.toml");
        let misspelt: &'static str = telegram.replacen("summary =", "sumary =", 1).leak();
        let error = read_description("telegram", misspelt).unwrap_err();
        assert!(error.contains("functions/telegram/platform.toml") && error.contains("sumary"), "{error}");
        let without_retries: &'static str = telegram.split("[retries]").next().unwrap_or_default().to_string().leak();
        let error = read_description("telegram", without_retries).unwrap_err();
        assert!(error.contains("retries"), "{error}");
    }

    #[test]
    fn every_provider_has_samples() {
        for provider in PROVIDERS {
            assert!(!provider.sample_names.is_empty(), "{} has no samples", provider.name);
        }
    }
}
