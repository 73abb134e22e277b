//! Time intervals (`time_intervals:` and the deprecated `mute_time_intervals:`) parsed and
//! evaluated at a point in time, with the semantics of Alertmanager's `timeinterval` package.
//!
//! A named time interval is a list of [`Interval`]s; the name contains a time when any of its
//! intervals does. An interval contains a time when every field it sets contains it (a field
//! left empty places no constraint), each field being a list of ranges of which one must match:
//!
//! - `times`: `start_time`/`end_time` as `HH:MM` (`00:00` to `23:59`, or `24:00`), kept as
//!   minutes of the day; the end is exclusive and must come after the start.
//! - `weekdays`: `sunday` to `saturday` (any case) or `day:day`, inclusive, no wrap-around.
//! - `days_of_month`: `1` to `31`, or negative from the end of the month (`-1` is the last
//!   day); a range with a negative start must have a negative end, and ranges always empty in
//!   a 28-day month are rejected. At evaluation negative days are resolved against the month's
//!   length and clamped to it; a range starting after the month's end matches nothing.
//! - `months`: names (any case) or numbers, inclusive ranges.
//! - `years`: numbers, inclusive ranges.
//! - `location`: an IANA zone name read from the system zoneinfo (`$ZONEINFO`, then
//!   `/usr/share/zoneinfo` and Go's other Unix locations), as Go's `time.LoadLocation` does:
//!   `""` and `UTC` are UTC, `Local` is the process's zone (`$TZ`, else `/etc/localtime`),
//!   names with `..` or a leading `/` are invalid. Without a location the interval is
//!   evaluated in UTC (Alertmanager evaluates `now.UTC()`).
//!
//! Validation gives Alertmanager's error messages, word for word (`end day 5 is always before
//! start day 10`, `strconv.Atoi: parsing "x": invalid syntax`, `unknown time zone Foo/Bar`,
//! ...), so `harrier check` reads like `amtool check-config`.
//!
//! The length of the month is computed as Go computes it (hours between the first local
//! midnights of this month and the next, divided by 24 and truncated), so in a zone whose
//! month contains a spring-forward transition the month is one day shorter for negative days,
//! exactly as in Alertmanager.

use super::config::{AlertmanagerConfig, TimeIntervalSpec};
use harrier_telemetry::civil::{civil_from_days, days_from_civil};
use std::collections::HashMap;
use std::sync::Arc;
use tz::TimeZone;

/// Why a time interval is invalid; messages are Alertmanager's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeIntervalError {
    #[error("both start and end times must be provided")]
    MissingTime,
    #[error("couldn't parse timestamp {0}, invalid format")]
    BadTimestamp(String),
    #[error("start time cannot be equal or greater than end time")]
    EmptyTimeRange,
    #[error("couldn't parse range {0}, invalid format")]
    BadRange(String),
    #[error("{0} is not a valid weekday")]
    BadWeekday(String),
    #[error("start day cannot be before end day")]
    WeekdaysReversed,
    #[error("{0} is not a valid month")]
    BadMonth(String),
    #[error("end month {end} is before start month {start}")]
    MonthsReversed { start: String, end: String },
    /// Go's `strconv.Atoi` error: `quoted` is the input as Go quotes it.
    #[error("strconv.Atoi: parsing {quoted}: {reason}")]
    BadNumber { quoted: String, reason: &'static str },
    #[error("{0} is not a valid day of the month: out of range")]
    DayOutOfRange(i64),
    #[error("end day must be negative if start day is negative")]
    NegativeStartPositiveEnd,
    #[error("end day {end} is always before start day {start}")]
    DaysReversed { start: i64, end: i64 },
    #[error("end year {end} is before start year {start}")]
    YearsReversed { start: i64, end: i64 },
    #[error("time: invalid location name")]
    InvalidLocationName,
    #[error("unknown time zone {0}")]
    UnknownTimeZone(String),
    #[error("malformed time zone information")]
    MalformedTimeZone,
    /// A zoneinfo file that exists but cannot be read (Go's errno text, e.g. `is a directory`).
    #[error("{0}")]
    ZoneRead(String),
    /// An error in the named time interval `name`.
    #[error("time interval {name:?}: {source}")]
    InInterval { name: String, source: Box<TimeIntervalError> },
}

/// An inclusive range of integers (weekdays 0 = Sunday, days of month, months, years).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InclusiveRange {
    pub begin: i64,
    pub end: i64,
}

/// Minutes of the day `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteRange {
    pub start: u32,
    pub end: u32,
}

/// The zone an interval is evaluated in.
#[derive(Debug, Clone)]
pub struct Location {
    /// The name as written (`UTC` when none was given).
    pub name: String,
    zone: Arc<TimeZone>,
}

impl Location {
    pub fn utc() -> Location {
        Location { name: "UTC".to_string(), zone: Arc::new(TimeZone::utc()) }
    }

    /// The UTC offset in seconds at a Unix time (0 when the zone cannot say).
    fn offset_at(&self, unix_secs: i64) -> i64 {
        self.zone.find_local_time_type(unix_secs).map(|t| i64::from(t.ut_offset())).unwrap_or(0)
    }

    /// The wall clock at a Unix time.
    fn wall_clock(&self, unix_secs: i64) -> WallClock {
        WallClock::from_local_seconds(unix_secs + self.offset_at(unix_secs))
    }

    /// The Unix time of a wall-clock time, resolved in gaps and overlaps the way Go's
    /// `time.Date` does (offset looked up at the wall time read as UTC, then corrected once).
    /// The month may be out of 1..=12 and is normalized, as Go normalizes it.
    fn unix_of(&self, year: i64, month: i64, day: i64, seconds_of_day: i64) -> i64 {
        let m0 = month - 1;
        let (year, month) = (year + m0.div_euclid(12), m0.rem_euclid(12) + 1);
        let local = (days_from_civil(year, month, 1) + day - 1) * 86_400 + seconds_of_day;
        match self.offset_at(local) {
            0 => local,
            first => local - self.offset_at(local - first),
        }
    }

    /// Days in the month of `t`, computed as Go's `daysInMonth` does.
    fn days_in_month(&self, t: &WallClock) -> i64 {
        let start = self.unix_of(t.year, t.month, 1, 0);
        let s = self.wall_clock(start);
        let end = self.unix_of(s.year, s.month + 1, s.day, s.seconds_of_day);
        (end - start).div_euclid(3600) / 24
    }
}

/// A broken-down local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WallClock {
    year: i64,
    month: i64,
    day: i64,
    /// 0 = Sunday.
    weekday: i64,
    seconds_of_day: i64,
}

impl WallClock {
    fn from_local_seconds(local: i64) -> WallClock {
        let days = local.div_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        WallClock {
            year,
            month,
            day,
            weekday: (days + 4).rem_euclid(7),
            seconds_of_day: local.rem_euclid(86_400),
        }
    }

    fn minute_of_day(&self) -> i64 {
        self.seconds_of_day / 60
    }
}

/// One parsed interval of a named time interval.
#[derive(Debug, Clone)]
pub struct Interval {
    pub times: Vec<MinuteRange>,
    pub weekdays: Vec<InclusiveRange>,
    pub days_of_month: Vec<InclusiveRange>,
    pub months: Vec<InclusiveRange>,
    pub years: Vec<InclusiveRange>,
    pub location: Location,
}

impl Interval {
    /// Parses and validates one interval of a config, with Alertmanager's rules and messages.
    pub fn parse(spec: &TimeIntervalSpec) -> Result<Interval, TimeIntervalError> {
        let times = spec
            .times
            .iter()
            .map(|t| {
                if t.start_time.is_empty() || t.end_time.is_empty() {
                    return Err(TimeIntervalError::MissingTime);
                }
                let (start, end) = (parse_time_of_day(&t.start_time)?, parse_time_of_day(&t.end_time)?);
                if start >= end {
                    return Err(TimeIntervalError::EmptyTimeRange);
                }
                Ok(MinuteRange { start, end })
            })
            .collect::<Result<_, _>>()?;
        let weekdays = spec.weekdays.iter().map(|s| parse_weekdays(s)).collect::<Result<_, _>>()?;
        let days_of_month =
            spec.days_of_month.iter().map(|s| parse_days_of_month(s)).collect::<Result<_, _>>()?;
        let months = spec.months.iter().map(|s| parse_months(s)).collect::<Result<_, _>>()?;
        let years = spec.years.iter().map(|s| parse_years(s)).collect::<Result<_, _>>()?;
        let location = match &spec.location {
            Some(name) => load_location(name)?,
            None => Location::utc(),
        };
        Ok(Interval { times, weekdays, days_of_month, months, years, location })
    }

    /// Whether the interval contains the instant (`ContainsTime`).
    pub fn contains(&self, unix_ms: i64) -> bool {
        let loc = &self.location;
        let t = loc.wall_clock(unix_ms.div_euclid(1000));
        let minute = t.minute_of_day();
        if !self.times.is_empty()
            && !self.times.iter().any(|r| minute >= i64::from(r.start) && minute < i64::from(r.end))
        {
            return false;
        }
        if !self.days_of_month.is_empty() {
            let days = loc.days_in_month(&t);
            let resolve = |d: i64| if d < 0 { days + d + 1 } else { d };
            let any = self.days_of_month.iter().any(|r| {
                let (begin, end) = (resolve(r.begin), resolve(r.end));
                if begin > days {
                    return false;
                }
                let (begin, end) = (begin.clamp(-days, days), end.clamp(-days, days));
                t.day >= begin && t.day <= end
            });
            if !any {
                return false;
            }
        }
        let within = |ranges: &[InclusiveRange], v: i64| {
            ranges.is_empty() || ranges.iter().any(|r| v >= r.begin && v <= r.end)
        };
        within(&self.months, t.month) && within(&self.weekdays, t.weekday) && within(&self.years, t.year)
    }
}

/// `HH:MM` (00:00-23:59, or 24:00) as minutes of the day.
fn parse_time_of_day(s: &str) -> Result<u32, TimeIntervalError> {
    let bad = || TimeIntervalError::BadTimestamp(s.to_string());
    if s == "24:00" {
        return Ok(24 * 60);
    }
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || !b.iter().enumerate().all(|(i, c)| i == 2 || c.is_ascii_digit()) {
        return Err(bad());
    }
    let digit = |i: usize| u32::from(b[i] - b'0');
    let (hours, minutes) = (digit(0) * 10 + digit(1), digit(3) * 10 + digit(4));
    if hours > 23 || minutes > 59 {
        return Err(bad());
    }
    Ok(hours * 60 + minutes)
}

/// Splits `a` or `a:b` (lowercased) and maps both ends with `member`.
fn parse_range(
    input: &str,
    member: impl Fn(&str) -> Result<i64, TimeIntervalError>,
) -> Result<InclusiveRange, TimeIntervalError> {
    let lower = input.to_lowercase();
    if lower.contains(':') {
        let parts: Vec<&str> = lower.split(':').collect();
        let [begin, end] = parts[..] else {
            return Err(TimeIntervalError::BadRange(lower.clone()));
        };
        return Ok(InclusiveRange { begin: member(begin)?, end: member(end)? });
    }
    let v = member(&lower)?;
    Ok(InclusiveRange { begin: v, end: v })
}

/// Go's `strconv.Atoi`: optional sign and decimal digits, 64-bit.
fn atoi(s: &str) -> Result<i64, TimeIntervalError> {
    let quoted = crate::template::gofmt::quote(s);
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(TimeIntervalError::BadNumber { quoted, reason: "invalid syntax" });
    }
    s.parse::<i64>().map_err(|_| TimeIntervalError::BadNumber { quoted, reason: "value out of range" })
}

const WEEKDAYS: [&str; 7] = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn parse_weekdays(input: &str) -> Result<InclusiveRange, TimeIntervalError> {
    let r = parse_range(input, |s| {
        WEEKDAYS
            .iter()
            .position(|d| *d == s)
            .map(|i| i as i64)
            .ok_or_else(|| TimeIntervalError::BadWeekday(s.to_string()))
    })?;
    if r.begin > r.end {
        return Err(TimeIntervalError::WeekdaysReversed);
    }
    Ok(r)
}

fn parse_days_of_month(input: &str) -> Result<InclusiveRange, TimeIntervalError> {
    let r = parse_range(input, atoi)?;
    for d in [r.begin, r.end] {
        if d == 0 || !(-31..=31).contains(&d) {
            return Err(TimeIntervalError::DayOutOfRange(d));
        }
    }
    if r.begin < 0 && r.end > 0 {
        return Err(TimeIntervalError::NegativeStartPositiveEnd);
    }
    // Always empty, even in the shortest (28-day) month.
    let in_short_month = |d: i64| if d < 0 { 28 + d } else { d };
    if in_short_month(r.begin) > in_short_month(r.end) {
        return Err(TimeIntervalError::DaysReversed { start: r.begin, end: r.end });
    }
    Ok(r)
}

fn parse_months(input: &str) -> Result<InclusiveRange, TimeIntervalError> {
    let r = parse_range(input, |s| match MONTHS.iter().position(|m| *m == s) {
        Some(i) => Ok(i as i64 + 1),
        None => atoi(s).map_err(|_| TimeIntervalError::BadMonth(s.to_string())),
    })?;
    if r.begin > r.end {
        let name = |m: i64| {
            usize::try_from(m - 1).ok().and_then(|i| MONTHS.get(i)).copied().unwrap_or("").to_string()
        };
        return Err(TimeIntervalError::MonthsReversed { start: name(r.begin), end: name(r.end) });
    }
    Ok(r)
}

fn parse_years(input: &str) -> Result<InclusiveRange, TimeIntervalError> {
    let r = parse_range(input, atoi)?;
    if r.begin > r.end {
        return Err(TimeIntervalError::YearsReversed { start: r.begin, end: r.end });
    }
    Ok(r)
}

/// Go's Unix zoneinfo locations, after `$ZONEINFO`.
const ZONE_SOURCES: [&str; 4] =
    ["/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo"];

/// Loads a location by name with the rules of Go's `time.LoadLocation`.
pub fn load_location(name: &str) -> Result<Location, TimeIntervalError> {
    if name.is_empty() || name == "UTC" {
        return Ok(Location { name: "UTC".to_string(), ..Location::utc() });
    }
    if name == "Local" {
        return Ok(Location { name: "Local".to_string(), zone: Arc::new(local_zone()) });
    }
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
        return Err(TimeIntervalError::InvalidLocationName);
    }
    let zone = load_zone_file(name)?;
    Ok(Location { name: name.to_string(), zone: Arc::new(zone) })
}

/// Reads `name` from `$ZONEINFO` and the system directories; the first error other than "not
/// found" is the one reported, as in Go.
fn load_zone_file(name: &str) -> Result<TimeZone, TimeIntervalError> {
    let env = std::env::var("ZONEINFO").ok().filter(|d| !d.is_empty());
    let mut first_error = None;
    for dir in env.iter().map(String::as_str).chain(ZONE_SOURCES) {
        let error = match std::fs::read(format!("{dir}/{name}")) {
            Ok(bytes) => match TimeZone::from_tz_data(&bytes) {
                Ok(zone) => return Ok(zone),
                Err(_) => TimeIntervalError::MalformedTimeZone,
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => TimeIntervalError::ZoneRead(errno_text(&e)),
        };
        first_error.get_or_insert(error);
    }
    Err(first_error.unwrap_or_else(|| TimeIntervalError::UnknownTimeZone(name.to_string())))
}

/// An I/O error as Go's `syscall.Errno` prints it (`is a directory`, `permission denied`).
fn errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Go's `Local`: `$TZ` unset reads `/etc/localtime`; `TZ=""` is UTC; otherwise the named
/// zone (a leading `:` dropped, absolute paths read as is); UTC whenever loading fails.
fn local_zone() -> TimeZone {
    let from_file = |path: &str| std::fs::read(path).ok().and_then(|b| TimeZone::from_tz_data(&b).ok());
    match std::env::var("TZ") {
        Err(_) => from_file("/etc/localtime"),
        Ok(tz) => {
            let tz = tz.strip_prefix(':').unwrap_or(&tz);
            if tz.is_empty() || tz == "UTC" {
                None
            } else if tz.starts_with('/') {
                from_file(tz)
            } else {
                load_zone_file(tz).ok()
            }
        }
    }
    .unwrap_or_else(TimeZone::utc)
}

/// The named time intervals of a config (both `time_intervals` and `mute_time_intervals`).
#[derive(Debug, Clone, Default)]
pub struct TimeIntervals {
    named: HashMap<String, Vec<Interval>>,
}

impl TimeIntervals {
    pub fn new(config: &AlertmanagerConfig) -> Result<TimeIntervals, TimeIntervalError> {
        let mut named = HashMap::new();
        for ti in config.mute_time_intervals.iter().chain(&config.time_intervals) {
            let intervals =
                ti.time_intervals.iter().map(Interval::parse).collect::<Result<Vec<_>, _>>().map_err(
                    |e| TimeIntervalError::InInterval { name: ti.name.clone(), source: Box::new(e) },
                )?;
            named.insert(ti.name.clone(), intervals);
        }
        Ok(TimeIntervals { named })
    }

    /// Whether the named interval contains the time (false for an unknown name).
    pub fn contains(&self, name: &str, unix_ms: i64) -> bool {
        self.named.get(name).is_some_and(|intervals| intervals.iter().any(|i| i.contains(unix_ms)))
    }

    /// Whether a time interval of this name is defined.
    pub fn is_defined(&self, name: &str) -> bool {
        self.named.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's RFC822Z (`02 Jan 06 15:04 -0700`) as Unix milliseconds.
    fn at(s: &str) -> i64 {
        let f: Vec<&str> = s.split_whitespace().collect();
        let day: i64 = f[0].parse().unwrap();
        let month = MONTHS.iter().position(|m| m[..3].eq_ignore_ascii_case(f[1])).unwrap() as i64 + 1;
        let yy: i64 = f[2].parse().unwrap();
        let year = if yy >= 69 { 1900 + yy } else { 2000 + yy };
        let (h, m) = f[3].split_once(':').unwrap();
        let (h, m): (i64, i64) = (h.parse().unwrap(), m.parse().unwrap());
        let sign = if f[4].starts_with('-') { -1 } else { 1 };
        let off: i64 = f[4][1..].parse().unwrap();
        let offset = sign * ((off / 100) * 3600 + (off % 100) * 60);
        ((days_from_civil(year, month, day) * 86_400) + h * 3600 + m * 60 - offset) * 1000
    }

    fn interval(yaml: &str) -> Result<Interval, TimeIntervalError> {
        let spec: TimeIntervalSpec = yaml_serde::from_str(yaml).unwrap();
        Interval::parse(&spec)
    }

    fn check(yaml: &str, contains: &[&str], excludes: &[&str]) {
        let i = interval(yaml).unwrap();
        for t in contains {
            assert!(i.contains(at(t)), "{yaml} should contain {t}");
        }
        for t in excludes {
            assert!(!i.contains(at(t)), "{yaml} should exclude {t}");
        }
    }

    fn error(yaml: &str) -> String {
        interval(yaml).unwrap_err().to_string()
    }

    #[test]
    fn civil_date_conversion_round_trips() {
        for days in [-800_000, -1, 0, 1, 59, 365, 11_016, 18_321, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2020, 2, 29) + 1), (2020, 3, 1));
        assert_eq!(WallClock::from_local_seconds(at("04 May 20 15:04 +0000") / 1000).weekday, 1, "a Monday");
    }

    #[test]
    fn empty_interval_contains_everything() {
        check("{}", &["02 Jan 06 15:04 +0000", "03 Jan 07 10:04 +0000", "04 Jan 06 09:04 +0000"], &[]);
    }

    #[test]
    fn business_hours() {
        let yaml = "{times: [{start_time: '09:00', end_time: '17:00'}], weekdays: ['monday:friday']}";
        check(
            yaml,
            &[
                "04 May 20 15:04 +0000",
                "05 May 20 10:04 +0000",
                "09 Jun 20 09:04 +0000",
                "08 Jul 20 16:59 +0000",
            ],
            &[
                "03 May 20 15:04 +0000",
                "04 May 20 08:59 +0000",
                "05 May 20 05:00 +0000",
                "08 Jul 20 17:00 +0000",
            ],
        );
    }

    #[test]
    fn days_months_and_years() {
        check(
            "{days_of_month: ['4:6'], months: ['april'], years: ['2020']}",
            &["04 Apr 20 15:04 +0000", "05 Apr 20 00:00 +0000", "06 Apr 20 23:05 +0000"],
            &[
                "03 May 18 15:04 +0000",
                "03 Apr 20 23:59 +0000",
                "04 Jun 20 23:59 +0000",
                "06 Apr 19 23:59 +0000",
                "07 Apr 20 00:00 +0000",
            ],
        );
    }

    #[test]
    fn negative_days_count_from_the_end_of_the_month() {
        check(
            "{days_of_month: ['-3:-1']}",
            &[
                "31 Jan 20 15:04 +0000",
                "30 Jan 20 15:04 +0000",
                "29 Jan 20 15:04 +0000",
                "30 Jun 20 00:00 +0000",
                "29 Feb 20 23:05 +0000",
            ],
            &[
                "27 Jan 20 15:04 +0000",
                "03 Apr 20 23:59 +0000",
                "01 Mar 20 00:00 +0000",
                "26 Feb 20 12:00 +0000",
            ],
        );
        check("{days_of_month: ['1:-1']}", &["01 Feb 21 00:00 +0000", "28 Feb 21 23:59 +0000"], &[]);
    }

    #[test]
    fn out_of_range_days_are_clamped_and_late_starts_skipped() {
        // `-31:31` is rejected in a config but reachable through the API, as upstream tests it.
        let range = |begin, end| InclusiveRange { begin, end };
        let june_all_days = Interval {
            times: Vec::new(),
            weekdays: Vec::new(),
            days_of_month: vec![range(-31, 31)],
            months: vec![range(6, 6)],
            years: Vec::new(),
            location: Location::utc(),
        };
        for t in ["30 Jun 20 00:00 +0000", "01 Jun 20 00:00 +0000"] {
            assert!(june_all_days.contains(at(t)), "{t}");
        }
        for t in ["31 May 20 00:00 +0000", "01 Jul 20 00:00 +0000"] {
            assert!(!june_all_days.contains(at(t)), "{t}");
        }
        // A range starting after the end of the month matches nothing (no clamping to the end).
        check(
            "{days_of_month: ['30:31'], years: ['2020:2023'], months: ['february']}",
            &[],
            &["28 Feb 21 13:00 +0000"],
        );
    }

    #[test]
    fn several_ranges_per_field() {
        let yaml = "{weekdays: ['monday:friday', 'sunday'], months: ['january:march'], days_of_month: ['-7:-1'], \
                    years: ['2020:2025', '2030:2035'], times: [{start_time: '09:00', end_time: '17:00'}]}";
        check(
            yaml,
            &[
                "27 Jan 21 09:00 +0000",
                "28 Jan 21 16:59 +0000",
                "29 Jan 21 13:00 +0000",
                "31 Mar 25 13:00 +0000",
                "31 Jan 35 13:00 +0000",
            ],
            &[
                "30 Jan 21 13:00 +0000",
                "01 Apr 21 13:00 +0000",
                "30 Jan 26 13:00 +0000",
                "31 Jan 35 17:01 +0000",
            ],
        );
        let yaml = "{weekdays: ['monday:wednesday', 'saturday', 'sunday'], times: [{start_time: '13:00', end_time: \
                    '15:00'}], days_of_month: ['1', '10', '20:-1'], years: ['2020:2023'], months: ['january:march']}";
        check(
            yaml,
            &["10 Jan 21 13:00 +0000", "30 Jan 21 14:24 +0000"],
            &["09 Jan 21 13:00 +0000", "20 Jan 21 12:59 +0000", "02 Feb 21 13:00 +0000"],
        );
    }

    #[test]
    fn location_moves_the_wall_clock() {
        let yaml = "{times: [{start_time: '09:00', end_time: '17:00'}], weekdays: ['monday:friday'], location: \
                    'Australia/Sydney'}";
        check(yaml, &["06 Apr 21 13:00 +1000"], &["06 Apr 21 13:00 +0000"]);
        let yaml = "{times: [{start_time: '09:00', end_time: '17:00'}], weekdays: ['monday:friday'], months: \
                    ['11'], location: 'Australia/Sydney'}";
        check(yaml, &["01 Nov 21 09:00 +1100", "31 Oct 21 22:00 +0000"], &["31 Oct 21 21:00 +0000"]);
        check(
            "{times: [{start_time: '00:00', end_time: '24:00'}], location: ''}",
            &["01 Jan 21 23:59 +0000"],
            &[],
        );
    }

    #[test]
    fn month_length_follows_go_across_dst() {
        // March 2021 in Paris has a spring-forward hour: Go's daysInMonth gives 30 there, so
        // `-1` is the 30th; in UTC it is the 31st.
        let paris = load_location("Europe/Paris").unwrap();
        let t = paris.wall_clock(at("15 Mar 21 12:00 +0000") / 1000);
        assert_eq!(paris.days_in_month(&t), 30);
        assert_eq!(Location::utc().days_in_month(&t), 31);
        check(
            "{days_of_month: ['-1'], location: 'Europe/Paris'}",
            &["30 Mar 21 12:00 +0200"],
            &["31 Mar 21 12:00 +0200"],
        );
        check("{days_of_month: ['-1']}", &["31 Mar 21 12:00 +0000"], &["30 Mar 21 12:00 +0000"]);
        // October (fall back) keeps its 31 days.
        check("{days_of_month: ['-1'], location: 'Europe/Paris'}", &["31 Oct 21 12:00 +0100"], &[]);
    }

    #[test]
    fn time_of_day_parsing() {
        let parse = |s: &str, e: &str| {
            interval(&format!("{{times: [{{start_time: '{s}', end_time: '{e}'}}]}}"))
                .map(|i| (i.times[0].start, i.times[0].end))
        };
        assert_eq!(parse("00:00", "24:00"), Ok((0, 1440)));
        assert_eq!(parse("01:35", "17:39"), Ok((95, 1059)));
        assert_eq!(parse("09:35", "09:39"), Ok((575, 579)));
        assert_eq!(parse("17:31", "17:31"), Err(TimeIntervalError::EmptyTimeRange));
        assert_eq!(parse("12:30", "24:01"), Err(TimeIntervalError::BadTimestamp("24:01".into())));
        assert_eq!(parse("09:30", "07:41"), Err(TimeIntervalError::EmptyTimeRange));
        assert_eq!(parse("24:00", "17:41"), Err(TimeIntervalError::EmptyTimeRange));
        assert_eq!(parse("1:00", "09:00"), Err(TimeIntervalError::BadTimestamp("1:00".into())));
        assert_eq!(parse("14:03", ""), Err(TimeIntervalError::MissingTime));
    }

    #[test]
    fn validation_messages_are_alertmanagers() {
        let cases = [
            (
                "{times: [{start_time: '01:99', end_time: '23:59'}]}",
                "couldn't parse timestamp 01:99, invalid format",
            ),
            (
                "{times: [{start_time: '00:00', end_time: '99:99'}]}",
                "couldn't parse timestamp 99:99, invalid format",
            ),
            ("{weekdays: ['friday:monday']}", "start day cannot be before end day"),
            ("{weekdays: ['blurgsday:flurgsday']}", "blurgsday is not a valid weekday"),
            ("{weekdays: ['1:3']}", "1 is not a valid weekday"),
            ("{weekdays: ['-2:-1']}", "-2 is not a valid weekday"),
            ("{weekdays: ['Fri']}", "fri is not a valid weekday"),
            ("{weekdays: ['mon:tue:wed']}", "couldn't parse range mon:tue:wed, invalid format"),
            ("{days_of_month: ['0']}", "0 is not a valid day of the month: out of range"),
            ("{days_of_month: ['-50:-20']}", "-50 is not a valid day of the month: out of range"),
            ("{days_of_month: ['1:50']}", "50 is not a valid day of the month: out of range"),
            ("{days_of_month: ['-15:5']}", "end day must be negative if start day is negative"),
            ("{days_of_month: ['10:-25']}", "end day -25 is always before start day 10"),
            ("{days_of_month: ['-3:-10']}", "end day -10 is always before start day -3"),
            ("{days_of_month: ['x']}", r#"strconv.Atoi: parsing "x": invalid syntax"#),
            ("{days_of_month: ['1: 5']}", r#"strconv.Atoi: parsing " 5": invalid syntax"#),
            (
                "{days_of_month: ['99999999999999999999']}",
                r#"strconv.Atoi: parsing "99999999999999999999": value out of range"#,
            ),
            ("{months: ['martius:june']}", "martius is not a valid month"),
            ("{months: ['march:junius']}", "junius is not a valid month"),
            ("{months: ['december:january']}", "end month january is before start month december"),
            ("{months: ['may:']}", " is not a valid month"),
            ("{years: ['2022:2020']}", "end year 2020 is before start year 2022"),
            ("{years: ['']}", r#"strconv.Atoi: parsing "": invalid syntax"#),
            ("{location: 'Nowhere/Foo'}", "unknown time zone Nowhere/Foo"),
            ("{location: 'utc'}", "unknown time zone utc"),
            ("{location: 'America'}", "is a directory"),
            ("{location: '../etc/passwd'}", "time: invalid location name"),
            ("{location: '/usr/share/zoneinfo/UTC'}", "time: invalid location name"),
            ("{location: 'zone.tab'}", "malformed time zone information"),
        ];
        for (yaml, message) in cases {
            assert_eq!(error(yaml), message, "{yaml}");
        }
    }

    #[test]
    fn accepted_like_alertmanager() {
        for yaml in [
            "{months: ['January:december']}",
            "{months: ['13']}",
            "{months: ['0:3']}",
            "{months: ['-1']}",
            "{weekdays: ['Monday:FRIDAY']}",
            "{days_of_month: ['+3']}",
            "{years: ['-5']}",
            "{location: 'Local'}",
            "{location: 'EST5EDT'}",
            "{location: 'Etc/GMT+5'}",
            "{location: 'UTC'}",
        ] {
            assert!(interval(yaml).is_ok(), "{yaml}: {:?}", interval(yaml).err());
        }
    }

    #[test]
    fn named_intervals_from_a_config() {
        let cfg = crate::route::load_str(
            r#"
route: {receiver: r}
receivers: [{name: r}]
mute_time_intervals:
- name: weekends
  time_intervals: [{weekdays: ['saturday', 'sunday']}]
time_intervals:
- name: office
  time_intervals:
  - {weekdays: ['monday:friday'], times: [{start_time: '09:00', end_time: '17:00'}], location: 'Europe/Paris'}
  - {days_of_month: ['1']}
"#,
            "am.yml",
        )
        .unwrap();
        let ti = TimeIntervals::new(&cfg).unwrap();
        assert!(ti.contains("weekends", at("09 Jan 21 10:00 +0000")));
        assert!(!ti.contains("weekends", at("11 Jan 21 10:00 +0000")));
        assert!(ti.contains("office", at("11 Jan 21 08:30 +0000")), "09:30 in Paris");
        assert!(!ti.contains("office", at("11 Jan 21 16:30 +0000")), "17:30 in Paris");
        assert!(ti.contains("office", at("01 Feb 21 23:00 +0000")), "any time on the 1st");
        assert!(!ti.contains("nope", at("01 Feb 21 23:00 +0000")));
        assert!(ti.is_defined("office") && !ti.is_defined("nope"));
    }

    #[test]
    fn config_validation_reports_interval_errors() {
        let err = crate::route::load_str(
            "route: {receiver: r}\nreceivers: [{name: r}]\ntime_intervals:\n- name: x\n  time_intervals: [{location: 'Mars/Olympus'}]\n",
            "am.yml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown time zone Mars/Olympus"), "{err}");
    }
}
