//! One signed call to an AWS service that speaks the AWS JSON 1.1 protocol
//! (SSM Parameter Store, Secrets Manager): what init needs to read secret
//! settings (crate::aws::secrets), without linking each service's SDK crate.
//!
//! Why not the SDK: every receiver links whatever its init may call, and the
//! SSM and Secrets Manager clients cost about 1 MB of each binary for two
//! operations called once per cold start (BENCHMARKS.md, "Build and size").
//! What this keeps from the SDK is what matters for correctness: requests
//! are signed by `aws-sigv4` (the SDK's own Signature V4 crate) and sent by
//! `aws-smithy-http-client`'s connector, the same rustls/aws-lc stack the
//! SQS client uses; the signature is cross-checked against botocore's in
//! tests/tests/secrets.rs. The protocol itself is one POST of a JSON body
//! with an `X-Amz-Target` header naming the operation.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_sqs::config::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::aws::access::AwsAccess;
use crate::aws::partition::Partition;

/// An AWS JSON 1.1 service: how it is named in endpoints, signatures and
/// operation targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AwsJsonService {
    /// The first label of its regional endpoint (`ssm` in `ssm.<region>.amazonaws.com`).
    pub endpoint_prefix: &'static str,
    /// The service name in the signature's credential scope.
    pub signing_name: &'static str,
    /// What precedes the operation in `X-Amz-Target`.
    pub target_prefix: &'static str,
}

pub const SSM: AwsJsonService =
    AwsJsonService { endpoint_prefix: "ssm", signing_name: "ssm", target_prefix: "AmazonSSM" };

pub const SECRETS_MANAGER: AwsJsonService = AwsJsonService {
    endpoint_prefix: "secretsmanager",
    signing_name: "secretsmanager",
    target_prefix: "secretsmanager",
};

/// Why a call produced no answer. No variant quotes a response body: a
/// successful one carries secret values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The service refused: its error code (`AccessDeniedException`) and
    /// message, which name resources and principals, never a value.
    Service { status: u16, code: String, message: String },
    /// No answer within the operation's time.
    Timeout(Duration),
    /// The request could not be sent or its answer not read.
    Transport(String),
    /// A 2xx answer that is not the JSON the operation returns, in the
    /// shape the caller reads.
    Unreadable,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Service { status, code, message } => write!(f, "{code}: {message} (HTTP {status})"),
            CallError::Timeout(limit) => write!(f, "no answer within {} s", limit.as_secs()),
            CallError::Transport(reason) => write!(f, "the request failed: {reason}"),
            CallError::Unreadable => write!(f, "its answer could not be read"),
        }
    }
}

impl CallError {
    /// Whether another attempt may succeed: what the SDK's standard retry
    /// strategy retries (throttling, server errors, transport failures).
    fn is_transient(&self) -> bool {
        match self {
            CallError::Service { status, code, .. } => {
                *status >= 500
                    || code.contains("Throttl")
                    || code.contains("TooManyRequests")
                    || code == "RequestLimitExceeded"
                    || code == "RequestTimeout"
            }
            CallError::Timeout(_) | CallError::Transport(_) => true,
            CallError::Unreadable => false,
        }
    }
}

/// How long a call may take: each attempt, and all attempts together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallTimeouts {
    pub attempt: Duration,
    pub operation: Duration,
    pub max_attempts: u32,
}

/// A client for one AWS JSON 1.1 service in one region.
pub struct AwsJsonClient {
    service: AwsJsonService,
    endpoint: String,
    host: String,
    region: String,
    credentials: Credentials,
    timeouts: CallTimeouts,
    connector: Connector,
}

impl AwsJsonClient {
    pub fn new(aws: &AwsAccess, service: AwsJsonService, timeouts: CallTimeouts) -> Self {
        let endpoint = match &aws.endpoint_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!(
                "https://{}.{}.{}",
                service.endpoint_prefix,
                aws.region,
                Partition::of(&aws.region).dns_suffix()
            ),
        };
        let host = endpoint.split_once("://").map(|(_, rest)| rest).unwrap_or(&endpoint).to_string();
        let connector = aws.tls_roots.connector();
        AwsJsonClient {
            service,
            endpoint,
            host,
            region: aws.region.clone(),
            credentials: aws.credentials.clone(),
            timeouts,
            connector,
        }
    }

    /// Calls `operation` with `input`, retrying what may pass on a second
    /// attempt, and reads the answer as `T`.
    pub async fn call<T: DeserializeOwned>(&self, operation: &str, input: &Value) -> Result<T, CallError> {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let remaining = self.timeouts.operation.saturating_sub(started.elapsed());
            let limit = remaining.min(self.timeouts.attempt);
            let result = match tokio::time::timeout(limit, self.attempt(operation, input, SystemTime::now())).await {
                Ok(result) => result,
                Err(_) => Err(CallError::Timeout(self.timeouts.operation)),
            };
            match result {
                Err(error) if error.is_transient() && attempt < self.timeouts.max_attempts => {
                    // Backoff as the SDK's standard strategy: 2^n × up to 1 s,
                    // here without jitter, bounded by the operation's time.
                    let backoff = Duration::from_millis(200 << (attempt - 1));
                    if started.elapsed() + backoff >= self.timeouts.operation {
                        return Err(error);
                    }
                    tracing::info!(operation, attempt, reason = %error, "retrying a store call");
                    tokio::time::sleep(backoff).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        operation: &str,
        input: &Value,
        now: SystemTime,
    ) -> Result<T, CallError> {
        let request = self.signed_request(operation, input, now)?;
        let request = HttpRequest::try_from(request.map(SdkBody::from))
            .map_err(|error| CallError::Transport(error.to_string()))?;
        let response = self.connector.call(request).await.map_err(|error| CallError::Transport(with_causes(&error)))?;
        let status = response.status().as_u16();
        let error_type = response.headers().get("x-amzn-errortype").map(str::to_string);
        let body = ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|error| CallError::Transport(error.to_string()))?
            .into_bytes();
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(|_| CallError::Unreadable);
        }
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        Err(service_error(status, error_type.as_deref(), json.as_ref()))
    }

    /// The request as sent: the JSON body, the protocol's headers and the
    /// Signature V4 headers for `now`.
    pub fn signed_request(
        &self,
        operation: &str,
        input: &Value,
        now: SystemTime,
    ) -> Result<http::Request<Vec<u8>>, CallError> {
        let body = serde_json::to_vec(input).map_err(|error| CallError::Transport(error.to_string()))?;
        let target = format!("{}.{operation}", self.service.target_prefix);
        let mut request = http::Request::post(format!("{}/", self.endpoint))
            .header("host", &self.host)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", &target)
            .body(body)
            .map_err(|error| CallError::Transport(format!("{} is not a usable endpoint: {error}", self.endpoint)))?;
        let identity: Identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service.signing_name)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| CallError::Transport(error.to_string()))?
            .into();
        let headers = request.headers().iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable =
            SignableRequest::new("POST", request.uri().to_string(), headers, SignableBody::Bytes(request.body()))
                .map_err(|error| CallError::Transport(error.to_string()))?;
        let (instructions, _signature) =
            sign(signable, &params).map_err(|error| CallError::Transport(error.to_string()))?.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// An error and its causes, outermost first: a connector's own message is
/// only "io error"; the cause says which (refused, a certificate, a reset).
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// An AWS JSON error answer: the code from `X-Amzn-ErrorType` or the body's
/// `__type` (either may carry a namespace before `#` or a URL after `:`),
/// the body's `message` or `Message`.
fn service_error(status: u16, error_type: Option<&str>, body: Option<&Value>) -> CallError {
    let from_body = body.and_then(|b| b.get("__type").or_else(|| b.get("code"))).and_then(Value::as_str);
    let raw = error_type.or(from_body).unwrap_or("unknown error");
    let code = raw.rsplit('#').next().unwrap_or(raw);
    let code = code.split(':').next().unwrap_or(code).trim().to_string();
    let message = body
        .and_then(|b| b.get("message").or_else(|| b.get("Message")))
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .to_string();
    CallError::Service { status, code, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn access(endpoint: Option<&str>, region: &str) -> AwsAccess {
        AwsAccess {
            region: region.into(),
            credentials: Credentials::new("AKIDEXAMPLE", "secret-access-key", Some("session".into()), None, "test"),
            endpoint_url: endpoint.map(str::to_string),
            tls_roots: crate::aws::tls::TlsRoots::System,
        }
    }

    const TIMEOUTS: CallTimeouts =
        CallTimeouts { attempt: Duration::from_secs(3), operation: Duration::from_secs(7), max_attempts: 3 };

    #[test]
    fn requests_go_to_the_regional_endpoint_with_the_protocols_headers_and_a_signature() {
        let client = AwsJsonClient::new(&access(None, "eu-west-1"), SSM, TIMEOUTS);
        let request =
            client.signed_request("GetParameters", &json!({"Names": ["/a"]}), SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(request.uri(), "https://ssm.eu-west-1.amazonaws.com/");
        assert_eq!(request.headers()["x-amz-target"], "AmazonSSM.GetParameters");
        assert_eq!(request.headers()["content-type"], "application/x-amz-json-1.1");
        assert_eq!(request.headers()["x-amz-security-token"], "session");
        assert_eq!(request.headers()["x-amz-date"], "19700101T000000Z");
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/19700101/eu-west-1/ssm/aws4_request"),
            "{authorization}"
        );
        assert!(!authorization.contains("secret-access-key"));
        assert_eq!(request.body(), br#"{"Names":["/a"]}"#);

        let client = AwsJsonClient::new(&access(None, "cn-north-1"), SECRETS_MANAGER, TIMEOUTS);
        let request = client.signed_request("BatchGetSecretValue", &json!({}), SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(request.uri(), "https://secretsmanager.cn-north-1.amazonaws.com.cn/");
        assert_eq!(request.headers()["x-amz-target"], "secretsmanager.BatchGetSecretValue");

        let client = AwsJsonClient::new(&access(Some("http://127.0.0.1:5000/"), "us-east-1"), SSM, TIMEOUTS);
        let request = client.signed_request("GetParameters", &json!({}), SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(request.uri(), "http://127.0.0.1:5000/");
        assert_eq!(request.headers()["host"], "127.0.0.1:5000");
    }

    #[test]
    fn error_answers_give_the_bare_code_and_the_message() {
        let error = service_error(
            400,
            None,
            Some(&json!({"__type": "com.amazonaws.ssm#AccessDeniedException", "message": "not authorized"})),
        );
        assert_eq!(
            error,
            CallError::Service { status: 400, code: "AccessDeniedException".into(), message: "not authorized".into() }
        );
        let error = service_error(
            400,
            Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.service/"),
            Some(&json!({"Message": "Rate exceeded"})),
        );
        assert_eq!(error.to_string(), "ThrottlingException: Rate exceeded (HTTP 400)");
        assert!(error.is_transient());
        assert!(service_error(503, None, None).is_transient());
        let denied = service_error(400, Some("AccessDeniedException"), None);
        assert!(!denied.is_transient());
        assert_eq!(denied.to_string(), "AccessDeniedException: no message (HTTP 400)");
        assert!(!CallError::Unreadable.is_transient());
    }

    #[tokio::test]
    async fn an_unreachable_store_is_retried_then_reported_within_the_operations_time() {
        // Nothing listens on port 9 of the loopback: connection refused.
        let timeouts =
            CallTimeouts { attempt: Duration::from_millis(500), operation: Duration::from_secs(2), max_attempts: 3 };
        let client = AwsJsonClient::new(&access(Some("http://127.0.0.1:9"), "us-east-1"), SSM, timeouts);
        let error = client.call::<Value>("GetParameters", &json!({})).await.expect_err("nothing answers");
        assert!(matches!(error, CallError::Transport(_)), "{error:?}");
    }
}
