//! `bench-notify`: the router's notification side against Debian's Alertmanager, on the same
//! `alertmanager.yml` and the same alerts, in one run.
//!
//! 1. Starts a webhook receiver (in this process) with one path per peer, then Debian's
//!    `prometheus-alertmanager` and `harrier router` on free loopback ports with fresh data
//!    directories, both with the same alertmanager.yml: one webhook receiver, `group_by:
//!    [group]`, `group_wait` 5 s, `group_interval` 10 s, `repeat_interval` 1 h.
//! 2. For each peer in turn (the other idle): posts `--alerts` alerts (labels `alertname`,
//!    `group` = one of `--groups`, `instance`, `severity`; an annotation; `endsAt` far
//!    ahead) to `/api/v2/alerts` in batches of `--batch`, with `--senders` concurrent senders,
//!    and waits until the receiver has seen every group with all its alerts. Then re-posts
//!    every alert `--reposts` more times (what Prometheus does every resend interval; no new
//!    notification is due) and waits one more `group_interval`.
//! 3. Prints, per peer: wall time from the first POST until every notification was delivered,
//!    CPU seconds (utime + stime over the whole step 2), peak RSS (VmHWM), notifications
//!    received, and the ratios Harrier/Alertmanager, as a markdown table.

use anyhow::{Context, bail};
use axum::body::Bytes;
use clap::Parser;
use harrier_bench::process::{Peer, free_port, spawn, usage, wait_ready};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "Compare the router's notifications with Alertmanager's, on the same config and alerts")]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    alerts: usize,
    #[arg(long, default_value_t = 500)]
    groups: usize,
    /// Alerts per POST.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Concurrent POSTs.
    #[arg(long, default_value_t = 4)]
    senders: usize,
    /// Times every alert is posted again after the first delivery.
    #[arg(long, default_value_t = 5)]
    reposts: usize,
    #[arg(long, default_value = "prometheus-alertmanager")]
    alertmanager: String,
    /// The harrier binary.
    #[arg(long)]
    harrier: PathBuf,
    /// Where configs, data directories and logs go (a temporary directory by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// Per peer path: group key -> the most alerts seen in one notification, and notifications.
#[derive(Default)]
struct Seen {
    groups: BTreeMap<String, usize>,
    notifications: usize,
}

type Received = Arc<Mutex<BTreeMap<String, Seen>>>;

async fn start_receiver(received: Received) -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = axum::Router::new().route(
        "/{peer}",
        axum::routing::post(move |axum::extract::Path(peer): axum::extract::Path<String>, body: Bytes| {
            let received = Arc::clone(&received);
            async move {
                let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                    return axum::http::StatusCode::BAD_REQUEST;
                };
                let key = v["groupKey"].as_str().unwrap_or_default().to_string();
                let n = v["alerts"].as_array().map_or(0, Vec::len);
                let mut all = received.lock().unwrap_or_else(|p| p.into_inner());
                let seen = all.entry(peer).or_default();
                seen.notifications += 1;
                let max = seen.groups.entry(key).or_default();
                *max = (*max).max(n);
                axum::http::StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(port)
}

fn alertmanager_yml(receiver_port: u16, peer: &str) -> String {
    format!(
        "route:\n  receiver: hook\n  group_by: [group]\n  group_wait: 5s\n  group_interval: 10s\n  repeat_interval: 1h\n\
         receivers:\n- name: hook\n  webhook_configs:\n  - url: http://127.0.0.1:{receiver_port}/{peer}\n    send_resolved: true\n"
    )
}

fn batches(args: &Args, ends_at: &str) -> Vec<Value> {
    let per_group = args.alerts.div_ceil(args.groups);
    let alerts: Vec<Value> = (0..args.alerts)
        .map(|i| {
            json!({
                "labels": {
                    "alertname": "BenchAlert",
                    "group": format!("g{}", i / per_group),
                    "instance": format!("host-{i}:9100"),
                    "severity": if i % 3 == 0 { "page" } else { "ticket" },
                },
                "annotations": {"summary": format!("bench alert {i} is firing")},
                "endsAt": ends_at,
                "generatorURL": "http://prometheus.example/graph",
            })
        })
        .collect();
    alerts.chunks(args.batch).map(|c| Value::Array(c.to_vec())).collect()
}

async fn post_all(
    client: &reqwest::Client,
    url: &str,
    bodies: &[Value],
    senders: usize,
) -> anyhow::Result<()> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let bodies = Arc::new(bodies.to_vec());
    let mut tasks = Vec::new();
    for _ in 0..senders.max(1) {
        let (client, url, next, bodies) =
            (client.clone(), format!("{url}/api/v2/alerts"), Arc::clone(&next), Arc::clone(&bodies));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { return Ok::<(), anyhow::Error>(()) };
                let resp = client.post(&url).json(body).send().await.with_context(|| url.clone())?;
                if !resp.status().is_success() {
                    bail!("{url}: {} {}", resp.status(), resp.text().await.unwrap_or_default());
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

struct PeerResult {
    deliver_seconds: f64,
    cpu_seconds: f64,
    peak_rss_mib: f64,
    notifications: usize,
}

async fn measure(
    args: &Args,
    client: &reqwest::Client,
    peer: &Peer,
    name: &str,
    received: &Received,
) -> anyhow::Result<PeerResult> {
    // Far ahead: the alerts fire for the whole run (both sides treat them alike).
    let bodies = batches(args, "2999-01-01T00:00:00Z");
    let before = usage(peer.pid())?;
    let start = Instant::now();
    post_all(client, &peer.url, &bodies, args.senders).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done = {
            let all = received.lock().unwrap_or_else(|p| p.into_inner());
            all.get(name).map_or(0, |s| s.groups.values().sum::<usize>())
        };
        if done >= args.alerts {
            break;
        }
        if Instant::now() > deadline {
            bail!("{name}: only {done} of {} alerts delivered after 300 s", args.alerts);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliver_seconds = start.elapsed().as_secs_f64();
    for _ in 0..args.reposts {
        post_all(client, &peer.url, &bodies, args.senders).await?;
    }
    // One group_interval for any (unexpected) re-notification to show up.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let after = usage(peer.pid())?;
    let notifications =
        received.lock().unwrap_or_else(|p| p.into_inner()).get(name).map_or(0, |s| s.notifications);
    Ok(PeerResult {
        deliver_seconds,
        cpu_seconds: after.cpu_seconds - before.cpu_seconds,
        peak_rss_mib: after.peak_rss_mib,
        notifications,
    })
}

fn start_alertmanager(args: &Args, dir: &Path, receiver_port: u16) -> anyhow::Result<Peer> {
    let config = dir.join("alertmanager.yml");
    std::fs::write(&config, alertmanager_yml(receiver_port, "alertmanager"))?;
    let port = free_port()?;
    Ok(spawn(
        "alertmanager",
        Command::new(&args.alertmanager)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address="),
        &dir.join("alertmanager.log"),
        port,
    )?)
}

fn start_router(args: &Args, dir: &Path, receiver_port: u16) -> anyhow::Result<Peer> {
    std::fs::write(dir.join("router-am.yml"), alertmanager_yml(receiver_port, "router"))?;
    std::fs::write(dir.join("router.yml"), "notifications:\n  alertmanager_config: router-am.yml\n")?;
    let port = free_port()?;
    Ok(spawn(
        "harrier router",
        Command::new(&args.harrier)
            .arg("router")
            .arg("--config")
            .arg(dir.join("router.yml"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.join("router-data"))
            .env("HARRIER_LOG", "warn"),
        &dir.join("router.log"),
        port,
    )?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir = args.work_dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    // State left by an earlier run in the same work directory would make both peers find the
    // alerts already notified (and send nothing until repeat_interval).
    for data in ["am-data", "router-data"] {
        match std::fs::remove_dir_all(dir.join(data)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("clearing {}", dir.join(data).display()));
            }
            _ => {}
        }
    }
    let received: Received = Arc::default();
    let receiver_port = start_receiver(Arc::clone(&received)).await?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let mut am = start_alertmanager(&args, &dir, receiver_port)?;
    let mut router = start_router(&args, &dir, receiver_port)?;
    wait_ready(&client, &mut am, Duration::from_secs(60)).await?;
    wait_ready(&client, &mut router, Duration::from_secs(60)).await?;

    let am_result = measure(&args, &client, &am, "alertmanager", &received).await?;
    let router_result = measure(&args, &client, &router, "router", &received).await?;

    println!(
        "{} alerts in {} groups, batches of {}, {} senders, {} re-posts\n",
        args.alerts, args.groups, args.batch, args.senders, args.reposts
    );
    println!("| | Alertmanager 0.25 | Harrier router | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    let row = |name: &str, a: f64, h: f64, unit: &str| {
        println!("| {name} | {a:.2} {unit} | {h:.2} {unit} | {:.2}x |", h / a);
    };
    row("all notifications delivered after", am_result.deliver_seconds, router_result.deliver_seconds, "s");
    row("CPU", am_result.cpu_seconds, router_result.cpu_seconds, "s");
    row("peak RSS", am_result.peak_rss_mib, router_result.peak_rss_mib, "MiB");
    println!("| notifications received | {} | {} | |", am_result.notifications, router_result.notifications);
    Ok(())
}
