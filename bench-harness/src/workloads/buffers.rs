//! `buffers`: a round of small objects is built and dies (one in fifty
//! survives a few rounds), then big temporary buffers of 128 KiB-1 MiB are
//! built, touched and freed, as CPython's `json.dumps` builds its output
//! after a round of objects died. An allocator that serves such buffers
//! only from fresh mappings faults them in every round while the dead
//! objects' memory sits idle, or gives that memory back and faults it in
//! again for the next round's objects.

use super::block::Block;
use super::{log_uniform, Params};
use crate::metrics::Probe;
use rand::Rng;
use std::collections::VecDeque;

const ROUNDS: u64 = 40;
/// Bytes of small objects built in each round.
const OBJECT_BYTES: usize = 8 << 20;
/// One object in this many survives its round.
const SURVIVOR_EVERY: usize = 50;
/// Survivors kept at most (the oldest go first).
const SURVIVORS_MAX: usize = 20_000;
const BUFFERS: usize = 16;
const BUFFER_MIN: usize = 128 << 10;
const BUFFER_MAX: usize = 1 << 20;

pub fn run(params: &Params, probe: &mut Probe) {
    let mut rng = params.rng(9);
    let mut survivors: VecDeque<Block> = VecDeque::new();
    let mut objects: Vec<Block> = Vec::new();
    let mut buffers: Vec<Block> = Vec::with_capacity(BUFFERS);
    for _ in 0..params.count(ROUNDS) {
        let mut bytes = 0;
        while bytes < OBJECT_BYTES {
            let size = rng.gen_range(2..=32) * 8;
            let timer = probe.begin_op();
            objects.push(Block::new(size, probe));
            probe.end_op(timer);
            bytes += size;
        }
        for (i, object) in objects.drain(..).enumerate() {
            if i % SURVIVOR_EVERY == 0 {
                survivors.push_back(object);
            } else {
                object.free(probe);
            }
        }
        while survivors.len() > SURVIVORS_MAX {
            if let Some(old) = survivors.pop_front() {
                old.free(probe);
            }
        }
        for _ in 0..BUFFERS {
            let size = log_uniform(&mut rng, BUFFER_MIN, BUFFER_MAX);
            let timer = probe.begin_op();
            buffers.push(Block::new(size, probe));
            probe.end_op(timer);
        }
        buffers.drain(..).for_each(|b| b.free(probe));
    }
    survivors.into_iter().for_each(|b| b.free(probe));
}
