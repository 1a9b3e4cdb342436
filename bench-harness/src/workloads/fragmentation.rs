//! `fragmentation`: allocate 1M 64-byte blocks, free every other one, then
//! allocate 1M 128-byte blocks. The freed holes are too small for the new
//! size: an allocator that cannot reuse or return them shows a high peak.

use super::block::Block;
use super::Params;
use crate::metrics::Probe;

const BLOCKS: u64 = 1_000_000;

pub fn run(params: &Params, probe: &mut Probe) {
    let n = params.count(BLOCKS) as usize;
    let mut small = Vec::with_capacity(n);
    for _ in 0..n {
        let timer = probe.begin_op();
        small.push(Some(Block::new(64, probe)));
        probe.end_op(timer);
    }
    for slot in small.iter_mut().step_by(2) {
        let timer = probe.begin_op();
        if let Some(block) = slot.take() {
            block.free(probe);
        }
        probe.end_op(timer);
    }
    let mut large = Vec::with_capacity(n);
    for _ in 0..n {
        let timer = probe.begin_op();
        large.push(Block::new(128, probe));
        probe.end_op(timer);
    }
    small.into_iter().flatten().for_each(|b| b.free(probe));
    large.into_iter().for_each(|b| b.free(probe));
}
