//! Peers under comparison: start a server process (Prometheus, `harrier router`) on a free
//! loopback port with its output in a log file, wait until it answers `/-/ready`, push
//! remote_write bodies to it, and read what it has cost so far from `/proc`.
//!
//! Shared by `bench-router-query` and `bench-rules`. A [`Peer`] kills its process when dropped,
//! so a benchmark that fails half-way leaves nothing running.

#[cfg(test)]
mod tests;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a peer could not be started, reached or measured.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("finding a free port: {0}")]
    Port(std::io::Error),
    #[error("creating log file {path}: {source}")]
    Log { path: PathBuf, source: std::io::Error },
    #[error("starting {name}: {source}")]
    Spawn { name: String, source: std::io::Error },
    #[error("{name} exited with {status} before it was ready (see its log)")]
    Exited { name: String, status: std::process::ExitStatus },
    #[error("{name} not ready after {secs} s")]
    NotReady { name: String, secs: u64 },
    #[error("checking on {name}: {source}")]
    Wait { name: String, source: std::io::Error },
    #[error("reading /proc/{pid}: {detail}")]
    Proc { pid: u32, detail: String },
    #[error("{url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("{url}: write answered {status}: {body}")]
    WriteRejected { url: String, status: reqwest::StatusCode, body: String },
}

/// A running server process and the base URL it listens on.
pub struct Peer {
    pub name: &'static str,
    pub child: Child,
    pub url: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// A loopback port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> Result<u16, PeerError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(PeerError::Port)?;
    Ok(listener.local_addr().map_err(PeerError::Port)?.port())
}

/// Starts `cmd` with stdout and stderr in `log`; the peer answers on `127.0.0.1:port`.
pub fn spawn(name: &'static str, cmd: &mut Command, log: &Path, port: u16) -> Result<Peer, PeerError> {
    let log_err = |source| PeerError::Log { path: log.to_path_buf(), source };
    let out = std::fs::File::create(log).map_err(log_err)?;
    let err = out.try_clone().map_err(log_err)?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|source| PeerError::Spawn { name: name.to_string(), source })?;
    Ok(Peer { name, child, url: format!("http://127.0.0.1:{port}") })
}

/// What a process has cost so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// `utime + stime`, in seconds (assuming `CLK_TCK` = 100, Linux's value on every common
    /// architecture).
    pub cpu_seconds: f64,
    /// `VmHWM` (peak resident set size), in MiB.
    pub peak_rss_mib: f64,
}

/// Reads [`Usage`] of `pid` from `/proc/PID/stat` and `/proc/PID/status`.
pub fn usage(pid: u32) -> Result<Usage, PeerError> {
    let proc_err = |detail: String| PeerError::Proc { pid, detail };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| proc_err(e.to_string()))?;
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| proc_err(e.to_string()))?;
    parse_usage(&stat, &status).ok_or_else(|| proc_err("unexpected stat/status format".into()))
}

/// Parses the contents of `/proc/PID/stat` and `/proc/PID/status`.
pub fn parse_usage(stat: &str, status: &str) -> Option<Usage> {
    // The command name (field 2) may contain spaces and parentheses: fields after it start after
    // the last ") ". utime and stime are fields 14 and 15, so 11 and 12 after the state.
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let hwm_kib: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.split_whitespace().next()?.parse().ok()?;
    Some(Usage { cpu_seconds: (utime + stime) / 100.0, peak_rss_mib: hwm_kib / 1024.0 })
}

/// Waits (up to `timeout`) until `GET /-/ready` succeeds; fails early if the process exits.
pub async fn wait_ready(
    client: &reqwest::Client,
    peer: &mut Peer,
    timeout: Duration,
) -> Result<(), PeerError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = client.get(format!("{}/-/ready", peer.url)).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        let exited = peer
            .child
            .try_wait()
            .map_err(|source| PeerError::Wait { name: peer.name.to_string(), source })?;
        if let Some(status) = exited {
            return Err(PeerError::Exited { name: peer.name.to_string(), status });
        }
        if Instant::now() > deadline {
            return Err(PeerError::NotReady { name: peer.name.to_string(), secs: timeout.as_secs() });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Posts each already encoded (snappy + protobuf) remote_write body to `{url}/api/v1/write`,
/// one after the other, and returns the wall time taken.
pub async fn write_all(
    client: &reqwest::Client,
    url: &str,
    bodies: &[Vec<u8>],
) -> Result<Duration, PeerError> {
    let start = Instant::now();
    let endpoint = format!("{url}/api/v1/write");
    for body in bodies {
        let resp = client
            .post(&endpoint)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body.clone())
            .send()
            .await
            .map_err(|source| PeerError::Http { url: endpoint.clone(), source })?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(PeerError::WriteRejected { url: endpoint, status, body });
        }
    }
    Ok(start.elapsed())
}
