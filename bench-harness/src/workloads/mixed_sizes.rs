//! `mixed-sizes`: a live window of 2,000 blocks whose sizes are log-uniform
//! over 8 B-64 KiB; each operation replaces a random block.

use super::block::Block;
use super::{log_uniform, Params};
use crate::metrics::Probe;
use rand::Rng;

const WINDOW: usize = 2_000;
const OPS: u64 = 1_500_000;
const MIN: usize = 8;
const MAX: usize = 64 << 10;

pub fn run(params: &Params, probe: &mut Probe) {
    let mut rng = params.rng(2);
    let mut window: Vec<Block> = (0..WINDOW)
        .map(|_| Block::new(log_uniform(&mut rng, MIN, MAX), probe))
        .collect();
    for _ in 0..params.count(OPS) {
        let slot = rng.gen_range(0..WINDOW);
        let size = log_uniform(&mut rng, MIN, MAX);
        let timer = probe.begin_op();
        let fresh = Block::new(size, probe);
        std::mem::replace(&mut window[slot], fresh).free(probe);
        probe.end_op(timer);
    }
    window.into_iter().for_each(|b| b.free(probe));
}
