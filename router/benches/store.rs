//! Benchmarks of the embedded store on remote_write-like data: 100k series (50 metric names,
//! 2000 instances) scraped every 15 s, appended in batches of 2000 series with one sample each.
//! Two data sets ([`DataSet`]):
//!
//! - *regular*: what most scraped series look like: integer-valued counters (idle ones that
//!   rarely move, busy ones) at exact 15 s intervals;
//! - *harsh*: a mix of idle and busy counters, integer gauges (multiples of 4096) and 2-decimal
//!   gauges, and a quarter of the series with a few ms of timestamp jitter.
//!
//! - `ingest/memory`, `ingest/wal`: one scrape round (100k samples) per iteration, in memory and
//!   with the write-ahead log (fsync per batch) on a temporary directory.
//! - `select/*`: over a store holding 10 minutes of data, a 5-minute window of all 100k series,
//!   and of one metric (2000 series).
//!
//! The criterion benchmarks use the harsh data. Before them, `memory_report` ingests one hour
//! (240 rounds) of each data set and prints the store's `stats()`: bytes per sample in chunks
//! only and including index and bookkeeping, the ingest rate, and the latency of a 5-minute
//! select of all series (set `STORE_BENCH_SKIP_MEMORY_REPORT` to skip it).

use criterion::{Criterion, Throughput, criterion_group};
use harrier_router::store::{MatchOp, Matcher, Queryable, Store, StoreOptions};
use harrier_telemetry::model::{Labels, Sample, Series, now_ms};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

const SERIES: usize = 100_000;
const BATCH: usize = 2000;
const INTERVAL_MS: i64 = 15_000;

/// Which values and timestamps a [`Workload`] generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataSet {
    /// Integer-valued counters at exact 15 s intervals.
    Regular,
    /// Counters, integer and 2-decimal gauges; a quarter of the series with timestamp jitter.
    Harsh,
}

/// The series of the benchmark and each one's current value.
struct Workload {
    data_set: DataSet,
    labels: Vec<Labels>,
    values: Vec<f64>,
    rng: StdRng,
    round: i64,
    /// The first round's time: now, so the store's retention keeps everything.
    start_ms: i64,
}

impl Workload {
    fn new(data_set: DataSet) -> Self {
        let labels = (0..SERIES)
            .map(|i| {
                let metric = format!("app_metric_{}_total", i % 50);
                let instance = format!("10.0.{}.{}:9100", (i / 50) / 250, (i / 50) % 250);
                let pod = format!("pod-{}-{:x}", (i / 50) % 2000, i * 7919 % 65536);
                Labels::from_pairs([
                    ("__name__", metric.as_str()),
                    ("job", "kubernetes-pods"),
                    ("namespace", ["default", "payments", "search", "infra"][i % 4]),
                    ("instance", instance.as_str()),
                    ("pod", pod.as_str()),
                ])
            })
            .collect();
        Workload {
            data_set,
            labels,
            values: vec![0.0; SERIES],
            rng: StdRng::seed_from_u64(1),
            round: 0,
            start_ms: now_ms(),
        }
    }

    /// The next scrape round, as batches of remote_write series.
    fn next_round(&mut self) -> Vec<Vec<Series>> {
        let base = self.start_ms + self.round * INTERVAL_MS;
        self.round += 1;
        let mut batches = Vec::with_capacity(SERIES / BATCH);
        for chunk_start in (0..SERIES).step_by(BATCH) {
            let mut batch = Vec::with_capacity(BATCH);
            for i in chunk_start..chunk_start + BATCH {
                let rng = &mut self.rng;
                let value = &mut self.values[i];
                let class = match self.data_set {
                    // Half idle, half busy counters.
                    DataSet::Regular => [0, 4][i % 2],
                    DataSet::Harsh => i % 10,
                };
                match class {
                    // Idle counters (errors, restarts): rarely move.
                    0..=3 => {
                        if rng.random_range(0..10) == 0 {
                            *value += 1.0;
                        }
                    }
                    // Busy counters: requests, bytes.
                    4..=6 => *value += f64::from(rng.random_range(0..50u32)),
                    // Integer gauges (memory bytes): move now and then.
                    7 | 8 => {
                        if rng.random_range(0..3) == 0 {
                            *value = f64::from(rng.random_range(1000..2000u32)) * 4096.0;
                        }
                    }
                    // Two-decimal gauges (load, temperature).
                    _ => *value = ((*value + rng.random_range(-1.0..1.0)) * 100.0).round() / 100.0,
                }
                let jitter =
                    if self.data_set == DataSet::Harsh && i % 4 == 0 { rng.random_range(-3..=3) } else { 0 };
                let timestamp_ms = base + (i as i64 % 1000) + jitter;
                batch.push(Series::new(self.labels[i].clone(), vec![Sample { timestamp_ms, value: *value }]));
            }
            batches.push(batch);
        }
        batches
    }
}

fn ingest(store: &Store, round: &[Vec<Series>]) {
    for batch in round {
        let outcome = store.append(batch).expect("append");
        assert_eq!(outcome.appended as usize, batch.len());
    }
}

fn memory_report(data_set: DataSet) {
    let store = Store::in_memory();
    let mut workload = Workload::new(data_set);
    let mut spent = Duration::ZERO;
    for _ in 0..240 {
        let round = workload.next_round();
        let start = Instant::now();
        ingest(&store, &round);
        spent += start.elapsed();
    }
    let stats = store.stats();
    println!(
        "{data_set:?} data, 1h of 100k series: {} samples, {:.3} bytes/sample in chunks, {:.3} bytes/sample with \
         index and bookkeeping (chunks {:.1} MiB, index+series {:.1} MiB); ingest {:.2} M samples/s",
        stats.samples,
        stats.bytes_per_sample,
        stats.total_bytes_per_sample,
        stats.chunk_bytes as f64 / f64::from(1 << 20),
        stats.index_bytes as f64 / f64::from(1 << 20),
        stats.samples as f64 / spent.as_secs_f64() / 1e6,
    );
    let name = Matcher::new(MatchOp::Re(regex::Regex::new("^(?:.+)$").expect("regex")), "__name__", ".+");
    let maxt = workload.start_ms + 239 * INTERVAL_MS + 1000;
    let start = Instant::now();
    let selected = store.select(&[name], maxt - 300_000, maxt).expect("select");
    println!(
        "{data_set:?} data, select of {} series over 5m (of 1h): {:?}, {} samples",
        selected.len(),
        start.elapsed(),
        selected.iter().map(|s| s.samples.len()).sum::<usize>()
    );
}

fn bench_ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(SERIES as u64)).sample_size(10);
    let store = Store::in_memory();
    let mut workload = Workload::new(DataSet::Harsh);
    group.bench_function("memory", |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                let round = workload.next_round();
                let start = Instant::now();
                ingest(&store, &round);
                spent += start.elapsed();
            }
            spent
        })
    });
    drop(store);
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions { dir: Some(dir.path().to_path_buf()), ..StoreOptions::default() };
    let store = Store::open(options).expect("open");
    let mut workload = Workload::new(DataSet::Harsh);
    group.bench_function("wal", |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                let round = workload.next_round();
                let start = Instant::now();
                ingest(&store, &round);
                spent += start.elapsed();
            }
            spent
        })
    });
    group.finish();
}

fn bench_select(c: &mut Criterion) {
    let store = Store::in_memory();
    let mut workload = Workload::new(DataSet::Harsh);
    for _ in 0..40 {
        ingest(&store, &workload.next_round());
    }
    let maxt = workload.start_ms + 39 * INTERVAL_MS + 1000;
    let all = Matcher::new(MatchOp::Re(regex::Regex::new("^(?:.+)$").expect("regex")), "__name__", ".+");
    let one = Matcher::new(MatchOp::Equal, "__name__", "app_metric_7_total");
    let mut group = c.benchmark_group("select");
    group.sample_size(10);
    group.bench_function("100k_series_5m", |b| {
        b.iter(|| {
            let got = store.select(std::slice::from_ref(&all), maxt - 300_000, maxt).expect("select");
            assert_eq!(got.len(), SERIES);
        })
    });
    group.bench_function("2k_series_5m", |b| {
        b.iter(|| {
            let got = store.select(std::slice::from_ref(&one), maxt - 300_000, maxt).expect("select");
            assert_eq!(got.len(), SERIES / 50);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_ingest, bench_select);

fn main() {
    // Skippable (it ingests an hour of data first), e.g. when profiling one benchmark.
    if std::env::var_os("STORE_BENCH_SKIP_MEMORY_REPORT").is_none() {
        memory_report(DataSet::Regular);
        memory_report(DataSet::Harsh);
    }
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
