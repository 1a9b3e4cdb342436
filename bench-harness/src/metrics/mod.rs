//! The four families of figures, one module each, and the [`Probe`] that
//! workloads report their events to.
//!
//! A probe is per thread and touches no shared memory on its fast path: live
//! bytes are kept as a local delta and folded into the shared [`LiveTotals`]
//! every [`FLUSH_EVERY`] events, so that the bookkeeping does not become the
//! thing measured.

pub mod heap;
pub mod locality;
pub mod pause;
pub mod throughput;

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Events between two folds of a probe's live-byte delta into the totals:
/// rare enough to cost nothing, frequent enough that a peak inside one batch
/// is still seen (the batch's own maximum is folded in too).
pub const FLUSH_EVERY: u32 = 1024;

/// One operation in this many is timed on its own for the latency histogram.
/// A power of two keeps the check a mask; 1/64 keeps the two clock reads per
/// sample (about 40 ns) under 1% of a run.
pub const SAMPLE_EVERY: u64 = 64;

/// Allocation addresses kept per probe for the locality figures.
pub const ADDRESS_SAMPLES: usize = 8192;

/// Live bytes and objects summed over all threads of a run, with their peaks.
#[derive(Debug, Default)]
pub struct LiveTotals {
    bytes: AtomicI64,
    objects: AtomicI64,
    peak_bytes: AtomicI64,
    peak_objects: AtomicI64,
}

impl LiveTotals {
    pub fn peak_bytes(&self) -> u64 {
        // Relaxed: read after the worker threads were joined, which orders it.
        self.peak_bytes.load(Ordering::Relaxed).max(0) as u64
    }

    /// Bytes live now (after every probe flushed).
    pub fn live_bytes(&self) -> i64 {
        // Relaxed: read after the worker threads were joined.
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn peak_objects(&self) -> u64 {
        // Relaxed: as above, read after join.
        self.peak_objects.load(Ordering::Relaxed).max(0) as u64
    }

    fn fold(&self, bytes: i64, max_bytes: i64, objects: i64, max_objects: i64) {
        // Relaxed: the counters are statistics with no data published through
        // them; each update is atomic on its own, which is all a sum needs.
        let before = self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.peak_bytes
            .fetch_max(before + max_bytes, Ordering::Relaxed);
        let before = self.objects.fetch_add(objects, Ordering::Relaxed);
        self.peak_objects
            .fetch_max(before + max_objects, Ordering::Relaxed);
    }
}

/// Started by [`Probe::begin_op`]; holds the clock reading when sampled.
pub struct OpTimer(Option<Instant>);

/// Per-thread recorder of a workload's events.
pub struct Probe {
    totals: Arc<LiveTotals>,
    delta_bytes: i64,
    max_delta_bytes: i64,
    delta_objects: i64,
    max_delta_objects: i64,
    events: u32,
    ops: u64,
    sample_mask: u64,
    latency: Histogram<u64>,
    addresses: Vec<usize>,
}

impl Probe {
    pub fn new(totals: Arc<LiveTotals>) -> Probe {
        Probe {
            totals,
            delta_bytes: 0,
            max_delta_bytes: 0,
            delta_objects: 0,
            max_delta_objects: 0,
            events: 0,
            ops: 0,
            sample_mask: SAMPLE_EVERY - 1,
            latency: pause::new_histogram(),
            addresses: Vec::with_capacity(ADDRESS_SAMPLES),
        }
    }

    /// A probe for another thread of the same run.
    pub fn sibling(&self) -> Probe {
        Probe::new(Arc::clone(&self.totals))
    }

    /// Counts one operation, and times one in [`SAMPLE_EVERY`].
    #[inline]
    pub fn begin_op(&mut self) -> OpTimer {
        self.ops += 1;
        if self.ops & self.sample_mask == 0 {
            OpTimer(Some(Instant::now()))
        } else {
            OpTimer(None)
        }
    }

    #[inline]
    pub fn end_op(&mut self, timer: OpTimer) {
        if let Some(start) = timer.0 {
            self.record_latency(start);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_latency(&mut self, start: Instant) {
        pause::record(&mut self.latency, start.elapsed());
    }

    /// Times every operation, for workloads with few, long ones.
    pub fn time_every_op(&mut self) {
        self.sample_mask = 0;
    }

    /// Records a pause measured elsewhere (a collection).
    pub fn record_pause(&mut self, duration: std::time::Duration) {
        pause::record(&mut self.latency, duration);
    }

    /// Adds operations counted in bulk.
    pub fn add_ops(&mut self, ops: u64) {
        self.ops += ops;
    }

    #[inline]
    pub fn on_alloc(&mut self, address: *const u8, size: usize) {
        if self.addresses.len() < ADDRESS_SAMPLES {
            self.addresses.push(address as usize);
        }
        self.delta_bytes += size as i64;
        self.delta_objects += 1;
        self.max_delta_bytes = self.max_delta_bytes.max(self.delta_bytes);
        self.max_delta_objects = self.max_delta_objects.max(self.delta_objects);
        self.tick();
    }

    #[inline]
    pub fn on_free(&mut self, size: usize) {
        self.delta_bytes -= size as i64;
        self.delta_objects -= 1;
        self.tick();
    }

    #[inline]
    fn tick(&mut self) {
        self.events += 1;
        if self.events == FLUSH_EVERY {
            self.flush();
        }
    }

    /// Folds the local delta into the shared totals.
    pub fn flush(&mut self) {
        self.totals.fold(
            self.delta_bytes,
            self.max_delta_bytes,
            self.delta_objects,
            self.max_delta_objects,
        );
        self.delta_bytes = 0;
        self.max_delta_bytes = 0;
        self.delta_objects = 0;
        self.max_delta_objects = 0;
        self.events = 0;
    }

    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Merges another thread's probe into this one (after it finished).
    pub fn absorb(&mut self, mut other: Probe) {
        other.flush();
        self.ops += other.ops;
        // The histograms share bounds, so adding cannot fail; a failure would
        // only drop samples.
        let _ = self.latency.add(&other.latency);
        if self.addresses.is_empty() {
            self.addresses = std::mem::take(&mut other.addresses);
        }
    }

    pub fn latency(&self) -> &Histogram<u64> {
        &self.latency
    }

    pub fn addresses(&self) -> &[usize] {
        &self.addresses
    }

    pub fn totals(&self) -> &LiveTotals {
        &self.totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_live_bytes_sees_a_peak_inside_one_batch() {
        let totals = Arc::new(LiveTotals::default());
        let mut probe = Probe::new(Arc::clone(&totals));
        let x = 0u8;
        probe.on_alloc(&x, 100);
        probe.on_alloc(&x, 50);
        probe.on_free(100);
        probe.flush();
        assert_eq!(totals.peak_bytes(), 150);
        assert_eq!(totals.peak_objects(), 2);
    }

    #[test]
    fn threads_add_up_in_the_totals() {
        let totals = Arc::new(LiveTotals::default());
        let mut a = Probe::new(Arc::clone(&totals));
        let mut b = a.sibling();
        let x = 0u8;
        a.on_alloc(&x, 10);
        b.on_alloc(&x, 20);
        a.flush();
        b.flush();
        assert_eq!(totals.peak_bytes(), 30);
    }

    #[test]
    fn one_op_in_sample_every_is_timed() {
        let mut probe = Probe::new(Arc::default());
        for _ in 0..SAMPLE_EVERY * 3 {
            let t = probe.begin_op();
            probe.end_op(t);
        }
        assert_eq!(probe.latency().len(), 3);
        assert_eq!(probe.ops(), SAMPLE_EVERY * 3);
    }
}
