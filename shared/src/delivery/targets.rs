//! The configured destinations as the processor uses them: each with its
//! `match`, and which of them an event still owes.

use std::sync::Arc;

use serde_json::Value;

use crate::dedup::Progress;
use crate::delivery::Destination;
use crate::delivery::pattern::Pattern;

/// One destination with the pattern that selects its events.
pub struct Target {
    pub pattern: Option<Pattern>,
    pub destination: Arc<dyn Destination>,
}

impl Target {
    pub fn name(&self) -> &str {
        self.destination.name()
    }
}

/// Every configured destination, in the order of `INLET_DESTINATIONS`.
#[derive(Clone, Default)]
pub struct Targets(Arc<Vec<Target>>);

impl Targets {
    pub fn new(targets: Vec<Target>) -> Self {
        Targets(Arc::new(targets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&Target> {
        self.0.get(index)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Target> {
        self.0.iter()
    }

    /// The destinations (by index) `envelope` still owes: those whose
    /// pattern it matches and whose progress is not settled; with `only`,
    /// just the destination of that name (a replay to one destination).
    pub fn owed(&self, envelope: &Value, progress: &Progress, only: Option<&str>) -> Vec<usize> {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, target)| only.is_none_or(|name| name == target.name()))
            .filter(|(_, target)| !progress.is_settled(target.name()))
            .filter(|(_, target)| target.pattern.as_ref().is_none_or(|pattern| pattern.matches(envelope)))
            .map(|(index, _)| index)
            .collect()
    }
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(Target::name)).finish()
    }
}

/// The clients destinations send with, built once in `main`.
#[cfg(feature = "delivery")]
pub struct Clients {
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// Teams' HTTP endpoints (see `HttpDestination::connector`). None: built
    /// by [`build`] for the first HTTP destination, with the system's roots
    /// (teams' endpoints carry certificates from any public authority), so
    /// a deployment without one does not load the system's bundle at init.
    pub http: Option<aws_smithy_runtime_api::client::http::SharedHttpConnector>,
}

/// The secret settings the document names (each HTTP destination's
/// `secret_setting`), to be read from the secret store like the others.
pub fn secret_settings(specs: &[crate::delivery::config::DestinationSpec]) -> Vec<String> {
    let mut names: Vec<String> = specs
        .iter()
        .filter_map(|spec| match &spec.kind {
            crate::delivery::config::DestinationKind::Http { secret_setting, .. } => Some(secret_setting.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Every destination of the document, ready to deliver; `env` holds the
/// secret settings (resolved from their store). An error names the setting.
#[cfg(feature = "delivery")]
pub fn build(
    specs: &[crate::delivery::config::DestinationSpec],
    env: &dyn crate::config::EnvSource,
    clients: &Clients,
) -> Result<Targets, crate::error::ConfigError> {
    use crate::delivery::config::DestinationKind;
    use crate::delivery::eventbridge::EventBridgeDestination;
    use crate::delivery::http::HttpDestination;
    use crate::delivery::sqs::SqsDestination;

    let mut targets = Vec::new();
    // One connector for every HTTP destination: their connections are pooled.
    let mut http = clients.http.clone();
    for spec in specs {
        let destination: Arc<dyn Destination> = match &spec.kind {
            DestinationKind::EventBridge { bus } => Arc::new(EventBridgeDestination {
                name: spec.name.clone(),
                bus: bus.clone(),
                client: clients.eventbridge.clone(),
            }),
            DestinationKind::Http { url, secret_setting } => {
                let connector =
                    http.get_or_insert_with(|| HttpDestination::connector(&crate::aws::tls::TlsRoots::System)).clone();
                Arc::new(HttpDestination::from_env(&spec.name, url, secret_setting, env, connector)?)
            }
            DestinationKind::Sqs { queue_url } => Arc::new(SqsDestination {
                name: spec.name.clone(),
                queue_url: queue_url.clone(),
                client: clients.sqs.clone(),
            }),
        };
        targets.push(Target { pattern: spec.pattern.clone(), destination });
    }
    Ok(Targets::new(targets))
}
