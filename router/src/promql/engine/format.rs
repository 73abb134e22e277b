//! Text as Prometheus writes it in error messages, annotations and labels: label sets in Go's
//! `labels.Labels.String()` form (`{__name__="x", a="b"}`), floats as Go's `%g` and
//! `strconv.FormatFloat(f, 'f', -1, 64)`.

use harrier_telemetry::model::Labels;

/// `{__name__="up", job="api"}`: every label inside the braces, values quoted.
pub(super) fn labels_string(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(label.name);
        out.push('=');
        out.push_str(&go_quote(label.value));
    }
    out.push('}');
    out
}

/// Go's `strconv.Quote` for the usual characters.
pub(super) fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%g` (shortest representation; exponent form for very large or small magnitudes).
pub(super) fn go_g(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-4..1e21).contains(&magnitude) {
        let text = format!("{value:e}");
        return match text.split_once('e') {
            Some((mantissa, exponent)) => {
                let (sign, digits) = match exponent.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exponent),
                };
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => text,
        };
    }
    format!("{value}")
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: what `count_values` writes into its label.
pub(super) fn go_float_plain(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    format!("{value}")
}
