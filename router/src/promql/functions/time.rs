//! The calendar functions: `year`, `month`, `day_of_month`, `day_of_year`, `day_of_week`,
//! `days_in_month`, `hour`, `minute`, all in UTC.
//!
//! Without an argument they read the step time (whole seconds, truncated as Go's integer
//! division does) and return one sample with no labels. With a vector argument each value is
//! read as Unix seconds (truncated toward zero, like Go's `int64(f)`) and the output drops the
//! metric name. The civil date comes from Howard Hinnant's `civil_from_days`, which is exact
//! for the proleptic Gregorian calendar Go uses.

use super::{Args, FnOutput, FunctionError, output_sample};

/// A UTC calendar position.
struct CivilTime {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    /// 0 = Sunday, as Go's `time.Weekday`.
    weekday: i64,
    /// 1-based.
    day_of_year: i64,
}

/// Handles the functions of this module; `None` when `name` is not one of them.
pub(super) fn call(name: &str, args: &mut Args<'_>, t: i64) -> Result<Option<FnOutput>, FunctionError> {
    let Some(field) = field_function(name) else {
        return Ok(None);
    };
    if args.len() == 0 {
        let value = field(&civil_time(t / 1000));
        return Ok(Some(FnOutput::Vector(vec![output_sample(Default::default(), t, value, false)])));
    }
    let input = args.take_vector(0)?;
    let output = input
        .into_iter()
        .map(|s| {
            let seconds = s.v as i64;
            output_sample(s.labels, t, field(&civil_time(seconds)), true)
        })
        .collect();
    Ok(Some(FnOutput::Vector(output)))
}

fn field_function(name: &str) -> Option<fn(&CivilTime) -> f64> {
    let f: fn(&CivilTime) -> f64 = match name {
        "year" => |c| c.year as f64,
        "month" => |c| c.month as f64,
        "day_of_month" => |c| c.day as f64,
        "day_of_year" => |c| c.day_of_year as f64,
        "day_of_week" => |c| c.weekday as f64,
        "days_in_month" => |c| days_in_month(c.year, c.month) as f64,
        "hour" => |c| c.hour as f64,
        "minute" => |c| c.minute as f64,
        _ => return None,
    };
    Some(f)
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

pub(crate) use harrier_telemetry::civil::civil_from_days;

/// The UTC calendar position of `seconds` since the Unix epoch.
fn civil_time(seconds: i64) -> CivilTime {
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let cumulative_days_before_month = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap_day = i64::from(month > 2 && is_leap_year(year));
    let day_of_year = cumulative_days_before_month[(month - 1) as usize] + day + leap_day;
    CivilTime {
        year,
        month,
        day,
        hour: second_of_day / 3600,
        minute: second_of_day % 3600 / 60,
        weekday: (days + 4).rem_euclid(7),
        day_of_year,
    }
}
