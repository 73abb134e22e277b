//! Fuzzes the PromQL engine: any query text must parse and evaluate (instant and range, over
//! a small storage) or fail with a typed error; never panic. The regular test suite runs a
//! deterministic version of this (router/tests/promql_mutations.rs).
#![no_main]

use harrier_router::promql::{Engine, EngineOptions};
use harrier_router::store::model::ModelStorage;
use harrier_telemetry::model::{Labels, Sample};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;

fn storage() -> &'static ModelStorage {
    static STORAGE: OnceLock<ModelStorage> = OnceLock::new();
    STORAGE.get_or_init(|| {
        let storage = ModelStorage::new();
        for name in ["metric", "http_requests_total", "x_bucket"] {
            for job in ["a", "b"] {
                let labels = Labels::from_pairs([("__name__", name), ("job", job), ("le", "1")]);
                let samples: Vec<Sample> =
                    (0..30).map(|k| Sample { timestamp_ms: k * 60_000, value: k as f64 }).collect();
                storage.append(&labels, &samples);
            }
        }
        storage
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let engine = Engine::new(EngineOptions {
        max_samples: 100_000,
        timeout: Duration::from_secs(1),
        ..EngineOptions::default()
    });
    let _ = engine.instant_query(storage(), query, 15 * 60_000);
    let _ = engine.range_query(storage(), query, 0, 30 * 60_000, 60_000);
});
