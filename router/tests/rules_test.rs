//! `harrier rules test` against promtool's verdicts and output.
//!
//! 1. Every row of the shared `promtool/EXPECTED.tsv` (test file, promtool arguments, the exit
//!    status Prometheus 3's promtool gives) runs through
//!    [`run_files`](harrier_router::rules::unittest::run_files) and must give that status; rows
//!    listed in `rules_test_known_differences.txt` (none so far; the file may be absent) must
//!    still differ, so that the list stays true.
//! 2. The test files of `tests/rules_test/` (alerts with `for` and `keep_firing_for`, a
//!    recording rule used by a later group, templates with `$labels`, `$value`, `humanize`,
//!    `query`, external labels and URL, and two deliberately failing files) must give their
//!    expected status, and Debian's `promtool test rules` (Prometheus 2.42, which has
//!    `keep_firing_for`) must give the same; for the failing files, the same output, byte for
//!    byte. promtool must be installed (`sudo apt-get install -y prometheus`): the tests fail
//!    without it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use harrier_router::rules::unittest::{UnitTestOptions, run_files};

const SHARED: &str = "../../shared/conformance/promtool";
const KNOWN_DIFFERENCES: &str = "tests/rules_test_known_differences.txt";
const OWN: &str = "tests/rules_test";
const PROMTOOL: &str = "/usr/bin/promtool";

/// Our own test files and the exit status they must give.
const OWN_CASES: &[(&str, i32)] = &[
    ("alerts_test.yml", 0),
    ("keep_firing_test.yml", 0),
    ("failing_test.yml", 1),
    ("failing_details_test.yml", 1),
];

/// Failing files whose whole output must be promtool's.
const FAILING_OUTPUT: &[&str] = &["failing_test.yml", "failing_details_test.yml"];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// promtool's flags as `UnitTestOptions`.
fn parse_args(args: &str) -> Result<UnitTestOptions, String> {
    let mut options = UnitTestOptions::default();
    if args.trim() == "-" {
        return Ok(options);
    }
    let mut words = args.split_whitespace();
    while let Some(word) = words.next() {
        match word {
            "--run" => options.run.push(words.next().ok_or("--run without a value")?.to_string()),
            "--ignore-unknown-fields" => options.ignore_unknown_fields = true,
            "--diff" => options.diff = true,
            "--debug" => options.debug = true,
            other => match other.strip_prefix("--run=") {
                Some(value) => options.run.push(value.to_string()),
                None => return Err(format!("unknown argument {other:?}")),
            },
        }
    }
    Ok(options)
}

/// `file<TAB>args` keys of the rows known to differ.
fn known_differences() -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest_dir().join(KNOWN_DIFFERENCES)).unwrap_or_default();
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.split('\t');
            format!("{}\t{}", parts.next().unwrap_or(""), parts.next().unwrap_or("-"))
        })
        .collect()
}

#[test]
fn shared_promtool_expectations() {
    let dir = manifest_dir().join(SHARED);
    let table = std::fs::read_to_string(dir.join("EXPECTED.tsv"))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.join("EXPECTED.tsv").display()));
    let known = known_differences();
    let mut failures = Vec::new();
    let mut rows = 0;
    for line in table.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let columns: Vec<&str> = line.split('\t').collect();
        let [file, args, expected, ..] = columns.as_slice() else {
            failures.push(format!("malformed row {line:?}"));
            continue;
        };
        rows += 1;
        let expected: i32 =
            expected.trim().parse().unwrap_or_else(|e| panic!("row {line:?}: bad exit status: {e}"));
        let options = match parse_args(args) {
            Ok(options) => options,
            Err(e) => {
                failures.push(format!("{file} {args}: {e}"));
                continue;
            }
        };
        let (code, output) = run_files(&[dir.join(file)], &options);
        let key = format!("{file}\t{args}");
        match (code == expected, known.contains(&key)) {
            (true, false) | (false, true) => {}
            (false, false) => failures.push(format!(
                "{file} [{args}]: exit status {code}, promtool gives {expected}\n--- output ---\n{output}"
            )),
            (true, true) => failures.push(format!(
                "{file} [{args}] passes now: remove it from {KNOWN_DIFFERENCES}\n--- output ---\n{output}"
            )),
        }
    }
    assert!(rows >= 14, "EXPECTED.tsv has only {rows} rows");
    assert!(failures.is_empty(), "{} of {rows} rows differ:\n\n{}", failures.len(), failures.join("\n\n"));
}

/// Runs Debian's promtool's `test rules` on `file`.
fn promtool(file: &Path) -> std::process::Output {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: install Debian's Prometheus (sudo apt-get install -y prometheus) to compare \
         `harrier rules test` with `promtool test rules`"
    );
    Command::new(PROMTOOL)
        .args(["test", "rules"])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {PROMTOOL}: {e}"))
}

#[test]
fn own_files_match_promtool() {
    let dir = manifest_dir().join(OWN);
    let mut failures = Vec::new();
    for (file, expected) in OWN_CASES {
        let path = dir.join(file);
        let (code, output) = run_files(std::slice::from_ref(&path), &UnitTestOptions::default());
        if code != *expected {
            failures.push(format!("harrier on {file}: exit status {code}, expected {expected}\n{output}"));
        }
        let theirs = promtool(&path);
        let promtool_code = theirs.status.code().unwrap_or(-1);
        if promtool_code != code {
            failures.push(format!(
                "{file}: harrier exits {code}, promtool exits {promtool_code}\n--- harrier ---\n{output}\n--- \
                 promtool ---\n{}{}",
                String::from_utf8_lossy(&theirs.stdout),
                String::from_utf8_lossy(&theirs.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The failing files' messages are promtool's, byte for byte (promtool 2.42 prints the same
/// text for these failures). stdout and stderr are compared separately, since how a terminal
/// interleaves them depends on buffering.
#[test]
fn failure_output_is_promtools() {
    use harrier_router::rules::unittest::{Stream, run_files_output};
    let dir = manifest_dir().join(OWN);
    for file in FAILING_OUTPUT {
        let path = dir.join(file);
        let (code, output) = run_files_output(std::slice::from_ref(&path), &UnitTestOptions::default());
        assert_eq!(code, 1, "{file} must fail");
        let theirs = promtool(&path);
        assert_eq!(
            output.stream(Stream::Stderr),
            String::from_utf8_lossy(&theirs.stderr),
            "stderr of {file}"
        );
        assert_eq!(
            output.stream(Stream::Stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "stdout of {file}"
        );
    }
}
