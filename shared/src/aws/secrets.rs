//! Secret settings from SSM Parameter Store or Secrets Manager.
//!
//! `INLET_SECRETS_SOURCE` chooses where a provider's secret settings
//! ([`Provider::SECRET_SETTINGS`](crate::provider::Provider::SECRET_SETTINGS))
//! come from:
//!
//! - `env` (the default): the environment, like every other setting;
//! - `ssm`: the SecureString parameter `{INLET_SECRETS_PREFIX}{SETTING}`, all
//!   of a provider's in one `GetParameters` call (decrypted);
//! - `secretsmanager`: the secret `{INLET_SECRETS_PREFIX}{SETTING}`
//!   (its `SecretString`), all of a provider's in one `BatchGetSecretValue`.
//!
//! The values are fetched once, at init, and kept for the life of the
//! execution environment: nothing on the request path calls a store, and a
//! rotated value takes effect at the next cold start (each secret setting is
//! a comma-separated list, so old and new can overlap until then).
//!
//! A parameter or secret that does not exist leaves its setting unset, so an
//! optional secret stays optional. With a store selected, a secret setting
//! that is also set in the environment is refused: two sources for one
//! secret would leave it unclear which one is in force. Settings that are
//! not secret always come from the environment. Any other failure (access
//! denied, throttled, unreachable) fails init with a [`ConfigError`] that
//! names the settings and the store, never a value.

use std::collections::HashMap;
#[cfg(any(test, feature = "testkit"))]
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use crate::aws::access::AwsAccess;
use crate::aws::json_api::{AwsJsonClient, CallTimeouts, SECRETS_MANAGER, SSM};
use crate::config::{EnvSource, optional};
use crate::error::ConfigError;

pub const SOURCE_SETTING: &str = "INLET_SECRETS_SOURCE";
pub const PREFIX_SETTING: &str = "INLET_SECRETS_PREFIX";

/// Where secret settings are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretsSource {
    Env,
    Ssm,
    SecretsManager,
}

impl SecretsSource {
    /// The value of `INLET_SECRETS_SOURCE` that selects it.
    pub fn setting_value(self) -> &'static str {
        match self {
            SecretsSource::Env => "env",
            SecretsSource::Ssm => "ssm",
            SecretsSource::SecretsManager => "secretsmanager",
        }
    }

    /// The store's name, as errors and logs show it.
    pub fn store_name(self) -> &'static str {
        match self {
            SecretsSource::Env => "the environment",
            SecretsSource::Ssm => "SSM Parameter Store",
            SecretsSource::SecretsManager => "Secrets Manager",
        }
    }
}

/// `INLET_SECRETS_SOURCE` and `INLET_SECRETS_PREFIX`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretsSettings {
    pub source: SecretsSource,
    /// Prepended to a setting's name to name its parameter or secret.
    pub prefix: String,
}

impl SecretsSettings {
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let source = match optional(env, SOURCE_SETTING).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("env") => SecretsSource::Env,
            Some("ssm") => SecretsSource::Ssm,
            Some("secretsmanager") => SecretsSource::SecretsManager,
            Some(other) => {
                return Err(ConfigError::new(SOURCE_SETTING, format!("{other:?} is not env, ssm or secretsmanager")));
            }
        };
        let prefix = optional(env, PREFIX_SETTING).unwrap_or_default();
        match source {
            // The prefix may be set for a store not in use (a template passes
            // both settings whatever the choice): nothing reads it.
            SecretsSource::Env => {}
            // Without a prefix the names would be bare setting names, shared
            // by every stack in the account and impossible to grant narrowly.
            _ if prefix.is_empty() => {
                return Err(ConfigError::new(
                    PREFIX_SETTING,
                    format!(
                        "is required when {SOURCE_SETTING} is {}: the common start of the names, e.g. /inlet/prod/",
                        source.setting_value()
                    ),
                ));
            }
            // SSM refuses a hierarchical name that does not start with `/`.
            SecretsSource::Ssm if prefix.contains('/') && !prefix.starts_with('/') => {
                return Err(ConfigError::new(
                    PREFIX_SETTING,
                    format!("{prefix:?}: an SSM parameter path starts with /"),
                ));
            }
            _ => {}
        }
        Ok(SecretsSettings { source, prefix })
    }

    /// The parameter or secret that holds `setting`.
    pub fn name_for(&self, setting: &str) -> String {
        format!("{}{setting}", self.prefix)
    }
}

/// Why a store could not answer, naming what was asked for, never a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    /// The parameters or secrets the failure concerns.
    pub names: Vec<String>,
    pub reason: String,
}

impl StoreError {
    pub fn new(names: &[String], reason: impl Into<String>) -> Self {
        StoreError { names: names.to_vec(), reason: reason.into() }
    }
}

/// A place secret values are read from by name.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The values of those of `names` that exist, keyed by name: a name that
    /// does not exist is absent from the map; any other failure is an error.
    async fn fetch(&self, names: &[String]) -> Result<HashMap<String, String>, StoreError>;
}

/// The environment with the secret settings taken from a store: what
/// [`run`](crate::aws::lambda::run) passes to a provider's `from_env`.
pub struct SecretEnv<'a> {
    env: &'a dyn EnvSource,
    secret_settings: &'a [&'a str],
    /// Values by setting name; None when the source is the environment.
    from_store: Option<HashMap<String, String>>,
}

impl EnvSource for SecretEnv<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match &self.from_store {
            // No fallback to the environment: a store's missing value means unset.
            Some(values) if self.secret_settings.contains(&name) => values.get(name).cloned(),
            _ => self.env.get(name),
        }
    }
}

impl<'a> SecretEnv<'a> {
    /// Every setting from `env`, secret or not.
    pub fn plain(env: &'a dyn EnvSource) -> Self {
        SecretEnv { env, secret_settings: &[], from_store: None }
    }

    /// `env`, with each of `secret_settings` read from `store` under
    /// `settings`' prefix instead.
    pub async fn load(
        env: &'a dyn EnvSource,
        settings: &SecretsSettings,
        secret_settings: &'a [&'a str],
        store: &dyn SecretStore,
    ) -> Result<Self, ConfigError> {
        let store_name = settings.source.store_name();
        for setting in secret_settings {
            if optional(env, setting).is_some() {
                return Err(ConfigError::new(
                    setting,
                    format!(
                        "is set in the environment, but {SOURCE_SETTING} is {}: its value is read from {store_name} \
                         ({}); leave it empty in the environment",
                        settings.source.setting_value(),
                        settings.name_for(setting)
                    ),
                ));
            }
        }
        let names: Vec<String> = secret_settings.iter().map(|s| settings.name_for(s)).collect();
        let mut from_store = HashMap::new();
        if !names.is_empty() {
            let started = Instant::now();
            let found = store.fetch(&names).await.map_err(|error| {
                let failed: Vec<&str> =
                    secret_settings.iter().copied().filter(|s| error.names.contains(&settings.name_for(s))).collect();
                // A store error about nothing asked for would be a bug: name them all.
                let failed = if failed.is_empty() { secret_settings.to_vec() } else { failed };
                let names: Vec<String> = failed.iter().map(|s| settings.name_for(s)).collect();
                ConfigError::new(
                    &failed.join(", "),
                    format!("could not be read from {store_name} ({}): {}", names.join(", "), error.reason),
                )
            })?;
            for (setting, name) in secret_settings.iter().zip(&names) {
                if let Some(value) = found.get(name) {
                    from_store.insert(setting.to_string(), value.clone());
                }
            }
            let missing: Vec<&str> = secret_settings.iter().copied().filter(|s| !from_store.contains_key(*s)).collect();
            tracing::info!(
                store = store_name,
                found = from_store.len(),
                missing = missing.join(","),
                fetch_ms = started.elapsed().as_secs_f64() * 1000.0,
                "secret settings read"
            );
        }
        Ok(SecretEnv { env, secret_settings, from_store: Some(from_store) })
    }
}

/// `env` with `secret_settings` resolved as `INLET_SECRETS_SOURCE` says,
/// building the store's client from Lambda's variables when one is chosen.
pub async fn resolve<'a>(env: &'a dyn EnvSource, secret_settings: &'a [&'a str]) -> Result<SecretEnv<'a>, ConfigError> {
    let settings = SecretsSettings::from_env(env)?;
    let aws = match settings.source {
        SecretsSource::Env => return Ok(SecretEnv::plain(env)),
        _ => AwsAccess::from_lambda_env(env)?,
    };
    let store: Box<dyn SecretStore> = match settings.source {
        SecretsSource::Ssm => Box::new(SsmStore::new(&aws)),
        _ => Box::new(SecretsManagerStore::new(&aws)),
    };
    SecretEnv::load(env, &settings, secret_settings, store.as_ref()).await
}

/// Init must end inside Lambda's 10 s init limit with an error that says
/// why, rather than being cut off: a few attempts of at most 3 s each, 7 s
/// in all (the SDK's standard retry strategy makes 3 attempts).
const STORE_TIMEOUTS: CallTimeouts =
    CallTimeouts { attempt: Duration::from_secs(3), operation: Duration::from_secs(7), max_attempts: 3 };

/// SSM Parameter Store: SecureString parameters, decrypted by the service.
pub struct SsmStore {
    client: AwsJsonClient,
}

/// `GetParameters`' answer: the parameters found (names SSM does not know
/// come back in `InvalidParameters`, which is not read: they stay unset).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetParametersOutput {
    #[serde(default)]
    parameters: Vec<Parameter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Parameter {
    name: String,
    #[serde(rename = "Type")]
    kind: Option<String>,
    value: Option<String>,
}

impl SsmStore {
    /// `GetParameters` takes at most 10 names.
    const BATCH: usize = 10;

    pub fn new(aws: &AwsAccess) -> Self {
        SsmStore { client: AwsJsonClient::new(aws, SSM, STORE_TIMEOUTS) }
    }
}

#[async_trait]
impl SecretStore for SsmStore {
    async fn fetch(&self, names: &[String]) -> Result<HashMap<String, String>, StoreError> {
        let mut values = HashMap::new();
        for batch in names.chunks(Self::BATCH) {
            let input = json!({"Names": batch, "WithDecryption": true});
            let answer: GetParametersOutput = self
                .client
                .call("GetParameters", &input)
                .await
                .map_err(|error| StoreError::new(batch, error.to_string()))?;
            for parameter in answer.parameters {
                // A secret in a String parameter is stored unencrypted and
                // readable by anyone who can read parameters: refused.
                if parameter.kind.as_deref() != Some("SecureString") {
                    return Err(StoreError::new(
                        &[parameter.name],
                        format!(
                            "is a {} parameter; a secret must be a SecureString",
                            parameter.kind.as_deref().unwrap_or("typeless")
                        ),
                    ));
                }
                if let Some(value) = parameter.value {
                    values.insert(parameter.name, value);
                }
            }
        }
        Ok(values)
    }
}

/// Secrets Manager: each secret's current `SecretString`.
pub struct SecretsManagerStore {
    client: AwsJsonClient,
}

/// `BatchGetSecretValue`'s answer: values, per-secret errors, and a token
/// when more remain.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGetSecretValueOutput {
    #[serde(default)]
    secret_values: Vec<SecretValue>,
    #[serde(default)]
    errors: Vec<SecretError>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretValue {
    name: String,
    secret_string: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretError {
    secret_id: Option<String>,
    error_code: Option<String>,
    message: Option<String>,
}

impl SecretsManagerStore {
    /// `BatchGetSecretValue` takes at most 20 ids.
    const BATCH: usize = 20;
    const NOT_FOUND: &str = "ResourceNotFoundException";

    pub fn new(aws: &AwsAccess) -> Self {
        SecretsManagerStore { client: AwsJsonClient::new(aws, SECRETS_MANAGER, STORE_TIMEOUTS) }
    }
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn fetch(&self, names: &[String]) -> Result<HashMap<String, String>, StoreError> {
        let mut values = HashMap::new();
        for batch in names.chunks(Self::BATCH) {
            let mut next_token: Option<String> = None;
            loop {
                let mut input = json!({"SecretIdList": batch});
                if let Some(token) = next_token.take() {
                    input["NextToken"] = token.into();
                }
                let answer: BatchGetSecretValueOutput = self
                    .client
                    .call("BatchGetSecretValue", &input)
                    .await
                    .map_err(|error| StoreError::new(batch, error.to_string()))?;
                // Per-secret failures come back beside the values: a secret
                // that does not exist is unset, anything else (access
                // denied, a key that cannot decrypt) fails init.
                for error in answer.errors {
                    if error.error_code.as_deref() != Some(Self::NOT_FOUND) {
                        let name = error.secret_id.unwrap_or_else(|| "an unnamed secret".into());
                        return Err(StoreError::new(
                            &[name],
                            format!(
                                "{}: {}",
                                error.error_code.as_deref().unwrap_or("unknown error"),
                                error.message.as_deref().unwrap_or("no message")
                            ),
                        ));
                    }
                }
                for secret in answer.secret_values {
                    match secret.secret_string {
                        Some(value) => {
                            values.insert(secret.name, value);
                        }
                        None => {
                            return Err(StoreError::new(
                                &[secret.name],
                                "holds no SecretString (a binary secret?); store the setting's value as text",
                            ));
                        }
                    }
                }
                match answer.next_token {
                    Some(token) if !token.is_empty() => next_token = Some(token),
                    _ => break,
                }
            }
        }
        Ok(values)
    }
}

/// An in-memory store for tests: values by name, or one failure for every
/// call, and the names each call asked for.
#[cfg(any(test, feature = "testkit"))]
#[derive(Default)]
pub struct MemoryStore {
    values: HashMap<String, String>,
    failure: Option<String>,
    requests: Mutex<Vec<Vec<String>>>,
}

#[cfg(any(test, feature = "testkit"))]
impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.values.insert(name.to_string(), value.to_string());
        self
    }

    /// Every fetch fails with `reason`.
    pub fn failing(reason: &str) -> Self {
        MemoryStore { failure: Some(reason.to_string()), ..Self::default() }
    }

    /// The names asked for, one list per fetch.
    pub fn requests(&self) -> Vec<Vec<String>> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[cfg(any(test, feature = "testkit"))]
#[async_trait]
impl SecretStore for MemoryStore {
    async fn fetch(&self, names: &[String]) -> Result<HashMap<String, String>, StoreError> {
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(names.to_vec());
        }
        if let Some(reason) = &self.failure {
            return Err(StoreError::new(names, reason.clone()));
        }
        Ok(names.iter().filter_map(|n| Some((n.clone(), self.values.get(n)?.clone()))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRETS: &[&str] = &["LARK_VERIFICATION_TOKEN", "LARK_ENCRYPT_KEY"];

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn ssm() -> SecretsSettings {
        SecretsSettings { source: SecretsSource::Ssm, prefix: "/inlet/prod/".into() }
    }

    async fn load<'a>(env: &'a HashMap<String, String>, store: &MemoryStore) -> Result<SecretEnv<'a>, ConfigError> {
        SecretEnv::load(env, &ssm(), SECRETS, store).await
    }

    #[test]
    fn the_source_defaults_to_the_environment_and_a_store_needs_a_prefix() {
        assert_eq!(SecretsSettings::from_env(&env(&[])).unwrap().source, SecretsSource::Env);
        let settings =
            SecretsSettings::from_env(&env(&[("INLET_SECRETS_SOURCE", "env"), ("INLET_SECRETS_PREFIX", "x")]));
        assert_eq!(settings.unwrap().source, SecretsSource::Env, "a prefix alone selects nothing");
        let settings = SecretsSettings::from_env(&env(&[
            ("INLET_SECRETS_SOURCE", "SSM"),
            ("INLET_SECRETS_PREFIX", "/inlet/prod/"),
        ]))
        .unwrap();
        assert_eq!(settings, ssm());
        assert_eq!(settings.name_for("LARK_ENCRYPT_KEY"), "/inlet/prod/LARK_ENCRYPT_KEY");
        let settings = SecretsSettings::from_env(&env(&[
            ("INLET_SECRETS_SOURCE", "secretsmanager"),
            ("INLET_SECRETS_PREFIX", "inlet/prod/"),
        ]))
        .unwrap();
        assert_eq!(settings.source, SecretsSource::SecretsManager);
        for (pairs, setting) in [
            (&[("INLET_SECRETS_SOURCE", "vault")][..], SOURCE_SETTING),
            (&[("INLET_SECRETS_SOURCE", "ssm")][..], PREFIX_SETTING),
            (&[("INLET_SECRETS_SOURCE", "secretsmanager"), ("INLET_SECRETS_PREFIX", " ")][..], PREFIX_SETTING),
            (&[("INLET_SECRETS_SOURCE", "ssm"), ("INLET_SECRETS_PREFIX", "inlet/prod/")][..], PREFIX_SETTING),
        ] {
            assert_eq!(SecretsSettings::from_env(&env(pairs)).unwrap_err().name, setting, "{pairs:?}");
        }
    }

    #[tokio::test]
    async fn store_values_are_used_and_other_settings_come_from_the_environment() {
        let process = env(&[("INLET_QUEUE_URL", "https://queue"), ("LARK_ALLOWED_CIDRS", "10.0.0.0/8")]);
        let store = MemoryStore::new()
            .with("/inlet/prod/LARK_VERIFICATION_TOKEN", "stored-token")
            .with("/inlet/prod/LARK_ENCRYPT_KEY", "stored-key")
            .with("/inlet/prod/INLET_QUEUE_URL", "not a secret setting");
        let resolved = load(&process, &store).await.expect("loaded");
        assert_eq!(resolved.get("LARK_VERIFICATION_TOKEN").as_deref(), Some("stored-token"));
        assert_eq!(resolved.get("LARK_ENCRYPT_KEY").as_deref(), Some("stored-key"));
        assert_eq!(resolved.get("INLET_QUEUE_URL").as_deref(), Some("https://queue"));
        assert_eq!(resolved.get("LARK_ALLOWED_CIDRS").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(resolved.get("UNSET"), None);
        assert_eq!(
            store.requests(),
            vec![vec!["/inlet/prod/LARK_VERIFICATION_TOKEN".to_string(), "/inlet/prod/LARK_ENCRYPT_KEY".to_string()]],
            "one fetch for all of the provider's secrets, none for other settings"
        );
    }

    #[tokio::test]
    async fn a_missing_value_leaves_its_setting_unset_even_when_blank_in_the_environment() {
        // A template passes empty NoEcho parameters when a store is in use.
        let process = env(&[("LARK_ENCRYPT_KEY", "  ")]);
        let store = MemoryStore::new().with("/inlet/prod/LARK_VERIFICATION_TOKEN", "stored-token");
        let resolved = load(&process, &store).await.expect("loaded");
        assert_eq!(resolved.get("LARK_ENCRYPT_KEY"), None, "neither the store nor the environment's blank");
        assert_eq!(resolved.get("LARK_VERIFICATION_TOKEN").as_deref(), Some("stored-token"));
    }

    #[tokio::test]
    async fn an_environment_value_beside_a_store_is_refused_before_any_fetch() {
        let process = env(&[("LARK_ENCRYPT_KEY", "env-key-value")]);
        let store = MemoryStore::new().with("/inlet/prod/LARK_ENCRYPT_KEY", "stored-key");
        let error = load(&process, &store).await.err().expect("refused");
        assert_eq!(error.name, "LARK_ENCRYPT_KEY");
        let text = error.to_string();
        assert!(text.contains("SSM Parameter Store") && text.contains("/inlet/prod/LARK_ENCRYPT_KEY"), "{text}");
        assert!(!text.contains("env-key-value") && !text.contains("stored-key"), "{text}");
        assert!(store.requests().is_empty());
    }

    #[tokio::test]
    async fn a_store_failure_names_the_settings_and_the_store_but_no_value() {
        let process = env(&[]);
        let store = MemoryStore::failing("AccessDeniedException: not authorized to perform ssm:GetParameters");
        let error = load(&process, &store).await.err().expect("init fails");
        assert_eq!(error.name, "LARK_VERIFICATION_TOKEN, LARK_ENCRYPT_KEY");
        let text = error.to_string();
        assert!(text.contains("SSM Parameter Store") && text.contains("AccessDeniedException"), "{text}");
        assert!(text.contains("/inlet/prod/LARK_ENCRYPT_KEY"), "{text}");

        // A failure about one secret names that one's setting.
        struct OneBad;
        #[async_trait]
        impl SecretStore for OneBad {
            async fn fetch(&self, _: &[String]) -> Result<HashMap<String, String>, StoreError> {
                Err(StoreError::new(&["/inlet/prod/LARK_ENCRYPT_KEY".into()], "is a String parameter"))
            }
        }
        let error = SecretEnv::load(&process, &ssm(), SECRETS, &OneBad).await.err().expect("init fails");
        assert_eq!(error.name, "LARK_ENCRYPT_KEY");
    }

    #[tokio::test]
    async fn the_environment_source_reads_secrets_from_the_environment_and_calls_no_store() {
        let process = env(&[("LARK_ENCRYPT_KEY", "env-key"), ("INLET_SECRETS_PREFIX", "/ignored/")]);
        let resolved = resolve(&process, SECRETS).await.expect("no store, no AWS settings needed");
        assert_eq!(resolved.get("LARK_ENCRYPT_KEY").as_deref(), Some("env-key"));
        // No secret settings (Discord): no call.
        let store = MemoryStore::new();
        SecretEnv::load(&process, &ssm(), &[], &store).await.expect("loaded");
        assert!(store.requests().is_empty());
    }

    #[tokio::test]
    async fn a_store_without_lambdas_variables_fails_naming_them() {
        let process = env(&[("INLET_SECRETS_SOURCE", "ssm"), ("INLET_SECRETS_PREFIX", "/inlet/prod/")]);
        let error = resolve(&process, SECRETS).await.err().expect("refused");
        assert!(error.name.starts_with("AWS_"), "{error}");
    }
}
