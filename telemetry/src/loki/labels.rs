//! Loki's label-set string: `{a="b", c="d"}`, as Prometheus's `labels.Labels.String()` writes
//! it (Loki keys streams by this string and parses it back with its LogQL parser).
//!
//! Values are quoted with Go's `strconv.Quote`: `\\`, `\"`, the C escapes `\a \b \f \n \r \t
//! \v`, other ASCII controls as `\xNN`, and other non-printable characters as `\uNNNN` or
//! `\UNNNNNNNN` (lowercase hex); printable characters (Go's `unicode.IsPrint`: letters, marks,
//! numbers, punctuation, symbols and the ASCII space) stay as they are. A name that is not a
//! legacy Prometheus name (`[a-zA-Z_][a-zA-Z0-9_]*`) is quoted the same way, as Prometheus 3
//! does for UTF-8 names.
//!
//! [`parse_label_string`] reads the form back (Go's `strconv.Unquote` rules for the quoted
//! parts), for the JSON encoder, which needs the pairs, and for decoders.

use crate::relabel::is_legacy_label_name;
use std::sync::LazyLock;

/// Why a label-set string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelStringError {
    #[error("label set must start with '{{' and end with '}}'")]
    NotBraced,
    #[error("expected {expected} at byte {at}")]
    Expected { expected: &'static str, at: usize },
    #[error("invalid escape sequence at byte {at}")]
    InvalidEscape { at: usize },
    #[error("unterminated quoted string at byte {at}")]
    Unterminated { at: usize },
    #[error("quoted string at byte {at} is not valid UTF-8")]
    InvalidUtf8 { at: usize },
}

/// Loki's label-set string of `pairs` (in the order given: callers sort by name).
pub fn label_string(pairs: &[(String, String)]) -> String {
    let mut out = String::with_capacity(2 + pairs.iter().map(|(n, v)| n.len() + v.len() + 5).sum::<usize>());
    write_label_string(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())), &mut out);
    out
}

/// Appends the label-set string of `pairs` to `out`.
pub fn write_label_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>, out: &mut String) {
    out.push('{');
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if is_legacy_label_name(name) {
            out.push_str(name);
        } else {
            push_go_quoted(out, name);
        }
        out.push('=');
        push_go_quoted(out, value);
    }
    out.push('}');
}

/// Appends `s` quoted as Go's `strconv.Quote` does.
pub fn push_go_quoted(out: &mut String, s: &str) {
    out.push('"');
    let mut run_start = 0;
    for (i, c) in s.char_indices() {
        let plain = match c {
            '"' | '\\' => false,
            ' '..='~' => true,
            _ if c.is_ascii() => false,
            _ => is_go_printable(c),
        };
        if plain {
            continue;
        }
        out.push_str(&s[run_start..i]);
        run_start = i + c.len_utf8();
        push_escaped(out, c);
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

fn push_escaped(out: &mut String, c: char) {
    use std::fmt::Write;
    let _ = match c {
        '"' => write!(out, "\\\""),
        '\\' => write!(out, "\\\\"),
        '\u{07}' => write!(out, "\\a"),
        '\u{08}' => write!(out, "\\b"),
        '\u{0C}' => write!(out, "\\f"),
        '\n' => write!(out, "\\n"),
        '\r' => write!(out, "\\r"),
        '\t' => write!(out, "\\t"),
        '\u{0B}' => write!(out, "\\v"),
        _ if (c as u32) < 0x20 || c == '\u{7F}' => write!(out, "\\x{:02x}", c as u32),
        _ if (c as u32) < 0x10000 => write!(out, "\\u{:04x}", c as u32),
        _ => write!(out, "\\U{:08x}", c as u32),
    };
}

/// Go's `unicode.IsPrint` for a non-ASCII character: general categories L, M, N, P, S.
fn is_go_printable(c: char) -> bool {
    static PRINTABLE: LazyLock<Option<regex::Regex>> =
        LazyLock::new(|| regex::Regex::new(r"^[\p{L}\p{M}\p{N}\p{P}\p{S}]$").ok());
    let mut buf = [0u8; 4];
    match PRINTABLE.as_ref() {
        Some(re) => re.is_match(c.encode_utf8(&mut buf)),
        // The pattern is a constant that compiles; were it not to, approximate.
        None => !c.is_control() && !c.is_whitespace(),
    }
}

/// Parses a label-set string (`{a="b", c="d"}`; spaces around tokens are allowed, names may be
/// quoted) into its pairs, in the order written.
pub fn parse_label_string(s: &str) -> Result<Vec<(String, String)>, LabelStringError> {
    let bytes = s.as_bytes();
    let mut pos = skip_spaces(bytes, 0);
    if bytes.get(pos) != Some(&b'{') {
        return Err(LabelStringError::NotBraced);
    }
    pos = skip_spaces(bytes, pos + 1);
    let mut pairs = Vec::new();
    if bytes.get(pos) == Some(&b'}') {
        return finish(bytes, pos + 1, pairs);
    }
    loop {
        let (name, after_name) = if bytes.get(pos) == Some(&b'"') {
            go_unquote_at(s, pos)?
        } else {
            let end = pos
                + bytes[pos..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'.')
                    .count();
            if end == pos {
                return Err(LabelStringError::Expected { expected: "a label name", at: pos });
            }
            (s[pos..end].to_string(), end)
        };
        pos = skip_spaces(bytes, after_name);
        if bytes.get(pos) != Some(&b'=') {
            return Err(LabelStringError::Expected { expected: "'='", at: pos });
        }
        pos = skip_spaces(bytes, pos + 1);
        if bytes.get(pos) != Some(&b'"') {
            return Err(LabelStringError::Expected { expected: "a quoted value", at: pos });
        }
        let (value, after_value) = go_unquote_at(s, pos)?;
        pairs.push((name, value));
        pos = skip_spaces(bytes, after_value);
        match bytes.get(pos) {
            Some(b',') => pos = skip_spaces(bytes, pos + 1),
            Some(b'}') => return finish(bytes, pos + 1, pairs),
            _ => return Err(LabelStringError::Expected { expected: "',' or '}'", at: pos }),
        }
    }
}

fn finish(
    bytes: &[u8],
    pos: usize,
    pairs: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, LabelStringError> {
    let end = skip_spaces(bytes, pos);
    if end != bytes.len() {
        return Err(LabelStringError::NotBraced);
    }
    Ok(pairs)
}

fn skip_spaces(bytes: &[u8], mut pos: usize) -> usize {
    while matches!(bytes.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        pos += 1;
    }
    pos
}

/// Unquotes the Go double-quoted string starting at `start` (which holds `"`); returns it and
/// the position after the closing quote.
fn go_unquote_at(s: &str, start: usize) -> Result<(String, usize), LabelStringError> {
    let bytes = s.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut pos = start + 1;
    loop {
        // Copy the run up to the next quote, backslash or newline (not allowed unescaped).
        let run = bytes[pos.min(bytes.len())..]
            .iter()
            .position(|b| matches!(b, b'"' | b'\\' | b'\n'))
            .ok_or(LabelStringError::Unterminated { at: start })?;
        out.extend_from_slice(&bytes[pos..pos + run]);
        pos += run;
        match bytes[pos] {
            b'"' => {
                let text = String::from_utf8(out).map_err(|_| LabelStringError::InvalidUtf8 { at: start })?;
                return Ok((text, pos + 1));
            }
            b'\n' => return Err(LabelStringError::Unterminated { at: start }),
            _ => {
                let escape_at = pos;
                pos = unescape(bytes, pos + 1, &mut out)
                    .ok_or(LabelStringError::InvalidEscape { at: escape_at })?;
            }
        }
    }
}

/// Decodes the escape whose letter is at `pos` (after the backslash) into `out`; returns the
/// position after it.
fn unescape(bytes: &[u8], pos: usize, out: &mut Vec<u8>) -> Option<usize> {
    let simple = |b: u8| -> Option<u8> {
        Some(match b {
            b'a' => 0x07,
            b'b' => 0x08,
            b'f' => 0x0C,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0B,
            b'\\' => b'\\',
            b'"' => b'"',
            _ => return None,
        })
    };
    let letter = *bytes.get(pos)?;
    if let Some(b) = simple(letter) {
        out.push(b);
        return Some(pos + 1);
    }
    let digits = |from: usize, n: usize, radix: u32| -> Option<u32> {
        let text = bytes.get(from..from + n)?;
        let text = std::str::from_utf8(text).ok()?;
        if !text.bytes().all(|b| (b as char).is_digit(radix)) {
            return None;
        }
        u32::from_str_radix(text, radix).ok()
    };
    match letter {
        b'x' => {
            out.push(digits(pos + 1, 2, 16)? as u8);
            Some(pos + 3)
        }
        b'0'..=b'7' => {
            let v = digits(pos, 3, 8)?;
            out.push(u8::try_from(v).ok()?);
            Some(pos + 3)
        }
        b'u' | b'U' => {
            let n = if letter == b'u' { 4 } else { 8 };
            let c = char::from_u32(digits(pos + 1, n, 16)?)?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            Some(pos + 1 + n)
        }
        _ => None,
    }
}
