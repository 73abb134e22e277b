//! PromQL conformance: runs every upstream promqltest file (`*.test` in
//! `../shared/conformance/promql/`, beside the workspace) through the engine and compares the
//! failing cases with `tests/promql_known_failures.txt`.
//!
//! The test fails when a case fails that the list does not name (a regression), or when a case
//! the list names passes or no longer exists (the list must shrink: remove the line). Run with
//! `PROMQL_KNOWN_FAILURES_WRITE=1` to rewrite the list from the current run instead.
//!
//! It prints `file: passed/total` per file, the total, and the pass rate over every file but
//! `native_histograms.test` (the bar is 95% there), and the pass rate over the cases that
//! do not need native histograms.
//!
//! The cases run on the embedded store ([`Store::in_memory`]); a second test runs them on the
//! naive [`ModelStorage`] too and requires identical outcomes, so a store bug shows up as a
//! difference rather than hiding among engine failures.

use harrier_router::promql::Engine;
use harrier_router::promqltest::{CaseResult, TestStorage, run_source, test_engine_options};
use harrier_router::store::Store;
use harrier_router::store::model::ModelStorage;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Instant;

const KNOWN_FAILURES_FILE: &str = "tests/promql_known_failures.txt";
const WRITE_ENV: &str = "PROMQL_KNOWN_FAILURES_WRITE";
const EXCLUDED_FROM_RATE: &str = "native_histograms.test";
const REASON_MAX_CHARS: usize = 200;
/// How the runner's reasons for native histogram cases start.
const NATIVE_HISTOGRAM_REASON: &str = "unsupported: native histograms";

const HEADER: &str = "\
# PromQL conformance cases (upstream promqltest files) known to fail, one per line:
#   <file>.test:<line of the eval>  <short reason>
# Checked by router/tests/promql_conformance.rs: a failing case missing here, or a listed case
# that passes, fails that test. Regenerate this file from the current engine with:
#   PROMQL_KNOWN_FAILURES_WRITE=1 cargo test -p harrier-router --test promql_conformance
";

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/promql")
}

fn known_failures_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(KNOWN_FAILURES_FILE)
}

/// The first line of a reason, whitespace collapsed, cut to a readable length.
fn short_reason(reason: &str) -> String {
    let collapsed = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= REASON_MAX_CHARS {
        return collapsed;
    }
    let cut: String = collapsed.chars().take(REASON_MAX_CHARS).collect();
    format!("{cut}...")
}

/// Case ids (`file.test:LINE`) listed in the known-failures file.
fn read_known_failures(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match line.split_once(char::is_whitespace) {
            Some((id, reason)) => (id.to_string(), reason.trim().to_string()),
            None => (line.to_string(), String::new()),
        })
        .collect()
}

fn run_file<S: TestStorage>(path: &Path, storage: &S, engine: &Engine) -> Vec<CaseResult> {
    let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    run_source(&source, storage, engine).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display())).cases
}

fn test_files() -> Vec<PathBuf> {
    let dir = conformance_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the upstream PromQL test files are expected in {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test files in {}", dir.display());
    files
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Engine panics are caught per case by the runner (and become the case's failure reason):
/// print each on one line instead of a backtrace.
fn quiet_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!("panic at {location}: {message}");
        }));
    });
}

#[test]
fn store_and_model_storage_give_the_same_outcomes() {
    quiet_panics();
    let engine = Engine::new(test_engine_options());
    let mut differences = Vec::new();
    for path in test_files() {
        let on_store = run_file(&path, &Store::in_memory(), &engine);
        let on_model = run_file(&path, &ModelStorage::new(), &engine);
        for (store_case, model_case) in on_store.iter().zip(&on_model) {
            if store_case != model_case {
                differences.push(format!(
                    "{}:{}  store: {:?}  model: {:?}",
                    file_name(&path),
                    store_case.line,
                    store_case.failure,
                    model_case.failure
                ));
            }
        }
        assert_eq!(on_store.len(), on_model.len(), "{}", path.display());
    }
    assert!(
        differences.is_empty(),
        "{} cases differ between the store and the model storage:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn promql_conformance() {
    quiet_panics();
    let files = test_files();
    let engine = Engine::new(test_engine_options());
    let storage = Store::in_memory();
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let mut summary = String::new();
    let (mut passed_total, mut cases_total) = (0, 0);
    let (mut passed_rated, mut cases_rated) = (0, 0);
    let mut needing_histograms = 0;
    for path in &files {
        let file_name = file_name(path);
        let started = Instant::now();
        let cases = run_file(path, &storage, &engine);
        let passed = cases.iter().filter(|c| c.passed()).count();
        let _ = writeln!(
            summary,
            "{file_name}: {passed}/{} ({:.1}s)",
            cases.len(),
            started.elapsed().as_secs_f64()
        );
        passed_total += passed;
        cases_total += cases.len();
        if file_name != EXCLUDED_FROM_RATE {
            passed_rated += passed;
            cases_rated += cases.len();
        }
        for case in cases {
            if let Some(reason) = case.failure {
                if reason.starts_with(NATIVE_HISTOGRAM_REASON) {
                    needing_histograms += 1;
                }
                failures.insert(format!("{file_name}:{}", case.line), short_reason(&reason));
            }
        }
    }

    let percent =
        |passed: usize, total: usize| if total == 0 { 0.0 } else { 100.0 * passed as f64 / total as f64 };
    let _ =
        writeln!(summary, "total: {passed_total}/{cases_total} ({:.1}%)", percent(passed_total, cases_total));
    let _ = writeln!(
        summary,
        "total without {EXCLUDED_FROM_RATE}: {passed_rated}/{cases_rated} ({:.1}%, the bar is 95%)",
        percent(passed_rated, cases_rated)
    );
    let floats_only = cases_total - needing_histograms;
    let _ = writeln!(
        summary,
        "cases not needing native histograms: {passed_total}/{floats_only} ({:.1}%)",
        percent(passed_total, floats_only)
    );
    println!("{summary}");

    let list_path = known_failures_path();
    if std::env::var_os(WRITE_ENV).is_some_and(|v| v == "1") {
        let mut text = HEADER.to_string();
        for (id, reason) in &failures {
            let _ = writeln!(text, "{id}  {reason}");
        }
        std::fs::write(&list_path, text).unwrap_or_else(|e| panic!("writing {}: {e}", list_path.display()));
        println!("wrote {} known failures to {}", failures.len(), list_path.display());
        return;
    }

    let known = read_known_failures(&list_path);
    let regressions: Vec<String> = failures
        .iter()
        .filter(|(id, _)| !known.contains_key(*id))
        .map(|(id, reason)| format!("{id}  {reason}"))
        .collect();
    let fixed: Vec<&String> = known.keys().filter(|id| !failures.contains_key(*id)).collect();
    let mut problems = String::new();
    if !regressions.is_empty() {
        let _ = writeln!(problems, "{} failing cases are not in {KNOWN_FAILURES_FILE}:", regressions.len());
        for line in regressions.iter().take(50) {
            let _ = writeln!(problems, "  {line}");
        }
    }
    if !fixed.is_empty() {
        let _ = writeln!(problems, "{} cases in {KNOWN_FAILURES_FILE} now pass (remove them):", fixed.len());
        for id in fixed.iter().take(50) {
            let _ = writeln!(problems, "  {id}");
        }
    }
    assert!(
        problems.is_empty(),
        "{problems}(to accept the current state: {WRITE_ENV}=1 cargo test -p harrier-router --test promql_conformance)"
    );
}
