//! Blocks aligned to a chunk (`ARENA_SIZE`) or more: their header sits one
//! chunk before the block, where `free` and `realloc` look for it. Run this
//! in release builds too (`cargo test --release`): an optimiser fold once
//! placed the header two chunks back there, and only there.

use std::alloc::{GlobalAlloc, Layout};
use strata::{Strata, ARENA_SIZE};

#[test]
fn huge_alignments_are_owned_resized_and_freed() {
    let start = strata::stats().huge_bytes;
    for shift in 12..=25 {
        let align = 1usize << shift;
        for size in [1, 100, 3 * align, ARENA_SIZE + 1] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero size; the block is freed once with its layout.
            unsafe {
                let p = Strata.alloc(layout);
                assert!(!p.is_null(), "{size} bytes aligned to {align:#x}");
                assert_eq!(p as usize % align, 0, "{p:p} aligned to {align:#x}");
                assert!(
                    strata::raw::owns(p),
                    "{p:p} ({size} aligned to {align:#x}) is strata's"
                );
                assert!(strata::raw::usable_size(p) >= size);
                p.write_bytes(0x5a, size);
                let grown = Strata.realloc(p, layout, size + 2 * ARENA_SIZE);
                assert!(!grown.is_null());
                assert_eq!(
                    grown as usize % align,
                    0,
                    "{grown:p} stays aligned to {align:#x}"
                );
                assert!(strata::raw::owns(grown));
                assert!((0..size).all(|i| *grown.add(i) == 0x5a), "contents kept");
                let layout = Layout::from_size_align(size + 2 * ARENA_SIZE, align).unwrap();
                Strata.dealloc(grown, layout);
            }
        }
    }
    strata::trim();
    assert_eq!(
        strata::stats().huge_bytes,
        start,
        "every huge block was freed"
    );
}
