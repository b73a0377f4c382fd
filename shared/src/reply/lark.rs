//! lark: SKELETON, to be written.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;

use super::{Reply, ReplyClient, ReplyError, ReplyTarget, Sent};
use crate::config::EnvSource;
use crate::error::ConfigError;

pub const APP_ID: &str = "LARK_APP_ID";
pub const APP_SECRET: &str = "LARK_APP_SECRET";
pub const API_BASE: &str = "LARK_API_BASE";
/// The platform's own API host.
pub const DEFAULT_API_BASE: &str = "https://open.feishu.cn";

pub struct LarkClient {
    connector: SharedHttpConnector,
}

impl LarkClient {
    pub fn from_env(_env: &dyn EnvSource, connector: SharedHttpConnector) -> Result<Self, ConfigError> {
        Ok(LarkClient { connector })
    }
}

#[async_trait]
impl ReplyClient for LarkClient {
    fn provider(&self) -> &'static str {
        "lark"
    }

    async fn send(&self, _target: &ReplyTarget, _reply: &Reply, _reply_id: &str, _now: SystemTime) -> Result<Sent, ReplyError> {
        let _ = &self.connector;
        Err(ReplyError::permanent("not written yet"))
    }
}
