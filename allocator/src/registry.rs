//! Which regions of the address space are strata's, and what kind of header
//! each holds.
//!
//! Every arena and every huge mapping starts on an [`ARENA_SIZE`] boundary;
//! one byte per such chunk of the 47-bit user address space records whether a
//! strata header lives there and whether it is an arena's or a huge block's.
//! The table is 32 MiB of zero-initialised static memory that the OS backs
//! only where a byte is ever set (a page per 16 GiB of address space used).
//! One load answers "did strata hand out this pointer, and from a pool?"
//! without touching memory that might not be mapped, which is what lets
//! `free` find a pool block's descriptor with no other test.

use crate::arena::ARENA_SIZE;
use core::sync::atomic::{AtomicU8, Ordering};

const ADDRESS_BITS: u32 = 47;
const CHUNK_SHIFT: u32 = ARENA_SIZE.trailing_zeros();
const CHUNKS: usize = 1 << (ADDRESS_BITS - CHUNK_SHIFT);

/// What lives at the start of a chunk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Kind {
    /// Nothing of strata's.
    None = 0,
    /// An arena header: the chunk's pointers are pool blocks.
    Arena = 1,
    /// A huge block's header.
    Huge = 2,
}

static CHUNK_KINDS: [AtomicU8; CHUNKS] = [const { AtomicU8::new(0) }; CHUNKS];

#[inline(always)]
fn slot(chunk_base: usize) -> Option<&'static AtomicU8> {
    CHUNK_KINDS.get(chunk_base >> CHUNK_SHIFT)
}

/// Records that a header of `kind` now lives at `chunk_base`.
pub fn register(chunk_base: usize, kind: Kind) {
    debug_assert!(chunk_base % ARENA_SIZE == 0);
    if let Some(slot) = slot(chunk_base) {
        // Release: a reader that sees the kind also sees the header written before.
        slot.store(kind as u8, Ordering::Release);
    }
}

/// Records that the chunk at `chunk_base` is about to be unmapped.
pub fn unregister(chunk_base: usize) {
    if let Some(slot) = slot(chunk_base) {
        slot.store(Kind::None as u8, Ordering::Release);
    }
}

/// Whether a strata header lives at `chunk_base` (an `ARENA_SIZE` multiple).
#[inline]
pub fn is_registered(chunk_base: usize) -> bool {
    kind(chunk_base) != Kind::None
}

/// The kind of header at `chunk_base` (an `ARENA_SIZE` multiple).
#[inline]
pub fn kind(chunk_base: usize) -> Kind {
    // Acquire pairs with `register`, so the header is visible.
    match slot(chunk_base).map(|slot| slot.load(Ordering::Acquire)) {
        Some(1) => Kind::Arena,
        Some(2) => Kind::Huge,
        _ => Kind::None,
    }
}

/// Whether `ptr` lies in an arena's chunk, i.e. may be a pool block: the one
/// test `free` needs to take its fast path (a shift, a compare and a load).
/// The arena's header lies in the chunk too; `free` rejects a pointer into
/// it on its slow path, where the pointer's descriptor is not a live pool.
#[inline(always)]
pub fn in_arena(ptr: *const u8) -> bool {
    // Acquire as in `kind`: an x86-64 plain load.
    slot(ptr as usize).is_some_and(|slot| slot.load(Ordering::Acquire) == Kind::Arena as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registering_a_chunk_is_seen_and_unregistering_forgets_it() {
        let base = 0x5555_0000_0000usize.next_multiple_of(ARENA_SIZE) + 7 * ARENA_SIZE;
        assert!(!is_registered(base));
        register(base, Kind::Arena);
        assert!(is_registered(base));
        assert_eq!(kind(base), Kind::Arena);
        assert!(in_arena((base + 64) as *const u8));
        assert!(
            in_arena(base as *const u8),
            "the whole chunk is the arena's"
        );
        register(base, Kind::Huge);
        assert_eq!(kind(base), Kind::Huge);
        assert!(!in_arena((base + 64) as *const u8));
        assert!(!is_registered(base + ARENA_SIZE));
        unregister(base);
        assert!(!is_registered(base));
    }

    #[test]
    fn addresses_beyond_the_user_half_are_never_ours() {
        assert!(!is_registered(usize::MAX & !(ARENA_SIZE - 1)));
        assert!(!in_arena(usize::MAX as *const u8));
        assert!(!in_arena(core::ptr::null()));
    }
}
