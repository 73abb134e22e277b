//! Go's `fmt` as templates see it: `Sprint`, `Sprintln`, `Sprintf` over [`Value`]s, with Go's
//! float formatting (`strconv.FormatFloat` 'e', 'f', 'g', shortest or with a precision), its
//! padding flags and its in-band error forms (`%!d(string=foo)`, `%!v(MISSING)`,
//! `%!(EXTRA int=1)`).
//!
//! Digits come from Rust's exact float formatting (shortest round-trip for `{:e}`, correctly
//! rounded with a precision); the layout decisions (when `%g` switches to an exponent, how
//! many digits survive) follow Go's `strconv/ftoa.go`.

use super::value::Value;

/// Go's `fmt.tooLarge`: widths and precisions beyond a million are refused.
const MAX_WIDTH: usize = 1_000_000;

/// Formatting flags of one verb.
#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Decimal digits of a finite, non-negative float: `d` without leading/trailing zeros, `dp`
/// the position of the decimal point (value = 0.d × 10^dp). Zero has no digits.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

fn parse_exp_form(s: &str) -> Digits {
    // s is Rust's `{:e}` of a non-negative finite float: "1.2345e-7" or "0e0".
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    if d.is_empty() {
        return Digits { d, dp: 0 };
    }
    Digits { d, dp: exp + 1 }
}

fn shortest_digits(v: f64) -> Digits {
    parse_exp_form(&format!("{v:e}"))
}

fn rounded_digits(v: f64, significant: usize) -> Digits {
    parse_exp_form(&format!("{:.*e}", significant.saturating_sub(1), v))
}

fn fmt_e(out: &mut String, digs: &Digits, prec: usize, upper: bool) {
    out.push(digs.d.first().map_or('0', |&c| c as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(digs.d.get(i).map_or('0', |&c| c as char));
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if digs.d.is_empty() { 0 } else { digs.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
}

fn fmt_f(out: &mut String, digs: &Digits, prec: usize) {
    if digs.dp > 0 {
        let dp = digs.dp as usize;
        for i in 0..dp {
            out.push(digs.d.get(i).map_or('0', |&c| c as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i64 {
            let j = digs.dp as i64 + i - 1;
            let c = if j >= 0 { digs.d.get(j as usize).map_or('0', |&c| c as char) } else { '0' };
            out.push(c);
        }
    }
}

/// `strconv.FormatFloat(v, verb, prec, 64)` for verbs e, E, f, F, g, G (prec -1 = shortest).
pub fn format_float(v: f64, verb: char, prec: i64) -> String {
    let mut out = String::new();
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let a = v.abs();
    match verb {
        'f' | 'F' => {
            if prec < 0 {
                let digs = shortest_digits(a);
                let p = (digs.d.len() as i64 - digs.dp as i64).max(0) as usize;
                fmt_f(&mut out, &digs, p);
            } else {
                out.push_str(&format!("{:.*}", prec as usize, a));
            }
        }
        'e' | 'E' => {
            let upper = verb == 'E';
            if prec < 0 {
                let digs = shortest_digits(a);
                fmt_e(&mut out, &digs, digs.d.len().saturating_sub(1), upper);
            } else {
                let digs = rounded_digits(a, prec as usize + 1);
                fmt_e(&mut out, &digs, prec as usize, upper);
            }
        }
        _ => {
            // 'g' / 'G'
            let upper = verb == 'G';
            let shortest = prec < 0;
            let (digs, mut p) = if shortest {
                let d = shortest_digits(a);
                let n = d.d.len() as i64;
                (d, n)
            } else {
                let p = if prec == 0 { 1 } else { prec };
                (rounded_digits(a, p as usize), p)
            };
            let nd = digs.d.len() as i64;
            let dp = digs.dp as i64;
            let mut eprec = p;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if nd != 0 && (exp < -4 || exp >= eprec) {
                if p > nd {
                    p = nd;
                }
                fmt_e(&mut out, &digs, (p - 1).max(0) as usize, upper);
            } else {
                if p > dp {
                    p = nd;
                }
                fmt_f(&mut out, &digs, (p - dp).max(0) as usize);
            }
        }
    }
    out
}

/// Go's `%v` of a float64.
pub fn float_v(v: f64) -> String {
    format_float(v, 'g', -1)
}

/// Go's `fmt.Sprint(args...)`: spaces between operands when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_arg(&mut out, a, 'v', &Spec::default());
        prev_string = is_string;
    }
    out
}

/// Go's `fmt.Sprintln(args...)`.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, a, 'v', &Spec::default());
    }
    out.push('\n');
    out
}

/// Go's `fmt.Sprint(v)` of one value.
pub fn sprint_value(v: &Value) -> String {
    let mut out = String::new();
    print_arg(&mut out, v, 'v', &Spec::default());
    out
}

fn pad(out: &mut String, s: &str, spec: &Spec) {
    let Some(width) = spec.width else {
        out.push_str(s);
        return;
    };
    let len = s.chars().count();
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        let c = if spec.zero { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(c, fill));
        out.push_str(s);
    }
}

/// Pads a signed number: with the zero flag the sign goes before the zeros.
fn pad_number(out: &mut String, num: &str, spec: &Spec) {
    if spec.zero
        && !spec.minus
        && let Some(width) = spec.width
        && width > num.len()
        && (num.starts_with('-') || num.starts_with('+') || num.starts_with(' '))
    {
        out.push_str(&num[..1]);
        out.extend(std::iter::repeat_n('0', width - num.len()));
        out.push_str(&num[1..]);
        return;
    }
    pad(out, num, spec);
}

fn bad_verb(out: &mut String, v: &Value, verb: char, spec: &Spec) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if let Value::Nil = v {
        out.push_str("<nil>");
    } else {
        out.push_str(&v.type_name());
        out.push('=');
        print_arg(out, v, 'v', spec);
    }
    out.push(')');
}

fn print_arg(out: &mut String, v: &Value, verb: char, spec: &Spec) {
    match v {
        Value::Nil => match verb {
            'v' => pad(out, "<nil>", spec),
            'T' => pad(out, "<nil>", spec),
            _ => bad_verb(out, v, verb, spec),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, spec),
            'T' => pad(out, "bool", spec),
            _ => bad_verb(out, v, verb, spec),
        },
        Value::Int(i) => fmt_int(out, *i, verb, spec, v),
        Value::Float(f) => fmt_float_verb(out, *f, verb, spec, v),
        Value::String(s) => fmt_string(out, s, verb, spec, v),
        Value::List(items) => {
            if verb == 'T' {
                return pad(out, &v.type_name(), spec);
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, item, verb, spec);
            }
            out.push(']');
        }
        Value::Map(_) | Value::StringMap(_) => {
            if verb == 'T' {
                return pad(out, &v.type_name(), spec);
            }
            out.push_str("map[");
            for (i, (k, item)) in v.map_entries().unwrap_or_default().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, k, verb, spec, &Value::String(k.clone()));
                out.push(':');
                print_arg(out, item, verb, spec);
            }
            out.push(']');
        }
        Value::Object(o) => match verb {
            'v' | 's' => pad(out, &o.go_string(), spec),
            'T' => pad(out, &o.type_name(), spec),
            _ => bad_verb(out, v, verb, spec),
        },
    }
}

fn fmt_int(out: &mut String, i: i64, verb: char, spec: &Spec, v: &Value) {
    let neg = i < 0;
    let u = i.unsigned_abs();
    let body = match verb {
        'v' | 'd' => u.to_string(),
        'b' => format!("{u:b}"),
        'o' | 'O' => format!("{u:o}"),
        'x' => format!("{u:x}"),
        'X' => format!("{u:X}"),
        'c' => {
            let c = char::from_u32(i as u32).filter(|_| (0..=0x10FFFF).contains(&i)).unwrap_or('\u{FFFD}');
            return pad(out, &c.to_string(), spec);
        }
        'q' => {
            let c = char::from_u32(i as u32).filter(|_| (0..=0x10FFFF).contains(&i)).unwrap_or('\u{FFFD}');
            return pad(out, &quote_rune(c), spec);
        }
        'U' => {
            return pad(out, &format!("U+{u:04X}"), spec);
        }
        'T' => return pad(out, "int", spec),
        _ => return bad_verb(out, v, verb, spec),
    };
    let mut digits = body;
    if let Some(p) = spec.prec {
        if p == 0 && i == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let mut num = String::new();
    if neg {
        num.push('-');
    } else if spec.plus {
        num.push('+');
    } else if spec.space {
        num.push(' ');
    }
    if spec.sharp {
        match verb {
            'x' => num.push_str("0x"),
            'X' => num.push_str("0X"),
            'o' => num.push('0'),
            'b' => num.push_str("0b"),
            _ => {}
        }
    }
    if verb == 'O' {
        num.push_str("0o");
    }
    num.push_str(&digits);
    // Go zero-pads integers only when no precision is given.
    let spec = Spec { zero: spec.zero && spec.prec.is_none(), ..*spec };
    pad_number(out, &num, &spec);
}

fn fmt_float_verb(out: &mut String, f: f64, verb: char, spec: &Spec, v: &Value) {
    let (fverb, default_prec) = match verb {
        'v' => ('g', -1),
        'g' | 'G' => (verb, -1),
        'e' | 'E' | 'f' | 'F' => (verb, 6),
        'T' => return pad(out, "float64", spec),
        _ => return bad_verb(out, v, verb, spec),
    };
    let prec = spec.prec.map_or(default_prec, |p| p as i64);
    let mut num = format_float(f, fverb, prec);
    if spec.sharp && prec != 0 && f.is_finite() && !num.contains('.') {
        // '#' forces a decimal point.
        if let Some(e) = num.find(['e', 'E']) {
            num.insert(e, '.');
        } else {
            num.push('.');
        }
    }
    if !num.starts_with('-') && !num.starts_with('+') {
        if spec.plus {
            num.insert(0, '+');
        } else if spec.space {
            num.insert(0, ' ');
        }
    }
    if f.is_nan() {
        if spec.plus {
            num = "+NaN".into();
        } else if spec.space {
            num = " NaN".into();
        }
    }
    if !f.is_finite() {
        return pad(out, &num, &Spec { zero: false, ..*spec });
    }
    pad_number(out, &num, spec);
}

fn fmt_string(out: &mut String, s: &str, verb: char, spec: &Spec, v: &Value) {
    match verb {
        'v' | 's' => {
            let truncated: String = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            pad(out, &truncated, spec)
        }
        'q' => {
            let truncated: String = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            let q = if spec.sharp
                && !truncated.contains('`')
                && !truncated.chars().any(|c| c.is_control() && c != '\t')
            {
                format!("`{truncated}`")
            } else {
                quote_with(&truncated, '"', spec.plus)
            };
            pad(out, &q, spec)
        }
        'x' | 'X' => {
            let bytes = s.as_bytes();
            let bytes = match spec.prec {
                Some(p) if p < bytes.len() => &bytes[..p],
                _ => bytes,
            };
            let mut h = String::new();
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    h.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    h.push_str(&format!("{b:02x}"));
                } else {
                    h.push_str(&format!("{b:02X}"));
                }
            }
            pad(out, &h, spec)
        }
        'T' => pad(out, "string", spec),
        _ => bad_verb(out, v, verb, spec),
    }
}

/// Go's `unicode.IsPrint`, approximated: no control characters, no unassigned formatting
/// characters, and only the ASCII space among spaces.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
        || ('\u{E000}'..='\u{F8FF}').contains(&c))
}

fn escape_char(out: &mut String, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if ascii_only {
        if c.is_ascii() && is_print(c) {
            out.push(c);
            return;
        }
    } else if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

fn quote_with(s: &str, quote: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        escape_char(&mut out, c, quote, ascii_only);
    }
    out.push(quote);
    out
}

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    quote_with(s, '"', false)
}

fn quote_rune(c: char) -> String {
    let mut out = String::from("'");
    escape_char(&mut out, c, '\'', false);
    out.push('\'');
    out
}

/// Go's `fmt.Sprintf(format, args...)`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut arg_num = 0usize;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if out.len() > super::exec::MAX_OUTPUT {
            // The caller refuses results this large; stop building it.
            break;
        }
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        // Flags.
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '#' => spec.sharp = true,
                '0' => spec.zero = !spec.minus,
                '+' => spec.plus = true,
                '-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        // Width.
        if chars.peek().map(|&(_, c)| c) == Some('*') {
            chars.next();
            match args.get(arg_num) {
                Some(Value::Int(w)) if (w.unsigned_abs() as usize) <= MAX_WIDTH => {
                    if *w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            arg_num += 1;
        } else {
            match parse_num(&mut chars) {
                Ok(w) => spec.width = w,
                Err(()) => {
                    out.push_str("%!(NOVERB)");
                    break;
                }
            }
        }
        // Precision.
        if chars.peek().map(|&(_, c)| c) == Some('.') {
            chars.next();
            if chars.peek().map(|&(_, c)| c) == Some('*') {
                chars.next();
                match args.get(arg_num) {
                    Some(Value::Int(p)) if (p.unsigned_abs() as usize) <= MAX_WIDTH => {
                        spec.prec = if *p < 0 { None } else { Some(*p as usize) };
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                arg_num += 1;
            } else {
                match parse_num(&mut chars) {
                    Ok(p) => spec.prec = Some(p.unwrap_or(0)),
                    Err(()) => {
                        out.push_str("%!(NOVERB)");
                        break;
                    }
                }
            }
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(arg_num) else {
            out.push_str("%!");
            out.push(verb);
            out.push_str("(MISSING)");
            continue;
        };
        arg_num += 1;
        if verb == 'v' {
            // Go reads `%+v` and `%#v` as struct-field and Go-syntax forms, not as sign flags.
            spec.plus = false;
            spec.sharp = false;
        }
        print_arg(&mut out, arg, verb, &spec);
    }
    if arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[arg_num..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if let Value::Nil = a {
                out.push_str("<nil>");
            } else {
                out.push_str(&a.type_name());
                out.push('=');
                print_arg(&mut out, a, 'v', &Spec::default());
            }
        }
        out.push(')');
    }
    out
}

/// Parses decimal digits; `Err` when the number is absurdly large (Go then stops formatting).
fn parse_num(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Result<Option<usize>, ()> {
    let mut n: Option<usize> = None;
    while let Some(&(_, c)) = chars.peek() {
        let Some(d) = c.to_digit(10) else { break };
        let cur = n.unwrap_or(0);
        if cur > MAX_WIDTH {
            // Go's parsenum gives up and the rest of the format is consumed.
            for _ in chars.by_ref() {}
            return Err(());
        }
        n = Some(cur * 10 + d as usize);
        chars.next();
    }
    Ok(n)
}
