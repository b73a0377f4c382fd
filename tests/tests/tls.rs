//! Which certificate authorities inlet's AWS clients trust (shared/src/aws/tls.rs),
//! against an HTTPS server whose certificate comes from an authority made up
//! for the test (tests/tls_server.py): a client given that authority reaches
//! the server, and neither Amazon's roots (the default inside AWS's
//! commercial partition) nor the system's accept it. Both ways a function
//! calls AWS are checked: an SDK client built from `AwsAccess::sdk_config`
//! (the queue, the dedup table) and the signed calls of crate::aws::json_api (the
//! secret stores).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_sqs::config::Credentials;
use inlet_shared::aws::access::AwsAccess;
use inlet_shared::aws::json_api::{AwsJsonClient, CallError, CallTimeouts, SSM};
use inlet_shared::aws::tls::TlsRoots;
use inlet_testkit::crosscheck::repository_root;

struct TestServer {
    child: Child,
    url: String,
    ca_pem: String,
}

impl TestServer {
    fn start() -> Self {
        let root = repository_root();
        let python = root.join(".venv/bin/python");
        assert!(python.exists(), "{} is missing: run `make tools`", python.display());
        let mut child = Command::new(python)
            .arg(root.join("tests/tests/tls_server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the test server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("its first line");
        let started: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        TestServer {
            url: format!("https://127.0.0.1:{}", started["port"]),
            ca_pem: started["ca_pem"].as_str().expect("ca_pem").to_string(),
            child,
        }
    }

    fn access(&self, tls_roots: TlsRoots) -> AwsAccess {
        AwsAccess {
            region: "eu-west-1".into(),
            credentials: Credentials::new("AKIDTLSTEST", "tls-test-secret", None, None, "test"),
            endpoint_url: Some(self.url.clone()),
            tls_roots,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What an SQS call through an SDK client built with `roots` ends in: the
/// server's refusal (`Ok(code)`) or a failure to reach it.
async fn sqs_call(server: &TestServer, roots: TlsRoots) -> Result<String, String> {
    let client = aws_sdk_sqs::Client::new(&server.access(roots).sdk_config());
    match client.get_queue_url().queue_name("inlet-tls").send().await {
        Ok(_) => Ok("answered".into()),
        Err(aws_sdk_sqs::error::SdkError::ServiceError(error)) => {
            Ok(aws_sdk_sqs::error::ProvideErrorMetadata::code(error.err()).unwrap_or("no code").to_string())
        }
        Err(other) => Err(aws_sdk_sqs::error::DisplayErrorContext(other).to_string()),
    }
}

async fn store_call(server: &TestServer, roots: TlsRoots) -> Result<serde_json::Value, CallError> {
    let timeouts = CallTimeouts { attempt: Duration::from_secs(2), operation: Duration::from_secs(3), max_attempts: 1 };
    AwsJsonClient::new(&server.access(roots), SSM, timeouts)
        .call("GetParameters", &serde_json::json!({"Names": ["/x"]}))
        .await
}

#[tokio::test]
async fn the_sdk_clients_trust_exactly_the_authorities_they_are_given() {
    let server = TestServer::start();
    let own = TlsRoots::Pem(server.ca_pem.clone().into_bytes());
    assert_eq!(sqs_call(&server, own).await.as_deref(), Ok("InvalidAction"), "the server was reached");
    for roots in [TlsRoots::Amazon, TlsRoots::System] {
        let error = sqs_call(&server, roots.clone()).await.expect_err("refused");
        assert!(error.to_lowercase().contains("certificate"), "{roots:?}: {error}");
    }
}

#[tokio::test]
async fn the_secret_stores_calls_trust_exactly_the_authorities_they_are_given() {
    let server = TestServer::start();
    let own = TlsRoots::Pem(server.ca_pem.clone().into_bytes());
    match store_call(&server, own).await {
        Err(CallError::Service { code, .. }) => assert_eq!(code, "InvalidAction", "the server was reached"),
        other => panic!("{other:?}"),
    }
    for roots in [TlsRoots::Amazon, TlsRoots::System] {
        match store_call(&server, roots.clone()).await {
            Err(CallError::Transport(reason)) => {
                assert!(reason.to_lowercase().contains("certificate"), "{roots:?}: {reason}")
            }
            other => panic!("{roots:?}: {other:?}"),
        }
    }
}
