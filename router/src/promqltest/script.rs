//! Parser of the promqltest script language (upstream `promql/promqltest/test.go`, described in
//! `FORMAT.md` beside the test files).
//!
//! Lines are trimmed, and a line starting with `#` reads as an empty line, so a comment ends a
//! block just as a blank line does. Commands:
//!
//! - `load <interval>` (or `load_with_nhcb <interval>`) followed by series lines;
//! - `clear`;
//! - `eval instant at <time> <query>` / `eval range from <t> to <t> step <d> <query>` (and the
//!   deprecated `eval_fail`, `eval_warn`, `eval_info`, `eval_ordered`), followed by `expect ...`
//!   lines, `expected_fail_message`/`expected_fail_regexp` (which, as upstream, end the block),
//!   a bare number (an expected scalar, also ending the block) or expected series lines.
//!
//! Times are Prometheus durations from the Unix epoch. The query text is not parsed here: the
//! runner does it per case, so one query our parser rejects fails one case, not a whole file.
//! `@st` start-timestamp lines (newer upstream) are rejected as unsupported.

use super::series_notation::{self, SequenceValue, SeriesDescription};
use harrier_telemetry::model::Labels;
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// A script line that could not be parsed (`line` is 1-based).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

fn error(index: usize, message: impl Into<String>) -> ScriptError {
    ScriptError { line: index + 1, message: message.into() }
}

static PAT_SPACE: LazyLock<Regex> = LazyLock::new(|| compile(r"[\t ]+"));
static PAT_LOAD: LazyLock<Regex> = LazyLock::new(|| compile(r"^load(?:_(with_nhcb))?\s+(.+?)$"));
static PAT_EVAL_INSTANT: LazyLock<Regex> =
    LazyLock::new(|| compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$"));
static PAT_EVAL_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
});
static PAT_EXPECT: LazyLock<Regex> =
    LazyLock::new(|| compile(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$"));
static PAT_EXPECT_RANGE: LazyLock<Regex> =
    LazyLock::new(|| compile(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$"));
/// What an `expect` line without `msg:`/`regex:` matches (as upstream: `^.*$`).
static PAT_MATCH_ANY: LazyLock<Regex> = LazyLock::new(|| compile(r"^.*$"));

fn compile(pattern: &str) -> Regex {
    // The patterns are constants, checked by the unit tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern}: {e}"))
}

const RANGE_VECTOR_PREFIX: &str = "expect range vector";
const EXPECT_STRING_PREFIX: &str = "expect string";

/// A parsed script.
#[derive(Debug, Clone)]
pub struct Script {
    pub commands: Vec<Command>,
}

#[derive(Debug, Clone)]
pub enum Command {
    Load(LoadCommand),
    Clear,
    Eval(Box<EvalCommand>),
}

/// `load <interval>`: series, the i-th value of each at `i * interval`.
#[derive(Debug, Clone)]
pub struct LoadCommand {
    /// 1-based line of the `load` keyword.
    pub line: usize,
    pub interval_ms: i64,
    /// `load_with_nhcb`: classic histograms are also loaded as native histograms with custom
    /// buckets (the runner derives them, see `promqltest::nhcb`).
    pub with_nhcb: bool,
    /// One entry per distinct label set; a later line for the same labels replaces the earlier.
    pub series: Vec<SeriesDescription>,
}

/// How an `expect` line matches a message.
#[derive(Debug, Clone)]
pub enum MessageMatch {
    Exact(String),
    Pattern(Regex),
}

impl MessageMatch {
    pub fn matches(&self, text: &str) -> bool {
        match self {
            MessageMatch::Exact(message) => message == text,
            MessageMatch::Pattern(regex) => regex.is_match(text),
        }
    }

    /// `message` or `pattern`, for failure messages.
    pub fn kind(&self) -> &'static str {
        match self {
            MessageMatch::Exact(_) => "message",
            MessageMatch::Pattern(_) => "pattern",
        }
    }
}

impl std::fmt::Display for MessageMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MessageMatch::Exact(message) => write!(f, "{message}"),
            MessageMatch::Pattern(regex) => write!(f, "{}", regex.as_str()),
        }
    }
}

/// The `expect` lines of an eval, by type.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub ordered: bool,
    pub fail: Vec<MessageMatch>,
    pub warn: Vec<MessageMatch>,
    pub info: Vec<MessageMatch>,
    pub no_warn: bool,
    pub no_info: bool,
}

/// One expected series of an eval: its position among the expected lines (1-based, what
/// `expect ordered` checks) and its values.
#[derive(Debug, Clone)]
pub struct ExpectedSeries {
    pub position: usize,
    pub values: Vec<SequenceValue>,
}

/// What kind of query an eval runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    Instant,
    Range,
}

/// An `eval` command: one test case.
#[derive(Debug, Clone)]
pub struct EvalCommand {
    /// 1-based line of the `eval` keyword: the case's identity.
    pub line: usize,
    pub query: String,
    pub kind: EvalKind,
    /// Range start; for an instant query, its time (or the start of `expect range vector`).
    pub start_ms: i64,
    /// Range end; for an instant query without `expect range vector`, `i64::MIN` (as
    /// upstream, whose zero time makes any expected matrix point out of range).
    pub end_ms: i64,
    pub step_ms: i64,
    /// When an instant query is evaluated (its `at`, or the end of `expect range vector`).
    pub eval_ms: i64,
    /// Deprecated `eval_fail`, `eval_warn`, `eval_info`, `eval_ordered`.
    pub legacy_fail: bool,
    pub legacy_warn: bool,
    pub legacy_info: bool,
    pub legacy_ordered: bool,
    pub expected_fail_message: Option<String>,
    pub expected_fail_regexp: Option<Regex>,
    pub expect: Expectations,
    /// A bare number line: the query must return this scalar.
    pub expected_scalar: Option<SequenceValue>,
    pub expected_series: BTreeMap<Labels, ExpectedSeries>,
    /// `expect string "..."` (the empty string when absent, as upstream).
    pub expected_string: String,
    /// Set by `expect range vector` and `expect string`: the instant query is not re-run as a
    /// range query.
    pub exclude_from_range_query: bool,
}

impl EvalCommand {
    pub fn is_ordered(&self) -> bool {
        self.legacy_ordered || self.expect.ordered
    }

    pub fn is_fail(&self) -> bool {
        self.legacy_fail || !self.expect.fail.is_empty()
    }

    /// Whether any expected value is a native histogram.
    pub fn expects_histograms(&self) -> bool {
        self.expected_scalar.as_ref().is_some_and(SequenceValue::is_histogram)
            || self.expected_series.values().any(|s| s.values.iter().any(SequenceValue::is_histogram))
    }
}

/// Parses a whole script.
pub fn parse_script(input: &str) -> Result<Script, ScriptError> {
    let lines: Vec<&str> = input
        .split('\n')
        .map(|line| {
            let line = line.trim();
            if line.starts_with('#') { "" } else { line }
        })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.is_empty() {
            i += 1;
            continue;
        }
        let keyword = PAT_SPACE.split(line).next().unwrap_or("").to_lowercase();
        let (last, command) = if keyword == "clear" {
            (i, Command::Clear)
        } else if keyword.starts_with("load") {
            let (last, load) = parse_load(&lines, i)?;
            (last, Command::Load(load))
        } else if keyword.starts_with("eval") {
            let (last, eval) = parse_eval(&lines, i)?;
            (last, Command::Eval(Box::new(eval)))
        } else {
            return Err(error(i, format!("invalid command {line:?}")));
        };
        commands.push(command);
        i = last + 1;
    }
    Ok(Script { commands })
}

/// Parses a `load` block starting at `lines[i]`; returns the index of its last line.
fn parse_load(lines: &[&str], mut i: usize) -> Result<(usize, LoadCommand), ScriptError> {
    let captures = PAT_LOAD
        .captures(lines[i])
        .ok_or_else(|| error(i, "invalid load command. (load[_with_nhcb] <step:duration>)"))?;
    let step = captures.get(2).map_or("", |m| m.as_str());
    let interval_ms = series_notation::parse_duration(step)
        .map_err(|e| error(i, format!("invalid step definition {step:?}: {e}")))?;
    let mut load =
        LoadCommand { line: i + 1, interval_ms, with_nhcb: captures.get(1).is_some(), series: Vec::new() };
    while i + 1 < lines.len() && !lines[i + 1].is_empty() {
        i += 1;
        let line = lines[i];
        if is_start_timestamp_line(line) {
            return Err(error(i, "start timestamp (@st) lines are not supported"));
        }
        let series = series_notation::parse_series(line).map_err(|e| error(i, e.to_string()))?;
        match load.series.iter_mut().find(|s| s.labels == series.labels) {
            Some(existing) => *existing = series,
            None => load.series.push(series),
        }
    }
    Ok((i, load))
}

/// `metric{...}@st <offsets>` or `@st <offsets>`.
fn is_start_timestamp_line(line: &str) -> bool {
    line.split([' ', '\t']).next().is_some_and(|first| first.ends_with("@st"))
}

/// Parses an `eval` block starting at `lines[i]`; returns the index of its last line.
fn parse_eval(lines: &[&str], mut i: usize) -> Result<(usize, EvalCommand), ScriptError> {
    let instant = PAT_EVAL_INSTANT.captures(lines[i]);
    let range = PAT_EVAL_RANGE.captures(lines[i]);
    let group = |c: &regex::Captures<'_>, n: usize| c.get(n).map_or("", |m| m.as_str()).to_string();
    let (kind, modifier, query, start_ms, end_ms, step_ms) = if let Some(c) = &instant {
        let at = group(c, 2);
        let query = group(c, 3);
        let t = series_notation::parse_duration(&at).map_err(|e| {
            error(
                i,
                format!("error in eval {query} (line {}): invalid timestamp definition {at:?}: {e}", i + 1),
            )
        })?;
        (EvalKind::Instant, group(c, 1), query, t, i64::MIN, 0)
    } else if let Some(c) = &range {
        let query = group(c, 5);
        let (start, end, step) = parse_range(&group(c, 2), &group(c, 3), &group(c, 4))
            .map_err(|e| error(i, format!("error in eval {query} (line {}): {e}", i + 1)))?;
        (EvalKind::Range, group(c, 1), query, start, end, step)
    } else {
        return Err(error(
            i,
            "invalid evaluation command. Must be either 'eval[_fail|_warn|_ordered] instant [at <offset:duration>] \
             <query>' or 'eval[_fail|_warn] range from <from> to <to> step <step> <query>'",
        ));
    };
    let line = i + 1;
    let format_error = |index: usize, message: String| {
        error(index, format!("error in eval {query} (line {line}): {message}"))
    };
    let mut eval = EvalCommand {
        line,
        query: query.clone(),
        kind,
        start_ms,
        end_ms,
        step_ms,
        eval_ms: start_ms,
        legacy_fail: modifier == "fail",
        legacy_warn: modifier == "warn",
        legacy_info: modifier == "info",
        legacy_ordered: modifier == "ordered",
        expected_fail_message: None,
        expected_fail_regexp: None,
        expect: Expectations::default(),
        expected_scalar: None,
        expected_series: BTreeMap::new(),
        expected_string: String::new(),
        exclude_from_range_query: false,
    };
    let mut expect_range_vector = false;
    let mut position = 0;
    while i + 1 < lines.len() && !lines[i + 1].is_empty() {
        i += 1;
        position += 1;
        let def = lines[i];
        if eval.legacy_fail
            && let Some(message) = def.strip_prefix("expected_fail_message")
        {
            eval.expected_fail_message = Some(message.trim().to_string());
            break;
        }
        if eval.legacy_fail
            && let Some(pattern) = def.strip_prefix("expected_fail_regexp")
        {
            let pattern = pattern.trim();
            let regex = Regex::new(pattern).map_err(|e| {
                format_error(i, format!("invalid regexp '{pattern}' for expected_fail_regexp: {e}"))
            })?;
            eval.expected_fail_regexp = Some(regex);
            break;
        }
        if def.starts_with(RANGE_VECTOR_PREFIX) {
            let c = PAT_EXPECT_RANGE
                .captures(def)
                .ok_or_else(|| format_error(i, format!("invalid range vector definition {def:?}")))?;
            let (start, end, step) =
                parse_range(&group(&c, 1), &group(&c, 2), &group(&c, 3)).map_err(|e| format_error(i, e))?;
            expect_range_vector = true;
            eval.start_ms = start;
            eval.end_ms = end;
            eval.step_ms = step;
            eval.eval_ms = end;
            eval.exclude_from_range_query = true;
            continue;
        }
        if def.starts_with(EXPECT_STRING_PREFIX) {
            eval.expected_string = parse_expected_string(def).map_err(|e| format_error(i, e))?;
            eval.exclude_from_range_query = true;
            continue;
        }
        // As upstream, a metric named `expect` must be written `expect{}`.
        if def.split(' ').next() == Some("expect") {
            parse_expect(def, &mut eval.expect).map_err(|e| format_error(i, e))?;
            position -= 1;
            continue;
        }
        if let Some(number) = parse_number(def) {
            eval.expected_scalar = Some(SequenceValue::Float(number));
            break;
        }
        let series = series_notation::parse_series(def).map_err(|e| error(i, e.to_string()))?;
        if series.values.len() > 1 && kind == EvalKind::Instant && !expect_range_vector {
            return Err(format_error(
                i,
                "expecting multiple values in instant evaluation not allowed. consider using 'expect range vector' \
                 directive to enable a range vector result for an instant query"
                    .into(),
            ));
        }
        eval.expected_series.insert(series.labels, ExpectedSeries { position, values: series.values });
    }
    Ok((i, eval))
}

/// `from`, `to` and `step` as milliseconds; `to` must not be before `from`.
fn parse_range(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), String> {
    let start = series_notation::parse_duration(from)
        .map_err(|e| format!("invalid start timestamp definition {from:?}: {e}"))?;
    let end = series_notation::parse_duration(to)
        .map_err(|e| format!("invalid end timestamp definition {to:?}: {e}"))?;
    if end < start {
        return Err(format!(
            "invalid test definition, end timestamp ({to}) is before start timestamp ({from})"
        ));
    }
    let step = series_notation::parse_duration(step)
        .map_err(|e| format!("invalid step definition {step:?}: {e}"))?;
    Ok((start, end, step))
}

/// An `expect <type> [msg|regex: <text>]` line.
fn parse_expect(def: &str, expect: &mut Expectations) -> Result<(), String> {
    let c = PAT_EXPECT
        .captures(def.trim())
        .ok_or("invalid expect statement, must match `expect <type> <match_type>: <string>` format")?;
    let kind = c.get(1).map_or("", |m| m.as_str());
    let matcher = match (c.get(2).map(|m| m.as_str()), c.get(3).map(|m| m.as_str().trim())) {
        (Some("msg"), Some(message)) => MessageMatch::Exact(message.to_string()),
        (Some("regex"), Some(pattern)) => MessageMatch::Pattern(
            Regex::new(pattern).map_err(|_| format!("invalid regex {pattern} for {kind}"))?,
        ),
        _ => MessageMatch::Pattern(PAT_MATCH_ANY.clone()),
    };
    match kind {
        "ordered" => expect.ordered = true,
        "fail" => expect.fail.push(matcher),
        "warn" => expect.warn.push(matcher),
        "info" => expect.info.push(matcher),
        "no_warn" => expect.no_warn = true,
        "no_info" => expect.no_info = true,
        other => return Err(format!("invalid expected error/annotation type {other}")),
    }
    if !expect.info.is_empty() && expect.no_info {
        return Err("invalid expect lines, info and no_info cannot be used together".into());
    }
    if !expect.warn.is_empty() && expect.no_warn {
        return Err("invalid expect lines, warn and no_warn cannot be used together".into());
    }
    if expect.fail.len() > 1 {
        return Err("invalid expect lines, multiple expect fail lines are not allowed".into());
    }
    Ok(())
}

/// `expect string "<Go string literal>"`.
fn parse_expected_string(def: &str) -> Result<String, String> {
    const MISSING: &str = "expected string literal not valid - a quoted string literal is required";
    let literal = def.strip_prefix(EXPECT_STRING_PREFIX).unwrap_or("");
    let literal = literal.strip_prefix(' ').ok_or(MISSING)?;
    if literal.is_empty() {
        return Err(MISSING.into());
    }
    match series_notation::parse_string_literal(literal) {
        Ok((value, "")) => Ok(value),
        _ => Err("expected string literal not valid - check that the string is correctly quoted".into()),
    }
}

/// A line that is a whole number, as upstream's `parseNumber`: a Go integer literal (base
/// prefixes `0x`, `0o`, `0b`, leading-zero octal) or a float (`1.5e3`, `Inf`, `NaN`).
pub fn parse_number(text: &str) -> Option<f64> {
    parse_go_integer(text).or_else(|| {
        let lower = text.to_ascii_lowercase();
        let unsigned = lower.trim_start_matches(['+', '-']);
        // Rust accepts a few spellings Go does not; keep to digits, dots, exponents, inf, nan.
        let plausible = matches!(unsigned, "inf" | "infinity" | "nan")
            || (!unsigned.is_empty()
                && unsigned.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-')));
        if plausible { lower.parse::<f64>().ok() } else { None }
    })
}

fn parse_go_integer(text: &str) -> Option<f64> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'+' => (false, &text[1..]),
        b'-' => (true, &text[1..]),
        _ => (false, text),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    // Go allows underscores between digits only with a base prefix.
    let digits = if radix != 10 { digits.replace('_', "") } else { digits };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let value = i64::from_str_radix(&digits, radix).ok()?;
    Some(if negative { -(value as f64) } else { value as f64 })
}
