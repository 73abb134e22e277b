//! Prometheus's query API JSON, both ways: encoding our results byte for byte the way
//! Prometheus writes them, and decoding a Prometheus server's answers (for the remote
//! datasource).
//!
//! Encoding writes straight into a `String` instead of going through serde, because
//! Prometheus's format has details serde would not reproduce: timestamps are written as
//! `<seconds>.<milliseconds>` with the three millisecond digits kept (`1.500`, not `1.5`),
//! sample values are strings in Go's `strconv.FormatFloat(v, 'f', -1, 64)` form with `NaN`,
//! `+Inf` and `-Inf`, and strings are escaped like Go's encoding/json with HTML escaping
//! (`<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026`). An envelope is
//! `{"status":"success","data":…,"warnings":[…],"infos":[…]}` (annotations left out when
//! empty) or `{"status":"error","errorType":"bad_data","error":"…"}`.
//!
//! Decoding ([`decode_query_response`]) reads the same envelope with serde and turns `data`
//! back into a [`Value`].

use crate::histogram::FloatHistogram;
use crate::promql::{Annotations, InstantSample, MatrixSeries, QueryResult, Value};
use harrier_telemetry::model::{Labels, METRIC_NAME, Sample};
use serde::Deserialize;
use std::fmt::Write as _;

/// Prometheus's API error types (`errorType`), each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Timeout,
    Canceled,
    Execution,
    BadData,
    Internal,
    Unavailable,
    NotFound,
    NotAcceptable,
}

impl ErrorType {
    /// The `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Execution => "execution",
            ErrorType::BadData => "bad_data",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
            ErrorType::NotFound => "not_found",
            ErrorType::NotAcceptable => "not_acceptable",
        }
    }

    /// Parses an `errorType` string; unknown types read as `execution`.
    pub fn parse(s: &str) -> ErrorType {
        match s {
            "timeout" => ErrorType::Timeout,
            "canceled" => ErrorType::Canceled,
            "bad_data" => ErrorType::BadData,
            "internal" => ErrorType::Internal,
            "unavailable" => ErrorType::Unavailable,
            "not_found" => ErrorType::NotFound,
            "not_acceptable" => ErrorType::NotAcceptable,
            _ => ErrorType::Execution,
        }
    }

    /// The HTTP status Prometheus answers with (`returnAPIError` in web/api/v1/api.go).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorType::Timeout | ErrorType::Unavailable => 503,
            ErrorType::Canceled => 499,
            ErrorType::Execution => 422,
            ErrorType::BadData => 400,
            ErrorType::Internal => 500,
            ErrorType::NotFound => 404,
            ErrorType::NotAcceptable => 406,
        }
    }
}

/// Appends `s` as a JSON string, escaped as Go's encoding/json does with HTML escaping on.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escape: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let needs_hex =
            escape.is_none() && (c < ' ' || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}'));
        if escape.is_none() && !needs_hex {
            continue;
        }
        out.push_str(&s[start..i]);
        match escape {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends a millisecond timestamp as Prometheus does: seconds, then `.` and exactly three
/// digits when there are milliseconds (`1.500`, `1.050`, `-2.001`).
pub fn write_timestamp(out: &mut String, t_ms: i64) {
    let abs = t_ms.unsigned_abs();
    if t_ms < 0 {
        out.push('-');
    }
    let _ = write!(out, "{}", abs / 1000);
    let fraction = abs % 1000;
    if fraction != 0 {
        let _ = write!(out, ".{fraction:03}");
    }
}

/// A sample value as Go's `strconv.FormatFloat(v, 'f', -1, 64)`, with Prometheus's `NaN`,
/// `+Inf` and `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        // Rust's Display is the shortest round-tripping decimal without exponent, as Go's 'f'/-1.
        format!("{v}")
    }
}

/// Appends `[<timestamp>,"<value>"]`.
pub fn write_point(out: &mut String, t_ms: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t_ms);
    out.push_str(",\"");
    out.push_str(&format_value(v));
    out.push_str("\"]");
}

/// Appends a native histogram point, as Prometheus's `marshalHistogram`:
/// `[<t>,{"count":"<n>","sum":"<s>","buckets":[[<boundary rule>,"<lower>","<upper>","<count>"],...]}]`,
/// empty buckets left out (and `buckets` when all are). The boundary rule: 0 open left
/// (upper inclusive), 1 open right (lower inclusive), 2 open both, 3 closed both.
pub fn write_histogram_point(out: &mut String, t_ms: i64, h: &FloatHistogram) {
    out.push('[');
    write_timestamp(out, t_ms);
    out.push_str(",{\"count\":\"");
    out.push_str(&format_value(h.count));
    out.push_str("\",\"sum\":\"");
    out.push_str(&format_value(h.sum));
    out.push('"');
    let mut first = true;
    for bucket in h.all_bucket_iter() {
        if bucket.count == 0.0 {
            continue;
        }
        out.push_str(if first { ",\"buckets\":[" } else { "," });
        first = false;
        let rule = match (bucket.lower_inclusive, bucket.upper_inclusive) {
            (true, true) => 3,
            (true, false) => 1,
            (false, true) => 0,
            (false, false) => 2,
        };
        let _ = write!(
            out,
            "[{rule},\"{}\",\"{}\",\"{}\"]",
            format_value(bucket.lower),
            format_value(bucket.upper),
            format_value(bucket.count)
        );
    }
    if !first {
        out.push(']');
    }
    out.push_str("}]");
}

/// Appends a label set as a JSON object, in label order; `__name__` left out when `drop_name`.
pub fn write_labels(out: &mut String, labels: &Labels, drop_name: bool) {
    out.push('{');
    let mut first = true;
    for label in labels.iter() {
        if drop_name && label.name == METRIC_NAME {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_string(out, label.name);
        out.push(':');
        write_string(out, label.value);
    }
    out.push('}');
}

/// Appends a list of strings as a JSON array.
pub fn write_string_list(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, item);
    }
    out.push(']');
}

/// Appends `{"resultType":…,"result":…}` for a query's value.
pub fn write_query_data(out: &mut String, value: &Value) {
    out.push_str("{\"resultType\":");
    match value {
        Value::Scalar { t, v } => {
            out.push_str("\"scalar\",\"result\":");
            write_point(out, *t, *v);
        }
        Value::String { t, s } => {
            out.push_str("\"string\",\"result\":[");
            write_timestamp(out, *t);
            out.push(',');
            write_string(out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push_str("\"vector\",\"result\":[");
            for (i, sample) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &sample.labels, sample.drop_name);
                match &sample.h {
                    Some(h) => {
                        out.push_str(",\"histogram\":");
                        write_histogram_point(out, sample.t, h);
                    }
                    None => {
                        out.push_str(",\"value\":");
                        write_point(out, sample.t, sample.v);
                    }
                }
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push_str("\"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &s.labels, false);
                if !s.samples.is_empty() || s.histograms.is_empty() {
                    out.push_str(",\"values\":[");
                    for (j, sample) in s.samples.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_point(out, sample.timestamp_ms, sample.value);
                    }
                    out.push(']');
                }
                if !s.histograms.is_empty() {
                    out.push_str(",\"histograms\":[");
                    for (j, sample) in s.histograms.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_histogram_point(out, sample.timestamp_ms, &sample.histogram);
                    }
                    out.push(']');
                }
                out.push('}');
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// A success envelope around `data` (already JSON), with the annotations when there are any.
pub fn success(data: &str, annotations: &Annotations) -> String {
    let mut out = String::with_capacity(data.len() + 64);
    out.push_str("{\"status\":\"success\",\"data\":");
    out.push_str(data);
    if !annotations.warnings.is_empty() {
        out.push_str(",\"warnings\":");
        write_string_list(&mut out, &annotations.warnings);
    }
    if !annotations.infos.is_empty() {
        out.push_str(",\"infos\":");
        write_string_list(&mut out, &annotations.infos);
    }
    out.push('}');
    out
}

/// The success envelope of a query result.
pub fn query_success(result: &QueryResult) -> String {
    let mut data = String::with_capacity(256);
    write_query_data(&mut data, &result.value);
    success(&data, &result.annotations)
}

/// An error envelope.
pub fn error(error_type: ErrorType, message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 64);
    out.push_str("{\"status\":\"error\",\"errorType\":");
    write_string(&mut out, error_type.as_str());
    out.push_str(",\"error\":");
    write_string(&mut out, message);
    out.push('}');
    out
}

/// Why a Prometheus API answer could not be read back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid JSON response: {0}")]
    Json(String),
    /// The server answered `status: error`.
    #[error("{error_type}: {message}", error_type = error_type.as_str())]
    Api { error_type: ErrorType, message: String },
    #[error("unexpected response: {0}")]
    Shape(String),
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<QueryData>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
    #[serde(default)]
    infos: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct JsonVectorSample {
    metric: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    value: Option<(f64, String)>,
}

#[derive(Deserialize)]
struct JsonSeries {
    metric: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
    #[serde(default)]
    histograms: Option<serde_json::Value>,
}

/// Seconds (as Prometheus writes them) to milliseconds.
fn seconds_to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// Parses a sample value string (`"1.5"`, `"NaN"`, `"+Inf"`, `"-Inf"`).
pub fn parse_value(s: &str) -> Result<f64, DecodeError> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse::<f64>().map_err(|_| DecodeError::Shape(format!("invalid sample value {s:?}"))),
    }
}

fn shape<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> DecodeError + '_ {
    move |e| DecodeError::Shape(format!("{what}: {e}"))
}

/// Reads a `/api/v1/query` or `/api/v1/query_range` answer back into a [`QueryResult`]; an
/// error answer becomes [`DecodeError::Api`] with the server's `errorType` and `error`.
pub fn decode_query_response(body: &[u8]) -> Result<QueryResult, DecodeError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))?;
    if envelope.status != "success" {
        return Err(DecodeError::Api {
            error_type: ErrorType::parse(envelope.error_type.as_deref().unwrap_or("")),
            message: envelope.error.unwrap_or_else(|| format!("status {:?}", envelope.status)),
        });
    }
    let data = envelope.data.ok_or_else(|| DecodeError::Shape("no data in a success response".into()))?;
    let value = match data.result_type.as_str() {
        "scalar" => {
            let (t, v): (f64, String) =
                serde_json::from_value(data.result).map_err(shape("scalar result"))?;
            Value::Scalar { t: seconds_to_ms(t), v: parse_value(&v)? }
        }
        "string" => {
            let (t, s): (f64, String) =
                serde_json::from_value(data.result).map_err(shape("string result"))?;
            Value::String { t: seconds_to_ms(t), s }
        }
        "vector" => {
            let samples: Vec<JsonVectorSample> =
                serde_json::from_value(data.result).map_err(shape("vector result"))?;
            let mut out = Vec::with_capacity(samples.len());
            for sample in samples {
                let (t, v) = sample.value.ok_or_else(|| {
                    DecodeError::Shape("native histogram samples in a remote answer are not supported".into())
                })?;
                out.push(InstantSample {
                    labels: Labels::from_pairs(&sample.metric),
                    t: seconds_to_ms(t),
                    v: parse_value(&v)?,
                    h: None,
                    drop_name: false,
                });
            }
            Value::Vector(out)
        }
        "matrix" => {
            let series: Vec<JsonSeries> =
                serde_json::from_value(data.result).map_err(shape("matrix result"))?;
            let mut out = Vec::with_capacity(series.len());
            for s in series {
                if s.histograms.is_some() {
                    return Err(DecodeError::Shape(
                        "native histogram samples in a remote answer are not supported".into(),
                    ));
                }
                let samples = s
                    .values
                    .iter()
                    .map(|(t, v)| Ok(Sample { timestamp_ms: seconds_to_ms(*t), value: parse_value(v)? }))
                    .collect::<Result<Vec<_>, DecodeError>>()?;
                out.push(MatrixSeries::new(Labels::from_pairs(&s.metric), samples));
            }
            Value::Matrix(out)
        }
        other => return Err(DecodeError::Shape(format!("unknown resultType {other:?}"))),
    };
    let annotations = Annotations {
        warnings: envelope.warnings.unwrap_or_default(),
        infos: envelope.infos.unwrap_or_default(),
    };
    Ok(QueryResult { value, annotations })
}
