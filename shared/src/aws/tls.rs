//! Which certificate authorities the AWS clients trust.
//!
//! The SDK's default reads the system's whole CA bundle at init (rustls'
//! native roots: about 150 certificates, and on some systems every file of
//! `/etc/ssl/certs`), which was most of what a receiver's init cost beyond a
//! hello-world binary (BENCHMARKS.md, "Cold start"). The endpoints a function
//! calls in AWS's commercial partition (SQS, DynamoDB, SSM, Secrets Manager,
//! their VPC endpoints) present certificates from Amazon Trust Services, so
//! there the clients trust only its four roots and the Starfield root that
//! cross-signs them (`shared/certs/amazon-trust-services.pem`).
//!
//! `INLET_TLS_ROOTS` chooses: `amazon` or `system`. Unset, the system's roots
//! are used wherever the Amazon ones may not be enough: another partition
//! (China, GovCloud, the isolated regions, the European Sovereign Cloud), an `AWS_ENDPOINT_URL` (an
//! emulator or a proxy), or a bundle named by `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`.

use aws_smithy_http_client::Connector;
use aws_smithy_http_client::tls::{Provider as TlsProvider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::aws::partition::Partition;
use crate::config::{EnvSource, optional};
use crate::error::ConfigError;

pub const SETTING: &str = "INLET_TLS_ROOTS";

/// Amazon Root CA 1–4 and Starfield Services Root Certificate Authority G2.
pub const AMAZON_TRUST_SERVICES_ROOTS: &[u8] = include_bytes!("../../certs/amazon-trust-services.pem");

/// The certificate authorities a client trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsRoots {
    /// [`AMAZON_TRUST_SERVICES_ROOTS`] alone.
    Amazon,
    /// The system's bundle, as the SDK loads it by default.
    System,
    /// These PEM certificates alone (tests use their own authority).
    Pem(Vec<u8>),
}

impl TlsRoots {
    /// `INLET_TLS_ROOTS`, or the default for `region` and the environment.
    pub fn from_env(env: &dyn EnvSource, region: &str) -> Result<Self, ConfigError> {
        match optional(env, SETTING).map(|v| v.to_ascii_lowercase()).as_deref() {
            Some("amazon") => Ok(TlsRoots::Amazon),
            Some("system") => Ok(TlsRoots::System),
            Some(other) => Err(ConfigError::new(SETTING, format!("{other:?} is not amazon or system"))),
            None => {
                let elsewhere = ["AWS_ENDPOINT_URL", "SSL_CERT_FILE", "SSL_CERT_DIR"]
                    .iter()
                    .any(|name| optional(env, name).is_some());
                let commercial = Partition::of(region) == Partition::Commercial;
                Ok(if commercial && !elsewhere { TlsRoots::Amazon } else { TlsRoots::System })
            }
        }
    }

    fn context(&self) -> Option<TlsContext> {
        let store = match self {
            TlsRoots::System => return None,
            TlsRoots::Amazon => TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS),
            TlsRoots::Pem(pem) => TrustStore::empty().with_pem_certificate(pem.clone()),
        };
        // Building a context with only a trust store cannot fail.
        TlsContext::builder().with_trust_store(store).build().ok()
    }

    /// The HTTP client for an SDK configuration: None leaves the SDK's
    /// default (the system's roots).
    pub fn http_client(&self) -> Option<SharedHttpClient> {
        let context = self.context()?;
        Some(
            aws_smithy_http_client::Builder::new()
                .tls_provider(TlsProvider::Rustls(CryptoMode::AwsLc))
                .tls_context(context)
                .build_https(),
        )
    }

    /// A connector for calls made without an SDK client (crate::aws::json_api):
    /// the same rustls/aws-lc stack the SDK's clients use. It also speaks
    /// plain HTTP, which the local emulator serves.
    pub fn connector(&self) -> Connector {
        let builder = Connector::builder().tls_provider(TlsProvider::Rustls(CryptoMode::AwsLc));
        match self.context() {
            Some(context) => builder.tls_context(context).build(),
            None => builder.build(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn amazons_roots_serve_the_commercial_partition_and_the_systems_everything_else() {
        assert_eq!(TlsRoots::from_env(&env(&[]), "eu-west-1").unwrap(), TlsRoots::Amazon);
        assert_eq!(TlsRoots::from_env(&env(&[]), "us-east-1").unwrap(), TlsRoots::Amazon);
        for region in
            ["cn-north-1", "us-gov-west-1", "us-iso-east-1", "us-isob-east-1", "us-isof-south-1", "eusc-de-east-1"]
        {
            assert_eq!(TlsRoots::from_env(&env(&[]), region).unwrap(), TlsRoots::System, "{region}");
        }
        for name in ["AWS_ENDPOINT_URL", "SSL_CERT_FILE", "SSL_CERT_DIR"] {
            assert_eq!(TlsRoots::from_env(&env(&[(name, "x")]), "eu-west-1").unwrap(), TlsRoots::System, "{name}");
        }
        let chosen = env(&[("INLET_TLS_ROOTS", "Amazon"), ("AWS_ENDPOINT_URL", "https://proxy")]);
        assert_eq!(TlsRoots::from_env(&chosen, "cn-north-1").unwrap(), TlsRoots::Amazon, "a choice wins");
        let chosen = env(&[("INLET_TLS_ROOTS", "system")]);
        assert_eq!(TlsRoots::from_env(&chosen, "eu-west-1").unwrap(), TlsRoots::System);
        let error = TlsRoots::from_env(&env(&[("INLET_TLS_ROOTS", "none")]), "eu-west-1").unwrap_err();
        assert_eq!(error.name, SETTING);
    }

    #[test]
    fn the_compiled_in_roots_are_amazon_trust_services_four_and_starfields() {
        let text = std::str::from_utf8(AMAZON_TRUST_SERVICES_ROOTS).expect("PEM is text");
        let mut fingerprints = Vec::new();
        for block in text.split("-----BEGIN CERTIFICATE-----").skip(1) {
            let body = block.split("-----END CERTIFICATE-----").next().expect("ends");
            let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let der = base64::engine::general_purpose::STANDARD.decode(base64).expect("base64");
            fingerprints.push(hex::encode_upper(Sha256::digest(&der)));
        }
        // As Amazon Trust Services publishes them (amazontrust.com/repository).
        assert_eq!(
            fingerprints,
            [
                "8ECDE6884F3D87B1125BA31AC3FCB13D7016DE7F57CC904FE1CB97C6AE98196E", // Amazon Root CA 1
                "1BA5B2AA8C65401A82960118F80BEC4F62304D83CEC4713A19C39C011EA46DB4", // Amazon Root CA 2
                "18CE6CFE7BF14E60B2E347B8DFE868CB31D02EBB3ADA271569F50343B46DB3A4", // Amazon Root CA 3
                "E35D28419ED02025CFA69038CD623962458DA5C695FBDEA3C22B0BFB25897092", // Amazon Root CA 4
                "568D6905A2C88708A4B3025190EDCFEDB1974A606A13C6E5290FCB2AE63EDAB5", // Starfield Services Root G2
            ]
        );
        assert!(TlsRoots::Amazon.http_client().is_some());
        assert!(TlsRoots::System.http_client().is_none(), "the SDK's default");
    }
}
