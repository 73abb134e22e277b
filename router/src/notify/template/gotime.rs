//! Go's `time.Time` and `time.Duration` as notification templates see them: `.StartsAt` and
//! `.EndsAt` print like Go (`2006-01-02 15:04:05.999999999 -0700 MST`), format with Go layouts
//! (`.StartsAt.Format "15:04"`, `date "Jan 2" .StartsAt`), move between zones (`tz`, `.UTC`,
//! `.Local`), and subtract into durations (`since`, `.Sub`) that print like Go's.
//!
//! Zones come from the system's zoneinfo files, looked up as Go's `time.LoadLocation` does
//! (`ZONEINFO`, then the usual directories); loaded zones are cached for the process.
//!
//! [`json_time`] is Go's `time.Time` JSON form (`MarshalJSON`), for the webhook payload and
//! the rules API.
//!
//! Host objects cannot be downcast, so a time or duration passed back as a function or method
//! argument is recognised through a hidden field (a name no template can spell).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{Datelike, Timelike};
use tz::TimeZone;

use crate::template::prometheus::{arity, go_duration_string, wrong_type};
use crate::template::{TemplateObject, Value, raw_error};

/// Seconds from the Unix epoch to Go's zero time (January 1, year 1, 00:00:00 UTC).
const GO_ZERO_UNIX: i64 = -62_135_596_800;

/// The hidden field carrying a time's state: `[secs, nanos, zone name]`.
const TIME_STATE: &str = "\u{0}time";
/// The hidden field carrying a duration's nanoseconds.
const DURATION_STATE: &str = "\u{0}duration";

pub(crate) const TIME_TYPE: &str = "time.Time";
pub(crate) const DURATION_TYPE: &str = "time.Duration";

/// Go's `time.RFC3339Nano` layout, which `time.Time.MarshalJSON` writes.
const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";

/// Unix milliseconds as Go's `time.Time` marshals to JSON in UTC (`MarshalJSON`): RFC 3339
/// with the fraction's trailing zeros dropped (`2024-01-02T03:04:05.12Z`). `None`, and an
/// instant outside the years chrono represents, are Go's zero time
/// (`0001-01-01T00:00:00Z`).
pub fn json_time(ms: Option<i64>) -> String {
    let time = match ms {
        Some(ms) if chrono::DateTime::from_timestamp_millis(ms).is_some() => GoTime::instant_ms(ms),
        _ => GoTime::zero(),
    };
    time.format(RFC3339_NANO)
}

/// A time zone: UTC, the process's local zone, or a named zoneinfo zone.
#[derive(Clone)]
pub(crate) struct Zone {
    /// Go's location name: `UTC`, `Local`, `Europe/Paris`.
    name: String,
    /// `None`: UTC.
    tz: Option<Arc<TimeZone>>,
}

impl Zone {
    pub(crate) fn utc() -> Zone {
        Zone { name: "UTC".into(), tz: None }
    }
}

static ZONES: LazyLock<Mutex<HashMap<String, Zone>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Go's `time.LoadLocation`, with its error texts.
pub(crate) fn load_location(name: &str) -> Result<Zone, String> {
    if name.is_empty() || name == "UTC" {
        return Ok(Zone::utc());
    }
    if name == "Local" {
        return Ok(local_zone());
    }
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
        return Err("time: invalid location name".into());
    }
    if let Ok(zones) = ZONES.lock()
        && let Some(z) = zones.get(name)
    {
        return Ok(z.clone());
    }
    let mut dirs: Vec<String> = Vec::new();
    if let Ok(dir) = std::env::var("ZONEINFO")
        && !dir.is_empty()
    {
        dirs.push(dir);
    }
    dirs.extend(
        ["/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo"]
            .map(String::from),
    );
    for dir in dirs {
        let Ok(bytes) = std::fs::read(std::path::Path::new(&dir).join(name)) else { continue };
        if let Ok(tz) = TimeZone::from_tz_data(&bytes) {
            let zone = Zone { name: name.to_string(), tz: Some(Arc::new(tz)) };
            if let Ok(mut zones) = ZONES.lock() {
                zones.insert(name.to_string(), zone.clone());
            }
            return Ok(zone);
        }
    }
    Err(format!("unknown time zone {name}"))
}

/// Go's `time.Local`: `TZ` unset means `/etc/localtime`; empty or `UTC` means UTC; otherwise
/// a zoneinfo name. Anything unloadable is UTC (named `UTC`, as Go does).
fn local_zone() -> Zone {
    static LOCAL: LazyLock<Zone> = LazyLock::new(|| {
        let tz = match std::env::var("TZ") {
            Err(_) => TimeZone::local().ok(),
            Ok(v) => {
                let v = v.strip_prefix(':').unwrap_or(&v).to_string();
                if v.is_empty() || v == "UTC" {
                    None
                } else {
                    load_location(&v).ok().and_then(|z| z.tz.map(|t| (*t).clone()))
                }
            }
        };
        match tz {
            Some(tz) => Zone { name: "Local".into(), tz: Some(Arc::new(tz)) },
            None => Zone::utc(),
        }
    });
    LOCAL.clone()
}

/// A Go `time.Time`: an instant and the zone it is shown in.
#[derive(Clone)]
pub(crate) struct GoTime {
    secs: i64,
    nanos: u32,
    zone: Zone,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// The wall-clock fields of a time in its zone.
struct Civil {
    year: i64,
    month: usize,
    day: u32,
    weekday: usize,
    yday: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl GoTime {
    /// A time from unix milliseconds, in UTC; `0` is Go's zero time (Alertmanager's "unset").
    pub(crate) fn from_unix_ms(ms: i64) -> GoTime {
        if ms == 0 { GoTime::zero() } else { GoTime::instant_ms(ms) }
    }

    /// The instant `ms` in UTC (no "unset" meaning for 0).
    pub(crate) fn instant_ms(ms: i64) -> GoTime {
        GoTime {
            secs: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as u32,
            zone: Zone::utc(),
        }
    }

    pub(crate) fn zero() -> GoTime {
        GoTime { secs: GO_ZERO_UNIX, nanos: 0, zone: Zone::utc() }
    }

    fn unix_nanos(&self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    fn from_unix_nanos(n: i128, zone: Zone) -> GoTime {
        let secs = n.div_euclid(1_000_000_000);
        let secs = i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX });
        GoTime { secs, nanos: n.rem_euclid(1_000_000_000) as u32, zone }
    }

    pub(crate) fn in_zone(&self, zone: Zone) -> GoTime {
        GoTime { zone, ..self.clone() }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.secs == GO_ZERO_UNIX && self.nanos == 0
    }

    /// The zone's offset (seconds east of UTC) and abbreviation at this instant.
    fn offset_and_abbreviation(&self) -> (i32, String) {
        let Some(tz) = &self.zone.tz else { return (0, "UTC".into()) };
        match tz.find_local_time_type(self.secs) {
            Ok(t) => (t.ut_offset(), t.time_zone_designation().to_string()),
            Err(_) => (0, "UTC".into()),
        }
    }

    fn civil(&self, offset: i32) -> Civil {
        let local = self.secs.saturating_add(i64::from(offset));
        match chrono::DateTime::from_timestamp(local, 0) {
            Some(t) => Civil {
                year: i64::from(t.year()),
                month: t.month0() as usize,
                day: t.day(),
                weekday: t.weekday().num_days_from_sunday() as usize,
                yday: t.ordinal(),
                hour: t.hour(),
                minute: t.minute(),
                second: t.second(),
            },
            None => Civil { year: 1, month: 0, day: 1, weekday: 1, yday: 1, hour: 0, minute: 0, second: 0 },
        }
    }

    /// Go's `time.Time.Format`.
    pub(crate) fn format(&self, layout: &str) -> String {
        let (offset, abbreviation) = self.offset_and_abbreviation();
        let c = self.civil(offset);
        let mut out = String::with_capacity(layout.len() + 10);
        let mut rest = layout;
        while !rest.is_empty() {
            let (prefix, chunk, suffix) = next_chunk(rest);
            out.push_str(prefix);
            let Some(chunk) = chunk else { break };
            rest = suffix;
            match chunk {
                Chunk::LongYear => out.push_str(&pad_int(c.year, 4)),
                Chunk::Year => out.push_str(&pad_int(c.year.rem_euclid(100), 2)),
                Chunk::LongMonth => out.push_str(MONTHS[c.month]),
                Chunk::Month => out.push_str(&MONTHS[c.month][..3]),
                Chunk::NumMonth => out.push_str(&(c.month + 1).to_string()),
                Chunk::ZeroMonth => out.push_str(&pad_int(c.month as i64 + 1, 2)),
                Chunk::LongWeekDay => out.push_str(WEEKDAYS[c.weekday]),
                Chunk::WeekDay => out.push_str(&WEEKDAYS[c.weekday][..3]),
                Chunk::Day => out.push_str(&c.day.to_string()),
                Chunk::UnderDay => {
                    if c.day < 10 {
                        out.push(' ');
                    }
                    out.push_str(&c.day.to_string());
                }
                Chunk::ZeroDay => out.push_str(&pad_int(i64::from(c.day), 2)),
                Chunk::UnderYearDay => out.push_str(&format!("{:>3}", c.yday)),
                Chunk::ZeroYearDay => out.push_str(&pad_int(i64::from(c.yday), 3)),
                Chunk::Hour => out.push_str(&pad_int(i64::from(c.hour), 2)),
                Chunk::Hour12 | Chunk::ZeroHour12 => {
                    let h = match c.hour % 12 {
                        0 => 12,
                        h => h,
                    };
                    let w = if chunk == Chunk::ZeroHour12 { 2 } else { 0 };
                    out.push_str(&pad_int(i64::from(h), w));
                }
                Chunk::Minute => out.push_str(&c.minute.to_string()),
                Chunk::ZeroMinute => out.push_str(&pad_int(i64::from(c.minute), 2)),
                Chunk::Second => out.push_str(&c.second.to_string()),
                Chunk::ZeroSecond => out.push_str(&pad_int(i64::from(c.second), 2)),
                Chunk::PM => out.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
                Chunk::Pm => out.push_str(if c.hour >= 12 { "pm" } else { "am" }),
                Chunk::Tz => {
                    if abbreviation.is_empty() {
                        push_offset(&mut out, offset, false, false, true);
                    } else {
                        out.push_str(&abbreviation);
                    }
                }
                Chunk::NumTz { iso, colon, minutes, seconds } => {
                    if iso && offset == 0 {
                        out.push('Z');
                    } else {
                        push_offset(&mut out, offset, colon, seconds, minutes);
                    }
                }
                Chunk::Frac { sep, digits, trim } => push_frac(&mut out, self.nanos, sep, digits, trim),
            }
        }
        out
    }

    /// Go's `time.Time.String()` (without a monotonic clock reading).
    pub(crate) fn go_string(&self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }
}

fn pad_int(v: i64, width: usize) -> String {
    if v < 0 {
        return format!("-{:0width$}", v.unsigned_abs());
    }
    format!("{v:0width$}")
}

fn push_offset(out: &mut String, offset: i32, colon: bool, seconds: bool, minutes: bool) {
    let zone = offset / 60;
    let abs_minutes = zone.unsigned_abs();
    out.push(if offset < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", abs_minutes / 60));
    if minutes {
        if colon {
            out.push(':');
        }
        out.push_str(&format!("{:02}", abs_minutes % 60));
    }
    if seconds {
        if colon {
            out.push(':');
        }
        out.push_str(&format!("{:02}", offset.unsigned_abs() % 60));
    }
}

fn push_frac(out: &mut String, nanos: u32, sep: char, digits: usize, trim: bool) {
    if trim && (digits == 0 || nanos == 0) {
        return;
    }
    let all = format!("{nanos:09}");
    let mut frac = &all[..digits.min(9)];
    if trim {
        frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            return;
        }
    }
    out.push(sep);
    out.push_str(frac);
}

/// One element of a Go time layout (`time/format.go`'s std values).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Chunk {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    /// `-0700` and friends; `iso`: the `Z` forms that print `Z` for UTC.
    NumTz {
        iso: bool,
        colon: bool,
        minutes: bool,
        seconds: bool,
    },
    /// `.000` (`trim` false) or `.999` (`trim` true), `digits` long, `sep` `.` or `,`.
    Frac {
        sep: char,
        digits: usize,
        trim: bool,
    },
}

fn starts_with_lower(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// Go's `nextStdChunk`: the text before the first layout element, the element, the rest.
fn next_chunk(layout: &str) -> (&str, Option<Chunk>, &str) {
    let b = layout.as_bytes();
    let at = |i: usize, s: &str| layout.get(i..).is_some_and(|r| r.starts_with(s));
    for i in 0..b.len() {
        let (chunk, len) = match b[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    (Chunk::LongMonth, 7)
                } else if !starts_with_lower(&layout[i + 3..]) {
                    (Chunk::Month, 3)
                } else {
                    continue;
                }
            }
            b'M' if at(i, "Mon") => {
                if at(i, "Monday") {
                    (Chunk::LongWeekDay, 6)
                } else if !starts_with_lower(&layout[i + 3..]) {
                    (Chunk::WeekDay, 3)
                } else {
                    continue;
                }
            }
            b'M' if at(i, "MST") => (Chunk::Tz, 3),
            b'0' if b.get(i + 1).is_some_and(|c| (b'1'..=b'6').contains(c)) => {
                let chunk = match b[i + 1] {
                    b'1' => Chunk::ZeroMonth,
                    b'2' => Chunk::ZeroDay,
                    b'3' => Chunk::ZeroHour12,
                    b'4' => Chunk::ZeroMinute,
                    b'5' => Chunk::ZeroSecond,
                    _ => Chunk::Year,
                };
                (chunk, 2)
            }
            b'0' if at(i, "002") => (Chunk::ZeroYearDay, 3),
            b'1' => {
                if at(i, "15") {
                    (Chunk::Hour, 2)
                } else {
                    (Chunk::NumMonth, 1)
                }
            }
            b'2' => {
                if at(i, "2006") {
                    (Chunk::LongYear, 4)
                } else {
                    (Chunk::Day, 1)
                }
            }
            b'_' if at(i, "_2") => {
                if at(i, "_2006") {
                    // A literal `_` followed by the long year.
                    return (&layout[..i + 1], Some(Chunk::LongYear), &layout[i + 5..]);
                }
                (Chunk::UnderDay, 2)
            }
            b'_' if at(i, "__2") => (Chunk::UnderYearDay, 3),
            b'3' => (Chunk::Hour12, 1),
            b'4' => (Chunk::Minute, 1),
            b'5' => (Chunk::Second, 1),
            b'P' if at(i, "PM") => (Chunk::PM, 2),
            b'p' if at(i, "pm") => (Chunk::Pm, 2),
            b'-' | b'Z' => {
                let iso = b[i] == b'Z';
                let forms: [(&str, bool, bool, bool); 5] = [
                    ("070000", false, true, true),
                    ("07:00:00", true, true, true),
                    ("0700", false, true, false),
                    ("07:00", true, true, false),
                    ("07", false, false, false),
                ];
                let Some(&(form, colon, minutes, seconds)) = forms.iter().find(|(f, ..)| at(i + 1, f)) else {
                    continue;
                };
                (Chunk::NumTz { iso, colon, minutes, seconds }, 1 + form.len())
            }
            c @ (b'.' | b',') if b.get(i + 1).is_some_and(|d| *d == b'0' || *d == b'9') => {
                let digit = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == digit {
                    j += 1;
                }
                if b.get(j).is_some_and(u8::is_ascii_digit) {
                    continue;
                }
                let chunk = Chunk::Frac { sep: c as char, digits: j - (i + 1), trim: digit == b'9' };
                return (&layout[..i], Some(chunk), &layout[j..]);
            }
            _ => continue,
        };
        return (&layout[..i], Some(chunk), &layout[i + len..]);
    }
    (layout, None, "")
}

/// `time.Time` as a template object.
pub(crate) struct TimeObj(pub(crate) GoTime);

pub(crate) fn time_value(t: GoTime) -> Value {
    Value::Object(Arc::new(TimeObj(t)))
}

pub(crate) fn duration_value(nanos: i64) -> Value {
    Value::Object(Arc::new(DurationObj(nanos)))
}

/// A `time.Time` argument.
pub(crate) fn time_arg(v: &Value) -> Result<GoTime, String> {
    if let Value::Object(o) = v
        && o.type_name() == TIME_TYPE
        && let Some(Value::List(state)) = o.field(TIME_STATE)
        && let [Value::Int(secs), Value::Int(nanos), Value::String(zone)] = &state[..]
    {
        let zone = load_location(zone).unwrap_or_else(|_| Zone::utc());
        return Ok(GoTime { secs: *secs, nanos: *nanos as u32, zone });
    }
    Err(wrong_type(TIME_TYPE, v))
}

/// A `time.Duration` argument (a duration, or an integer number of nanoseconds as Go's
/// constants convert).
pub(crate) fn duration_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::Object(o) if o.type_name() == DURATION_TYPE => match o.field(DURATION_STATE) {
            Some(Value::Int(n)) => Ok(n),
            _ => Err(wrong_type(DURATION_TYPE, v)),
        },
        other => Err(wrong_type(DURATION_TYPE, other)),
    }
}

/// The nanoseconds of a duration value, if it is one (for `humanizeDuration`).
pub(crate) fn as_duration(v: &Value) -> Option<i64> {
    match v {
        Value::Object(o) if o.type_name() == DURATION_TYPE => match o.field(DURATION_STATE) {
            Some(Value::Int(n)) => Some(n),
            _ => None,
        },
        _ => None,
    }
}

/// `t.Sub(u)` with Go's saturation.
pub(crate) fn sub(t: &GoTime, u: &GoTime) -> i64 {
    let d = t.unix_nanos() - u.unix_nanos();
    i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}

impl TemplateObject for TimeObj {
    fn field(&self, name: &str) -> Option<Value> {
        let t = &self.0;
        let (offset, _) = t.offset_and_abbreviation();
        let c = || t.civil(offset);
        Some(match name {
            TIME_STATE => Value::List(vec![
                Value::Int(t.secs),
                Value::Int(i64::from(t.nanos)),
                Value::String(t.zone.name.clone()),
            ]),
            "String" => Value::String(t.go_string()),
            "Unix" => Value::Int(t.secs),
            "UnixMilli" => Value::Int((t.unix_nanos() / 1_000_000) as i64),
            "UnixMicro" => Value::Int((t.unix_nanos() / 1_000) as i64),
            "UnixNano" => Value::Int(t.unix_nanos() as i64),
            "UTC" => time_value(t.in_zone(Zone::utc())),
            "Local" => time_value(t.in_zone(local_zone())),
            "IsZero" => Value::Bool(t.is_zero()),
            "Year" => Value::Int(c().year),
            "Month" => Value::String(MONTHS[c().month].to_string()),
            "Day" => Value::Int(i64::from(c().day)),
            "Hour" => Value::Int(i64::from(c().hour)),
            "Minute" => Value::Int(i64::from(c().minute)),
            "Second" => Value::Int(i64::from(c().second)),
            "Nanosecond" => Value::Int(i64::from(t.nanos)),
            "YearDay" => Value::Int(i64::from(c().yday)),
            "Weekday" => Value::String(WEEKDAYS[c().weekday].to_string()),
            _ => return None,
        })
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let t = &self.0;
        let r = match name {
            "Format" => arity(name, 1, args).and_then(|()| match &args[0] {
                Value::String(layout) => Ok(Value::String(t.format(layout))),
                other => Err(wrong_type("string", other)),
            }),
            "Add" => arity(name, 1, args).and_then(|()| {
                let d = duration_arg(&args[0])?;
                Ok(time_value(GoTime::from_unix_nanos(t.unix_nanos() + i128::from(d), t.zone.clone())))
            }),
            "Sub" => arity(name, 1, args).and_then(|()| Ok(duration_value(sub(t, &time_arg(&args[0])?)))),
            "Before" => arity(name, 1, args)
                .and_then(|()| Ok(Value::Bool(t.unix_nanos() < time_arg(&args[0])?.unix_nanos()))),
            "After" => arity(name, 1, args)
                .and_then(|()| Ok(Value::Bool(t.unix_nanos() > time_arg(&args[0])?.unix_nanos()))),
            "Equal" => arity(name, 1, args)
                .and_then(|()| Ok(Value::Bool(t.unix_nanos() == time_arg(&args[0])?.unix_nanos()))),
            _ => {
                if !args.is_empty() && self.field(name).is_some() {
                    return Some(Err(raw_error(format!(
                        "wrong number of args for {name}: want 0 got {}",
                        args.len()
                    ))));
                }
                return None;
            }
        };
        Some(r)
    }

    fn type_name(&self) -> String {
        TIME_TYPE.into()
    }

    fn go_string(&self) -> String {
        self.0.go_string()
    }
}

/// `time.Duration` as a template object.
pub(crate) struct DurationObj(pub(crate) i64);

impl TemplateObject for DurationObj {
    fn field(&self, name: &str) -> Option<Value> {
        let d = self.0;
        Some(match name {
            DURATION_STATE => Value::Int(d),
            "String" => Value::String(go_duration_string(d)),
            "Hours" => Value::Float(d as f64 / 3.6e12),
            "Minutes" => Value::Float(d as f64 / 6e10),
            "Seconds" => Value::Float(d as f64 / 1e9),
            "Milliseconds" => Value::Int(d / 1_000_000),
            "Microseconds" => Value::Int(d / 1_000),
            "Nanoseconds" => Value::Int(d),
            "Abs" => duration_value(d.checked_abs().unwrap_or(i64::MAX)),
            _ => return None,
        })
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let d = self.0;
        let r = match name {
            "Round" => arity(name, 1, args)
                .and_then(|()| Ok(duration_value(round_duration(d, duration_arg(&args[0])?)))),
            "Truncate" => arity(name, 1, args).and_then(|()| {
                let m = duration_arg(&args[0])?;
                Ok(duration_value(if m <= 0 { d } else { d - d % m }))
            }),
            _ => return None,
        };
        Some(r)
    }

    fn type_name(&self) -> String {
        DURATION_TYPE.into()
    }

    fn go_string(&self) -> String {
        go_duration_string(self.0)
    }

    fn truth(&self) -> bool {
        self.0 != 0
    }
}

/// Go's `Duration.Round`: halfway values round away from zero.
fn round_duration(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let mut r = d % m;
    if d < 0 {
        r = -r;
        if r + r < m {
            return d + r;
        }
        return d.checked_sub(m).map_or(i64::MIN, |v| v + r);
    }
    if r + r < m {
        return d - r;
    }
    d.checked_add(m).map_or(i64::MAX, |v| v - r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        // 2009-11-10 23:04:05.012 UTC, a Tuesday, day 314 of the year.
        let t = GoTime::from_unix_ms(1_257_894_245_012);
        assert_eq!(t.go_string(), "2009-11-10 23:04:05.012 +0000 UTC");
        assert_eq!(t.format("2006-01-02T15:04:05Z07:00"), "2009-11-10T23:04:05Z");
        assert_eq!(t.format("Mon Jan _2 3:4:5 PM 2006"), "Tue Nov 10 11:4:5 PM 2009");
        assert_eq!(t.format("Monday, January 2 06 pm"), "Tuesday, November 10 09 pm");
        assert_eq!(t.format("15:04:05.000000 .99 ,9|"), "23:04:05.012000 .01 |");
        assert_eq!(t.format("002 __2 -07:00 -0700 Z0700"), "314 314 +00:00 +0000 Z");
        // Words that merely start like layout elements stay literal.
        assert_eq!(t.format("Janet Monsoon"), "Janet Monsoon");
        assert_eq!(GoTime::zero().go_string(), "0001-01-01 00:00:00 +0000 UTC");
        assert!(GoTime::from_unix_ms(0).is_zero());
    }

    #[test]
    fn json_time_is_go_marshal_json() {
        assert_eq!(json_time(None), "0001-01-01T00:00:00Z");
        assert_eq!(json_time(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(json_time(Some(1_704_164_645_000)), "2024-01-02T03:04:05Z");
        assert_eq!(json_time(Some(1_704_164_645_100)), "2024-01-02T03:04:05.1Z");
        assert_eq!(json_time(Some(1_704_164_645_010)), "2024-01-02T03:04:05.01Z");
        assert_eq!(json_time(Some(1_704_164_645_999)), "2024-01-02T03:04:05.999Z");
        assert_eq!(json_time(Some(-1)), "1969-12-31T23:59:59.999Z");
        assert_eq!(json_time(Some(-62_135_596_800_000)), "0001-01-01T00:00:00Z");
        assert_eq!(json_time(Some(i64::MAX)), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn zones_follow_zoneinfo() {
        let Ok(paris) = load_location("Europe/Paris") else {
            // No zoneinfo on this machine: nothing to check.
            return;
        };
        let t = GoTime::from_unix_ms(1_257_894_245_000).in_zone(paris);
        assert_eq!(t.go_string(), "2009-11-11 00:04:05 +0100 CET");
        assert_eq!(t.format("Z07:00"), "+01:00");
        assert_eq!(
            load_location("Nowhere/Atlantis").err().as_deref(),
            Some("unknown time zone Nowhere/Atlantis")
        );
        assert_eq!(load_location("../etc/passwd").err().as_deref(), Some("time: invalid location name"));
    }

    #[test]
    fn durations_round_like_go() {
        assert_eq!(round_duration(1_500_000_000, 1_000_000_000), 2_000_000_000);
        assert_eq!(round_duration(-1_500_000_000, 1_000_000_000), -2_000_000_000);
        assert_eq!(round_duration(1_400_000_000, 1_000_000_000), 1_000_000_000);
    }
}
