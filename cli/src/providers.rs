//! The one registry of providers: the samples, `inlet send`, the generated
//! events and the local stack's router all read it, and the layout tests
//! check it against template.yaml.

use std::collections::BTreeMap;

use inlet_shared::config::EnvSource;
use inlet_shared::provider::{Provider, Route};
use inlet_shared::samples::SampleRequest;

/// What the tools need to know of one provider function.
pub struct Registered {
    /// The function's crate and binary, as template.yaml's `Binary:` names it.
    pub function: &'static str,
    /// `Envelope.provider`.
    pub name: &'static str,
    pub routes: &'static [Route],
    pub sample_names: &'static [&'static str],
    pub sample: fn(&str, &dyn EnvSource, i64, &str) -> Option<SampleRequest>,
}

macro_rules! registered {
    ($function:literal, $krate:ident :: $ty:ident) => {
        Registered {
            function: $function,
            name: <$krate::$ty as Provider>::NAME,
            routes: <$krate::$ty as Provider>::ROUTES,
            sample_names: &$krate::samples::NAMES,
            sample: $krate::samples::sample,
        }
    };
}

/// Every provider, in the order samples are listed.
pub const PROVIDERS: &[Registered] = &[
    registered!("lark", lark::LarkFunction),
    registered!("alertmanager", alertmanager::AlertmanagerFunction),
    registered!("grafana", grafana::GrafanaFunction),
    registered!("alert-api", alert_api::AlertApiFunction),
    registered!("discord", discord::DiscordFunction),
    registered!("telegram", telegram::TelegramFunction),
    registered!("openim", openim::OpenimFunction),
];

/// `"/path/{param}"` → function, for every route of every provider: what the
/// local API Gateway serves.
pub fn router() -> BTreeMap<String, String> {
    PROVIDERS
        .iter()
        .flat_map(|provider| {
            provider.routes.iter().map(|route| (route.path.to_string(), provider.function.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_providers_share_a_name_a_function_or_a_route() {
        let mut names: Vec<_> = PROVIDERS.iter().map(|p| p.name).collect();
        let mut functions: Vec<_> = PROVIDERS.iter().map(|p| p.function).collect();
        names.sort();
        names.dedup();
        functions.sort();
        functions.dedup();
        assert_eq!((names.len(), functions.len()), (PROVIDERS.len(), PROVIDERS.len()));
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
