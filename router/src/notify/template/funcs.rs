//! Alertmanager's template functions (`template.DefaultFuncs`): `toUpper`, `toLower`,
//! `title`, `trimSpace`, `join`, `match`, `safeHtml`, `safeUrl`, `urlUnescape`,
//! `reReplaceAll`, `stringSlice`, `date`, `tz`, `since`, `humanizeDuration`; and the escaper
//! `render_html` appends to every printing action. KV label sets are map-like host objects, so
//! Go's own `index` and `range $k, $v := .Labels` read them by name.
//!
//! Where Prometheus's function of the same name behaves the same (`toUpper`, `toLower`,
//! `match`, `reReplaceAll`) it is reused from `template::prometheus`. `title` differs:
//! Alertmanager uses `cases.Title`, which also lowercases the rest of each word.

use std::sync::Arc;

use super::gotime::{self, GoTime, duration_value, time_arg, time_value};
use super::objects::{SAFE_HTML_TYPE, SafeHtmlObj, string_list_arg};
use crate::template::gofmt::sprint_value;
use crate::template::prometheus::{arity, humanize_duration, prometheus_funcs, string_arg};
use crate::template::{FuncMap, Value};

/// The name of the escaper `render_html` adds to printing actions (html/template's own name
/// for its HTML text escaper).
pub(crate) const HTML_ESCAPER: &str = "_html_template_htmlescaper";

/// `cases.Title(language.AmericanEnglish)`: the first letter of each word in title case, the
/// rest lowered (`1st` gives `1St`, as x/text does: digits are not letters). Words are runs
/// of letters, digits, `_` and inner apostrophes (an approximation of Unicode word breaking
/// that covers label values and prose).
pub(crate) fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Inside a word whose first letter has been title-cased.
    let mut cased = false;
    // Inside a word at all.
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphabetic() {
            if cased {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
                cased = true;
            }
            in_word = true;
        } else if c.is_numeric() || c == '_' {
            in_word = true;
            out.push(c);
        } else {
            let apostrophe_inside_word = in_word
                && (c == '\'' || c == '\u{2019}')
                && chars.peek().is_some_and(|n| n.is_alphanumeric());
            if !apostrophe_inside_word {
                in_word = false;
                cased = false;
            }
            out.push(c);
        }
    }
    out
}

/// Go's `url.QueryUnescape`, with its error text.
pub(crate) fn query_unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (b.get(i + 1).and_then(|&c| hex(c)), b.get(i + 2).and_then(|&c| hex(c))) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                    }
                    _ => {
                        let bad = String::from_utf8_lossy(&b[i..(i + 3).min(b.len())]).into_owned();
                        return Err(format!("invalid URL escape {}", crate::template::gofmt::quote(&bad)));
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// html/template's escaping of text content (`htmlEscaper`): `"` `'` `&` `+` `<` `>` as
/// entities, NUL as U+FFFD.
pub(crate) fn html_escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '+' => out.push_str("&#43;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Seconds from a number, a numeric string or a duration (prometheus/common's
/// `convertToFloat`, which also takes `time.Duration`).
fn seconds_arg(v: &Value) -> Result<f64, String> {
    if let Some(nanos) = gotime::as_duration(v) {
        return Ok(nanos as f64 / 1e9);
    }
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::String(s) => {
            let syntax = || {
                format!("strconv.ParseFloat: parsing {}: invalid syntax", crate::template::gofmt::quote(s))
            };
            if s.is_empty() || s.trim() != s || s.contains('_') {
                return Err(syntax());
            }
            s.parse::<f64>().map_err(|_| syntax())
        }
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// `since t` at `now_ms`: Go's `time.Since`.
pub(crate) fn since(now_ms: i64, args: &[Value]) -> Result<Value, String> {
    arity("since", 1, args)?;
    let t = time_arg(&args[0])?;
    Ok(duration_value(gotime::sub(&GoTime::instant_ms(now_ms), &t)))
}

/// The function map of notification templates.
pub(crate) fn notification_funcs() -> FuncMap {
    let prometheus = prometheus_funcs(0, None, "");
    let mut f = FuncMap::new();
    for name in ["toUpper", "toLower", "match", "reReplaceAll"] {
        if let Some(func) = prometheus.get(name) {
            f.insert(name, func.clone());
        }
    }
    f.add("title", |a: &[Value]| {
        arity("title", 1, a)?;
        Ok(Value::String(title(string_arg(&a[0])?)))
    });
    f.add("trimSpace", |a: &[Value]| {
        arity("trimSpace", 1, a)?;
        Ok(Value::String(string_arg(&a[0])?.trim().to_string()))
    });
    f.add("join", |a: &[Value]| {
        arity("join", 2, a)?;
        let sep = string_arg(&a[0])?;
        Ok(Value::String(string_list_arg(&a[1])?.join(sep)))
    });
    f.add("safeHtml", |a: &[Value]| {
        arity("safeHtml", 1, a)?;
        Ok(Value::Object(Arc::new(SafeHtmlObj(string_arg(&a[0])?.to_string()))))
    });
    f.add("safeUrl", |a: &[Value]| {
        arity("safeUrl", 1, a)?;
        Ok(Value::String(string_arg(&a[0])?.to_string()))
    });
    f.add("urlUnescape", |a: &[Value]| {
        arity("urlUnescape", 1, a)?;
        Ok(Value::String(query_unescape(string_arg(&a[0])?)?))
    });
    f.add("stringSlice", |a: &[Value]| {
        let items = a
            .iter()
            .map(|v| string_arg(v).map(|s| Value::String(s.to_string())))
            .collect::<Result<_, _>>()?;
        Ok(Value::List(items))
    });
    f.add("date", |a: &[Value]| {
        arity("date", 2, a)?;
        let layout = string_arg(&a[0])?;
        Ok(Value::String(time_arg(&a[1])?.format(layout)))
    });
    f.add("tz", |a: &[Value]| {
        arity("tz", 2, a)?;
        let zone = gotime::load_location(string_arg(&a[0])?)?;
        Ok(time_value(time_arg(&a[1])?.in_zone(zone)))
    });
    f.add("since", |a: &[Value]| {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        since(now_ms, a)
    });
    f.add("humanizeDuration", |a: &[Value]| {
        arity("humanizeDuration", 1, a)?;
        Ok(Value::String(humanize_duration(seconds_arg(&a[0])?)))
    });
    f.add(HTML_ESCAPER, |a: &[Value]| {
        let text = match a {
            [Value::Object(o)] if o.type_name() == SAFE_HTML_TYPE => return Ok(Value::String(o.go_string())),
            [Value::Nil] | [] => String::new(),
            [Value::String(s)] => s.clone(),
            [v] => sprint_value(v),
            many => crate::template::gofmt::sprint(many),
        };
        Ok(Value::String(html_escape_text(&text)))
    });
    f
}
