//! The data model notification templates walk, as Alertmanager's `template` package defines
//! it: `*template.Data` (`.Receiver`, `.Status`, `.Alerts`, `.GroupLabels`, `.CommonLabels`,
//! `.CommonAnnotations`, `.ExternalURL`), `template.Alerts` (with `.Firing` and `.Resolved`),
//! `template.Alert`, and `template.KV` label sets with `.SortedPairs`, `.Names`, `.Values`,
//! `.Remove`, whose pairs have `.Name` and `.Value`.
//!
//! Values print as Go's `fmt` prints them: a KV (and a Pairs) through its `String()` method
//! (`alertname=A, job=x`, `alertname` first), times through `time.Time.String()`, structs as
//! `{field field ...}`.
//!
//! A KV is a map with methods: `.Labels.job` reads an entry (`""` when missing, as
//! `missingkey=zero` does), a method name wins over a label of the same name (as in Go),
//! `range` walks the values in key order and `len` counts the entries. `index .Labels "job"`
//! goes through the function map's `index` (see `funcs`), which knows KVs.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::gotime::{GoTime, time_value};
use crate::template::gofmt::sprint_value;
use crate::template::prometheus::arity;
use crate::template::{TemplateObject, Value, raw_error};

/// A label or annotation set.
pub type Kv = Arc<BTreeMap<String, String>>;

pub(crate) const KV_TYPE: &str = "template.KV";

/// `KV.SortedPairs()`: `alertname` first, then the other names in byte order.
pub fn sorted_pairs(kv: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut pairs = Vec::with_capacity(kv.len());
    if let Some(v) = kv.get("alertname") {
        pairs.push(("alertname".to_string(), v.clone()));
    }
    pairs.extend(kv.iter().filter(|(k, _)| *k != "alertname").map(|(k, v)| (k.clone(), v.clone())));
    pairs
}

/// `Pairs.String()`: `a=1, b=2`.
fn pairs_string(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

fn strings(items: impl IntoIterator<Item = String>) -> Value {
    Value::List(items.into_iter().map(Value::String).collect())
}

/// A `[]string` argument.
pub(crate) fn string_list_arg(v: &Value) -> Result<Vec<String>, String> {
    let wrong = || match v {
        Value::Nil => raw_error("invalid value; expected []string"),
        other => raw_error(format!("wrong type for value; expected []string; got {}", other.type_name())),
    };
    let Value::List(items) = v else { return Err(wrong()) };
    items.iter().map(|i| i.as_str().map(str::to_string).ok_or_else(wrong)).collect()
}

pub(crate) fn kv_value(kv: Kv) -> Value {
    Value::Object(Arc::new(KvObj(kv)))
}

/// `template.KV`.
pub(crate) struct KvObj(pub(crate) Kv);

impl TemplateObject for KvObj {
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "SortedPairs" => Value::Object(Arc::new(PairsObj(sorted_pairs(&self.0)))),
            "Names" => strings(sorted_pairs(&self.0).into_iter().map(|(k, _)| k)),
            "Values" => strings(sorted_pairs(&self.0).into_iter().map(|(_, v)| v)),
            "String" => Value::String(self.go_string()),
            // A method that needs its argument.
            "Remove" => return None,
            key => Value::String(self.0.get(key).cloned().unwrap_or_default()),
        })
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Remove" => Some(arity(name, 1, args).and_then(|()| {
                let drop = string_list_arg(&args[0])?;
                let kept: BTreeMap<String, String> = self
                    .0
                    .iter()
                    .filter(|(k, _)| !drop.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Ok(kv_value(Arc::new(kept)))
            })),
            "SortedPairs" | "Names" | "Values" | "String" if !args.is_empty() => {
                Some(Err(raw_error(format!("wrong number of args for {name}: want 0 got {}", args.len()))))
            }
            _ => None,
        }
    }

    fn type_name(&self) -> String {
        KV_TYPE.into()
    }

    fn go_string(&self) -> String {
        pairs_string(&sorted_pairs(&self.0))
    }

    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        Some(self.0.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }

    fn elements(&self) -> Option<Vec<Value>> {
        Some(self.0.values().map(|v| Value::String(v.clone())).collect())
    }
}

/// `template.Pairs`.
struct PairsObj(Vec<(String, String)>);

impl TemplateObject for PairsObj {
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Names" => strings(self.0.iter().map(|(k, _)| k.clone())),
            "Values" => strings(self.0.iter().map(|(_, v)| v.clone())),
            "String" => Value::String(pairs_string(&self.0)),
            _ => return None,
        })
    }

    fn type_name(&self) -> String {
        "template.Pairs".into()
    }

    fn go_string(&self) -> String {
        pairs_string(&self.0)
    }

    fn elements(&self) -> Option<Vec<Value>> {
        Some(
            self.0
                .iter()
                .map(|(k, v)| Value::Object(Arc::new(PairObj { name: k.clone(), value: v.clone() })))
                .collect(),
        )
    }
}

/// `template.Pair`.
struct PairObj {
    name: String,
    value: String,
}

impl TemplateObject for PairObj {
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Name" => Some(Value::String(self.name.clone())),
            "Value" => Some(Value::String(self.value.clone())),
            _ => None,
        }
    }

    fn type_name(&self) -> String {
        "template.Pair".into()
    }

    fn go_string(&self) -> String {
        format!("{{{} {}}}", self.name, self.value)
    }
}

/// One alert as templates see it (Alertmanager's `template.Alert`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertData {
    /// `firing` or `resolved`.
    pub status: &'static str,
    pub labels: Kv,
    pub annotations: Kv,
    pub starts_at_ms: i64,
    /// `0` (Go's zero time) while the alert fires: Alertmanager hides a future end time.
    pub ends_at_ms: i64,
    pub generator_url: String,
    /// 16 hex digits.
    pub fingerprint: String,
}

pub(crate) struct AlertObj(pub(crate) Arc<AlertData>);

impl TemplateObject for AlertObj {
    fn field(&self, name: &str) -> Option<Value> {
        let a = &self.0;
        Some(match name {
            "Status" => Value::String(a.status.to_string()),
            "Labels" => kv_value(a.labels.clone()),
            "Annotations" => kv_value(a.annotations.clone()),
            "StartsAt" => time_value(GoTime::from_unix_ms(a.starts_at_ms)),
            "EndsAt" => time_value(GoTime::from_unix_ms(a.ends_at_ms)),
            "GeneratorURL" => Value::String(a.generator_url.clone()),
            "Fingerprint" => Value::String(a.fingerprint.clone()),
            _ => return None,
        })
    }

    fn type_name(&self) -> String {
        "template.Alert".into()
    }

    fn go_string(&self) -> String {
        let a = &self.0;
        format!(
            "{{{} {} {} {} {} {} {}}}",
            a.status,
            pairs_string(&sorted_pairs(&a.labels)),
            pairs_string(&sorted_pairs(&a.annotations)),
            GoTime::from_unix_ms(a.starts_at_ms).go_string(),
            GoTime::from_unix_ms(a.ends_at_ms).go_string(),
            a.generator_url,
            a.fingerprint
        )
    }
}

/// `template.Alerts` (with `.Firing` and `.Resolved`), or the plain `[]template.Alert` those
/// return.
pub(crate) struct AlertsObj {
    pub(crate) alerts: Vec<Arc<AlertData>>,
    /// `template.Alerts` (true) or `[]template.Alert`.
    pub(crate) with_methods: bool,
}

impl AlertsObj {
    fn subset(&self, status: &str) -> Value {
        let alerts = self.alerts.iter().filter(|a| a.status == status).cloned().collect();
        Value::Object(Arc::new(AlertsObj { alerts, with_methods: false }))
    }
}

impl TemplateObject for AlertsObj {
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Firing" if self.with_methods => Some(self.subset("firing")),
            "Resolved" if self.with_methods => Some(self.subset("resolved")),
            _ => None,
        }
    }

    fn type_name(&self) -> String {
        if self.with_methods { "template.Alerts".into() } else { "[]template.Alert".into() }
    }

    fn go_string(&self) -> String {
        sprint_value(&Value::List(self.elements().unwrap_or_default()))
    }

    fn elements(&self) -> Option<Vec<Value>> {
        Some(self.alerts.iter().map(|a| Value::Object(Arc::new(AlertObj(a.clone())))).collect())
    }
}

/// The fields of `*template.Data`, shared by the objects built from them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DataFields {
    pub(crate) receiver: String,
    pub(crate) status: &'static str,
    pub(crate) alerts: Vec<Arc<AlertData>>,
    pub(crate) group_labels: Kv,
    pub(crate) common_labels: Kv,
    pub(crate) common_annotations: Kv,
    pub(crate) external_url: String,
}

/// `*template.Data` (printed as the struct: text/template prints through the pointer).
pub(crate) struct DataObj(pub(crate) Arc<DataFields>);

impl TemplateObject for DataObj {
    fn field(&self, name: &str) -> Option<Value> {
        let d = &self.0;
        Some(match name {
            "Receiver" => Value::String(d.receiver.clone()),
            "Status" => Value::String(d.status.to_string()),
            "Alerts" => Value::Object(Arc::new(AlertsObj { alerts: d.alerts.clone(), with_methods: true })),
            "GroupLabels" => kv_value(d.group_labels.clone()),
            "CommonLabels" => kv_value(d.common_labels.clone()),
            "CommonAnnotations" => kv_value(d.common_annotations.clone()),
            "ExternalURL" => Value::String(d.external_url.clone()),
            _ => return None,
        })
    }

    fn type_name(&self) -> String {
        "*template.Data".into()
    }

    fn go_string(&self) -> String {
        let d = &self.0;
        let alerts = AlertsObj { alerts: d.alerts.clone(), with_methods: true };
        format!(
            "{{{} {} {} {} {} {} {}}}",
            d.receiver,
            d.status,
            alerts.go_string(),
            pairs_string(&sorted_pairs(&d.group_labels)),
            pairs_string(&sorted_pairs(&d.common_labels)),
            pairs_string(&sorted_pairs(&d.common_annotations)),
            d.external_url
        )
    }
}

/// `template.HTML` from `safeHtml`: printed as is, also by `render_html`.
pub(crate) struct SafeHtmlObj(pub(crate) String);

pub(crate) const SAFE_HTML_TYPE: &str = "template.HTML";

impl TemplateObject for SafeHtmlObj {
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }

    fn type_name(&self) -> String {
        SAFE_HTML_TYPE.into()
    }

    fn go_string(&self) -> String {
        self.0.clone()
    }

    fn truth(&self) -> bool {
        !self.0.is_empty()
    }
}
