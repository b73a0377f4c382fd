//! What every provider's `main` would otherwise repeat: logging, reading the
//! queue settings, building the SQS client once, and serving HTTP events.

use std::future::Future;
use std::pin::Pin;

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_types::SdkConfig;
use lambda_http::{Body, Response, service_fn};
use time::OffsetDateTime;

use crate::config::{EnvSource, ProcessEnv, QueueSettings};
use crate::error::ConfigError;
use crate::ingress::{IncomingRequest, Reply, lambda};
use crate::provider::Provider;
use crate::queue::{Publisher, SqsPublisher};

/// A provider's request handler: verification, normalization and the
/// answer, with its dependencies passed in so tests can swap them.
pub trait HttpFunction: Send + Sync {
    fn handle<'a>(
        &'a self,
        publisher: &'a dyn Publisher,
        request: &'a IncomingRequest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Reply> + Send + 'a;
}

/// [`HttpFunction`] behind a pointer, for tools that hold every provider in
/// one list (the registry, the bench harness).
pub trait DynFunction: Send + Sync {
    fn handle_boxed<'a>(
        &'a self,
        publisher: &'a dyn Publisher,
        request: &'a IncomingRequest,
        now: OffsetDateTime,
    ) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;
}

impl<F: HttpFunction> DynFunction for F {
    fn handle_boxed<'a>(
        &'a self,
        publisher: &'a dyn Publisher,
        request: &'a IncomingRequest,
        now: OffsetDateTime,
    ) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>> {
        Box::pin(self.handle(publisher, request, now))
    }
}

/// The AWS configuration inside Lambda, from the variables Lambda sets: the
/// region and the execution role's credentials (`AWS_ENDPOINT_URL`, when
/// set, points the clients at an emulator, as the local stack does).
/// aws-config's provider chain (profiles, SSO, STS, IMDS, ECS) serves
/// machines a Lambda function never runs on: leaving it out keeps it out of
/// the binary and out of init. No error names a credential's value.
pub fn lambda_sdk_config(env: &dyn EnvSource) -> Result<SdkConfig, ConfigError> {
    let required = |name: &str| {
        env.get(name).filter(|v| !v.is_empty()).ok_or_else(|| ConfigError::new(name, "is required (Lambda sets it)"))
    };
    let token = env.get("AWS_SESSION_TOKEN").filter(|t| !t.is_empty());
    let credentials =
        Credentials::new(required("AWS_ACCESS_KEY_ID")?, required("AWS_SECRET_ACCESS_KEY")?, token, None, "lambda");
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(required("AWS_REGION")?))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(endpoint) = env.get("AWS_ENDPOINT_URL").filter(|e| !e.is_empty()) {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(builder.build())
}

/// A provider function's whole `main`: logging, settings, then serving.
pub async fn run<P: Provider>() -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    serve_http(P::from_env(&ProcessEnv)?).await
}

/// Serves `function` on the Lambda runtime with an SQS publisher built once.
pub async fn serve_http<F: HttpFunction>(function: F) -> Result<(), lambda_http::Error> {
    let queue = QueueSettings::from_env(&ProcessEnv)?;
    let sdk = lambda_sdk_config(&ProcessEnv)?;
    let publisher = SqsPublisher::new(SqsPublisher::client_with_timeout(&sdk, queue.timeout), queue.queue_url)
        .with_max_message_bytes(queue.max_message_bytes);
    if queue.warm_up {
        publisher.warm_up(queue.timeout / 4).await;
    }
    let (function, publisher) = (&function, &publisher);
    lambda_http::run(service_fn(move |request: lambda_http::Request| async move {
        let incoming = lambda::incoming(request);
        let reply = function.handle(publisher, &incoming, OffsetDateTime::now_utc()).await;
        Ok::<Response<Body>, std::convert::Infallible>(lambda::response(reply))
    }))
    .await
}

/// AWS configuration for a local emulator (moto): fixed region and dummy
/// credentials, so no AWS account or profile is ever consulted.
pub async fn local_sdk_config(endpoint_url: &str) -> SdkConfig {
    let env: std::collections::HashMap<&str, &str> = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL", endpoint_url),
    ]
    .into();
    match lambda_sdk_config(&env) {
        Ok(config) => config,
        // Every variable above is set: this cannot fail.
        Err(_) => SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build(),
    }
}
