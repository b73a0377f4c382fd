//! Child processes of the local stack: each runs in its own process group, so
//! that stopping it also stops what it started (cargo's rustc jobs), and
//! stopping never waits forever.

use std::time::Duration;

use tokio::process::Child;

/// Sends `signal` to every process in the group led by `pid`.
pub fn signal_group(pid: u32, signal: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else { return };
    // SAFETY: killpg only sends a signal; an already-gone group gives ESRCH,
    // which is what "nothing left to stop" means here.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// Sends `signal` to one process.
pub fn signal_process(pid: u32, signal: libc::c_int) -> Result<(), String> {
    let target = libc::pid_t::try_from(pid).map_err(|_| format!("pid {pid} out of range"))?;
    // SAFETY: kill only sends a signal.
    if unsafe { libc::kill(target, signal) } == 0 {
        Ok(())
    } else {
        Err(format!("signal {signal} to pid {pid}: {}", std::io::Error::last_os_error()))
    }
}

/// Stops a child started with `process_group(0)` and everything in its group:
/// SIGTERM (and SIGCONT, in case it was paused), then SIGKILL after `grace`.
pub async fn stop_group(child: &mut Child, grace: Duration) {
    let Some(pid) = child.id() else {
        // Already reaped.
        return;
    };
    signal_group(pid, libc::SIGTERM);
    signal_group(pid, libc::SIGCONT);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        signal_group(pid, libc::SIGKILL);
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    }
    // The leader is gone; anything it left in its group goes too.
    signal_group(pid, libc::SIGKILL);
}

/// Kills a child's group at once (Lambda ending a timed-out sandbox).
pub async fn kill_group(child: &mut Child) {
    if let Some(pid) = child.id() {
        signal_group(pid, libc::SIGKILL);
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
}

/// Processes (pid, command line) in session `sid`, from /proc; empty where
/// /proc is not available. The tests use it to prove nothing was left behind.
pub fn session_processes(sid: u32) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // Fields after the parenthesised command: state ppid pgrp session ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(state), Some(session)) = (fields.first(), fields.get(3)) else { continue };
        if *state == "Z" || session.parse::<u32>().ok() != Some(sid) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " ").trim().to_string())
            .unwrap_or_default();
        found.push((pid, cmdline));
    }
    found
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub fn port_in_use(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// A port nothing listens on right now, below Linux's ephemeral range
/// (32768+), so that no outgoing connection or runtime API endpoint takes it
/// between now and the moment a stack binds it.
pub fn free_port() -> std::io::Result<u16> {
    for _ in 0..200 {
        let port = 20_000 + (crate::random::random_u64() % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free port in 20000-31999"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt;

    #[tokio::test]
    async fn stop_group_ends_the_leader_and_what_it_started() {
        // A shell that starts a grandchild and ignores SIGTERM: only the
        // group kill after the grace period ends both.
        let mut child = tokio::process::Command::new("sh")
            .args(["-c", "trap '' TERM; sleep 300 & echo $!; wait"])
            .stdout(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut line = String::new();
        tokio::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).await.unwrap();
        let grandchild: u32 = line.trim().parse().expect("grandchild pid");
        let started = std::time::Instant::now();
        stop_group(&mut child, Duration::from_millis(300)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(child.try_wait().unwrap().is_some(), "leader reaped");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let alive = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).is_ok_and(|s| !s.contains(") Z "));
        assert!(!alive, "the grandchild in the same group was killed too");
    }
}
