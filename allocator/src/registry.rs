//! Which regions of the address space are strata's.
//!
//! Every arena and every huge mapping starts on an [`ARENA_SIZE`] boundary; one
//! bit per such chunk of the 47-bit user address space records whether a strata
//! header lives there. The table is 4 MiB of zero-initialised static memory that
//! the OS backs only where a bit is ever set, and one atomic load answers "did
//! strata hand out this pointer?" without touching memory that might not be
//! mapped. The release fast path does not need it (a `GlobalAlloc` caller
//! promises its pointers are ours); the debug checks and the C API do.

use crate::arena::ARENA_SIZE;
use core::sync::atomic::{AtomicU64, Ordering};

const ADDRESS_BITS: u32 = 47;
const CHUNKS: usize = 1 << (ADDRESS_BITS - ARENA_SIZE.trailing_zeros());
const WORDS: usize = CHUNKS / 64;

static CHUNK_BITS: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

#[inline]
fn slot(chunk_base: usize) -> Option<(usize, u64)> {
    let chunk = chunk_base / ARENA_SIZE;
    (chunk < CHUNKS).then(|| (chunk / 64, 1u64 << (chunk % 64)))
}

/// Records that a strata header now lives at `chunk_base`.
pub fn register(chunk_base: usize) {
    debug_assert!(chunk_base % ARENA_SIZE == 0);
    if let Some((word, bit)) = slot(chunk_base) {
        // Release: a reader that sees the bit also sees the header written before.
        CHUNK_BITS[word].fetch_or(bit, Ordering::Release);
    }
}

/// Records that the chunk at `chunk_base` is about to be unmapped.
pub fn unregister(chunk_base: usize) {
    if let Some((word, bit)) = slot(chunk_base) {
        CHUNK_BITS[word].fetch_and(!bit, Ordering::Release);
    }
}

/// Whether a strata header lives at `chunk_base` (an `ARENA_SIZE` multiple).
#[inline]
pub fn is_registered(chunk_base: usize) -> bool {
    match slot(chunk_base) {
        // Acquire pairs with `register`, so the header is visible.
        Some((word, bit)) => CHUNK_BITS[word].load(Ordering::Acquire) & bit != 0,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registering_a_chunk_is_seen_and_unregistering_forgets_it() {
        let base = 0x5555_0000_0000usize.next_multiple_of(ARENA_SIZE) + 7 * ARENA_SIZE;
        assert!(!is_registered(base));
        register(base);
        assert!(is_registered(base));
        assert!(!is_registered(base + ARENA_SIZE));
        unregister(base);
        assert!(!is_registered(base));
    }

    #[test]
    fn addresses_beyond_the_user_half_are_never_ours() {
        assert!(!is_registered(usize::MAX & !(ARENA_SIZE - 1)));
    }
}
