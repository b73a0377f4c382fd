//! `inlet reply <event-id> --text "..."`: answers an event in its
//! conversation. The reply is queued on the reply queue as a
//! [`ReplyRequest`], which the reply function posts once through the
//! platform's API.
//!
//! Like the operator commands ([`crate::ops`]) it runs against the local
//! stack by default (the reply queue `inlet dev` creates) and against a
//! deployed stack with `--aws`, or whenever `INLET_REPLY_QUEUE_URL` is set
//! in the environment (the stack's `ReplyQueueUrl` output), with the
//! standard AWS environment or profile for credentials and region. When the
//! table is known (`INLET_TABLE_NAME`, always locally), the event's record
//! says first whether it can be answered at all: a reply the reply function
//! would refuse for good is not queued.

use std::collections::HashMap;

use inlet_shared::aws::dynamodb::DynamoDbStore;
use inlet_shared::config::{EnvSource, ProcessEnv, optional};
use inlet_shared::dedup::STATUS_COMPLETED;
use inlet_shared::envelope::Envelope;
use inlet_shared::reply::request::{QUEUE_URL_SETTING, ReplyOutbox, ReplyRequest, SqsReplyOutbox};
use inlet_shared::reply::{Reply, ReplyTarget};
use serde::Serialize;

use crate::error::CliError;
use crate::ops::TargetArgs;

/// Where `inlet reply` queues its request.
pub struct ReplyQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// The dedup table, when known: the event's record is read first.
    pub store: Option<DynamoDbStore>,
    /// "local stack at ..." or "AWS (...)", for the output.
    pub description: String,
}

impl ReplyQueue {
    /// A deployed stack's with `--aws` or `INLET_REPLY_QUEUE_URL` set in
    /// the environment; otherwise the local stack's, with `settings`
    /// (events/env.json and its overrides) naming the table.
    pub async fn resolve(aws: bool, settings: &HashMap<String, String>) -> Result<ReplyQueue, CliError> {
        let aws = aws || optional(&ProcessEnv, QUEUE_URL_SETTING).is_some();
        if aws { Self::aws(&ProcessEnv).await } else { Self::local(settings).await }
    }

    /// A deployed stack's reply queue, with aws-config's default chain.
    pub async fn aws(env: &dyn EnvSource) -> Result<ReplyQueue, CliError> {
        let queue_url = optional(env, QUEUE_URL_SETTING).ok_or_else(|| {
            CliError::config(
                QUEUE_URL_SETTING,
                format!("against AWS, set {QUEUE_URL_SETTING} from the stack's output ReplyQueueUrl"),
            )
        })?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(crate::ops::no_region)?;
        let table = optional(env, "INLET_TABLE_NAME");
        let store = table.as_deref().map(|table| crate::ops::store(aws_sdk_dynamodb::Client::new(&sdk), table));
        Ok(ReplyQueue { sqs: aws_sdk_sqs::Client::new(&sdk), queue_url, store, description: format!("AWS ({region})") })
    }

    /// The local stack's: moto at AWS_ENDPOINT_URL or on MOTO_PORT (5000).
    pub async fn local(settings: &HashMap<String, String>) -> Result<ReplyQueue, CliError> {
        let endpoint = crate::ops::local_endpoint();
        let sdk = inlet_shared::aws::access::local_sdk_config(&endpoint);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let shape = crate::ops::queue_shape(settings)?;
        let queue_url =
            crate::ops::find_queue(&sqs, &shape.reply_queue_name(), &endpoint).await.map_err(CliError::Unavailable)?;
        let table = settings.get("INLET_TABLE_NAME").cloned().unwrap_or_else(|| "inlet-events".into());
        Ok(ReplyQueue {
            sqs,
            queue_url,
            store: Some(crate::ops::store(aws_sdk_dynamodb::Client::new(&sdk), &table)),
            description: format!("local stack at {endpoint}"),
        })
    }
}

/// Answer a processed event in its conversation
///
/// Queues the reply on the reply queue (deployed: INLET_REPLY_QUEUE_URL, the
/// stack's ReplyQueueUrl output), and the reply function posts it once
/// through the platform's API. --card is the platform's own message JSON,
/// --update changes the original message.
///
/// The same reply twice is posted once unless --id KEY tells them apart.
/// Prints the reply's dedup key (`inlet inbox` shows it).
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ReplyArgs {
    /// The event to answer (`inlet inbox` lists them).
    #[arg(value_name = "EVENT_ID")]
    pub event_id: String,
    /// The reply's text.
    #[arg(long, value_name = "TEXT", required_unless_present = "card")]
    pub text: Option<String>,
    /// The platform's own message JSON (a Lark card, Slack blocks, ...).
    #[arg(long, value_name = "JSON", value_parser = json_value)]
    pub card: Option<serde_json::Value>,
    /// Change the original message instead of answering it.
    #[arg(long)]
    pub update: bool,
    /// Tells this reply apart from another with the same content.
    #[arg(long, value_name = "KEY")]
    pub id: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// `--card`'s value: any JSON.
fn json_value(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

impl ReplyArgs {
    /// The request the arguments describe, checked as the reply function
    /// checks it: a reply it would refuse is a usage error.
    pub fn request(&self) -> Result<ReplyRequest, CliError> {
        let reply = Reply { text: self.text.clone(), card: self.card.clone(), update: self.update };
        let mut request = ReplyRequest::new(&self.event_id, reply);
        if let Some(id) = &self.id {
            request = request.with_id(id);
        }
        // What the reply function reads, checked here: a reply it would
        // refuse is never queued.
        ReplyRequest::parse(&request.to_json())
            .map_err(|reason| CliError::usage(format!("the reply is refused: {reason}")))
    }
}

/// Whether the event can be answered, by its record: an error when it
/// never can be, a note when the reply will have to wait for it.
pub async fn check_event(store: &DynamoDbStore, event_id: &str) -> Result<Option<String>, String> {
    let Some(entry) = store.entry(event_id).await.map_err(|e| e.to_string())? else {
        return Ok(Some(format!(
            "event {event_id:?} has no record yet: the reply function waits for it (retrying with a growing \
             backoff) and dead-letters the reply if it never comes (`inlet inbox` lists the events)"
        )));
    };
    if entry.status != STATUS_COMPLETED {
        return Ok(Some(format!("event {event_id:?} is {}: the reply is sent once it is processed", entry.status)));
    }
    let stored = entry.envelope.ok_or_else(|| {
        format!("event {event_id:?} has no stored Envelope (over the inbox's size limit): its conversation is unknown")
    })?;
    let envelope: Envelope = serde_json::from_value(stored)
        .map_err(|e| format!("event {event_id:?}: the stored Envelope does not decode: {e}"))?;
    let target = ReplyTarget::of(&envelope).map_err(|e| e.reason)?;
    let providers = answerable_providers();
    if !providers.contains(&target.provider.as_str()) {
        return Err(format!("inlet cannot answer {} events (replies go to {})", target.provider, providers.join(", ")));
    }
    Ok(None)
}

/// The providers the reply function has a client for: the clients as
/// built without settings (each exists whether or not its credentials are
/// set, and needs none to be built).
fn answerable_providers() -> Vec<&'static str> {
    let connector = inlet_shared::aws::outbound::connector(&inlet_shared::aws::tls::TlsRoots::System);
    let no_settings: HashMap<String, String> = HashMap::new();
    inlet_shared::reply::Replies::from_env(&no_settings, connector)
        .map(|replies| replies.providers().collect())
        .unwrap_or_default()
}

/// What `inlet reply --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Queued {
    pub event_id: String,
    pub dedup_key: String,
    pub queue_url: String,
}

/// Runs `inlet reply`: against the local stack with events/env.json's
/// settings and their environment overrides, or a deployed one.
pub async fn run(args: ReplyArgs) -> Result<(), CliError> {
    let request = args.request()?;
    let settings = crate::settings::with_overrides()?;
    let queue = ReplyQueue::resolve(args.target.aws, &settings).await?;
    if let Some(store) = &queue.store
        && let Some(note) = check_event(store, &request.event_id).await.map_err(|e| format!("not queued: {e}"))?
    {
        eprintln!("inlet: note: {note}");
    }
    SqsReplyOutbox::new(queue.sqs.clone(), &queue.queue_url).send(&request).await?;
    let queued = Queued {
        event_id: request.event_id.clone(),
        dedup_key: request.dedup_key(),
        queue_url: queue.queue_url.clone(),
    };
    if args.target.json {
        println!("{}", serde_json::to_string_pretty(&queued).map_err(|e| e.to_string())?);
        return Ok(());
    }
    println!(
        "reply to {} queued on {} ({}); dedup key {}: the same reply again is posted once (--id KEY makes \
         another), `inlet inbox` shows it once sent",
        queued.event_id, queued.queue_url, queue.description, queued.dedup_key
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use clap::error::ErrorKind;

    #[derive(Parser, Debug)]
    struct Reply {
        #[command(flatten)]
        args: ReplyArgs,
    }

    fn parse(list: &[&str]) -> Result<ReplyArgs, clap::Error> {
        Reply::try_parse_from(std::iter::once("reply").chain(list.iter().copied())).map(|r| r.args)
    }

    #[test]
    fn the_chat_platforms_are_answerable() {
        let providers = answerable_providers();
        for provider in ["lark", "telegram", "discord", "slack", "dingtalk", "wecom"] {
            assert!(providers.contains(&provider), "{provider}: {providers:?}");
        }
        assert!(!providers.contains(&"alert-api"));
    }

    #[test]
    fn the_arguments_are_one_event_and_a_reply_the_reply_function_accepts() {
        let request = parse(&["telegram:devbot:7", "--text", "pong"]).unwrap().request().unwrap();
        assert_eq!((request.event_id.as_str(), request.reply.text_str()), ("telegram:devbot:7", Some("pong")));
        assert!(request.id.is_none() && !request.reply.update && request.target.is_none());
        let args =
            parse(&["--aws", "slack:T1:Ev1", "--card", r#"[{"type":"divider"}]"#, "--update", "--id", "k1", "--json"])
                .unwrap();
        assert!(args.target.aws && args.target.json);
        let card = args.request().unwrap();
        assert_eq!(card.event_id, "slack:T1:Ev1");
        assert_eq!(card.reply.card, Some(serde_json::json!([{"type": "divider"}])));
        assert!(card.reply.update);
        assert_eq!(card.id.as_deref(), Some("k1"));
        // The key is the one the reply function claims.
        assert_eq!(card.dedup_key(), ReplyRequest::parse(&card.to_json()).unwrap().dedup_key());
        // The command line clap refuses, with its usage code.
        for (bad, kind, says) in [
            (vec!["--text", "x"], ErrorKind::MissingRequiredArgument, "EVENT_ID"),
            (vec!["e"], ErrorKind::MissingRequiredArgument, "--text"),
            (vec!["e", "--text"], ErrorKind::InvalidValue, "--text"),
            (vec!["e", "--card", "{nope"], ErrorKind::ValueValidation, "not JSON"),
            (vec!["e", "--txt", "x"], ErrorKind::UnknownArgument, "--text"),
            (vec!["e", "f", "--text", "x"], ErrorKind::UnknownArgument, "'f'"),
        ] {
            let error = parse(&bad).unwrap_err();
            assert_eq!(error.kind(), kind, "{bad:?}: {error}");
            assert!(error.to_string().contains(says), "{bad:?}: {error}");
            assert_eq!(error.exit_code(), 2);
        }
        // What the reply function would refuse, checked after parsing.
        for (bad, says) in
            [(vec!["e", "--text", "  "], "non-empty text"), (vec!["e", "--text", "x", "--id", ""], "id must be")]
        {
            let error = parse(&bad).unwrap().request().unwrap_err();
            assert!(matches!(error, CliError::Usage(_)) && error.to_string().contains(says), "{bad:?}: {error}");
        }
    }
}
