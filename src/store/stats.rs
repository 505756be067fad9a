//! What the store's single writer and its group flushes do, counted since the store was opened:
//! how many requests for durability share a flush, how long the writer turn is held and waited
//! for. `/metrics` shows them, and the API bench reads them to see how busy the writer is.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The counters, updated by [`super::Store`] as it works (relaxed atomics: each is a sum on its
/// own, read one by one for monitoring — a snapshot may be a write or two apart between
/// counters — and never to decide anything). The writer mutex is process-wide, so a wait may
/// also be for another store of the same process (tests open several).
#[derive(Default)]
pub(super) struct WriterStats {
    flushes: AtomicU64,
    flush_requests: AtomicU64,
    flush_wait_nanos: AtomicU64,
    flush_write_out_nanos: AtomicU64,
    fsync_nanos: AtomicU64,
    turns: AtomicU64,
    turn_held_nanos: AtomicU64,
    turn_wait_nanos: AtomicU64,
}

fn nanos(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

impl WriterStats {
    /// A flush ran: it waited `waited` for the writer mutex, sled's write-out under it took
    /// `write_out`, the fsyncs after it `fsync`.
    pub(super) fn flushed(&self, waited: Duration, write_out: Duration, fsync: Duration) {
        self.flushes.fetch_add(1, Relaxed);
        self.flush_wait_nanos.fetch_add(nanos(waited), Relaxed);
        self.flush_write_out_nanos
            .fetch_add(nanos(write_out), Relaxed);
        self.fsync_nanos.fetch_add(nanos(fsync), Relaxed);
    }

    /// A caller asked for the writes so far to be made durable (it waits for a flush, maybe
    /// shared): one per acknowledged API write, two for an idempotent one (its stored answer
    /// too), and the background workers' own.
    pub(super) fn flush_requested(&self) {
        self.flush_requests.fetch_add(1, Relaxed);
    }

    /// A writer turn was waited for for `waited`.
    pub(super) fn turn_taken(&self, waited: Duration) {
        self.turns.fetch_add(1, Relaxed);
        self.turn_wait_nanos.fetch_add(nanos(waited), Relaxed);
    }

    /// A writer turn ended after being held for `held`.
    pub(super) fn turn_ended(&self, held: Duration) {
        self.turn_held_nanos.fetch_add(nanos(held), Relaxed);
    }

    pub(super) fn snapshot(&self) -> WriterSnapshot {
        let duration = |counter: &AtomicU64| Duration::from_nanos(counter.load(Relaxed));
        WriterSnapshot {
            flushes: self.flushes.load(Relaxed),
            flush_requests: self.flush_requests.load(Relaxed),
            flush_wait: duration(&self.flush_wait_nanos),
            flush_write_out: duration(&self.flush_write_out_nanos),
            fsync: duration(&self.fsync_nanos),
            turns: self.turns.load(Relaxed),
            turn_held: duration(&self.turn_held_nanos),
            turn_wait: duration(&self.turn_wait_nanos),
        }
    }
}

/// The counters at one moment ([`super::Store::writer_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterSnapshot {
    /// Flushes run (sled's write-out, then the fsyncs).
    pub flushes: u64,
    /// Requests for durability (one per acknowledged API write, two for an idempotent one, plus
    /// the background workers'); several share one flush under load (group commit).
    pub flush_requests: u64,
    /// Time flushes waited for the writer mutex (writer turns, backups included, hold it
    /// meanwhile).
    pub flush_wait: Duration,
    /// Time sled's write-out held the writer mutex, summed over flushes.
    pub flush_write_out: Duration,
    /// Time the fsyncs took (outside the writer mutex), summed over flushes.
    pub fsync: Duration,
    /// Writer turns taken (transactions and the checks that go with them, and backups).
    pub turns: u64,
    /// Time writer turns held the writer mutex, summed.
    pub turn_held: Duration,
    /// Time writers waited for their turn, summed over writers (above the elapsed time when
    /// several wait at once).
    pub turn_wait: Duration,
}

impl WriterSnapshot {
    /// The counters in Prometheus' text format.
    pub fn prometheus_text(&self) -> String {
        let mut text = String::new();
        let mut counter = |name: &str, help: &str, value: String| {
            text.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            ));
        };
        counter(
            "signbridge_store_flushes_total",
            "Flushes of the store (sled's write-out, then fsync).",
            self.flushes.to_string(),
        );
        counter(
            "signbridge_store_flush_requests_total",
            "Requests to make writes durable (one per acknowledged API write, two for an idempotent one, plus background work's); concurrent ones share a flush.",
            self.flush_requests.to_string(),
        );
        counter(
            "signbridge_store_flush_wait_seconds_total",
            "Time flushes waited for the writer mutex before sled's write-out.",
            seconds(self.flush_wait),
        );
        counter(
            "signbridge_store_flush_write_out_seconds_total",
            "Time sled's log write-out held the writer mutex.",
            seconds(self.flush_write_out),
        );
        counter(
            "signbridge_store_fsync_seconds_total",
            "Time the flushes' fsyncs took (outside the writer mutex).",
            seconds(self.fsync),
        );
        counter(
            "signbridge_store_writer_turns_total",
            "Writer turns taken: one writer at a time checks and commits.",
            self.turns.to_string(),
        );
        counter(
            "signbridge_store_writer_held_seconds_total",
            "Time writer turns held the writer mutex.",
            seconds(self.turn_held),
        );
        counter(
            "signbridge_store_writer_wait_seconds_total",
            "Time writers waited for their turn, summed over writers.",
            seconds(self.turn_wait),
        );
        text
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.6}", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_and_render() {
        let stats = WriterStats::default();
        stats.flush_requested();
        stats.flush_requested();
        stats.flushed(
            Duration::from_micros(50),
            Duration::from_micros(500),
            Duration::from_micros(400),
        );
        stats.turn_taken(Duration::from_micros(30));
        stats.turn_ended(Duration::from_micros(200));
        stats.turn_taken(Duration::ZERO);
        stats.turn_ended(Duration::from_micros(100));
        let snapshot = stats.snapshot();
        assert_eq!(
            snapshot,
            WriterSnapshot {
                flushes: 1,
                flush_requests: 2,
                flush_wait: Duration::from_micros(50),
                flush_write_out: Duration::from_micros(500),
                fsync: Duration::from_micros(400),
                turns: 2,
                turn_held: Duration::from_micros(300),
                turn_wait: Duration::from_micros(30),
            }
        );
        let text = snapshot.prometheus_text();
        assert!(
            text.contains("\nsignbridge_store_flush_requests_total 2\n"),
            "{text}"
        );
        assert!(
            text.contains("\nsignbridge_store_writer_held_seconds_total 0.000300\n"),
            "{text}"
        );
        assert_eq!(text.matches("# TYPE ").count(), 8, "{text}");
    }
}
