//! Random sequences of alloc / realloc / free with random sizes and
//! alignments, every block filled with a pattern and checked before it is
//! freed or reallocated.

use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout};
use strata::Strata;

#[derive(Debug, Clone)]
enum Op {
    Alloc {
        size: usize,
        align_shift: u32,
        zeroed: bool,
    },
    Realloc {
        slot: usize,
        new_size: usize,
    },
    Free {
        slot: usize,
    },
}

fn size_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 0usize..=512,
        4 => 513usize..=16 * 1024,
        2 => 16 * 1024usize..=160 * 1024,
        1 => 160 * 1024usize..=3 * 1024 * 1024,
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (size_strategy(), prop_oneof![6 => 0u32..=4, 2 => 5u32..=14, 1 => 15u32..=23], any::<bool>())
            .prop_map(|(size, align_shift, zeroed)| Op::Alloc { size, align_shift, zeroed }),
        2 => (any::<usize>(), size_strategy()).prop_map(|(slot, new_size)| Op::Realloc { slot, new_size }),
        3 => any::<usize>().prop_map(|slot| Op::Free { slot }),
    ]
}

struct Live {
    ptr: *mut u8,
    layout: Layout,
    seed: u8,
}

fn fill(ptr: *mut u8, len: usize, seed: u8) {
    for i in 0..len {
        // SAFETY: the block holds `len` bytes.
        unsafe { *ptr.add(i) = seed.wrapping_add((i % 251) as u8) };
    }
}

fn verify(ptr: *mut u8, len: usize, seed: u8) {
    for i in 0..len {
        // SAFETY: as in `fill`.
        let byte = unsafe { *ptr.add(i) };
        assert_eq!(
            byte,
            seed.wrapping_add((i % 251) as u8),
            "byte {i} of {len} at {ptr:p}"
        );
    }
}

fn run(ops: Vec<Op>) {
    let mut live: Vec<Live> = Vec::new();
    for (n, op) in ops.into_iter().enumerate() {
        let seed = n as u8;
        match op {
            Op::Alloc {
                size,
                align_shift,
                zeroed,
            } => {
                let layout = Layout::from_size_align(size.max(1), 1 << align_shift).unwrap();
                // SAFETY: non-zero size.
                let ptr = unsafe {
                    if zeroed {
                        Strata.alloc_zeroed(layout)
                    } else {
                        Strata.alloc(layout)
                    }
                };
                assert!(!ptr.is_null());
                assert_eq!(ptr as usize % layout.align(), 0, "alignment of {layout:?}");
                if zeroed {
                    // SAFETY: the block holds layout.size() bytes.
                    assert!(
                        (0..layout.size()).all(|i| unsafe { *ptr.add(i) } == 0),
                        "zeroed {layout:?}"
                    );
                }
                fill(ptr, layout.size(), seed);
                live.push(Live { ptr, layout, seed });
            }
            Op::Realloc { slot, new_size } if !live.is_empty() => {
                let index = slot % live.len();
                let block = &mut live[index];
                verify(block.ptr, block.layout.size(), block.seed);
                let new_size = new_size.max(1);
                // SAFETY: a live block with its layout; non-zero new size.
                let ptr = unsafe { Strata.realloc(block.ptr, block.layout, new_size) };
                assert!(!ptr.is_null());
                assert_eq!(ptr as usize % block.layout.align(), 0);
                verify(ptr, block.layout.size().min(new_size), block.seed);
                block.ptr = ptr;
                block.layout = Layout::from_size_align(new_size, block.layout.align()).unwrap();
                fill(ptr, new_size, seed);
                block.seed = seed;
            }
            Op::Free { slot } if !live.is_empty() => {
                let block = live.swap_remove(slot % live.len());
                verify(block.ptr, block.layout.size(), block.seed);
                // SAFETY: a live block with its layout.
                unsafe { Strata.dealloc(block.ptr, block.layout) };
            }
            _ => {}
        }
    }
    for block in live {
        verify(block.ptr, block.layout.size(), block.seed);
        // SAFETY: as above.
        unsafe { Strata.dealloc(block.ptr, block.layout) };
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_alloc_realloc_free_keep_every_byte(ops in proptest::collection::vec(op_strategy(), 1..300)) {
        run(ops);
    }
}

#[test]
fn every_alignment_up_to_four_mib_is_honoured() {
    for shift in 0..=22u32 {
        for size in [1usize, 24, 600, 5000, 200_000] {
            let layout = Layout::from_size_align(size, 1 << shift).unwrap();
            // SAFETY: non-zero size.
            let ptr = unsafe { Strata.alloc(layout) };
            assert!(!ptr.is_null());
            assert_eq!(ptr as usize % layout.align(), 0, "{layout:?}");
            fill(ptr, size, 3);
            verify(ptr, size, 3);
            // SAFETY: live block.
            unsafe { Strata.dealloc(ptr, layout) };
        }
    }
}

#[test]
fn realloc_within_the_block_stays_in_place() {
    let layout = Layout::from_size_align(100, 8).unwrap();
    // SAFETY: non-zero sizes, live blocks.
    unsafe {
        let p = Strata.alloc(layout);
        let q = Strata.realloc(p, layout, 104);
        assert_eq!(p, q, "100 and 104 bytes share the 104-byte class");
        Strata.dealloc(q, Layout::from_size_align(104, 8).unwrap());
    }
}

#[test]
fn impossible_requests_return_null() {
    let layout = Layout::from_size_align(isize::MAX as usize - 4096, 8).unwrap();
    // SAFETY: non-zero size; a null result is the expected answer.
    let ptr = unsafe { Strata.alloc(layout) };
    assert!(ptr.is_null());
}
