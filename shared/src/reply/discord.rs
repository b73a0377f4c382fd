//! discord: SKELETON, to be written.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;

use super::{Reply, ReplyClient, ReplyError, ReplyTarget, Sent};
use crate::config::EnvSource;
use crate::error::ConfigError;

pub const API_BASE: &str = "DISCORD_API_BASE";
/// The platform's own API host.
pub const DEFAULT_API_BASE: &str = "https://discord.com/api/v10";

pub struct DiscordClient {
    connector: SharedHttpConnector,
}

impl DiscordClient {
    pub fn from_env(_env: &dyn EnvSource, connector: SharedHttpConnector) -> Result<Self, ConfigError> {
        Ok(DiscordClient { connector })
    }
}

#[async_trait]
impl ReplyClient for DiscordClient {
    fn provider(&self) -> &'static str {
        "discord"
    }

    async fn send(&self, _target: &ReplyTarget, _reply: &Reply, _reply_id: &str, _now: SystemTime) -> Result<Sent, ReplyError> {
        let _ = &self.connector;
        Err(ReplyError::permanent("not written yet"))
    }
}
