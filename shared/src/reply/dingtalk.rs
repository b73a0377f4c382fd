//! dingtalk: SKELETON, to be written.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;

use super::{Reply, ReplyClient, ReplyError, ReplyTarget, Sent};
use crate::config::EnvSource;
use crate::error::ConfigError;

pub const REPLY_HOSTS: &str = "DINGTALK_REPLY_HOSTS";
/// DingTalk's API hosts: `oapi.dingtalk.com` serves `/robot/sendBySession`,
/// the address DingTalk puts in `sessionWebhook`; `api.dingtalk.com` is its
/// newer OpenAPI host.
pub const DEFAULT_REPLY_HOSTS: &[&str] = &["oapi.dingtalk.com", "api.dingtalk.com"];

pub struct DingTalkClient {
    connector: SharedHttpConnector,
}

impl DingTalkClient {
    pub fn from_env(_env: &dyn EnvSource, connector: SharedHttpConnector) -> Result<Self, ConfigError> {
        Ok(DingTalkClient { connector })
    }
}

#[async_trait]
impl ReplyClient for DingTalkClient {
    fn provider(&self) -> &'static str {
        "dingtalk"
    }

    async fn send(&self, _target: &ReplyTarget, _reply: &Reply, _reply_id: &str, _now: SystemTime) -> Result<Sent, ReplyError> {
        let _ = &self.connector;
        Err(ReplyError::permanent("not written yet"))
    }
}
