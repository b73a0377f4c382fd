//! What every provider's `main` would otherwise repeat: logging, reading the
//! queue settings, building the SQS client once, and serving HTTP events.

use std::future::Future;
use std::pin::Pin;

use aws_config::BehaviorVersion;
use lambda_http::{Body, Response, service_fn};
use time::OffsetDateTime;

use crate::config::{ProcessEnv, QueueSettings};
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

/// Loads the AWS configuration the way every function does.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// A provider function's whole `main`: logging, settings, then serving.
pub async fn run<P: Provider>() -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    serve_http(P::from_env(&ProcessEnv)?).await
}

/// Serves `function` on the Lambda runtime with an SQS publisher built once.
pub async fn serve_http<F: HttpFunction>(function: F) -> Result<(), lambda_http::Error> {
    let queue = QueueSettings::from_env(&ProcessEnv)?;
    let sdk = aws_sdk_config().await;
    let publisher = SqsPublisher::new(SqsPublisher::client_with_timeout(&sdk, queue.timeout), queue.queue_url)
        .with_max_message_bytes(queue.max_message_bytes);
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
pub async fn local_sdk_config(endpoint_url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint_url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "inlet-local"))
        .load()
        .await
}
