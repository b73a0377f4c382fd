//! GitHub webhooks: `POST /github/webhook`, for repository, organization
//! and GitHub App hooks alike.
//!
//! GitHub signs the raw body: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256
//! (secret, body)>`, for either content type a hook can be set to
//! (`application/json`, or `application/x-www-form-urlencoded` with the JSON
//! in `payload=`). The whole header is compared with what each configured
//! secret yields, in constant time, exactly as @octokit/webhooks-methods'
//! `verify` compares it: lower-case hex, `sha256=` prefix. The legacy
//! `X-Hub-Signature` (HMAC-SHA1) is never read. No timestamp is signed, so
//! replays are caught only by the dedup id: `X-GitHub-Delivery` scoped to
//! `X-GitHub-Hook-ID` (see [`event_id`]), both of which a redelivery
//! (manual or through the API) keeps.

use inlet_shared::config;
use inlet_shared::envelope::Payload;
use inlet_shared::form::{form_field, is_form, parse_form};
use inlet_shared::prelude::*;
use inlet_shared::verify::hmac_sha256;

pub mod samples;

pub const PROVIDER: &str = "github";
pub const PATH: &str = "/github/webhook";
pub const SETTING: &str = "GITHUB_WEBHOOK_SECRET";
/// Why a deployment without [`SETTING`] stops: GitHub sends a hook without
/// a secret unsigned, and inlet takes nothing unsigned.
const SECRET_REQUIRED: &str =
    "is required: the hook's secret (comma-separated while rotating); a hook without a secret is unsigned";
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
pub const EVENT_HEADER: &str = "x-github-event";
pub const DELIVERY_HEADER: &str = "x-github-delivery";
pub const HOOK_ID_HEADER: &str = "x-github-hook-id";
pub const SCHEME: &str = "github-hmac-sha256";

pub struct GithubFunction {
    /// `GITHUB_WEBHOOK_SECRET#1`, `#2`, …: several while a secret is rotated.
    pub secrets: SecretList,
    pub ingress: IngressSettings,
}

/// `X-Hub-Signature-256` as GitHub (and @octokit/webhooks-methods' `sign`)
/// writes it for `body` under `secret`.
pub fn signature_header(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret.as_bytes(), &[body])))
}

impl Provider for GithubFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "GITHUB";
    const ROUTES: &'static [Route] = &[
        // "10 s" (docs/platforms/github.md, GitHub): GitHub ends a delivery after 10 s.
        Route::post(PATH).deadline_ms(10_000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[SETTING];

    const PLATFORM: &'static str = include_str!("../platform.toml");

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let secrets = config::required_secrets(env, SETTING, SECRET_REQUIRED)?;
        Ok(GithubFunction { secrets, ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)? })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, _route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        // Verify first, over the raw bytes, whatever the content type.
        let presented = request.credential_header(SIGNATURE_HEADER)?;
        // The whole header against each secret's, every one computed.
        let matched = self
            .secrets
            .find_signer(&[presented], |secret| signature_header(secret, &request.body))
            .ok_or(IngressError::BadCredential("X-Hub-Signature-256"))?;
        // Proven genuine: what is missing now is a sender's mistake, not a forgery.
        let event = required_header(request, EVENT_HEADER, "X-GitHub-Event")?;
        let delivery = required_header(request, DELIVERY_HEADER, "X-GitHub-Delivery")?;
        // The event's JSON: the body, or its `payload` field when the hook
        // posts a form.
        let form;
        let (payload, kept): (GithubEvent, Payload) = if is_form(request.header("content-type")) {
            form = parse_form(&request.body)?;
            let text = form_field(&form, "payload")
                .ok_or_else(|| IngressError::malformed("form body has no payload field"))?;
            Payload::view_str(text)?
        } else {
            Payload::view(&request.body)?
        };
        if event == "ping" {
            // The hook's first delivery, and the "Test" button: answered, never queued.
            return Ok(Decision::Answer(Reply::ok_json(json!({"ok": true, "ping": true}))));
        }
        let id = event_id(request, delivery)?;
        let verification = Verification { scheme: SCHEME.into(), matched: Some(matched.name.clone()) };
        let mut envelope = Envelope::new(PROVIDER, &id, event, now, verification, kept);
        envelope.tenant = tenant_of(&payload);
        envelope.message = message_view(event, &payload);
        Ok(Decision::enqueue(vec![envelope], Reply::ok_json(json!({"ok": true}))))
    }
}

fn required_header<'r>(request: &'r IncomingRequest, name: &str, shown: &str) -> Result<&'r str, IngressError> {
    request
        .header(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| IngressError::malformed(format!("missing {shown}")))
}

/// The dedup id: `<X-GitHub-Hook-ID>:<X-GitHub-Delivery>`. The delivery
/// GUID names the event, not the delivery: every hook and App subscribed to
/// one event gets the same GUID, each with its own payload (github/docs#32822),
/// so two hooks pointed at one deployment would otherwise be one event and
/// the second dropped. A redelivery repeats both headers, so it stays a
/// duplicate. A sender without the header (GitHub Enterprise Server releases
/// whose documentation does not list it) is still accepted, under the GUID
/// alone, the id its deliveries always had (a GUID holds no `:`, so the two
/// forms never meet).
pub fn event_id(request: &IncomingRequest, delivery: &str) -> Result<String, IngressError> {
    let hook = match request.headers.get(HOOK_ID_HEADER).map(|value| value.to_str().map(str::trim)) {
        // Present but empty says no more than absent.
        None | Some(Ok("")) => return Ok(delivery.to_string()),
        Some(Ok(hook)) if hook.bytes().all(|b| b.is_ascii_digit()) => hook,
        // GitHub's hook ids are integers; anything else could make
        // `<hook>:<GUID>` read two ways.
        Some(_) => return Err(IngressError::malformed("X-GitHub-Hook-ID is not a number")),
    };
    Ok(format!("{hook}:{delivery}"))
}

/// The repository the event is about (`owner/name`), else the organization
/// (org-level events: membership, organization, team…). The App
/// installation id stays in the payload (`installation.id`): the same
/// repository's events are then one tenant whether they come from a
/// repository hook, an organization hook or an App.
fn tenant_of(payload: &GithubEvent) -> Option<String> {
    payload.repository.full_name.text().or_else(|| payload.organization.login.text()).map(str::to_string)
}

/// A chat-like view of an issue or pull request comment, for ChatOps sinks.
fn message_view(event: &str, payload: &GithubEvent) -> Option<MessageView> {
    if event != "issue_comment" {
        return None;
    }
    let comment = payload.comment.as_ref()?;
    let issue = payload.issue.as_ref()?;
    let repository = payload.repository.full_name.as_str()?;
    let number = issue.number.as_u64()?;
    let comment_id = comment.id.as_u64();
    Some(MessageView {
        chat_id: Some(format!("{repository}#{number}")),
        chat_type: Some(if issue.pull_request.is_absent() { "issue" } else { "pull_request" }.to_string()),
        sender_id: comment.user.login.as_str().map(str::to_string),
        message_id: comment_id.map(|id| id.to_string()),
        text: comment.body.as_str().map(str::to_string),
        reply_handle: Some(json!({"repository": repository, "issue_number": number, "comment_id": comment_id})),
    })
}

inlet_shared::json_object! {
    /// What inlet reads of an event's JSON: the tenant and a comment's view.
    struct GithubEvent<'a> {
        repository: Repository<'a>, organization: Organization<'a>, comment: Option<Comment<'a>>,
        issue: Option<Issue<'a>>,
    }
}

inlet_shared::json_object! {
    struct Repository<'a> { full_name }
}

inlet_shared::json_object! {
    struct Organization<'a> { login }
}

inlet_shared::json_object! {
    struct Comment<'a> { id, body, user: Organization<'a> }
}

inlet_shared::json_object! {
    struct Issue<'a> { number, pull_request }
}
