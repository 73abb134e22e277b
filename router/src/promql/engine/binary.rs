//! Binary operators: arithmetic, comparisons (filtering or `bool`), `atan2` and the set
//! operators, between scalars and vectors, with Prometheus's vector matching (`on`,
//! `ignoring`, `group_left`/`group_right` with extra labels, `fill*`) and its error messages.
//!
//! Scalar-scalar and vector-scalar operations work series by series over all steps at once.
//! Vector-vector operations compute each input series' match signature once, then match the
//! samples present at each step; result label sets are cached per pair of input series.
//!
//! Native histograms ([`histogram_binop`], Prometheus's `vectorElemBinop`): `h + h`, `h - h`
//! (a gauge histogram), `h * s`, `s * h` and `h / s` give histograms; `h == h` and `h != h`
//! compare them (filtering, or 0/1 with `bool`); any other operator between a histogram and
//! anything drops the pair with the "incompatible sample types" info. Set operators pass
//! histograms through.

use super::evaluator::{Evaluator, RangeSeries, StepCursor, strip_name, unwrap_parens};
use super::format::labels_string;
use crate::histogram::{CounterResetHint, FloatHistogram, HistogramError};
use crate::promql::{InstantSample, PromqlError};
use crate::store::HistogramSample;
use harrier_telemetry::model::{Labels, METRIC_NAME, Sample};
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD, T_MUL, T_NEQ,
    T_POW, T_SUB, TokenId,
};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use std::sync::Arc;

/// Evaluates a binary expression over all steps.
pub(super) fn eval(ev: &Evaluator<'_, '_>, expr: &BinaryExpr) -> Result<Vec<RangeSeries>, PromqlError> {
    let op = expr.op.id();
    let return_bool = expr.modifier.as_ref().is_some_and(|m| m.return_bool);
    let (lhs_type, rhs_type) = (unwrap_parens(&expr.lhs).value_type(), unwrap_parens(&expr.rhs).value_type());
    let lhs = ev.eval_series(&expr.lhs)?;
    let rhs = ev.eval_series(&expr.rhs)?;
    match (lhs_type == ValueType::Scalar, rhs_type == ValueType::Scalar) {
        (true, true) => {
            let (l, r) = (scalar_at_steps(ev, &lhs), scalar_at_steps(ev, &rhs));
            let samples = ev
                .steps()
                .zip(l.iter().zip(r.iter()))
                .map(|(t, (a, b))| Sample { timestamp_ms: t, value: scalar_binop(op, *a, *b) })
                .collect();
            Ok(vec![RangeSeries::floats(Labels::new(), false, samples)])
        }
        (false, true) => vector_scalar(ev, op, lhs, &scalar_at_steps(ev, &rhs), false, return_bool),
        (true, false) => vector_scalar(ev, op, rhs, &scalar_at_steps(ev, &lhs), true, return_bool),
        (false, false) => vector_vector(ev, expr, op, return_bool, &lhs, &rhs),
    }
}

fn scalar_at_steps(ev: &Evaluator<'_, '_>, series: &[RangeSeries]) -> Vec<f64> {
    let mut values = vec![f64::NAN; ev.step_count()];
    if let Some(s) = series.first() {
        for p in &s.samples {
            if let Some(v) = usize::try_from((p.timestamp_ms - ev.start) / ev.interval)
                .ok()
                .and_then(|i| values.get_mut(i))
            {
                *v = p.value;
            }
        }
    }
    values
}

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Whether the operation changes what the metric is (and so drops its name).
fn changes_metric_schema(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)
}

fn btos(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// An operation between two scalars.
pub(super) fn scalar_binop(op: TokenId, lhs: f64, rhs: f64) -> f64 {
    match op {
        T_ADD => lhs + rhs,
        T_SUB => lhs - rhs,
        T_MUL => lhs * rhs,
        T_DIV => lhs / rhs,
        T_POW => lhs.powf(rhs),
        T_MOD => go_mod(lhs, rhs),
        T_EQLC => btos(lhs == rhs),
        T_NEQ => btos(lhs != rhs),
        T_GTR => btos(lhs > rhs),
        T_LSS => btos(lhs < rhs),
        T_GTE => btos(lhs >= rhs),
        T_LTE => btos(lhs <= rhs),
        T_ATAN2 => lhs.atan2(rhs),
        _ => f64::NAN,
    }
}

/// Go's `math.Mod` (the result has the sign of `lhs`, like Rust's `%`).
fn go_mod(lhs: f64, rhs: f64) -> f64 {
    lhs % rhs
}

/// An operation between two vector elements: the value and whether a comparison keeps it.
fn elem_binop(op: TokenId, lhs: f64, rhs: f64) -> (f64, bool) {
    match op {
        T_EQLC => (lhs, lhs == rhs),
        T_NEQ => (lhs, lhs != rhs),
        T_GTR => (lhs, lhs > rhs),
        T_LSS => (lhs, lhs < rhs),
        T_GTE => (lhs, lhs >= rhs),
        T_LTE => (lhs, lhs <= rhs),
        _ => (scalar_binop(op, lhs, rhs), true),
    }
}

/// Prometheus's name of an operator, for annotations.
fn op_symbol(op: TokenId) -> &'static str {
    match op {
        T_ADD => "+",
        T_SUB => "-",
        T_MUL => "*",
        T_DIV => "/",
        T_MOD => "%",
        T_POW => "^",
        T_EQLC => "==",
        T_NEQ => "!=",
        T_GTR => ">",
        T_LSS => "<",
        T_GTE => ">=",
        T_LTE => "<=",
        T_ATAN2 => "atan2",
        _ => "?",
    }
}

/// The outcome of an operator with a histogram operand: `None` drops the pair (with an
/// annotation already recorded); otherwise the float value, the histogram value (if the
/// result is one) and whether a comparison keeps the sample.
pub(super) fn histogram_binop(
    ev: &Evaluator<'_, '_>,
    op: TokenId,
    (lf, lh): (f64, Option<&Arc<FloatHistogram>>),
    (rf, rh): (f64, Option<&Arc<FloatHistogram>>),
) -> Option<(f64, Option<Arc<FloatHistogram>>, bool)> {
    let incompatible = |left: &str, right: &str| {
        ev.ctx.info(format!(
            "PromQL info: incompatible sample types encountered for binary operator {:?}: {left} {} {right}",
            op_symbol(op),
            op_symbol(op)
        ));
        None
    };
    match (lh, rh) {
        (None, None) => {
            let (value, keep) = elem_binop(op, lf, rf);
            Some((value, None, keep))
        }
        (None, Some(h)) => match op {
            T_MUL => {
                let mut out = (**h).clone();
                out.mul(lf).compact(0);
                Some((0.0, Some(Arc::new(out)), true))
            }
            _ => incompatible("float", "histogram"),
        },
        (Some(h), None) => match op {
            T_MUL | T_DIV => {
                let mut out = (**h).clone();
                if op == T_MUL {
                    out.mul(rf);
                } else {
                    out.div(rf);
                }
                out.compact(0);
                Some((0.0, Some(Arc::new(out)), true))
            }
            _ => incompatible("histogram", "float"),
        },
        (Some(l), Some(r)) => match op {
            T_ADD | T_SUB => {
                let mut out = (**l).clone();
                let result = if op == T_ADD { out.add(r) } else { out.sub(r) };
                let what = if op == T_ADD { "addition" } else { "subtraction" };
                match result {
                    Ok(outcome) => {
                        if outcome.counter_reset_collision {
                            ev.ctx.warn(format!(
                                "PromQL warning: conflicting counter resets during histogram {what}"
                            ));
                        }
                        if outcome.nhcb_bounds_reconciled {
                            ev.ctx.info(format!(
                                "PromQL info: mismatched custom buckets were reconciled during {what}"
                            ));
                        }
                    }
                    Err(HistogramError::IncompatibleSchema) => {
                        ev.ctx.warn(
                            "PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas",
                        );
                        return None;
                    }
                    Err(_) => return None,
                }
                if op == T_SUB {
                    out.counter_reset_hint = CounterResetHint::Gauge;
                }
                out.compact(0);
                Some((0.0, Some(Arc::new(out)), true))
            }
            T_EQLC | T_NEQ => {
                let (mut a, mut b) = ((**l).clone(), (**r).clone());
                a.compact(0);
                b.compact(0);
                let equal = a.equals(&b);
                Some((0.0, Some(l.clone()), if op == T_EQLC { equal } else { !equal }))
            }
            _ => incompatible("histogram", "histogram"),
        },
    }
}

/// A vector and a scalar, series by series. `swapped`: the scalar is on the left.
fn vector_scalar(
    ev: &Evaluator<'_, '_>,
    op: TokenId,
    vector: Vec<RangeSeries>,
    scalar: &[f64],
    swapped: bool,
    return_bool: bool,
) -> Result<Vec<RangeSeries>, PromqlError> {
    let mut out = Vec::with_capacity(vector.len());
    let drops_name = changes_metric_schema(op) || return_bool;
    for mut series in vector {
        series.samples.retain_mut(|p| {
            let step = usize::try_from((p.timestamp_ms - ev.start) / ev.interval).unwrap_or(0);
            let s = scalar.get(step).copied().unwrap_or(f64::NAN);
            let (l, r) = if swapped { (s, p.value) } else { (p.value, s) };
            let (mut value, keep) = elem_binop(op, l, r);
            if is_comparison(op) && swapped {
                value = r;
            }
            if return_bool {
                p.value = btos(keep);
                return true;
            }
            p.value = value;
            keep
        });
        if !series.histograms.is_empty() {
            let histograms = std::mem::take(&mut series.histograms);
            for p in histograms {
                let step = usize::try_from((p.timestamp_ms - ev.start) / ev.interval).unwrap_or(0);
                let s = scalar.get(step).copied().unwrap_or(f64::NAN);
                let h = Some(&p.histogram);
                let (l, r) = if swapped { ((s, None), (0.0, h)) } else { ((0.0, h), (s, None)) };
                if let Some((_, Some(result), keep)) = histogram_binop(ev, op, l, r)
                    && keep
                    && !return_bool
                {
                    series
                        .histograms
                        .push(HistogramSample { timestamp_ms: p.timestamp_ms, histogram: result });
                }
            }
        }
        if series.is_empty() {
            continue;
        }
        if drops_name {
            ev.mark_drop_name(&mut series.labels, &mut series.drop_name);
        }
        out.push(series);
    }
    if drops_name && !ev.ctx.delayed_name_removal {
        return super::evaluator::finish_names(out);
    }
    Ok(out)
}

/// How two vectors' series are matched.
struct Matching {
    on: bool,
    /// The `on`/`ignoring` labels, sorted.
    labels: Vec<String>,
    card: VectorMatchCardinality,
    /// The `group_left`/`group_right` extra labels.
    include: Vec<String>,
    fill_lhs: Option<f64>,
    fill_rhs: Option<f64>,
}

impl Matching {
    fn of(expr: &BinaryExpr) -> Matching {
        let modifier = expr.modifier.as_ref();
        let (on, mut labels) = match modifier.and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            None => (false, Vec::new()),
        };
        labels.sort();
        labels.dedup();
        let card = modifier.map_or(VectorMatchCardinality::OneToOne, |m| m.card.clone());
        let include = card.labels().map(|l| l.labels.clone()).unwrap_or_default();
        Matching {
            on,
            labels,
            card,
            include,
            fill_lhs: modifier.and_then(|m| m.fill_values.lhs),
            fill_rhs: modifier.and_then(|m| m.fill_values.rhs),
        }
    }

    /// The signature a series matches on.
    fn signature(&self, labels: &Labels) -> Vec<u8> {
        let mut out = Vec::new();
        for l in labels.iter() {
            let listed = self.labels.binary_search_by(|n| n.as_str().cmp(l.name)).is_ok();
            let included = if self.on { listed } else { !listed && l.name != METRIC_NAME };
            if included {
                out.extend_from_slice(l.name.as_bytes());
                out.push(0xff);
                out.extend_from_slice(l.value.as_bytes());
                out.push(0xff);
            }
        }
        out
    }

    /// The labels a match group is named by (`MatchLabels`).
    fn match_labels(&self, labels: &Labels) -> Labels {
        let mut out = labels.clone();
        out.retain(|l| {
            let listed = self.labels.iter().any(|n| n == l.name);
            if self.on { listed } else { !listed && l.name != METRIC_NAME }
        });
        out
    }

    /// The labels of an arithmetic or comparison result (`resultMetric`).
    fn result_labels(&self, op: TokenId, lhs: &Labels, rhs: &Labels) -> Labels {
        let mut out = lhs.clone();
        if changes_metric_schema(op) {
            strip_name(&mut out);
        }
        if matches!(self.card, VectorMatchCardinality::OneToOne) {
            if self.on {
                out.retain(|l| self.labels.iter().any(|n| n == l.name));
            } else {
                out.retain(|l| !self.labels.iter().any(|n| n == l.name));
            }
        }
        for name in &self.include {
            match rhs.get(name) {
                Some(v) if !v.is_empty() => out.set(name, v),
                _ => {
                    out.remove(name);
                }
            }
        }
        out
    }
}

/// Assigns each series of both sides a signature ordinal.
fn signature_ordinals(
    matching: &Matching,
    lhs: &[RangeSeries],
    rhs: &[RangeSeries],
) -> (Vec<usize>, Vec<usize>, usize) {
    let mut ordinals: foldhash::HashMap<Vec<u8>, usize> = foldhash::HashMap::default();
    let mut assign = |series: &[RangeSeries]| -> Vec<usize> {
        series
            .iter()
            .map(|s| {
                let next = ordinals.len();
                *ordinals.entry(matching.signature(&s.labels)).or_insert(next)
            })
            .collect()
    };
    let l = assign(lhs);
    let r = assign(rhs);
    let count = ordinals.len();
    (l, r, count)
}

fn vector_vector(
    ev: &Evaluator<'_, '_>,
    expr: &BinaryExpr,
    op: TokenId,
    return_bool: bool,
    lhs: &[RangeSeries],
    rhs: &[RangeSeries],
) -> Result<Vec<RangeSeries>, PromqlError> {
    let matching = Matching::of(expr);
    let (lhs_sigs, rhs_sigs, sig_count) = signature_ordinals(&matching, lhs, rhs);
    let set_op = matches!(op, T_LAND | T_LOR | T_LUNLESS);
    let mut lhs_cursor = StepCursor::new(lhs);
    let mut rhs_cursor = StepCursor::new(rhs);
    let (mut lv, mut li, mut rv, mut ri) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut collector = ev.collector();
    let mut result_cache: foldhash::HashMap<(usize, usize), Labels> = foldhash::HashMap::default();
    let mut present = vec![false; sig_count];
    let mut matcher = Matcher::new(sig_count);
    for t in ev.steps() {
        ev.ctx.check_deadline()?;
        lhs_cursor.gather(t, &mut lv, &mut li);
        rhs_cursor.gather(t, &mut rv, &mut ri);
        let mut out: Vec<InstantSample> = Vec::new();
        if set_op {
            present.iter_mut().for_each(|p| *p = false);
            match op {
                T_LAND => {
                    if !lv.is_empty() && !rv.is_empty() {
                        ri.iter().for_each(|&i| present[rhs_sigs[i]] = true);
                        out.extend(
                            lv.drain(..).zip(&li).filter(|(_, i)| present[lhs_sigs[**i]]).map(|(s, _)| s),
                        );
                    }
                }
                T_LOR => {
                    li.iter().for_each(|&i| present[lhs_sigs[i]] = true);
                    out.append(&mut lv);
                    out.extend(
                        rv.drain(..).zip(&ri).filter(|(_, i)| !present[rhs_sigs[**i]]).map(|(s, _)| s),
                    );
                }
                _ => {
                    ri.iter().for_each(|&i| present[rhs_sigs[i]] = true);
                    out.extend(
                        lv.drain(..).zip(&li).filter(|(_, i)| !present[lhs_sigs[**i]]).map(|(s, _)| s),
                    );
                }
            }
        } else {
            matcher.binop(
                ev,
                op,
                &matching,
                return_bool,
                Side { samples: &lv, indexes: &li, sigs: &lhs_sigs },
                Side { samples: &rv, indexes: &ri, sigs: &rhs_sigs },
                &mut result_cache,
                &mut out,
            )?;
        }
        for (position, sample) in out.into_iter().enumerate() {
            collector.push(position, sample, t)?;
        }
    }
    let series = collector.finish();
    if !ev.ctx.delayed_name_removal && return_bool {
        return super::evaluator::finish_names(series);
    }
    Ok(series)
}

/// One side's samples at a step, with their series indexes and the series' signatures.
struct Side<'a> {
    samples: &'a [InstantSample],
    indexes: &'a [usize],
    sigs: &'a [usize],
}

/// Per-step scratch space for arithmetic and comparison matching.
struct Matcher {
    /// The "one" side's sample per signature ordinal (index into its samples).
    one_side: Vec<Option<usize>>,
    /// Per signature: matched already (one-to-one), or the result label sets produced
    /// (many-to-one).
    matched: Vec<Option<Vec<Labels>>>,
    touched: Vec<usize>,
}

impl Matcher {
    fn new(sig_count: usize) -> Self {
        Matcher { one_side: vec![None; sig_count], matched: vec![None; sig_count], touched: Vec::new() }
    }

    #[allow(clippy::too_many_arguments)]
    fn binop(
        &mut self,
        ev: &Evaluator<'_, '_>,
        op: TokenId,
        matching: &Matching,
        return_bool: bool,
        lhs: Side<'_>,
        rhs: Side<'_>,
        cache: &mut foldhash::HashMap<(usize, usize), Labels>,
        out: &mut Vec<InstantSample>,
    ) -> Result<(), PromqlError> {
        for &sig in &self.touched {
            self.one_side[sig] = None;
            self.matched[sig] = None;
        }
        self.touched.clear();
        let has_fill = matching.fill_lhs.is_some() || matching.fill_rhs.is_some();
        if (lhs.samples.is_empty() && rhs.samples.is_empty())
            || ((lhs.samples.is_empty() || rhs.samples.is_empty()) && !has_fill)
        {
            return Ok(());
        }
        let one_to_many = matches!(matching.card, VectorMatchCardinality::OneToMany(_));
        let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
        let (fill_many, fill_one) = if one_to_many {
            (matching.fill_rhs, matching.fill_lhs)
        } else {
            (matching.fill_lhs, matching.fill_rhs)
        };
        for (j, &series) in one.indexes.iter().enumerate() {
            let sig = one.sigs[series];
            if let Some(previous) = self.one_side[sig] {
                let side = if one_to_many { "left" } else { "right" };
                let mut pair =
                    [labels_string(&one.samples[j].labels), labels_string(&one.samples[previous].labels)];
                pair.sort();
                return Err(PromqlError::Eval(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    labels_string(&matching.match_labels(&one.samples[j].labels)),
                    pair[0],
                    pair[1]
                )));
            }
            self.one_side[sig] = Some(j);
            self.touched.push(sig);
        }
        let mut apply = |many_sample: &InstantSample,
                         many_index: Option<usize>,
                         one_sample: &InstantSample,
                         one_index: Option<usize>,
                         sig: usize,
                         matched: &mut Vec<Option<Vec<Labels>>>,
                         touched: &mut Vec<usize>,
                         out: &mut Vec<InstantSample>|
         -> Result<(), PromqlError> {
            let (l, r) = if one_to_many {
                ((one_sample.v, one_sample.h.as_ref()), (many_sample.v, many_sample.h.as_ref()))
            } else {
                ((many_sample.v, many_sample.h.as_ref()), (one_sample.v, one_sample.h.as_ref()))
            };
            let computed = if l.1.is_none() && r.1.is_none() {
                let (value, keep) = elem_binop(op, l.0, r.0);
                Some((value, None, keep))
            } else {
                histogram_binop(ev, op, l, r)
            };
            let (mut value, mut histogram, keep) = computed.clone().unwrap_or((0.0, None, false));
            if return_bool {
                value = btos(keep);
                histogram = None;
            }
            let mut labels = match (many_index, one_index) {
                (Some(m), Some(o)) => cache
                    .entry((m, o))
                    .or_insert_with(|| matching.result_labels(op, &many_sample.labels, &one_sample.labels))
                    .clone(),
                _ => matching.result_labels(op, &many_sample.labels, &one_sample.labels),
            };
            if !ev.ctx.delayed_name_removal && return_bool {
                strip_name(&mut labels);
            }
            if matched[sig].is_none() {
                touched.push(sig);
            }
            match &matching.card {
                VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany => {
                    if matched[sig].is_some() {
                        return Err(PromqlError::Eval(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                                .into(),
                        ));
                    }
                    matched[sig] = Some(Vec::new());
                }
                _ => {
                    let produced = matched[sig].get_or_insert_with(Vec::new);
                    if produced.contains(&labels) {
                        return Err(PromqlError::Eval(
                            "multiple matches for labels: grouping labels must ensure unique matches".into(),
                        ));
                    }
                    produced.push(labels.clone());
                }
            }
            if computed.is_none() || (!keep && !return_bool) {
                return Ok(());
            }
            out.push(InstantSample {
                labels,
                t: many_sample.t,
                v: value,
                h: histogram,
                drop_name: return_bool,
            });
            Ok(())
        };
        for (i, &series) in many.indexes.iter().enumerate() {
            let sig = many.sigs[series];
            let many_sample = &many.samples[i];
            match self.one_side[sig] {
                Some(j) => apply(
                    many_sample,
                    Some(series),
                    &one.samples[j],
                    Some(one.indexes[j]),
                    sig,
                    &mut self.matched,
                    &mut self.touched,
                    out,
                )?,
                None => {
                    if let Some(fill) = fill_one {
                        let filler = InstantSample {
                            labels: matching.match_labels(&many_sample.labels),
                            t: many_sample.t,
                            v: fill,
                            h: None,
                            drop_name: false,
                        };
                        apply(
                            many_sample,
                            None,
                            &filler,
                            None,
                            sig,
                            &mut self.matched,
                            &mut self.touched,
                            out,
                        )?;
                    }
                }
            }
        }
        if let Some(fill) = fill_many {
            for (j, &series) in one.indexes.iter().enumerate() {
                let sig = one.sigs[series];
                if self.matched[sig].is_some() {
                    continue;
                }
                let one_sample = &one.samples[j];
                let filler = InstantSample {
                    labels: matching.match_labels(&one_sample.labels),
                    t: one_sample.t,
                    v: fill,
                    h: None,
                    drop_name: false,
                };
                apply(&filler, None, one_sample, None, sig, &mut self.matched, &mut self.touched, out)?;
            }
        }
        Ok(())
    }
}
