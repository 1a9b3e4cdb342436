//! Large blocks: above the medium classes and up to `LARGE_MAX`, a block is
//! a run of arena pages of its own. It reuses pages that freed pools left,
//! gives its pages back when freed (from any thread), grows in place into
//! free pages after it, and moves to a huge mapping past the limit. One
//! test in its own process, so that the counters it reads are its own.

mod common;

use common::{fill, holds, layout};
use std::alloc::GlobalAlloc;
use strata::{Strata, MEDIUM_MAX, PAGE_SIZE};

const KIB: usize = 1 << 10;

#[test]
fn large_blocks_are_arena_page_runs_that_come_back_and_grow_in_place() {
    strata::settings::set_purge_delay(std::time::Duration::from_secs(3600));
    let base = strata::stats();
    assert_eq!(base.large_blocks, 0);
    // SAFETY (whole test): non-zero sizes; every block is freed once with
    // the layout it last had.
    unsafe {
        // A request just above the medium classes is a run of whole pages.
        let size = MEDIUM_MAX + 1;
        let p = Strata.alloc(layout(size));
        assert!(!p.is_null());
        assert_eq!(p as usize % PAGE_SIZE, 0, "a run starts on a page");
        let pages = size.div_ceil(PAGE_SIZE);
        assert_eq!(strata::raw::usable_size(p), pages * PAGE_SIZE);
        let s = strata::stats();
        assert_eq!((s.large_blocks, s.large_bytes), (1, pages * PAGE_SIZE));
        assert_eq!(s.huge_bytes, base.huge_bytes, "nothing was mapped for it");
        assert!(s.bytes_in_use >= base.bytes_in_use + pages * PAGE_SIZE);
        fill(p, size, 1);

        // Freed, its pages go back to the arena, and the next large block
        // of that size takes them: no new arena, no mapping.
        Strata.dealloc(p, layout(size));
        assert_eq!(strata::stats().large_blocks, 0);
        let arenas = strata::stats().arenas.bytes;
        let q = Strata.alloc(layout(size));
        assert_eq!(q, p, "the freed run is reused");
        assert_eq!(strata::stats().arenas.bytes, arenas);

        // Zeroed requests read zero even on reused (dirty) pages.
        Strata.dealloc(q, layout(size));
        let z = Strata.alloc_zeroed(layout(300 * KIB));
        assert!(!z.is_null());
        assert!(
            (0..300 * KIB).all(|i| *z.add(i) == 0),
            "calloc'd pages read zero"
        );
        Strata.dealloc(z, layout(300 * KIB));

        // Growth takes the free pages after the block, in place.
        let g = Strata.alloc(layout(200 * KIB));
        fill(g, 200 * KIB, 2);
        let grown = Strata.realloc(g, layout(200 * KIB), 600 * KIB);
        assert_eq!(grown, g, "growth into free pages stays in place");
        assert!(holds(grown, 200 * KIB, 2));
        let run = (600 * KIB).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        assert_eq!(strata::raw::usable_size(grown), run);
        assert_eq!(strata::stats().large_bytes, run);
        fill(grown, 600 * KIB, 3);

        // A block after it stops growth in place: the block, a buffer still
        // growing, becomes a huge block (which grows by remapping) and keeps
        // its contents.
        let fence = Strata.alloc(layout(200 * KIB));
        assert!(!fence.is_null());
        assert_eq!(fence, grown.add(run), "the fence follows the block");
        let huge_before = strata::stats().huge_bytes;
        let step = 600 * KIB + 600 * KIB / 8;
        let next = Strata.realloc(grown, layout(600 * KIB), step);
        assert!(!next.is_null() && next != grown);
        assert!(holds(next, 600 * KIB, 3));
        let s = strata::stats();
        assert_eq!(s.large_blocks, 1, "only the fence is a large block");
        assert!(s.huge_bytes >= huge_before + step);

        // A medium block growing into the large sizes by a small step (an
        // eighth, as CPython grows a list) takes a run: nothing is mapped.
        // (A 200 KiB hole before a block: where the crossing block would
        // land if it were placed first-fit, with no room to grow.)
        let hole = Strata.alloc(layout(200 * KIB));
        let wall = Strata.alloc(layout(200 * KIB));
        Strata.dealloc(hole, layout(200 * KIB));
        let medium = Strata.alloc(layout(120 * KIB));
        fill(medium, 120 * KIB, 4);
        let huge_before = strata::stats().huge_bytes;
        let crossed = Strata.realloc(medium, layout(120 * KIB), 135 * KIB);
        assert!(holds(crossed, 120 * KIB, 4));
        let s = strata::stats();
        assert_eq!(s.large_blocks, 3, "the crossing block is a run");
        assert_eq!(s.huge_bytes, huge_before);
        // It was placed with room after it: the next growths stay in place.
        let mut size = 135 * KIB;
        while size < 900 * KIB {
            let bigger = size + size / 8;
            assert_eq!(Strata.realloc(crossed, layout(size), bigger), crossed);
            size = bigger;
        }
        assert!(holds(crossed, 120 * KIB, 4));
        Strata.dealloc(crossed, layout(size));
        Strata.dealloc(wall, layout(200 * KIB));
        // By a big step (doubling, as a `Vec` grows), it is mapped.
        let medium = Strata.alloc(layout(100 * KIB));
        fill(medium, 100 * KIB, 5);
        let doubled = Strata.realloc(medium, layout(100 * KIB), 200 * KIB);
        assert!(holds(doubled, 100 * KIB, 5));
        let s = strata::stats();
        assert_eq!(s.large_blocks, 1);
        assert!(s.huge_bytes >= huge_before + 200 * KIB);
        Strata.dealloc(doubled, layout(200 * KIB));
        // It grows on as a huge block, past the large limit.
        let huge = Strata.realloc(next, layout(step), 3 << 20);
        assert!(!huge.is_null());
        assert!(holds(huge, 600 * KIB, 3));
        assert!(strata::stats().huge_bytes >= base.huge_bytes + (3 << 20));
        // Shrunk below half but still large, a large block takes a smaller
        // run: nothing is mapped.
        let big = Strata.alloc(layout(1000 * KIB));
        fill(big, 1000 * KIB, 6);
        let huge_before = strata::stats().huge_bytes;
        let smaller = Strata.realloc(big, layout(1000 * KIB), 300 * KIB);
        assert!(holds(smaller, 300 * KIB, 6));
        assert_eq!(
            strata::stats().huge_bytes,
            huge_before,
            "a shrink maps nothing"
        );
        assert_eq!(strata::raw::usable_size(smaller), 19 * PAGE_SIZE);
        Strata.dealloc(smaller, layout(300 * KIB));
        // Shrunk below half, a large block moves to a smaller class.
        let shrunk = Strata.realloc(fence, layout(200 * KIB), 1000);
        assert!(!shrunk.is_null());
        Strata.dealloc(shrunk, layout(1000));
        Strata.dealloc(huge, layout(3 << 20));
        assert_eq!(strata::stats().large_blocks, 0);
        assert_eq!(strata::stats().large_bytes, 0);
    }

    // A large block freed by another thread than the one that made it goes
    // back to the arena all the same.
    let blocks: Vec<usize> = (0..8)
        .map(|i| {
            // SAFETY: non-zero size.
            let p = unsafe { Strata.alloc(layout(256 * KIB + i * KIB)) };
            assert!(!p.is_null());
            fill(p, 256 * KIB, i as u8);
            p as usize
        })
        .collect();
    assert_eq!(strata::stats().large_blocks, 8);
    std::thread::scope(|scope| {
        for (i, &p) in blocks.iter().enumerate() {
            scope.spawn(move || {
                let p = p as *mut u8;
                assert!(holds(p, 256 * KIB, i as u8));
                // SAFETY: a live block of this layout, freed once.
                unsafe { Strata.dealloc(p, layout(256 * KIB + i * KIB)) };
            });
        }
    });
    assert_eq!(
        strata::stats().large_blocks,
        0,
        "every thread's free came back"
    );
}
