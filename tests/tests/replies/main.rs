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
