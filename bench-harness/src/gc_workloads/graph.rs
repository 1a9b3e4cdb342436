//! `graph`: a random graph of 50,000 nodes with 3 edges each, held by 1,000
//! roots; each operation replaces a random root by a new node pointing at 3
//! random nodes, so old parts of the graph turn into cyclic garbage.

use super::{GcHeap, Mutator};
use crate::metrics::Probe;
use crate::workloads::Params;
use rand::Rng;

const NODES: usize = 50_000;
const ROOTS: usize = 1_000;
const EDGES: usize = 3;
const OPS: u64 = 150_000;
const COLLECT_EVERY: u64 = 50_000;

pub fn run<H: GcHeap>(params: &Params, probe: &mut Probe, m: &mut Mutator) -> Result<(), String> {
    let mut rng = params.rng(33);
    let nodes = (params.count(NODES as u64) as usize).max(2 * ROOTS);
    let mut pool: Vec<H::Handle> = (0..nodes).map(|_| m.node::<H>(probe)).collect();
    for node in &pool {
        for _ in 0..EDGES {
            H::add_edge(node, &pool[rng.gen_range(0..nodes)]);
        }
    }
    let mut roots: Vec<H::Handle> = pool[..ROOTS].to_vec();
    pool.truncate(nodes / 2);
    for op in 1..=params.count(OPS) {
        let node = m.node::<H>(probe);
        for _ in 0..EDGES {
            // Point at the young pool or at what a root reaches.
            let target = if rng.gen_bool(0.5) {
                pool[rng.gen_range(0..pool.len())].clone()
            } else {
                let root = &roots[rng.gen_range(0..ROOTS)];
                H::edge(root, rng.gen_range(0..EDGES)).unwrap_or_else(|| root.clone())
            };
            H::add_edge(&node, &target);
        }
        let slot = rng.gen_range(0..pool.len());
        pool[slot] = node.clone();
        roots[rng.gen_range(0..ROOTS)] = node;
        m.op(probe);
        if op % COLLECT_EVERY == 0 {
            m.collect::<H>(probe);
        }
    }
    let mut all = roots.clone();
    all.extend(pool.iter().cloned());
    m.check_reachable::<H>(&all)?;
    drop((all, roots, pool));
    m.finish::<H>(probe)
}
