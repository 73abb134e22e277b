//! Wall-clock time that follows tokio's clock, so timer tests run in virtual time
//! (`#[tokio::test(start_paused = true)]`) while alert timestamps stay unix milliseconds.

use tokio::time::Instant;

/// Maps tokio's monotonic [`Instant`] to unix milliseconds from a fixed origin.
///
/// [`Clock::system`] takes the origin from the system clock once, so a running router's
/// timestamps do not jump when the wall clock is stepped (they drift from it by the clock's
/// adjustments since start, as a monotonic clock does).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    origin_unix_ms: i64,
}

impl Clock {
    /// A clock reading the system time now.
    pub fn system() -> Clock {
        Clock::starting_at(harrier_telemetry::model::now_ms())
    }

    /// A clock that reads `unix_ms` now (tests).
    pub fn starting_at(unix_ms: i64) -> Clock {
        Clock { origin: Instant::now(), origin_unix_ms: unix_ms }
    }

    pub fn now_ms(&self) -> i64 {
        self.origin_unix_ms + Instant::now().saturating_duration_since(self.origin).as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_virtual_time() {
        let c = Clock::starting_at(1_000_000);
        tokio::time::sleep(std::time::Duration::from_secs(90)).await;
        assert_eq!(c.now_ms(), 1_090_000);
    }
}
