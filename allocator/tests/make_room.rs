//! Memory the program freed is given back before a huge block is mapped, so
//! a program that frees much of its heap and then builds a big buffer does
//! not peak at both. Its own process: it sets a long purge delay and reads the
//! whole process's resident memory.

use std::alloc::{GlobalAlloc, Layout};
use std::time::Duration;
use strata::Strata;

mod common;
use common::resident_bytes;

const MIB: usize = 1 << 20;

#[test]
fn freed_arena_pages_make_room_for_a_huge_block_before_their_purge_delay() {
    // Without the rule, nothing would give the freed pages back for an hour.
    strata::settings::set_purge_delay(Duration::from_secs(3600));
    let small = Layout::from_size_align(64, 8).unwrap();
    let count = 64 * MIB / 64;
    let mut blocks: Vec<*mut u8> = Vec::with_capacity(count);
    let start = resident_bytes();
    for i in 0..count {
        // SAFETY: non-zero size.
        let p = unsafe { Strata.alloc(small) };
        assert!(!p.is_null());
        // SAFETY: 64 writable bytes; touch them so they are resident.
        unsafe { p.write_bytes(i as u8, 64) };
        blocks.push(p);
    }
    for p in blocks.drain(..) {
        // SAFETY: live blocks.
        unsafe { Strata.dealloc(p, small) };
    }
    let freed = resident_bytes();
    assert!(
        freed >= start + 48 * MIB,
        "the freed pages wait for the purge delay: start {} MiB, after free {} MiB",
        start / MIB,
        freed / MIB
    );

    let huge = Layout::from_size_align(48 * MIB, 8).unwrap();
    // SAFETY: non-zero size.
    let buffer = unsafe { Strata.alloc(huge) };
    assert!(!buffer.is_null());
    // SAFETY: the block holds 48 MiB; touch every page.
    unsafe { buffer.write_bytes(0x5a, huge.size()) };
    let with_buffer = resident_bytes();
    assert!(
        with_buffer <= freed + 8 * MIB,
        "mapping 48 MiB gave back the freed arena pages first: after free {} MiB, \
         with the buffer {} MiB",
        freed / MIB,
        with_buffer / MIB
    );
    // The heap still works where the pages were given back.
    // SAFETY: non-zero size.
    let again = unsafe { Strata.alloc(small) };
    assert!(!again.is_null());
    // SAFETY: live blocks of these layouts.
    unsafe {
        again.write_bytes(1, 64);
        Strata.dealloc(again, small);
        Strata.dealloc(buffer, huge);
    }
}
