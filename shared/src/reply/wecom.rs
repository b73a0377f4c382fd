//! wecom: SKELETON, to be written.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;

use super::{Reply, ReplyClient, ReplyError, ReplyTarget, Sent};
use crate::config::EnvSource;
use crate::error::ConfigError;

pub const CORP_ID: &str = "WECOM_CORP_ID";
pub const CORP_SECRET: &str = "WECOM_CORP_SECRET";
pub const AGENT_ID: &str = "WECOM_AGENT_ID";
pub const API_BASE: &str = "WECOM_API_BASE";
/// The platform's own API host.
pub const DEFAULT_API_BASE: &str = "https://qyapi.weixin.qq.com";

pub struct WeComClient {
    connector: SharedHttpConnector,
}

impl WeComClient {
    pub fn from_env(_env: &dyn EnvSource, connector: SharedHttpConnector) -> Result<Self, ConfigError> {
        Ok(WeComClient { connector })
    }
}

#[async_trait]
impl ReplyClient for WeComClient {
    fn provider(&self) -> &'static str {
        "wecom"
    }

    async fn send(&self, _target: &ReplyTarget, _reply: &Reply, _reply_id: &str, _now: SystemTime) -> Result<Sent, ReplyError> {
        let _ = &self.connector;
        Err(ReplyError::permanent("not written yet"))
    }
}
