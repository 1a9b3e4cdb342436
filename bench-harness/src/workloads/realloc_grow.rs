//! `realloc-grow`: 100 buffers grown in turn by `realloc`, each by half its
//! size from 8 B up to a target of 8-256 KiB, then freed and started again.
//! Growing them in turn means a neighbour often blocks growth in place.

use super::block::Block;
use super::{log_uniform, Params};
use crate::metrics::Probe;

const BUFFERS: usize = 100;
const OPS: u64 = 500_000;

pub fn run(params: &Params, probe: &mut Probe) {
    let mut rng = params.rng(3);
    let mut buffers: Vec<(Block, usize)> = (0..BUFFERS)
        .map(|_| {
            (
                Block::new(8, probe),
                log_uniform(&mut rng, 8 << 10, 256 << 10),
            )
        })
        .collect();
    let mut ops = 0;
    let total = params.count(OPS);
    'outer: loop {
        for (buffer, target) in buffers.iter_mut() {
            if ops == total {
                break 'outer;
            }
            ops += 1;
            let timer = probe.begin_op();
            if buffer.size() >= *target {
                let fresh = Block::new(8, probe);
                std::mem::replace(buffer, fresh).free(probe);
                *target = log_uniform(&mut rng, 8 << 10, 256 << 10);
            } else {
                let size = buffer.size();
                buffer.resize(size + size / 2, probe);
            }
            probe.end_op(timer);
        }
    }
    buffers.into_iter().for_each(|(b, _)| b.free(probe));
}
