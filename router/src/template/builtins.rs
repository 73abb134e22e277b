//! Go's predefined template functions (`text/template/funcs.go`) over [`Value`]s: comparison
//! with Go's basic-kind rules, `index`, `slice`, `len`, `not`, the printers and escapers.
//! `and`, `or` (short-circuit) and `call` live in the executor, which sees the argument nodes.

use super::gofmt;
use super::value::Value;

/// Name, fixed argument count, variadic: Go's signatures, for the arity errors.
const BUILTINS: &[(&str, usize, bool)] = &[
    ("and", 1, true),
    ("or", 1, true),
    ("call", 1, true),
    ("not", 1, false),
    ("len", 1, false),
    ("index", 1, true),
    ("slice", 1, true),
    ("print", 0, true),
    ("printf", 1, true),
    ("println", 0, true),
    ("eq", 1, true),
    ("ne", 2, false),
    ("lt", 2, false),
    ("le", 2, false),
    ("gt", 2, false),
    ("ge", 2, false),
    ("html", 0, true),
    ("js", 0, true),
    ("urlquery", 0, true),
];

/// The arity of a builtin: (fixed, variadic).
pub fn arity(name: &str) -> Option<(usize, bool)> {
    BUILTINS.iter().find(|(n, ..)| *n == name).map(|&(_, f, v)| (f, v))
}

pub fn is_builtin(name: &str) -> bool {
    arity(name).is_some()
}

const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";
const BAD_COMPARISON: &str = "incompatible types for comparison";
const NO_COMPARISON: &str = "missing argument for comparison";

#[derive(PartialEq, Eq, Clone, Copy)]
enum BasicKind {
    Invalid,
    Bool,
    Int,
    Float,
    String,
    Other,
}

fn basic_kind(v: &Value) -> BasicKind {
    match v {
        Value::Nil => BasicKind::Invalid,
        Value::Bool(_) => BasicKind::Bool,
        Value::Int(_) => BasicKind::Int,
        Value::Float(_) => BasicKind::Float,
        Value::String(_) => BasicKind::String,
        _ => BasicKind::Other,
    }
}

/// Go's `eq arg1 arg2...`: true if arg1 equals any of the others.
pub fn eq(args: &[Value]) -> Result<bool, String> {
    let Some((a, rest)) = args.split_first() else {
        return Err(NO_COMPARISON.into());
    };
    if rest.is_empty() {
        return Err(NO_COMPARISON.into());
    }
    let k1 = basic_kind(a);
    for b in rest {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if k1 != BasicKind::Invalid && k2 != BasicKind::Invalid {
                return Err(BAD_COMPARISON.into());
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::String(x), Value::String(y)) => x == y,
                (Value::Nil, Value::Nil) => true,
                (Value::Object(_), Value::Object(_)) => a == b,
                (Value::List(_) | Value::Map(_) | Value::StringMap(_), _) => {
                    return Err(format!("non-comparable type {}: {}", gofmt::sprint_value(a), a.type_name()));
                }
                _ => return Err(BAD_COMPARISON.into()),
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
pub fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let k1 = basic_kind(a);
    let k2 = basic_kind(b);
    if matches!(k1, BasicKind::Invalid | BasicKind::Other)
        || matches!(k2, BasicKind::Invalid | BasicKind::Other)
    {
        return Err(BAD_COMPARISON_TYPE.into());
    }
    if k1 != k2 {
        return Err(BAD_COMPARISON.into());
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::String(x), Value::String(y)) => Ok(x < y),
        _ => Err(BAD_COMPARISON_TYPE.into()),
    }
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(&[a.clone(), b.clone()])
}

fn index_arg(index: &Value, cap: usize, slice: bool) -> Result<usize, String> {
    let x = match index {
        Value::Int(i) => *i,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => return Err(format!("cannot index slice/array with type {}", other.type_name())),
    };
    let over = if slice { x as i128 > cap as i128 } else { x as i128 >= cap as i128 };
    if x < 0 || over {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

/// Go's `index item idx...`.
pub fn index(args: &[Value]) -> Result<Value, String> {
    let Some((item, indexes)) = args.split_first() else {
        return Err("wrong number of args".into());
    };
    if let Value::Nil = item {
        return Err("index of untyped nil".into());
    }
    let mut item = item.clone();
    for idx in indexes {
        item = match &item {
            Value::String(s) => {
                let x = index_arg(idx, s.len(), false)?;
                Value::Int(i64::from(s.as_bytes()[x]))
            }
            Value::Map(_) | Value::StringMap(_) | Value::Object(_) if item.map_get("").is_some() => {
                let key = match idx {
                    Value::String(k) => k.clone(),
                    Value::Nil => {
                        return Err(format!("value is nil; should be of type {}", "string"));
                    }
                    other => return Err(format!("value has type {}; should be string", other.type_name())),
                };
                match item.map_get(&key) {
                    Some(Some(v)) => v,
                    _ => item.map_zero(),
                }
            }
            Value::Nil => return Err("index of nil pointer".into()),
            other => match other.list_elements() {
                Some(l) => {
                    let x = index_arg(idx, l.len(), false)?;
                    l[x].clone()
                }
                None => return Err(format!("can't index item of type {}", other.type_name())),
            },
        };
    }
    Ok(item)
}

/// Go's `slice item i j k`.
pub fn slice(args: &[Value]) -> Result<Value, String> {
    let Some((item, indexes)) = args.split_first() else {
        return Err("wrong number of args".into());
    };
    if let Value::Nil = item {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let (len, is_str) = match item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            (s.len(), true)
        }
        other => match other.list_elements() {
            Some(l) => (l.len(), false),
            None => return Err(format!("can't slice item of type {}", other.type_name())),
        },
    };
    let mut idx = [0, len, len];
    for (i, x) in indexes.iter().enumerate() {
        idx[i] = index_arg(x, len, true)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    if is_str {
        let bytes = item.as_str().unwrap_or_default().as_bytes();
        return Ok(Value::String(String::from_utf8_lossy(&bytes[idx[0]..idx[1]]).into_owned()));
    }
    let l = item.list_elements().unwrap_or_default();
    Ok(Value::List(l[idx[0]..idx[1]].to_vec()))
}

/// Go's `len`.
pub fn len(v: &Value) -> Result<Value, String> {
    let n = match v {
        Value::String(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::StringMap(m) => m.len(),
        Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        other => match other.list_elements() {
            Some(l) => l.len(),
            None => return Err(format!("len of type {}", other.type_name())),
        },
    };
    Ok(Value::Int(n as i64))
}

/// Go's `evalArgs` for the escapers: a lone string as is, else `fmt.Sprint` with nil
/// arguments shown as `<no value>`.
fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.clone();
    }
    let printable: Vec<Value> = args
        .iter()
        .map(|a| if let Value::Nil = a { Value::String("<no value>".into()) } else { a.clone() })
        .collect();
    gofmt::sprint(&printable)
}

/// Go's `template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_ascii() => out.push(c),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Calls a non-lazy builtin; `None` when `name` is not one of them.
pub fn call(name: &str, args: &[Value]) -> Option<Result<Value, String>> {
    let two = || (args.first().cloned().unwrap_or_default(), args.get(1).cloned().unwrap_or_default());
    Some(match name {
        "not" => Ok(Value::Bool(!args.first().is_some_and(Value::truth))),
        "len" => len(args.first().unwrap_or(&Value::Nil)),
        "index" => index(args),
        "slice" => slice(args),
        "print" => Ok(Value::String(gofmt::sprint(args))),
        "println" => Ok(Value::String(gofmt::sprintln(args))),
        "printf" => match args.split_first() {
            Some((Value::String(f), rest)) => Ok(Value::String(gofmt::sprintf(f, rest))),
            Some((other, _)) => Err(super::raw_error(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            ))),
            None => Err("wrong number of args".into()),
        },
        "eq" => eq(args).map(Value::Bool),
        "ne" => {
            let (a, b) = two();
            eq(&[a, b]).map(|t| Value::Bool(!t))
        }
        "lt" => {
            let (a, b) = two();
            lt(&a, &b).map(Value::Bool)
        }
        "le" => {
            let (a, b) = two();
            le(&a, &b).map(Value::Bool)
        }
        "gt" => {
            let (a, b) = two();
            le(&a, &b).map(|t| Value::Bool(!t))
        }
        "ge" => {
            let (a, b) = two();
            lt(&a, &b).map(|t| Value::Bool(!t))
        }
        "html" => Ok(Value::String(html_escape(&eval_args(args)))),
        "js" => Ok(Value::String(js_escape(&eval_args(args)))),
        "urlquery" => Ok(Value::String(query_escape(&eval_args(args)))),
        _ => return None,
    })
}
