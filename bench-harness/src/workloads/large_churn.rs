//! `large-churn`: blocks of 5-25 MiB allocated, touched page by page and
//! freed in a loop, four live at a time (mimalloc-bench's malloc-large
//! pattern). An allocator that returns such blocks to the OS at once and
//! maps them again pays a page-fault storm.

use super::block::Block;
use super::Params;
use crate::metrics::Probe;
use rand::Rng;

const LIVE: usize = 4;
const OPS: u64 = 100;
const MIN: usize = 5 << 20;
const MAX: usize = 25 << 20;

pub fn run(params: &Params, probe: &mut Probe) {
    let mut rng = params.rng(4);
    probe.time_every_op();
    let mut live: Vec<Block> = Vec::with_capacity(LIVE);
    for i in 0..params.count(OPS) as usize {
        let size = rng.gen_range(MIN..=MAX);
        let timer = probe.begin_op();
        let block = Block::new(size, probe);
        if live.len() < LIVE {
            live.push(block);
        } else {
            std::mem::replace(&mut live[i % LIVE], block).free(probe);
        }
        probe.end_op(timer);
    }
    live.into_iter().for_each(|b| b.free(probe));
}
