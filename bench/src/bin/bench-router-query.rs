//! `bench-router-query`: the router's store and PromQL engine against Prometheus on the same
//! data, in one run.
//!
//! Starts Debian's `prometheus` (server mode, remote-write receiver on) and `harrier router`,
//! each on a free loopback port with a fresh data directory, writes the same `--series` counter
//! series (`--samples` samples each, 15 s apart, ending now) to both with remote_write, then
//! runs `--query` (default `sum by (job) (rate(x[5m]))`) `--runs` times against each, alternating,
//! and prints: ingest wall time and samples/s, the query latency (median, p90, min) of each and
//! the ratio, and each process's CPU-seconds and peak RSS.

use anyhow::bail;
use clap::Parser;
use harrier_bench::process::{free_port, spawn, usage, wait_ready, write_all};
use harrier_telemetry::model::{Labels, Sample, Series, now_ms};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "Compare the router's query latency and ingest with Prometheus's, on the same data")]
struct Args {
    /// Number of series.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Samples per series, 15 s apart (120 = 30 minutes).
    #[arg(long, default_value_t = 120)]
    samples: usize,
    /// Series per remote_write request.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
    /// The query to time (instant, at the newest sample).
    #[arg(long, default_value = "sum by (job) (rate(x[5m]))")]
    query: String,
    /// Timed runs per peer (after one warm-up run each).
    #[arg(long, default_value_t = 20)]
    runs: usize,
    #[arg(long, default_value = "prometheus")]
    prometheus: String,
    /// The harrier binary.
    #[arg(long)]
    harrier: PathBuf,
    /// Where to put data directories and logs (a temporary directory by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

fn dataset(args: &Args, first_ts: i64) -> Vec<Series> {
    (0..args.series)
        .map(|i| {
            let labels = Labels::from_pairs([
                ("__name__", "x".to_string()),
                ("job", format!("job-{}", i % 10)),
                ("instance", format!("10.{}.{}.{}:9100", i / 65536, (i / 256) % 256, i % 256)),
                ("path", format!("/api/v{}/items", i % 7)),
            ]);
            let mut v = (i % 1000) as f64;
            let samples = (0..args.samples)
                .map(|k| {
                    v += ((i + k) % 13) as f64;
                    Sample { timestamp_ms: first_ts + k as i64 * 15_000, value: v }
                })
                .collect();
            Series::new(labels, samples)
        })
        .collect()
}

async fn time_query(
    client: &reqwest::Client,
    url: &str,
    query: &str,
    at: f64,
) -> anyhow::Result<(Duration, usize)> {
    let start = Instant::now();
    let resp = client
        .post(format!("{url}/api/v1/query"))
        .form(&[("query", query.to_string()), ("time", format!("{at:.3}"))])
        .send()
        .await?;
    let body: serde_json::Value = resp.json().await?;
    let elapsed = start.elapsed();
    if body["status"] != "success" {
        bail!("{url}: query failed: {body}");
    }
    Ok((elapsed, body["data"]["result"].as_array().map_or(0, Vec::len)))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let temp = tempfile::tempdir()?;
    let work = args.work_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&work)?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?;

    let prom_port = free_port()?;
    std::fs::write(work.join("prometheus.yml"), "global:\n  scrape_interval: 1m\n")?;
    let mut prometheus = spawn(
        "prometheus",
        Command::new(&args.prometheus)
            .arg(format!("--config.file={}", work.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", work.join("prometheus-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--web.enable-remote-write-receiver"),
        &work.join("prometheus.log"),
        prom_port,
    )?;
    let router_port = free_port()?;
    let mut router = spawn(
        "harrier router",
        Command::new(&args.harrier)
            .arg("router")
            .arg("--listen")
            .arg(format!("127.0.0.1:{router_port}"))
            .arg("--data-dir")
            .arg(work.join("router-data")),
        &work.join("router.log"),
        router_port,
    )?;
    wait_ready(&client, &mut prometheus, Duration::from_secs(120)).await?;
    wait_ready(&client, &mut router, Duration::from_secs(120)).await?;

    let last_ts = now_ms() / 15_000 * 15_000;
    let first_ts = last_ts - (args.samples as i64 - 1) * 15_000;
    let data = dataset(&args, first_ts);
    let bodies: Vec<Vec<u8>> =
        data.chunks(args.batch).map(harrier_telemetry::remote_write::encode_request).collect();
    drop(data);
    let total_samples = (args.series * args.samples) as f64;
    println!("data: {} series x {} samples = {} samples", args.series, args.samples, total_samples);

    let mut ingest = Vec::new();
    for peer in [&prometheus, &router] {
        let took = write_all(&client, &peer.url, &bodies).await?;
        let u = usage(peer.pid())?;
        let (cpu, rss) = (u.cpu_seconds, u.peak_rss_mib);
        println!(
            "ingest {:>14}: {:>7.2} s wall, {:>10.0} samples/s, after ingest {:>6.1} CPU-s, peak RSS {:>7.1} MiB",
            peer.name,
            took.as_secs_f64(),
            total_samples / took.as_secs_f64(),
            cpu,
            rss
        );
        ingest.push((took, cpu, rss));
    }

    let at = (last_ts as f64 + 7_000.0) / 1000.0;
    let mut latencies = [Vec::new(), Vec::new()];
    let mut result_sizes = [0, 0];
    for run in 0..=args.runs {
        for (i, peer) in [&prometheus, &router].into_iter().enumerate() {
            let (took, size) = time_query(&client, &peer.url, &args.query, at).await?;
            result_sizes[i] = size;
            if run > 0 {
                latencies[i].push(took);
            }
        }
    }
    if result_sizes[0] != result_sizes[1] {
        bail!("result sizes differ: Prometheus {} series, router {}", result_sizes[0], result_sizes[1]);
    }
    println!(
        "query: {} ({} result series), {} runs each after a warm-up",
        args.query, result_sizes[0], args.runs
    );
    let mut medians = Vec::new();
    for (i, peer) in [&prometheus, &router].into_iter().enumerate() {
        latencies[i].sort();
        let median = percentile(&latencies[i], 0.5);
        medians.push(median);
        let u = usage(peer.pid())?;
        let (cpu, rss) = (u.cpu_seconds, u.peak_rss_mib);
        println!(
            "query  {:>14}: median {:>8.1} ms, p90 {:>8.1} ms, min {:>8.1} ms; total {:>6.1} CPU-s, peak RSS {:>7.1} MiB",
            peer.name,
            median.as_secs_f64() * 1e3,
            percentile(&latencies[i], 0.9).as_secs_f64() * 1e3,
            latencies[i][0].as_secs_f64() * 1e3,
            cpu,
            rss
        );
    }
    println!(
        "router/Prometheus: query median latency {:.2}x, ingest wall time {:.2}x, peak RSS {:.2}x",
        medians[1].as_secs_f64() / medians[0].as_secs_f64(),
        ingest[1].0.as_secs_f64() / ingest[0].0.as_secs_f64(),
        usage(router.pid())?.peak_rss_mib / usage(prometheus.pid())?.peak_rss_mib,
    );
    Ok(())
}
