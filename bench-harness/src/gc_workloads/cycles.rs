//! `cycles`: rounds of 10,000 rings of 2-8 nodes; the roots are dropped and
//! a collection must reclaim every ring of the round.

use super::{GcHeap, Mutator};
use crate::metrics::Probe;
use crate::workloads::Params;
use rand::Rng;

const RINGS: usize = 10_000;
const ROUNDS: u64 = 30;

pub fn run<H: GcHeap>(params: &Params, probe: &mut Probe, m: &mut Mutator) -> Result<(), String> {
    let mut rng = params.rng(31);
    let rings = (params.count(ROUNDS * RINGS as u64) as usize).min(RINGS);
    let rounds = params.count(ROUNDS * RINGS as u64) / rings as u64;
    for round in 0..rounds {
        let mut roots = Vec::with_capacity(rings);
        for _ in 0..rings {
            let first = m.node::<H>(probe);
            let mut last = first.clone();
            for _ in 1..rng.gen_range(2..=8) {
                let next = m.node::<H>(probe);
                H::add_edge(&last, &next);
                last = next;
                m.op(probe);
            }
            H::add_edge(&last, &first);
            roots.push(first);
            m.op(probe);
        }
        let live = m.created();
        drop(roots);
        m.collect::<H>(probe);
        m.expect_dropped(live, &format!("after round {round}"))?;
    }
    m.finish::<H>(probe)
}
