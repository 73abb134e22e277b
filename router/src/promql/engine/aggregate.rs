//! Aggregations: `sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar`,
//! `quantile` (one output series per group), `topk`, `bottomk`, `limitk`, `limit_ratio`
//! (a subset of the input series per group) and `count_values` (a series per value).
//!
//! Each input series' group is computed once; the steps are then walked with a cursor per
//! series. Float edge cases follow Prometheus: Kahan-Neumaier summation for `sum` and `avg`
//! (switching `avg` to an incremental mean when the sum would overflow), NaN handling in
//! `min`/`max`/`topk`, Welford's algorithm for `stddev`/`stdvar`.
//!
//! Native histograms: `sum` and `avg` add them up (a group with floats and histograms warns
//! "encountered a mix of histograms and floats for aggregation" and yields nothing), `count`,
//! `group`, `limitk`, `limit_ratio` and `count_values` take them like floats, and the other
//! aggregations ignore them with Prometheus's "ignored histogram in ... aggregation" info.

use super::evaluator::{Evaluated, Evaluator, RangeSeries, StepCursor, strip_name};
use super::format::{go_float_plain, go_g, go_quote};
use crate::histogram::{FloatHistogram, HistogramError};
use crate::promql::{InstantSample, PromqlError};
use crate::store::HistogramSample;
use harrier_telemetry::model::{Labels, METRIC_NAME, Sample};
use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMIT_RATIO, T_LIMITK, T_MAX, T_MIN, T_QUANTILE,
    T_STDDEV, T_STDVAR, T_SUM, T_TOPK, TokenId,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};
use std::sync::Arc;

/// The largest float that converts to an int64 without overflow, and the smallest.
const MAX_INT64: f64 = 9223372036854774784.0;
const MIN_INT64: f64 = -9223372036854775808.0;

/// How series are grouped.
struct Grouping {
    without: bool,
    /// Sorted.
    labels: Vec<String>,
}

impl Grouping {
    fn of(expr: &AggregateExpr) -> Grouping {
        let (without, mut labels) = match &expr.modifier {
            Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
            None => (false, Vec::new()),
        };
        labels.sort();
        labels.dedup();
        Grouping { without, labels }
    }

    fn listed(&self, name: &str) -> bool {
        self.labels.binary_search_by(|n| n.as_str().cmp(name)).is_ok()
    }

    fn key(&self, labels: &Labels) -> Vec<u8> {
        let mut out = Vec::new();
        for l in labels.iter() {
            let keep = if self.without {
                !self.listed(l.name) && l.name != METRIC_NAME
            } else {
                self.listed(l.name)
            };
            if keep {
                out.extend_from_slice(l.name.as_bytes());
                out.push(0xff);
                out.extend_from_slice(l.value.as_bytes());
                out.push(0xff);
            }
        }
        out
    }

    fn group_labels(&self, labels: &Labels) -> Labels {
        if !self.without && self.labels.is_empty() {
            return Labels::new();
        }
        let mut out = labels.clone();
        out.retain(|l| {
            if self.without { !self.listed(l.name) && l.name != METRIC_NAME } else { self.listed(l.name) }
        });
        out
    }
}

/// Evaluates an aggregation over all steps.
pub(super) fn eval(ev: &Evaluator<'_, '_>, expr: &AggregateExpr) -> Result<Vec<RangeSeries>, PromqlError> {
    let op = expr.op.id();
    let grouping = Grouping::of(expr);
    if op == T_COUNT_VALUES {
        return count_values(ev, expr, grouping);
    }
    let params = match &expr.param {
        Some(param) => Some(ev.eval_scalar_steps(param)?),
        None => None,
    };
    let input = ev.eval_series(&expr.expr)?;
    let mut group_of = Vec::with_capacity(input.len());
    let mut index: foldhash::HashMap<Vec<u8>, usize> = foldhash::HashMap::default();
    let mut group_labels: Vec<Labels> = Vec::new();
    for s in &input {
        let key = grouping.key(&s.labels);
        let next = index.len();
        let at = *index.entry(key).or_insert(next);
        if at == group_labels.len() {
            group_labels.push(grouping.group_labels(&s.labels));
        }
        group_of.push(at);
    }
    let params = params.unwrap_or_default();
    match op {
        T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO => {
            select_k(ev, expr, &input, &group_of, group_labels.len(), &params)
        }
        _ => {
            if op == T_QUANTILE {
                check_quantile(ev, expr, &params);
            }
            // Where Prometheus's histogram annotations of an aggregation point: its argument.
            let position = if matches!(op, T_SUM | T_AVG) {
                ev.ctx.aggregate_param_position(expr).map(|p| format!(" ({p})")).unwrap_or_default()
            } else {
                String::new()
            };
            reduce(ev, op, &input, &group_of, group_labels, &params, &position)
        }
    }
}

fn min_max(values: &[f64]) -> (f64, f64, bool) {
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    let mut any_nan = false;
    for &v in values {
        if v.is_nan() {
            any_nan = true;
            continue;
        }
        min = min.min(v);
        max = max.max(v);
    }
    (min, max, any_nan)
}

fn check_quantile(ev: &Evaluator<'_, '_>, expr: &AggregateExpr, params: &[f64]) {
    let (min, max, any_nan) = min_max(params);
    let position = ev.ctx.aggregate_param_position(expr).map(|p| format!(" ({p})")).unwrap_or_default();
    let warn = |q: f64| {
        ev.ctx.warn(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {}{position}",
            go_g(q)
        ))
    };
    if any_nan {
        warn(f64::NAN);
    }
    if max > 1.0 {
        warn(max);
    }
    if min < 0.0 {
        warn(min);
    }
}

/// One group's running state at one step.
#[derive(Clone, Default)]
struct GroupState {
    seen: bool,
    value: f64,
    mean: f64,
    compensation: f64,
    count: f64,
    incremental_mean: bool,
    values: Vec<f64>,
    drop_name: bool,
    /// The sum of the group's histograms (sum, avg), and whether floats were seen too.
    histogram: Option<FloatHistogram>,
    /// The Kahan compensation of `histogram`.
    histogram_compensation: Option<FloatHistogram>,
    /// The group's histograms (avg only), for an incremental mean if the sum overflows.
    histogram_inputs: Vec<Arc<FloatHistogram>>,
    histogram_count: f64,
    /// The counter reset hints of the group's histograms.
    hints: crate::promql::functions::HintsSeen,
    has_float: bool,
    /// The histograms could not be added (mixed schemas): no output.
    histogram_failed: bool,
}

/// The name Prometheus gives an aggregation in annotations.
fn op_name(op: TokenId) -> &'static str {
    match op {
        T_MIN => "min",
        T_MAX => "max",
        T_TOPK => "topk",
        T_BOTTOMK => "bottomk",
        T_QUANTILE => "quantile",
        T_STDDEV => "stddev",
        T_STDVAR => "stdvar",
        _ => "aggregation",
    }
}

fn ignored_histogram_info(ev: &Evaluator<'_, '_>, op: TokenId) {
    ev.ctx.info(format!("PromQL info: ignored histogram in {} aggregation", op_name(op)));
}

/// Adds `h` to a group's histogram sum, warning as Prometheus does.
fn add_histogram(
    ev: &Evaluator<'_, '_>,
    group: &mut GroupState,
    h: &FloatHistogram,
    labels: &Labels,
    position: &str,
) {
    group.histogram_count += 1.0;
    group.hints.see(h);
    if group.histogram_failed {
        return;
    }
    let Some(sum) = group.histogram.as_mut() else {
        group.histogram = Some(h.clone());
        return;
    };
    match sum.kahan_add(h, group.histogram_compensation.take()) {
        Ok((compensation, outcome)) => {
            group.histogram_compensation = Some(compensation);
            group.hints.collision |= outcome.counter_reset_collision;
            if outcome.nhcb_bounds_reconciled {
                ev.ctx.info(format!(
                    "PromQL info: mismatched custom buckets were reconciled during aggregation{position}"
                ));
            }
        }
        Err(HistogramError::IncompatibleSchema) => {
            ev.ctx.warn(format!(
                "PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
                go_quote(labels.metric_name().unwrap_or(""))
            ));
            group.histogram_failed = true;
        }
        Err(_) => group.histogram_failed = true,
    }
}

/// Kahan-Neumaier summation step: adds `inc` to `sum` with compensation `c`.
pub(super) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus's `quantile` over a set of values (linear interpolation between ranks).
pub(super) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// sum, avg, count, min, max, group, stddev, stdvar, quantile. `position` ends the histogram
/// annotations (` (line:col)`, or empty).
fn reduce(
    ev: &Evaluator<'_, '_>,
    op: TokenId,
    input: &[RangeSeries],
    group_of: &[usize],
    group_labels: Vec<Labels>,
    params: &[f64],
    position: &str,
) -> Result<Vec<RangeSeries>, PromqlError> {
    let mut output: Vec<RangeSeries> =
        group_labels.into_iter().map(|labels| RangeSeries::floats(labels, false, Vec::new())).collect();
    let mut groups = vec![GroupState::default(); output.len()];
    let mut cursor = StepCursor::new(input);
    for (step, t) in ev.steps().enumerate() {
        ev.ctx.check_deadline()?;
        for g in groups.iter_mut() {
            g.seen = false;
        }
        for (si, series) in input.iter().enumerate() {
            let (f, histogram) = match cursor.value_at(si, t) {
                Some(f) => (f, None),
                None => match cursor.histogram_at(si, t) {
                    Some(h) => (0.0, Some(h)),
                    None => continue,
                },
            };
            if histogram.is_some() && !matches!(op, T_SUM | T_AVG | T_COUNT | T_GROUP) {
                ignored_histogram_info(ev, op);
                continue;
            }
            let group = &mut groups[group_of[si]];
            if let Some(h) = &histogram
                && matches!(op, T_SUM | T_AVG)
            {
                if !group.seen {
                    *group = GroupState {
                        seen: true,
                        drop_name: series.drop_name,
                        values: std::mem::take(&mut group.values),
                        ..GroupState::default()
                    };
                }
                group.drop_name |= series.drop_name;
                add_histogram(ev, group, h, &series.labels, position);
                if op == T_AVG {
                    group.histogram_inputs.push(h.clone());
                }
                continue;
            }
            if matches!(op, T_SUM | T_AVG) && group.seen && !group.has_float {
                // The first float of a group that so far had histograms only.
                group.has_float = true;
                group.value = f;
                group.mean = f;
                group.count = 1.0;
                group.drop_name |= series.drop_name;
                continue;
            }
            if !group.seen {
                *group = GroupState {
                    seen: true,
                    value: f,
                    mean: f,
                    count: 1.0,
                    has_float: true,
                    drop_name: series.drop_name,
                    values: std::mem::take(&mut group.values),
                    ..GroupState::default()
                };
                match op {
                    T_STDVAR | T_STDDEV => {
                        group.value = if f.is_nan() || f.is_infinite() { f64::NAN } else { 0.0 }
                    }
                    T_QUANTILE => {
                        group.values.clear();
                        group.values.push(f);
                    }
                    T_GROUP => group.value = 1.0,
                    _ => {}
                }
                continue;
            }
            group.drop_name |= series.drop_name;
            match op {
                T_SUM => {
                    (group.value, group.compensation) = kahan_sum_inc(f, group.value, group.compensation)
                }
                T_AVG => {
                    group.count += 1.0;
                    if !group.incremental_mean {
                        let (sum, c) = kahan_sum_inc(f, group.value, group.compensation);
                        if !sum.is_infinite() {
                            (group.value, group.compensation) = (sum, c);
                            continue;
                        }
                        group.incremental_mean = true;
                        group.mean = group.value / (group.count - 1.0);
                        group.compensation /= group.count - 1.0;
                    }
                    let q = (group.count - 1.0) / group.count;
                    (group.mean, group.compensation) =
                        kahan_sum_inc(f / group.count, q * group.mean, q * group.compensation);
                }
                T_MAX if group.value < f || group.value.is_nan() => group.value = f,
                T_MIN if group.value > f || group.value.is_nan() => group.value = f,
                T_COUNT => group.count += 1.0,
                T_STDVAR | T_STDDEV => {
                    group.count += 1.0;
                    let delta = f - group.mean;
                    group.mean += delta / group.count;
                    group.value += delta * (f - group.mean);
                }
                T_QUANTILE => group.values.push(f),
                _ => {}
            }
        }
        for (g, group) in groups.iter_mut().enumerate() {
            if !group.seen {
                continue;
            }
            if matches!(op, T_SUM | T_AVG) && group.histogram_count > 0.0 {
                if group.has_float {
                    ev.ctx.warn(format!(
                        "PromQL warning: encountered a mix of histograms and floats for aggregation{position}"
                    ));
                    continue;
                }
                if group.hints.conflict() {
                    ev.ctx.warn(format!(
                        "PromQL warning: conflicting counter resets during histogram aggregation{position}"
                    ));
                }
                let Some(mut h) = group.histogram.take().filter(|_| !group.histogram_failed) else {
                    continue;
                };
                if let Some(compensation) = group.histogram_compensation.take() {
                    let _ = h.add(&compensation);
                }
                if op == T_AVG {
                    let inputs: Vec<&FloatHistogram> = group.histogram_inputs.iter().map(|h| &**h).collect();
                    match crate::promql::functions::overflow_safe_mean(&h, &inputs) {
                        Some(mean) => h = mean,
                        None => {
                            h.div(group.histogram_count);
                        }
                    }
                    group.histogram_inputs.clear();
                }
                h.compact(0);
                let series = &mut output[g];
                series.histograms.push(HistogramSample { timestamp_ms: t, histogram: Arc::new(h) });
                series.drop_name = group.drop_name;
                continue;
            }
            let value = match op {
                T_SUM => group.value + group.compensation,
                T_AVG if group.incremental_mean => group.mean + group.compensation,
                T_AVG => group.value / group.count + group.compensation / group.count,
                T_COUNT => group.count,
                T_STDVAR => group.value / group.count,
                T_STDDEV => (group.value / group.count).sqrt(),
                T_QUANTILE => quantile(params.get(step).copied().unwrap_or(f64::NAN), &mut group.values),
                _ => group.value,
            };
            let series = &mut output[g];
            if series.samples.is_empty() {
                series.samples.reserve(ev.step_count().min(4096));
            }
            series.samples.push(Sample { timestamp_ms: t, value });
            series.drop_name = group.drop_name;
        }
    }
    output.retain(|s| !s.is_empty());
    ev.ctx.hold(output.iter().map(|s| s.len()).sum())?;
    Ok(output)
}

/// Orders floats as Prometheus's value heap does: NaN below everything.
fn nan_low_cmp(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// topk, bottomk, limitk, limit_ratio: a subset of each group's series at each step.
#[allow(clippy::too_many_lines)]
fn select_k(
    ev: &Evaluator<'_, '_>,
    expr: &AggregateExpr,
    input: &[RangeSeries],
    group_of: &[usize],
    group_count: usize,
    params: &[f64],
) -> Result<Vec<RangeSeries>, PromqlError> {
    let op = expr.op.id();
    let (min, max, any_nan) = min_max(params);
    if op == T_LIMIT_RATIO {
        let position = ev.ctx.aggregate_param_position(expr).map(|p| format!(" ({p})")).unwrap_or_default();
        if !any_nan && max == 0.0 && min == 0.0 {
            return Ok(Vec::new());
        }
        if any_nan {
            return Err(PromqlError::Eval("Ratio value is NaN".into()));
        }
        if max > 1.0 {
            ev.ctx.warn(format!(
                "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {}{position}",
                go_g(max),
                go_g(1.0)
            ));
        }
        if min < -1.0 {
            ev.ctx.warn(format!(
                "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {}{position}",
                go_g(min),
                go_g(-1.0)
            ));
        }
    } else {
        if max < 1.0 && !any_nan {
            return Ok(Vec::new());
        }
        if any_nan {
            return Err(PromqlError::Eval("Parameter value is NaN".into()));
        }
        if min <= MIN_INT64 {
            return Err(PromqlError::Eval(format!("Scalar value {} underflows int64", go_g(min))));
        }
        if max >= MAX_INT64 {
            return Err(PromqlError::Eval(format!("Scalar value {} overflows int64", go_g(max))));
        }
    }
    let offsets: Vec<f64> = if op == T_LIMIT_RATIO {
        input.iter().map(|s| ratio_offset(&s.labels)).collect()
    } else {
        Vec::new()
    };
    let mut collector = ev.collector();
    let mut cursor = StepCursor::new(input);
    let mut members: Vec<Vec<(usize, f64)>> = vec![Vec::new(); group_count];
    let mut step_histograms: Vec<Option<Arc<FloatHistogram>>> = vec![None; input.len()];
    for (step, t) in ev.steps().enumerate() {
        ev.ctx.check_deadline()?;
        let param = params.get(step).copied().unwrap_or(f64::NAN);
        for m in members.iter_mut() {
            m.clear();
        }
        for si in 0..input.len() {
            step_histograms[si] = None;
            if let Some(v) = cursor.value_at(si, t) {
                members[group_of[si]].push((si, v));
            } else if let Some(h) = cursor.histogram_at(si, t) {
                if matches!(op, T_TOPK | T_BOTTOMK) {
                    ignored_histogram_info(ev, op);
                } else {
                    step_histograms[si] = Some(h);
                    members[group_of[si]].push((si, 0.0));
                }
            }
        }
        let k = if op == T_LIMIT_RATIO { 0 } else { (param as i64).min(input.len() as i64) };
        if op != T_LIMIT_RATIO && k < 1 {
            continue;
        }
        let ratio = param.clamp(-1.0, 1.0);
        if op == T_LIMIT_RATIO && param == 0.0 {
            continue;
        }
        let mut position = 0;
        for group in members.iter_mut() {
            let chosen: Vec<(usize, f64)> = match op {
                T_TOPK => {
                    group.sort_by(|a, b| nan_low_cmp(b.1, a.1));
                    group.iter().take(k as usize).copied().collect()
                }
                T_BOTTOMK => {
                    group.sort_by(|a, b| match (a.1.is_nan(), b.1.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ => a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal),
                    });
                    group.iter().take(k as usize).copied().collect()
                }
                T_LIMITK => group.iter().take(k as usize).copied().collect(),
                _ => group
                    .iter()
                    .filter(|(si, _)| {
                        let offset = offsets[*si];
                        (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio)
                    })
                    .copied()
                    .collect(),
            };
            for (si, v) in chosen {
                let series = &input[si];
                let sample = InstantSample {
                    labels: series.labels.clone(),
                    t,
                    v,
                    h: step_histograms[si].clone(),
                    drop_name: series.drop_name,
                };
                collector.push(position, sample, t)?;
                position += 1;
            }
        }
    }
    let output = collector.finish();
    ev.ctx.hold(output.iter().map(|s| s.len()).sum())?;
    Ok(output)
}

/// A deterministic offset in `[0, 1)` from a series' labels (limit_ratio's sampling).
fn ratio_offset(labels: &Labels) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for l in labels.iter() {
        for b in l.name.bytes().chain([0xff]).chain(l.value.bytes()).chain([0xff]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// count_values: a series per distinct value in each group, at each step.
fn count_values(
    ev: &Evaluator<'_, '_>,
    expr: &AggregateExpr,
    grouping: Grouping,
) -> Result<Vec<RangeSeries>, PromqlError> {
    let Some(param) = &expr.param else {
        return Err(PromqlError::Eval("count_values needs a label name".into()));
    };
    let label = match ev.eval(param)? {
        Evaluated::String(s) => s,
        Evaluated::Series(_) => {
            return Err(PromqlError::Eval("count_values needs a string parameter".into()));
        }
    };
    if label.is_empty() {
        return Err(PromqlError::Eval(format!("invalid label name {}", go_quote(&label))));
    }
    let mut grouping = grouping;
    if !grouping.without && !grouping.listed(&label) {
        grouping.labels.push(label.clone());
        grouping.labels.sort();
    }
    let input = ev.eval_series(&expr.expr)?;
    let mut cursor = StepCursor::new(&input);
    let mut collector = ev.collector();
    let (mut vector, mut indexes) = (Vec::new(), Vec::new());
    for t in ev.steps() {
        ev.ctx.check_deadline()?;
        cursor.gather(t, &mut vector, &mut indexes);
        let mut counts: Vec<(Labels, f64)> = Vec::new();
        let mut positions: foldhash::HashMap<Vec<u8>, usize> = foldhash::HashMap::default();
        for sample in &vector {
            let mut labels = sample.labels.clone();
            match &sample.h {
                Some(h) => labels.set(&label, histogram_string(h)),
                None => labels.set(&label, go_float_plain(sample.v)),
            }
            let key = grouping.key(&labels);
            match positions.get(&key) {
                Some(&at) => counts[at].1 += 1.0,
                None => {
                    positions.insert(key, counts.len());
                    counts.push((grouping.group_labels(&labels), 1.0));
                }
            }
        }
        for (position, (labels, count)) in counts.into_iter().enumerate() {
            collector.push(position, InstantSample { labels, t, v: count, h: None, drop_name: false }, t)?;
        }
    }
    let mut output = collector.finish();
    if !ev.ctx.delayed_name_removal {
        for s in output.iter_mut() {
            if s.drop_name {
                strip_name(&mut s.labels);
            }
        }
    }
    Ok(output)
}

/// A histogram as Prometheus's `FloatHistogram.String()`: count, sum and the populated
/// buckets, `{count:20, sum:10, [-2,-1):2, [-0.001,0.001]:2, (0.5,1]:1}`.
fn histogram_string(h: &FloatHistogram) -> String {
    let mut parts = vec![format!("count:{}", go_g(h.count)), format!("sum:{}", go_g(h.sum))];
    for bucket in h.all_bucket_iter() {
        if bucket.count == 0.0 {
            continue;
        }
        parts.push(format!(
            "{}{},{}{}:{}",
            if bucket.lower_inclusive { "[" } else { "(" },
            go_g(bucket.lower),
            go_g(bucket.upper),
            if bucket.upper_inclusive { "]" } else { ")" },
            go_g(bucket.count)
        ));
    }
    format!("{{{}}}", parts.join(", "))
}
