//! What every provider's `main` would otherwise repeat: logging, reading the
//! queue settings, building the SQS client once, and serving HTTP events.

use std::future::Future;
use std::pin::Pin;

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_types::SdkConfig;
use lambda_http::service_fn;
use time::OffsetDateTime;

use crate::config::{EnvSource, ProcessEnv, QueueSettings};
use crate::error::ConfigError;
use crate::ingress::{IncomingRequest, Reply, lambda};
use crate::provider::Provider;
use crate::queue::{Publisher, SqsPublisher};
use crate::tls::TlsRoots;

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

/// Where and as whom AWS is called: a region, credentials and, for an
/// emulator, an endpoint. The SDK clients get it as an [`SdkConfig`]; the
/// secret stores' signed calls (crate::aws_json) use it as it is.
#[derive(Clone, Debug)]
pub struct AwsAccess {
    pub region: String,
    pub credentials: Credentials,
    /// `AWS_ENDPOINT_URL`: every service at this address (the local stack's moto).
    pub endpoint_url: Option<String>,
    /// The certificate authorities its HTTPS connections trust (crate::tls).
    pub tls_roots: TlsRoots,
}

impl AwsAccess {
    /// Inside Lambda, from the variables Lambda sets: the region and the
    /// execution role's credentials (`AWS_ENDPOINT_URL`, when set, points
    /// the calls at an emulator, as the local stack does). aws-config's
    /// provider chain (profiles, SSO, STS, IMDS, ECS) serves machines a
    /// Lambda function never runs on: leaving it out keeps it out of the
    /// binary and out of init. No error names a credential's value.
    pub fn from_lambda_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let required = |name: &str| {
            env.get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError::new(name, "is required (Lambda sets it)"))
        };
        let token = env.get("AWS_SESSION_TOKEN").filter(|t| !t.is_empty());
        let credentials =
            Credentials::new(required("AWS_ACCESS_KEY_ID")?, required("AWS_SECRET_ACCESS_KEY")?, token, None, "lambda");
        let endpoint_url = env.get("AWS_ENDPOINT_URL").filter(|e| !e.is_empty());
        let region = required("AWS_REGION")?;
        let tls_roots = TlsRoots::from_env(env, &region)?;
        Ok(AwsAccess { region, credentials, endpoint_url, tls_roots })
    }

    /// A local emulator (moto): fixed region and dummy credentials, so no
    /// AWS account or profile is ever consulted.
    pub fn local(endpoint_url: &str) -> Self {
        AwsAccess {
            region: "us-east-1".into(),
            credentials: Credentials::new("test", "test", None, None, "inlet-local"),
            endpoint_url: Some(endpoint_url.to_string()),
            tls_roots: TlsRoots::System,
        }
    }

    pub fn sdk_config(&self) -> SdkConfig {
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(self.credentials.clone()));
        builder.set_endpoint_url(self.endpoint_url.clone());
        if let Some(client) = self.tls_roots.http_client() {
            builder = builder.http_client(client);
        }
        builder.build()
    }
}

/// The AWS partition a region belongs to, by its name's prefix: what the
/// store calls' endpoints (crate::aws_json) and the default trust store
/// (crate::tls) depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partition {
    /// `aws`: the commercial regions.
    Commercial,
    /// `aws-cn`: `cn-` regions.
    China,
    /// `aws-us-gov`: `us-gov-` regions.
    GovCloud,
    /// `aws-iso`: `us-iso-` regions.
    Iso,
    /// `aws-iso-b`: `us-isob-` regions.
    IsoB,
    /// The other isolated regions (`us-iso…`), whose endpoints this table
    /// does not know: there `AWS_ENDPOINT_URL` names them.
    OtherIsolated,
    /// `aws-eusc`: `eusc-` regions.
    EuropeanSovereign,
}

impl Partition {
    pub fn of(region: &str) -> Self {
        match region {
            _ if region.starts_with("cn-") => Partition::China,
            _ if region.starts_with("us-gov-") => Partition::GovCloud,
            _ if region.starts_with("us-isob-") => Partition::IsoB,
            _ if region.starts_with("us-iso-") => Partition::Iso,
            _ if region.starts_with("us-iso") => Partition::OtherIsolated,
            _ if region.starts_with("eusc-") => Partition::EuropeanSovereign,
            _ => Partition::Commercial,
        }
    }

    /// The domain its regional endpoints end in (the SDK's partition table).
    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::China => "amazonaws.com.cn",
            Partition::IsoB => "sc2s.sgov.gov",
            Partition::Iso => "c2s.ic.gov",
            Partition::EuropeanSovereign => "amazonaws.eu",
            Partition::Commercial | Partition::GovCloud | Partition::OtherIsolated => "amazonaws.com",
        }
    }
}

/// The SDK configuration inside Lambda ([`AwsAccess::from_lambda_env`]).
pub fn lambda_sdk_config(env: &dyn EnvSource) -> Result<SdkConfig, ConfigError> {
    Ok(AwsAccess::from_lambda_env(env)?.sdk_config())
}

/// A provider function's whole `main`: logging, settings, then serving.
/// The secret settings are read once, here, from where
/// `INLET_SECRETS_SOURCE` says (crate::secrets), before the first request.
pub async fn run<P: Provider>() -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let env = crate::secrets::resolve(&ProcessEnv, P::SECRET_SETTINGS).await?;
    serve_http(P::from_env(&env)?).await
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
        Ok::<lambda::Answer, std::convert::Infallible>(lambda::response(reply))
    }))
    .await
}

/// The SDK configuration for a local emulator ([`AwsAccess::local`]).
pub fn local_sdk_config(endpoint_url: &str) -> SdkConfig {
    AwsAccess::local(endpoint_url).sdk_config()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn lambda_config_needs_lambdas_variables_and_never_repeats_a_credential() {
        let mut env: HashMap<&str, &str> = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t-key-value"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]
        .into();
        let config = lambda_sdk_config(&env).expect("all set");
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let value = env.insert(missing, "").expect("was set");
            let error = lambda_sdk_config(&env).expect_err("refused").to_string();
            assert!(error.contains(missing) && !error.contains("s3cr3t"), "{error}");
            env.insert(missing, value);
        }
        assert_eq!(local_sdk_config("http://127.0.0.1:1").endpoint_url(), Some("http://127.0.0.1:1"));
    }
}
