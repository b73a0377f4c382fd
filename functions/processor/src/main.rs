use inlet_shared::config::{DedupSettings, OperationsSettings, ProcessEnv};
use inlet_shared::dedup::{DynamoDbStore, NowMs};
use lambda_runtime::{LambdaEvent, service_fn};
use processor::Invocation;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_shared::telemetry::init();
    let settings = DedupSettings::from_env(&ProcessEnv)?;
    let operations = OperationsSettings::from_env(&ProcessEnv)?;
    let metrics = inlet_shared::metrics::Metrics::from_env(&ProcessEnv)?;
    let sdk = inlet_shared::runtime::lambda_sdk_config(&ProcessEnv)?;
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&sdk), &settings);
    let sinks = processor::sinks::configured();
    let (store, sinks, lease, metrics) = (&store, sinks.as_slice(), settings.lease, &metrics);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
        let invocation =
            Invocation::from_context(&event.context, lease).with_operations(operations).with_metrics(metrics.clone());
        Ok::<_, lambda_runtime::Error>(
            processor::process_batch(event.payload, &invocation, store, sinks, NowMs::system).await,
        )
    }))
    .await
}
