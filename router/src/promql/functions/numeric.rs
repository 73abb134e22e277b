//! Float helpers shared by the function library, written to give Go's (and so Prometheus's)
//! results bit for bit where that matters: Kahan–Neumaier summation as in Prometheus's
//! `kahansum.Inc`, the `quantile` used by `quantile_over_time`, `math.Max`/`math.Min` with Go's
//! NaN rules (Rust's `f64::max` ignores NaN, Go's propagates it), `almost.Equal`, and the
//! `%g`/OpenMetrics float formatting used in annotation texts and label values.

use std::cmp::Ordering;

/// One step of Kahan–Neumaier summation: adds `inc` to `sum` with compensation `c`, returning
/// the new sum and compensation. An infinite sum resets the compensation (Prometheus does the
/// same so that `Inf + c` cannot turn into NaN).
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
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

/// Go's `math.Max`: +Inf wins over everything, then NaN propagates, and +0 beats -0.
pub(crate) fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && y == 0.0 {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y { x } else { y }
}

/// Go's `math.Min`: -Inf wins over everything, then NaN propagates, and -0 beats +0.
pub(crate) fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && y == 0.0 {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y { x } else { y }
}

/// Prometheus's ordering of values for `quantile`: NaN sorts before everything.
pub(crate) fn nan_first_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// The φ-quantile of `values` (sorted in place), interpolating linearly between the two
/// nearest ranks. Empty input or NaN `q` give NaN; `q < 0` gives -Inf and `q > 1` +Inf.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| nan_first_cmp(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower_index = go_max(0.0, rank.floor());
    let upper_index = go_min(n - 1.0, lower_index + 1.0);
    let weight = rank - rank.floor();
    values[lower_index as usize] * (1.0 - weight) + values[upper_index as usize] * weight
}

/// Prometheus's `almost.Equal`: relative comparison with `epsilon`, NaN equal to NaN.
pub(crate) fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` (and `fmt`'s `%g`): the shortest digits that
/// round-trip, in exponent form when the decimal exponent is below -4 or at least 6 (`1e+06`),
/// with at least two exponent digits; `+Inf`, `-Inf` and `NaN` for the special values.
pub(crate) fn format_go_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".to_string() } else { "0".to_string() };
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: `-1.2345e-5`.
    let sci = format!("{f:e}");
    let (mantissa, exponent) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exponent.abs()));
    } else if exponent < 0 {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exponent as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// Prometheus's `labels.FormatOpenMetricsFloat`: `%g`, with `.0` added to integral values so
/// that `1` reads `1.0` (the form `histogram_quantiles` puts in its quantile label).
pub(crate) fn format_openmetrics_float(f: f64) -> String {
    let s = format_go_g(f);
    if f.is_finite() && !s.contains(['.', 'e']) {
        return format!("{s}.0");
    }
    s
}

/// Go's `%f` (six decimals), with Go's spellings of the special values.
pub(crate) fn format_go_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() }
    } else {
        format!("{f:.6}")
    }
}

/// Go's `%q` for the strings that appear in annotations (metric names, label values).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
