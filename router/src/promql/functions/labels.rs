//! Functions on label sets: `label_replace`, `label_join`, `absent` (and the labels
//! `absent_over_time` reports), `sort_by_label` and `sort_by_label_desc`.
//!
//! `label_replace` anchors its regex as Prometheus does (`^(?s:REGEX)$`) and expands `$1`,
//! `${name}` and `$$` with the `regex` crate's `Captures::expand`, whose rules match Go's
//! `Regexp.ExpandString` (longest name after `$`, unknown groups expand to nothing). Writing
//! `__name__` clears `drop_name`; other destinations keep it. Both functions fail, as
//! Prometheus does, when two outputs end up with one label set.
//!
//! `sort_by_label` compares label values in natural order (the `facette/natsort` algorithm:
//! runs of digits compare as integers, other runs as strings) and falls back to comparing
//! the whole label sets.

use super::{Args, FnOutput, FunctionError, ensure_unique_labelsets, output_sample};
use crate::promql::InstantSample;
use harrier_telemetry::model::{Labels, METRIC_NAME};
use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;
use std::cmp::Ordering;

/// Handles the functions of this module; `None` when `name` is not one of them.
pub(super) fn call(
    name: &str,
    args: &mut Args<'_>,
    arg_exprs: &[Box<Expr>],
    t: i64,
) -> Result<Option<FnOutput>, FunctionError> {
    let output = match name {
        "label_replace" => {
            let (dst, replacement, src, regex) =
                (args.string(1)?, args.string(2)?, args.string(3)?, args.string(4)?);
            label_replace(args.take_vector(0)?, &dst, &replacement, &src, &regex, t)?
        }
        "label_join" => {
            let dst = args.string(1)?;
            let separator = args.string(2)?;
            let sources = (3..args.len()).map(|i| args.string(i)).collect::<Result<Vec<_>, _>>()?;
            label_join(args.take_vector(0)?, &dst, &separator, &sources, t)?
        }
        "absent" => {
            if args.take_vector(0)?.is_empty() {
                let labels = arg_exprs.first().map(|e| absent_labels(e)).unwrap_or_default();
                vec![output_sample(labels, t, 1.0, false)]
            } else {
                Vec::new()
            }
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let names = (1..args.len()).map(|i| args.string(i)).collect::<Result<Vec<_>, _>>()?;
            let mut input = args.take_vector(0)?;
            let descending = name == "sort_by_label_desc";
            input.sort_by(|a, b| {
                let ordering = compare_by_labels(&a.labels, &b.labels, &names);
                if descending { ordering.reverse() } else { ordering }
            });
            for s in &mut input {
                s.t = t;
            }
            input
        }
        _ => return Ok(None),
    };
    Ok(Some(FnOutput::Vector(output)))
}

/// Whether Prometheus (in its default UTF-8 validation mode) accepts `name` as a label name.
fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

fn label_replace(
    input: Vec<InstantSample>,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
    t: i64,
) -> Result<Vec<InstantSample>, FunctionError> {
    let compiled = regex::Regex::new(&format!("^(?s:{regex})$")).map_err(|_| {
        FunctionError::Invalid(format!("invalid regular expression in label_replace(): {regex}"))
    })?;
    if !is_valid_label_name(dst) {
        return Err(FunctionError::Invalid(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut output = Vec::with_capacity(input.len());
    for mut sample in input {
        let source_value = sample.labels.get(src).unwrap_or("");
        if let Some(captures) = compiled.captures(source_value) {
            let mut value = String::new();
            captures.expand(replacement, &mut value);
            sample.labels.set(dst, &value);
            if dst == METRIC_NAME {
                sample.drop_name = false;
            }
        }
        sample.t = t;
        output.push(sample);
    }
    ensure_unique_labelsets(&output)?;
    Ok(output)
}

fn label_join(
    input: Vec<InstantSample>,
    dst: &str,
    separator: &str,
    sources: &[String],
    t: i64,
) -> Result<Vec<InstantSample>, FunctionError> {
    if let Some(invalid) = sources.iter().find(|s| !is_valid_label_name(s)) {
        return Err(FunctionError::Invalid(format!("invalid source label name in label_join(): {invalid}")));
    }
    if !is_valid_label_name(dst) {
        return Err(FunctionError::Invalid(format!("invalid destination label name in label_join(): {dst}")));
    }
    let mut output = Vec::with_capacity(input.len());
    for mut sample in input {
        let joined =
            sources.iter().map(|s| sample.labels.get(s).unwrap_or("")).collect::<Vec<_>>().join(separator);
        sample.labels.set(dst, &joined);
        if dst == METRIC_NAME {
            sample.drop_name = false;
        }
        sample.t = t;
        output.push(sample);
    }
    ensure_unique_labelsets(&output)?;
    Ok(output)
}

/// The labels `absent()`/`absent_over_time()` report: the equality matchers of the argument
/// selector, except `__name__`; a label matched more than once, or by any other matcher
/// type, is left out (Prometheus's historic behaviour).
pub(crate) fn absent_labels(expr: &Expr) -> Labels {
    let matchers = match expr {
        Expr::VectorSelector(vs) => &vs.matchers.matchers,
        Expr::MatrixSelector(ms) => &ms.vs.matchers.matchers,
        _ => return Labels::new(),
    };
    let mut labels: Vec<(&str, &str)> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) && !seen.contains(&m.name.as_str()) {
            labels.retain(|(n, _)| *n != m.name);
            labels.push((&m.name, &m.value));
            seen.push(&m.name);
        } else {
            labels.retain(|(n, _)| *n != m.name);
        }
    }
    Labels::from_pairs(labels)
}

/// `sort_by_label`'s order: the named labels' values in natural order, then the label sets.
fn compare_by_labels(a: &Labels, b: &Labels, names: &[String]) -> Ordering {
    for name in names {
        let (va, vb) = (a.get(name).unwrap_or(""), b.get(name).unwrap_or(""));
        if va == vb {
            continue;
        }
        return if natural_less(va, vb) { Ordering::Less } else { Ordering::Greater };
    }
    compare_label_sets(a, b)
}

/// Prometheus's `labels.Compare`: label by label, name then value; a prefix sorts first.
pub(crate) fn compare_label_sets(a: &Labels, b: &Labels) -> Ordering {
    let mut ia = a.iter();
    let mut ib = b.iter();
    loop {
        match (ia.next(), ib.next()) {
            (Some(la), Some(lb)) => {
                let ordering = la.name.cmp(lb.name).then_with(|| la.value.cmp(lb.value));
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (None, None) => return Ordering::Equal,
        }
    }
}

/// Splits into alternating runs of ASCII digits and non-digits.
fn chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut previous_digit: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let digit = c.is_ascii_digit();
        if previous_digit.is_some_and(|p| p != digit) {
            out.push(&s[start..i]);
            start = i;
        }
        previous_digit = Some(digit);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// `facette/natsort`'s `Compare(a, b)`: whether `a` sorts before `b`.
fn natural_less(a: &str, b: &str) -> bool {
    let (chunks_a, chunks_b) = (chunks(a), chunks(b));
    for (i, chunk_a) in chunks_a.iter().enumerate() {
        let Some(chunk_b) = chunks_b.get(i) else {
            return false;
        };
        let last_a = i == chunks_a.len() - 1;
        let last_b = i == chunks_b.len() - 1;
        if let (Ok(na), Ok(nb)) = (chunk_a.parse::<i64>(), chunk_b.parse::<i64>()) {
            if na == nb {
                if last_a {
                    return true;
                } else if last_b {
                    return false;
                }
                continue;
            }
            return na < nb;
        }
        if chunk_a == chunk_b {
            if last_a {
                return true;
            } else if last_b {
                return false;
            }
            continue;
        }
        return chunk_a < chunk_b;
    }
    false
}
