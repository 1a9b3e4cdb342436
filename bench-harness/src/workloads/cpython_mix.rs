//! `cpython-mix`: what an interpreter asks of its allocator. Most requests
//! are small objects (16-512 B, most of them 32-64 B like ints, floats and
//! tuples); lists grow by `realloc` with CPython's over-allocation
//! (`n + n/8 + 6` slots); dicts resize by allocating a table twice as large,
//! copying, and freeing the old one. Objects live in a window of recent ones
//! plus a slowly growing set of long-lived ones (module globals, caches).

use super::block::Block;
use super::Params;
use crate::metrics::Probe;
use rand::rngs::SmallRng;
use rand::Rng;

const OPS: u64 = 3_000_000;
/// Recently created objects still referenced.
const WINDOW: usize = 20_000;
/// One object in this many outlives the window and is kept to the end.
const LONG_LIVED_EVERY: u64 = 200;
const SLOT: usize = 8;
/// Bytes per dict entry (hash, key, value), as in CPython's compact dict.
const DICT_ENTRY: usize = 24;

fn object_size(rng: &mut SmallRng) -> usize {
    match rng.gen_range(0..100) {
        0..=59 => rng.gen_range(2..=8) * 8, // 16-64 B: ints, floats, small tuples
        60..=89 => rng.gen_range(9..=32) * 8, // 72-256 B: strings, frames
        _ => rng.gen_range(33..=64) * 8,    // 264-512 B
    }
}

/// A list: its slot array grows by CPython's over-allocation rule.
fn grow_list(list: &mut Block, len: &mut usize, probe: &mut Probe) {
    *len += 1;
    if *len * SLOT > list.size() {
        let slots = *len + (*len >> 3) + 6;
        list.resize(slots * SLOT, probe);
    }
}

/// A dict: a table of 8 entries doubled when two thirds full.
fn grow_dict(table: &mut Block, used: &mut usize, probe: &mut Probe) {
    *used += 1;
    let capacity = table.size() / DICT_ENTRY;
    if *used * 3 > capacity * 2 {
        let bigger = Block::new(capacity * 2 * DICT_ENTRY, probe);
        // SAFETY: both blocks are at least `table.size()` bytes long and
        // distinct allocations.
        unsafe { std::ptr::copy_nonoverlapping(table.as_ptr(), bigger.as_ptr(), table.size()) };
        std::mem::replace(table, bigger).free(probe);
    }
}

/// A container (list or dict): its block and how many items it holds.
type Container = (Block, usize);

/// Adds an item to a random container of `containers` (now and then a new
/// one, of `initial` bytes), and drops the container once it holds `limit`
/// items: containers are born, grow and die.
#[inline]
fn grow_one(
    containers: &mut Vec<Container>,
    initial: usize,
    limit: usize,
    grow: impl Fn(&mut Block, &mut usize, &mut Probe),
    rng: &mut SmallRng,
    probe: &mut Probe,
) {
    if containers.len() < 64 || rng.gen_range(0..64) == 0 {
        containers.push((Block::new(initial, probe), 0));
    }
    let i = rng.gen_range(0..containers.len());
    let (block, items) = &mut containers[i];
    grow(block, items, probe);
    if *items > limit {
        containers.swap_remove(i).0.free(probe);
    }
}

pub fn run(params: &Params, probe: &mut Probe) {
    let mut rng = params.rng(5);
    let mut window: Vec<Option<Block>> = (0..WINDOW).map(|_| None).collect();
    let mut long_lived = Vec::new();
    let mut lists: Vec<Container> = Vec::new();
    let mut dicts: Vec<Container> = Vec::new();
    for op in 0..params.count(OPS) {
        let timer = probe.begin_op();
        match rng.gen_range(0..100) {
            0..=79 => {
                let object = Block::new(object_size(&mut rng), probe);
                let slot = rng.gen_range(0..WINDOW);
                if let Some(old) = window[slot].replace(object) {
                    if op % LONG_LIVED_EVERY == 0 {
                        long_lived.push(old);
                    } else {
                        old.free(probe);
                    }
                }
            }
            80..=91 => grow_one(&mut lists, 4 * SLOT, 2_000, grow_list, &mut rng, probe),
            _ => grow_one(
                &mut dicts,
                8 * DICT_ENTRY,
                1_000,
                grow_dict,
                &mut rng,
                probe,
            ),
        }
        probe.end_op(timer);
    }
    window.into_iter().flatten().for_each(|b| b.free(probe));
    long_lived.into_iter().for_each(|b| b.free(probe));
    lists.into_iter().for_each(|(b, _)| b.free(probe));
    dicts.into_iter().for_each(|(b, _)| b.free(probe));
}
