//! The huge-block cache: freed mappings are kept for reuse, a reused mapping
//! keeps its pages when the request needs a fair share of them (and a block
//! grows into them in place), cached mappings never carry into a new peak
//! (but only as many go back as the excess),
//! and huge blocks that grow keep their contents. One test in its own
//! process, so no other test's huge blocks share the cache.

mod common;

use common::layout;
use std::alloc::GlobalAlloc;
use strata::Strata;

const MIB: usize = 1 << 20;
/// Below an eighth of the 16 MiB mapping, above the large-block limit.
const SMALL: usize = 3 * MIB / 2;

fn cached() -> usize {
    strata::stats().huge_cached_bytes
}

fn huge() -> usize {
    strata::stats().huge_bytes
}

#[test]
fn freed_mappings_are_reused_and_never_carried_into_a_new_peak() {
    // An hour's purge delay: nothing here may expire by the clock.
    strata::settings::set_purge_delay(std::time::Duration::from_secs(3600));

    // A freed mapping is cached, and the next request that fits reuses it.
    // SAFETY (whole test): non-zero sizes; every block is freed once with
    // its layout.
    unsafe {
        let first = Strata.alloc(layout(16 * MIB));
        assert!(!first.is_null());
        first.write_bytes(1, 16 * MIB);
        Strata.dealloc(first, layout(16 * MIB));
    }
    assert!(
        cached() >= 16 * MIB,
        "the freed mapping is cached: {}",
        cached()
    );

    // A request needing a quarter of it takes all of it (the pages are
    // resident already), and grows into them in place.
    let before = huge();
    let quarter = unsafe { Strata.alloc(layout(4 * MIB)) };
    assert!(!quarter.is_null());
    assert_eq!(cached(), 0, "the cached mapping was reused");
    let taken = huge() - before;
    assert!(
        taken >= 16 * MIB,
        "the whole mapping was kept: {taken} bytes"
    );
    unsafe {
        for i in 0..4 * MIB {
            *quarter.add(i) = (i % 251) as u8;
        }
        let grown = Strata.realloc(quarter, layout(4 * MIB), 12 * MIB);
        assert_eq!(grown, quarter, "growth into its own pages stays in place");
        assert_eq!(huge() - before, taken, "and maps nothing");
        assert!((0..4 * MIB).all(|i| *grown.add(i) == (i % 251) as u8));
        grown.add(12 * MIB - 1).write(7);
        Strata.dealloc(grown, layout(12 * MIB));
    }
    assert!(cached() >= 16 * MIB);

    // A request needing less than an eighth takes the mapping but gives its
    // tail back: no idle page stays mapped. (Smaller requests, up to 1 MiB,
    // are large blocks cut from arena pages, not huge ones.)
    let before = huge();
    let small = unsafe { Strata.alloc(layout(SMALL)) };
    assert!(!small.is_null());
    assert_eq!(cached(), 0, "the cached mapping was reused");
    let grown_by = huge() - before;
    assert!(
        (SMALL..SMALL + 2 * 4096).contains(&grown_by),
        "the reused mapping was trimmed to the request: {grown_by} bytes"
    );

    // Growing it far keeps every byte (the pages move, nothing is copied).
    unsafe {
        for i in 0..SMALL {
            *small.add(i) = (i % 251) as u8;
        }
        let big = Strata.realloc(small, layout(SMALL), 64 * MIB);
        assert!(!big.is_null());
        assert_eq!(big as usize % 16, 0);
        assert!((0..SMALL).all(|i| *big.add(i) == (i % 251) as u8));
        big.add(64 * MIB - 1).write(7);
        Strata.dealloc(big, layout(64 * MIB));
    }
    assert!(cached() >= 64 * MIB, "the 64 MiB mapping is cached");

    // The footprint is at its peak now (64 MiB cached, about what was
    // live). Fresh memory beyond it does not stack on the cached mapping:
    // a 96 MiB block that the cache cannot serve makes it give back
    // everything it holds first.
    unsafe {
        let bigger = Strata.alloc(layout(96 * MIB));
        assert!(!bigger.is_null());
        assert_eq!(
            cached(),
            0,
            "cached mappings went back before the peak grew"
        );
        bigger.add(96 * MIB - 1).write(1);
        Strata.dealloc(bigger, layout(96 * MIB));
    }
    assert!(cached() >= 96 * MIB);
    strata::trim();
    assert_eq!(cached(), 0, "trim unmaps cached mappings");

    // Three 40 MiB blocks make a new peak, and are freed into the cache. A
    // 60 MiB block then grows one of them; that would pass the peak by 20
    // MiB, so one more cached mapping goes back, oldest first, and the last
    // stays for the next request.
    unsafe {
        let blocks: Vec<*mut u8> = (0..3).map(|_| Strata.alloc(layout(40 * MIB))).collect();
        for &block in &blocks {
            assert!(!block.is_null());
            block.write_bytes(2, 40 * MIB);
        }
        for &block in &blocks {
            Strata.dealloc(block, layout(40 * MIB));
        }
        assert!(cached() >= 120 * MIB);
        let sixty = Strata.alloc(layout(60 * MIB));
        assert!(!sixty.is_null());
        assert!(
            cached() >= 40 * MIB && cached() < 80 * MIB,
            "only the excess went back: {} bytes still cached",
            cached()
        );
        sixty.add(60 * MIB - 1).write(1);
        Strata.dealloc(sixty, layout(60 * MIB));
    }
    strata::trim();
}
