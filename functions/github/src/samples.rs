//! GitHub samples, signed with the first secret of `GITHUB_WEBHOOK_SECRET`,
//! with the headers GitHub sends.

use inlet_shared::form::encode_form;
use inlet_shared::prelude::*;
use inlet_shared::verify::sha256_hex;

use crate::{DELIVERY_HEADER, EVENT_HEADER, GithubFunction, PATH, SETTING, SIGNATURE_HEADER, signature_header};

/// The hook id every sample names.
pub const HOOK_ID: u64 = 471_937_228;

impl Samples for GithubFunction {
    const SAMPLE_NAMES: &'static [&'static str] = &["github-push", "github-ping", "github-issue-comment-form"];

    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let secrets = SecretList::parse(SETTING, &env.get(SETTING)?);
        let secret = secrets.iter().next()?.value.expose().to_string();
        let (description, event, content_type, body) = match name {
            "github-push" => ("push to main (JSON)", "push", "application/json", push(timestamp, unique).to_string()),
            "github-ping" => ("the hook's first delivery (ping)", "ping", "application/json", ping().to_string()),
            "github-issue-comment-form" => (
                "issue comment, hook content type application/x-www-form-urlencoded",
                "issue_comment",
                "application/x-www-form-urlencoded",
                encode_form(&[("payload", &issue_comment(unique).to_string())]),
            ),
            _ => return None,
        };
        Some(signed_request(name, description, event, &delivery_id(name, unique), content_type, body, &secret))
    }
}

/// A request as GitHub posts it: its headers, signed with `secret`.
pub fn signed_request(
    name: &str,
    description: &str,
    event: &str,
    delivery: &str,
    content_type: &str,
    body: String,
    secret: &str,
) -> SampleRequest {
    let signature = signature_header(secret, body.as_bytes());
    let mut request = SampleRequest::post_json(name, description, PATH, body);
    request.headers = vec![("content-type".into(), content_type.into())];
    request
        .with_header("user-agent", "GitHub-Hookshot/5a1b2c3")
        .with_header(EVENT_HEADER, event)
        .with_header(DELIVERY_HEADER, delivery)
        .with_header("x-github-hook-id", HOOK_ID.to_string())
        .with_header("x-github-hook-installation-target-type", "repository")
        .with_header("x-github-hook-installation-target-id", REPOSITORY_ID.to_string())
        .with_header(SIGNATURE_HEADER, signature)
}

/// A delivery GUID derived from `unique`: the same unique, the same delivery.
pub fn delivery_id(name: &str, unique: &str) -> String {
    let hex = sha256_hex(format!("{name}:{unique}").as_bytes());
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

const REPOSITORY_ID: u64 = 812_345_678;

fn repository() -> Value {
    json!({
        "id": REPOSITORY_ID,
        "node_id": "R_kgDOMG9kTg",
        "name": "inlet-dev",
        "full_name": "octo-org/inlet-dev",
        "private": true,
        "owner": {"login": "octo-org", "id": 9919, "type": "Organization"},
        "html_url": "https://github.com/octo-org/inlet-dev",
        "default_branch": "main"
    })
}

fn sender() -> Value {
    json!({"login": "octocat", "id": 583231, "type": "User"})
}

fn push(timestamp: i64, unique: &str) -> Value {
    let after = sha256_hex(format!("commit:{unique}").as_bytes())[..40].to_string();
    let time = inlet_shared::envelope::rfc3339(
        OffsetDateTime::from_unix_timestamp(timestamp).unwrap_or(OffsetDateTime::UNIX_EPOCH),
    );
    let commit = json!({
        "id": after,
        "message": "Fix the retry loop",
        "timestamp": time,
        "author": {"name": "The Octocat", "email": "octocat@github.com", "username": "octocat"},
        "added": [], "removed": [], "modified": ["src/retry.rs"]
    });
    json!({
        "ref": "refs/heads/main",
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": after,
        "created": false,
        "deleted": false,
        "forced": false,
        "compare": format!("https://github.com/octo-org/inlet-dev/compare/6113728f27ae...{}", &after[..12]),
        "commits": [commit],
        "head_commit": commit,
        "repository": repository(),
        "pusher": {"name": "octocat", "email": "octocat@github.com"},
        "organization": {"login": "octo-org", "id": 9919},
        "sender": sender()
    })
}

fn ping() -> Value {
    json!({
        "zen": "Design for failure.",
        "hook_id": HOOK_ID,
        "hook": {
            "type": "Repository",
            "id": HOOK_ID,
            "name": "web",
            "active": true,
            "events": ["push", "issue_comment"],
            "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://example.execute-api.us-east-1.amazonaws.com/github/webhook"}
        },
        "repository": repository(),
        "sender": sender()
    })
}

fn issue_comment(unique: &str) -> Value {
    let comment_id = 1_000_000 + u64::from_str_radix(&sha256_hex(unique.as_bytes())[..6], 16).unwrap_or(1);
    json!({
        "action": "created",
        "issue": {
            "number": 42,
            "title": "Deploy stuck",
            "state": "open",
            "user": {"login": "octocat", "id": 583231},
            "comments_url": "https://api.github.com/repos/octo-org/inlet-dev/issues/42/comments"
        },
        "comment": {
            "id": comment_id,
            "body": "/deploy prod & notify #ops: 100% done? ✓",
            "user": {"login": "octocat", "id": 583231},
            "html_url": format!("https://github.com/octo-org/inlet-dev/issues/42#issuecomment-{comment_id}")
        },
        "repository": repository(),
        "sender": sender()
    })
}
