//! Signed Discord samples. The dev signing seed (`DISCORD_DEV_SIGNING_SEED`)
//! belongs to the tools only; the function reads just the public key.

use inlet_shared::config;
use inlet_shared::prelude::*;

use crate::crypto::sign_ed25519;
use crate::{DiscordFunction, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// A snowflake-like id derived from `unique`, so the same unique is the same interaction.
fn snowflake(unique: &str) -> String {
    let digest = inlet_shared::verify::sha256_hex(unique.as_bytes());
    u64::from_str_radix(&digest[..15], 16).unwrap_or(1).to_string()
}

fn interaction(kind: u64, unique: &str, data: Value) -> Value {
    json!({
        "id": snowflake(unique),
        "application_id": "1100000000000000001",
        "type": kind,
        "token": format!("dev-interaction-token-{unique}"),
        "version": 1,
        "guild_id": "1200000000000000001",
        "channel_id": "1300000000000000001",
        "member": {"user": {"id": "1400000000000000001", "username": "devuser"}, "roles": []},
        "data": data,
        "message": if kind == 3 { json!({"id": "1500000000000000001"}) } else { Value::Null },
    })
}

impl Samples for DiscordFunction {
    const SAMPLE_NAMES: &'static [&'static str] = &[
        "discord-ping",
        "discord-command",
        "discord-component",
        "discord-autocomplete",
        "discord-modal",
        "discord-events-ping",
        "discord-event",
    ];
    /// The samples sign with the dev seed; the function reads only the
    /// public key, so another seed forges a request.
    const SIGNING_SETTINGS: &'static [&'static str] = &["DISCORD_DEV_SIGNING_SEED"];

    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let seed: [u8; 32] = hex::decode(config::optional(env, "DISCORD_DEV_SIGNING_SEED")?).ok()?.try_into().ok()?;
        let (path, description, body) = match name {
            "discord-ping" => {
                ("/discord/interactions", "PING (answered {\"type\":1}, never enqueued)", json!({"type": 1}))
            }
            "discord-command" => (
                "/discord/interactions",
                "slash command /deploy (deferred, enqueued)",
                interaction(
                    2,
                    unique,
                    json!({"id": "1600000000000000001", "name": "deploy", "type": 1, "options": [{"name": "env", "type": 3, "value": "prod"}]}),
                ),
            ),
            "discord-component" => (
                "/discord/interactions",
                "button click (deferred update, enqueued)",
                interaction(3, unique, json!({"custom_id": "approve", "component_type": 2})),
            ),
            "discord-autocomplete" => (
                "/discord/interactions",
                "autocomplete (answered with no choices, never enqueued)",
                interaction(
                    4,
                    unique,
                    json!({"name": "deploy", "options": [{"name": "env", "type": 3, "value": "pr", "focused": true}]}),
                ),
            ),
            "discord-modal" => (
                "/discord/interactions",
                "modal submit (deferred, enqueued)",
                interaction(5, unique, json!({"custom_id": "feedback", "components": []})),
            ),
            "discord-events-ping" => (
                "/discord/events",
                "webhook events PING (204, never enqueued)",
                json!({"version": 1, "application_id": "1100000000000000001", "type": 0}),
            ),
            "discord-event" => (
                "/discord/events",
                "webhook event APPLICATION_AUTHORIZED (204 after enqueue)",
                json!({
                    "version": 1,
                    "application_id": "1100000000000000001",
                    "type": 1,
                    "event": {
                        "type": "APPLICATION_AUTHORIZED",
                        "timestamp": "2023-11-14T22:13:20.000000+00:00",
                        "data": {"integration_type": 0, "scopes": ["applications.commands"], "user": {"id": snowflake(unique), "username": "devuser"}}
                    }
                }),
            ),
            _ => return None,
        };
        let body = body.to_string();
        let ts = timestamp.to_string();
        let signature = sign_ed25519(&seed, &ts, body.as_bytes());
        Some(
            SampleRequest::post_json(name, description, path, body)
                .with_header(SIGNATURE_HEADER, signature)
                .with_header(TIMESTAMP_HEADER, ts),
        )
    }
}
