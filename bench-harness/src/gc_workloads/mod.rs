//! Collector workloads, written once against [`GcHeap`] (the few operations
//! every collector offers) and run for every collector in `collectors/`.
//!
//! Every node carries a [`DropToken`] that marks its id dropped, so each
//! workload checks that every object was reclaimed once it became garbage,
//! and that no reachable object was.

mod acyclic_churn;
mod big_live_heap;
mod cycles;
mod doubly_linked_list;
mod graph;
mod mutator;

pub use mutator::{DropToken, Mutator};

use crate::metrics::Probe;
use crate::record::CollectorFigures;
use crate::workloads::Params;
use std::time::Duration;

/// What a collector adapter offers the workloads. A handle is a strong
/// reference (`Rc`, `Gc`, `Cc`); a node holds edges to other nodes.
pub trait GcHeap: 'static {
    type Handle: Clone;
    /// Allocates a node with no edges; its [`DropToken`] is `id`.
    fn new_node(id: u64) -> Self::Handle;
    fn add_edge(from: &Self::Handle, to: &Self::Handle);
    fn clear_edges(node: &Self::Handle);
    /// The node's `i`-th edge, if any.
    fn edge(node: &Self::Handle, i: usize) -> Option<Self::Handle>;
    fn id(node: &Self::Handle) -> u64;
    fn address(node: &Self::Handle) -> *const u8;
    /// A full collection (a no-op for plain reference counting).
    fn collect();
    /// Bytes of a node's payload, without the collector's header.
    fn node_bytes() -> usize;
}

/// A collector workload.
pub struct GcWorkload {
    pub name: &'static str,
    pub about: &'static str,
    /// Whether plain reference counting (`rc`) can reclaim everything.
    pub acyclic: bool,
}

pub const GC_WORKLOADS: &[GcWorkload] = &[
    GcWorkload {
        name: "acyclic-churn",
        about: "window of 10,000 nodes pointing at older ones; replace one per op",
        acyclic: true,
    },
    GcWorkload {
        name: "cycles",
        about: "rounds of 10,000 rings of 2-8 nodes dropped, then collect",
        acyclic: false,
    },
    GcWorkload {
        name: "big-live-heap",
        about: "1M live nodes with parent links while garbage rings churn",
        acyclic: false,
    },
    GcWorkload {
        name: "doubly-linked-list",
        about: "lists with next and prev links built, edited and dropped",
        acyclic: false,
    },
    GcWorkload {
        name: "graph",
        about: "random graph of 3 edges per node; roots replaced at random",
        acyclic: false,
    },
];

pub fn find(name: &str) -> Option<&'static GcWorkload> {
    GC_WORKLOADS.iter().find(|w| w.name == name)
}

/// Runs `workload` on collector `H`: the function every adapter exposes.
pub fn dispatch<H: GcHeap>(
    workload: &GcWorkload,
    params: &Params,
    probe: &mut Probe,
) -> Result<GcRun, String> {
    let mut mutator = Mutator::new(H::node_bytes());
    match workload.name {
        "acyclic-churn" => acyclic_churn::run::<H>(params, probe, &mut mutator),
        "cycles" => cycles::run::<H>(params, probe, &mut mutator),
        "big-live-heap" => big_live_heap::run::<H>(params, probe, &mut mutator),
        "doubly-linked-list" => doubly_linked_list::run::<H>(params, probe, &mut mutator),
        "graph" => graph::run::<H>(params, probe, &mut mutator),
        other => return Err(format!("unknown collector workload {other}")),
    }?;
    Ok(mutator.into_run())
}

/// Figures a collector run gathered, before the run's length is known.
pub struct GcRun {
    pub collections: u64,
    pub collect_time: Duration,
    pub objects_reclaimed: u64,
    pub node_bytes: usize,
    /// (start, length) of each collection in seconds from the run's start.
    pub pauses: Vec<(f64, f64)>,
}

impl GcRun {
    pub fn finish(self, elapsed: Duration) -> CollectorFigures {
        let secs = self.collect_time.as_secs_f64();
        let per_sec = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        CollectorFigures {
            collections: self.collections,
            collect_seconds: secs,
            objects_reclaimed: self.objects_reclaimed,
            objects_per_collect_sec: per_sec(self.objects_reclaimed as f64),
            bytes_per_collect_sec: per_sec(
                (self.objects_reclaimed * self.node_bytes as u64) as f64,
            ),
            mmu: crate::metrics::pause::mmu(&self.pauses, elapsed.as_secs_f64()),
        }
    }
}
