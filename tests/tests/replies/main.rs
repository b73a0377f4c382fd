//! The reply clients (inlet_shared::reply) against local servers that
//! behave as each platform documents (inlet_tests::platforms), and, where
//! the platform's official SDK can build the same request, inlet's request
//! next to the SDK's. One binary for all platforms: each links the AWS SDK.

mod dingtalk;
mod discord;
mod lark;
mod slack;
mod telegram;
mod wecom;

use std::time::SystemTime;

use inlet_shared::reply::{Outgoing, Reply, ReplyClient, ReplyError, ReplyTarget, Sent};

/// Sends `reply` to `target` with `client` as the reply function does, at
/// this moment.
async fn send_now(
    client: &dyn ReplyClient,
    target: &ReplyTarget,
    reply: &Reply,
    reply_id: &str,
) -> Result<Sent, ReplyError> {
    client.send(Outgoing::new(target, reply, reply_id, SystemTime::now())).await
}
