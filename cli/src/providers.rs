//! The one registry of providers: the samples, `inlet send`, the generated
//! events and the local stack's router all read it, and the layout tests
//! check it against template.yaml.

use std::collections::BTreeMap;

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
];

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
    fn every_provider_has_samples() {
        for provider in PROVIDERS {
            assert!(!provider.sample_names.is_empty(), "{} has no samples", provider.name);
        }
    }
}
