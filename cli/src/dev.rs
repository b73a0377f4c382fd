//! `inlet dev`: the whole project on one machine with no AWS account.
//!
//! Starts moto's server and builds the functions, creates the event queue,
//! the reply queue, their DLQs, the table and the `inlet` EventBridge bus on
//! moto (a FIFO event queue with `INLET_ORDERING=per-conversation`), runs
//! every function in the local Lambda emulator ([`crate::runtime_api`])
//! behind an API Gateway at template.yaml's paths ([`crate::api`]), warms
//! each one so the first real request is answered at once, pumps the event
//! queue into the processor and the reply queue into the reply function,
//! prints one line when ready, and on Ctrl-C, SIGTERM or SIGHUP — at any
//! moment, start-up included — stops everything it started.
//!
//! Each stack keeps its files in its own directory, `.dev/stack-<API_PORT>/`,
//! readable by the user only: two stacks on different ports share nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inlet_shared::config::load_env_file_with_overrides;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::api::{Api, HttpCall};
use crate::error::CliError;
use crate::local::{
    LOCAL_BUS, LocalResources, QueueShape, create_bus, create_private_dir, create_resources, open_private_append,
    write_private_file,
};
use crate::process::{port_in_use, stop_group};
use crate::progress::Progress;
use crate::pump::{FunctionInvoker, Invoker, pump_once, queue_arn};
use crate::runtime_api::{Function, FunctionConfig, FunctionStatus};

pub const ENV_FILE_NAME: &str = "functions.env";
pub const PROCESSOR: &str = "processor";
/// The reply function (functions/replier), fed by the reply queue.
pub const REPLIER: &str = "replier";

/// Run the local stack (moto, every function, the queue pumps)
///
/// moto's server, every function in the local Lambda emulator behind an API
/// Gateway at template.yaml's paths, the queue pumps. Prints "inlet ready …"
/// when it serves; Ctrl-C stops everything it started.
///
/// MOTO_PORT (5000) and API_PORT (9000) choose the ports, INLET_ENV_FILE the
/// settings, INLET_ORDERING=per-conversation FIFO queues.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct DevArgs {}

pub struct DevOptions {
    pub root: PathBuf,
    pub moto_port: u16,
    pub api_port: u16,
    pub env_file: PathBuf,
    pub venv_bin: PathBuf,
}

impl DevOptions {
    pub fn from_env(root: PathBuf) -> Result<Self, CliError> {
        Ok(DevOptions {
            moto_port: crate::settings::port("MOTO_PORT", 5000)?,
            api_port: crate::settings::port("API_PORT", 9000)?,
            env_file: std::env::var("INLET_ENV_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|_| root.join("events/env.json")),
            venv_bin: std::env::var("INLET_VENV_BIN").map(PathBuf::from).unwrap_or_else(|_| root.join(".venv/bin")),
            root,
        })
    }

    pub fn state_dir(&self) -> PathBuf {
        state_dir(&self.root, self.api_port)
    }
}

/// Where the stack serving `api_port` keeps its files. Only one stack can
/// listen on a port, so no two running stacks share it.
pub fn state_dir(root: &Path, api_port: u16) -> PathBuf {
    root.join(".dev").join(format!("stack-{api_port}"))
}

/// SIGINT, SIGTERM or SIGHUP, listened for from the very start so that no
/// signal finds the default action (which would leave children running).
pub struct Shutdown {
    requested: watch::Receiver<bool>,
}

impl Shutdown {
    pub fn listen() -> Result<Shutdown, String> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut hangup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
        let (sender, requested) = watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
                _ = hangup.recv() => {}
            }
            let _ = sender.send(true);
        });
        Ok(Shutdown { requested })
    }

    pub async fn requested(&mut self) {
        let _ = self.requested.wait_for(|requested| *requested).await;
    }
}

/// Why the stack stopped early.
enum Stop {
    Interrupted,
    Failed(CliError),
}

impl From<CliError> for Stop {
    fn from(error: CliError) -> Self {
        Stop::Failed(error)
    }
}

impl From<String> for Stop {
    fn from(reason: String) -> Self {
        Stop::Failed(CliError::Failed(reason))
    }
}

impl From<&str> for Stop {
    fn from(reason: &str) -> Self {
        Stop::Failed(CliError::failed(reason))
    }
}

/// Runs `work` unless a stop is requested first.
async fn interruptible<T, E: Into<Stop>>(
    shutdown: &mut Shutdown,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, Stop> {
    tokio::select! {
        result = work => result.map_err(Into::into),
        _ = shutdown.requested() => Err(Stop::Interrupted),
    }
}

/// Runs `inlet dev` (its settings come from the environment): until Ctrl-C,
/// SIGTERM or SIGHUP, which end it successfully.
pub async fn run(_args: DevArgs) -> Result<(), CliError> {
    serve(DevOptions::from_env(crate::settings::root())?).await
}

/// The stack `options` describe, until a signal stops it.
pub async fn serve(options: DevOptions) -> Result<(), CliError> {
    let mut shutdown = Shutdown::listen()?;
    let progress = Progress::on_stderr(START_STEPS, "{spinner} inlet dev [{elapsed_precise}] {pos}/{len} {msg}");
    let result = start_and_serve(&options, &mut shutdown, &progress).await;
    progress.finish();
    match result {
        Ok(()) | Err(Stop::Interrupted) => {
            println!("inlet: stopped");
            Ok(())
        }
        Err(Stop::Failed(error)) => Err(error),
    }
}

/// The steps of the start-up the bar counts: the ports and settings, moto,
/// the build, moto listening, the resources, the functions' warm-up.
const START_STEPS: u64 = 6;

/// The next start-up step on the bar.
fn step(progress: &Progress, what: &str) {
    progress.inc(1);
    progress.set_message(what.to_string());
}

async fn start_and_serve(options: &DevOptions, shutdown: &mut Shutdown, progress: &Progress) -> Result<(), Stop> {
    let started = Instant::now();
    step(progress, "checking the ports and settings");
    for (port, name) in [(options.moto_port, "MOTO_PORT"), (options.api_port, "API_PORT")] {
        if port_in_use(port) {
            return Err(CliError::unavailable(format!(
                "port {port} is already in use (another `make dev`?); set {name} to another port"
            ))
            .into());
        }
    }
    let routes = crate::providers::router();
    let mut settings = load_env_file_with_overrides(&options.env_file).map_err(|e| {
        CliError::config("INLET_ENV_FILE", format!("settings file {}: {}", options.env_file.display(), e.reason))
    })?;
    // Settings the destinations document names, and the queue's kind: a
    // mistake in either stops the stack before anything starts.
    add_destination_settings(&mut settings, &|name| std::env::var(name).ok())
        .map_err(|e| CliError::config(inlet_shared::delivery::config::SETTING, e))?;
    let shape =
        QueueShape::from_settings(&settings).map_err(|e| CliError::config(crate::local::ORDERING_SETTING, e))?;
    let state = options.state_dir();
    create_private_dir(&state)?;

    step(progress, "starting moto");
    progress.println(format!("inlet: starting moto on 127.0.0.1:{}", options.moto_port));
    let log_path = state.join("moto.log");
    write_private_file(&log_path, b"")?;
    let moto_log = open_private_append(&log_path)?;
    // moto's server, with each DynamoDB write atomic on its item as on AWS (see the script).
    let mut moto = Command::new(options.venv_bin.join("python"))
        .arg(options.root.join("tests/moto_server.py"))
        .args(["-H", "127.0.0.1", "-p", &options.moto_port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::from(moto_log.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(moto_log))
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            let message = format!(
                "cannot start moto_server from {} ({e}); run `make dev`, which installs it",
                options.venv_bin.display()
            );
            if e.kind() == std::io::ErrorKind::NotFound {
                CliError::not_found(message)
            } else {
                CliError::unavailable(message)
            }
        })?;
    let result = with_moto(options, &routes, settings, &shape, &state, &mut moto, shutdown, started, progress).await;
    stop_group(&mut moto, Duration::from_secs(5)).await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn with_moto(
    options: &DevOptions,
    routes: &BTreeMap<String, String>,
    settings: HashMap<String, String>,
    shape: &QueueShape,
    state: &Path,
    moto: &mut Child,
    shutdown: &mut Shutdown,
    started: Instant,
    progress: &Progress,
) -> Result<(), Stop> {
    let names: BTreeSet<String> =
        routes.values().cloned().chain([PROCESSOR.to_string(), REPLIER.to_string()]).collect();
    step(progress, "building the functions");
    progress.println("inlet: building the functions");
    // cargo draws its own progress on the terminal meanwhile.
    progress.pause();
    let binaries = build_functions(&options.root, &names, shutdown).await;
    progress.resume();
    let binaries = binaries?;
    step(progress, "waiting for moto");
    interruptible(shutdown, wait_for_port(options.moto_port, "moto_server", Duration::from_secs(60), moto))
        .await
        .map_err(|stop| match stop {
            Stop::Failed(error) => Stop::Failed(CliError::unavailable(error.to_string())),
            interrupted => interrupted,
        })?;
    step(progress, "creating the queues, the table and the buses");

    let endpoint = format!("http://127.0.0.1:{}", options.moto_port);
    let sdk = inlet_shared::aws::access::local_sdk_config(&endpoint);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = settings.get("INLET_TABLE_NAME").cloned().unwrap_or_else(|| "inlet-events".into());
    let resources = interruptible(shutdown, create_resources(&sqs, &dynamodb, shape, &table)).await?;
    let eventbridge = aws_sdk_eventbridge::Client::new(&sdk);
    for bus in buses(&settings) {
        interruptible(shutdown, create_bus(&eventbridge, &bus)).await?;
    }
    let arn = interruptible(shutdown, queue_arn(&sqs, &resources.queue_url)).await?;
    let reply_arn = interruptible(shutdown, queue_arn(&sqs, &resources.reply_queue_url)).await?;

    let environment = function_environment(settings, &resources, &endpoint)?;
    write_private_file(&state.join(ENV_FILE_NAME), env_file_text(&environment)?.as_bytes())?;
    let functions: BTreeMap<String, Function> = names
        .iter()
        .filter_map(|name| binaries.get(name).map(|program| (name, program)))
        .map(|(name, program)| (name.clone(), Function::start(function_config(name, program, &environment))))
        .collect();
    let stack = Stack {
        options,
        routes,
        sqs: &sqs,
        resources: &resources,
        queue_arn: &arn,
        reply_queue_arn: &reply_arn,
        functions: &functions,
        moto_pid: moto.id(),
        started,
        progress,
    };
    let result = stack.serve(moto, shutdown).await;
    for function in functions.values() {
        function.shutdown().await;
    }
    result
}

/// Adds to `settings` each setting the destinations document
/// (`INLET_DESTINATIONS`) names that events/env.json does not have: each HTTP
/// destination's `secret_setting`, read from the environment (`lookup`). A
/// document the processor would refuse, or a named setting found nowhere,
/// is an error that names it.
pub fn add_destination_settings(
    settings: &mut HashMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let specs = inlet_shared::delivery::config::from_env(&*settings).map_err(|e| e.to_string())?;
    for name in inlet_shared::delivery::targets::secret_settings(&specs) {
        if settings.contains_key(&name) {
            continue;
        }
        let value = lookup(&name).ok_or_else(|| {
            format!(
                "{} names the secret setting {name}, which is neither in events/env.json nor in the environment",
                inlet_shared::delivery::config::SETTING
            )
        })?;
        settings.insert(name, value);
    }
    Ok(())
}

/// The buses `inlet dev` creates: `inlet` (template.yaml's) and each bus the
/// destinations document names by name (an ARN names a bus elsewhere).
pub fn buses(settings: &HashMap<String, String>) -> BTreeSet<String> {
    let mut buses = BTreeSet::from([LOCAL_BUS.to_string()]);
    let specs = inlet_shared::delivery::config::from_env(settings).unwrap_or_default();
    for spec in specs {
        if let inlet_shared::delivery::config::DestinationKind::EventBridge { bus } = spec.kind
            && !bus.starts_with("arn:")
        {
            buses.insert(bus);
        }
    }
    buses
}

/// What every function runs with: the settings of events/env.json (each
/// overridable by an environment variable of the same name), the local AWS,
/// the queues' real visibility timeout for the processor's and the reply
/// function's leases, and the reply queue the processor sends replies to.
pub fn function_environment(
    mut settings: HashMap<String, String>,
    resources: &LocalResources,
    endpoint: &str,
) -> Result<BTreeMap<String, String>, String> {
    settings.insert("INLET_QUEUE_URL".into(), resources.queue_url.clone());
    settings.insert(inlet_shared::reply::request::QUEUE_URL_SETTING.into(), resources.reply_queue_url.clone());
    settings.insert("INLET_TABLE_NAME".into(), resources.table_name.clone());
    settings.insert("INLET_QUEUE_VISIBILITY_SECS".into(), crate::local::QUEUE_VISIBILITY_TIMEOUT_SECS.to_string());
    settings.insert("AWS_ENDPOINT_URL".into(), endpoint.to_string());
    settings.insert("AWS_REGION".into(), crate::runtime_api::REGION.into());
    settings.insert("AWS_ACCESS_KEY_ID".into(), "test".into());
    settings.insert("AWS_SECRET_ACCESS_KEY".into(), "test".into());
    settings.insert("INLET_LOCAL".into(), "1".into());
    Ok(settings.into_iter().collect())
}

/// The environment as an env file (`cargo lambda watch --env-file`,
/// `sam local invoke` style), to run one function by hand exactly as the
/// stack does.
fn env_file_text(environment: &BTreeMap<String, String>) -> Result<String, String> {
    let mut text = String::new();
    for (name, value) in environment {
        // cargo-lambda's env-file parser (env-file-reader) needs values
        // quoted (a bare `=` in a value is a parse error); inside quotes it
        // turns `\n` into a newline and `\<quote>` into the quote, and
        // knows no other escapes. JSON settings (INLET_DESTINATIONS) hold
        // double quotes: those go in single quotes.
        let quote = if !value.contains('"') { '"' } else { '\'' };
        if value.contains('\n') || value.contains(quote) || value.contains('\\') {
            return Err(format!(
                "setting {name} contains a newline, a backslash or both kinds of quotes, which the local stack \
                 cannot pass"
            ));
        }
        text.push_str(&format!("{name}={quote}{value}{quote}\n"));
    }
    Ok(text)
}

fn function_config(name: &str, program: &Path, environment: &BTreeMap<String, String>) -> FunctionConfig {
    let mut config = FunctionConfig::new(name, program);
    config.env = environment.clone();
    config.memory_mb = crate::local::MEMORY_MB;
    if name == PROCESSOR {
        config.timeout = crate::local::PROCESSOR_TIMEOUT;
        config.concurrency = crate::local::PROCESSOR_CONCURRENCY;
    } else if name == REPLIER {
        config.timeout = crate::local::REPLIER_TIMEOUT;
        config.concurrency = crate::local::REPLIER_CONCURRENCY;
    } else {
        config.timeout = crate::local::RECEIVER_TIMEOUT;
        config.concurrency = crate::local::RECEIVER_CONCURRENCY;
    }
    config
}

/// Builds the function binaries with cargo (a no-op when they are current)
/// and returns where each is.
async fn build_functions(
    root: &Path,
    names: &BTreeSet<String>,
    shutdown: &mut Shutdown,
) -> Result<BTreeMap<String, PathBuf>, Stop> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--message-format=json-render-diagnostics"]);
    for name in names {
        command.args(["--bin", name]);
    }
    let mut child = command
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let stdout = child.stdout.take().ok_or("cargo's output is not readable")?;
    let artifacts = tokio::spawn(async move {
        let mut executables = BTreeMap::new();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if let (Some(name), Some(executable)) =
                (message.pointer("/target/name").and_then(|v| v.as_str()), message["executable"].as_str())
            {
                executables.insert(name.to_string(), PathBuf::from(executable));
            }
        }
        executables
    });
    let status = tokio::select! {
        status = child.wait() => status.map_err(|e| e.to_string())?,
        _ = shutdown.requested() => {
            stop_group(&mut child, Duration::from_secs(2)).await;
            return Err(Stop::Interrupted);
        }
    };
    let executables = artifacts.await.map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("cargo build failed ({status}); its errors are above").into());
    }
    let missing: Vec<&String> = names.iter().filter(|n| !executables.contains_key(*n)).collect();
    if !missing.is_empty() {
        return Err(format!("cargo build made no binary for {missing:?}").into());
    }
    Ok(executables)
}

async fn wait_for_port(port: u16, what: &str, limit: Duration, child: &mut Child) -> Result<(), String> {
    let started = Instant::now();
    while !port_in_use(port) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited ({status}) before listening on port {port}"));
        }
        if started.elapsed() > limit {
            return Err(format!("{what} did not listen on port {port} within {limit:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// What the pump has done, for `/_inlet/status`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PumpLog {
    pub batches: u64,
    pub records: u64,
    pub deleted: u64,
    pub failed_invocations: u64,
    /// Envelope ids of the batches whose invoke failed (the first 100 000).
    pub failed_batch_ids: Vec<String>,
}

/// The document at `GET /_inlet/status`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StackStatus {
    pub api: String,
    pub moto_endpoint: String,
    pub moto_pid: Option<u32>,
    pub queue_url: String,
    pub dlq_url: String,
    pub table: String,
    /// The EventBridge bus the stack created (`inlet`).
    #[serde(default)]
    pub event_bus: String,
    /// `none` or `per-conversation` (FIFO queues).
    #[serde(default)]
    pub ordering: String,
    pub functions: BTreeMap<String, FunctionStatus>,
    pub pump: PumpLog,
    /// The reply queue and its DLQ, pumped into the reply function.
    #[serde(default)]
    pub reply_queue_url: String,
    #[serde(default)]
    pub reply_dlq_url: String,
    #[serde(default)]
    pub reply_pump: PumpLog,
}

struct Stack<'a> {
    options: &'a DevOptions,
    routes: &'a BTreeMap<String, String>,
    sqs: &'a aws_sdk_sqs::Client,
    resources: &'a LocalResources,
    queue_arn: &'a str,
    reply_queue_arn: &'a str,
    functions: &'a BTreeMap<String, Function>,
    moto_pid: Option<u32>,
    started: Instant,
    progress: &'a Progress,
}

impl Stack<'_> {
    async fn serve(&self, moto: &mut Child, shutdown: &mut Shutdown) -> Result<(), Stop> {
        let api_base = format!("http://127.0.0.1:{}", self.options.api_port);
        let pump_log = Arc::new(Mutex::new(PumpLog::default()));
        let reply_pump_log = Arc::new(Mutex::new(PumpLog::default()));
        let status = {
            let functions = self.functions.clone();
            let pump_log = pump_log.clone();
            let reply_pump_log = reply_pump_log.clone();
            let template = StackStatus {
                api: api_base.clone(),
                moto_endpoint: format!("http://127.0.0.1:{}", self.options.moto_port),
                moto_pid: self.moto_pid,
                queue_url: self.resources.queue_url.clone(),
                dlq_url: self.resources.dlq_url.clone(),
                table: self.resources.table_name.clone(),
                reply_queue_url: self.resources.reply_queue_url.clone(),
                reply_dlq_url: self.resources.reply_dlq_url.clone(),
                event_bus: LOCAL_BUS.to_string(),
                ordering: if self.resources.queue_url.ends_with(".fifo") { "per-conversation" } else { "none" }
                    .to_string(),
                ..StackStatus::default()
            };
            move || {
                let mut status = template.clone();
                status.functions = functions.iter().map(|(name, f)| (name.clone(), f.status())).collect();
                status.pump = pump_log.lock().map(|p| p.clone()).unwrap_or_default();
                status.reply_pump = reply_pump_log.lock().map(|p| p.clone()).unwrap_or_default();
                serde_json::to_value(status).unwrap_or_default()
            }
        };
        let api = Arc::new(Api::new(self.routes, self.functions.clone(), Box::new(status)));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.options.api_port))
            .await
            .map_err(|e| CliError::unavailable(format!("cannot listen on 127.0.0.1:{}: {e}", self.options.api_port)))?;
        let server = tokio::spawn(crate::api::serve(listener, api.clone()));
        let logs = PumpLogs { events: &pump_log, replies: &reply_pump_log };
        let result = self.warm_and_pump(&api, &api_base, logs, moto, shutdown).await;
        server.abort();
        let _ = server.await;
        result
    }

    async fn warm_and_pump(
        &self,
        api: &Api,
        api_base: &str,
        logs: PumpLogs<'_>,
        moto: &mut Child,
        shutdown: &mut Shutdown,
    ) -> Result<(), Stop> {
        // Warm every function: an empty POST starts it (and is refused: no
        // event, only a refusal record for `inlet refused`); the processor
        // and the reply function get an empty batch.
        step(self.progress, "warming the functions");
        self.progress.println("inlet: warming the functions");
        // The functions start now, and their logs go to the terminal.
        self.progress.pause();
        let mut warmed = BTreeSet::new();
        for (path, function) in self.routes {
            if !warmed.insert(function.clone()) {
                continue;
            }
            let path = path.replace(['{', '}'], "");
            let call = HttpCall {
                method: "POST",
                path: &path,
                query: "",
                headers: vec![("content-type".into(), "application/json".into())],
                body: bytes::Bytes::from_static(b"{}"),
                source_ip: "127.0.0.1".into(),
            };
            match interruptible(shutdown, async { Ok::<_, String>(api.call(call).await) }).await? {
                Some(Ok(response)) if response.status().as_u16() < 500 || response.status().as_u16() == 503 => {}
                Some(Ok(response)) => {
                    return Err(format!(
                        "function {function} failed to start (HTTP {}); see its log above",
                        response.status()
                    )
                    .into());
                }
                Some(Err(error)) => {
                    return Err(format!("function {function} failed to start: {error}; see its log above").into());
                }
                None => return Err(format!("no function {function} for route {path}").into()),
            }
        }
        let processor = self.functions.get(PROCESSOR).ok_or("no processor function")?;
        let invoker = FunctionInvoker { function: processor.clone() };
        let replier = self.functions.get(REPLIER).ok_or("no reply function")?;
        let reply_invoker = FunctionInvoker { function: replier.clone() };
        let empty = aws_lambda_events::sqs::SqsEvent::default();
        for (name, invoker) in [(PROCESSOR, &invoker), (REPLIER, &reply_invoker)] {
            interruptible(shutdown, async {
                invoker.invoke(&empty).await.map_err(|e| format!("{name} failed to start: {e}; see its log above"))
            })
            .await?;
        }

        self.progress.finish();
        let route_list: Vec<&str> = self.routes.keys().map(String::as_str).collect();
        println!(
            "inlet ready in {:.1}s: API {api_base} ({}) · moto http://127.0.0.1:{} · queue {} · replies {} · \
             table {} · state {} · Ctrl-C stops everything",
            self.started.elapsed().as_secs_f64(),
            route_list.join(" "),
            self.options.moto_port,
            self.resources.queue_url,
            self.resources.reply_queue_url,
            self.resources.table_name,
            self.options.state_dir().display(),
        );

        let events = Pump { label: "pump", queue_url: &self.resources.queue_url, queue_arn: self.queue_arn };
        let replies =
            Pump { label: "reply pump", queue_url: &self.resources.reply_queue_url, queue_arn: self.reply_queue_arn };
        tokio::select! {
            _ = shutdown.requested() => Err(Stop::Interrupted),
            status = moto.wait() => Err(format!("moto_server exited ({status:?})").into()),
            () = events.run(self.sqs, &invoker, logs.events) => Err("the event pump stopped".into()),
            () = replies.run(self.sqs, &reply_invoker, logs.replies) => Err("the reply pump stopped".into()),
        }
    }
}

/// What the two pumps have done, for `/_inlet/status`.
#[derive(Clone, Copy)]
struct PumpLogs<'a> {
    events: &'a Mutex<PumpLog>,
    replies: &'a Mutex<PumpLog>,
}

/// One queue fed to one function, as Lambda's event source mapping does.
struct Pump<'a> {
    /// How its lines start: `pump` (the event queue), `reply pump`.
    label: &'a str,
    queue_url: &'a str,
    queue_arn: &'a str,
}

impl Pump<'_> {
    /// Pumps until the stack stops it; a failed receive is retried after a
    /// second.
    async fn run(&self, sqs: &aws_sdk_sqs::Client, invoker: &dyn Invoker, log: &Mutex<PumpLog>) {
        loop {
            match pump_once(sqs, self.queue_url, self.queue_arn, invoker, Duration::from_secs(1)).await {
                Ok(stats) => {
                    if stats.received > 0 {
                        println!(
                            "{}: {} received, {} done, {} left for retry",
                            self.label, stats.received, stats.deleted, stats.left_for_retry
                        );
                    }
                    if let Ok(mut log) = log.lock() {
                        log.batches += u64::from(stats.received > 0);
                        log.records += stats.received as u64;
                        log.deleted += stats.deleted as u64;
                        if stats.invoke_failed.is_some() {
                            log.failed_invocations += 1;
                            let room = 100_000usize.saturating_sub(log.failed_batch_ids.len());
                            log.failed_batch_ids.extend(stats.failed_batch_ids.into_iter().take(room));
                        }
                    }
                }
                Err(e) => {
                    eprintln!("{}: {e}", self.label);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_shared::dedup::DedupSettings;
    use inlet_shared::dedup::NowMs;

    fn resources() -> LocalResources {
        LocalResources {
            queue_url: "http://127.0.0.1:5999/123456789012/inlet-events".into(),
            dlq_url: "http://127.0.0.1:5999/123456789012/inlet-events-dlq".into(),
            reply_queue_url: "http://127.0.0.1:5999/123456789012/inlet-replies".into(),
            reply_dlq_url: "http://127.0.0.1:5999/123456789012/inlet-replies-dlq".into(),
            table_name: "inlet-events".into(),
        }
    }

    fn committed_settings() -> HashMap<String, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        inlet_shared::config::load_env_file(&root.join("events/env.json")).expect("events/env.json")
    }

    #[test]
    fn the_processor_accepts_the_local_environment_and_its_leases_outlive_no_invocation() {
        let environment = function_environment(committed_settings(), &resources(), "http://127.0.0.1:5999").unwrap();
        let settings = DedupSettings::from_env(&environment.clone().into_iter().collect::<HashMap<_, _>>())
            .expect("the processor starts with the local settings");
        // An invocation runs until its deadline at most; its locks must last
        // that long, or a live attempt could be taken over.
        let now = NowMs(1_700_000_000_000);
        let deadline = NowMs(now.0 + crate::local::PROCESSOR_TIMEOUT.as_millis() as i64);
        assert!(!settings.lease.cuts_short(now, Some(deadline)));
        assert_eq!(
            environment["INLET_QUEUE_VISIBILITY_SECS"],
            crate::local::QUEUE_VISIBILITY_TIMEOUT_SECS.to_string(),
            "the processor is told the visibility timeout of the queue the stack creates"
        );
    }

    #[test]
    fn env_file_quotes_values_and_refuses_what_it_cannot_pass() {
        let mut environment = BTreeMap::new();
        environment.insert("A".to_string(), "x=y".to_string());
        assert_eq!(env_file_text(&environment).unwrap(), "A=\"x=y\"\n");
        environment.insert("B".to_string(), r#"[{"name":"bus"}]"#.to_string());
        assert_eq!(env_file_text(&environment).unwrap(), "A=\"x=y\"\nB='[{\"name\":\"bus\"}]'\n");
        environment.insert("C".to_string(), "a\"b'c".to_string());
        assert!(env_file_text(&environment).unwrap_err().contains('C'));
        environment.insert("C".to_string(), "a\\nb".to_string());
        assert!(env_file_text(&environment).unwrap_err().contains('C'));
    }

    #[test]
    fn the_settings_the_destinations_name_are_passed_and_a_missing_one_is_an_error() {
        let document = r#"[{"name":"bus","type":"eventbridge","bus":"inlet"},
            {"name":"other-bus","type":"eventbridge","bus":"team"},
            {"name":"far-bus","type":"eventbridge","bus":"arn:aws:events:us-east-1:123456789012:event-bus/far"},
            {"name":"listen","type":"http","url":"http://127.0.0.1:9100/","secret_setting":"INLET_LISTEN_SECRET"},
            {"name":"app","type":"http","url":"http://127.0.0.1:9200/","secret_setting":"APP_SECRET"}]"#;
        let mut settings = HashMap::from([
            ("INLET_DESTINATIONS".to_string(), document.to_string()),
            ("INLET_LISTEN_SECRET".to_string(), "whsec_from-the-file".to_string()),
        ]);
        let lookup = |name: &str| (name == "APP_SECRET").then(|| "whsec_from-the-environment".to_string());
        add_destination_settings(&mut settings, &lookup).unwrap();
        assert_eq!(settings["APP_SECRET"], "whsec_from-the-environment");
        assert_eq!(settings["INLET_LISTEN_SECRET"], "whsec_from-the-file", "the file's (overridden) value stays");
        assert_eq!(buses(&settings), BTreeSet::from(["inlet".to_string(), "team".to_string()]));

        settings.remove("APP_SECRET");
        let error = add_destination_settings(&mut settings, &|_| None).unwrap_err();
        assert!(error.contains("APP_SECRET") && error.contains("INLET_DESTINATIONS"), "{error}");
        let mut broken =
            HashMap::from([("INLET_DESTINATIONS".to_string(), r#"[{"name":"x","type":"ftp"}]"#.to_string())]);
        assert!(add_destination_settings(&mut broken, &|_| None).unwrap_err().contains("type"));
    }

    #[test]
    fn two_stacks_keep_their_files_apart() {
        let root = Path::new("/repo");
        assert_ne!(state_dir(root, 9000), state_dir(root, 9001));
        assert!(state_dir(root, 9000).starts_with("/repo/.dev"));
    }

    #[test]
    fn functions_get_lambda_timeouts_from_the_local_timings() {
        let environment = BTreeMap::new();
        let processor = function_config(PROCESSOR, Path::new("/bin/processor"), &environment);
        assert_eq!(processor.timeout, crate::local::PROCESSOR_TIMEOUT);
        assert_eq!(processor.concurrency, 1, "the pump invokes one batch at a time");
        let lark = function_config("lark", Path::new("/bin/lark"), &environment);
        assert_eq!(lark.timeout, crate::local::RECEIVER_TIMEOUT);
        let replier = function_config(REPLIER, Path::new("/bin/replier"), &environment);
        assert_eq!((replier.timeout, replier.concurrency), (crate::local::REPLIER_TIMEOUT, 1));
    }

    #[test]
    fn the_processor_and_the_reply_function_are_told_the_reply_queue_and_replies_start_locally() {
        let environment = function_environment(committed_settings(), &resources(), "http://127.0.0.1:5999").unwrap();
        assert_eq!(
            environment[inlet_shared::reply::request::QUEUE_URL_SETTING],
            "http://127.0.0.1:5999/123456789012/inlet-replies",
            "the stack's own reply queue, not events/env.json's"
        );
        let env: HashMap<String, String> = environment.into_iter().collect();
        // The reply function's settings: its dedup lease fits the local
        // timeout, and every platform's client starts.
        let settings = DedupSettings::from_env(&env).expect("the reply function starts with the local settings");
        let now = NowMs(1_700_000_000_000);
        let deadline = NowMs(now.0 + crate::local::REPLIER_TIMEOUT.as_millis() as i64);
        assert!(!settings.lease.cuts_short(now, Some(deadline)));
        let connector = inlet_shared::aws::outbound::connector(&inlet_shared::aws::tls::TlsRoots::System);
        inlet_shared::reply::Replies::from_env(&env, connector).expect("the reply clients start");
    }
}
