//! RFC 3339 timestamps with up to nanosecond precision (`2016-10-06T00:17:09.669794202Z`,
//! `2024-01-02T15:04:05.5+02:00`), as CRI runtimes and docker's json-file driver write them,
//! to nanoseconds since the Unix epoch.
//!
//! Hand-written because it runs once per log line: fixed positions, no allocation, about as
//! costly as reading the bytes. Accepted: `T`/`t` between date and time, a fraction of 1 to 9
//! digits (more digits are read and ignored, below a nanosecond), `Z`/`z` or `±HH:MM`. A leap
//! second (`:60`) counts as the first second of the next minute, as chrono does. Anything
//! else, an impossible date (`02-30`) or a time outside the `i64` nanosecond range
//! (1677-2262) is `None`.

use harrier_telemetry::civil::days_from_civil;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Nanoseconds since the Unix epoch of an RFC 3339 timestamp; `None` if it is not one.
pub fn parse_rfc3339_nanos(text: &[u8]) -> Option<i64> {
    // YYYY-MM-DDTHH:MM:SS is 19 bytes, then at least the `Z`.
    if text.len() < 20 {
        return None;
    }
    let year = digits(text, 0, 4)?;
    let month = digits(text, 5, 2)?;
    let day = digits(text, 8, 2)?;
    let hour = digits(text, 11, 2)?;
    let minute = digits(text, 14, 2)?;
    let second = digits(text, 17, 2)?;
    if text[4] != b'-' || text[7] != b'-' || !matches!(text[10], b'T' | b't') {
        return None;
    }
    if text[13] != b':' || text[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }

    let mut index = 19;
    let mut nanos = 0i64;
    if text[index] == b'.' {
        index += 1;
        let fraction_start = index;
        while let Some(&byte) = text.get(index)
            && byte.is_ascii_digit()
        {
            if index - fraction_start < 9 {
                nanos = nanos * 10 + i64::from(byte - b'0');
            }
            index += 1;
        }
        let fraction_digits = index - fraction_start;
        if fraction_digits == 0 {
            return None;
        }
        for _ in fraction_digits..9 {
            nanos *= 10;
        }
    }

    let offset_seconds = match text.get(index)? {
        b'Z' | b'z' if index + 1 == text.len() => 0,
        sign @ (b'+' | b'-') if index + 6 == text.len() && text[index + 3] == b':' => {
            let offset_hours = digits(text, index + 1, 2)?;
            let offset_minutes = digits(text, index + 4, 2)?;
            if offset_hours > 23 || offset_minutes > 59 {
                return None;
            }
            let offset = offset_hours * 3600 + offset_minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    if seconds < 0 && nanos > 0 {
        // Borrow a second so that i64::MIN (1677-09-21T00:12:43.145224192Z) does not overflow.
        return (seconds + 1).checked_mul(NANOS_PER_SECOND)?.checked_add(nanos - NANOS_PER_SECOND);
    }
    seconds.checked_mul(NANOS_PER_SECOND)?.checked_add(nanos)
}

/// The number written by `count` ASCII digits at `start`.
fn digits(text: &[u8], start: usize, count: usize) -> Option<i64> {
    let field = text.get(start..start + count)?;
    let mut value = 0i64;
    for &byte in field {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
    }
    Some(value)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}
