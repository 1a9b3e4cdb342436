//! Resident memory falls after a mass free: by itself after the purge delay,
//! and at once with `trim()`. One test, so nothing else moves the resident set.

use rand::{rngs::StdRng, Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout};
use std::time::Duration;
use strata::Strata;

mod common;
use common::resident_bytes;

#[test]
fn freeing_most_of_the_heap_gives_memory_back_with_and_without_trim() {
    let mut rng = StdRng::seed_from_u64(1);
    let base = resident_bytes();
    let mut blocks = Vec::new();
    let mut total = 0usize;
    while total < 192 << 20 {
        let layout = Layout::from_size_align(rng.gen_range(16..=2048), 8).unwrap();
        // SAFETY: non-zero size.
        let p = unsafe { Strata.alloc(layout) };
        // SAFETY: the block holds layout.size() bytes.
        unsafe { p.write_bytes(1, layout.size()) };
        total += layout.size();
        blocks.push((p, layout));
    }
    let peak = resident_bytes() - base;
    for (i, &(p, layout)) in blocks.iter().enumerate() {
        if i % 64 != 0 {
            // SAFETY: live block.
            unsafe { Strata.dealloc(p, layout) };
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let without_call = resident_bytes().saturating_sub(base);
    assert!(
        without_call * 100 <= peak * 60,
        "without a call: {without_call} of peak {peak} still resident"
    );
    strata::trim();
    let trimmed = resident_bytes().saturating_sub(base);
    assert!(
        trimmed * 100 <= peak * 35,
        "after trim: {trimmed} of peak {peak} still resident"
    );
    for (i, &(p, layout)) in blocks.iter().enumerate() {
        if i % 64 == 0 {
            // The survivors kept their contents through the purging.
            // SAFETY: live block.
            unsafe {
                assert!((0..layout.size()).all(|b| *p.add(b) == 1));
                Strata.dealloc(p, layout);
            }
        }
    }
}
