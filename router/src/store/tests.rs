//! Tests of the embedded store: chunk round trips on random data, a model test against
//! [`ModelStorage`], the write-ahead log (reopen, torn and corrupt tails, checkpoints),
//! retention, the memory bound and Prometheus's append rules.

use super::chunk::{self, ChunkEncoder};
use super::model::ModelStorage;
use super::*;
use harrier_telemetry::model::{Sample, stale_nan};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> Series {
    Series::new(
        labels(pairs),
        samples.iter().map(|&(timestamp_ms, value)| Sample { timestamp_ms, value }).collect(),
    )
}

fn matcher(op: &str, name: &str, value: &str) -> Matcher {
    let regex = || regex::Regex::new(&format!("^(?:{value})$")).unwrap();
    let op = match op {
        "=" => MatchOp::Equal,
        "!=" => MatchOp::NotEqual,
        "=~" => MatchOp::Re(regex()),
        _ => MatchOp::NotRe(regex()),
    };
    Matcher::new(op, name, value)
}

fn bits_of(all: &[Series]) -> Vec<(Labels, Vec<(i64, u64)>)> {
    all.iter()
        .map(|s| (s.labels.clone(), s.samples.iter().map(|x| (x.timestamp_ms, x.value.to_bits())).collect()))
        .collect()
}

fn everything(store: &impl Queryable) -> Vec<(Labels, Vec<(i64, u64)>)> {
    bits_of(&store.select(&[], i64::MIN, i64::MAX).unwrap())
}

fn random_value(rng: &mut StdRng, previous: f64) -> f64 {
    match rng.random_range(0..12) {
        0 => f64::from_bits(rng.random::<u64>()),
        1 => f64::from_bits(0x7ff8_0000_0000_0000 | rng.random_range(1..1u64 << 51)),
        2 => f64::INFINITY,
        3 => f64::NEG_INFINITY,
        4 => stale_nan(),
        5 => -0.0,
        6 | 7 => previous,
        8 => previous + f64::from(rng.random_range(0..100u32)),
        9 => (rng.random_range(0..100_000u32) as f64) / 100.0,
        _ => rng.random::<f64>() * 1e6,
    }
}

fn random_delta(rng: &mut StdRng) -> i64 {
    match rng.random_range(0..10) {
        0 => rng.random_range(1..i64::MAX / 4),
        1 => rng.random_range(1..100_000_000),
        2 | 3 => 15_000 + rng.random_range(-500..500),
        4 => rng.random_range(1..10),
        _ => 15_000,
    }
}

#[test]
fn chunk_round_trips_random_data_bit_exact() {
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..2000 {
        let count = rng.random_range(1..=chunk::SAMPLES_PER_CHUNK as usize);
        let mut timestamp: i64 = match rng.random_range(0..3) {
            0 => i64::MIN + rng.random_range(0..1000),
            1 => -rng.random_range(0..1_000_000_000),
            _ => rng.random_range(0..2_000_000_000_000),
        };
        let mut value = 0.0;
        let mut expected = Vec::new();
        let mut encoder = ChunkEncoder::new();
        for _ in 0..count {
            value = random_value(&mut rng, value);
            encoder.append(timestamp, value.to_bits());
            expected.push((timestamp, value.to_bits()));
            timestamp = timestamp.saturating_add(random_delta(&mut rng));
            if timestamp == i64::MAX {
                break;
            }
        }
        let decoded: Vec<(i64, u64)> = chunk::decode(encoder.bytes()).collect();
        assert_eq!(decoded, expected);
        assert_eq!(chunk::decode(&encoder.finish()).count(), expected.len());
        assert_eq!(usize::from(chunk::sample_count(encoder.bytes())), expected.len());
    }
}

#[test]
fn chunk_regular_data_is_small() {
    let mut encoder = ChunkEncoder::new();
    for i in 0..120i64 {
        encoder.append(1_700_000_000_000 + i * 15_000, ((1000 + i * 7) as f64).to_bits());
    }
    // 16 bytes for the first sample, then about 2 bytes a sample at most.
    assert!(encoder.bytes().len() < 16 + 2 * 120, "{} bytes", encoder.bytes().len());
}

#[test]
fn chunk_decoder_survives_garbage() {
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..2000 {
        let len = rng.random_range(0..200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        assert!(chunk::decode(&bytes).count() <= usize::from(u16::MAX));
    }
    // A valid chunk cut short decodes a prefix.
    let mut encoder = ChunkEncoder::new();
    for i in 0..50 {
        encoder.append(i * 1000, (i as f64 * 1.5).to_bits());
    }
    let cut = &encoder.bytes()[..encoder.bytes().len() / 2];
    let prefix: Vec<(i64, u64)> = chunk::decode(cut).collect();
    assert!(!prefix.is_empty() && prefix.len() < 50);
    assert_eq!(prefix[0], (0, 0f64.to_bits()));
}

#[test]
fn append_semantics_follow_prometheus() {
    let store = Store::in_memory();
    let up = [("__name__", "up"), ("job", "a")];
    let outcome = store.append(&[series(&up, &[(1000, 1.0), (2000, 2.0)])]).unwrap();
    assert_eq!(outcome, AppendOutcome { appended: 2, ..AppendOutcome::default() });
    let outcome = store
        .append(&[series(
            &up,
            &[(1500, 9.0), (2000, 2.0), (2000, 3.0), (3000, stale_nan()), (3000, f64::NAN)],
        )])
        .unwrap();
    assert_eq!(
        outcome,
        AppendOutcome {
            appended: 1,
            identical_duplicates: 1,
            out_of_order: 1,
            duplicate_timestamp: 2,
            too_old: 0
        }
    );
    assert_eq!(outcome.rejected(), 3);
    let got = store.select(&[matcher("=", "__name__", "up")], 0, 10_000).unwrap();
    assert_eq!(got.len(), 1);
    let values: Vec<u64> = got[0].samples.iter().map(|s| s.value.to_bits()).collect();
    assert_eq!(values, [1f64.to_bits(), 2f64.to_bits(), stale_nan().to_bits()]);
    // Range bounds are inclusive, and series without samples in range are left out.
    assert_eq!(store.select(&[], 2000, 2000).unwrap()[0].samples.len(), 1);
    assert!(store.select(&[], 3001, 9000).unwrap().is_empty());
    store.clear();
    assert_eq!(store.stats().series, 0);
    assert!(store.select(&[], i64::MIN, i64::MAX).unwrap().is_empty());
}

const NAMES: [&str; 3] = ["cpu", "mem", "up"];
const JOBS: [&str; 4] = ["api", "db", "web", ""];
const ZONES: [&str; 3] = ["a", "b", ""];

fn random_labels(rng: &mut StdRng) -> Labels {
    let mut pairs = vec![("__name__", NAMES[rng.random_range(0..NAMES.len())])];
    pairs.push(("job", JOBS[rng.random_range(0..JOBS.len())]));
    pairs.push(("zone", ZONES[rng.random_range(0..ZONES.len())]));
    let instance = format!("i{}", rng.random_range(0..4));
    let mut owned: Vec<(String, String)> =
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    owned.push(("instance".into(), instance));
    Labels::from_pairs(owned)
}

fn random_matcher(rng: &mut StdRng) -> Matcher {
    let name = ["__name__", "job", "zone", "instance", "missing"][rng.random_range(0..5)];
    let value = ["", "api", "db", "a", "up", "i1", "cpu|mem", ".*", ".+", "a.*", "i[12]", "x"]
        [rng.random_range(0..12)];
    let op = ["=", "!=", "=~", "!~"][rng.random_range(0..4)];
    matcher(op, name, value)
}

#[test]
fn model_random_appends_and_queries_match_model_storage() {
    let mut rng = StdRng::seed_from_u64(42);
    for round in 0..4 {
        let store = Store::in_memory();
        let model = ModelStorage::new();
        let mut last: std::collections::HashMap<Labels, (i64, u64)> = Default::default();
        for _ in 0..300 {
            let mut batch = Vec::new();
            for _ in 0..rng.random_range(1..20) {
                let labels = random_labels(&mut rng);
                let (mut t, mut v) = last
                    .get(&labels)
                    .map_or((rng.random_range(0..100_000), 0.0), |&(t, v)| (t, f64::from_bits(v)));
                let mut samples = Vec::new();
                for _ in 0..rng.random_range(1..30) {
                    t +=
                        if rng.random_range(0..20) == 0 { 0 } else { random_delta(&mut rng) % 1_000_000 + 1 };
                    if rng.random_range(0..20) != 0 {
                        v = random_value(&mut rng, v);
                    }
                    samples.push(Sample { timestamp_ms: t, value: v });
                }
                // What the store accepts: increasing timestamps (a repeat with equal bits is a no-op).
                let mut accepted = Vec::new();
                let mut previous = last.get(&labels).copied();
                for s in &samples {
                    match previous {
                        Some((pt, _)) if s.timestamp_ms <= pt => {}
                        _ => {
                            accepted.push(*s);
                            previous = Some((s.timestamp_ms, s.value.to_bits()));
                        }
                    }
                }
                if let Some(p) = previous {
                    last.insert(labels.clone(), p);
                }
                model.append(&labels, &accepted);
                batch.push(Series::new(labels, samples));
            }
            store.append(&batch).unwrap();
        }
        assert!(store.stats().chunks > store.stats().series, "several chunks per series");
        for _ in 0..300 {
            let matchers: Vec<Matcher> =
                (0..rng.random_range(0..3)).map(|_| random_matcher(&mut rng)).collect();
            let mint = rng.random_range(0..50_000_000);
            let maxt = mint + rng.random_range(0..100_000_000);
            let context = format!("round {round}: {matchers:?} [{mint}, {maxt}]");
            assert_eq!(
                bits_of(&store.select(&matchers, mint, maxt).unwrap()),
                bits_of(&model.select(&matchers, mint, maxt).unwrap()),
                "{context}"
            );
            assert_eq!(
                store.label_names(&matchers, mint, maxt).unwrap(),
                model.label_names(&matchers, mint, maxt).unwrap(),
                "{context}"
            );
            for name in ["job", "zone", "missing"] {
                assert_eq!(
                    store.label_values(name, &matchers, mint, maxt).unwrap(),
                    model.label_values(name, &matchers, mint, maxt).unwrap(),
                    "{name} {context}"
                );
            }
            assert_eq!(
                store.series(&matchers, mint, maxt).unwrap(),
                model.series(&matchers, mint, maxt).unwrap(),
                "{context}"
            );
        }
    }
}

#[test]
fn empty_matching_matchers_select_series_without_the_label() {
    let store = Store::in_memory();
    store
        .append(&[
            series(&[("__name__", "m"), ("a", "1")], &[(1, 1.0)]),
            series(&[("__name__", "m"), ("a", "2")], &[(1, 2.0)]),
            series(&[("__name__", "m")], &[(1, 3.0)]),
        ])
        .unwrap();
    let count = |ms: &[Matcher]| store.select(ms, 0, 10).unwrap().len();
    assert_eq!(count(&[matcher("=", "a", "")]), 1);
    assert_eq!(count(&[matcher("!=", "a", "1")]), 2);
    assert_eq!(count(&[matcher("=~", "a", "1|")]), 2);
    assert_eq!(count(&[matcher("!~", "a", ".+")]), 1);
    assert_eq!(count(&[matcher("=~", "a", ".+")]), 2);
    assert_eq!(count(&[matcher("=", "__name__", "m"), matcher("!=", "b", "x")]), 3);
    assert_eq!(store.label_values("a", &[], 0, 10).unwrap(), ["1", "2"]);
    assert!(store.label_values("a", &[], 5, 10).unwrap().is_empty());
}

fn open_at(dir: &Path) -> Store {
    Store::open(StoreOptions {
        dir: Some(dir.to_path_buf()),
        retention: Duration::MAX,
        ..StoreOptions::default()
    })
    .unwrap()
}

fn batch(round: i64, series_count: usize) -> Vec<Series> {
    (0..series_count)
        .map(|i| {
            let instance = format!("host-{i}");
            let value = if round % 7 == 3 { stale_nan() } else { (round * 10 + i as i64) as f64 };
            series(&[("__name__", "m"), ("instance", &instance)], &[(round * 15_000, value)])
        })
        .collect()
}

fn latest_segment(dir: &Path) -> std::path::PathBuf {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segments.sort();
    segments.pop().unwrap()
}

#[test]
fn buffered_appends_are_visible_at_once_and_durable_after_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_at(dir.path());
    for round in 0..10 {
        let outcome = store.append_buffered(&batch(round, 5));
        assert_eq!(outcome.appended, 5);
    }
    assert_eq!(everything(&store)[0].1.len(), 10, "visible before any sync");
    store.sync().unwrap();
    // A durable append by someone else also covers earlier buffered ones.
    store.append_buffered(&batch(10, 5));
    store.append(&batch(11, 5)).unwrap();
    let before = everything(&store);
    drop(store);
    let store = open_at(dir.path());
    assert_eq!(everything(&store), before);
    assert_eq!(before[0].1.len(), 12);
    assert!(Store::in_memory().sync().is_ok());
}

#[test]
fn wal_reopen_after_drop_without_close_restores_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_at(dir.path());
    for round in 0..300 {
        store.append(&batch(round, 20)).unwrap();
    }
    let before = everything(&store);
    assert_eq!(before.len(), 20);
    assert_eq!(before[0].1.len(), 300);
    drop(store);
    let store = open_at(dir.path());
    assert_eq!(everything(&store), before);
    assert_eq!(store.stats().wal_corrupt_records, 0);
    // After a checkpoint, more appends, and another reopen: still everything.
    store.checkpoint().unwrap();
    for round in 300..400 {
        store.append(&batch(round, 25)).unwrap();
    }
    // In-order rules survive a restart too.
    let before = everything(&store);
    drop(store);
    let store = open_at(dir.path());
    assert_eq!(everything(&store), before);
    let outcome = store.append(&batch(10, 1)).unwrap();
    assert_eq!(outcome.out_of_order, 1);
    // Old segments and checkpoints are deleted.
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(files <= 3, "{files} files: lock, one checkpoint, one segment");
}

#[test]
fn wal_torn_tail_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_at(dir.path());
    for round in 0..10 {
        store.append(&batch(round, 5)).unwrap();
    }
    drop(store);
    let segment = latest_segment(dir.path());
    let len = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&segment).unwrap();
    file.set_len(len - 7).unwrap();
    drop(file);
    let store = open_at(dir.path());
    assert_eq!(store.stats().wal_corrupt_records, 1);
    let got = everything(&store);
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|(_, samples)| samples.len() == 9), "the last batch is lost, the rest kept");
}

#[test]
fn wal_corrupt_record_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_at(dir.path());
    for round in 0..10 {
        store.append(&batch(round, 5)).unwrap();
    }
    drop(store);
    let segment = latest_segment(dir.path());
    let mut bytes = std::fs::read(&segment).unwrap();
    let record_len = (bytes.len() - 8) / 10;
    // Flip a byte inside the payload of the 4th record: skipped by its length.
    bytes[8 + 3 * record_len + 20] ^= 0x55;
    // And garbage appended at the end, as a torn write would leave.
    bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    std::fs::write(&segment, &bytes).unwrap();
    let store = open_at(dir.path());
    assert_eq!(store.stats().wal_corrupt_records, 2);
    let got = everything(&store);
    assert!(got.iter().all(|(_, samples)| samples.len() == 9), "{got:?}");
    // The recovered store keeps working and persisting.
    store.append(&batch(10, 5)).unwrap();
    drop(store);
    let store = open_at(dir.path());
    assert_eq!(store.stats().wal_corrupt_records, 0);
    assert!(everything(&store).iter().all(|(_, samples)| samples.len() == 10));
}

#[test]
fn wal_garbage_files_never_prevent_opening() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0000000000000003.wal"), b"not a segment at all").unwrap();
    std::fs::write(dir.path().join("checkpoint.0000000000000002"), b"HRCP\x01\0\0\0garbage").unwrap();
    let store = open_at(dir.path());
    assert_eq!(store.stats().series, 0);
    assert!(store.stats().wal_corrupt_records >= 1);
    store.append(&batch(1, 3)).unwrap();
    drop(store);
    assert_eq!(everything(&open_at(dir.path())).len(), 3);
}

#[test]
fn a_directory_is_used_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open_at(dir.path());
    let options = StoreOptions { dir: Some(dir.path().to_path_buf()), ..StoreOptions::default() };
    assert!(matches!(Store::open(options), Err(StoreError::Locked { .. })));
}

#[test]
fn concurrent_appenders_share_the_log_and_all_survive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open_at(dir.path()));
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for round in 0..50 {
                    let instance = format!("t{thread}");
                    store
                        .append(&[series(&[("__name__", "c"), ("instance", &instance)], &[(round, 1.0)])])
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    drop(store);
    let store = open_at(dir.path());
    let got = everything(&store);
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|(_, samples)| samples.len() == 50));
}

#[test]
fn log_is_checkpointed_when_it_outgrows_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        dir: Some(dir.path().to_path_buf()),
        retention: Duration::MAX,
        checkpoint_bytes: 64 << 10,
        ..StoreOptions::default()
    };
    let store = Store::open(options.clone()).unwrap();
    for round in 0..400 {
        store.append(&batch(round, 20)).unwrap();
    }
    // The background checkpoint runs after the append that crossed the threshold.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while store.stats().checkpoints < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(store.stats().checkpoints >= 2);
    let before = everything(&store);
    drop(store);
    let store = Store::open(options).unwrap();
    assert_eq!(everything(&store), before);
}

#[test]
fn retention_drops_old_data_and_rejects_old_samples() {
    let hour = 3_600_000;
    let store = Store::open(StoreOptions { retention: Duration::from_secs(3600), ..StoreOptions::default() })
        .unwrap();
    // One series with 3 hours of 15 s samples, one with a single old sample.
    let long: Vec<(i64, f64)> = (0..720).map(|i| (i * 15_000, i as f64)).collect();
    store
        .append(&[series(&[("__name__", "long")], &long), series(&[("__name__", "old")], &[(1000, 1.0)])])
        .unwrap();
    assert_eq!(store.enforce_retention(0), Dropped::default(), "nothing old yet");
    let now = 3 * hour;
    let dropped = store.enforce_retention(now);
    assert_eq!(dropped.series, 1);
    assert!(dropped.chunks >= 3, "{dropped:?}");
    let stats = store.stats();
    assert_eq!(stats.series, 1);
    assert_eq!(stats.expired, dropped);
    let kept = store.select(&[], i64::MIN, i64::MAX).unwrap();
    // Whole chunks go: what is left starts at most one chunk before the cutoff.
    let first = kept[0].samples[0].timestamp_ms;
    assert!(first <= now - hour && first > now - hour - 120 * 15_000, "first kept {first}");
    assert_eq!(stats.samples, kept[0].samples.len() as u64);
    let outcome =
        store.append(&[series(&[("__name__", "late")], &[(now - hour - 1, 1.0), (now, 2.0)])]).unwrap();
    assert_eq!((outcome.too_old, outcome.appended), (1, 1));
    // Calling again with nothing to drop is a no-op.
    assert_eq!(store.enforce_retention(now), Dropped::default());
}

#[test]
fn memory_bound_drops_oldest_chunks_first() {
    let max_bytes = 128 << 10;
    let store =
        Store::open(StoreOptions { max_bytes, retention: Duration::MAX, ..StoreOptions::default() }).unwrap();
    for round in 0..2000 {
        let batch: Vec<Series> = (0..50)
            .map(|i| {
                let name = format!("s{i}");
                series(&[("__name__", &name)], &[(round * 15_000, (round * i) as f64 * 0.37)])
            })
            .collect();
        store.append(&batch).unwrap();
        let stats = store.stats();
        assert!(stats.chunk_bytes + stats.index_bytes <= max_bytes, "round {round}: {stats:?}");
    }
    let stats = store.stats();
    assert!(stats.evicted.chunks > 0 && stats.evicted.samples > 0, "{stats:?}");
    assert_eq!(stats.series, 50, "old chunks went first, no series was dropped");
    let got = store.select(&[], i64::MIN, i64::MAX).unwrap();
    assert!(got.iter().all(|s| s.samples.last().unwrap().timestamp_ms == 1999 * 15_000));
    assert!(got.iter().all(|s| s.samples[0].timestamp_ms > 0), "the oldest data is gone");
    let kept: u64 = got.iter().map(|s| s.samples.len() as u64).sum();
    assert_eq!(kept, stats.samples);
    assert_eq!(kept + stats.evicted.samples, 50 * 2000);
}

#[test]
fn fast_label_comparison_agrees_with_labels_order() {
    let sets = [
        labels(&[("a", "1")]),
        labels(&[("a", "10")]),
        labels(&[("a", "1"), ("b", "2")]),
        labels(&[("ab", "1")]),
        labels(&[("a", "1"), ("c", "0")]),
        labels(&[("__name__", "up"), ("z", "é")]),
        labels(&[("__name__", "up"), ("z", "e")]),
        Labels::new(),
    ];
    for a in &sets {
        for b in &sets {
            assert_eq!(super::head::compare_labels(a, b), a.cmp(b), "{a:?} vs {b:?}");
        }
    }
}

fn histogram(count: f64, buckets: &[f64]) -> Arc<FloatHistogram> {
    Arc::new(FloatHistogram {
        count,
        sum: count * 2.0,
        zero_threshold: 0.001,
        positive_spans: vec![crate::histogram::Span { offset: -1, length: buckets.len() as u32 }],
        positive_buckets: buckets.to_vec(),
        ..FloatHistogram::default()
    })
}

fn histogram_samples(points: &[(i64, f64)]) -> Vec<HistogramSample> {
    points
        .iter()
        .map(|&(timestamp_ms, count)| HistogramSample { timestamp_ms, histogram: histogram(count, &[count]) })
        .collect()
}

#[test]
fn histogram_samples_are_selected_beside_floats() {
    let store = Store::in_memory();
    store.append(&[series(&[("__name__", "f")], &[(1000, 1.0)])]).unwrap();
    let h_labels = labels(&[("__name__", "h")]);
    let outcome =
        store.append_histograms(&h_labels, &histogram_samples(&[(1000, 1.0), (2000, 3.0)])).unwrap();
    assert_eq!(outcome.appended, 2);
    assert_eq!((store.stats().histogram_series, store.stats().histogram_samples), (1, 2));
    // Out of order and conflicting duplicates are rejected, identical duplicates accepted.
    let again = store
        .append_histograms(&h_labels, &histogram_samples(&[(500, 1.0), (2000, 4.0), (2000, 3.0)]))
        .unwrap();
    assert_eq!((again.out_of_order, again.duplicate_timestamp), (1, 1));

    let all = store.select_series(&[], 0, 10_000).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].labels, labels(&[("__name__", "f")]));
    assert_eq!(all[0].floats.len(), 1);
    assert!(all[0].histograms.is_empty());
    assert_eq!(all[1].labels, h_labels);
    assert_eq!(all[1].histograms.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), vec![1000, 2000]);
    // The second sample follows the first without a reset.
    assert_eq!(
        all[1].histograms[1].histogram.counter_reset_hint,
        crate::histogram::CounterResetHint::NotCounterReset
    );
    // A range excludes samples outside it, and label queries see histogram-only series.
    let later = store.select_series(&[], 1500, 10_000).unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].histograms.len(), 1);
    assert_eq!(store.label_values("__name__", &[], 0, 10_000).unwrap(), vec!["f", "h"]);
    assert_eq!(store.series(&[matcher("=", "__name__", "h")], 0, 10_000).unwrap(), vec![h_labels]);

    // The model storage agrees.
    let model = ModelStorage::new();
    model.append(&labels(&[("__name__", "f")]), &[Sample { timestamp_ms: 1000, value: 1.0 }]);
    model.append_histograms(&labels(&[("__name__", "h")]), &histogram_samples(&[(1000, 1.0), (2000, 3.0)]));
    assert_eq!(model.select_series(&[], 0, 10_000).unwrap(), all);
}

#[test]
fn histogram_counter_resets_read_back_as_unknown() {
    let store = Store::in_memory();
    let h_labels = labels(&[("__name__", "h")]);
    store.append_histograms(&h_labels, &histogram_samples(&[(1000, 5.0), (2000, 2.0), (3000, 4.0)])).unwrap();
    let stored = &store.select_series(&[], 0, 10_000).unwrap()[0].histograms;
    use crate::histogram::CounterResetHint::{NotCounterReset, Unknown};
    let hints: Vec<_> = stored.iter().map(|s| s.histogram.counter_reset_hint).collect();
    assert_eq!(hints, vec![Unknown, Unknown, NotCounterReset]);
}

#[test]
fn histogram_samples_survive_reopen_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let h_labels = labels(&[("__name__", "h"), ("job", "a")]);
    let samples = histogram_samples(&[(1000, 1.0), (2000, 2.5)]);
    let expected = {
        let store = open_at(dir.path());
        store.append_histograms(&h_labels, &samples).unwrap();
        store.select_series(&[], 0, 10_000).unwrap()
    };
    // Replayed from the log (open writes a checkpoint, so the second reopen reads that).
    for _ in 0..2 {
        let store = open_at(dir.path());
        assert_eq!(store.select_series(&[], 0, 10_000).unwrap(), expected);
    }
    {
        let store = open_at(dir.path());
        store.append_histograms(&h_labels, &histogram_samples(&[(3000, 4.0)])).unwrap();
        store.checkpoint().unwrap();
    }
    let store = open_at(dir.path());
    let all = store.select_series(&[], 0, 10_000).unwrap();
    assert_eq!(all[0].histograms.len(), 3);
    assert_eq!(all[0].histograms[2].histogram.count, 4.0);
    assert_eq!(all[0].histograms[..2], expected[0].histograms[..]);
    store.clear();
    drop(store);
    assert!(open_at(dir.path()).select_series(&[], 0, 10_000).unwrap().is_empty());
}

#[test]
fn retention_drops_old_histogram_samples() {
    let store =
        Store::open(StoreOptions { retention: Duration::from_secs(10), ..StoreOptions::default() }).unwrap();
    let h_labels = labels(&[("__name__", "h")]);
    store.append_histograms(&h_labels, &histogram_samples(&[(1_000, 1.0), (20_000, 2.0)])).unwrap();
    let dropped = store.enforce_retention(25_000);
    assert_eq!(dropped.samples, 1);
    let left = store.select_series(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(left[0].histograms.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), vec![20_000]);
    store.enforce_retention(40_000);
    assert!(store.select_series(&[], i64::MIN, i64::MAX).unwrap().is_empty());
}
