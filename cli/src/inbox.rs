//! `inlet inbox`: the processed events in the local stack's table, newest
//! first.

use clap::Args;
use inlet_shared::aws::dynamodb::DynamoDbStore;

use crate::error::CliError;
use crate::settings;

/// List processed events from the local table, newest first.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct InboxArgs {
    /// At most N events.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Every field of each record, as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inlet inbox`.
pub async fn run(args: InboxArgs) -> Result<(), CliError> {
    let settings = settings::with_overrides()?;
    let endpoint = crate::ops::local_endpoint();
    let sdk = inlet_shared::aws::access::local_sdk_config(&endpoint);
    let dedup = inlet_shared::dedup::DedupSettings::from_env(&settings)?;
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&sdk), &dedup);
    let entries =
        store.list(args.limit).await.map_err(|e| CliError::unavailable(format!("{e} (is `make dev` running?)")))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries).map_err(|e| e.to_string())?);
        return Ok(());
    }
    if entries.is_empty() {
        println!("inbox is empty");
    }
    for entry in entries {
        let summary = entry
            .envelope
            .as_ref()
            .and_then(|e| {
                e.pointer("/message/text")
                    .or_else(|| e.pointer("/alert/name"))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        println!(
            "{:25} {:11} runs={:<3} {:28} {:48} {}",
            entry.received_at.unwrap_or_default(),
            entry.status,
            entry.sink_runs.unwrap_or_default(),
            entry.kind.unwrap_or_default(),
            entry.id,
            summary
        );
    }
    Ok(())
}
