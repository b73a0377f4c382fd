//! An `inlet dev` process driven from outside, as a developer's terminal
//! would: the soak run and the local stack's tests start one on ports of
//! their own, read its status, signal it, and check what it left behind.
//!
//! The process runs in a session of its own, so every process it starts can
//! be found (and, should a test fail half-way, ended) by session id.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::dev::StackStatus;
use crate::process::{session_processes, signal_process};

/// A kill that landed inside a batch (see [`DevStack::kill_processor_mid_batch`]).
#[derive(Clone, Debug)]
pub struct KilledBatch {
    /// The process whose batch failed.
    pub pid: u32,
    /// From the first look for a running batch to the kill that landed.
    pub waited: Duration,
    /// Earlier kills that met a process between batches.
    pub missed: Vec<u32>,
}

impl KilledBatch {
    pub fn describe(&self) -> String {
        let mut text =
            format!("pid {} after {:.0} ms of waiting for a batch", self.pid, self.waited.as_secs_f64() * 1e3);
        if !self.missed.is_empty() {
            text.push_str(&format!(
                " ({} earlier kill(s) landed between batches: pids {:?})",
                self.missed.len(),
                self.missed
            ));
        }
        text
    }
}

/// How to start a stack.
#[derive(Clone, Debug)]
pub struct StackSpec {
    /// The `inlet` binary.
    pub inlet: PathBuf,
    /// The repository (Cargo.toml, events/env.json, .venv/).
    pub root: PathBuf,
    pub moto_port: u16,
    pub api_port: u16,
    /// Extra environment for `inlet dev`.
    pub env: Vec<(String, String)>,
}

impl StackSpec {
    /// A stack of the repository at `root` on two free ports.
    pub fn on_free_ports(root: &Path) -> Result<StackSpec, String> {
        let port = || crate::process::free_port().map_err(|e| e.to_string());
        let moto_port = port()?;
        let mut api_port = port()?;
        while api_port == moto_port {
            api_port = port()?;
        }
        Ok(StackSpec { inlet: inlet_binary(root), root: root.to_path_buf(), moto_port, api_port, env: Vec::new() })
    }

    pub fn state_dir(&self) -> PathBuf {
        crate::dev::state_dir(&self.root, self.api_port)
    }
}

/// The debug `inlet` binary of the repository at `root` (`make build`).
pub fn inlet_binary(root: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    target.join("debug/inlet")
}

/// A running (or stopped) `inlet dev`.
pub struct DevStack {
    pub spec: StackSpec,
    pub pid: u32,
    pub log: PathBuf,
    child: std::process::Child,
}

impl DevStack {
    /// Starts `inlet dev` without waiting for it to be ready.
    pub fn spawn(spec: StackSpec) -> Result<DevStack, String> {
        let state = spec.state_dir();
        crate::local::create_private_dir(&state)?;
        let log = state.join("inlet-dev.log");
        crate::local::write_private_file(&log, b"")?;
        let output = crate::local::open_private_append(&log)?;
        let mut command = std::process::Command::new(&spec.inlet);
        command
            .arg("dev")
            .current_dir(&spec.root)
            .env("INLET_ROOT", &spec.root)
            .env("MOTO_PORT", spec.moto_port.to_string())
            .env("API_PORT", spec.api_port.to_string())
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(output.try_clone().map_err(|e| e.to_string())?)
            .stderr(output);
        // SAFETY: setsid is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|e| format!("{}: {e}", spec.inlet.display()))?;
        Ok(DevStack { pid: child.id(), spec, log, child })
    }

    /// Starts `inlet dev` and waits for its ready line.
    pub async fn start(spec: StackSpec) -> Result<DevStack, String> {
        let mut stack = DevStack::spawn(spec)?;
        stack.wait_for_line("inlet ready", Duration::from_secs(600)).await?;
        Ok(stack)
    }

    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.spec.api_port)
    }

    pub fn moto_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.spec.moto_port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has a line containing `needle`.
    pub async fn wait_for_line(&mut self, needle: &str, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if self.log_text().lines().any(|line| line.contains(needle)) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("inlet dev exited ({status}) before {needle:?}; its log:\n{}", self.log_tail(60)));
            }
            if started.elapsed() > limit {
                return Err(format!("no {needle:?} within {limit:?}; log:\n{}", self.log_tail(60)));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `GET /_inlet/status`.
    pub async fn status(&self) -> Result<StackStatus, String> {
        let url = format!("{}{}", self.api(), crate::api::STATUS_PATH);
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent =
                ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
            let text = agent
                .get(&url)
                .call()
                .map_err(|e| format!("{url}: {e}"))?
                .body_mut()
                .read_to_string()
                .map_err(|e| e.to_string())?;
            serde_json::from_str(&text).map_err(|e| format!("{url}: {e}"))
        })
        .await
        .map_err(|e| e.to_string())?
    }

    pub fn signal(&self, signal: libc::c_int) -> Result<(), String> {
        signal_process(self.pid, signal)
    }

    /// The exit status, once `inlet dev` has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for `inlet dev` to exit, up to `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Result<std::process::ExitStatus, String> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(status);
            }
            if started.elapsed() > limit {
                return Err(format!("inlet dev still running {limit:?} after being told to stop"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ctrl-C, and wait for it to exit.
    pub async fn stop(&mut self) -> Result<std::process::ExitStatus, String> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Ok(status);
        }
        self.signal(libc::SIGINT)?;
        self.wait_exit(Duration::from_secs(60)).await
    }

    /// SIGKILLs the processor while it runs a batch, and makes sure the kill
    /// did land inside one: the invoke it interrupted failed.
    ///
    /// Seeing the environment `Running` and then signalling it is a race: the
    /// batch can finish between the two, and the kill then meets a process
    /// waiting for its next batch, which fails no invocation (the emulator
    /// only restarts it at the next one). So after each kill this waits for
    /// the pump to finish the batch that was running (the pump invokes one
    /// batch at a time, and counts a batch only once its invoke returned):
    /// if that batch failed, the kill landed; if it succeeded, the kill came
    /// too late and is tried again on a later batch, up to `attempts` times.
    pub async fn kill_processor_mid_batch(&self, limit: Duration, attempts: usize) -> Result<KilledBatch, String> {
        let started = Instant::now();
        let mut missed = Vec::new();
        while missed.len() < attempts {
            let Some((pid, before)) = self.running_processor(started, limit).await? else {
                return Err(format!("the processor was never seen running a batch within {limit:?}"));
            };
            signal_process(pid, libc::SIGKILL)?;
            let waited = started.elapsed();
            loop {
                let now = self.status().await?;
                if now.pump.failed_invocations > before.failed_invocations {
                    return Ok(KilledBatch { pid, waited, missed });
                }
                if now.pump.batches > before.batches {
                    // The batch that was running finished before the signal.
                    missed.push(pid);
                    break;
                }
                if started.elapsed() > limit {
                    return Err(format!("the batch of killed processor {pid} never finished within {limit:?}"));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        Err(format!("{attempts} kills all landed between batches (pids {missed:?})"))
    }

    /// The processor's pid and the pump's counts, once it is seen running a
    /// batch; None when it is not seen so before `limit`.
    async fn running_processor(
        &self,
        started: Instant,
        limit: Duration,
    ) -> Result<Option<(u32, crate::dev::PumpLog)>, String> {
        while started.elapsed() < limit {
            let status = self.status().await?;
            let running = status.functions.get(crate::dev::PROCESSOR).and_then(|p| {
                p.environments
                    .iter()
                    .find(|e| e.state == crate::runtime_api::EnvironmentState::Running)
                    .and_then(|e| e.pid)
            });
            if let Some(pid) = running {
                return Ok(Some((pid, status.pump)));
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        Ok(None)
    }

    /// Removes the stack's state directory (once a test has no more use for
    /// its log), so that runs on free ports leave nothing behind.
    pub fn remove_state_dir(&self) {
        let _ = std::fs::remove_dir_all(self.spec.state_dir());
    }

    /// Processes still in the stack's session, `inlet dev` itself aside.
    pub fn leftovers(&self) -> Vec<(u32, String)> {
        session_processes(self.pid).into_iter().filter(|(pid, _)| *pid != self.pid).collect()
    }
}

impl Drop for DevStack {
    /// A test that failed half-way must not leave a stack running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.signal(libc::SIGINT);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        for (pid, _) in session_processes(self.pid) {
            let _ = signal_process(pid, libc::SIGCONT);
            let _ = signal_process(pid, libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
