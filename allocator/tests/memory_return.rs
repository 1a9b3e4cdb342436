//! Freed memory goes back to the OS.

use std::alloc::{GlobalAlloc, Layout};
use strata::Strata;

mod common;
use common::resident_bytes;

#[test]
fn freeing_256_mib_of_small_blocks_returns_resident_memory() {
    const MIB: usize = 1 << 20;
    let layout = Layout::from_size_align(64, 8).unwrap();
    let count = 256 * MIB / 64;
    let mut blocks: Vec<*mut u8> = Vec::with_capacity(count);
    let start = resident_bytes();
    for i in 0..count {
        // SAFETY: non-zero size.
        let p = unsafe { Strata.alloc(layout) };
        assert!(!p.is_null());
        // SAFETY: 64 writable bytes; touch them so they are resident.
        unsafe { p.write_bytes(i as u8, 64) };
        blocks.push(p);
    }
    let peak = resident_bytes();
    assert!(
        peak >= start + 200 * MIB,
        "the blocks were resident: start {start} peak {peak}"
    );
    for p in blocks.drain(..) {
        // SAFETY: live blocks.
        unsafe { Strata.dealloc(p, layout) };
    }
    // Emptied pools go back to their arenas at once; their pages go back to
    // the OS after the purge delay (adaptive, at most half a second), from
    // the background purger. A fast (release) build gets here well within
    // it, so wait for the purger rather than for the clock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut end = resident_bytes();
    while end > start + 64 * MIB && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        end = resident_bytes();
    }
    assert!(
        end <= start + 64 * MIB,
        "resident memory fell back: start {} MiB, peak {} MiB, end {} MiB",
        start / MIB,
        peak / MIB,
        end / MIB
    );
}
