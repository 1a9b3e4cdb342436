//! The huge-block cache: off until blocks churn, trimming mostly idle reuse,
//! and huge blocks that grow keep their contents. One test in its own
//! process, so no other test's huge blocks turn caching on first.

use std::alloc::{GlobalAlloc, Layout};
use strata::Strata;

const MIB: usize = 1 << 20;

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 16).unwrap()
}

fn cached() -> usize {
    strata::stats().huge_cached_bytes
}

#[test]
fn huge_mappings_are_cached_only_under_churn_and_trimmed_on_reuse() {
    // A single free with no reuse in sight goes straight back to the OS.
    // SAFETY: non-zero sizes; every block is freed once with its layout.
    unsafe {
        let once = Strata.alloc(layout(8 * MIB));
        assert!(!once.is_null());
        once.write_bytes(1, 8 * MIB);
        Strata.dealloc(once, layout(8 * MIB));
    }
    assert_eq!(cached(), 0, "no churn yet, so nothing is cached");

    // Allocating again right after freeing is churn: from then on freed
    // mappings are kept. The clock is coarse, so allow a few rounds.
    let mut rounds = 0;
    while cached() == 0 {
        rounds += 1;
        assert!(rounds <= 50, "churn was never detected");
        // SAFETY: as above.
        unsafe {
            let block = Strata.alloc(layout(8 * MIB));
            assert!(!block.is_null());
            block.write_bytes(2, 8 * MIB);
            Strata.dealloc(block, layout(8 * MIB));
        }
    }
    assert!(
        cached() >= 8 * MIB,
        "the freed mapping is cached: {}",
        cached()
    );

    // A smaller request reuses the cached mapping and gives back its tail:
    // no idle page stays mapped.
    let huge_before = strata::stats().huge_bytes;
    // SAFETY: as above.
    let small = unsafe { Strata.alloc(layout(2 * MIB)) };
    assert!(!small.is_null());
    assert_eq!(cached(), 0, "the cached mapping was reused");
    let grown_by = strata::stats().huge_bytes - huge_before;
    assert!(
        (2 * MIB..2 * MIB + 2 * 4096).contains(&grown_by),
        "the reused mapping was trimmed to the request: {grown_by} bytes"
    );

    // Growing it far keeps every byte (the pages move, nothing is copied).
    // SAFETY: `small` is live with 2 MiB; the new size is non-zero.
    unsafe {
        for i in 0..2 * MIB {
            *small.add(i) = (i % 251) as u8;
        }
        let big = Strata.realloc(small, layout(2 * MIB), 64 * MIB);
        assert!(!big.is_null());
        assert_eq!(big as usize % 16, 0);
        assert!((0..2 * MIB).all(|i| *big.add(i) == (i % 251) as u8));
        big.add(64 * MIB - 1).write(7);
        Strata.dealloc(big, layout(64 * MIB));
    }
    strata::trim();
    assert_eq!(cached(), 0, "trim unmaps cached mappings");
}
