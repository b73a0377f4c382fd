use std::sync::Arc;

use inlet_shared::aws::dynamodb::DynamoDbStore;
use inlet_shared::aws::sqs::SqsRedelivery;
use inlet_shared::aws::tls::TlsRoots;
use inlet_shared::config::ProcessEnv;
use inlet_shared::dedup::DedupSettings;
use inlet_shared::dedup::NowMs;
use inlet_shared::reply::{self, Replies};
use lambda_runtime::{LambdaEvent, service_fn};
use replier::{Invocation, RedeliverySchedule};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_shared::telemetry::init();
    let settings = DedupSettings::from_env(&ProcessEnv)?;
    let metrics = inlet_shared::metrics::Metrics::from_env(&ProcessEnv)?;
    let schedule = RedeliverySchedule::from_env(&ProcessEnv)?;
    let sdk = inlet_shared::aws::access::lambda_sdk_config(&ProcessEnv)?;
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&sdk), &settings);
    // The platforms' credentials, from the secret store when one is chosen;
    // one that is set but unusable stops start-up with the setting's name.
    let env = inlet_shared::aws::secrets::resolve(&ProcessEnv, reply::SECRET_SETTINGS).await?;
    // The platforms' APIs carry certificates from any public authority.
    let connector = inlet_shared::aws::outbound::connector(&TlsRoots::System);
    let replies = Replies::from_env(&env, connector)?;
    let redelivery: Arc<dyn inlet_shared::queue::Redelivery> =
        Arc::new(SqsRedelivery::new(aws_sdk_sqs::Client::new(&sdk)));
    let (store, replies, lease, metrics) = (&store, &replies, settings.lease, &metrics);
    let (redelivery, schedule) = (&redelivery, &schedule);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
        let invocation = Invocation {
            metrics: metrics.clone(),
            redelivery: Some(redelivery.clone()),
            redelivery_schedule: schedule.clone(),
            ..Invocation::from_context(&event.context, lease)
        };
        Ok::<_, lambda_runtime::Error>(
            replier::process_batch(event.payload, &invocation, store, replies, NowMs::system).await,
        )
    }))
    .await
}
