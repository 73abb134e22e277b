//! Template values: the dynamic data a template walks, with Go's notions of truth, type names
//! and `%v` printing.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::gofmt;

/// Host data a template can reach into (`.Field`, `.Method args`): Alertmanager's `.Alerts`,
/// Prometheus's alert data struct, query samples.
pub trait TemplateObject: Send + Sync {
    /// A field (or a method without arguments that Go templates call like a field).
    fn field(&self, name: &str) -> Option<Value>;
    /// A method called with arguments; `None` when there is no such method.
    fn method(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    /// The Go type name used in error messages (`*template.sample`, `struct { ... }`).
    fn type_name(&self) -> String {
        "object".to_string()
    }
    /// Go's `%v` form of the object.
    fn go_string(&self) -> String;
    /// The entries, in key order, when the object stands for a Go map (a named map type with
    /// methods, like Alertmanager's `KV`): `range` yields them as key/value and `index` reads
    /// them by key.
    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }
    /// Go truth of the object (non-nil pointers and structs are true).
    fn truth(&self) -> bool {
        true
    }
    /// The elements when the object is a slice Go can range over (`.Alerts.Firing`).
    fn elements(&self) -> Option<Vec<Value>> {
        None
    }
}

/// A template value. Maps are ranged and printed in sorted key order, as Go does.
#[derive(Clone, Default)]
pub enum Value {
    /// Go's nil / the invalid value (a missing map entry).
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// A Go `[]interface{}`.
    List(Vec<Value>),
    /// A Go `map[string]interface{}`: a missing key's zero value is nil.
    Map(BTreeMap<String, Value>),
    /// A Go `map[string]string` (label sets): a missing key's zero value is `""`.
    StringMap(BTreeMap<String, String>),
    /// Host data with fields and methods.
    Object(Arc<dyn TemplateObject>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.type_name(), gofmt::sprint_value(self))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::StringMap(a), Value::StringMap(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<BTreeMap<String, String>> for Value {
    fn from(v: BTreeMap<String, String>) -> Self {
        Value::StringMap(v)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::List(v)
    }
}

impl Value {
    /// The Go type name, for error messages.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::StringMap(_) => "map[string]string".into(),
            Value::Object(o) => o.type_name(),
        }
    }

    /// Go's `isTrue`: false, 0, nil, and empty strings, slices and maps are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::StringMap(m) => !m.is_empty(),
            Value::Object(o) => match o.elements() {
                Some(e) => !e.is_empty(),
                None => o.truth(),
            },
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A map entry (`map[string]…`), `None` when this is not a map; `Some(None)` when missing.
    pub(super) fn map_get(&self, key: &str) -> Option<Option<Value>> {
        match self {
            Value::Map(m) => Some(m.get(key).cloned()),
            Value::StringMap(m) => Some(m.get(key).map(|s| Value::String(s.clone()))),
            Value::Object(o) => {
                o.map_entries().map(|e| e.into_iter().find(|(k, _)| k == key).map(|(_, v)| v))
            }
            _ => None,
        }
    }

    /// The zero value of a map's element type (missingkey=zero).
    pub(super) fn map_zero(&self) -> Value {
        match self {
            // Map-like host objects are string maps (Alertmanager's `KV`).
            Value::StringMap(_) | Value::Object(_) => Value::String(String::new()),
            _ => Value::Nil,
        }
    }

    /// Map entries in key order.
    pub(super) fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        match self {
            Value::Map(m) => Some(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            Value::StringMap(m) => {
                Some(m.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
            }
            Value::Object(o) => o.map_entries(),
            _ => None,
        }
    }

    /// Slice elements (lists and list-like objects).
    pub(super) fn list_elements(&self) -> Option<Vec<Value>> {
        match self {
            Value::List(l) => Some(l.clone()),
            Value::Object(o) => o.elements(),
            _ => None,
        }
    }
}
