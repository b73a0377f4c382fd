//! Secret settings from SSM Parameter Store and Secrets Manager against
//! moto's server: the same signed calls and wire protocol as production,
//! from the stored value (put there with the services' own SDKs) to a
//! provider that accepts a request signed with it; and the signature the
//! stores' calls carry, checked against botocore's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use inlet_shared::aws::access::{AwsAccess, local_sdk_config};
use inlet_shared::aws::json_api::{AwsJsonClient, CallError, CallTimeouts, SSM};
use inlet_shared::aws::secrets::{SecretStore, SecretsManagerStore, SsmStore, resolve};
use inlet_shared::config::EnvSource;
use inlet_shared::provider::HttpFunction;
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::crosscheck::{Runtime, run};
use inlet_testkit::moto::{aws_endpoint, unique};
use inlet_testkit::samples::assert_unauthenticated;
use lark::LarkFunction;
use slack::SlackFunction;
use time::OffsetDateTime;

fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&local_sdk_config(&aws_endpoint()))
}

fn secretsmanager() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&local_sdk_config(&aws_endpoint()))
}

async fn put_parameter(name: &str, value: &str, kind: aws_sdk_ssm::types::ParameterType) {
    ssm().put_parameter().name(name).value(value).r#type(kind).send().await.expect("put parameter on moto");
}

async fn put_secure(name: &str, value: &str) {
    put_parameter(name, value, aws_sdk_ssm::types::ParameterType::SecureString).await;
}

async fn create_secret(name: &str, value: &str) {
    secretsmanager().create_secret().name(name).secret_string(value).send().await.expect("create secret on moto");
}

/// The local stack's settings as a function inside Lambda sees them with a
/// store selected: the provider's secrets left out of the environment, and
/// the variables Lambda sets pointing at moto.
fn lambda_env(secret_settings: &[&str], source: &str, prefix: &str, endpoint: &str) -> HashMap<String, String> {
    let mut env = dev_settings();
    for setting in secret_settings {
        env.remove(*setting);
    }
    for (name, value) in [
        ("INLET_SECRETS_SOURCE", source),
        ("INLET_SECRETS_PREFIX", prefix),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL", endpoint),
    ] {
        env.insert(name.into(), value.into());
    }
    env
}

#[tokio::test]
async fn lark_configured_from_ssm_secure_strings_accepts_requests_signed_with_them() {
    let prefix = format!("/{}/", unique("inlet-secrets"));
    put_secure(&format!("{prefix}LARK_VERIFICATION_TOKEN"), "ssm-verification-token").await;
    put_secure(&format!("{prefix}LARK_ENCRYPT_KEY"), "ssm-encrypt-key").await;
    let env = lambda_env(LarkFunction::SECRET_SETTINGS, "ssm", &prefix, &aws_endpoint());

    let resolved = resolve(&env, LarkFunction::SECRET_SETTINGS).await.expect("read from SSM");
    assert_eq!(resolved.get("LARK_ENCRYPT_KEY").as_deref(), Some("ssm-encrypt-key"));
    let function = LarkFunction::from_env(&resolved).expect("configured");

    let now = OffsetDateTime::now_utc();
    for name in ["lark-message", "lark-challenge-encrypted"] {
        let sample = LarkFunction::sample(name, &resolved, now.unix_timestamp(), &unique(name)).expect(name);
        let publisher = MemoryPublisher::new();
        let reply = function.handle(&publisher, &sample.to_incoming(), now).await;
        assert_eq!(reply.status, 200, "{name}: {}", String::from_utf8_lossy(&reply.body));
    }

    // Signed with the environment file's secrets, which are not in force.
    let forged =
        LarkFunction::sample("lark-message", &dev_settings(), now.unix_timestamp(), &unique("forged")).expect("sample");
    let publisher = MemoryPublisher::new();
    assert_unauthenticated(&function.handle(&publisher, &forged.to_incoming(), now).await, &publisher);
}

#[tokio::test]
async fn slack_configured_from_secrets_manager_accepts_both_secrets_of_a_rotation() {
    let prefix = format!("{}/", unique("inlet-secrets"));
    // Mid-rotation: the new secret first, the old one still accepted.
    create_secret(&format!("{prefix}SLACK_SIGNING_SECRET"), "sm-new-signing-secret,sm-old-signing-secret").await;
    let env = lambda_env(SlackFunction::SECRET_SETTINGS, "secretsmanager", &prefix, &aws_endpoint());

    let resolved = resolve(&env, SlackFunction::SECRET_SETTINGS).await.expect("read from Secrets Manager");
    let function = SlackFunction::from_env(&resolved).expect("configured");

    let now = OffsetDateTime::now_utc();
    for secret in ["sm-new-signing-secret", "sm-old-signing-secret"] {
        let signing: HashMap<&str, &str> = [("SLACK_SIGNING_SECRET", secret)].into();
        let sample =
            SlackFunction::sample("slack-event", &signing, now.unix_timestamp(), &unique("slack")).expect("sample");
        let publisher = MemoryPublisher::new();
        let reply = function.handle(&publisher, &sample.to_incoming(), now).await;
        assert_eq!(reply.status, 200, "{secret}: {}", String::from_utf8_lossy(&reply.body));
        assert_eq!(publisher.sent().len(), 1);
    }
    let forged =
        SlackFunction::sample("slack-event", &dev_settings(), now.unix_timestamp(), &unique("forged")).expect("sample");
    let publisher = MemoryPublisher::new();
    assert_unauthenticated(&function.handle(&publisher, &forged.to_incoming(), now).await, &publisher);
}

#[tokio::test]
async fn a_secret_missing_from_the_store_leaves_an_optional_setting_unset_and_a_required_one_refused() {
    let prefix = format!("/{}/", unique("inlet-secrets"));
    put_secure(&format!("{prefix}LARK_VERIFICATION_TOKEN"), "ssm-verification-token").await;
    let env = lambda_env(LarkFunction::SECRET_SETTINGS, "ssm", &prefix, &aws_endpoint());
    let resolved = resolve(&env, LarkFunction::SECRET_SETTINGS).await.expect("read from SSM");
    assert_eq!(resolved.get("LARK_ENCRYPT_KEY"), None);
    let function = LarkFunction::from_env(&resolved).expect("the Encrypt Key is optional");
    assert!(function.encrypt_keys.is_empty());

    // Nothing stored under this prefix: the required token is missing.
    let prefix = format!("{}/", unique("inlet-secrets"));
    let env = lambda_env(LarkFunction::SECRET_SETTINGS, "secretsmanager", &prefix, &aws_endpoint());
    let resolved = resolve(&env, LarkFunction::SECRET_SETTINGS).await.expect("nothing found is not a failure");
    let error = LarkFunction::from_env(&resolved).err().expect("refused");
    assert_eq!(error.name, "LARK_VERIFICATION_TOKEN");
}

#[tokio::test]
async fn the_ssm_store_asks_ten_names_at_a_time_and_refuses_a_plain_string_parameter() {
    let prefix = format!("/{}/", unique("inlet-secrets"));
    let stored: Vec<String> = (0..12).map(|n| format!("{prefix}S{n}")).collect();
    for (n, name) in stored.iter().enumerate() {
        put_secure(name, &format!("value-{n}")).await;
    }
    let mut names = stored.clone();
    names.push(format!("{prefix}MISSING"));
    let store = SsmStore::new(&AwsAccess::local(&aws_endpoint()));
    let values = store.fetch(&names).await.expect("13 names in two calls");
    assert_eq!(values.len(), 12);
    assert_eq!(values[&stored[11]], "value-11");
    assert!(!values.contains_key(&names[12]));

    let plain = format!("{prefix}PLAIN");
    put_parameter(&plain, "plain-value", aws_sdk_ssm::types::ParameterType::String).await;
    let error = store.fetch(std::slice::from_ref(&plain)).await.expect_err("refused");
    assert_eq!(error.names, vec![plain]);
    assert!(error.reason.contains("SecureString") && !error.reason.contains("plain-value"), "{error:?}");
}

#[tokio::test]
async fn the_secrets_manager_store_asks_twenty_names_at_a_time() {
    let prefix = format!("{}/", unique("inlet-secrets"));
    let stored: Vec<String> = (0..21).map(|n| format!("{prefix}S{n}")).collect();
    for (n, name) in stored.iter().enumerate() {
        create_secret(name, &format!("value-{n}")).await;
    }
    let mut names = stored.clone();
    names.insert(3, format!("{prefix}MISSING"));
    let store = SecretsManagerStore::new(&AwsAccess::local(&aws_endpoint()));
    let values = store.fetch(&names).await.expect("22 names in two calls");
    assert_eq!(values.len(), 21);
    assert_eq!(values[&stored[20]], "value-20");
    assert!(!values.contains_key(&names[3]));
}

#[tokio::test]
async fn an_unreachable_store_fails_init_in_seconds_naming_the_settings_and_the_store() {
    // Nothing listens on port 1.
    for (source, store) in [("ssm", "SSM Parameter Store"), ("secretsmanager", "Secrets Manager")] {
        let env = lambda_env(LarkFunction::SECRET_SETTINGS, source, "/inlet/prod/", "http://127.0.0.1:1");
        let started = Instant::now();
        let error = resolve(&env, LarkFunction::SECRET_SETTINGS).await.err().expect("init fails");
        assert!(started.elapsed() < Duration::from_secs(9), "inside Lambda's 10 s init limit");
        assert_eq!(error.name, "LARK_VERIFICATION_TOKEN, LARK_ENCRYPT_KEY");
        let text = error.to_string();
        assert!(text.contains(store) && text.contains("/inlet/prod/LARK_ENCRYPT_KEY"), "{text}");
    }
}

#[test]
fn the_stores_requests_carry_the_signature_botocore_computes_for_them() {
    use base64::Engine;
    use std::time::UNIX_EPOCH;
    let access_key = "AKIDINLETCROSSCHECK";
    let secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYINLETKEY";
    let token = "IQoJb3JpZ2luX2VjEXAMPLE/token+with=chars";
    let timeouts = CallTimeouts { attempt: Duration::from_secs(3), operation: Duration::from_secs(7), max_attempts: 3 };
    // Two regions, both services' shapes, a body with characters JSON escapes.
    for (region, endpoint, operation, input) in [
        (
            "eu-west-1",
            None,
            "GetParameters",
            serde_json::json!({"Names": ["/inlet/prod/LARK_ENCRYPT_KEY"], "WithDecryption": true}),
        ),
        (
            "ap-southeast-2",
            Some("http://127.0.0.1:5000"),
            "GetParameters",
            serde_json::json!({"Names": ["/a\"b", "/ü"]}),
        ),
    ] {
        let aws = AwsAccess {
            region: region.into(),
            credentials: aws_sdk_sqs::config::Credentials::new(access_key, secret_key, Some(token.into()), None, "t"),
            endpoint_url: endpoint.map(str::to_string),
            tls_roots: inlet_shared::aws::tls::TlsRoots::System,
        };
        let client = AwsJsonClient::new(&aws, SSM, timeouts);
        let at = UNIX_EPOCH + Duration::from_secs(1_796_356_800); // 2026-12-04T04:00:00Z
        let request = client.signed_request(operation, &input, at).expect("signed");
        let headers: serde_json::Map<String, serde_json::Value> = request
            .headers()
            .iter()
            .filter(|(name, _)| *name != "authorization")
            .map(|(name, value)| (name.to_string(), value.to_str().expect("ascii").into()))
            .collect();
        let timestamp = headers["x-amz-date"].as_str().expect("dated").to_string();
        assert_eq!(timestamp, "20261204T040000Z");
        let input = serde_json::json!({
            "url": request.uri().to_string(),
            "headers": headers,
            "body_b64": base64::engine::general_purpose::STANDARD.encode(request.body()),
            "timestamp": timestamp,
            "region": region,
            "service": "ssm",
            "access_key": access_key,
            "secret_key": secret_key,
            "token": token,
        });
        let script = inlet_testkit::crosscheck::repository_root().join("tests/tests/botocore_sigv4.py");
        let botocore = run(Runtime::VenvPython, &script, &input);
        assert_eq!(request.headers()["authorization"].to_str().expect("ascii"), botocore["authorization"], "{region}");
    }
}

#[tokio::test]
async fn a_refusal_from_the_service_comes_back_with_its_code_over_the_wire() {
    // GetParameters takes at most 10 names; moto answers as SSM does.
    let client = AwsJsonClient::new(
        &AwsAccess::local(&aws_endpoint()),
        SSM,
        CallTimeouts { attempt: Duration::from_secs(3), operation: Duration::from_secs(7), max_attempts: 3 },
    );
    let names: Vec<String> = (0..11).map(|n| format!("/inlet/too-many/{n}")).collect();
    let error = client
        .call::<serde_json::Value>("GetParameters", &serde_json::json!({"Names": names}))
        .await
        .expect_err("refused");
    match error {
        CallError::Service { status, code, .. } => assert_eq!((status, code.as_str()), (400, "ValidationException")),
        other => panic!("{other:?}"),
    }
}
