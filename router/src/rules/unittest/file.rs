//! The unit test file model: promtool's `unitTestFile` and `testGroup` field for field.
//!
//! Like promtool (`yaml.UnmarshalStrict`), unknown fields are always errors here:
//! `--ignore-unknown-fields` only applies to the rule files the tests load. Go's YAML decoder
//! reads any scalar into a string field and `null` as the zero value; [`RawScalar`] and the
//! `null_default` helper do the same. A scalar that YAML resolves to a number keeps its text as
//! written (`values: 0x10` is the series notation "0, ten more times", not 16): the text is
//! read back from the source at the field's position. YAML merge keys (`<<: *anchor`) are
//! applied, as Go's decoder does.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use harrier_telemetry::config_diagnostic::locate::{self, FieldPath};
use harrier_telemetry::config_diagnostic::{self, Diagnostic};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// Why a test file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TestFileError {
    /// Go's `open FILE: no such file or directory`.
    #[error("open {path}: {}", go_io_error(source))]
    Read { path: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

/// An I/O error as Go prints it: the system's message in lower case, without `(os error N)`.
fn go_io_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// A whole test file (promtool's `unitTestFile`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UnitTestFile {
    #[serde(default, deserialize_with = "null_default")]
    pub rule_files: Vec<String>,
    /// Defaults to 1m.
    #[serde(default)]
    pub evaluation_interval: Option<TestDuration>,
    #[serde(default, deserialize_with = "null_default")]
    pub group_eval_order: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub tests: Vec<TestGroup>,
    /// Floats compare equal when at most one ULP apart.
    #[serde(default, deserialize_with = "null_default")]
    pub fuzzy_compare: bool,
}

/// A group of input series and the tests run on them (promtool's `testGroup`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TestGroup {
    /// The step of the input series; defaults to the file's evaluation interval.
    #[serde(default)]
    pub interval: Option<TestDuration>,
    #[serde(default, deserialize_with = "null_default")]
    pub input_series: Vec<InputSeries>,
    #[serde(default, deserialize_with = "null_default")]
    pub alert_rule_test: Vec<AlertTestCase>,
    #[serde(default, deserialize_with = "null_default")]
    pub promql_expr_test: Vec<PromqlTestCase>,
    #[serde(default, deserialize_with = "null_default")]
    pub external_labels: BTreeMap<String, RawScalar>,
    #[serde(default, deserialize_with = "null_default")]
    pub external_url: RawScalar,
    #[serde(default, deserialize_with = "null_default")]
    pub name: RawScalar,
    /// Where the test's time 0 is (RFC 3339 or Unix seconds); the Unix epoch by default.
    #[serde(default)]
    pub start_timestamp: Option<StartTimestamp>,
}

/// One input series: a metric and its values in the expanding notation.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSeries {
    #[serde(default, deserialize_with = "null_default")]
    pub series: RawScalar,
    #[serde(default, deserialize_with = "null_default")]
    pub values: RawScalar,
}

/// The firing alerts expected of one alert name at one time.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertTestCase {
    #[serde(default)]
    pub eval_time: TestDuration,
    #[serde(default, deserialize_with = "null_default")]
    pub alertname: RawScalar,
    #[serde(default, deserialize_with = "null_default")]
    pub exp_alerts: Vec<ExpectedAlert>,
}

/// An expected alert: its labels (without `alertname`) and annotations.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAlert {
    #[serde(default, deserialize_with = "null_default")]
    pub exp_labels: BTreeMap<String, RawScalar>,
    #[serde(default, deserialize_with = "null_default")]
    pub exp_annotations: BTreeMap<String, RawScalar>,
}

/// An expression and the samples it must return at one time.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PromqlTestCase {
    #[serde(default, deserialize_with = "null_default")]
    pub expr: RawScalar,
    #[serde(default)]
    pub eval_time: TestDuration,
    #[serde(default, deserialize_with = "null_default")]
    pub exp_samples: Vec<ExpectedSample>,
}

/// An expected sample: labels in the series notation, and a float or a native histogram.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSample {
    #[serde(default, deserialize_with = "null_default")]
    pub labels: RawScalar,
    #[serde(default, deserialize_with = "null_default")]
    pub value: f64,
    /// A non-empty histogram means `value` is ignored.
    #[serde(default, deserialize_with = "null_default")]
    pub histogram: RawScalar,
}

/// A YAML scalar read as a string the way Go's YAML decoder does (`1` and `true` are accepted
/// as their text). `resolved` tells that YAML resolved it to a non-string, so that its text as
/// written can be read back from the source ([`load_str`] does).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RawScalar {
    pub text: String,
    #[serde(skip)]
    pub resolved: bool,
}

impl RawScalar {
    pub fn new(text: impl Into<String>) -> Self {
        RawScalar { text: text.into(), resolved: false }
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for RawScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for RawScalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = RawScalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawScalar, E> {
                Ok(RawScalar::new(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<RawScalar, E> {
                Ok(RawScalar::new(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawScalar, E> {
                Ok(RawScalar { text: v.to_string(), resolved: true })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawScalar, E> {
                Ok(RawScalar { text: v.to_string(), resolved: true })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawScalar, E> {
                Ok(RawScalar { text: v.to_string(), resolved: true })
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawScalar, E> {
                Ok(RawScalar { text: v.to_string(), resolved: true })
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawScalar, E> {
                Ok(RawScalar::default())
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A Prometheus duration (`model.Duration`) read from any scalar (`eval_time: 0`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TestDuration(pub i64);

impl TestDuration {
    pub fn as_millis(self) -> i64 {
        self.0
    }
}

impl fmt::Display for TestDuration {
    /// Prometheus's `model.Duration` text (`1d`, `5m`, `2m59s999ms`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::output::model_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for TestDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawScalar::deserialize(deserializer)?;
        parse_model_duration(raw.as_str()).map(TestDuration).map_err(de::Error::custom)
    }
}

/// Prometheus's `model.ParseDuration`: `0`, or units `y w d h m s ms` in that order.
pub fn parse_model_duration(text: &str) -> Result<i64, String> {
    if text.is_empty() {
        return Err("empty duration string".into());
    }
    text.parse::<harrier_telemetry::duration::PromDuration>()
        .map(|d| d.as_millis())
        .map_err(|_| format!("not a valid duration string: {text:?}"))
}

/// The start of a test group's time line, in Unix milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartTimestamp(pub i64);

impl<'de> Deserialize<'de> for StartTimestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawScalar::deserialize(deserializer)?;
        parse_time(raw.as_str()).map(StartTimestamp).map_err(de::Error::custom)
    }
}

/// promtool's `parseTime`: Unix seconds (fractions allowed) or an RFC 3339 time, in Unix ms.
pub fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.trim().parse::<f64>()
        && seconds.is_finite()
    {
        return Ok((seconds * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("cannot parse {text:?} to a valid timestamp"))
}

/// A missing value or `null` gives the type's default, as Go's decoder leaves a zero value.
fn null_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads and parses the test file at `path`.
pub fn load_file(path: &Path) -> Result<UnitTestFile, TestFileError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| TestFileError::Read { path: origin.clone(), source })?;
    load_str(&text, &origin)
}

/// Parses test file text; `origin` names it in errors.
pub fn load_str(text: &str, origin: &str) -> Result<UnitTestFile, TestFileError> {
    let invalid = |path: FieldPath, err: &yaml_serde::Error| {
        TestFileError::Invalid(Box::new(config_diagnostic::yaml_diagnostic(text, origin, &path, err)))
    };
    let raw: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| invalid(FieldPath::root(), &e))?;
    if raw.is_null() {
        return Ok(UnitTestFile::default());
    }
    let mut file: UnitTestFile = if text.contains("<<") {
        // Merge keys (`<<: *anchor`), which Go's decoder applies: merged on the value first.
        let mut merged = raw;
        merged.apply_merge().map_err(|e| invalid(FieldPath::root(), &e))?;
        serde_path_to_error::deserialize(merged)
            .map_err(|e| invalid(FieldPath::from_serde(e.path()), e.inner()))?
    } else {
        serde_path_to_error::deserialize(yaml_serde::Deserializer::from_str(text))
            .map_err(|e| invalid(FieldPath::from_serde(e.path()), e.inner()))?
    };
    restore_raw_text(text, &mut file);
    Ok(file)
}

/// Puts back the text as written of series and values that YAML resolved to numbers.
fn restore_raw_text(text: &str, file: &mut UnitTestFile) {
    let tests = FieldPath::root().key("tests");
    for (g, group) in file.tests.iter_mut().enumerate() {
        for (s, series) in group.input_series.iter_mut().enumerate() {
            let path = tests.index(g).key("input_series").index(s);
            for (key, scalar) in [("series", &mut series.series), ("values", &mut series.values)] {
                if scalar.resolved
                    && let Some(raw) = scalar_text_at(text, &path.key(key))
                {
                    scalar.text = raw;
                }
            }
        }
    }
}

/// The plain scalar written after the key at `path` on the key's line, without a comment.
fn scalar_text_at(text: &str, path: &FieldPath) -> Option<String> {
    let position = locate::locate_exact(text, path)?;
    let line = text.lines().nth(position.line.checked_sub(1)?)?;
    let from_key: String = line.chars().skip(position.column.saturating_sub(1)).collect();
    let (_, value) = from_key.split_once(':')?;
    let value = match value.find(" #") {
        Some(at) => &value[..at],
        None => value,
    };
    let value = value.trim();
    // Flow mappings (`{series: a, values: 1}`) and anything else unusual keep the resolved text.
    let plain = !value.is_empty() && !value.contains([',', '{', '}', '[', ']', '"', '\'']);
    plain.then(|| value.to_string())
}
