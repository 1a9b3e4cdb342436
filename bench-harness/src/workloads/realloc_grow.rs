//! `realloc-grow` and `list-grow`: 100 buffers grown in turn by `realloc`
//! from a few bytes up to a random target, then freed and started again.
//! Growing them in turn means a neighbour often blocks growth in place.
//!
//! - `realloc-grow`: each step adds half the size (a `Vec` or a string
//!   builder), up to 8-256 KiB.
//! - `list-grow`: each step is CPython's list over-allocation when an append
//!   finds the list full (`n + n/8 + 6` slots of 8 bytes), up to 8 KiB-1 MiB:
//!   small steps, so a buffer that cannot grow in place moves and copies
//!   itself many times.

use super::block::Block;
use super::{log_uniform, Params};
use crate::metrics::Probe;

const BUFFERS: usize = 100;

/// How one of the workloads grows its buffers.
struct Growth {
    /// Steps at scale 1.
    ops: u64,
    /// The random stream of the targets.
    stream: u64,
    /// A fresh buffer's size.
    start: usize,
    /// Targets are drawn log-uniformly from this range.
    targets: (usize, usize),
    /// The size after one step from `size`.
    step: fn(usize) -> usize,
}

const BY_HALF: Growth = Growth {
    ops: 500_000,
    stream: 3,
    start: 8,
    targets: (8 << 10, 256 << 10),
    step: |size| size + size / 2,
};

/// Bytes per list slot (a pointer).
const SLOT: usize = 8;

const LIKE_A_LIST: Growth = Growth {
    ops: 200_000,
    stream: 11,
    start: 4 * SLOT,
    targets: (8 << 10, 1 << 20),
    step: |size| {
        // CPython's `list_resize` for an append to a full list of n slots.
        let wanted = size / SLOT + 1;
        ((wanted + (wanted >> 3) + 6) & !3) * SLOT
    },
};

pub fn run(params: &Params, probe: &mut Probe) {
    grow_in_turn(&BY_HALF, params, probe);
}

pub fn run_list(params: &Params, probe: &mut Probe) {
    grow_in_turn(&LIKE_A_LIST, params, probe);
}

fn grow_in_turn(growth: &Growth, params: &Params, probe: &mut Probe) {
    let (low, high) = growth.targets;
    let mut rng = params.rng(growth.stream);
    let mut buffers: Vec<(Block, usize)> = (0..BUFFERS)
        .map(|_| {
            (
                Block::new(growth.start, probe),
                log_uniform(&mut rng, low, high),
            )
        })
        .collect();
    let mut ops = 0;
    let total = params.count(growth.ops);
    'outer: loop {
        for (buffer, target) in buffers.iter_mut() {
            if ops == total {
                break 'outer;
            }
            ops += 1;
            let timer = probe.begin_op();
            if buffer.size() >= *target {
                let fresh = Block::new(growth.start, probe);
                std::mem::replace(buffer, fresh).free(probe);
                *target = log_uniform(&mut rng, low, high);
            } else {
                let size = buffer.size();
                buffer.resize((growth.step)(size), probe);
            }
            probe.end_op(timer);
        }
    }
    buffers.into_iter().for_each(|(b, _)| b.free(probe));
}
