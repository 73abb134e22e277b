//! Real peers for end-to-end tests: Debian's `prometheus` and `prometheus-node-exporter`, and
//! the `harrier` binary under test, each a child process on free loopback ports that is
//! killed when its guard drops. Plus polling helpers: tests wait for conditions, never sleep
//! for a fixed time and hope.

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A label set as the tests compare them: sorted name -> value.
pub type LabelSet = BTreeMap<String, String>;

/// A free loopback port: bound by the OS (port 0), then released for the child to take. A port
/// is handed out once per test run: tests run in parallel and some stop a peer and restart it
/// on its port later (outage tests), so a port another test was given is never reused.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = l.local_addr().expect("local addr").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Fails the test with a clear message when a peer program is missing.
pub fn require_program(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: run scripts/test.sh, which installs the test peers (Debian packages)"
    );
}

/// A child process that is killed (SIGKILL) when dropped.
pub struct Proc {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc { child: Some(child), log }
    }

    /// SIGKILL, as a crash or the OOM killer would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit (bounded).
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY-free: use the kill(1) program rather than libc.
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The child's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls `f` every 200 ms until it returns `Some`, or panics with `what` and the last state.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match f().await {
            Ok(v) => return v,
            Err(e) => e,
        };
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last state: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `url` until it answers 2xx.
pub async fn wait_ready(what: &str, url: &str, timeout: Duration) {
    wait_for(what, timeout, || async move {
        match http().get(url).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("status {}", r.status())),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
}

pub fn http() -> reqwest::Client {
    http_with_timeout(Duration::from_secs(10))
}

pub fn http_with_timeout(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).build().expect("http client")
}

/// Debian's Prometheus with the remote-write receiver enabled, on a free port.
pub struct Prometheus {
    pub port: u16,
    pub proc: Proc,
}

impl Prometheus {
    pub async fn start(dir: &Path) -> Prometheus {
        Self::start_on(dir, free_port()).await
    }

    /// Starts (or restarts) on `port` with its TSDB in `dir`.
    pub async fn start_on(dir: &Path, port: u16) -> Prometheus {
        Self::start_with(dir, port, "global:\n  scrape_interval: 1m\n", &[]).await
    }

    /// Starts with `config` as its prometheus.yml (written to `dir`) and `extra` flags.
    pub async fn start_with(dir: &Path, port: u16, config_text: &str, extra: &[&str]) -> Prometheus {
        require_program("/usr/bin/prometheus");
        std::fs::create_dir_all(dir.join("data")).expect("prometheus dir");
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, config_text).expect("prometheus config");
        let log = dir.join(format!("prometheus-{}.log", now_nanos()));
        let proc = Proc::spawn(
            "prometheus",
            Command::new("/usr/bin/prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-remote-write-receiver")
                .arg("--storage.tsdb.retention.time=1d")
                .args(extra),
            log,
        );
        let p = Prometheus { port, proc };
        wait_ready("prometheus ready", &format!("{}/-/ready", p.url()), Duration::from_secs(60)).await;
        p
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn remote_write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// An instant query: the result vector as (labels, value).
    pub async fn query(&self, expr: &str) -> Result<Vec<(LabelSet, f64)>, String> {
        let data = self.api("/api/v1/query", &[("query", expr)]).await?;
        let result = data["result"].as_array().ok_or("no result array")?;
        Ok(result
            .iter()
            .map(|r| {
                (
                    labels_of(&r["metric"]),
                    r["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN),
                )
            })
            .collect())
    }

    /// Raw samples of a range-vector selector like `foo[10m]`: (labels, [(ts_ms, value)]).
    pub async fn raw_samples(
        &self,
        selector_with_range: &str,
    ) -> Result<Vec<(LabelSet, Vec<(i64, f64)>)>, String> {
        let data = self.api("/api/v1/query", &[("query", selector_with_range)]).await?;
        let result = data["result"].as_array().ok_or("no result array")?;
        Ok(result
            .iter()
            .map(|r| {
                let values = r["values"]
                    .as_array()
                    .map(|vs| {
                        vs.iter()
                            .map(|v| {
                                let ts = (v[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
                                let val = v[1].as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
                                (ts, val)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (labels_of(&r["metric"]), values)
            })
            .collect())
    }

    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let resp = http()
            .get(format!("{}{path}", self.url()))
            .query(params)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = resp.json().await.map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(format!("prometheus error: {body}"));
        }
        Ok(body["data"].clone())
    }
}

fn labels_of(v: &Value) -> LabelSet {
    v.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

pub fn now_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Debian's node_exporter on a free port.
pub struct NodeExporter {
    pub port: u16,
    /// Keeps the process alive (killed on drop).
    _proc: Proc,
}

impl NodeExporter {
    pub async fn start(dir: &Path, extra_args: &[&str]) -> NodeExporter {
        require_program("/usr/bin/prometheus-node-exporter");
        let port = free_port();
        let proc = Proc::spawn(
            "node_exporter",
            Command::new("/usr/bin/prometheus-node-exporter")
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .args(extra_args),
            dir.join("node_exporter.log"),
        );
        let n = NodeExporter { port, _proc: proc };
        let url = n.metrics_url();
        wait_for("node_exporter up", Duration::from_secs(30), || {
            let url = url.clone();
            async move { http().get(&url).send().await.map(|_| ()).map_err(|e| e.to_string()) }
        })
        .await;
        n
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.address())
    }
}

/// The `harrier agent` under test.
pub struct Agent {
    pub port: u16,
    pub proc: Proc,
}

impl Agent {
    pub async fn start(config: &Path, data_dir: &Path, log: PathBuf) -> Agent {
        Self::start_on(config, data_dir, log, free_port()).await
    }

    pub async fn start_on(config: &Path, data_dir: &Path, log: PathBuf, port: u16) -> Agent {
        let proc = Proc::spawn(
            "harrier agent",
            Command::new(env!("CARGO_BIN_EXE_harrier"))
                .arg("agent")
                .arg("--config")
                .arg(config)
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data-dir")
                .arg(data_dir)
                .env("HARRIER_LOG", "info"),
            log,
        );
        let a = Agent { port, proc };
        wait_ready(
            "harrier agent ready",
            &format!("http://127.0.0.1:{port}/-/ready"),
            Duration::from_secs(30),
        )
        .await;
        a
    }

    pub async fn self_metrics(&self) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.port);
        match http().get(url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

/// Runs `harrier` with arguments, returning (exit code, stdout + stderr).
pub fn run_harrier(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harrier")).args(args).output().expect("run harrier");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Polls `url` with `client` (an HTTPS client trusting a test CA, say) until it answers 2xx.
pub async fn wait_ready_with(what: &str, client: &reqwest::Client, url: &str, timeout: Duration) {
    wait_for(what, timeout, || async move {
        match client.get(url).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("status {}", r.status())),
            Err(e) => Err(format!("{e:?}")),
        }
    })
    .await;
}
