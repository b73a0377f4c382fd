//! Where and as whom AWS is called, built once in `main` and handed to every
//! SDK client and signed store call.

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_types::SdkConfig;

use super::tls::TlsRoots;
use crate::config::EnvSource;
use crate::error::ConfigError;

/// Where and as whom AWS is called: a region, credentials and, for an
/// emulator, an endpoint. The SDK clients get it as an [`SdkConfig`]; the
/// secret stores' signed calls (crate::aws::json_api) use it as it is.
#[derive(Clone, Debug)]
pub struct AwsAccess {
    pub region: String,
    pub credentials: Credentials,
    /// `AWS_ENDPOINT_URL`: every service at this address (the local stack's moto).
    pub endpoint_url: Option<String>,
    /// The certificate authorities its HTTPS connections trust (crate::aws::tls).
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

/// The SDK configuration inside Lambda ([`AwsAccess::from_lambda_env`]).
pub fn lambda_sdk_config(env: &dyn EnvSource) -> Result<SdkConfig, ConfigError> {
    Ok(AwsAccess::from_lambda_env(env)?.sdk_config())
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
