//! `harrier routes test` against Debian's `amtool config routes test` (Alertmanager 0.25):
//! for every alertmanager.yml of the shared conformance folder that both `harrier check` and
//! `amtool check-config` accept, plus a purpose-written config with a deep tree (continue,
//! match_re, regex and negative matchers, nested routes, quoting), pseudo-random label sets
//! (fixed seed) built from the label names and values of the configs' matchers plus noise
//! are routed by both tools; stdout and exit status must be identical for each. Some runs add
//! `--tree` or `--verify.receivers`, and a few carry malformed label arguments.

use crate::support::{require_program, run_harrier};
use harrier_router::route::matchers::MatchType;
use harrier_router::route::{RouteTree, load_file};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const AMTOOL: &str = "/usr/bin/amtool";

/// Routing tree with everything amtool's routing looks at.
const DEEP_CONFIG: &str = r#"
route:
  receiver: default
  group_by: [alertname, cluster]
  routes:
  - matchers: ['severity="page"', 'team=~"db|web"']
    receiver: pager
    continue: true
    routes:
    - matchers: ['env!~"prod.*"']
      receiver: pager-nonprod
    - receiver: pager-prod
  - match: {team: db}
    match_re: {env: "prod-(eu|us)"}
    receiver: db-prod
    continue: true
    routes:
    - matchers: ['service=~"postgres|mysql"', 'severity!="info"']
      receiver: db-sql
      routes:
      - matchers: ['instance=~"db-[0-9]+"', 'cluster=""']
        receiver: db-sql-unclustered
      - matchers: ['cluster!=""']
        receiver: "db sql clustered"
        continue: true
      - matchers: ['alertname=~".*Disk.*"']
        receiver: db-disk
    - match_re: {service: "redis.*"}
      receiver: db-cache
  - match: {team: db}
    receiver: db
    routes:
    - matchers: ['{alertname="DiskFull", severity=~"warning|critical"}']
      receiver: db-disk
  - matchers: ['team="web"', 'env=~"staging|dev"']
    receiver: web-nonprod
  - matchers: ['team=~"web|api"']
    receiver: web
    continue: true
    routes:
    - matchers: ['alertname!~"Watchdog|InfoInhibitor"', 'severity=~"critical|page"']
      receiver: web-critical
      continue: true
    - matchers: ['quote="say \"hi\", then go"']
      receiver: "web \"quoted\""
    - matchers: ['unicode="é☃"', 'path=~"/a\\.b/.*"']
      receiver: web-unicode
  - matchers: ['alertname="Watchdog"']
    receiver: deadman
  - matchers: ['severity!~"info|none"', 'team!="db"', 'env=~".+"']
    receiver: catch-labelled
receivers:
- name: default
- name: pager
- name: pager-nonprod
- name: pager-prod
- name: db-prod
- name: db-sql
- name: db-sql-unclustered
- name: "db sql clustered"
- name: db-disk
- name: db-cache
- name: db
- name: web-nonprod
- name: web
- name: web-critical
- name: "web \"quoted\""
- name: web-unicode
- name: deadman
- name: catch-labelled
"#;

/// SplitMix64: small, deterministic, good enough to spread test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Literal strings a regex probably matches: its alternatives with metacharacters removed.
fn regex_samples(re: &str) -> Vec<String> {
    let mut out = Vec::new();
    for alt in re.trim_start_matches('^').trim_end_matches('$').split('|') {
        let literal: String = alt.chars().filter(|c| !"^$()[]{}*+?.\\".contains(*c)).collect();
        out.push(format!("{literal}-1"));
        out.push(literal);
    }
    out
}

/// Label names and their candidate values from a config's route matchers.
fn vocabulary(config: &Path) -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
    let cfg = load_file(config).unwrap();
    let tree = RouteTree::new(&cfg);
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in &tree.nodes {
        for m in &node.matchers {
            let entry = values.entry(m.name.clone()).or_default();
            match m.op {
                MatchType::Equal | MatchType::NotEqual => {
                    entry.insert(m.value.clone());
                }
                MatchType::Regexp | MatchType::NotRegexp => entry.extend(regex_samples(&m.value)),
            }
        }
    }
    let receivers = cfg.receivers.iter().map(|r| r.name.clone()).collect();
    (values, receivers)
}

const NOISE_NAMES: [&str; 6] = ["alertname", "instance", "job", "zzz", "_private", "ns:sub"];
const NOISE_VALUES: [&str; 14] = [
    "",
    "x",
    "prod",
    "critical",
    "warning",
    "db",
    "é",
    "a b",
    "x,y",
    "say \"hi\"",
    r"back\slash",
    "two\nlines",
    "{}",
    "=~",
];

/// One invocation: label arguments and flags.
#[derive(Debug, Clone)]
struct Case {
    config: PathBuf,
    labels: Vec<String>,
    tree: bool,
    verify: Option<String>,
}

/// A label argument for `name` and `value`, in one of the spellings amtool accepts.
fn label_arg(rng: &mut Rng, name: &str, value: &str) -> String {
    let quoted = || {
        let escaped = value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n");
        format!("{name}=\"{escaped}\"")
    };
    match rng.below(100) {
        _ if value.contains('"') => quoted(),
        0..=79 => format!("{name}={value}"),
        80..=93 => quoted(),
        _ => format!(" {name} = {value} "),
    }
}

/// A label argument amtool rejects (or accepts in a surprising way).
fn odd_label_arg(rng: &mut Rng, name: &str) -> String {
    match rng.below(9) {
        0 => format!("{name}!=x"),
        1 => format!("{name}=~x"),
        2 => format!("1{name}=x"),
        3 => name.to_string(),
        4 => format!("{name}=\"unterminated"),
        5 => format!("{name}=say \"hi\""),
        6 => format!("{name}.x=y"),
        7 => format!("{{{name}=\"x\"}}"),
        _ => format!("{name}=\"x\"y\""),
    }
}

fn cases_for(config: &Path, count: usize, rng: &mut Rng) -> Vec<Case> {
    let (vocab, receivers) = vocabulary(config);
    let mut names: Vec<String> = vocab.keys().cloned().collect();
    names.extend(NOISE_NAMES.iter().map(|s| s.to_string()));
    let mut cases = Vec::with_capacity(count);
    for _ in 0..count {
        let mut labels = Vec::new();
        for name in &names {
            let in_vocab = vocab.contains_key(name);
            if !rng.chance(if in_vocab { 55 } else { 15 }) {
                continue;
            }
            let known: Vec<&String> = vocab.get(name).map(|v| v.iter().collect()).unwrap_or_default();
            let value = if !known.is_empty() && rng.chance(70) {
                rng.pick(&known).to_string()
            } else {
                rng.pick(&NOISE_VALUES).to_string()
            };
            labels.push(label_arg(rng, name, &value));
        }
        // Shuffle the argument order; a name given twice keeps its last value.
        for i in (1..labels.len()).rev() {
            labels.swap(i, rng.below(i + 1));
        }
        if rng.chance(5) {
            let name = rng.pick(&names).clone();
            let at = rng.below(labels.len() + 1);
            labels.insert(at, odd_label_arg(rng, &name));
        }
        if !labels.is_empty() && rng.chance(5) {
            let again = labels[rng.below(labels.len())].clone();
            labels.push(again.replace('=', "=again-"));
        }
        let tree = rng.chance(20);
        let verify = rng.chance(15).then(|| {
            let mut expected = rng.pick(&receivers).clone();
            if rng.chance(30) {
                expected = format!("{expected},{}", rng.pick(&receivers));
            }
            expected
        });
        cases.push(Case { config: config.to_path_buf(), labels, tree, verify });
    }
    cases
}

/// A run's exit code and stdout.
type Outcome = (i32, String);

/// amtool's and harrier's outcome for one case.
fn run_both(case: &Case) -> (Outcome, Outcome) {
    let mut amtool = Command::new(AMTOOL);
    amtool.args(["config", "routes", "test"]).arg(format!("--config.file={}", case.config.display()));
    let mut harrier = Command::new(env!("CARGO_BIN_EXE_harrier"));
    harrier.args(["routes", "test", "--config"]).arg(&case.config);
    if case.tree {
        amtool.arg("--tree");
        harrier.arg("--tree");
    }
    if let Some(v) = &case.verify {
        amtool.arg(format!("--verify.receivers={v}"));
        harrier.arg(format!("--verify-receivers={v}"));
    }
    amtool.args(&case.labels);
    harrier.args(&case.labels);
    let result = |cmd: &mut Command| {
        let out = cmd.env("HOME", "/nonexistent").output().expect("run");
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    (result(&mut amtool), result(&mut harrier))
}

fn accepted_by_both(config: &Path) -> bool {
    let path = config.to_str().unwrap();
    let harrier_ok = run_harrier(&["check", path]).0 == 0;
    let amtool_ok = Command::new(AMTOOL).args(["check-config", path]).output().unwrap().status.success();
    harrier_ok && amtool_ok
}

#[test]
fn routes_test_matches_amtool() {
    require_program(AMTOOL);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/alertmanager");
    let mut configs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .filter(|p| accepted_by_both(p))
        .collect();
    configs.sort();
    assert!(!configs.is_empty(), "no conformance config accepted by both tools in {}", dir.display());

    let tmp = tempfile::tempdir().unwrap();
    let deep = tmp.path().join("deep.yml");
    std::fs::write(&deep, DEEP_CONFIG).unwrap();
    assert!(accepted_by_both(&deep), "the purpose-written config must be valid for both tools");

    let mut rng = Rng(0x5EED_2025_0A1E_0047);
    let mut cases = cases_for(&deep, 600, &mut rng);
    let per_config = 600usize.div_ceil(configs.len()).max(60);
    for config in &configs {
        cases.extend(cases_for(config, per_config, &mut rng));
    }

    let threads = 4;
    let chunk = cases.len().div_ceil(threads);
    // Per case: amtool's (exit code, stdout) and whether harrier's equals it.
    let results: Vec<(Outcome, Option<Outcome>)> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|case| {
                            let (upstream, ours) = run_both(case);
                            let differs = (upstream != ours).then_some(ours);
                            (upstream, differs)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mismatches: Vec<String> = cases
        .iter()
        .zip(&results)
        .filter_map(|(case, (upstream, ours))| {
            ours.as_ref().map(|ours| format!("{case:?}\n  amtool:  {upstream:?}\n  harrier: {ours:?}"))
        })
        .collect();
    let distinct_outputs: BTreeSet<&str> = results.iter().map(|((_, out), _)| out.as_str()).collect();
    let failures = results.iter().filter(|((code, _), _)| *code != 0).count();
    println!(
        "routes parity: {} label sets compared over {} configs ({} distinct outputs, {} failing runs, {} mismatches)",
        cases.len(),
        configs.len() + 1,
        distinct_outputs.len(),
        failures,
        mismatches.len()
    );
    // The generator must exercise the trees, not route everything to the root.
    assert!(distinct_outputs.len() >= 40, "only {} distinct outputs", distinct_outputs.len());
    assert!(failures > 0 && failures < cases.len() / 2, "{failures} failing runs");
    assert!(cases.len() >= 1000);
    assert!(
        mismatches.is_empty(),
        "{} of {} label sets differ; first ones:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}
