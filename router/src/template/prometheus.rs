//! Prometheus's template layer (`template/template.go`): its function map, the alert template
//! data, the expander alerting rules use (`missingkey=zero`, the `$labels`/`$value`/…
//! definitions prepended) and the parse-only check `promtool check rules` runs.
//!
//! Values keep Prometheus's Go types where they show: query results are
//! `template.queryResult` of `*template.sample` (fields `Labels`, `Value`), the alert data is
//! an anonymous struct (a missing field is an error, not `<no value>`), `toTime` gives a
//! `*time.Time` printed as Go prints times, `toDuration` a `*time.Duration`.

use std::collections::BTreeMap;
use std::sync::Arc;

use harrier_telemetry::duration::PromDuration;

use super::gofmt::{self, float_v, format_float};
use super::value::{TemplateObject, Value};
use super::{FuncMap, MissingKey, Template, raw_error};

/// One sample of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// What the `query` function runs on.
pub trait TemplateQuerier {
    /// Runs a PromQL instant query at `t_ms`; a vector or scalar result (scalar = one sample,
    /// no labels).
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<QuerySample>, String>;
}

/// The data an alert's labels and annotations are expanded with.
#[derive(Debug, Clone, Default)]
pub struct AlertTemplateData {
    pub labels: BTreeMap<String, String>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub value: f64,
}

/// The variables Prometheus defines before every alert template.
pub const ALERT_TEMPLATE_DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

const ALERT_DATA_TYPE: &str = "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";

impl TemplateObject for AlertTemplateData {
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Labels" => Some(Value::StringMap(self.labels.clone())),
            "ExternalLabels" => Some(Value::StringMap(self.external_labels.clone())),
            "ExternalURL" => Some(Value::String(self.external_url.clone())),
            "Value" => Some(Value::Float(self.value)),
            _ => None,
        }
    }
    fn type_name(&self) -> String {
        ALERT_DATA_TYPE.into()
    }
    fn go_string(&self) -> String {
        format!(
            "{{{} {} {} {}}}",
            gofmt::sprint_value(&Value::StringMap(self.labels.clone())),
            gofmt::sprint_value(&Value::StringMap(self.external_labels.clone())),
            self.external_url,
            float_v(self.value)
        )
    }
}

const SAMPLE_TYPE: &str = "*template.sample";
const QUERY_RESULT_TYPE: &str = "template.queryResult";

/// `*template.sample`.
struct SampleObj(QuerySample);

impl TemplateObject for SampleObj {
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Labels" => Some(Value::StringMap(self.0.labels.clone())),
            "Value" => Some(Value::Float(self.0.value)),
            _ => None,
        }
    }
    fn type_name(&self) -> String {
        SAMPLE_TYPE.into()
    }
    fn go_string(&self) -> String {
        format!(
            "&{{{} {}}}",
            gofmt::sprint_value(&Value::StringMap(self.0.labels.clone())),
            float_v(self.0.value)
        )
    }
}

/// `template.queryResult` (a slice of samples).
struct QueryResultObj(Vec<Value>);

impl TemplateObject for QueryResultObj {
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn type_name(&self) -> String {
        QUERY_RESULT_TYPE.into()
    }
    fn go_string(&self) -> String {
        gofmt::sprint_value(&Value::List(self.0.clone()))
    }
    fn elements(&self) -> Option<Vec<Value>> {
        Some(self.0.clone())
    }
}

/// `*time.Time` (from `toTime`).
struct TimeObj {
    secs: i64,
    nanos: u32,
}

impl TemplateObject for TimeObj {
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Unix" => Some(Value::Int(self.secs)),
            "UnixMilli" => Some(Value::Int(self.secs * 1000 + i64::from(self.nanos / 1_000_000))),
            "UnixNano" => Some(Value::Int(self.secs.saturating_mul(1_000_000_000) + i64::from(self.nanos))),
            "String" => Some(Value::String(self.go_string())),
            _ => None,
        }
    }
    fn type_name(&self) -> String {
        "*time.Time".into()
    }
    fn go_string(&self) -> String {
        go_time_string(self.secs, self.nanos)
    }
}

/// `*time.Duration` (from `toDuration`).
struct DurationObj(i64);

impl TemplateObject for DurationObj {
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Seconds" => Some(Value::Float(self.0 as f64 / 1e9)),
            "Minutes" => Some(Value::Float(self.0 as f64 / 6e10)),
            "Hours" => Some(Value::Float(self.0 as f64 / 3.6e12)),
            "Milliseconds" => Some(Value::Int(self.0 / 1_000_000)),
            "Nanoseconds" => Some(Value::Int(self.0)),
            "String" => Some(Value::String(go_duration_string(self.0))),
            _ => None,
        }
    }
    fn type_name(&self) -> String {
        "*time.Duration".into()
    }
    fn go_string(&self) -> String {
        go_duration_string(self.0)
    }
}

/// Go's `time.Time.String()` in UTC: `2015-06-23 13:19:44.128 +0000 UTC`.
pub fn go_time_string(secs: i64, nanos: u32) -> String {
    let Some(t) = chrono::DateTime::from_timestamp(secs, nanos) else {
        return format!("{secs}.{nanos:09}");
    };
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn go_duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Sub-second: ns, µs or ms with a fraction.
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac_string(u, div));
        out.push_str(unit);
    } else {
        let secs_total = u / 1_000_000_000;
        let h = secs_total / 3600;
        let m = (secs_total / 60) % 60;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        let s_ns = u - (h * 3600 + m * 60) * 1_000_000_000;
        out.push_str(&frac_string(s_ns, 1_000_000_000));
        out.push('s');
    }
    if neg { format!("-{out}") } else { out }
}

fn frac_string(v: u64, div: u64) -> String {
    let int = v / div;
    let frac = v % div;
    if frac == 0 {
        return int.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{frac:0width$}");
    format!("{int}.{}", f.trim_end_matches('0'))
}

/// Go's `strconv.ParseFloat(s, 64)` with its error texts.
fn parse_float(s: &str) -> Result<f64, String> {
    let syntax = || format!("strconv.ParseFloat: parsing {}: invalid syntax", gofmt::quote(s));
    if s.contains('_') || s.trim() != s || s.is_empty() {
        return Err(syntax());
    }
    let v: f64 = s.parse().map_err(|_| syntax())?;
    let lower = s.to_ascii_lowercase();
    if v.is_infinite() && !lower.contains("inf") {
        return Err(format!("strconv.ParseFloat: parsing {}: value out of range", gofmt::quote(s)));
    }
    Ok(v)
}

/// Prometheus's `convertToFloat`.
fn convert_to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::String(s) => parse_float(s),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// Go's arity error for a template function called with the wrong number of arguments.
pub(crate) fn arity(name: &str, want: usize, args: &[Value]) -> Result<(), String> {
    if args.len() != want {
        return Err(raw_error(format!("wrong number of args for {name}: want {want} got {}", args.len())));
    }
    Ok(())
}

/// Go's error for an argument of the wrong type.
pub(crate) fn wrong_type(expected: &str, got: &Value) -> String {
    if let Value::Nil = got {
        return raw_error(format!("invalid value; expected {expected}"));
    }
    raw_error(format!("wrong type for value; expected {expected}; got {}", got.type_name()))
}

/// A `string` argument.
pub(crate) fn string_arg(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| wrong_type("string", v))
}

/// A `*template.sample` argument: (labels, value). Nil panics in Go (a nil dereference).
fn sample_arg(v: &Value) -> Result<(BTreeMap<String, String>, f64), String> {
    match v {
        Value::Object(o) if o.type_name() == SAMPLE_TYPE => {
            let labels = match o.field("Labels") {
                Some(Value::StringMap(m)) => m,
                _ => BTreeMap::new(),
            };
            let value = match o.field("Value") {
                Some(Value::Float(f)) => f,
                _ => 0.0,
            };
            Ok((labels, value))
        }
        Value::Nil => Err("runtime error: invalid memory address or nil pointer dereference".into()),
        other => Err(wrong_type(SAMPLE_TYPE, other)),
    }
}

fn query_result_arg(v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Object(o) if o.type_name() == QUERY_RESULT_TYPE => Ok(o.elements().unwrap_or_default()),
        Value::Nil => Ok(Vec::new()),
        other => Err(wrong_type(QUERY_RESULT_TYPE, other)),
    }
}

fn run_query(querier: &dyn TemplateQuerier, q: &str, t_ms: i64) -> Result<Value, String> {
    let samples = querier.query(q, t_ms)?;
    Ok(query_result(samples.into_iter().map(sample_value).collect()))
}

fn sample_value(s: QuerySample) -> Value {
    Value::Object(Arc::new(SampleObj(s)))
}

fn query_result(samples: Vec<Value>) -> Value {
    Value::Object(Arc::new(QueryResultObj(samples)))
}

const PREFIXES_UP: [&str; 8] = ["k", "M", "G", "T", "P", "E", "Z", "Y"];
const PREFIXES_DOWN: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

fn g4(v: f64) -> String {
    format_float(v, 'g', 4)
}

/// Prometheus's `humanize`.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in PREFIXES_UP {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", g4(v));
    }
    for p in PREFIXES_DOWN {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus's `humanize1024`.
pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus's `humanizeDuration` (seconds in).
pub fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let duration = v as i64;
        let seconds = duration % 60;
        let minutes = (duration / 60) % 60;
        let hours = (duration / 60 / 60) % 24;
        let days = duration / 60 / 60 / 24;
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut prefix = "";
    for p in PREFIXES_DOWN {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Prometheus's `floatToTime`: seconds to a time at millisecond precision.
fn float_to_time(v: f64) -> Result<(i64, u32), String> {
    if v.is_nan() || v.is_infinite() {
        return Err("value is NaN or Inf".into());
    }
    let ts = v * 1e9;
    if ts > i64::MAX as f64 || ts < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            float_v(v)
        ));
    }
    // model.TimeFromUnixNano keeps milliseconds (truncating division).
    let ms = (ts as i64) / 1_000_000;
    let secs = ms.div_euclid(1000);
    let nanos = (ms.rem_euclid(1000) * 1_000_000) as u32;
    Ok((secs, nanos))
}

/// Prometheus's `humanizeTimestamp` (Unix seconds in).
pub fn humanize_timestamp(v: f64) -> Result<String, String> {
    if v.is_nan() || v.is_infinite() {
        return Ok(g4(v));
    }
    let (secs, nanos) = float_to_time(v)?;
    Ok(go_time_string(secs, nanos))
}

/// Go's `net.SplitHostPort`, `None` on error.
fn split_host_port(hp: &str) -> Option<(String, String)> {
    if let Some(rest) = hp.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = after.strip_prefix(':')?;
        if port.contains(':') || host.contains('[') || host.contains(']') {
            return None;
        }
        return Some((host.to_string(), port.to_string()));
    }
    let i = hp.rfind(':')?;
    let host = &hp[..i];
    if host.contains(':') || hp.contains('[') || hp.contains(']') {
        return None;
    }
    Some((host.to_string(), hp[i + 1..].to_string()))
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Prometheus's `stripPort`.
pub fn strip_port(hp: &str) -> String {
    split_host_port(hp).map_or_else(|| hp.to_string(), |(h, _)| h)
}

/// Prometheus's `stripDomain`.
pub fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or_else(|| (hp.to_string(), String::new()));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_string();
    }
    let first = host.split('.').next().unwrap_or_default();
    if port.is_empty() { first.to_string() } else { join_host_port(first, &port) }
}

/// Go's `strings.Title`.
pub fn title(s: &str) -> String {
    fn is_separator(c: char) -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if c.is_alphanumeric() {
            return false;
        }
        c.is_whitespace()
    }
    let mut prev = ' ';
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_separator(prev) {
            out.push(upper_rune(c));
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

fn upper_rune(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

fn lower_rune(c: char) -> char {
    let mut u = c.to_lowercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Prometheus's `graphLink` / `tableLink` (`util/strutil`).
pub fn graph_link(expr: &str, tab: u8) -> String {
    format!("/graph?g0.expr={}&g0.tab={tab}", super::builtins::query_escape(expr))
}

/// The path of a URL (`url.URL.Path`).
fn url_path(url: &str) -> String {
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            match after.find('/') {
                Some(j) => &after[j..],
                None => "",
            }
        }
        None => url,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    rest[..end].to_string()
}

/// Prometheus's `model.ParseDuration` error texts.
fn parse_prom_duration(s: &str) -> Result<f64, String> {
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    s.parse::<PromDuration>()
        .map(|d| d.as_duration().as_secs_f64())
        .map_err(|_| format!("not a valid duration string: {}", gofmt::quote(s)))
}

/// Compiles a regexp; the error reads like Go's (`error parsing regexp: WHAT: `PATTERN``),
/// though WHAT is the Rust regex crate's wording.
fn regex_compile(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| {
        let text = e.to_string();
        let what = text.lines().last().unwrap_or_default().trim_start_matches("error: ").to_string();
        format!("error parsing regexp: {what}: `{pattern}`")
    })
}

/// Go's `regexp` quoting of a pattern in `Compile` errors.
fn go_regexp_quote(s: &str) -> String {
    if s.contains('`') || s.chars().any(|c| c.is_control() && c != '\t') {
        gofmt::quote(s)
    } else {
        format!("`{s}`")
    }
}

/// Prometheus's function map for templates expanded at `t_ms`, with `query` running on
/// `querier` (an error without one) and `externalURL`/`pathPrefix` from `external_url`.
pub fn prometheus_funcs(
    t_ms: i64,
    querier: Option<Arc<dyn TemplateQuerier + Send + Sync>>,
    external_url: &str,
) -> FuncMap {
    let mut f = FuncMap::new();
    f.add("query", move |a: &[Value]| {
        arity("query", 1, a)?;
        let q = string_arg(&a[0])?;
        let Some(querier) = &querier else {
            return Err("no querier available to run queries in templates".into());
        };
        run_query(querier.as_ref(), q, t_ms)
    });
    f.add("first", |a: &[Value]| {
        arity("first", 1, a)?;
        let v = query_result_arg(&a[0])?;
        v.into_iter().next().ok_or_else(|| "first() called on vector with no elements".to_string())
    });
    f.add("label", |a: &[Value]| {
        arity("label", 2, a)?;
        let name = string_arg(&a[0])?;
        let (labels, _) = sample_arg(&a[1])?;
        Ok(Value::String(labels.get(name).cloned().unwrap_or_default()))
    });
    f.add("value", |a: &[Value]| {
        arity("value", 1, a)?;
        Ok(Value::Float(sample_arg(&a[0])?.1))
    });
    f.add("strvalue", |a: &[Value]| {
        arity("strvalue", 1, a)?;
        let (labels, _) = sample_arg(&a[0])?;
        Ok(Value::String(labels.get("__value__").cloned().unwrap_or_default()))
    });
    f.add("args", |a: &[Value]| {
        let m = a.iter().enumerate().map(|(i, v)| (format!("arg{i}"), v.clone())).collect();
        Ok(Value::Map(m))
    });
    f.add("reReplaceAll", |a: &[Value]| {
        arity("reReplaceAll", 3, a)?;
        let (pattern, repl, text) = (string_arg(&a[0])?, string_arg(&a[1])?, string_arg(&a[2])?);
        let re = regex_compile(pattern)
            .map_err(|e| format!("regexp: Compile({}): {e}", go_regexp_quote(pattern)))?;
        Ok(Value::String(re.replace_all(text, repl).into_owned()))
    });
    f.add("safeHtml", |a: &[Value]| {
        arity("safeHtml", 1, a)?;
        Ok(Value::String(string_arg(&a[0])?.to_string()))
    });
    f.add("match", |a: &[Value]| {
        arity("match", 2, a)?;
        let re = regex_compile(string_arg(&a[0])?)?;
        Ok(Value::Bool(re.is_match(string_arg(&a[1])?)))
    });
    f.add("title", |a: &[Value]| {
        arity("title", 1, a)?;
        Ok(Value::String(title(string_arg(&a[0])?)))
    });
    f.add("toUpper", |a: &[Value]| {
        arity("toUpper", 1, a)?;
        Ok(Value::String(string_arg(&a[0])?.chars().map(upper_rune).collect()))
    });
    f.add("toLower", |a: &[Value]| {
        arity("toLower", 1, a)?;
        Ok(Value::String(string_arg(&a[0])?.chars().map(lower_rune).collect()))
    });
    f.add("graphLink", |a: &[Value]| {
        arity("graphLink", 1, a)?;
        Ok(Value::String(graph_link(string_arg(&a[0])?, 0)))
    });
    f.add("tableLink", |a: &[Value]| {
        arity("tableLink", 1, a)?;
        Ok(Value::String(graph_link(string_arg(&a[0])?, 1)))
    });
    f.add("sortByLabel", |a: &[Value]| {
        arity("sortByLabel", 2, a)?;
        let label = string_arg(&a[0])?.to_string();
        let mut v = query_result_arg(&a[1])?;
        let key = |s: &Value| match s {
            Value::Object(o) => match o.field("Labels") {
                Some(Value::StringMap(m)) => m.get(&label).cloned().unwrap_or_default(),
                _ => String::new(),
            },
            _ => String::new(),
        };
        v.sort_by_cached_key(key);
        Ok(query_result(v))
    });
    f.add("stripPort", |a: &[Value]| {
        arity("stripPort", 1, a)?;
        Ok(Value::String(strip_port(string_arg(&a[0])?)))
    });
    f.add("stripDomain", |a: &[Value]| {
        arity("stripDomain", 1, a)?;
        Ok(Value::String(strip_domain(string_arg(&a[0])?)))
    });
    f.add("humanize", |a: &[Value]| {
        arity("humanize", 1, a)?;
        Ok(Value::String(humanize(convert_to_float(&a[0])?)))
    });
    f.add("humanize1024", |a: &[Value]| {
        arity("humanize1024", 1, a)?;
        Ok(Value::String(humanize1024(convert_to_float(&a[0])?)))
    });
    f.add("humanizeDuration", |a: &[Value]| {
        arity("humanizeDuration", 1, a)?;
        Ok(Value::String(humanize_duration(convert_to_float(&a[0])?)))
    });
    f.add("humanizePercentage", |a: &[Value]| {
        arity("humanizePercentage", 1, a)?;
        Ok(Value::String(format!("{}%", g4(convert_to_float(&a[0])? * 100.0))))
    });
    f.add("humanizeTimestamp", |a: &[Value]| {
        arity("humanizeTimestamp", 1, a)?;
        Ok(Value::String(humanize_timestamp(convert_to_float(&a[0])?)?))
    });
    f.add("toTime", |a: &[Value]| {
        arity("toTime", 1, a)?;
        let (secs, nanos) = float_to_time(convert_to_float(&a[0])?)?;
        Ok(Value::Object(Arc::new(TimeObj { secs, nanos })))
    });
    f.add("toDuration", |a: &[Value]| {
        arity("toDuration", 1, a)?;
        let v = convert_to_float(&a[0])?;
        if v.is_nan() || v.is_infinite() {
            return Err("value is NaN or Inf".into());
        }
        let d = v * 1e9;
        if d > i64::MAX as f64 || d < i64::MIN as f64 {
            return Err(format!(
                "{} cannot be represented as a nanoseconds duration since it overflows int64",
                float_v(v)
            ));
        }
        Ok(Value::Object(Arc::new(DurationObj(d as i64))))
    });
    f.add("now", move |a: &[Value]| {
        arity("now", 0, a)?;
        Ok(Value::Float(t_ms as f64 / 1000.0))
    });
    let path = url_path(external_url);
    f.add("pathPrefix", move |a: &[Value]| {
        arity("pathPrefix", 0, a)?;
        Ok(Value::String(path.clone()))
    });
    let url = external_url.to_string();
    f.add("externalURL", move |a: &[Value]| {
        arity("externalURL", 0, a)?;
        Ok(Value::String(url.clone()))
    });
    f.add("parseDuration", |a: &[Value]| {
        arity("parseDuration", 1, a)?;
        Ok(Value::Float(parse_prom_duration(string_arg(&a[0])?)?))
    });
    f.add("urlQueryEscape", |a: &[Value]| {
        arity("urlQueryEscape", 1, a)?;
        Ok(Value::String(super::builtins::query_escape(string_arg(&a[0])?)))
    });
    f
}

fn alert_template_name(alert_name: &str) -> String {
    format!("__alert_{alert_name}")
}

/// What `AlertingRule.Eval` does for one label or annotation: prepends
/// [`ALERT_TEMPLATE_DEFS`], parses as `__alert_NAME`, executes with `missingkey=zero`. The
/// error carries Prometheus's text (`error parsing template __alert_X: template: …` /
/// `error executing template __alert_X: template: …`).
pub fn expand_alert_template(
    alert_name: &str,
    text: &str,
    data: &AlertTemplateData,
    t_ms: i64,
    querier: Option<&dyn TemplateQuerier>,
    external_url: &str,
) -> Result<String, String> {
    let name = alert_template_name(alert_name);
    let funcs = prometheus_funcs(t_ms, None, external_url);
    let full = format!("{ALERT_TEMPLATE_DEFS}{text}");
    let tmpl =
        Template::parse(&name, &full, &funcs).map_err(|e| format!("error parsing template {name}: {e}"))?;
    let data = Value::Object(Arc::new(data.clone()));
    let local = |f: &str, args: &[Value]| -> Option<Result<Value, String>> {
        let querier = querier?;
        if f != "query" {
            return None;
        }
        Some(arity("query", 1, args).and_then(|()| run_query(querier, string_arg(&args[0])?, t_ms)))
    };
    tmpl.execute_with(&name, &data, &funcs, &local, MissingKey::Zero)
        .map_err(|e| format!("error executing template {name}: {e}"))
}

/// [`expand_alert_template`], with a failure turned into the text Prometheus puts in the
/// label or annotation instead: `<error expanding template: ERR>`.
pub fn expand_alert_template_or_error(
    alert_name: &str,
    text: &str,
    data: &AlertTemplateData,
    t_ms: i64,
    querier: Option<&dyn TemplateQuerier>,
    external_url: &str,
) -> String {
    expand_alert_template(alert_name, text, data, t_ms, querier, external_url)
        .unwrap_or_else(|e| format!("<error expanding template: {e}>"))
}

/// The check `promtool check rules` runs on alert labels and annotations (`ParseTest`):
/// parse only; the error is Go's parse error (`template: __alert_X:1: …`).
pub fn parse_check(alert_name: &str, text: &str) -> Result<(), String> {
    parse_check_named(&alert_template_name(alert_name), text)
}

/// [`parse_check`] with the template name given in full (`__alert_NAME`).
pub fn parse_check_named(template_name: &str, text: &str) -> Result<(), String> {
    let funcs = prometheus_funcs(0, None, "");
    let full = format!("{ALERT_TEMPLATE_DEFS}{text}");
    Template::parse(template_name, &full, &funcs).map(|_| ()).map_err(|e| e.to_string())
}
