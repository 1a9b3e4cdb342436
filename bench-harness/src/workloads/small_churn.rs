//! `small-churn`: a live window of 10,000 small blocks; each operation frees
//! a random one and allocates a random size 8-512 B in its place (the
//! pymalloc size range).

use super::block::Block;
use super::Params;
use crate::metrics::Probe;
use rand::Rng;

const WINDOW: usize = 10_000;
const OPS: u64 = 4_000_000;

pub fn run(params: &Params, probe: &mut Probe) {
    let mut rng = params.rng(1);
    let mut window: Vec<Block> = (0..WINDOW)
        .map(|_| Block::new(rng.gen_range(8..=512), probe))
        .collect();
    for _ in 0..params.count(OPS) {
        let slot = rng.gen_range(0..WINDOW);
        let size = rng.gen_range(8..=512);
        let timer = probe.begin_op();
        let fresh = Block::new(size, probe);
        std::mem::replace(&mut window[slot], fresh).free(probe);
        probe.end_op(timer);
    }
    window.into_iter().for_each(|b| b.free(probe));
}
