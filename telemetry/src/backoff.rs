//! Retry policy shared by every sink: exponential backoff with full jitter between a minimum
//! and a maximum, reset after a success (vector#12960 is what happens when it is not), and the
//! server's `Retry-After` honoured when it asks for longer.

use std::time::{Duration, SystemTime};

/// Exponential backoff state for one sender.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// `min` is the first delay, doubled after each failure up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(Duration::from_millis(1));
        let max = max.max(min);
        Backoff { min, max, next: min }
    }

    /// The delay before the next attempt: the current step with jitter in [step/2, step],
    /// then the step doubles (capped at `max`).
    pub fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = step / 2;
        let jitter_ms = rand::random_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter_ms).min(step - half)
    }

    /// The delay before the next attempt when the server sent `Retry-After`: the larger of the
    /// server's ask (capped at `cap`) and our own backoff step.
    pub fn next_delay_with_retry_after(&mut self, retry_after: Option<Duration>, cap: Duration) -> Duration {
        let own = self.next_delay();
        match retry_after {
            Some(ra) => ra.min(cap).max(own),
            None => own,
        }
    }

    /// Back to the minimum step, after a success.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Parses an HTTP `Retry-After` value: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = parse_http_date(v)?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// IMF-fixdate only (`Sun, 06 Nov 1994 08:49:37 GMT`), the form servers must send.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let rest = s.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    // Years past 9999 are not HTTP dates, and bounding them keeps the arithmetic in range.
    if parts.next()? != "GMT"
        || day == 0
        || day > 31
        || h > 23
        || m > 59
        || sec > 60
        || !(1970..=9999).contains(&year)
    {
        return None;
    }
    let days = u64::try_from(crate::civil::days_from_civil(year, month, day as i64)).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(days * 86_400 + h * 3600 + m * 60 + sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_max_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let d1 = b.next_delay();
        assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
        let _ = b.next_delay();
        let d3 = b.next_delay();
        assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400), "{d3:?}");
        let d4 = b.next_delay();
        assert!(d4 <= Duration::from_millis(400));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777.
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("soon", now), None);
        // Absurd years are rejected, not overflowed.
        assert_eq!(parse_retry_after("Sun, 06 Nov 400000000000 08:49:37 GMT", now), None);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1900 08:49:37 GMT", now), None);
    }

    #[test]
    fn retry_after_wins_when_longer() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(20));
        let d = b.next_delay_with_retry_after(Some(Duration::from_secs(3)), Duration::from_secs(60));
        assert_eq!(d, Duration::from_secs(3));
        let d = b.next_delay_with_retry_after(Some(Duration::from_secs(3600)), Duration::from_secs(60));
        assert_eq!(d, Duration::from_secs(60));
    }
}
