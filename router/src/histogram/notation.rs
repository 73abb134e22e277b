//! The promqltest histogram literal, as Prometheus's series-description grammar
//! (`promql/parser/generated_parser.y`, `buildHistogramFromMap`) and `TestExpression()`.
//!
//! A literal is `{{key:value ...}}` with the keys `schema`, `sum`, `count`, `z_bucket`,
//! `z_bucket_w`, `custom_values:[..]`, `buckets:[..]`, `offset`, `n_buckets:[..]`, `n_offset`
//! and `counter_reset_hint` (`unknown`, `reset`, `not_reset`, `gauge`). Absent keys are 0 (or
//! empty); a non-empty bucket list becomes one span starting at its offset. A series item
//! `{{a}}xN` repeats `a` N+1 times, `{{a}}+{{b}}xN` (or `-`) yields `a`, `a+b`, ... `a+N·b`.
//!
//! Printing compacts the histogram into at most one span per side and writes the non-default
//! fields in Prometheus's order, numbers as Go's `%g`.

use super::{CounterResetHint, FloatHistogram, HistogramError, Span};

/// The value of one `key:value` item before it is assigned to a field.
enum ItemValue<'a> {
    Scalar(&'a str),
    List(Vec<&'a str>),
}

fn notation_error(message: impl Into<String>) -> HistogramError {
    HistogramError::Notation(message.into())
}

/// Parses a number as Prometheus's lexer/`number()` accept it: integers (also hex/octal),
/// floats, `Inf`/`NaN` with an optional sign.
pub(crate) fn parse_number(text: &str) -> Result<f64, HistogramError> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let magnitude = if lower == "inf" || lower == "infinity" {
        f64::INFINITY
    } else if lower == "nan" {
        f64::NAN
    } else if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16)
            .map(|v| v as f64)
            .map_err(|_| notation_error(format!("bad number {text:?}")))?
    } else {
        body.parse::<f64>().map_err(|_| notation_error(format!("error parsing number: {text:?}")))?
    };
    Ok(if negative { -magnitude } else { magnitude })
}

fn parse_int(key: &str, text: &str) -> Result<i32, HistogramError> {
    text.parse::<i32>().map_err(|_| notation_error(format!("error parsing {key} number: {text}")))
}

fn scalar<'a>(key: &str, value: &ItemValue<'a>) -> Result<&'a str, HistogramError> {
    match value {
        ItemValue::Scalar(text) => Ok(text),
        ItemValue::List(_) => Err(notation_error(format!("error parsing {key}: unexpected bucket list"))),
    }
}

fn list(key: &str, value: &ItemValue<'_>) -> Result<Vec<f64>, HistogramError> {
    match value {
        ItemValue::List(items) => items.iter().map(|item| parse_number(item)).collect(),
        ItemValue::Scalar(text) => Err(notation_error(format!("error parsing {key} float array: {text}"))),
    }
}

/// Splits the inside of a literal into `key:value` items.
fn split_items(body: &str) -> Result<Vec<(&str, ItemValue<'_>)>, HistogramError> {
    let mut items = Vec::new();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let colon = rest.find(':').ok_or_else(|| {
            notation_error(format!("unexpected {:?} in histogram description", rest.trim()))
        })?;
        let key = rest[..colon].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(notation_error(format!("unexpected {key:?} in histogram description")));
        }
        rest = rest[colon + 1..].trim_start();
        if let Some(after_bracket) = rest.strip_prefix('[') {
            let close = after_bracket
                .find(']')
                .ok_or_else(|| notation_error(format!("unclosed bucket list for {key}")))?;
            let elements: Vec<&str> = after_bracket[..close].split_whitespace().collect();
            if elements.is_empty() {
                return Err(notation_error(format!("empty bucket list for {key}")));
            }
            items.push((key, ItemValue::List(elements)));
            rest = after_bracket[close + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if end == 0 {
                return Err(notation_error(format!("missing value for {key}")));
            }
            items.push((key, ItemValue::Scalar(&rest[..end])));
            rest = rest[end..].trim_start();
        }
    }
    Ok(items)
}

/// Strips the `{{`/`}}` around a literal, if present.
fn strip_braces(text: &str) -> Result<&str, HistogramError> {
    let text = text.trim();
    match (text.strip_prefix("{{"), text.ends_with("}}")) {
        (Some(inner), true) if inner.len() >= 2 => Ok(&inner[..inner.len() - 2]),
        (None, false) => Ok(text),
        _ => Err(notation_error(format!("unbalanced braces in histogram description {text:?}"))),
    }
}

/// The longest run of empty buckets [`FloatHistogram::to_test_notation`] writes out.
const MAX_PRINTED_GAP: usize = 4096;

fn bucket_side(counts: Vec<f64>, offset: i32) -> (Vec<Span>, Vec<f64>) {
    if counts.is_empty() {
        return (Vec::new(), counts);
    }
    (vec![Span { offset, length: counts.len() as u32 }], counts)
}

impl FloatHistogram {
    /// Parses a promqltest histogram literal, `{{schema:1 sum:3 count:4 buckets:[1 2 1]}}`
    /// (the braces are optional).
    pub fn parse_test_notation(text: &str) -> Result<FloatHistogram, HistogramError> {
        let body = strip_braces(text)?;
        let mut histogram = FloatHistogram::default();
        let mut seen: Vec<&str> = Vec::new();
        let (mut positive, mut positive_offset) = (Vec::new(), 0);
        let (mut negative, mut negative_offset) = (Vec::new(), 0);
        for (key, value) in split_items(body)? {
            if seen.contains(&key) {
                return Err(notation_error(format!("duplicate key \"{key}\" in histogram")));
            }
            seen.push(key);
            match key {
                "schema" => histogram.schema = parse_int(key, scalar(key, &value)?)?,
                "sum" => histogram.sum = parse_number(scalar(key, &value)?)?,
                "count" => histogram.count = parse_number(scalar(key, &value)?)?,
                "z_bucket" => histogram.zero_count = parse_number(scalar(key, &value)?)?,
                "z_bucket_w" => histogram.zero_threshold = parse_number(scalar(key, &value)?)?,
                "custom_values" => histogram.custom_values = list(key, &value)?,
                "buckets" => positive = list(key, &value)?,
                "offset" => positive_offset = parse_int(key, scalar(key, &value)?)?,
                "n_buckets" => negative = list(key, &value)?,
                "n_offset" => negative_offset = parse_int(key, scalar(key, &value)?)?,
                "counter_reset_hint" => {
                    histogram.counter_reset_hint = match scalar(key, &value)? {
                        "unknown" => CounterResetHint::Unknown,
                        "reset" => CounterResetHint::CounterReset,
                        "not_reset" => CounterResetHint::NotCounterReset,
                        "gauge" => CounterResetHint::Gauge,
                        other => {
                            return Err(notation_error(format!(
                                "error parsing counter_reset_hint: unknown value {other}"
                            )));
                        }
                    }
                }
                other => return Err(notation_error(format!("unknown histogram description key {other:?}"))),
            }
        }
        (histogram.positive_spans, histogram.positive_buckets) = bucket_side(positive, positive_offset);
        (histogram.negative_spans, histogram.negative_buckets) = bucket_side(negative, negative_offset);
        Ok(histogram)
    }

    /// Prints the histogram as a promqltest literal (Prometheus's `TestExpression()`); the
    /// buckets are compacted into one span per side first. (Gaps of more than 4096 empty
    /// buckets, which the notation can only express by listing them, are closed up instead.)
    pub fn to_test_notation(&self) -> String {
        let mut compacted = self.clone();
        compacted.compact(MAX_PRINTED_GAP);
        let mut parts = Vec::new();
        if compacted.schema != 0 {
            parts.push(format!("schema:{}", compacted.schema));
        }
        if compacted.count != 0.0 {
            parts.push(format!("count:{}", format_go_float(compacted.count)));
        }
        if compacted.sum != 0.0 {
            parts.push(format!("sum:{}", format_go_float(compacted.sum)));
        }
        if compacted.zero_count != 0.0 {
            parts.push(format!("z_bucket:{}", format_go_float(compacted.zero_count)));
        }
        if compacted.zero_threshold != 0.0 {
            parts.push(format!("z_bucket_w:{}", format_go_float(compacted.zero_threshold)));
        }
        if compacted.uses_custom_buckets() {
            parts.push(format!("custom_values:{}", format_list(&compacted.custom_values)));
        }
        match compacted.counter_reset_hint {
            CounterResetHint::Unknown => {}
            CounterResetHint::CounterReset => parts.push("counter_reset_hint:reset".to_string()),
            CounterResetHint::NotCounterReset => parts.push("counter_reset_hint:not_reset".to_string()),
            CounterResetHint::Gauge => parts.push("counter_reset_hint:gauge".to_string()),
        }
        for (spans, counts, buckets_key, offset_key) in [
            (&compacted.positive_spans, &compacted.positive_buckets, "buckets", "offset"),
            (&compacted.negative_spans, &compacted.negative_buckets, "n_buckets", "n_offset"),
        ] {
            if let Some(first) = spans.first()
                && first.offset != 0
            {
                parts.push(format!("{offset_key}:{}", first.offset));
            }
            if !counts.is_empty() {
                parts.push(format!("{buckets_key}:{}", format_list(counts)));
            }
        }
        format!("{{{{{}}}}}", parts.join(" "))
    }

    /// Expands a series item: `start` repeated `times + 1` times without an increment, or
    /// `start`, `start + increment`, ... `start + times·increment` (each step an
    /// [`FloatHistogram::add`] on the previous value, as Prometheus's
    /// `histogramsIncreaseSeries`).
    pub fn expand_test_sequence(
        start: &FloatHistogram,
        increment: Option<&FloatHistogram>,
        times: usize,
    ) -> Result<Vec<FloatHistogram>, HistogramError> {
        expand(start, increment, times, false)
    }

    /// As [`FloatHistogram::expand_test_sequence`] for `{{a}}-{{b}}xN`: each step subtracts.
    pub fn expand_test_sequence_sub(
        start: &FloatHistogram,
        decrement: &FloatHistogram,
        times: usize,
    ) -> Result<Vec<FloatHistogram>, HistogramError> {
        expand(start, Some(decrement), times, true)
    }

    /// Parses one histogram series item: `{{a}}`, `{{a}}xN`, `{{a}}+{{b}}xN` or
    /// `{{a}}-{{b}}xN`, returning the values it stands for.
    pub fn parse_test_series_item(text: &str) -> Result<Vec<FloatHistogram>, HistogramError> {
        let text = text.trim();
        let first_end = text
            .find("}}")
            .ok_or_else(|| notation_error(format!("unclosed histogram description {text:?}")))?
            + 2;
        let start = FloatHistogram::parse_test_notation(&text[..first_end])?;
        let rest = &text[first_end..];
        if rest.is_empty() {
            return Ok(vec![start]);
        }
        let parse_times = |times: &str| -> Result<usize, HistogramError> {
            times.parse::<usize>().map_err(|_| notation_error(format!("bad repetition count {times:?}")))
        };
        if let Some(times) = rest.strip_prefix('x') {
            return FloatHistogram::expand_test_sequence(&start, None, parse_times(times)?);
        }
        let subtract = match rest.as_bytes().first() {
            Some(b'+') => false,
            Some(b'-') => true,
            _ => return Err(notation_error(format!("unexpected {rest:?} after histogram description"))),
        };
        let rest = &rest[1..];
        let step_end = rest
            .find("}}")
            .ok_or_else(|| notation_error(format!("unclosed histogram description {rest:?}")))?
            + 2;
        let step = FloatHistogram::parse_test_notation(&rest[..step_end])?;
        let times = rest[step_end..]
            .strip_prefix('x')
            .ok_or_else(|| notation_error(format!("missing repetition count in {text:?}")))?;
        expand(&start, Some(&step), parse_times(times)?, subtract)
    }
}

fn expand(
    start: &FloatHistogram,
    step: Option<&FloatHistogram>,
    times: usize,
    subtract: bool,
) -> Result<Vec<FloatHistogram>, HistogramError> {
    let mut values = Vec::with_capacity(times.saturating_add(1).min(1 << 20));
    values.push(start.clone());
    let mut current = start.clone();
    for _ in 0..times {
        if let Some(step) = step {
            if subtract {
                current.sub(step)?;
            } else {
                current.add(step)?;
            }
        }
        values.push(current.clone());
    }
    Ok(values)
}

fn format_list(values: &[f64]) -> String {
    let formatted: Vec<String> = values.iter().map(|v| format_go_float(*v)).collect();
    format!("[{}]", formatted.join(" "))
}

/// Go's `%g` for a float64: shortest round-tripping digits, exponent form below 1e-4 or from
/// 1e+06 on (two exponent digits at least), `+Inf`/`-Inf`/`NaN`.
pub(crate) fn format_go_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        return format!("{value}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}
