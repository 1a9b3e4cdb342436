//! `acyclic-churn`: a window of 10,000 nodes; each operation makes a node
//! that points at up to two older nodes of the window and puts it in a
//! random slot. Edges only point from new to old, so nothing is cyclic and
//! plain reference counting reclaims everything.

use super::{GcHeap, Mutator};
use crate::metrics::Probe;
use crate::workloads::Params;
use rand::Rng;

const WINDOW: usize = 10_000;
const OPS: u64 = 500_000;
/// Operations between explicit collections, for collectors that need them.
const COLLECT_EVERY: u64 = 50_000;

pub fn run<H: GcHeap>(params: &Params, probe: &mut Probe, m: &mut Mutator) -> Result<(), String> {
    let mut rng = params.rng(30);
    let mut window: Vec<H::Handle> = (0..WINDOW).map(|_| m.node::<H>(probe)).collect();
    for op in 1..=params.count(OPS) {
        let node = m.node::<H>(probe);
        for _ in 0..rng.gen_range(0..=2) {
            H::add_edge(&node, &window[rng.gen_range(0..WINDOW)]);
        }
        window[rng.gen_range(0..WINDOW)] = node;
        m.op(probe);
        if op % COLLECT_EVERY == 0 {
            m.collect::<H>(probe);
        }
    }
    let reached = m.check_reachable::<H>(&window)?;
    if reached < WINDOW as u64 {
        return Err(format!("only {reached} of {WINDOW} window nodes reachable"));
    }
    drop(window);
    m.finish::<H>(probe)
}
