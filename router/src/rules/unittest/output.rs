//! promtool's output: Go's text for durations, floats, strings and label sets, the failure
//! messages of alert and expression tests, and the `--diff` rendering.
//!
//! - [`model_duration`]: `model.Duration.String()` (`1d`, `5m`, `2m59s999ms`), used for
//!   `eval_time`.
//! - [`go_duration`]: `time.Duration.String()` (`1m0s`, `1.5s`), used for the time of a rule
//!   evaluation error.
//! - [`go_quote`]: `strconv.Quote` (`%q`).
//! - [`labels_string`]: `labels.Labels.String()`: `{__name__="up", job="a"}`, names outside
//!   the legacy character set quoted.
//! - [`float_e`]: `strconv.FormatFloat(v, 'E', -1, 64)` (`1E+00`, `6.5E-07`).
//! - [`json_diff`]: a console diff of two JSON documents in the style of `nsf/jsondiff`
//!   (what `--diff` prints): the merged document, pretty-printed with keys sorted, unchanged
//!   parts plain, changed scalars `old => new` in yellow, removed (expected only) parts in
//!   red and added (got only) parts in green.

use std::fmt::Write as _;

use harrier_telemetry::model::Labels;
use serde_json::Value;

/// Go's `model.Duration.String()` for a duration in milliseconds: years and weeks only when
/// they divide it exactly, then days, hours, minutes, seconds, milliseconds.
pub fn model_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut ms = ms;
    if ms < 0 {
        out.push('-');
        ms = -ms;
    }
    const UNITS: [(&str, i64, bool); 7] = [
        ("y", 365 * 24 * 3_600_000, true),
        ("w", 7 * 24 * 3_600_000, true),
        ("d", 24 * 3_600_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact) in UNITS {
        if exact && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            let _ = write!(out, "{v}{unit}");
            ms -= v * mult;
        }
    }
    out
}

/// Go's `time.Duration.String()` for a duration in milliseconds (`0s`, `500ms`, `1.5s`,
/// `1m0s`, `1h0m0s`).
pub fn go_duration(ms: i64) -> String {
    crate::template::prometheus::go_duration_string(ms.saturating_mul(1_000_000))
}

/// Go's `strconv.Quote` (`%q`).
pub fn go_quote(s: &str) -> String {
    crate::template::gofmt::quote(s)
}

/// Whether `name` is a legacy label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
fn legacy_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Go's `labels.Labels.String()` of sorted (name, value) pairs.
pub fn pairs_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if legacy_label_name(name) {
            out.push_str(name);
        } else {
            out.push_str(&go_quote(name));
        }
        out.push('=');
        out.push_str(&go_quote(value));
    }
    out.push('}');
    out
}

/// Go's `labels.Labels.String()`: `{__name__="up", job="a"}`.
pub fn labels_string(labels: &Labels) -> String {
    let pairs: Vec<(String, String)> =
        labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect();
    pairs_string(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`: the shortest mantissa that reads back as `v`,
/// and an exponent of at least two digits (`1E+00`, `1.5E-07`, `+Inf`, `NaN`).
pub fn float_e(v: f64) -> String {
    crate::template::gofmt::format_float(v, 'E', -1)
}

/// promtool's `indentLines`: every line but the first gets `indent` in front.
pub fn indent_lines(lines: &str, indent: &str) -> String {
    let mut out = String::with_capacity(lines.len());
    for (i, line) in lines.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        out.push_str(line);
    }
    out
}

/// An alert as the tests compare it: sorted labels and annotations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LabelsAndAnnotations {
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
}

impl LabelsAndAnnotations {
    /// promtool's `labelAndAnnotation.String()`.
    pub fn render(&self) -> String {
        format!(
            "Labels:{}\nAnnotations:{}",
            pairs_string(self.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
            pairs_string(self.annotations.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        )
    }

    /// The JSON promtool marshals for `--diff`: label sets as objects.
    pub fn to_json(&self) -> Value {
        let object = |pairs: &[(String, String)]| {
            Value::Object(pairs.iter().map(|(n, v)| (n.clone(), Value::String(v.clone()))).collect())
        };
        let mut map = serde_json::Map::new();
        map.insert("Labels".into(), object(&self.labels));
        map.insert("Annotations".into(), object(&self.annotations));
        Value::Object(map)
    }
}

/// promtool's `labelsAndAnnotations.String()`: `[]`, or the numbered alerts.
pub fn alerts_string(alerts: &[LabelsAndAnnotations]) -> String {
    let Some(first) = alerts.first() else {
        return "[]".into();
    };
    let mut out = format!("[\n0:{}", indent_lines(&format!("\n{}", first.render()), "  "));
    for (i, alert) in alerts.iter().enumerate().skip(1) {
        let _ = write!(out, ",\n{i}:{}", indent_lines(&format!("\n{}", alert.render()), "  "));
    }
    out.push_str("\n]");
    out
}

/// A sample as the expression tests compare it (promtool's `parsedSample`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    pub labels: Labels,
    pub value: f64,
    /// The histogram in the test notation, empty for a float sample.
    pub histogram: String,
}

impl ParsedSample {
    pub fn render(&self) -> String {
        if self.histogram.is_empty() {
            format!("{} {}", labels_string(&self.labels), float_e(self.value))
        } else {
            format!("{} {}", labels_string(&self.labels), self.histogram)
        }
    }
}

/// promtool's `parsedSamplesString`: `nil`, or the samples separated by `, `.
pub fn samples_string(samples: &[ParsedSample]) -> String {
    if samples.is_empty() {
        return "nil".into();
    }
    samples.iter().map(ParsedSample::render).collect::<Vec<_>>().join(", ")
}

const ADDED: (&str, &str) = ("\x1b[0;32m", "\x1b[0m");
const REMOVED: (&str, &str) = ("\x1b[0;31m", "\x1b[0m");
const CHANGED: (&str, &str) = ("\x1b[0;33m", "\x1b[0m");
const INDENT: &str = "    ";

/// A console diff of `expected` against `got` (see the module doc); `None` when they are
/// equal.
pub fn json_diff(expected: &Value, got: &Value) -> Option<String> {
    if expected == got {
        return None;
    }
    let mut out = String::new();
    write_diff(&mut out, expected, got, 0);
    Some(out)
}

fn write_diff(out: &mut String, a: &Value, b: &Value, level: usize) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            if keys.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push_str("{\n");
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                out.push_str(&INDENT.repeat(level + 1));
                let name = serde_json::to_string(key).unwrap_or_default();
                match (x.get(*key), y.get(*key)) {
                    (Some(va), Some(vb)) => {
                        let _ = write!(out, "{name}: ");
                        write_diff(out, va, vb, level + 1);
                    }
                    (Some(va), None) => {
                        let _ = write!(out, "{}{name}: {}{}", REMOVED.0, pretty(va, level + 1), REMOVED.1);
                    }
                    (None, Some(vb)) => {
                        let _ = write!(out, "{}{name}: {}{}", ADDED.0, pretty(vb, level + 1), ADDED.1);
                    }
                    (None, None) => {}
                }
            }
            let _ = write!(out, "\n{}}}", INDENT.repeat(level));
        }
        (Value::Array(x), Value::Array(y)) => {
            let n = x.len().max(y.len());
            if n == 0 {
                out.push_str("[]");
                return;
            }
            out.push_str("[\n");
            for i in 0..n {
                if i > 0 {
                    out.push_str(",\n");
                }
                out.push_str(&INDENT.repeat(level + 1));
                match (x.get(i), y.get(i)) {
                    (Some(va), Some(vb)) => write_diff(out, va, vb, level + 1),
                    (Some(va), None) => {
                        let _ = write!(out, "{}{}{}", REMOVED.0, pretty(va, level + 1), REMOVED.1);
                    }
                    (None, Some(vb)) => {
                        let _ = write!(out, "{}{}{}", ADDED.0, pretty(vb, level + 1), ADDED.1);
                    }
                    (None, None) => {}
                }
            }
            let _ = write!(out, "\n{}]", INDENT.repeat(level));
        }
        _ if a == b => out.push_str(&pretty(a, level)),
        _ => {
            let _ = write!(out, "{}{} => {}{}", CHANGED.0, pretty(a, level), pretty(b, level), CHANGED.1);
        }
    }
}

/// `value` pretty-printed with keys sorted, nested lines indented for `level`.
fn pretty(value: &Value, level: usize) -> String {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = String::from("{\n");
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                let name = serde_json::to_string(key).unwrap_or_default();
                let _ = write!(out, "{}{name}: {}", INDENT.repeat(level + 1), pretty(&map[*key], level + 1));
            }
            let _ = write!(out, "\n{}}}", INDENT.repeat(level));
            out
        }
        Value::Array(items) if !items.is_empty() => {
            let mut out = String::from("[\n");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                let _ = write!(out, "{}{}", INDENT.repeat(level + 1), pretty(item, level + 1));
            }
            let _ = write!(out, "\n{}]", INDENT.repeat(level));
            out
        }
        other => other.to_string(),
    }
}
