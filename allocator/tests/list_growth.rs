//! A buffer growing by small steps, as CPython grows a list (an eighth at
//! a time): from two pages on, `realloc` moves it to a run of arena pages
//! placed with room after it, where the following steps stay in place
//! instead of moving between medium classes a quarter apart; or, if a
//! resident cached huge mapping would hold it, to that mapping. One test in
//! its own process, so that the arenas and counters it reads are its own.

mod common;

use common::{fill, holds, layout};
use std::alloc::GlobalAlloc;
use strata::{Strata, MEDIUM_MAX, PAGE_SIZE};

const KIB: usize = 1 << 10;

/// CPython's `list_resize` for an append to a full list of `size` bytes.
fn list_step(size: usize) -> usize {
    let wanted = size / 8 + 1;
    ((wanted + (wanted >> 3) + 6) & !3) * 8
}

/// Grows `p` from `size` by list steps as long as a step stays within
/// `limit`; returns the block, its size, and how many steps moved it.
///
/// # Safety
/// `p` is a live block of `size` bytes from `Strata`.
unsafe fn grow(mut p: *mut u8, mut size: usize, limit: usize) -> (*mut u8, usize, usize) {
    let mut moves = 0;
    while list_step(size) <= limit {
        let bigger = list_step(size);
        // SAFETY: as the caller guarantees; `bigger` is non-zero.
        let q = unsafe { Strata.realloc(p, layout(size), bigger) };
        assert!(!q.is_null());
        moves += usize::from(q != p);
        (p, size) = (q, bigger);
    }
    (p, size, moves)
}

#[test]
fn a_list_growing_by_eighths_moves_once_and_then_grows_in_place() {
    strata::settings::set_purge_delay(std::time::Duration::from_secs(3600));
    let base = strata::stats();
    assert_eq!(base.large_blocks, 0);
    // SAFETY (whole test): non-zero sizes; every block is freed once with
    // the layout it last had.
    unsafe {
        // Below two pages the list stays in medium classes.
        let small = Strata.alloc(layout(4 * KIB));
        fill(small, 4 * KIB, 1);
        let (small, small_size, _) = grow(small, 4 * KIB, 2 * PAGE_SIZE - 1);
        assert!(holds(small, 4 * KIB, 1));
        assert_eq!(strata::stats().large_blocks, 0, "no run below two pages");

        // From two pages: one move into a run, then in place up to the
        // large limit, with nothing mapped.
        let size = list_step(small_size);
        let list = Strata.realloc(small, layout(small_size), size);
        assert!(size >= 2 * PAGE_SIZE);
        let huge_before = strata::stats().huge_bytes;
        let (list, size, moves) = grow(list, size, 900 * KIB);
        assert!(moves <= 1, "{moves} moves between 32 KiB and 900 KiB");
        assert!(holds(list, 4 * KIB, 1));
        let s = strata::stats();
        assert_eq!(s.large_blocks, 1);
        assert_eq!(s.huge_bytes, huge_before, "nothing was mapped");
        assert_eq!(list as usize % PAGE_SIZE, 0, "a run starts on a page");
        Strata.dealloc(list, layout(size));
        assert_eq!(strata::stats().large_blocks, 0);

        // A run blocked by a neighbour while still within the medium sizes
        // moves to another run (no mapping), keeping its contents.
        let list = Strata.alloc(layout(40 * KIB));
        fill(list, 40 * KIB, 2);
        let (list, size, _) = grow(list, 40 * KIB, 48 * KIB);
        assert_eq!(strata::stats().large_blocks, 1, "the list is a run");
        let run = strata::raw::usable_size(list);
        assert!(run < MEDIUM_MAX);
        let (list, size, moves) = grow(list, size, run);
        assert_eq!(moves, 0, "growth within its pages stays in place");
        // The neighbour: a large block cut first-fit, right after the list.
        let fence = Strata.alloc(layout(200 * KIB));
        assert_eq!(fence, list.add(run), "the fence follows the list");
        let huge_before = strata::stats().huge_bytes;
        let (list, size, moves) = grow(list, size, list_step(size));
        assert_eq!(moves, 1, "blocked, the list moves");
        assert!(holds(list, 40 * KIB, 2));
        let s = strata::stats();
        assert_eq!(s.large_blocks, 2, "to another run");
        assert_eq!(s.huge_bytes, huge_before, "nothing was mapped");
        Strata.dealloc(fence, layout(200 * KIB));
        Strata.dealloc(list, layout(size));

        // A resident cached mapping comes first, once the list would fill an
        // eighth of it: no run, no fresh mapping, and in place from then on.
        let medium = Strata.alloc(layout(100 * KIB));
        let mapped = Strata.realloc(medium, layout(100 * KIB), 300 * KIB);
        assert_eq!(
            strata::stats().huge_blocks,
            1,
            "a big step maps a huge block"
        );
        Strata.dealloc(mapped, layout(300 * KIB));
        let cached = strata::stats().huge_cached_bytes;
        assert!(cached > 300 * KIB, "the mapping is cached");
        let list = Strata.alloc(layout(40 * KIB));
        fill(list, 40 * KIB, 3);
        let (list, size, moves) = grow(list, 40 * KIB, 300 * KIB);
        assert_eq!(moves, 1, "one move, into the cached mapping");
        assert!(holds(list, 40 * KIB, 3));
        let s = strata::stats();
        assert_eq!((s.huge_blocks, s.huge_cached_bytes), (1, 0));
        assert_eq!(s.large_blocks, 0, "no run was cut for it");
        Strata.dealloc(list, layout(size));
    }
}
