//! Sinks: where the agent's data goes. Sources hand every batch to a [`MetricsFanout`], which
//! hands it to each configured sink; each sink applies its own relabeling, batching, buffering
//! and drop policy, so a slow sink never stalls a source or another sink.
//!
//! - [`remote_write`]: Prometheus remote_write 1.0 with a disk buffer.

pub mod loki;

use harrier_telemetry::model::{PackedSamples, Series};
use std::sync::{Arc, Mutex, RwLock};

/// The remote_write sink lives in `harrier_telemetry` (the router sends recording-rule results
/// with it too); re-exported so `crate::sinks::remote_write::...` paths keep working.
pub use harrier_telemetry::remote_write_sink as remote_write;

/// A destination for metric series. `send` must not block on the network: a sink buffers
/// (memory, then disk) and drops the oldest under its byte bound, counting what it drops.
pub trait MetricsSink: Send + Sync + 'static {
    fn send(&self, series: &[Series]);

    /// [`MetricsSink::send`] with ownership: a sink that keeps the series takes them without
    /// copying their samples.
    fn send_owned(&self, series: Vec<Series>) {
        self.send(&series);
    }

    /// Single-sample series packed together (what a scrape produces). A sink that encodes
    /// label sets as remote_write does takes them as they are; the default converts them.
    fn send_packed(&self, packed: PackedSamples) {
        self.send_owned(packed.to_series());
    }
}

impl MetricsSink for remote_write::RemoteWriteSink {
    fn send(&self, series: &[Series]) {
        remote_write::RemoteWriteSink::send(self, series);
    }

    fn send_owned(&self, series: Vec<Series>) {
        remote_write::RemoteWriteSink::send_owned(self, series);
    }

    fn send_packed(&self, packed: PackedSamples) {
        remote_write::RemoteWriteSink::send_packed(self, packed);
    }
}

/// Every configured metrics sink; cheap to clone into each source. A config reload swaps the
/// set in place, so sources keep their handle across reloads.
#[derive(Clone, Default)]
pub struct MetricsFanout {
    sinks: Arc<RwLock<SinkSet>>,
}

/// One immutable set of sinks; a reload swaps the whole set.
type SinkSet = Arc<[Arc<dyn MetricsSink>]>;

impl MetricsFanout {
    pub fn new(sinks: Vec<Arc<dyn MetricsSink>>) -> Self {
        let fanout = MetricsFanout::default();
        fanout.replace(sinks);
        fanout
    }

    /// Swaps in a new set of sinks (after a reload).
    pub fn replace(&self, sinks: Vec<Arc<dyn MetricsSink>>) {
        let sinks: SinkSet = sinks.into();
        match self.sinks.write() {
            Ok(mut guard) => *guard = sinks,
            Err(poisoned) => *poisoned.into_inner() = sinks,
        }
    }

    pub fn send(&self, series: &[Series]) {
        if series.is_empty() {
            return;
        }
        for sink in self.current().iter() {
            sink.send(series);
        }
    }

    /// [`MetricsFanout::send`] with ownership: the last sink gets the series themselves.
    pub fn send_owned(&self, series: Vec<Series>) {
        if series.is_empty() {
            return;
        }
        let sinks = self.current();
        if let Some((last, others)) = sinks.split_last() {
            for sink in others {
                sink.send(&series);
            }
            last.send_owned(series);
        }
    }

    /// [`MetricsFanout::send_owned`] for packed series: the other sinks get copies.
    pub fn send_packed(&self, packed: PackedSamples) {
        if packed.is_empty() {
            return;
        }
        let sinks = self.current();
        if let Some((last, others)) = sinks.split_last() {
            for sink in others {
                sink.send_packed(packed.clone());
            }
            last.send_packed(packed);
        }
    }

    fn current(&self) -> SinkSet {
        match self.sinks.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

/// Stands in for a sink while it is replaced by a successor that needs the old one's
/// resources first (a remote_write queue's disk buffer is locked by its owner): it holds what
/// sources send meanwhile, bounded in bytes, then hands it to the successor in order and
/// forwards to it from then on. A reload that restarts a queue so loses nothing.
pub struct HandOver {
    state: Mutex<HandOverState>,
    max_bytes: usize,
}

enum HandOverState {
    Holding { series: Vec<Series>, bytes: usize, dropped: usize },
    Forwarding(Arc<dyn MetricsSink>),
    Closed,
}

impl HandOver {
    pub fn new(max_bytes: usize) -> Self {
        HandOver {
            state: Mutex::new(HandOverState::Holding { series: Vec::new(), bytes: 0, dropped: 0 }),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HandOverState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands what was held to `successor` and forwards to it from now on; with `None` (the
    /// successor failed to start) the held series are dropped and logged.
    pub fn complete(&self, successor: Option<Arc<dyn MetricsSink>>) {
        let mut state = self.lock();
        let held = std::mem::replace(&mut *state, HandOverState::Closed);
        let HandOverState::Holding { series, dropped, .. } = held else { return };
        if dropped > 0 {
            tracing::warn!(
                series = dropped,
                "dropped the oldest series held during a sink restart (bound reached)"
            );
        }
        match successor {
            Some(sink) => {
                sink.send(&series);
                *state = HandOverState::Forwarding(sink);
            }
            None => {
                if !series.is_empty() {
                    tracing::error!(
                        series = series.len(),
                        "a restarted sink failed to start; dropping what was held for it"
                    );
                }
            }
        }
    }
}

impl MetricsSink for HandOver {
    fn send_packed(&self, packed: PackedSamples) {
        let mut state = self.lock();
        if let HandOverState::Forwarding(sink) = &mut *state {
            sink.send_packed(packed);
        } else {
            drop(state);
            self.send(&packed.to_series());
        }
    }

    fn send_owned(&self, series: Vec<Series>) {
        let mut state = self.lock();
        if let HandOverState::Forwarding(sink) = &mut *state {
            sink.send_owned(series);
        } else {
            drop(state);
            self.send(&series);
        }
    }

    fn send(&self, series: &[Series]) {
        let mut state = self.lock();
        match &mut *state {
            HandOverState::Holding { series: held, bytes, dropped } => {
                for one in series {
                    *bytes += one.labels.byte_size()
                        + one.samples.len() * std::mem::size_of::<harrier_telemetry::model::Sample>();
                    held.push(one.clone());
                }
                // Drop the oldest past the bound (a restart takes milliseconds; this is a guard).
                let mut excess = 0;
                while *bytes > self.max_bytes && excess < held.len() {
                    let s = &held[excess];
                    *bytes -= s.labels.byte_size()
                        + s.samples.len() * std::mem::size_of::<harrier_telemetry::model::Sample>();
                    excess += 1;
                }
                if excess > 0 {
                    held.drain(..excess);
                    *dropped += excess;
                }
            }
            // Under the lock, so nothing overtakes what `complete` handed over.
            HandOverState::Forwarding(sink) => sink.send(series),
            HandOverState::Closed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harrier_telemetry::model::{Labels, Sample};

    #[derive(Default)]
    struct Recorder(Mutex<Vec<f64>>);

    impl MetricsSink for Recorder {
        fn send(&self, series: &[Series]) {
            let mut seen = self.0.lock().unwrap();
            seen.extend(series.iter().map(|s| s.samples[0].value));
        }
    }

    fn one(v: f64) -> Vec<Series> {
        vec![Series::new(
            Labels::from_pairs([("__name__", "m")]),
            vec![Sample { timestamp_ms: v as i64, value: v }],
        )]
    }

    #[test]
    fn hand_over_holds_then_forwards_in_order() {
        let hand_over = HandOver::new(1 << 20);
        hand_over.send(&one(1.0));
        hand_over.send(&one(2.0));
        let recorder = Arc::new(Recorder::default());
        hand_over.complete(Some(recorder.clone()));
        hand_over.send(&one(3.0));
        assert_eq!(*recorder.0.lock().unwrap(), vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn hand_over_is_bounded_and_drops_the_oldest() {
        let size = one(0.0)[0].labels.byte_size() + std::mem::size_of::<Sample>();
        let hand_over = HandOver::new(2 * size);
        for v in 1..=5 {
            hand_over.send(&one(f64::from(v)));
        }
        let recorder = Arc::new(Recorder::default());
        hand_over.complete(Some(recorder.clone()));
        assert_eq!(*recorder.0.lock().unwrap(), vec![4.0, 5.0]);
    }
}
