//! The expanding series notation of Prometheus test files: a metric followed by a sequence of
//! values, as in promqltest's `load` blocks and expected results, and in promtool's rule unit
//! tests (`input_series: [{series: 'up{job="a"}', values: '1+2x3 _ stale'}]`).
//!
//! A line is `<metric> <values>`. The metric is `name`, `name{l="v", ...}` or `{...}` (a quoted
//! name inside the braces, `{"my.metric", l="v"}`, is the metric name; label names may be quoted
//! too); label values are Go string literals (double quotes with escapes, single quotes, or
//! back quotes). The values are space-separated items, each expanding to one or more points:
//!
//! | item        | expands to                                      |
//! |-------------|-------------------------------------------------|
//! | `5`         | `5`                                             |
//! | `-2.5e3`    | `-2500`                                         |
//! | `Inf`, `NaN`| the float (case-insensitive, optionally signed) |
//! | `stale`     | a staleness marker                              |
//! | `_`         | no point                                        |
//! | `_x3`       | no point, three times                           |
//! | `1x3`       | `1 1 1 1` (n+1 points)                          |
//! | `1+2x3`     | `1 3 5 7` (n+1 points)                          |
//! | `1-1x3`     | `1 0 -1 -2`                                     |
//! | `{{...}}`   | a native histogram (kept as text)               |
//! | `{{a}}x2`, `{{a}}+{{b}}x2` | n+1 native histograms            |
//!
//! As upstream, increments accumulate by repeated float addition (`v += step`), and hexadecimal
//! numbers are not accepted (`0x3` is "0, three more times").
//!
//! Native histogram items are delimited here and parsed and expanded by
//! [`FloatHistogram::parse_test_series_item`]. [`parse_duration`] reads Prometheus durations (`1h30m`,
//! `10s53ms`), which test files use for intervals and times.

use crate::histogram::FloatHistogram;
use harrier_telemetry::model::{Labels, METRIC_NAME, Sample, stale_nan};
use std::sync::Arc;

/// Errors of the series notation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeriesNotationError {
    #[error("invalid series description {text:?}: {reason}")]
    InvalidSeries { text: String, reason: String },
    #[error("invalid series values {text:?}: {reason}")]
    InvalidValues { text: String, reason: String },
    #[error("invalid duration {0:?}")]
    InvalidDuration(String),
}

/// One position of an expanded sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum SequenceValue {
    /// A float sample (a staleness marker is the stale NaN).
    Float(f64),
    /// No sample at this position (`_`).
    Omitted,
    /// A native histogram (`{{schema:0 sum:1 count:1}}`).
    Histogram(HistogramItem),
}

/// A native histogram of a sequence, and whether its item stated a counter reset hint (only
/// then do expected results compare the hint).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramItem {
    pub histogram: Arc<FloatHistogram>,
    pub explicit_hint: bool,
}

impl SequenceValue {
    /// The float value, as upstream reads it: an omitted or histogram position reads as 0.
    pub fn float_or_zero(&self) -> f64 {
        match self {
            SequenceValue::Float(v) => *v,
            SequenceValue::Omitted | SequenceValue::Histogram(_) => 0.0,
        }
    }

    pub fn is_histogram(&self) -> bool {
        matches!(self, SequenceValue::Histogram(_))
    }
}

impl std::fmt::Display for SequenceValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SequenceValue::Float(v) => write!(f, "{v}"),
            SequenceValue::Omitted => write!(f, "_"),
            SequenceValue::Histogram(item) => write!(f, "{}", item.histogram.to_test_notation()),
        }
    }
}

/// A parsed series line: its labels and its expanded values.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDescription {
    pub labels: Labels,
    pub values: Vec<SequenceValue>,
}

impl SeriesDescription {
    /// The float samples of the sequence, the i-th position at `start_ms + i * interval_ms`;
    /// omitted positions and histograms are left out.
    pub fn float_samples(&self, start_ms: i64, interval_ms: i64) -> Vec<Sample> {
        float_samples(&self.values, start_ms, interval_ms)
    }

    pub fn has_histograms(&self) -> bool {
        self.values.iter().any(SequenceValue::is_histogram)
    }
}

/// The float samples of `values`, the i-th position at `start_ms + i * interval_ms`; omitted
/// positions and histograms are left out.
pub fn float_samples(values: &[SequenceValue], start_ms: i64, interval_ms: i64) -> Vec<Sample> {
    let mut timestamp_ms = start_ms;
    let mut samples = Vec::with_capacity(values.len());
    for value in values {
        if let SequenceValue::Float(v) = value {
            samples.push(Sample { timestamp_ms, value: *v });
        }
        timestamp_ms = timestamp_ms.saturating_add(interval_ms);
    }
    samples
}

/// Parses `<metric> <values>` (a line of a `load` block or an expected result).
pub fn parse_series(line: &str) -> Result<SeriesDescription, SeriesNotationError> {
    let line = line.trim();
    let (labels, rest) = parse_metric_prefix(line)?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(invalid_series(line, "expected a space between the metric and its values"));
    }
    let values = parse_values(rest)?;
    Ok(SeriesDescription { labels, values })
}

/// Parses a metric (`name`, `name{...}` or `{...}`) that makes up all of `text`.
pub fn parse_metric(text: &str) -> Result<Labels, SeriesNotationError> {
    let text = text.trim();
    let (labels, rest) = parse_metric_prefix(text)?;
    if !rest.trim().is_empty() {
        return Err(invalid_series(text, "unexpected text after the metric"));
    }
    Ok(labels)
}

fn invalid_series(text: &str, reason: impl Into<String>) -> SeriesNotationError {
    SeriesNotationError::InvalidSeries { text: text.to_string(), reason: reason.into() }
}

fn invalid_values(text: &str, reason: impl Into<String>) -> SeriesNotationError {
    SeriesNotationError::InvalidValues { text: text.to_string(), reason: reason.into() }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Parses the metric at the start of `text`; returns its labels and the rest of `text`.
fn parse_metric_prefix(text: &str) -> Result<(Labels, &str), SeriesNotationError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let name_len = text
        .char_indices()
        .find(|&(i, c)| if i == 0 { !is_name_start(c) } else { !is_name_char(c) })
        .map_or(text.len(), |(i, _)| i);
    if name_len > 0 {
        pairs.push((METRIC_NAME.to_string(), text[..name_len].to_string()));
    }
    let mut rest = &text[name_len..];
    if rest.starts_with('{') {
        rest = parse_label_set(text, &rest[1..], &mut pairs)?;
    } else if name_len == 0 {
        return Err(invalid_series(text, "expected a metric name or '{'"));
    }
    Ok((Labels::from_pairs(pairs), rest))
}

/// Parses the inside of `{...}` (after the brace) into `pairs`; returns the text after `}`.
fn parse_label_set<'a>(
    whole: &str,
    mut rest: &'a str,
    pairs: &mut Vec<(String, String)>,
) -> Result<&'a str, SeriesNotationError> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        // A label name (identifier or quoted), or a quoted metric name on its own.
        let (name, quoted, after_name) = if rest.starts_with(['"', '\'', '`']) {
            let (s, after) = parse_string_literal(rest).map_err(|reason| invalid_series(whole, reason))?;
            (s, true, after)
        } else {
            let len = rest
                .char_indices()
                .find(|&(i, c)| if i == 0 { !is_name_start(c) } else { !is_name_char(c) })
                .map_or(rest.len(), |(i, _)| i);
            if len == 0 {
                return Err(invalid_series(whole, "expected a label name or '}'"));
            }
            (rest[..len].to_string(), false, &rest[len..])
        };
        rest = after_name.trim_start();
        if let Some(after_eq) = rest.strip_prefix('=') {
            let value_text = after_eq.trim_start();
            let (value, after_value) =
                parse_string_literal(value_text).map_err(|reason| invalid_series(whole, reason))?;
            pairs.push((name, value));
            rest = after_value;
        } else if quoted {
            pairs.push((METRIC_NAME.to_string(), name));
        } else {
            return Err(invalid_series(whole, format!("expected '=' after label name {name:?}")));
        }
        rest = rest.trim_start();
        if let Some(after_comma) = rest.strip_prefix(',') {
            rest = after_comma;
        } else if !rest.starts_with('}') {
            return Err(invalid_series(whole, "expected ',' or '}' in the label set"));
        }
    }
}

/// Reads a Go string literal (`"..."` with escapes, `'...'`, or raw `` `...` ``) at the start of
/// `text`; returns the unquoted string and the rest. Escaped bytes that are not valid UTF-8
/// (`"\xc5"`) are replaced with U+FFFD.
pub fn parse_string_literal(text: &str) -> Result<(String, &str), String> {
    let mut chars = text.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('"' | '\'' | '`'))) => q,
        _ => return Err(format!("expected a quoted string at {text:?}")),
    };
    let mut bytes: Vec<u8> = Vec::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((String::from_utf8_lossy(&bytes).into_owned(), &text[i + c.len_utf8()..]));
        }
        if c == '\\' && quote != '`' {
            let (_, escape) = chars.next().ok_or("unterminated escape sequence")?;
            match escape {
                'a' => push_char(&mut bytes, '\u{7}'),
                'b' => push_char(&mut bytes, '\u{8}'),
                'f' => push_char(&mut bytes, '\u{c}'),
                'n' => push_char(&mut bytes, '\n'),
                'r' => push_char(&mut bytes, '\r'),
                't' => push_char(&mut bytes, '\t'),
                'v' => push_char(&mut bytes, '\u{b}'),
                '\\' => push_char(&mut bytes, '\\'),
                '"' | '\'' if escape == quote => push_char(&mut bytes, escape),
                'x' | 'u' | 'U' => {
                    let digits = match escape {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let mut code: u32 = 0;
                    for _ in 0..digits {
                        let (_, d) = chars.next().ok_or("unterminated escape sequence")?;
                        code = code * 16 + d.to_digit(16).ok_or("invalid hexadecimal escape")?;
                    }
                    if escape == 'x' {
                        bytes.push(code as u8);
                    } else {
                        push_char(&mut bytes, char::from_u32(code).ok_or("invalid Unicode escape")?);
                    }
                }
                '0'..='7' => {
                    let mut code = escape.to_digit(8).unwrap_or(0);
                    for _ in 0..2 {
                        let (_, d) = chars.next().ok_or("unterminated escape sequence")?;
                        code = code * 8 + d.to_digit(8).ok_or("invalid octal escape")?;
                    }
                    if code > 255 {
                        return Err("octal escape value above 255".into());
                    }
                    bytes.push(code as u8);
                }
                other => return Err(format!("unknown escape sequence \\{other}")),
            }
            continue;
        }
        if c == '\n' && quote != '`' {
            return Err("newline in string".into());
        }
        push_char(&mut bytes, c);
    }
    Err(format!("unterminated string {text:?}"))
}

fn push_char(bytes: &mut Vec<u8>, c: char) {
    bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}

/// Expands a values sequence (`1+2x3 _ stale {{...}}`).
pub fn parse_values(text: &str) -> Result<Vec<SequenceValue>, SeriesNotationError> {
    let mut values = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let (item_values, after) = if rest.starts_with("{{") {
            parse_histogram_item(text, rest)?
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (parse_item(text, &rest[..end])?, &rest[end..])
        };
        if !after.is_empty() && !after.starts_with(char::is_whitespace) {
            return Err(invalid_values(text, format!("unexpected {after:?} after an item")));
        }
        values.extend(item_values);
        rest = after.trim_start();
    }
    Ok(values)
}

/// `{{...}}`, `{{...}}xN` or `{{...}}(+|-){{...}}xN`.
fn parse_histogram_item<'a>(
    whole: &str,
    text: &'a str,
) -> Result<(Vec<SequenceValue>, &'a str), SeriesNotationError> {
    let (_, mut rest) = scan_histogram(whole, text)?;
    if let Some(count_text) = rest.strip_prefix('x') {
        let (count, after) = parse_count(whole, count_text)?;
        check_expansion(whole, count)?;
        rest = after;
    } else if let Some(sign) = rest.chars().next().filter(|c| *c == '+' || *c == '-')
        && rest[1..].starts_with("{{")
    {
        let (_, after_step) = scan_histogram(whole, &rest[1..])?;
        let count_text = after_step
            .strip_prefix('x')
            .ok_or_else(|| invalid_values(whole, "expected 'x<count>' after a histogram increment"))?;
        let (count, after) = parse_count(whole, count_text)?;
        check_expansion(whole, count)?;
        let _ = sign;
        rest = after;
    }
    let item = &text[..text.len() - rest.len()];
    let explicit_hint = item.contains("counter_reset_hint");
    let histograms =
        FloatHistogram::parse_test_series_item(item).map_err(|e| invalid_values(whole, e.to_string()))?;
    let values = histograms
        .into_iter()
        .map(|h| SequenceValue::Histogram(HistogramItem { histogram: Arc::new(h), explicit_hint }))
        .collect();
    Ok((values, rest))
}

/// Delimits one `{{...}}` literal at the start of `text`.
fn scan_histogram<'a>(whole: &str, text: &'a str) -> Result<(String, &'a str), SeriesNotationError> {
    let end =
        text.find("}}").ok_or_else(|| invalid_values(whole, "unterminated native histogram literal"))?;
    Ok((text[..end + 2].to_string(), &text[end + 2..]))
}

/// A repetition count (decimal digits) at the start of `text`.
fn parse_count<'a>(whole: &str, text: &'a str) -> Result<(u64, &'a str), SeriesNotationError> {
    let len = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let count = text[..len]
        .parse::<u64>()
        .map_err(|e| invalid_values(whole, format!("invalid repetition in series values: {e}")))?;
    Ok((count, &text[len..]))
}

/// Caps expansions so a typo (`1x99999999999`) fails instead of exhausting memory.
const MAX_EXPANSION: u64 = 10_000_000;

fn parse_item(whole: &str, item: &str) -> Result<Vec<SequenceValue>, SeriesNotationError> {
    if item == "_" {
        return Ok(vec![SequenceValue::Omitted]);
    }
    if let Some(count_text) = item.strip_prefix("_x") {
        let (count, rest) = parse_count(whole, count_text)?;
        if !rest.is_empty() {
            return Err(invalid_values(whole, format!("invalid item {item:?}")));
        }
        check_expansion(whole, count)?;
        return Ok((0..count).map(|_| SequenceValue::Omitted).collect());
    }
    let (first, rest) = if let Some(rest) = item.strip_prefix("stale") {
        (stale_nan(), rest)
    } else {
        parse_signed_number(item).ok_or_else(|| invalid_values(whole, format!("invalid item {item:?}")))?
    };
    if rest.is_empty() {
        return Ok(vec![SequenceValue::Float(first)]);
    }
    let (step, count_text) = if let Some(count_text) = rest.strip_prefix('x') {
        (None, count_text)
    } else if rest.starts_with(['+', '-']) {
        let (step, after) = parse_signed_number(rest)
            .ok_or_else(|| invalid_values(whole, format!("invalid increment in {item:?}")))?;
        let count_text = after
            .strip_prefix('x')
            .ok_or_else(|| invalid_values(whole, format!("expected 'x<count>' in {item:?}")))?;
        (Some(step), count_text)
    } else {
        return Err(invalid_values(whole, format!("invalid item {item:?}")));
    };
    let (count, after) = parse_count(whole, count_text)?;
    if !after.is_empty() {
        return Err(invalid_values(whole, format!("invalid item {item:?}")));
    }
    check_expansion(whole, count)?;
    let mut value = first;
    let mut values = Vec::with_capacity(count as usize + 1);
    for _ in 0..=count {
        values.push(SequenceValue::Float(value));
        if let Some(step) = step {
            value += step;
        }
    }
    Ok(values)
}

fn check_expansion(whole: &str, count: u64) -> Result<(), SeriesNotationError> {
    if count > MAX_EXPANSION {
        return Err(invalid_values(whole, format!("repetition count {count} is too large")));
    }
    Ok(())
}

/// An optionally signed number at the start of `text` (decimal with optional fraction and
/// exponent, or `Inf`/`NaN` in any case); returns the value and the rest.
fn parse_signed_number(text: &str) -> Option<(f64, &str)> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'+' => (false, &text[1..]),
        b'-' => (true, &text[1..]),
        _ => (false, text),
    };
    let (value, rest) = parse_unsigned_number(unsigned)?;
    Some((if negative { -value } else { value }, rest))
}

fn parse_unsigned_number(text: &str) -> Option<(f64, &str)> {
    for (word, value) in [("inf", f64::INFINITY), ("nan", f64::NAN)] {
        if text.len() >= 3 && text[..3].eq_ignore_ascii_case(word) {
            let rest = &text[3..];
            // `Infinity` or `Inflate` would be an identifier, not a number.
            if rest.starts_with(is_name_char) && !rest.starts_with('x') {
                return None;
            }
            return Some((value, rest));
        }
    }
    let bytes = text.as_bytes();
    let mut end = 0;
    let digits = |from: usize| bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let integer_digits = digits(0);
    end += integer_digits;
    let mut fraction_digits = 0;
    if bytes.get(end) == Some(&b'.') {
        fraction_digits = digits(end + 1);
        end += 1 + fraction_digits;
    }
    if integer_digits == 0 && fraction_digits == 0 {
        return None;
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut exponent_start = end + 1;
        if matches!(bytes.get(exponent_start), Some(b'+' | b'-')) {
            exponent_start += 1;
        }
        let exponent_digits = digits(exponent_start);
        if exponent_digits > 0 {
            end = exponent_start + exponent_digits;
        }
    }
    let value = text[..end].parse::<f64>().ok()?;
    Some((value, &text[end..]))
}

/// Parses a Prometheus duration (`0`, `1h30m`, `10s53ms`, units `y w d h m s ms` in that
/// order) into milliseconds.
pub fn parse_duration(text: &str) -> Result<i64, SeriesNotationError> {
    let invalid = || SeriesNotationError::InvalidDuration(text.to_string());
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err(invalid());
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = text;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digit_count = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digit_count == 0 {
            return Err(invalid());
        }
        let number: i64 = rest[..digit_count].parse().map_err(|_| invalid())?;
        rest = &rest[digit_count..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let position = UNITS[next_unit..].iter().position(|(u, _)| *u == unit).ok_or_else(invalid)?;
        let (_, factor) = UNITS[next_unit + position];
        next_unit += position + 1;
        total = number.checked_mul(factor).and_then(|v| total.checked_add(v)).ok_or_else(invalid)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}
