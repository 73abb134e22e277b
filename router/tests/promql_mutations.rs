//! Bad queries get an error, never a panic: every query of the upstream conformance files,
//! mutated deterministically (bytes replaced, inserted, deleted, truncated, spliced with
//! another query), is parsed and evaluated, instant and range, over a small storage. A panic
//! fails the test with the query that caused it. (The cargo-fuzz target `promql_query` does
//! the same with coverage guidance.)

use harrier_router::promql::{Engine, EngineOptions};
use harrier_router::store::model::ModelStorage;
use harrier_telemetry::model::{Labels, Sample, stale_nan};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Duration;

/// A small deterministic generator (splitmix64), so failures reproduce.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn conformance_queries() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/promql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let mut queries = Vec::new();
    for file in files {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let line = line.trim();
            if !line.starts_with("eval") {
                continue;
            }
            // `eval[_x] instant at T QUERY` or `eval[_x] range from A to B step S QUERY`.
            let words: Vec<&str> = line.split_whitespace().collect();
            let skip = match words.get(1) {
                Some(&"instant") => 4,
                Some(&"range") => 8,
                _ => continue,
            };
            if words.len() > skip {
                queries.push(words[skip..].join(" "));
            }
        }
    }
    queries
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "`",
    "=~",
    "!~",
    "@",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "bool",
    "and",
    "or",
    "unless",
    "^",
    "%",
    "/",
    "*",
    "-",
    "+",
    "[5m:1s]",
    "[1y]",
    "1e308",
    "-Inf",
    "NaN",
    "0x",
    "start()",
    "end()",
    "sum(",
    "rate(",
    "topk(",
    "\\",
    "\u{ff}",
    ":",
    "[0s]",
    "[1ms:1ms]",
    "9999999999999999999",
];

fn mutate(rng: &mut SplitMix, query: &str, other: &str) -> String {
    let mut q: Vec<char> = query.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(q.len() + 1);
        match rng.below(6) {
            0 if !q.is_empty() => {
                let end = (at + 1 + rng.below(4)).min(q.len());
                q.drain(at.min(end)..end);
            }
            1 => {
                let token: Vec<char> = TOKENS[rng.below(TOKENS.len())].chars().collect();
                q.splice(at..at, token);
            }
            2 => q.truncate(at),
            3 => {
                let tail: Vec<char> = other.chars().skip(rng.below(other.len() + 1)).collect();
                q.truncate(at);
                q.extend(tail);
            }
            4 if at < q.len() => q[at] = char::from(b' ' + (rng.below(95) as u8)),
            _ => q.insert(at, char::from(b' ' + (rng.below(95) as u8))),
        }
    }
    q.into_iter().collect()
}

fn storage() -> ModelStorage {
    let storage = ModelStorage::new();
    for (i, name) in ["metric", "http_requests_total", "up", "x_bucket"].iter().enumerate() {
        for job in ["a", "b"] {
            let labels = Labels::from_pairs([("__name__", *name), ("job", job), ("le", "1")]);
            let mut samples: Vec<Sample> = (0..60)
                .map(|k| Sample { timestamp_ms: k * 60_000, value: (k as f64) * (i as f64 + 1.0) })
                .collect();
            samples.push(Sample { timestamp_ms: 61 * 60_000, value: stale_nan() });
            storage.append(&labels, &samples);
        }
    }
    storage
}

#[test]
fn mutated_queries_never_panic() {
    let queries = conformance_queries();
    assert!(queries.len() > 1000, "found only {} conformance queries", queries.len());
    let storage = storage();
    let engine = Engine::new(EngineOptions {
        max_samples: 200_000,
        timeout: Duration::from_secs(2),
        ..EngineOptions::default()
    });
    let mut rng = SplitMix(0x5eed);
    let mut panics = Vec::new();
    let (mut ok, mut errors) = (0, 0);
    let rounds = 20_000;
    for _ in 0..rounds {
        let base = &queries[rng.below(queries.len())];
        let other = &queries[rng.below(queries.len())];
        let query = mutate(&mut rng, base, other);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let instant = engine.instant_query(&storage, &query, 30 * 60_000);
            let range = engine.range_query(&storage, &query, 0, 60 * 60_000, 5 * 60_000);
            instant.is_ok() as usize + range.is_ok() as usize
        }));
        match outcome {
            Ok(n) => {
                ok += n;
                errors += 2 - n;
            }
            Err(_) => panics.push(query),
        }
    }
    eprintln!("{rounds} mutated queries: {ok} evaluations succeeded, {errors} returned errors");
    assert!(
        panics.is_empty(),
        "{} queries panicked, e.g.:\n{}",
        panics.len(),
        panics[..panics.len().min(20)].join("\n")
    );
}
