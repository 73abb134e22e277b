//! Element-wise float functions (`abs`, `exp`, the trigonometric family, ...), `clamp*`,
//! `round`, `sgn`, and the small functions between scalars and vectors (`scalar`, `vector`,
//! `time`, `pi`, `timestamp`), plus `sort`/`sort_desc`.
//!
//! Every element-wise function marks its output `drop_name` (Prometheus's `simpleFloatFunc`);
//! `sort` and `sort_desc` keep samples as they came. Floats follow Go: `clamp` is
//! `math.Max(min, math.Min(max, v))` with Go's NaN rules, and `round` is
//! `floor(v / to_nearest + 0.5) * to_nearest` computed through the inverse, so ties round up
//! (`round(-2.5)` is -2), as Prometheus does.

use super::numeric::{go_max, go_min};
use super::{Args, FnOutput, FunctionError, output_sample};
use crate::promql::InstantSample;
use std::cmp::Ordering;

/// Handles the functions of this module; `None` when `name` is not one of them.
pub(super) fn call(name: &str, args: &mut Args<'_>, t: i64) -> Result<Option<FnOutput>, FunctionError> {
    if let Some(f) = element_wise(name) {
        let input = args.take_vector(0)?;
        return Ok(Some(FnOutput::Vector(map_values(input, t, f))));
    }
    let output = match name {
        "time" => FnOutput::Scalar(t as f64 / 1000.0),
        "pi" => FnOutput::Scalar(std::f64::consts::PI),
        "scalar" => {
            let input = args.take_vector(0)?;
            let value = match input.as_slice() {
                [only] => only.v,
                _ => f64::NAN,
            };
            FnOutput::Scalar(value)
        }
        "vector" => {
            let value = args.scalar(0)?;
            FnOutput::Vector(vec![output_sample(Default::default(), t, value, false)])
        }
        "clamp" => {
            let (min, max) = (args.scalar(1)?, args.scalar(2)?);
            FnOutput::Vector(clamp(args.take_vector(0)?, min, max, t))
        }
        "clamp_min" => {
            let min = args.scalar(1)?;
            FnOutput::Vector(clamp(args.take_vector(0)?, min, f64::INFINITY, t))
        }
        "clamp_max" => {
            let max = args.scalar(1)?;
            FnOutput::Vector(clamp(args.take_vector(0)?, f64::NEG_INFINITY, max, t))
        }
        "round" => {
            let to_nearest = if args.len() >= 2 { args.scalar(1)? } else { 1.0 };
            let inverse = 1.0 / to_nearest;
            let input = args.take_vector(0)?;
            FnOutput::Vector(map_values(input, t, |v| (v * inverse + 0.5).floor() / inverse))
        }
        "timestamp" => {
            let input = args.take_vector(0)?;
            let output =
                input.into_iter().map(|s| output_sample(s.labels, t, s.t as f64 / 1000.0, true)).collect();
            FnOutput::Vector(output)
        }
        "sort" => FnOutput::Vector(sort_by_value(args.take_vector(0)?, false, t)),
        "sort_desc" => FnOutput::Vector(sort_by_value(args.take_vector(0)?, true, t)),
        _ => return Ok(None),
    };
    Ok(Some(output))
}

/// The function of an element-wise float function, by name.
fn element_wise(name: &str) -> Option<fn(f64) -> f64> {
    let f: fn(f64) -> f64 = match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => sgn,
        _ => return None,
    };
    Some(f)
}

/// -1 for negative values, 1 for positive ones; zeros (of either sign) and NaN as they are.
fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// Applies `f` to every value; the output is stamped at `t` and drops the metric name.
fn map_values(input: Vec<InstantSample>, t: i64, f: impl Fn(f64) -> f64) -> Vec<InstantSample> {
    input.into_iter().map(|s| output_sample(s.labels, t, f(s.v), true)).collect()
}

/// Clamps values into `[min, max]`; nothing when `max < min`.
fn clamp(input: Vec<InstantSample>, min: f64, max: f64, t: i64) -> Vec<InstantSample> {
    if max < min {
        return Vec::new();
    }
    map_values(input, t, |v| go_max(min, go_min(max, v)))
}

/// Sorts by value, ascending or descending, NaN last either way. Stable, so equal values
/// keep their input order. Samples keep their labels and `drop_name`, stamped at `t`.
fn sort_by_value(mut input: Vec<InstantSample>, descending: bool, t: i64) -> Vec<InstantSample> {
    for s in &mut input {
        s.t = t;
    }
    input.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            let ordering = a.v.partial_cmp(&b.v).unwrap_or(Ordering::Equal);
            if descending { ordering.reverse() } else { ordering }
        }
    });
    input
}
