//! Request parameters as Prometheus reads them: the URL query and, for POST, an
//! `application/x-www-form-urlencoded` body (body values first, as Go's `r.Form`), times as
//! unix seconds or RFC 3339, durations as float seconds or Prometheus duration strings, and
//! `match[]` series selectors. Error messages are Prometheus's (`web/api/v1/api.go`).

use crate::store::Matcher;
use harrier_telemetry::duration::PromDuration;
use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;

/// Why a parameter was rejected; the message is what the API returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

impl ParamError {
    /// Prometheus's `invalid parameter "name": reason`.
    pub fn invalid(parameter: &str, reason: impl std::fmt::Display) -> Self {
        ParamError(format!("invalid parameter {parameter:?}: {reason}"))
    }
}

/// The form values of a request, in Go's `r.Form` order: POST body values, then URL query
/// values.
#[derive(Debug, Clone, Default)]
pub struct Form {
    values: Vec<(String, String)>,
}

impl Form {
    /// Parses the URL query and (when `body_is_form`) the body.
    pub fn parse(query: Option<&str>, body: Option<&[u8]>) -> Form {
        let mut values = Vec::new();
        if let Some(body) = body {
            values.extend(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())));
        }
        if let Some(query) = query {
            values.extend(
                form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())),
            );
        }
        Form { values }
    }

    /// The first value of `name`, or `""` (Go's `FormValue`).
    pub fn value(&self, name: &str) -> &str {
        self.values.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.values.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// Prometheus's `MinTime` and `MaxTime` in milliseconds, and the RFC 3339 strings clients send
/// for them (Go's parser only reads four-digit years, so Prometheus matches these literally).
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974 * 1000;
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974 * 1000 + 999;
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// Parses a time: unix seconds (fraction rounded to milliseconds) or RFC 3339; milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let fail = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(seconds) = parse_go_float(s) {
        if !seconds.is_finite() {
            return Err(fail());
        }
        let whole = seconds.trunc();
        let millis = ((seconds - whole) * 1000.0).round();
        let ms = whole * 1000.0 + millis;
        if ms < MIN_TIME_MS as f64 || ms > MAX_TIME_MS as f64 {
            return Err(fail());
        }
        return Ok(ms as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    match s {
        MIN_TIME_FORMATTED => Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => Ok(MAX_TIME_MS),
        _ => Err(fail()),
    }
}

/// A time parameter, `default` when absent or empty.
pub fn time_param(form: &Form, name: &str, default: i64) -> Result<i64, ParamError> {
    match form.value(name) {
        "" => Ok(default),
        s => parse_time(s).map_err(|e| ParamError::invalid(name, e)),
    }
}

/// Parses a duration: float seconds or a Prometheus duration string; milliseconds, rounded
/// down like Go's conversion to `time.Duration` (nanoseconds) and then to milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if let Ok(seconds) = parse_go_float(s) {
        let nanos = seconds * 1e9;
        if nanos.is_nan() || nanos > i64::MAX as f64 || nanos < i64::MIN as f64 {
            return Err(format!("cannot parse {s:?} to a valid duration. It overflows int64"));
        }
        return Ok((nanos as i64) / 1_000_000);
    }
    match s.parse::<PromDuration>() {
        Ok(d) => Ok(d.as_millis()),
        Err(_) => Err(format!("cannot parse {s:?} to a valid duration")),
    }
}

/// Go's `strconv.ParseFloat` for what clients send: decimal and exponent forms, `inf`,
/// `infinity` and `nan` in any case (Rust's parser reads the same). Go's hexadecimal floats
/// and `_` separators are not accepted (no client sends them).
fn parse_go_float(s: &str) -> Result<f64, std::num::ParseFloatError> {
    s.parse::<f64>()
}

/// Parses `match[]` selectors into matcher sets (one per selector, or per `or` branch), each
/// with at least one matcher that does not match the empty string, as Prometheus requires.
pub fn parse_match_params(selectors: &[&str]) -> Result<Vec<Vec<Matcher>>, ParamError> {
    let mut sets = Vec::new();
    for selector in selectors {
        let expr = promql_parser::parser::parse(selector).map_err(|e| ParamError::invalid("match[]", e))?;
        let Expr::VectorSelector(vs) = expr else {
            return Err(ParamError::invalid("match[]", format!("{selector:?} is not a series selector")));
        };
        if vs.offset.is_some() || vs.at.is_some() {
            return Err(ParamError::invalid("match[]", format!("{selector:?} is not a series selector")));
        }
        let name_matcher = vs.name.as_ref().map(|n| Matcher::new(MatchOp::Equal, "__name__", n));
        let branches = if vs.matchers.or_matchers.is_empty() {
            vec![vs.matchers.matchers]
        } else {
            vs.matchers.or_matchers
        };
        for mut set in branches {
            if let Some(m) = &name_matcher {
                set.insert(0, m.clone());
            }
            sets.push(set);
        }
    }
    for set in &sets {
        if set.iter().all(|m| m.is_match("")) {
            return Err(ParamError("match[] must contain at least one non-empty matcher".into()));
        }
    }
    Ok(sets)
}

/// Parses the optional `limit` parameter (0 or absent: no limit).
pub fn limit_param(form: &Form) -> Result<usize, ParamError> {
    match form.value("limit") {
        "" => Ok(0),
        s => match s.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n as usize),
            Ok(_) => Err(ParamError::invalid("limit", "limit must be non-negative")),
            Err(_) => Err(ParamError::invalid("limit", format!("cannot parse {s:?} to a valid limit"))),
        },
    }
}
