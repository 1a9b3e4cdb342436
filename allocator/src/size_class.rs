//! Size classes: which block size serves a request.
//!
//! * **Small** classes, as in pymalloc: every multiple of 8 from 8 to 512 bytes
//!   (64 classes, index `size/8 - 1`). Eight bytes is the smallest block that can
//!   hold a free-list link, and 8-byte steps waste at most 7 bytes a block.
//! * **Medium** classes above 512 bytes: four per power of two (`1.25, 1.5, 1.75,
//!   2 x 2^k`), up to [`MEDIUM_MAX`] = 128 KiB. Four steps bound the rounding
//!   loss at 20% (25% for the first step) while keeping the class count small.
//!   Every medium size is a multiple of 128, and each power of two is a class,
//!   so an aligned request always finds a class whose size is a multiple of its
//!   alignment (up to the page size).
//! * Anything larger, or aligned beyond a page, is **huge**: mapped directly.
//!
//! Size to class is arithmetic for small sizes and one lookup in a table
//! computed at compile time for medium ones; no loops.

use crate::arena::{PAGE_SIZE, POOL_PAGES_MAX};

/// Largest small block; the pymalloc threshold.
pub const SMALL_MAX: usize = 512;
/// Number of small classes.
pub const SMALL_CLASSES: usize = SMALL_MAX / 8;
/// Largest medium block. Above this, a pool of at least four blocks would span
/// more than a quarter of an arena, and a direct mapping's fixed cost becomes
/// small next to the cost of touching the memory.
pub const MEDIUM_MAX: usize = 128 * 1024;
/// Number of medium classes: four for each power of two from 512 to 128 KiB.
pub const MEDIUM_CLASSES: usize =
    4 * (MEDIUM_MAX.trailing_zeros() - SMALL_MAX.trailing_zeros()) as usize;
/// All pooled classes.
pub const NUM_CLASSES: usize = SMALL_CLASSES + MEDIUM_CLASSES;

/// Granularity of the medium lookup table.
const MEDIUM_STEP: usize = 128;

/// Block size of every class.
pub static CLASS_SIZE: [u32; NUM_CLASSES] = class_sizes();
/// Pages (of [`PAGE_SIZE`]) in a pool of every class.
pub static CLASS_PAGES: [u8; NUM_CLASSES] = class_pages();

static MEDIUM_LOOKUP: [u8; MEDIUM_MAX / MEDIUM_STEP + 1] = medium_lookup();

const fn class_sizes() -> [u32; NUM_CLASSES] {
    let mut sizes = [0u32; NUM_CLASSES];
    let mut i = 0;
    while i < SMALL_CLASSES {
        sizes[i] = 8 * (i as u32 + 1);
        i += 1;
    }
    let mut base = SMALL_MAX;
    while i < NUM_CLASSES {
        let mut step = 1;
        while step <= 4 {
            sizes[i] = (base + base / 4 * step) as u32;
            i += 1;
            step += 1;
        }
        base *= 2;
    }
    sizes
}

/// Pages per pool: the smallest run that holds at least 8 blocks (4 above
/// 16 KiB), then, among up to four times that, the one that wastes the least of
/// its tail. Small classes always get one page, as in pymalloc.
const fn class_pages() -> [u8; NUM_CLASSES] {
    let sizes = class_sizes();
    let mut pages = [1u8; NUM_CLASSES];
    let mut i = SMALL_CLASSES;
    while i < NUM_CLASSES {
        let size = sizes[i] as usize;
        let min_blocks = if size <= 16 * 1024 { 8 } else { 4 };
        let mut n = (size * min_blocks).div_ceil(PAGE_SIZE);
        let limit = n * 4;
        let mut best = n;
        let mut best_waste = (n * PAGE_SIZE) % size * 1000 / (n * PAGE_SIZE);
        while n <= limit && n <= POOL_PAGES_MAX {
            let waste = (n * PAGE_SIZE) % size * 1000 / (n * PAGE_SIZE);
            if waste < best_waste {
                best = n;
                best_waste = waste;
            }
            n += 1;
        }
        pages[i] = best as u8;
        i += 1;
    }
    pages
}

const fn medium_lookup() -> [u8; MEDIUM_MAX / MEDIUM_STEP + 1] {
    let sizes = class_sizes();
    let mut table = [0u8; MEDIUM_MAX / MEDIUM_STEP + 1];
    let mut slot = 0;
    let mut class = SMALL_CLASSES;
    while slot < table.len() {
        while (sizes[class] as usize) < slot * MEDIUM_STEP {
            class += 1;
        }
        table[slot] = class as u8;
        slot += 1;
    }
    table
}

/// The class for `size` bytes (1 ..= [`MEDIUM_MAX`]), alignment 8.
#[inline(always)]
pub fn class_of(size: usize) -> usize {
    debug_assert!(size <= MEDIUM_MAX);
    if size <= SMALL_MAX {
        // Class i holds 8 * (i + 1) bytes; size 0 shares class 0.
        size.max(1).div_ceil(8) - 1
    } else {
        MEDIUM_LOOKUP[size.div_ceil(MEDIUM_STEP)] as usize
    }
}

/// The class for a request of `size` bytes aligned to `align`, or `None` when it
/// must be served as a huge block.
#[inline(always)]
pub fn class_for(size: usize, align: usize) -> Option<usize> {
    if align <= 8 {
        // One compare covers 1..=SMALL_MAX (zero wraps past it), and the
        // class is one shift: class i holds 8 * (i + 1) bytes.
        if size.wrapping_sub(1) < SMALL_MAX {
            return Some((size - 1) >> 3);
        }
        if size <= MEDIUM_MAX {
            return Some(class_of(size.max(1)));
        }
        return None;
    }
    if align == 16 {
        // C's malloc alignment: small classes come in steps of 8, so rounding
        // up to 16 lands on a multiple of 16; medium classes are all
        // multiples of 128.
        // Compare before rounding: rounding `usize::MAX` up would overflow,
        // and MEDIUM_MAX is a multiple of 16, so a size within it stays so.
        // One compare covers 1..=SMALL_MAX (zero wraps past it).
        if size.wrapping_sub(1) < SMALL_MAX {
            // The class of 16 * ceil(size / 16): arithmetic, no table load.
            return Some((size - 1) / 16 * 2 + 1);
        }
        if size <= MEDIUM_MAX {
            // Zero gets the 16-byte class, like a request of one byte.
            return Some(if size == 0 { 1 } else { class_of(size) });
        }
        return None;
    }
    class_for_aligned(size, align)
}

/// Requests aligned beyond 8: a class whose size is a multiple of the alignment,
/// and whose pools start their blocks at a multiple of it. Pools start on page
/// boundaries, and medium classes' blocks on the page, so every block of such a
/// class is aligned; small classes' blocks start at the block offset
/// ([`crate::settings::block_offset`]), which is a multiple of 16 but, at 16
/// or 48, of no larger power of two: a request aligned to 32 or more then
/// takes a medium class.
#[inline]
fn class_for_aligned(size: usize, align: usize) -> Option<usize> {
    if align > PAGE_SIZE {
        return None;
    }
    let rounded = size.max(1).checked_next_multiple_of(align)?;
    if rounded > MEDIUM_MAX {
        return None;
    }
    // At most three steps: each power of two is a class, and a power of two at
    // least `align` is a multiple of it. Written as a search over the table
    // (no index that could be out of bounds), so the allocation paths that
    // inline this hold no panic call, and keep no stack frame for one.
    let mut first = class_of(rounded);
    if first < SMALL_CLASSES && !crate::settings::block_offset_keeps(align) {
        first = SMALL_CLASSES;
    }
    CLASS_SIZE
        .iter()
        .enumerate()
        .skip(first)
        .find(|&(_, &size)| size as usize % align == 0)
        .map(|(class, _)| class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_classes_are_every_multiple_of_eight() {
        assert_eq!(SMALL_CLASSES, 64);
        for size in 1..=SMALL_MAX {
            let class = class_of(size);
            assert_eq!(CLASS_SIZE[class] as usize, size.next_multiple_of(8));
        }
    }

    #[test]
    fn every_size_gets_the_smallest_class_that_fits() {
        for size in 1..=MEDIUM_MAX {
            let class = class_of(size);
            assert!(CLASS_SIZE[class] as usize >= size, "size {size}");
            if class > 0 {
                assert!((CLASS_SIZE[class - 1] as usize) < size, "size {size}");
            }
        }
    }

    #[test]
    fn medium_classes_are_four_per_doubling_and_end_at_medium_max() {
        assert_eq!(MEDIUM_CLASSES, 32);
        assert_eq!(CLASS_SIZE[SMALL_CLASSES], 640);
        assert_eq!(CLASS_SIZE[SMALL_CLASSES + 3], 1024);
        assert_eq!(CLASS_SIZE[NUM_CLASSES - 1] as usize, MEDIUM_MAX);
        for pair in CLASS_SIZE[SMALL_CLASSES - 1..].windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[1] as f64 / pair[0] as f64 <= 1.26);
        }
    }

    #[test]
    fn sizes_near_the_top_of_the_address_space_get_no_class() {
        for align in [1, 8, 16, 32, 4096] {
            assert_eq!(class_for(usize::MAX, align), None);
            assert_eq!(class_for(usize::MAX - 8, align), None);
        }
    }

    #[test]
    fn every_request_up_to_malloc_alignment_gets_the_smallest_class_that_fits() {
        for align in [1, 2, 4, 8, 16] {
            for size in 0..=MEDIUM_MAX + 1 {
                let expected = (0..NUM_CLASSES).find(|&c| {
                    let block = CLASS_SIZE[c] as usize;
                    block >= size.max(1) && block % align == 0
                });
                assert_eq!(
                    class_for(size, align),
                    expected,
                    "size {size} align {align}"
                );
            }
        }
    }

    #[test]
    fn aligned_requests_get_classes_that_are_multiples_of_the_alignment() {
        for shift in 3..=PAGE_SIZE.trailing_zeros() {
            let align = 1usize << shift;
            for size in [1, 7, 8, 24, 100, 500, 513, 1000, 4096, 5000, 20000, 100000] {
                if let Some(class) = class_for(size, align) {
                    let block = CLASS_SIZE[class] as usize;
                    assert!(
                        block >= size && block % align == 0,
                        "{size}/{align} -> {block}"
                    );
                }
            }
        }
        assert_eq!(class_for(16, PAGE_SIZE * 2), None);
        assert_eq!(class_for(MEDIUM_MAX + 1, 8), None);
    }

    #[test]
    fn pools_hold_enough_blocks_and_fit_an_arena() {
        for class in 0..NUM_CLASSES {
            let pages = CLASS_PAGES[class] as usize;
            let blocks = pages * PAGE_SIZE / CLASS_SIZE[class] as usize;
            assert!(pages <= POOL_PAGES_MAX);
            assert!(blocks >= 4, "class {class}: {blocks} blocks");
        }
    }
}
