//! `bench-rules`: the router's rule evaluation against Prometheus's, on the same rule file and
//! the same data, in one run.
//!
//! 1. Generates `--rules` rules in `--groups` groups over `--series` counter series
//!    (`harrier_bench::rule_bench` describes them: half recording rules
//!    `sum by (job) (rate(...))`, half alerting rules `rate(...) > T` with `for: 1m` and a templated
//!    `summary`, 1% of the series alerting) and checks the file with `promtool check rules`.
//! 2. Starts Debian's `prometheus` (server mode, remote-write receiver on) and `harrier router`
//!    on free loopback ports with fresh data directories, both loading that file with
//!    `evaluation_interval: 15s`.
//! 3. Writes `--samples` samples (15 s apart, ending now) of every series to both with
//!    remote_write, then keeps writing each new 15 s step to both while the benchmark runs, so the
//!    rules see live data.
//! 4. After a warm-up of one interval, measures for `--duration` seconds: each process's CPU time
//!    (utime + stime deltas from /proc: rule evaluation plus ingest of the live samples, the same
//!    for both), peak RSS (VmHWM), and once per interval the sum over groups of
//!    `<prefix>_rule_group_last_duration_seconds` (one iteration's evaluation time), plus the
//!    iteration, missed-iteration and failed-evaluation counters over the window; CPU-s per
//!    iteration is the CPU time divided by the iterations of one group (all groups run once an
//!    interval).
//! 5. Compares the end state: firing and pending alerts (`/api/v1/alerts`), recorded series
//!    (`count({__name__=~"job:.*"})`), rule health (`/api/v1/rules`), warnings in the logs.
//!    Prints a markdown table with the ratios Harrier/Prometheus.

use anyhow::{Context, bail};
use clap::Parser;
use harrier_bench::process::{Peer, Usage, free_port, spawn, usage, wait_ready, write_all};
use harrier_bench::rule_bench::{RECORD_PREFIX, STEP_MS, Shape, sum_metric};
use harrier_telemetry::model::now_ms;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(about = "Compare the router's rule evaluation with Prometheus's, on the same rules and data")]
struct Args {
    /// Series in all (spread evenly over --metrics counter names).
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Counter names (`bench_m0_total`, ...).
    #[arg(long, default_value_t = 100)]
    metrics: usize,
    /// Rules in the file (half recording, half alerting).
    #[arg(long, default_value_t = 1000)]
    rules: usize,
    /// Rule groups.
    #[arg(long, default_value_t = 10)]
    groups: usize,
    /// History written before the rules are measured, in 15 s samples (120 = 30 minutes).
    #[arg(long, default_value_t = 120)]
    samples: usize,
    /// Measurement window in seconds (after a warm-up of one 15 s interval).
    #[arg(long, default_value_t = 120)]
    duration: u64,
    /// Series per remote_write request.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
    #[arg(long, default_value = "prometheus")]
    prometheus: String,
    #[arg(long, default_value = "promtool")]
    promtool: String,
    /// The harrier binary.
    #[arg(long)]
    harrier: PathBuf,
    /// Where to put the rule file, configs, data directories and logs (a temporary directory,
    /// removed at the end, by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// One side of the comparison and the prefix of its rule self-metrics.
struct Side {
    peer: Peer,
    label: &'static str,
    prefix: &'static str,
    log: PathBuf,
}

/// Counters read from `/metrics` at the start and end of the window.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    iterations: f64,
    missed: f64,
    failures: f64,
}

/// What one side did in the window.
struct Measured {
    start_usage: Usage,
    start: Counters,
    /// Sum over groups of the last evaluation duration, sampled once per interval (seconds).
    iteration_seconds: Vec<f64>,
}

async fn metrics_text(client: &reqwest::Client, side: &Side) -> anyhow::Result<String> {
    let url = format!("{}/metrics", side.peer.url);
    let resp = client.get(&url).send().await.with_context(|| url.clone())?;
    Ok(resp.text().await?)
}

fn counters(text: &str, prefix: &str) -> Counters {
    Counters {
        iterations: sum_metric(text, &format!("{prefix}_rule_group_iterations_total")).0,
        missed: sum_metric(text, &format!("{prefix}_rule_group_iterations_missed_total")).0,
        failures: sum_metric(text, &format!("{prefix}_rule_evaluation_failures_total")).0,
    }
}

/// (sum of the groups' last evaluation durations in seconds, groups reporting one).
fn last_durations(text: &str, prefix: &str) -> (f64, usize) {
    sum_metric(text, &format!("{prefix}_rule_group_last_duration_seconds"))
}

async fn get_json(client: &reqwest::Client, url: String) -> anyhow::Result<serde_json::Value> {
    let body: serde_json::Value = client
        .get(&url)
        .send()
        .await
        .with_context(|| url.clone())?
        .json()
        .await
        .with_context(|| url.clone())?;
    if body["status"] != "success" {
        bail!("{url}: {body}");
    }
    Ok(body)
}

/// (firing, pending) alerts from `/api/v1/alerts`.
async fn alert_states(client: &reqwest::Client, side: &Side) -> anyhow::Result<(usize, usize)> {
    let body = get_json(client, format!("{}/api/v1/alerts", side.peer.url)).await?;
    let alerts = body["data"]["alerts"].as_array().cloned().unwrap_or_default();
    let firing = alerts.iter().filter(|a| a["state"] == "firing").count();
    let pending = alerts.iter().filter(|a| a["state"] == "pending").count();
    Ok((firing, pending))
}

/// (rules, rules whose health is not "ok", the first such rule's name and lastError).
async fn rule_health(
    client: &reqwest::Client,
    side: &Side,
) -> anyhow::Result<(usize, usize, Option<String>)> {
    let body = get_json(client, format!("{}/api/v1/rules", side.peer.url)).await?;
    let mut total = 0;
    let mut bad = 0;
    let mut first = None;
    for group in body["data"]["groups"].as_array().into_iter().flatten() {
        for rule in group["rules"].as_array().into_iter().flatten() {
            total += 1;
            if rule["health"] != "ok" {
                bad += 1;
                if first.is_none() {
                    first = Some(format!("{} ({}): {}", rule["name"], rule["health"], rule["lastError"]));
                }
            }
        }
    }
    Ok((total, bad, first))
}

/// The value of a scalar-ish instant query (`count(...)`), 0 when the result is empty.
async fn query_count(client: &reqwest::Client, side: &Side, query: &str) -> anyhow::Result<f64> {
    let url = format!("{}/api/v1/query", side.peer.url);
    let body: serde_json::Value =
        client.post(&url).form(&[("query", query)]).send().await.with_context(|| url.clone())?.json().await?;
    if body["status"] != "success" {
        bail!("{url}: {query}: {body}");
    }
    let value = body["data"]["result"][0]["value"][1].as_str().unwrap_or("0");
    Ok(value.parse().unwrap_or(f64::NAN))
}

/// Lines of a log that look like warnings or errors (both Prometheus's logfmt and Harrier's).
fn log_problems(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.contains("level=error")
                || l.contains("level=warn")
                || l.contains(" ERROR ")
                || l.contains(" WARN ")
                || l.contains("\"level\":\"ERROR\"")
                || l.contains("\"level\":\"WARN\"")
        })
        .map(str::to_string)
        .collect()
}

/// Keeps writing every new 15 s step of every series to both peers until `stop` is set.
struct LiveWriter {
    stop: Arc<AtomicBool>,
    writes: Arc<AtomicUsize>,
    errors: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

fn start_live_writer(
    client: reqwest::Client,
    shape: Shape,
    origin_ms: i64,
    mut next_step: i64,
    batch: usize,
    urls: [String; 2],
) -> LiveWriter {
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (stop2, writes2, errors2) = (stop.clone(), writes.clone(), errors.clone());
    let task = tokio::spawn(async move {
        while !stop2.load(Ordering::Relaxed) {
            let now_step = (now_ms() - origin_ms) / STEP_MS;
            if now_step >= next_step {
                let bodies = shape.bodies(origin_ms, next_step, now_step + 1, batch);
                let (a, b) = tokio::join!(
                    write_all(&client, &urls[0], &bodies),
                    write_all(&client, &urls[1], &bodies)
                );
                for result in [a, b] {
                    if let Err(e) = result
                        && let Ok(mut errors) = errors2.lock()
                    {
                        errors.push(e.to_string());
                    }
                }
                writes2.fetch_add(1, Ordering::Relaxed);
                next_step = now_step + 1;
            }
            // Wake half a second after the next step boundary (or to notice `stop`).
            let wait_ms = (origin_ms + next_step * STEP_MS + 500 - now_ms()).clamp(0, 1_000);
            tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await;
        }
    });
    LiveWriter { stop, writes, errors, task }
}

fn version_line(binary: &str, arg: &str) -> String {
    Command::new(binary)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            text.lines().next().unwrap_or_default().to_string()
        })
        .unwrap_or_default()
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / values.len() as f64 }
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.metrics == 0 || args.series < args.metrics || args.rules == 0 || args.groups == 0 {
        bail!("--metrics, --rules and --groups must be positive and --series at least --metrics");
    }
    let shape = Shape {
        metrics: args.metrics,
        series_per_metric: args.series / args.metrics,
        rules: args.rules,
        groups: args.groups,
    };
    let temp = tempfile::tempdir()?;
    let work = args.work_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&work)?;
    let work = work.canonicalize()?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?;

    // 1. The rule file, checked by promtool.
    let rules_path = work.join("rules.yml");
    std::fs::write(&rules_path, shape.rule_file())?;
    let check = Command::new(&args.promtool)
        .arg("check")
        .arg("rules")
        .arg(&rules_path)
        .output()
        .with_context(|| format!("running {} check rules", args.promtool))?;
    if !check.status.success() {
        bail!(
            "promtool check rules {} failed:\n{}{}",
            rules_path.display(),
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
    println!(
        "rules: {} ({} recording, {} alerting) in {} groups over {} series ({} x {}); promtool: {}",
        shape.rules,
        shape.recording_rules(),
        shape.alerting_rules(),
        shape.groups,
        shape.series(),
        shape.metrics,
        shape.series_per_metric,
        String::from_utf8_lossy(&check.stdout)
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("ok")
    );

    // 2. Both peers, the same rule file, evaluation_interval 15s.
    let interval = Duration::from_millis(STEP_MS as u64);
    let rule_files = format!("rule_files:\n  - {}\n", rules_path.display());
    let prom_config = work.join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!("global:\n  scrape_interval: 1m\n  evaluation_interval: 15s\n{rule_files}"),
    )?;
    let router_config = work.join("router.yml");
    std::fs::write(&router_config, format!("global:\n  evaluation_interval: 15s\n{rule_files}"))?;

    let prom_port = free_port()?;
    let prom_log = work.join("prometheus.log");
    let prometheus = spawn(
        "prometheus",
        Command::new(&args.prometheus)
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!("--storage.tsdb.path={}", work.join("prometheus-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--web.enable-remote-write-receiver"),
        &prom_log,
        prom_port,
    )?;
    let router_port = free_port()?;
    let router_log = work.join("router.log");
    let router = spawn(
        "harrier router",
        Command::new(&args.harrier)
            .arg("router")
            .arg("--config")
            .arg(&router_config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{router_port}"))
            .arg("--data-dir")
            .arg(work.join("router-data")),
        &router_log,
        router_port,
    )?;
    let mut sides = [
        Side { peer: prometheus, label: "Prometheus", prefix: "prometheus", log: prom_log },
        Side { peer: router, label: "Harrier router", prefix: "harrier_router", log: router_log },
    ];
    for side in &mut sides {
        wait_ready(&client, &mut side.peer, Duration::from_secs(120)).await?;
    }
    println!(
        "peers: {} (pid {}), {} (pid {}); work dir {}",
        version_line(&args.prometheus, "--version"),
        sides[0].peer.pid(),
        args.harrier.display(),
        sides[1].peer.pid(),
        work.display()
    );

    // 3. History, then live samples every step.
    let last_ts = now_ms() / STEP_MS * STEP_MS;
    let origin_ms = last_ts - (args.samples as i64 - 1) * STEP_MS;
    let bodies = shape.bodies(origin_ms, 0, args.samples as i64, args.batch);
    let total = shape.series() * args.samples;
    let (a, b) = tokio::join!(
        write_all(&client, &sides[0].peer.url, &bodies),
        write_all(&client, &sides[1].peer.url, &bodies)
    );
    drop(bodies);
    for (side, took) in sides.iter().zip([a?, b?]) {
        println!(
            "history {:>14}: {} samples in {:>6.2} s (written to both at once)",
            side.label,
            total,
            took.as_secs_f64()
        );
    }
    let live = start_live_writer(
        client.clone(),
        shape,
        origin_ms,
        args.samples as i64,
        args.batch,
        [sides[0].peer.url.clone(), sides[1].peer.url.clone()],
    );

    // 4. Warm-up of one interval, then the window.
    tokio::time::sleep(interval).await;
    let mut measured = Vec::new();
    for side in &sides {
        let text = metrics_text(&client, side).await?;
        measured.push(Measured {
            start_usage: usage(side.peer.pid())?,
            start: counters(&text, side.prefix),
            iteration_seconds: Vec::new(),
        });
    }
    let window_start = tokio::time::Instant::now();
    let ticks = (args.duration / interval.as_secs()).max(1);
    let mut ticker = tokio::time::interval_at(window_start + interval, interval);
    for _ in 0..ticks {
        ticker.tick().await;
        for (side, m) in sides.iter().zip(&mut measured) {
            let text = metrics_text(&client, side).await?;
            let (seconds, groups) = last_durations(&text, side.prefix);
            if groups > 0 {
                m.iteration_seconds.push(seconds);
            }
        }
    }
    let window = window_start.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    for (side, m) in sides.iter().zip(&measured) {
        let end_usage = usage(side.peer.pid())?;
        let end = counters(&metrics_text(&client, side).await?, side.prefix);
        rows.push((
            end_usage.cpu_seconds - m.start_usage.cpu_seconds,
            end_usage.peak_rss_mib,
            end.iterations - m.start.iterations,
            end.missed - m.start.missed,
            end.failures - m.start.failures,
        ));
    }
    live.stop.store(true, Ordering::Relaxed);
    let _ = live.task.await;

    // 5. The end state.
    let record_query = format!("count({{__name__=~\"{RECORD_PREFIX}.*\"}})");
    let mut states = Vec::new();
    for side in &sides {
        let alerts = alert_states(&client, side).await?;
        let recorded = query_count(&client, side, &record_query).await?;
        let alerts_series = query_count(&client, side, "count(ALERTS{alertstate=\"firing\"})").await?;
        let (rules, unhealthy, first_error) = rule_health(&client, side).await?;
        let problems = log_problems(&side.log);
        println!(
            "end state {:>14}: {} firing, {} pending alerts; {} recorded series; {} firing ALERTS series; {} rules, {} unhealthy{}; {} warning/error log lines",
            side.label,
            alerts.0,
            alerts.1,
            recorded,
            alerts_series,
            rules,
            unhealthy,
            first_error.map(|e| format!(" (first: {e})")).unwrap_or_default(),
            problems.len()
        );
        for line in problems.iter().take(5) {
            println!("    {line}");
        }
        states.push((alerts, recorded, alerts_series));
    }
    println!(
        "expected: {} alerts ({}% of series per alerting rule), {} recorded series",
        shape.expected_alerts(),
        1,
        shape.expected_recorded_series()
    );
    if states[0] != states[1] {
        println!(
            "DIFFERENCE: Prometheus (firing, pending) {:?}, recorded {}, ALERTS {}; router {:?}, recorded {}, ALERTS {}",
            states[0].0, states[0].1, states[0].2, states[1].0, states[1].1, states[1].2
        );
    } else {
        println!("same end state on both");
    }
    let live_errors = live.errors.lock().map(|e| e.clone()).unwrap_or_default();
    println!(
        "live writes: {} rounds of {} series, {} errors{}",
        live.writes.load(Ordering::Relaxed),
        shape.series(),
        live_errors.len(),
        live_errors.first().map(|e| format!(" (first: {e})")).unwrap_or_default()
    );

    println!();
    println!("window {window:.0} s, {ticks} samples of the per-group last durations (one per 15 s interval)");
    println!();
    println!(
        "| peer | eval ms/iteration (mean) | (max) | iterations | missed | failed evals | CPU-s in window | CPU-s/iteration | cores | peak RSS MiB |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut stats = Vec::new();
    for ((side, m), row) in sides.iter().zip(&measured).zip(&rows) {
        let (mean_ms, max_ms) = (mean(&m.iteration_seconds) * 1e3, max(&m.iteration_seconds) * 1e3);
        println!(
            "| {} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} |",
            side.label,
            mean_ms,
            max_ms,
            row.2,
            row.3,
            row.4,
            row.0,
            row.0 / (row.2 / shape.groups as f64),
            row.0 / window,
            row.1
        );
        stats.push((mean_ms, max_ms, row.0, row.1));
    }
    println!(
        "| Harrier/Prometheus | {:.2}x | {:.2}x | | | | {:.2}x | {:.2}x | | {:.2}x |",
        stats[1].0 / stats[0].0,
        stats[1].1 / stats[0].1,
        stats[1].2 / stats[0].2,
        stats[1].2 / stats[0].2,
        stats[1].3 / stats[0].3
    );
    Ok(())
}
