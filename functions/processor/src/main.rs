use inlet_shared::config::{DedupSettings, ProcessEnv};
use inlet_shared::dedup::{DynamoDbStore, NowMs};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_shared::telemetry::init();
    let settings = DedupSettings::from_env(&ProcessEnv)?;
    let sdk = inlet_shared::runtime::aws_sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sinks = processor::sinks::configured(&dynamodb, &settings);
    let store = DynamoDbStore::new(dynamodb, &settings);
    let (store, sinks) = (&store, sinks.as_slice());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(processor::process_batch(event.payload, store, sinks, NowMs::system).await)
    }))
    .await
}
