//! slack: SKELETON, to be written.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;

use super::{Reply, ReplyClient, ReplyError, ReplyTarget, Sent};
use crate::config::EnvSource;
use crate::error::ConfigError;

pub const BOT_TOKEN: &str = "SLACK_BOT_TOKEN";
pub const API_BASE: &str = "SLACK_API_BASE";
pub const REPLY_HOSTS: &str = "SLACK_REPLY_HOSTS";
/// The platform's own API host.
pub const DEFAULT_API_BASE: &str = "https://slack.com/api";
pub const DEFAULT_REPLY_HOSTS: &[&str] = &["hooks.slack.com"];

pub struct SlackClient {
    connector: SharedHttpConnector,
}

impl SlackClient {
    pub fn from_env(_env: &dyn EnvSource, connector: SharedHttpConnector) -> Result<Self, ConfigError> {
        Ok(SlackClient { connector })
    }
}

#[async_trait]
impl ReplyClient for SlackClient {
    fn provider(&self) -> &'static str {
        "slack"
    }

    async fn send(&self, _target: &ReplyTarget, _reply: &Reply, _reply_id: &str, _now: SystemTime) -> Result<Sent, ReplyError> {
        let _ = &self.connector;
        Err(ReplyError::permanent("not written yet"))
    }
}
