//! The step-invariance re-runs of instant queries, as upstream's `atModifierTestCases`.
//!
//! Upstream runs every instant eval a second time with `@ <eval time>` added to each selector
//! and subquery that lacks one (selectors inside a subquery are left alone, since the subquery
//! itself gets the `@`), at several other evaluation times: the result must not change. A query
//! that calls a function whose result depends on the evaluation time (`time()`, `timestamp()`,
//! `hour()`, `predict_linear()`, ...) or on the query's range (`start()`, `end()`, `range()`,
//! `step()`) outside a subquery is not re-run.
//!
//! The rewritten query is the parser's AST printed back (`promql_parser`'s `Display`), as
//! upstream prints its own AST, with each string literal written as in the original query:
//! the parser decodes `"\xff"` to the character U+00FF where Prometheus (Go) keeps the byte
//! 0xFF, so printing the decoded value would change what the re-run means.

use crate::promql::engine::position::string_literal_spans;
use promql_parser::parser::{AtModifier, Expr, parse};
use promql_parser::util::unquote_string;
use std::time::{Duration, SystemTime};

/// Upstream's `AtModifierUnsafeFunctions`, plus the query-context functions `start()`, `end()`,
/// `range()` and `step()`: they read the query's own time range, so re-running them at other
/// times cannot give the same result (upstream's test files expect them at their eval time only).
const AT_MODIFIER_UNSAFE_FUNCTIONS: &[&str] = &[
    "start",
    "end",
    "range",
    "step",
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

/// One re-run: the rewritten query and when to evaluate it (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct AtModifierCase {
    pub query: String,
    pub eval_ms: i64,
}

/// The re-runs of `query` evaluated at `eval_ms` (empty when the query is not step invariant,
/// or when `eval_ms` is negative, which the parser's `@` cannot print).
pub fn at_modifier_cases(query: &str, eval_ms: i64) -> Result<Vec<AtModifierCase>, String> {
    let mut expr = parse(query)?;
    if eval_ms < 0 {
        return Ok(Vec::new());
    }
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(eval_ms.unsigned_abs());
    let mut unsafe_call = false;
    add_at(&mut expr, &at, &mut unsafe_call);
    if unsafe_call {
        return Ok(Vec::new());
    }
    let rewritten = restore_string_literals(query, &expr.to_string());
    let times: Vec<i64> = if eval_ms == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![eval_ms.saturating_mul(-10), 0, eval_ms / 5, eval_ms, eval_ms.saturating_mul(10)]
    };
    Ok(times.into_iter().map(|eval_ms| AtModifierCase { query: rewritten.clone(), eval_ms }).collect())
}

/// `rewritten` with its string literals replaced by the original query's, pairing them in
/// order; a pair is replaced only when both decode to the same value, and nothing is replaced
/// when the counts differ.
fn restore_string_literals(original: &str, rewritten: &str) -> String {
    let originals = string_literal_spans(original);
    let printed = string_literal_spans(rewritten);
    if originals.len() != printed.len() {
        return rewritten.to_string();
    }
    let mut restored = String::with_capacity(rewritten.len());
    let mut copied = 0;
    for (from, to) in originals.into_iter().zip(printed) {
        let (Some(old), Some(new)) = (original.get(from), rewritten.get(to.clone())) else { continue };
        if old == new || unquote_string(old).ok() != unquote_string(new).ok() {
            continue;
        }
        restored.push_str(&rewritten[copied..to.start]);
        restored.push_str(old);
        copied = to.end;
    }
    restored.push_str(&rewritten[copied..]);
    restored
}

fn add_at(expr: &mut Expr, at: &SystemTime, unsafe_call: &mut bool) {
    match expr {
        Expr::VectorSelector(vs) => {
            vs.at.get_or_insert(AtModifier::At(*at));
        }
        Expr::MatrixSelector(ms) => {
            ms.vs.at.get_or_insert(AtModifier::At(*at));
        }
        Expr::Subquery(sq) => {
            sq.at.get_or_insert(AtModifier::At(*at));
        }
        Expr::Call(call) => {
            *unsafe_call |= AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&call.func.name);
            for arg in &mut call.args.args {
                add_at(arg, at, unsafe_call);
            }
        }
        Expr::Aggregate(agg) => {
            if let Some(param) = &mut agg.param {
                add_at(param, at, unsafe_call);
            }
            add_at(&mut agg.expr, at, unsafe_call);
        }
        Expr::Binary(bin) => {
            add_at(&mut bin.lhs, at, unsafe_call);
            add_at(&mut bin.rhs, at, unsafe_call);
        }
        Expr::Paren(paren) => add_at(&mut paren.expr, at, unsafe_call),
        Expr::Unary(unary) => add_at(&mut unary.expr, at, unsafe_call),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}
