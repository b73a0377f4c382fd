use std::sync::Arc;

use inlet_shared::aws::dynamodb::DynamoDbStore;
use inlet_shared::aws::sqs::SqsRedelivery;
use inlet_shared::config::ProcessEnv;
use inlet_shared::dedup::DedupSettings;
use inlet_shared::dedup::NowMs;
use inlet_shared::delivery::{config, targets};
use inlet_shared::operations::OperationsSettings;
use inlet_shared::reply::request::{ReplyOutbox, SqsReplyOutbox};
use lambda_runtime::{LambdaEvent, service_fn};
use processor::{Invocation, RedeliverySchedule};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_shared::telemetry::init();
    let settings = DedupSettings::from_env(&ProcessEnv)?;
    let operations = OperationsSettings::from_env(&ProcessEnv)?;
    let metrics = inlet_shared::metrics::Metrics::from_env(&ProcessEnv)?;
    let sdk = inlet_shared::aws::access::lambda_sdk_config(&ProcessEnv)?;
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&sdk), &settings);
    // Destinations: a bad document, or a secret it names that cannot be
    // read, stops start-up with the setting's name.
    let specs = config::from_env(&ProcessEnv)?;
    let secret_names = targets::secret_settings(&specs);
    let secret_names: Vec<&str> = secret_names.iter().map(String::as_str).collect();
    let env = inlet_shared::aws::secrets::resolve(&ProcessEnv, &secret_names).await?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let clients = targets::Clients {
        eventbridge: aws_sdk_eventbridge::Client::new(&sdk),
        sqs: sqs.clone(),
        // Built for the first HTTP destination, if there is one.
        http: None,
    };
    let targets = targets::build(&specs, &env, &clients)?;
    // Replies destinations answer with go to the reply queue, when the
    // stack has one.
    let replies: Option<Arc<dyn ReplyOutbox>> =
        SqsReplyOutbox::from_env(&ProcessEnv, sqs.clone()).map(|outbox| Arc::new(outbox) as Arc<dyn ReplyOutbox>);
    let redelivery: Arc<dyn inlet_shared::queue::Redelivery> = Arc::new(SqsRedelivery::new(sqs));
    let schedule = RedeliverySchedule::from_env(&ProcessEnv)?;
    let sinks = processor::sinks::configured(replies.clone());
    let (store, sinks, lease, metrics) = (&store, sinks.as_slice(), settings.lease, &metrics);
    let (targets, redelivery, schedule, replies) = (&targets, &redelivery, &schedule, &replies);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
        let invocation = Invocation {
            operations,
            metrics: metrics.clone(),
            targets: targets.clone(),
            redelivery: Some(redelivery.clone()),
            redelivery_schedule: schedule.clone(),
            replies: replies.clone(),
            ..Invocation::from_context(&event.context, lease)
        };
        Ok::<_, lambda_runtime::Error>(
            processor::process_batch(event.payload, &invocation, store, sinks, NowMs::system).await,
        )
    }))
    .await
}
