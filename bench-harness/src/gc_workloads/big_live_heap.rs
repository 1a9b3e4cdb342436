//! `big-live-heap`: a tree of 1M live nodes, every child linked back to its
//! parent (so the live heap is one big cycle), while rings of garbage churn
//! and are collected: each collection's pause shows what a large live heap
//! costs the collector.

use super::{GcHeap, Mutator};
use crate::metrics::Probe;
use crate::workloads::Params;

const LIVE: u64 = 1_000_000;
/// Children per tree node.
const FANOUT: usize = 8;
/// Garbage rings of 4 nodes made at scale 1, collected every 25,000.
const GARBAGE_RINGS: u64 = 100_000;
const COLLECT_EVERY: u64 = 25_000;

pub fn run<H: GcHeap>(params: &Params, probe: &mut Probe, m: &mut Mutator) -> Result<(), String> {
    let root = m.node::<H>(probe);
    let mut frontier = vec![root.clone()];
    let mut next_frontier = Vec::new();
    let mut live = 1;
    let target = params.count(LIVE);
    'build: while live < target {
        for parent in frontier.drain(..) {
            for _ in 0..FANOUT {
                if live == target {
                    break 'build;
                }
                let child = m.node::<H>(probe);
                H::add_edge(&parent, &child);
                H::add_edge(&child, &parent);
                next_frontier.push(child);
                live += 1;
                m.op(probe);
            }
        }
        std::mem::swap(&mut frontier, &mut next_frontier);
    }
    drop((frontier, next_frontier));
    let mut garbage = 0;
    for ring in 1..=params.count(GARBAGE_RINGS) {
        let first = m.node::<H>(probe);
        let mut last = first.clone();
        for _ in 0..3 {
            let next = m.node::<H>(probe);
            H::add_edge(&last, &next);
            last = next;
        }
        H::add_edge(&last, &first);
        drop((first, last));
        garbage += 4;
        m.op(probe);
        if ring % COLLECT_EVERY == 0 {
            m.collect::<H>(probe);
            m.expect_dropped(garbage, "during churn")?;
        }
    }
    m.collect::<H>(probe);
    m.expect_dropped(garbage, "after churn")?;
    let reached = m.check_reachable::<H>(std::slice::from_ref(&root))?;
    if reached != target {
        return Err(format!("{reached} of {target} live nodes reachable"));
    }
    drop(root);
    m.finish::<H>(probe)
}
