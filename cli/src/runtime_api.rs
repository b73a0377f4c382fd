//! Lambda execution environments on this machine: a function binary built for
//! `provided.al2023` runs as it would on Lambda, talking to a local
//! implementation of the Lambda Runtime API
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>).
//!
//! What Lambda does and this does too:
//! - A function's process starts on the first invoke, and again on the first
//!   invoke after it died; an invoke that finds no idle environment starts
//!   another one, up to the function's concurrency. Warm environments are
//!   used first.
//! - The process takes one invocation at a time with
//!   `GET /2018-06-01/runtime/invocation/next` (request id, deadline, function
//!   ARN and trace id in `Lambda-Runtime-*` headers) and answers with
//!   `POST .../invocation/{id}/response` or `.../error`; a failed start is
//!   reported with `POST /2018-06-01/runtime/init/error`.
//! - An invocation still running at the function's timeout fails
//!   (`Sandbox.Timedout`) and its process is killed; a process that exits
//!   during an invocation fails it (`Runtime.ExitError`). Either way the next
//!   invoke starts a fresh process.
//! - Payloads above 6 MB are refused; a process has 10 s to ask for its first
//!   invocation.
//!
//! [`Invoked`] reports whether an invocation started a process and how long
//! the start took, so the same emulator can measure cold starts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::httpd::{self, BodyError, HttpResponse};
use crate::random::random_u64;

/// Lambda's limit on a synchronous invocation's event and response.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// How long Lambda lets a new process take before its first `next`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// The account and region in ARNs the function sees.
pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";

const RUNTIME_PREFIX: &str = "/2018-06-01/runtime/";

/// One function, as it would be configured on Lambda.
#[derive(Clone, Debug)]
pub struct FunctionConfig {
    pub name: String,
    /// The function's `bootstrap`.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The function's environment variables (Lambda adds its own).
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory_mb: u32,
    /// Environments that may run at once (reserved concurrency).
    pub concurrency: usize,
    pub init_timeout: Duration,
    /// Where the function's stdout and stderr go; None: this process's.
    pub log: Option<PathBuf>,
}

impl FunctionConfig {
    /// Lambda's defaults: 3 s, 128 MB, one environment.
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>) -> Self {
        FunctionConfig {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            concurrency: 1,
            init_timeout: INIT_TIMEOUT,
            log: None,
        }
    }

    pub fn arn(&self) -> String {
        format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}", self.name)
    }
}

/// A successful invocation.
#[derive(Clone, Debug)]
pub struct Invoked {
    pub request_id: String,
    pub payload: Bytes,
    /// Set when this invocation started the process: from spawning it to its
    /// first `next` (Lambda's init duration).
    pub init: Option<Duration>,
    /// From handing the event over to the response.
    pub duration: Duration,
}

/// A failed invocation, as Lambda's Invoke API reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvokeError {
    /// The function answered with an error (`.../error` or `init/error`).
    Function { request_id: String, error_type: String, payload: Bytes },
    /// Still running at the function's timeout; the process was killed.
    TimedOut { request_id: String, timeout: Duration },
    /// The process exited before answering.
    Exited { request_id: String, status: String },
    /// A new process did not ask for work within the init timeout.
    InitTimedOut { request_id: String, timeout: Duration },
    /// The response was larger than Lambda allows.
    ResponseTooLarge { request_id: String },
    /// The event was larger than Lambda allows.
    RequestTooLarge { bytes: usize },
    /// The process could not be started.
    Spawn(String),
    /// The emulator is shutting down.
    Stopped,
}

impl InvokeError {
    /// `errorType` of the payload Lambda returns.
    pub fn error_type(&self) -> &str {
        match self {
            InvokeError::Function { error_type, .. } => error_type,
            InvokeError::TimedOut { .. } => "Sandbox.Timedout",
            InvokeError::Exited { .. } => "Runtime.ExitError",
            InvokeError::InitTimedOut { .. } => "Runtime.Unknown",
            InvokeError::ResponseTooLarge { .. } => "Function.ResponseSizeTooLarge",
            InvokeError::RequestTooLarge { .. } => "RequestTooLargeException",
            InvokeError::Spawn(_) | InvokeError::Stopped => "ServiceException",
        }
    }

    /// The error payload: the function's own, or one shaped like Lambda's.
    pub fn payload(&self) -> Bytes {
        if let InvokeError::Function { payload, .. } = self
            && !payload.is_empty()
        {
            return payload.clone();
        }
        Bytes::from(serde_json::json!({"errorType": self.error_type(), "errorMessage": self.to_string()}).to_string())
    }
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Function { request_id, error_type, payload } => {
                let message = serde_json::from_slice::<serde_json::Value>(payload)
                    .ok()
                    .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_string))
                    .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned());
                write!(f, "RequestId: {request_id} {error_type}: {message}")
            }
            InvokeError::TimedOut { request_id, timeout } => {
                write!(f, "RequestId: {request_id} Task timed out after {:.2} seconds", timeout.as_secs_f64())
            }
            InvokeError::Exited { request_id, status } => {
                write!(f, "RequestId: {request_id} Error: Runtime exited with error: {status}")
            }
            InvokeError::InitTimedOut { request_id, timeout } => write!(
                f,
                "RequestId: {request_id} the runtime did not ask for an invocation within {:.0} s of starting",
                timeout.as_secs_f64()
            ),
            InvokeError::ResponseTooLarge { request_id } => write!(
                f,
                "RequestId: {request_id} Response payload size exceeded maximum allowed payload size \
                 ({MAX_PAYLOAD_BYTES} bytes)."
            ),
            InvokeError::RequestTooLarge { bytes } => {
                write!(f, "{bytes} byte payload: must be smaller than {MAX_PAYLOAD_BYTES} bytes")
            }
            InvokeError::Spawn(reason) => write!(f, "cannot start the function: {reason}"),
            InvokeError::Stopped => write!(f, "the local Lambda emulator is stopping"),
        }
    }
}

impl std::error::Error for InvokeError {}

/// What one environment is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentState {
    /// No process: the next invocation starts one.
    #[default]
    Cold,
    /// A process waits for work.
    Idle,
    /// A process was handed an invocation and has not taken it yet (a new
    /// one is still starting).
    Initializing,
    /// A process is running an invocation.
    Running,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentStatus {
    pub pid: Option<u32>,
    pub state: EnvironmentState,
}

/// Counters and environments of one function, for `/_inlet/status`, tests
/// and measurements.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionStatus {
    pub name: String,
    pub environments: Vec<EnvironmentStatus>,
    /// Processes started.
    pub starts: u64,
    pub invocations: u64,
    pub succeeded: u64,
    /// Invocations the function itself answered with an error.
    pub function_errors: u64,
    /// Invocations killed at the function's timeout.
    pub timeouts: u64,
    /// Processes that exited without being told to, idle or mid-invocation.
    pub crashes: u64,
}

impl FunctionStatus {
    pub fn pids(&self) -> Vec<u32> {
        self.environments.iter().filter_map(|e| e.pid).collect()
    }

    pub fn running(&self) -> usize {
        self.environments.iter().filter(|e| e.state == EnvironmentState::Running).count()
    }
}

struct Pending {
    payload: Bytes,
    reply: oneshot::Sender<Result<Invoked, InvokeError>>,
}

struct Shared {
    config: FunctionConfig,
    status: Mutex<FunctionStatus>,
    stop: watch::Sender<bool>,
}

impl Shared {
    fn update(&self, change: impl FnOnce(&mut FunctionStatus)) {
        if let Ok(mut status) = self.status.lock() {
            change(&mut status);
        }
    }

    fn set_environment(&self, index: usize, pid: Option<u32>, state: EnvironmentState) {
        self.update(|status| {
            if status.environments.len() <= index {
                status.environments.resize(index + 1, EnvironmentStatus::default());
            }
            status.environments[index] = EnvironmentStatus { pid, state };
        });
    }
}

/// A running function: invoke it, read its status, shut it down. Cloning
/// gives another handle to the same function.
#[derive(Clone)]
pub struct Function {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Pending>,
    dispatcher: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Function {
    /// Starts serving `config`. No process runs until the first invoke.
    pub fn start(config: FunctionConfig) -> Function {
        let (stop, _) = watch::channel(false);
        let status = FunctionStatus { name: config.name.clone(), ..FunctionStatus::default() };
        let shared = Arc::new(Shared { config, status: Mutex::new(status), stop });
        let (queue, invocations) = mpsc::channel(1024);
        let dispatcher = tokio::spawn(dispatch(shared.clone(), invocations));
        Function { shared, queue, dispatcher: Arc::new(Mutex::new(Some(dispatcher))) }
    }

    pub fn config(&self) -> &FunctionConfig {
        &self.shared.config
    }

    pub fn status(&self) -> FunctionStatus {
        self.shared.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Invokes synchronously (Lambda's `RequestResponse`).
    pub async fn invoke(&self, payload: Bytes) -> Result<Invoked, InvokeError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(InvokeError::RequestTooLarge { bytes: payload.len() });
        }
        let (reply, answer) = oneshot::channel();
        self.queue.send(Pending { payload, reply }).await.map_err(|_| InvokeError::Stopped)?;
        answer.await.unwrap_or(Err(InvokeError::Stopped))
    }

    /// Kills every process of this function and waits until they are gone.
    pub async fn shutdown(&self) {
        let _ = self.shared.stop.send(true);
        let dispatcher = self.dispatcher.lock().ok().and_then(|mut d| d.take());
        if let Some(dispatcher) = dispatcher {
            let _ = dispatcher.await;
        }
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Hands each invocation to an idle environment (the most recently used
/// first, as it is the warmest), starting another while under the
/// concurrency limit, else waiting for one to be free.
async fn dispatch(shared: Arc<Shared>, mut invocations: mpsc::Receiver<Pending>) {
    let mut stop = shared.stop.subscribe();
    let (idle_sender, mut idle_receiver) = mpsc::unbounded_channel::<usize>();
    let mut environments: Vec<(mpsc::Sender<Pending>, JoinHandle<()>)> = Vec::new();
    let mut idle: Vec<usize> = Vec::new();
    'serving: loop {
        let pending = tokio::select! {
            pending = invocations.recv() => match pending {
                Some(pending) => pending,
                None => break 'serving,
            },
            _ = stopped(&mut stop) => break 'serving,
        };
        let index = loop {
            while let Ok(index) = idle_receiver.try_recv() {
                idle.push(index);
            }
            if let Some(index) = idle.pop() {
                break index;
            }
            if environments.len() < shared.config.concurrency.max(1) {
                let index = environments.len();
                let (work, work_receiver) = mpsc::channel(1);
                shared.set_environment(index, None, EnvironmentState::Cold);
                let task = tokio::spawn(environment(shared.clone(), index, work_receiver, idle_sender.clone()));
                environments.push((work, task));
                break index;
            }
            tokio::select! {
                freed = idle_receiver.recv() => if let Some(index) = freed { idle.push(index) },
                _ = stopped(&mut stop) => {
                    let _ = pending.reply.send(Err(InvokeError::Stopped));
                    break 'serving;
                }
            }
        };
        if let Err(refused) = environments[index].0.send(pending).await {
            let _ = refused.0.reply.send(Err(InvokeError::Stopped));
        }
    }
    let _ = shared.stop.send(true);
    invocations.close();
    while let Some(pending) = invocations.recv().await {
        let _ = pending.reply.send(Err(InvokeError::Stopped));
    }
    for (work, task) in environments {
        drop(work);
        let _ = task.await;
    }
}

/// One execution environment: at most one process, one invocation at a time.
async fn environment(
    shared: Arc<Shared>,
    index: usize,
    mut work: mpsc::Receiver<Pending>,
    idle: mpsc::UnboundedSender<usize>,
) {
    let mut stop = shared.stop.subscribe();
    let mut sandbox: Option<Sandbox> = None;
    loop {
        let pending = tokio::select! {
            pending = work.recv() => match pending {
                Some(pending) => pending,
                None => break,
            },
            status = exited(&mut sandbox) => {
                eprintln!("lambda: {} process exited while idle ({status}); the next invoke starts it again",
                    shared.config.name);
                sandbox = None;
                shared.update(|s| s.crashes += 1);
                shared.set_environment(index, None, EnvironmentState::Cold);
                continue;
            }
            _ = stopped(&mut stop) => break,
        };
        let result = tokio::select! {
            result = run_invocation(&shared, index, &mut sandbox, pending.payload) => result,
            _ = stopped(&mut stop) => Err(InvokeError::Stopped),
        };
        shared.update(|s| match &result {
            Ok(_) => s.succeeded += 1,
            Err(InvokeError::Function { .. }) => s.function_errors += 1,
            Err(InvokeError::TimedOut { .. }) => s.timeouts += 1,
            Err(_) => {}
        });
        let pid = sandbox.as_ref().and_then(|s| s.child.id());
        let state = if sandbox.is_some() { EnvironmentState::Idle } else { EnvironmentState::Cold };
        shared.set_environment(index, pid, state);
        let _ = pending.reply.send(result);
        let _ = idle.send(index);
    }
    if let Some(mut sandbox) = sandbox.take() {
        crate::process::stop_group(&mut sandbox.child, Duration::from_secs(2)).await;
    }
    shared.set_environment(index, None, EnvironmentState::Cold);
}

async fn exited(sandbox: &mut Option<Sandbox>) -> String {
    match sandbox {
        Some(sandbox) => match sandbox.child.wait().await {
            Ok(status) => exit_description(status),
            Err(e) => e.to_string(),
        },
        None => std::future::pending().await,
    }
}

/// Like Lambda's "signal: killed" / "exit status 101".
fn exit_description(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(libc::SIGKILL)) => "signal: killed".into(),
        (None, Some(signal)) => format!("signal: {signal}"),
        (None, None) => status.to_string(),
    }
}

async fn run_invocation(
    shared: &Shared,
    index: usize,
    sandbox: &mut Option<Sandbox>,
    payload: Bytes,
) -> Result<Invoked, InvokeError> {
    let config = &shared.config;
    let request_id = new_request_id();
    shared.update(|s| s.invocations += 1);
    if let Some(running) = sandbox.as_mut()
        && let Ok(Some(status)) = running.child.try_wait()
    {
        eprintln!("lambda: {} process had exited ({}); starting it again", config.name, exit_description(status));
        shared.update(|s| s.crashes += 1);
        *sandbox = None;
    }
    let started = Instant::now();
    let cold = sandbox.is_none();
    if cold {
        let spawned = Sandbox::spawn(config, index).await.map_err(InvokeError::Spawn)?;
        shared.update(|s| s.starts += 1);
        *sandbox = Some(spawned);
    }
    let Some(running) = sandbox.as_mut() else { return Err(InvokeError::Stopped) };
    let pid = running.child.id();
    shared.set_environment(index, pid, EnvironmentState::Initializing);
    if running.offers.send(Offer { request_id: request_id.clone(), payload }).await.is_err() {
        *sandbox = None;
        return Err(InvokeError::Stopped);
    }

    // Until the process takes the event: a new one has the init timeout, a
    // warm one should be waiting already and gets the function's timeout.
    let pickup_limit = if cold { config.init_timeout } else { config.timeout };
    let pickup_by = tokio::time::Instant::now() + pickup_limit;
    let timed_out = if cold {
        InvokeError::InitTimedOut { request_id: request_id.clone(), timeout: pickup_limit }
    } else {
        InvokeError::TimedOut { request_id: request_id.clone(), timeout: config.timeout }
    };
    let deadline = wait_for(shared, sandbox, &request_id, pickup_by, timed_out, |event| match event {
        RuntimeEvent::Next { request_id: id, deadline } if id == request_id => Step::Done(deadline),
        RuntimeEvent::InitError { error_type, payload } => {
            Step::Broken(InvokeError::Function { request_id: request_id.clone(), error_type, payload })
        }
        _ => Step::Wait,
    })
    .await?;
    let init = cold.then(|| started.elapsed());
    shared.set_environment(index, pid, EnvironmentState::Running);
    let handed_over = Instant::now();

    let until = tokio::time::Instant::from_std(deadline);
    let timed_out = InvokeError::TimedOut { request_id: request_id.clone(), timeout: config.timeout };
    wait_for(shared, sandbox, &request_id, until, timed_out, |event| match event {
        RuntimeEvent::Response { request_id: id, payload } if id == request_id => {
            Step::Done(Invoked { request_id: id, payload, init, duration: handed_over.elapsed() })
        }
        RuntimeEvent::Error { request_id: id, error_type, payload } if id == request_id => {
            Step::Failed(InvokeError::Function { request_id: id, error_type, payload })
        }
        RuntimeEvent::ResponseTooLarge { request_id: id } if id == request_id => {
            Step::Failed(InvokeError::ResponseTooLarge { request_id: id })
        }
        _ => Step::Wait,
    })
    .await
}

/// What an event from the function's runtime means to a wait.
enum Step<T> {
    Wait,
    Done(T),
    Failed(InvokeError),
    /// The process is unusable: it is killed before the error is returned.
    Broken(InvokeError),
}

/// Waits for the event `judge` accepts, until `until` (then `timed_out`,
/// after killing the process); the process exiting or the runtime closing
/// ends the wait too.
async fn wait_for<T>(
    shared: &Shared,
    sandbox: &mut Option<Sandbox>,
    request_id: &str,
    until: tokio::time::Instant,
    timed_out: InvokeError,
    mut judge: impl FnMut(RuntimeEvent) -> Step<T>,
) -> Result<T, InvokeError> {
    loop {
        let Some(running) = sandbox.as_mut() else { return Err(InvokeError::Stopped) };
        tokio::select! {
            event = running.events.recv() => match event.map(&mut judge) {
                Some(Step::Wait) => continue,
                Some(Step::Done(value)) => return Ok(value),
                Some(Step::Failed(error)) => return Err(error),
                Some(Step::Broken(error)) => {
                    kill(sandbox).await;
                    return Err(error);
                }
                None => {
                    kill(sandbox).await;
                    return Err(InvokeError::Stopped);
                }
            },
            status = running.child.wait() => {
                let status = status.map(exit_description).unwrap_or_else(|e| e.to_string());
                shared.update(|s| s.crashes += 1);
                *sandbox = None;
                return Err(InvokeError::Exited { request_id: request_id.to_string(), status });
            }
            _ = tokio::time::sleep_until(until) => {
                kill(sandbox).await;
                return Err(timed_out);
            }
        }
    }
}

async fn kill(sandbox: &mut Option<Sandbox>) {
    if let Some(mut running) = sandbox.take() {
        crate::process::kill_group(&mut running.child).await;
    }
}

struct Offer {
    request_id: String,
    payload: Bytes,
}

/// What the Runtime API heard from the process.
#[derive(Debug)]
enum RuntimeEvent {
    Next { request_id: String, deadline: Instant },
    Response { request_id: String, payload: Bytes },
    Error { request_id: String, error_type: String, payload: Bytes },
    ResponseTooLarge { request_id: String },
    InitError { error_type: String, payload: Bytes },
}

/// A process and the Runtime API endpoint only it talks to.
struct Sandbox {
    child: Child,
    offers: mpsc::Sender<Offer>,
    events: mpsc::UnboundedReceiver<RuntimeEvent>,
    server: JoinHandle<()>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(pid) = self.child.id() {
            crate::process::signal_group(pid, libc::SIGKILL);
        }
    }
}

impl Sandbox {
    async fn spawn(config: &FunctionConfig, index: usize) -> Result<Sandbox, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| format!("runtime API: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let (offers, offer_receiver) = mpsc::channel(1);
        let (event_sender, events) = mpsc::unbounded_channel();
        let state = Arc::new(RuntimeState {
            function_arn: config.arn(),
            timeout: config.timeout,
            offers: tokio::sync::Mutex::new(offer_receiver),
            events: event_sender,
            current: Mutex::new(None),
        });
        let server = tokio::spawn(httpd::serve(listener, move |request, _peer: SocketAddr| {
            let state = state.clone();
            async move { state.handle(request).await }
        }));

        let mut command = Command::new(&config.program);
        command
            .args(&config.args)
            .env_clear()
            .envs(lambda_environment(config, index))
            .envs(&config.env)
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .stdin(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(log) = &config.log {
            let file = crate::local::open_private_append(log)?;
            command.stdout(file.try_clone().map_err(|e| e.to_string())?).stderr(file);
        }
        let child = command.spawn().map_err(|e| {
            server.abort();
            format!("{}: {e}", config.program.display())
        })?;
        Ok(Sandbox { child, offers, events, server })
    }
}

/// The variables Lambda sets for a `provided.al2023` function.
fn lambda_environment(config: &FunctionConfig, index: usize) -> Vec<(String, String)> {
    let today = time::OffsetDateTime::now_utc().date();
    let stream = format!(
        "{:04}/{:02}/{:02}/[$LATEST]{:016x}{index:016x}",
        today.year(),
        u8::from(today.month()),
        today.day(),
        random_u64()
    );
    let task_root = config.program.parent().map(|p| p.display().to_string()).unwrap_or_default();
    [
        ("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())),
        ("LANG", "en_US.UTF-8".into()),
        ("TZ", ":UTC".into()),
        ("_HANDLER", "bootstrap".into()),
        ("LAMBDA_TASK_ROOT", task_root.clone()),
        ("LAMBDA_RUNTIME_DIR", task_root),
        ("AWS_REGION", REGION.into()),
        ("AWS_DEFAULT_REGION", REGION.into()),
        ("AWS_LAMBDA_FUNCTION_NAME", config.name.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", config.memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", config.name)),
        ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

struct RuntimeState {
    function_arn: String,
    timeout: Duration,
    offers: tokio::sync::Mutex<mpsc::Receiver<Offer>>,
    events: mpsc::UnboundedSender<RuntimeEvent>,
    /// The invocation handed out and not answered yet.
    current: Mutex<Option<String>>,
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> HttpResponse {
    httpd::json(status, &serde_json::json!({"errorType": error_type, "errorMessage": message}))
}

fn accepted() -> HttpResponse {
    httpd::json(StatusCode::ACCEPTED, &serde_json::json!({"status": "OK"}))
}

impl RuntimeState {
    async fn handle(&self, request: Request<Incoming>) -> HttpResponse {
        let path = request.uri().path().to_string();
        let Some(route) = path.strip_prefix(RUNTIME_PREFIX) else {
            return runtime_error(StatusCode::NOT_FOUND, "NotFound", "unknown Runtime API path");
        };
        let method = request.method().clone();
        match (method, route.split('/').collect::<Vec<_>>().as_slice()) {
            (Method::GET, ["invocation", "next"]) => self.next().await,
            (Method::POST, ["init", "error"]) => {
                let error_type = error_type_header(&request);
                let payload = httpd::read_body(request.into_body(), MAX_PAYLOAD_BYTES).await.unwrap_or_default();
                let _ = self.events.send(RuntimeEvent::InitError { error_type, payload });
                accepted()
            }
            (Method::POST, ["invocation", request_id, action @ ("response" | "error")]) => {
                let request_id = request_id.to_string();
                let is_response = *action == "response";
                self.answer(request, request_id, is_response).await
            }
            _ => runtime_error(StatusCode::NOT_FOUND, "NotFound", "unknown Runtime API path"),
        }
    }

    async fn next(&self) -> HttpResponse {
        let Some(offer) = self.offers.lock().await.recv().await else {
            return runtime_error(StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", "the environment is stopping");
        };
        let deadline = Instant::now() + self.timeout;
        let deadline_ms = SystemTime::now()
            .checked_add(self.timeout)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis())
            .unwrap_or_default();
        if let Ok(mut current) = self.current.lock() {
            *current = Some(offer.request_id.clone());
        }
        let _ = self.events.send(RuntimeEvent::Next { request_id: offer.request_id.clone(), deadline });
        let mut response = httpd::respond(StatusCode::OK, "application/json", offer.payload);
        let headers = response.headers_mut();
        for (name, value) in [
            ("lambda-runtime-aws-request-id", offer.request_id),
            ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
            ("lambda-runtime-invoked-function-arn", self.function_arn.clone()),
            ("lambda-runtime-trace-id", new_trace_id()),
        ] {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }

    async fn answer(&self, request: Request<Incoming>, request_id: String, is_response: bool) -> HttpResponse {
        let is_current = self.current.lock().map(|c| c.as_deref() == Some(request_id.as_str())).unwrap_or(false);
        if !is_current {
            return runtime_error(StatusCode::BAD_REQUEST, "InvalidRequestID", "no such invocation is in progress");
        }
        let error_type = error_type_header(&request);
        let body = httpd::read_body(request.into_body(), MAX_PAYLOAD_BYTES).await;
        if let Ok(mut current) = self.current.lock() {
            *current = None;
        }
        match (body, is_response) {
            (Ok(payload), true) => {
                let _ = self.events.send(RuntimeEvent::Response { request_id, payload });
                accepted()
            }
            (Ok(payload), false) => {
                let _ = self.events.send(RuntimeEvent::Error { request_id, error_type, payload });
                accepted()
            }
            (Err(BodyError::TooLarge), _) => {
                let _ = self.events.send(RuntimeEvent::ResponseTooLarge { request_id });
                runtime_error(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", "payload exceeds 6 MB")
            }
            (Err(BodyError::Broken(reason)), _) => {
                let payload = Bytes::from(
                    serde_json::json!({"errorType": "Runtime.ResponseError", "errorMessage": reason}).to_string(),
                );
                let _ = self.events.send(RuntimeEvent::Error {
                    request_id,
                    error_type: "Runtime.ResponseError".into(),
                    payload,
                });
                runtime_error(StatusCode::BAD_REQUEST, "InvalidRequest", "the body could not be read")
            }
        }
    }
}

fn error_type_header(request: &Request<Incoming>) -> String {
    request
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("Unhandled")
        .to_string()
}

/// A UUID-shaped request id, as Lambda's.
pub fn new_request_id() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

fn new_trace_id() -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let (a, b, c) = (random_u64(), random_u64(), random_u64());
    format!("Root=1-{:08x}-{:016x}{:08x};Parent={:016x};Sampled=0", seconds as u32, a, b as u32, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const FAKE_FUNCTION: &str = "INLET_FAKE_FUNCTION";

    /// Not a test by itself: the emulator tests start this test binary as
    /// their function, with INLET_FAKE_FUNCTION set, and this entry then
    /// serves invocations through the real Rust runtime client
    /// (lambda_runtime), or through raw HTTP for the wire-level test.
    #[test]
    fn fake_function_entry() {
        let Ok(mode) = std::env::var(FAKE_FUNCTION) else { return };
        match mode.as_str() {
            "raw" => raw_runtime_client(),
            "init-hang" => std::thread::sleep(Duration::from_secs(300)),
            "init-error" => {
                let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap();
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                agent
                    .post(format!("http://{api}/2018-06-01/runtime/init/error"))
                    .header("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
                    .send(r#"{"errorMessage":"INLET_TABLE_NAME is required","errorType":"Runtime.ConfigError"}"#)
                    .unwrap();
                std::thread::sleep(Duration::from_secs(300));
            }
            _ => {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let served = runtime.block_on(lambda_runtime::run(lambda_runtime::service_fn(fake_handler)));
                eprintln!("runtime ended: {served:?}");
            }
        }
        std::process::exit(0);
    }

    async fn fake_handler(event: lambda_runtime::LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        let (payload, context) = event.into_parts();
        match payload["action"].as_str().unwrap_or("echo") {
            "fail" => Err("told to fail".into()),
            "exit" => std::process::exit(7),
            "hang" => {
                tokio::time::sleep(Duration::from_secs(300)).await;
                Ok(Value::Null)
            }
            "big" => Ok(json!("x".repeat(MAX_PAYLOAD_BYTES + 10))),
            "sleep" => {
                tokio::time::sleep(Duration::from_millis(payload["ms"].as_u64().unwrap_or(0))).await;
                Ok(json!({"pid": std::process::id()}))
            }
            _ => Ok(json!({
                "payload": payload,
                "request_id": context.request_id,
                "deadline": context.deadline,
                "arn": context.invoked_function_arn,
                "trace": context.xray_trace_id,
                "function_name": context.env_config.function_name,
                "memory": context.env_config.memory,
                "setting": std::env::var("SOME_SETTING").ok(),
                "pid": std::process::id(),
            })),
        }
    }

    /// Speaks the Runtime API by hand and reports what it saw, so the test
    /// can check the wire protocol itself.
    fn raw_runtime_client() {
        let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap();
        let base = format!("http://{api}/2018-06-01/runtime");
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        loop {
            let mut next = agent.get(format!("{base}/invocation/next")).call().unwrap();
            let header = |name: &str| next.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let request_id = header("Lambda-Runtime-Aws-Request-Id").unwrap_or_default();
            let seen = json!({
                "status": next.status().as_u16(),
                "request_id": request_id,
                "deadline_ms": header("Lambda-Runtime-Deadline-Ms"),
                "arn": header("Lambda-Runtime-Invoked-Function-Arn"),
                "trace": header("Lambda-Runtime-Trace-Id"),
                "event": next.body_mut().read_to_string().unwrap(),
                "wrong_id_answer": agent
                    .post(format!("{base}/invocation/not-{request_id}/response"))
                    .send("{}")
                    .unwrap()
                    .status()
                    .as_u16(),
                "unknown_path_answer": agent.get(format!("{base}/nothing")).call().unwrap().status().as_u16(),
            });
            let answered =
                agent.post(format!("{base}/invocation/{request_id}/response")).send(seen.to_string()).unwrap();
            assert_eq!(answered.status().as_u16(), 202);
            let again = agent.post(format!("{base}/invocation/{request_id}/response")).send("{}").unwrap();
            assert_eq!(again.status().as_u16(), 400, "an invocation is answered once");
        }
    }

    fn fake(mode: &str) -> FunctionConfig {
        let mut config = FunctionConfig::new("fake", std::env::current_exe().unwrap());
        config.args = ["--exact", "runtime_api::tests::fake_function_entry", "--nocapture", "--test-threads=1"]
            .map(String::from)
            .to_vec();
        config.env.insert(FAKE_FUNCTION.into(), mode.into());
        config.env.insert("SOME_SETTING".into(), "from the function's configuration".into());
        config.timeout = Duration::from_secs(5);
        config.memory_mb = 256;
        config.log = Some(PathBuf::from("/dev/null"));
        config
    }

    async fn invoke(function: &Function, payload: Value) -> Result<(Invoked, Value), InvokeError> {
        let invoked = function.invoke(Bytes::from(payload.to_string())).await?;
        let answer = serde_json::from_slice(&invoked.payload).unwrap();
        Ok((invoked, answer))
    }

    fn now_ms() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
    }

    fn alive(pid: u64) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
    }

    #[tokio::test]
    async fn the_runtime_client_gets_lambdas_headers_and_environment_and_stays_warm() {
        let function = Function::start(fake("echo"));
        let before = now_ms();
        let (first, answer) = invoke(&function, json!({"hello": "world"})).await.unwrap();
        assert_eq!(answer["payload"], json!({"hello": "world"}));
        assert_eq!(answer["request_id"], first.request_id.as_str());
        let deadline = answer["deadline"].as_u64().unwrap();
        assert!(deadline >= before + 4_000 && deadline <= now_ms() + 5_000, "deadline is the timeout away");
        assert_eq!(answer["arn"], "arn:aws:lambda:us-east-1:123456789012:function:fake");
        assert!(answer["trace"].as_str().unwrap().starts_with("Root=1-"));
        assert_eq!(answer["function_name"], "fake");
        assert_eq!(answer["memory"], 256);
        assert_eq!(answer["setting"], "from the function's configuration");
        assert!(first.init.is_some(), "the first invoke starts the process");

        let (second, again) = invoke(&function, json!({})).await.unwrap();
        assert!(second.init.is_none(), "the second is warm");
        assert_ne!(second.request_id, first.request_id);
        assert_eq!(again["pid"], answer["pid"], "same process");
        let status = function.status();
        assert_eq!((status.starts, status.invocations, status.succeeded), (1, 2, 2));
        function.shutdown().await;
        assert!(!alive(answer["pid"].as_u64().unwrap()), "shutdown ends the process");
        assert_eq!(function.invoke(Bytes::from_static(b"{}")).await.unwrap_err(), InvokeError::Stopped);
    }

    #[tokio::test]
    async fn the_wire_protocol_matches_the_runtime_api() {
        let function = Function::start(fake("raw"));
        let (invoked, seen) = invoke(&function, json!({"n": 1})).await.unwrap();
        assert_eq!(seen["status"], 200);
        assert_eq!(seen["request_id"], invoked.request_id.as_str());
        let deadline: u64 = seen["deadline_ms"].as_str().unwrap().parse().unwrap();
        assert!(deadline.abs_diff(now_ms() + 5_000) < 2_000);
        assert_eq!(seen["arn"], "arn:aws:lambda:us-east-1:123456789012:function:fake");
        assert!(seen["trace"].as_str().unwrap().contains(";Parent="));
        assert_eq!(seen["event"], r#"{"n":1}"#);
        assert_eq!(seen["wrong_id_answer"], 400, "an answer for another invocation is refused");
        assert_eq!(seen["unknown_path_answer"], 404);
        // The raw client checked that a second answer is refused, and keeps serving.
        let (_, seen) = invoke(&function, json!({"n": 2})).await.unwrap();
        assert_eq!(seen["event"], r#"{"n":2}"#);
        function.shutdown().await;
    }

    #[tokio::test]
    async fn a_function_error_fails_the_invocation_and_keeps_the_process() {
        let function = Function::start(fake("echo"));
        let (_, answer) = invoke(&function, json!({})).await.unwrap();
        let error = invoke(&function, json!({"action": "fail"})).await.unwrap_err();
        let InvokeError::Function { payload, .. } = &error else { panic!("{error:?}") };
        assert!(String::from_utf8_lossy(payload).contains("told to fail"));
        let (_, after) = invoke(&function, json!({})).await.unwrap();
        assert_eq!(after["pid"], answer["pid"]);
        assert_eq!(function.status().function_errors, 1);
        function.shutdown().await;
    }

    #[tokio::test]
    async fn a_process_that_exits_mid_invocation_fails_it_and_the_next_invoke_starts_another() {
        let function = Function::start(fake("echo"));
        let (_, answer) = invoke(&function, json!({})).await.unwrap();
        let error = invoke(&function, json!({"action": "exit"})).await.unwrap_err();
        assert_eq!(error.error_type(), "Runtime.ExitError");
        assert!(error.to_string().contains("exit status 7"), "{error}");
        let (restarted, after) = invoke(&function, json!({})).await.unwrap();
        assert!(restarted.init.is_some());
        assert_ne!(after["pid"], answer["pid"]);
        let status = function.status();
        assert_eq!((status.starts, status.crashes), (2, 1));
        function.shutdown().await;
    }

    #[tokio::test]
    async fn a_process_killed_while_idle_is_started_again_on_the_next_invoke() {
        let function = Function::start(fake("echo"));
        let (_, answer) = invoke(&function, json!({})).await.unwrap();
        let pid = answer["pid"].as_u64().unwrap();
        crate::process::signal_process(pid as u32, libc::SIGKILL).unwrap();
        for _ in 0..100 {
            if function.status().environments[0].state == EnvironmentState::Cold {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (restarted, after) = invoke(&function, json!({})).await.unwrap();
        assert!(restarted.init.is_some(), "a new process");
        assert_ne!(after["pid"].as_u64(), Some(pid));
        assert_eq!(function.status().crashes, 1);
        function.shutdown().await;
    }

    #[tokio::test]
    async fn an_invocation_past_the_timeout_is_killed_and_the_next_starts_fresh() {
        let mut config = fake("echo");
        config.timeout = Duration::from_millis(800);
        let function = Function::start(config);
        let (_, answer) = invoke(&function, json!({})).await.unwrap();
        let started = Instant::now();
        let error = invoke(&function, json!({"action": "hang"})).await.unwrap_err();
        let waited = started.elapsed();
        assert!(matches!(error, InvokeError::TimedOut { .. }), "{error:?}");
        assert!(error.to_string().contains("Task timed out after 0.80 seconds"), "{error}");
        assert!(waited >= Duration::from_millis(750) && waited < Duration::from_secs(3), "{waited:?}");
        assert!(!alive(answer["pid"].as_u64().unwrap()), "the hung process was killed");
        let (_, after) = invoke(&function, json!({})).await.unwrap();
        assert_ne!(after["pid"], answer["pid"]);
        assert_eq!(function.status().timeouts, 1);
        function.shutdown().await;
    }

    #[tokio::test]
    async fn a_process_that_never_asks_for_work_fails_at_the_init_timeout() {
        let mut config = fake("init-hang");
        config.init_timeout = Duration::from_millis(600);
        let function = Function::start(config);
        let started = Instant::now();
        let error = function.invoke(Bytes::from_static(b"{}")).await.unwrap_err();
        assert!(matches!(error, InvokeError::InitTimedOut { .. }), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(function.status().pids().is_empty(), "the process was killed");
        function.shutdown().await;
    }

    #[tokio::test]
    async fn an_init_error_fails_the_invocation_with_the_functions_report() {
        let function = Function::start(fake("init-error"));
        let error = function.invoke(Bytes::from_static(b"{}")).await.unwrap_err();
        assert_eq!(error.error_type(), "Runtime.ConfigError");
        assert!(error.to_string().contains("INLET_TABLE_NAME is required"), "{error}");
        assert!(function.status().pids().is_empty());
        function.shutdown().await;
    }

    #[tokio::test]
    async fn payloads_over_six_megabytes_are_refused_both_ways() {
        let function = Function::start(fake("echo"));
        let too_big = Bytes::from(vec![b' '; MAX_PAYLOAD_BYTES + 1]);
        assert!(matches!(function.invoke(too_big).await, Err(InvokeError::RequestTooLarge { .. })));
        let error = invoke(&function, json!({"action": "big"})).await.unwrap_err();
        assert!(matches!(error, InvokeError::ResponseTooLarge { .. }), "{error:?}");
        function.shutdown().await;
    }

    #[tokio::test]
    async fn concurrent_invokes_run_in_separate_environments_up_to_the_limit() {
        let mut config = fake("echo");
        config.concurrency = 2;
        let function = Function::start(config);
        let started = Instant::now();
        let calls = (0..3).map(|_| invoke(&function, json!({"action": "sleep", "ms": 400})));
        let answers = futures::future::join_all(calls).await;
        let pids: BTreeSet<u64> = answers.iter().map(|a| a.as_ref().unwrap().1["pid"].as_u64().unwrap()).collect();
        assert_eq!(pids.len(), 2, "two environments, no more");
        assert!(started.elapsed() >= Duration::from_millis(800), "the third waited for a free one");
        assert_eq!(function.status().starts, 2);
        function.shutdown().await;
    }

    use std::collections::BTreeSet;
}
