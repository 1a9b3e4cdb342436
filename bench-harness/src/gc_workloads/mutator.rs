//! The bookkeeping shared by collector workloads: drop tracking by id,
//! timed collections, and mutator pauses measured per batch of operations.

use super::GcHeap;
use crate::metrics::Probe;
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

thread_local! {
    /// `DROPPED[id]` is set when node `id` is dropped. Workloads run on one
    /// thread (the collectors measured are single-threaded).
    static DROPPED: RefCell<Vec<bool>> = const { RefCell::new(Vec::new()) };
    /// How many entries of `DROPPED` are set.
    static DROP_COUNT: Cell<u64> = const { Cell::new(0) };
}

/// Carried by every node; marks its id dropped when the node is.
pub struct DropToken(pub u64);

impl Drop for DropToken {
    fn drop(&mut self) {
        DROPPED.with_borrow_mut(|d| {
            let id = self.0 as usize;
            assert!(!d[id], "node {id} dropped twice");
            d[id] = true;
        });
        DROP_COUNT.set(DROP_COUNT.get() + 1);
    }
}

/// Operations per mutator pause sample: a batch long enough that the two
/// clock reads do not weigh on the run, short enough that a collection
/// hidden inside an allocation stands out.
const BATCH: u64 = 64;

pub struct Mutator {
    created: u64,
    dropped_seen: u64,
    node_bytes: usize,
    ops_in_batch: u64,
    batch_start: Instant,
    run_start: Instant,
    collections: u64,
    collect_time: Duration,
    pauses: Vec<(f64, f64)>,
}

impl Mutator {
    pub fn new(node_bytes: usize) -> Mutator {
        DROPPED.with_borrow_mut(|d| d.clear());
        DROP_COUNT.set(0);
        let now = Instant::now();
        Mutator {
            created: 0,
            dropped_seen: 0,
            node_bytes,
            ops_in_batch: 0,
            batch_start: now,
            run_start: now,
            collections: 0,
            collect_time: Duration::ZERO,
            pauses: Vec::new(),
        }
    }

    /// Allocates a node and counts it as live.
    pub fn node<H: GcHeap>(&mut self, probe: &mut Probe) -> H::Handle {
        let id = self.created;
        self.created += 1;
        DROPPED.with_borrow_mut(|d| d.push(false));
        let node = H::new_node(id);
        probe.on_alloc(H::address(&node), self.node_bytes);
        node
    }

    /// Counts one mutator operation; every [`BATCH`] operations the batch's
    /// time goes to the pause histogram.
    pub fn op(&mut self, probe: &mut Probe) {
        probe.add_ops(1);
        self.ops_in_batch += 1;
        if self.ops_in_batch == BATCH {
            probe.record_pause(self.batch_start.elapsed());
            self.sync_drops(probe);
            self.ops_in_batch = 0;
            self.batch_start = Instant::now();
        }
    }

    /// A timed full collection.
    pub fn collect<H: GcHeap>(&mut self, probe: &mut Probe) {
        let start = Instant::now();
        H::collect();
        let length = start.elapsed();
        self.collections += 1;
        self.collect_time += length;
        let from_start = start.duration_since(self.run_start).as_secs_f64();
        self.pauses.push((from_start, length.as_secs_f64()));
        probe.record_pause(length);
        self.sync_drops(probe);
        self.batch_start = Instant::now();
    }

    /// Tells the probe about drops since the last call.
    pub fn sync_drops(&mut self, probe: &mut Probe) {
        let dropped = self.dropped();
        for _ in self.dropped_seen..dropped {
            probe.on_free(self.node_bytes);
        }
        self.dropped_seen = dropped;
    }

    pub fn created(&self) -> u64 {
        self.created
    }

    pub fn dropped(&self) -> u64 {
        DROP_COUNT.get()
    }

    pub fn is_dropped(&self, id: u64) -> bool {
        DROPPED.with_borrow(|d| d[id as usize])
    }

    /// Fails unless exactly `expected` nodes have been dropped so far.
    pub fn expect_dropped(&self, expected: u64, when: &str) -> Result<(), String> {
        let dropped = self.dropped();
        match dropped.cmp(&expected) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Less => Err(format!(
                "{when}: {} garbage nodes not reclaimed",
                expected - dropped
            )),
            std::cmp::Ordering::Greater => Err(format!(
                "{when}: {} reachable nodes reclaimed",
                dropped - expected
            )),
        }
    }

    /// Walks everything reachable from `roots` and fails if any of it was
    /// dropped. Returns how many nodes it reached.
    pub fn check_reachable<H: GcHeap>(&self, roots: &[H::Handle]) -> Result<u64, String> {
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<H::Handle> = roots.to_vec();
        while let Some(node) = stack.pop() {
            let id = H::id(&node);
            if !seen.insert(id) {
                continue;
            }
            if self.is_dropped(id) {
                return Err(format!("reachable node {id} was reclaimed"));
            }
            stack.extend((0..).map_while(|i| H::edge(&node, i)));
        }
        Ok(seen.len() as u64)
    }

    /// Drops the last roots' worth of nodes: collects, then requires every
    /// node ever created to have been reclaimed.
    pub fn finish<H: GcHeap>(&mut self, probe: &mut Probe) -> Result<(), String> {
        self.collect::<H>(probe);
        self.expect_dropped(self.created, "at the end")?;
        self.sync_drops(probe);
        Ok(())
    }

    pub fn into_run(self) -> super::GcRun {
        super::GcRun {
            collections: self.collections,
            collect_time: self.collect_time,
            objects_reclaimed: self.dropped_seen,
            node_bytes: self.node_bytes,
            pauses: self.pauses,
        }
    }
}
