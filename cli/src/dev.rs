//! `inlet dev`: the whole project on one machine with no AWS account.
//!
//! Starts moto's server, creates the queue, DLQ and table on it, runs every
//! function under `cargo lambda watch` at the paths of template.yaml, warms
//! each one so the first real request is answered at once, pumps the queue
//! into the processor, prints one line when ready, and stops everything it
//! started on Ctrl-C.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use inlet_shared::config::load_env_file_with_overrides;
use tokio::process::{Child, Command};

use crate::local::{QueueShape, create_resources};
use crate::pump::{HttpInvoker, pump_once, queue_arn};

pub struct DevOptions {
    pub root: PathBuf,
    pub moto_port: u16,
    pub api_port: u16,
    pub env_file: PathBuf,
    pub venv_bin: PathBuf,
}

impl DevOptions {
    pub fn from_env(root: PathBuf) -> Result<Self, String> {
        let port = |name: &str, default: u16| -> Result<u16, String> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| format!("{name}={v:?} is not a port")),
                _ => Ok(default),
            }
        };
        Ok(DevOptions {
            moto_port: port("MOTO_PORT", 5000)?,
            api_port: port("API_PORT", 9000)?,
            env_file: std::env::var("INLET_ENV_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|_| root.join("events/env.json")),
            venv_bin: std::env::var("INLET_VENV_BIN").map(PathBuf::from).unwrap_or_else(|_| root.join(".venv/bin")),
            root,
        })
    }
}

/// `"/path" = "function"` pairs from `[workspace.metadata.lambda.watch.router]`
/// in Cargo.toml: the one list of local routes, checked against template.yaml
/// by the tests.
pub fn read_router(cargo_toml: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(cargo_toml).map_err(|e| format!("{}: {e}", cargo_toml.display()))?;
    let mut routes = BTreeMap::new();
    let mut in_router = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_router = line == "[workspace.metadata.lambda.watch.router]";
            continue;
        }
        if !in_router || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (path, function) =
            line.split_once('=').ok_or_else(|| format!("router line {line:?} is not \"path\" = \"function\""))?;
        routes.insert(path.trim().trim_matches('"').to_string(), function.trim().trim_matches('"').to_string());
    }
    if routes.is_empty() {
        return Err("Cargo.toml has no [workspace.metadata.lambda.watch.router] routes".into());
    }
    Ok(routes)
}

fn port_in_use(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
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

/// Stops a child and everything it started (cargo lambda runs cargo, which
/// runs the functions), by signalling its process group; never waits forever.
async fn stop(child: &mut Child) {
    let Some(pid) = child.id() else { return };
    let group = format!("-{pid}");
    for signal in ["TERM", "KILL"] {
        let _ = std::process::Command::new("kill").args(["-s", signal, "--", &group]).status();
        if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.start_kill();
}

/// POSTs to a URL and returns the status, waiting as long as a first
/// compile may take.
fn post_status(url: &str, body: &str) -> Result<u16, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(900)))
        .build()
        .into();
    agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{url}: {e}"))
}

pub async fn run(options: DevOptions) -> Result<(), String> {
    let started = Instant::now();
    for (port, name) in [(options.moto_port, "MOTO_PORT"), (options.api_port, "API_PORT")] {
        if port_in_use(port) {
            return Err(format!("port {port} is already in use (another `make dev`?); set {name} to another port"));
        }
    }
    let routes = read_router(&options.root.join("Cargo.toml"))?;
    let mut settings = load_env_file_with_overrides(&options.env_file).map_err(|e| e.to_string())?;
    let state_dir = options.root.join(".dev");
    std::fs::create_dir_all(&state_dir).map_err(|e| e.to_string())?;

    // 1. moto
    let moto_log = std::fs::File::create(state_dir.join("moto.log")).map_err(|e| e.to_string())?;
    let mut moto = Command::new(options.venv_bin.join("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &options.moto_port.to_string()])
        .stdout(Stdio::from(moto_log.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(moto_log))
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start moto_server from {} ({e}); run `make dev`, which installs it",
                options.venv_bin.display()
            )
        })?;
    let result = run_with_moto(&options, &routes, &mut settings, &mut moto, started).await;
    stop(&mut moto).await;
    result
}

async fn run_with_moto(
    options: &DevOptions,
    routes: &BTreeMap<String, String>,
    settings: &mut std::collections::HashMap<String, String>,
    moto: &mut Child,
    started: Instant,
) -> Result<(), String> {
    wait_for_port(options.moto_port, "moto_server", Duration::from_secs(60), moto).await?;
    let endpoint = format!("http://127.0.0.1:{}", options.moto_port);
    let sdk = inlet_shared::runtime::local_sdk_config(&endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = settings.get("INLET_TABLE_NAME").cloned().unwrap_or_else(|| "inlet-events".into());
    let resources = create_resources(&sqs, &dynamodb, &QueueShape::default(), &table).await?;
    let arn = queue_arn(&sqs, &resources.queue_url).await?;

    // 2. functions, with the settings of events/env.json (each overridable
    // by an environment variable of the same name) and the local AWS.
    settings.insert("INLET_QUEUE_URL".into(), resources.queue_url.clone());
    settings.insert("AWS_ENDPOINT_URL".into(), endpoint.clone());
    settings.insert("AWS_REGION".into(), "us-east-1".into());
    settings.insert("AWS_ACCESS_KEY_ID".into(), "test".into());
    settings.insert("AWS_SECRET_ACCESS_KEY".into(), "test".into());
    settings.insert("INLET_LOCAL".into(), "1".into());
    let env_path = options.root.join(".dev/functions.env");
    let mut env_text = String::new();
    for (name, value) in settings.iter() {
        // cargo-lambda's env-file parser needs values quoted (a bare `=` in
        // a value is a parse error) and has no escapes.
        if value.contains(['\n', '"']) {
            return Err(format!(
                "setting {name} contains a newline or a double quote, which the local stack cannot pass"
            ));
        }
        env_text.push_str(&format!("{name}=\"{value}\"\n"));
    }
    std::fs::write(&env_path, env_text).map_err(|e| e.to_string())?;
    let mut watch = Command::new(options.venv_bin.join("cargo-lambda"))
        .args(["lambda", "watch", "--quiet", "--ignore-changes", "-A", "127.0.0.1", "-P"])
        .arg(options.api_port.to_string())
        .arg("--env-file")
        .arg(&env_path)
        .current_dir(&options.root)
        .env("PATH", path_with_venv(&options.venv_bin))
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start cargo-lambda from {} ({e}); run `make dev`, which installs it",
                options.venv_bin.display()
            )
        })?;
    let result = serve(options, routes, &sqs, &resources, &arn, &mut watch, started).await;
    stop(&mut watch).await;
    result
}

fn path_with_venv(venv_bin: &Path) -> String {
    format!("{}:{}", venv_bin.display(), std::env::var("PATH").unwrap_or_default())
}

async fn serve(
    options: &DevOptions,
    routes: &BTreeMap<String, String>,
    sqs: &aws_sdk_sqs::Client,
    resources: &crate::local::LocalResources,
    queue_arn: &str,
    watch: &mut Child,
    started: Instant,
) -> Result<(), String> {
    wait_for_port(options.api_port, "cargo lambda watch", Duration::from_secs(120), watch).await?;
    let api = format!("http://127.0.0.1:{}", options.api_port);

    // 3. warm every function: an empty POST starts it (and is refused
    // without side effects); the processor gets an empty batch.
    let mut warmed = std::collections::BTreeSet::new();
    for (path, function) in routes {
        if !warmed.insert(function.clone()) {
            continue;
        }
        let url = format!("{api}{}", path.replace(['{', '}'], ""));
        let status =
            tokio::task::spawn_blocking(move || post_status(&url, "{}")).await.map_err(|e| e.to_string())??;
        if status >= 500 && status != 503 {
            return Err(format!("function {function} failed to start (HTTP {status}); see its log above"));
        }
    }
    let invoker = HttpInvoker::for_function(&api, "processor");
    let empty = aws_lambda_events::sqs::SqsEvent::default();
    crate::pump::Invoker::invoke(&invoker, &empty).await.map_err(|e| format!("processor failed to start: {e}"))?;

    let route_list: Vec<&str> = routes.keys().map(String::as_str).collect();
    println!(
        "inlet ready in {:.1}s: API {api} ({}) · moto {} · queue {} · table {} · Ctrl-C stops everything",
        started.elapsed().as_secs_f64(),
        route_list.join(" "),
        format_args!("http://127.0.0.1:{}", options.moto_port),
        resources.queue_url,
        resources.table_name
    );

    // 4. pump until Ctrl-C / SIGTERM or a child dies.
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            status = watch.wait() => return Err(format!("cargo lambda watch exited ({status:?})")),
            result = pump_once(sqs, &resources.queue_url, queue_arn, &invoker, Duration::from_secs(1)) => match result {
                Ok(stats) if stats.received > 0 => println!(
                    "pump: {} received, {} done, {} left for retry",
                    stats.received, stats.deleted, stats.left_for_retry
                ),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("pump: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
    }
    println!("inlet: stopping");
    Ok(())
}
