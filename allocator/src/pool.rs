//! Layer +2: a pool is a run of pages holding blocks of one size class.
//!
//! A pool's descriptor lives in its arena's header, not in the pool: blocks then
//! start on the page boundary, or at the block offset past it for small
//! classes (see [`crate::settings::block_offset`]), so a class whose size is a
//! multiple of an alignment the offset keeps serves that alignment, and the
//! pages of an idle pool can be handed back to the OS without losing its
//! bookkeeping.
//!
//! The descriptor keeps pymalloc's fields: the class, the count of blocks in use,
//! the head of the free-block list and the bump pointer into the never-used
//! tail. A new pool is not threaded into a list up front; blocks are carved from
//! the tail as they are first needed, so untouched pages stay untouched.
//!
//! Ownership: a pool belongs to one [`ThreadHeap`]. Only the owning thread
//! touches `free`, `bump`, `used`, `state` and the list links. Any other thread
//! that frees a block pushes it onto the pool's atomic `remote` list, and the
//! first such push also queues the pool on its owner's remote queue, so the
//! owner finds the blocks without scanning its pools. The list's head
//! carries the chain's length in its top bits, so the owner can take the
//! chain whole as its free list instead of walking it.

use crate::heap::ThreadHeap;
use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};

/// A free block: its first word links to the next free block.
#[repr(C)]
pub struct Block {
    pub next: *mut Block,
}

/// Where a pool sits in its owner's lists.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum PoolState {
    /// Page not in use as (the head of) a pool.
    Unused,
    /// The owner heap's current pool for its class: allocation pops from it.
    Current,
    /// Has free blocks; on the owner's `avail` list.
    Avail,
    /// Had no free block when last looked at; on the owner's `full` list.
    Full,
}

/// Blocks of at least this size: a current pool of theirs that empties is
/// given back to its arena at once, like any other empty pool. Smaller
/// classes keep an empty current pool, which a program that allocates and
/// frees one block at a time would otherwise take and give back on every
/// call; for these a block is a page or more, so the arena's lock costs
/// little next to touching it, while a current pool left holding one freed
/// block kept that block's pages resident for the rest of the run (CPython
/// started with 0.75 MiB so held, in one pool for each class from 16 to
/// 128 KiB).
pub const RELEASE_EMPTY_CURRENT_MIN: u32 = 16 * 1024;

/// The class recorded for a large block: a run of arena pages holding one
/// block of more than [`MEDIUM_MAX`](crate::size_class::MEDIUM_MAX) bytes
/// (see [`crate::arena::alloc_large`]). No heap list holds such a pool.
pub const LARGE_CLASS: u8 = crate::size_class::NUM_CLASSES as u8;
const _: () = assert!(crate::size_class::NUM_CLASSES < u8::MAX as usize);

/// The owner recorded for a large block: an address no heap has (the last
/// byte of the address space), so that every free of one, from any thread,
/// misses the owner test of the free fast path and reaches `free_remote`,
/// which gives its pages back.
pub const LARGE_OWNER: *mut ThreadHeap = usize::MAX as *mut ThreadHeap;

/// A pool descriptor. See the module docs for who may touch which field.
#[repr(C)]
pub struct Pool {
    // Cache line 1: the list and purge-candidate links and what the slow
    // paths read; changes rarely.
    /// The first block: the pool's first page plus the block offset.
    pub start: Cell<*mut u8>,
    pub prev: Cell<*mut Pool>,
    pub next: Cell<*mut Pool>,
    pub capacity: Cell<u32>,
    pub class: Cell<u8>,
    /// Pages in this pool; 0 while the descriptor is unused.
    pub pages: Cell<u8>,
    /// Whether the never-used tail is known to read as zero (fresh from the OS).
    pub zeroed: Cell<bool>,
    /// Whether falling to a quarter full makes this pool a purge candidate.
    pub purge_armed: Cell<bool>,
    /// When the pool became a purge candidate (0: it is not one).
    pub candidate_since: Cell<u64>,
    pub purge_prev: Cell<*mut Pool>,
    pub purge_next: Cell<*mut Pool>,
    // Cache line 2: written by the owner on every allocation and free, and
    // all that a free reads: `owner` (set when the pool is activated) sits
    // here too, so that a free touches one line of the descriptor, not two.
    // Other threads read it to tell a remote free from a local one, which
    // costs them a shared line, as it does in mimalloc's page header.
    _owner_line: CacheLine,
    pub free: Cell<*mut Block>,
    pub owner: AtomicPtr<ThreadHeap>,
    /// Blocks handed out and not yet returned to `free` (remote frees still
    /// count). Atomic only so that `stats()` may read it from another thread:
    /// the owner updates it with a plain load and store.
    pub used: AtomicU32,
    /// A local free with `used` below this goes to the slow path: 0 for the
    /// current pool (never), `u32::MAX` for a full one (always: it must move
    /// to the avail list), otherwise the point where it becomes empty or, if
    /// armed, sparse enough to have its free pages purged.
    pub slow_below: Cell<u32>,
    /// The never-used tail runs from `bump` to `end`; allocation carves it
    /// inline, so both sit on this line with `block_size`.
    pub bump: Cell<*mut u8>,
    pub end: Cell<*mut u8>,
    pub state: Cell<PoolState>,
    pub block_size: Cell<u32>,
    /// OS pages of this pool given back to the OS; the blocks that start in
    /// them are free but off the free list until the page is restored.
    pub purged: Cell<u128>,
    // Cache line 3: written by other threads, so that their frees do not
    // bounce the owner's line.
    _remote_line: CacheLine,
    pub remote: AtomicPtr<Block>,
    pub remote_next: AtomicPtr<Pool>,
    pub queued: AtomicBool,
}

/// A zero-sized field that starts a new 64-byte cache line in a `repr(C)` struct.
#[derive(Clone, Copy)]
#[repr(align(64))]
pub struct CacheLine;

const _: () = assert!(core::mem::size_of::<Pool>() == 192);

// SAFETY: the Cell fields are touched only by the owning thread (or under the
// arena lock before the pool is handed to its owner); cross-thread traffic goes
// through the atomic fields. See the module docs.
unsafe impl Sync for Pool {}

impl Pool {
    /// A descriptor that is not a pool; also the sentinel "current pool" of an
    /// empty heap: it has no free block and no tail, so allocation from it always
    /// falls to the slow path.
    #[allow(clippy::declare_interior_mutable_const)] // a template, copied into statics
    pub const UNUSED: Pool = Pool {
        free: Cell::new(ptr::null_mut()),
        used: AtomicU32::new(0),
        block_size: Cell::new(0),
        bump: Cell::new(ptr::null_mut()),
        end: Cell::new(ptr::null_mut()),
        owner: AtomicPtr::new(ptr::null_mut()),
        state: Cell::new(PoolState::Unused),
        class: Cell::new(0),
        pages: Cell::new(0),
        zeroed: Cell::new(false),
        capacity: Cell::new(0),
        start: Cell::new(ptr::null_mut()),
        prev: Cell::new(ptr::null_mut()),
        next: Cell::new(ptr::null_mut()),
        slow_below: Cell::new(0),
        purge_armed: Cell::new(false),
        purged: Cell::new(0),
        candidate_since: Cell::new(0),
        purge_prev: Cell::new(ptr::null_mut()),
        purge_next: Cell::new(ptr::null_mut()),
        remote: AtomicPtr::new(ptr::null_mut()),
        remote_next: AtomicPtr::new(ptr::null_mut()),
        queued: AtomicBool::new(false),
        _owner_line: CacheLine,
        _remote_line: CacheLine,
    };

    /// Makes this descriptor a fresh pool of `class` spanning `pages` pages from
    /// `start`, owned by `owner`.
    ///
    /// # Safety
    /// The caller holds the arena lock, the descriptor is unused, and
    /// `[start, start + pages * PAGE_SIZE)` is mapped and belongs to no block.
    pub unsafe fn activate(
        &self,
        class: usize,
        start: *mut u8,
        pages: usize,
        zeroed: bool,
        owner: *mut ThreadHeap,
    ) {
        let size = crate::size_class::CLASS_SIZE[class] as usize;
        // SAFETY: as the caller guarantees.
        unsafe { self.init(class as u8, size, start, pages, zeroed, owner) };
    }

    /// Makes this descriptor a large block: one block in use that spans all
    /// `pages` pages from `start`, owned by no heap (see [`LARGE_OWNER`]).
    ///
    /// # Safety
    /// As [`Pool::activate`].
    pub unsafe fn activate_large(&self, start: *mut u8, pages: usize) {
        use crate::arena::PAGE_SIZE;
        // SAFETY: as the caller guarantees.
        unsafe {
            self.init(
                LARGE_CLASS,
                pages * PAGE_SIZE,
                start,
                pages,
                false,
                LARGE_OWNER,
            )
        };
        self.bump.set(self.end.get());
        self.set_used(1);
        self.purge_armed.set(false);
    }

    /// Fills in a descriptor for blocks of `size` bytes.
    ///
    /// # Safety
    /// As [`Pool::activate`].
    unsafe fn init(
        &self,
        class: u8,
        size: usize,
        start: *mut u8,
        pages: usize,
        zeroed: bool,
        owner: *mut ThreadHeap,
    ) {
        use crate::arena::PAGE_SIZE;
        debug_assert_eq!(self.pages.get(), 0, "activating a pool in use");
        debug_assert_eq!(start as usize % PAGE_SIZE, 0, "a pool starts on a page");
        let offset = if (class as usize) < crate::size_class::SMALL_CLASSES {
            crate::settings::block_offset()
        } else {
            0
        };
        // SAFETY: the offset is less than a page, inside the pool.
        let start = unsafe { start.add(offset) };
        let capacity = (pages * PAGE_SIZE - offset) / size;
        self.free.set(ptr::null_mut());
        self.used.store(0, Ordering::Relaxed);
        self.block_size.set(size as u32);
        self.bump.set(start);
        // SAFETY: capacity * size <= pages * PAGE_SIZE, inside the pool.
        self.end.set(unsafe { start.add(capacity * size) });
        self.owner.store(owner, Ordering::Relaxed);
        self.state.set(PoolState::Unused);
        self.class.set(class);
        self.pages.set(pages as u8);
        self.zeroed.set(zeroed);
        self.capacity.set(capacity as u32);
        self.start.set(start);
        self.prev.set(ptr::null_mut());
        self.next.set(ptr::null_mut());
        self.slow_below.set(0);
        self.purge_armed.set(true);
        self.purged.set(0);
        self.candidate_since.set(0);
        self.purge_prev.set(ptr::null_mut());
        self.purge_next.set(ptr::null_mut());
        self.remote.store(ptr::null_mut(), Ordering::Relaxed);
        self.remote_next.store(ptr::null_mut(), Ordering::Relaxed);
        self.queued.store(false, Ordering::Relaxed);
    }

    #[inline(always)]
    pub fn used(&self) -> u32 {
        self.used.load(Ordering::Relaxed)
    }

    /// Owner only: a plain store, not an atomic read-modify-write.
    #[inline(always)]
    pub fn set_used(&self, used: u32) {
        self.used.store(used, Ordering::Relaxed);
    }

    /// Owner only: carves the next never-used block from the tail, or null.
    #[inline]
    pub fn carve(&self) -> *mut u8 {
        let block = self.bump.get();
        if block < self.end.get() {
            // SAFETY: block + size <= end, inside the pool.
            self.bump
                .set(unsafe { block.add(self.block_size.get() as usize) });
            self.set_used(self.used() + 1);
            block
        } else {
            ptr::null_mut()
        }
    }

    /// Owner only: whether an allocation from this pool would succeed.
    #[inline]
    pub fn has_free(&self) -> bool {
        !self.free.get().is_null() || self.bump.get() < self.end.get() || self.purged.get() != 0
    }

    /// Owner only: the state, and with it when local frees take the slow path.
    pub fn set_state(&self, state: PoolState) {
        self.state.set(state);
        self.slow_below.set(match state {
            // A big class's current pool that empties goes back to its arena
            // (see `ThreadHeap::settle`); a small one stays.
            PoolState::Current => (self.block_size.get() >= RELEASE_EMPTY_CURRENT_MIN) as u32,
            PoolState::Unused => 0,
            PoolState::Full => u32::MAX,
            PoolState::Avail if self.purge_armed.get() => self.capacity.get() / 4 + 1,
            PoolState::Avail => 1,
        });
    }

    /// Owner only: moves blocks freed by other threads to the local free list.
    /// Returns how many were taken.
    ///
    /// With the local free list empty (the usual case: the owner collects
    /// when its allocations ran the pool dry, or collects a pool it is not
    /// allocating from), the remote chain becomes the free list whole, and
    /// its length comes from the count that pushes keep in the head's top
    /// bits. Walking it instead, one dependent load per block of lines the
    /// freeing thread wrote last, took a third of the time of a thread
    /// whose blocks another thread frees.
    pub fn collect_remote(&self) -> u32 {
        // SeqCst pairs with `push_remote`: see there.
        let tagged = self.remote.swap(ptr::null_mut(), Ordering::SeqCst);
        let (mut block, chained) = untag(tagged);
        if block.is_null() {
            return 0;
        }
        if chained < REMOTE_COUNT_MAX && self.free.get().is_null() {
            debug_assert!(chained <= self.used());
            self.free.set(block);
            self.set_used(self.used() - chained);
            return chained;
        }
        let mut count = 0;
        while !block.is_null() {
            // SAFETY: blocks on the remote list are free blocks of this pool,
            // fully written before their Release/SeqCst push.
            let next = unsafe { (*block).next };
            // SAFETY: as above; the block is ours now.
            unsafe { (*block).next = self.free.get() };
            self.free.set(block);
            block = next;
            count += 1;
        }
        debug_assert!(count <= self.used());
        self.set_used(self.used() - count);
        count
    }

    /// Any thread but the owner: returns `block` to this pool.
    ///
    /// # Safety
    /// `block` is an allocated block of this pool that nobody uses any more.
    pub unsafe fn push_remote(&self, block: *mut Block) {
        let mut current = self.remote.load(Ordering::Relaxed);
        let mut head;
        loop {
            let chained;
            (head, chained) = untag(current);
            // SAFETY: the caller owns the block until the push succeeds.
            unsafe { (*block).next = head };
            let new = tag(block, (chained + 1).min(REMOTE_COUNT_MAX));
            // SeqCst (not just Release): together with the SeqCst swap of
            // `queued` below and the owner's SeqCst `queued` store followed by
            // its SeqCst `collect_remote` swap, it guarantees that either the
            // owner's collection sees this block or this push sees `queued`
            // cleared and queues the pool again. Release alone would allow both
            // to miss.
            match self.remote.compare_exchange_weak(
                current,
                new,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        if head.is_null() && !self.queued.swap(true, Ordering::SeqCst) {
            let owner = self.owner.load(Ordering::Acquire);
            // SAFETY: heaps are never unmapped, so even a stale owner is valid
            // memory; a heap that no longer owns the pool forwards it (see
            // `heap::process_remote_queue`).
            unsafe { (*owner).queue_remote_pool(self as *const Pool as *mut Pool) };
        }
    }

    /// The first byte of the pool's first page: `start` less the block
    /// offset (see [`crate::settings::block_offset`]).
    #[inline]
    pub fn base(&self) -> usize {
        self.start.get() as usize & !(crate::arena::PAGE_SIZE - 1)
    }

    /// Whether `ptr` is the start of a block of this pool that has been handed
    /// out at some point (not in the never-used tail).
    pub fn is_block_start(&self, ptr: *mut u8) -> bool {
        let start = self.start.get() as usize;
        let addr = ptr as usize;
        self.pages.get() != 0
            && addr >= start
            && addr < self.end.get() as usize
            && (addr - start) % self.block_size.get() as usize == 0
    }

    /// Owner only: whether `block` is on the local free list (debug checks).
    pub fn free_list_contains(&self, block: *mut Block) -> bool {
        let mut cursor = self.free.get();
        while !cursor.is_null() {
            if cursor == block {
                return true;
            }
            // SAFETY: the free list links only free blocks of this pool.
            cursor = unsafe { (*cursor).next };
        }
        false
    }
}

/// Bits of a remote-list head above the block address: the length of the
/// chain, so that the owner can take the chain whole without walking it.
/// Pool blocks lie in arenas, which the registry covers only below 2^47
/// (see `registry.rs`), so the top 16 bits of their addresses are zero.
const REMOTE_COUNT_SHIFT: u32 = 48;
/// The count saturates here; a saturated chain is walked to be counted.
const REMOTE_COUNT_MAX: u32 = (1 << (usize::BITS - REMOTE_COUNT_SHIFT)) - 1;
const REMOTE_ADDRESS_MASK: usize = (1 << REMOTE_COUNT_SHIFT) - 1;

/// A remote-list head: `block` with the chain's length in the top bits.
fn tag(block: *mut Block, count: u32) -> *mut Block {
    debug_assert!(block as usize & !REMOTE_ADDRESS_MASK == 0);
    // Pointer arithmetic rather than an integer round trip, so the head
    // keeps the block's provenance.
    block.wrapping_byte_add((count as usize) << REMOTE_COUNT_SHIFT)
}

/// The first block and the length of a remote-list head.
fn untag(head: *mut Block) -> (*mut Block, u32) {
    let count = (head as usize >> REMOTE_COUNT_SHIFT) as u32;
    let count_bits = head as usize & !REMOTE_ADDRESS_MASK;
    (head.wrapping_byte_sub(count_bits), count)
}

/// An intrusive doubly linked list of pools, through `Pool::prev`/`next`.
pub struct PoolList {
    head: Cell<*mut Pool>,
}

impl PoolList {
    #[allow(clippy::declare_interior_mutable_const)] // a template for array initialisers
    pub const EMPTY: PoolList = PoolList {
        head: Cell::new(ptr::null_mut()),
    };

    /// # Safety
    /// `pool` is a valid descriptor on no list.
    pub unsafe fn push(&self, pool: *mut Pool) {
        // SAFETY: the caller guarantees `pool` and the list's pools are valid.
        unsafe {
            let head = self.head.get();
            (*pool).prev.set(ptr::null_mut());
            (*pool).next.set(head);
            if !head.is_null() {
                (*head).prev.set(pool);
            }
        }
        self.head.set(pool);
    }

    /// # Safety
    /// `pool` is on this list.
    pub unsafe fn remove(&self, pool: *mut Pool) {
        // SAFETY: the caller guarantees `pool` is linked here, so its neighbours
        // are valid list members.
        unsafe {
            let prev = (*pool).prev.get();
            let next = (*pool).next.get();
            if prev.is_null() {
                debug_assert_eq!(self.head.get(), pool);
                self.head.set(next);
            } else {
                (*prev).next.set(next);
            }
            if !next.is_null() {
                (*next).prev.set(prev);
            }
            (*pool).prev.set(ptr::null_mut());
            (*pool).next.set(ptr::null_mut());
        }
    }

    /// Visits every pool on the list.
    pub fn for_each(&self, mut visit: impl FnMut(*mut Pool)) {
        let mut pool = self.head.get();
        while !pool.is_null() {
            // SAFETY: list members are live pools; read the link first.
            let next = unsafe { (*pool).next.get() };
            visit(pool);
            pool = next;
        }
    }

    /// Unlinks and returns the first pool, or null.
    pub fn pop(&self) -> *mut Pool {
        let head = self.head.get();
        if !head.is_null() {
            // SAFETY: head is on this list.
            unsafe { self.remove(head) };
        }
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_head_carries_its_chain_length_and_gives_back_the_block() {
        let mut one = Block {
            next: ptr::null_mut(),
        };
        let block: *mut Block = &mut one;
        for count in [0, 1, 2047, REMOTE_COUNT_MAX] {
            let (back, length) = untag(tag(block, count));
            assert_eq!((back, length), (block, count));
        }
        assert_eq!(untag(ptr::null_mut()), (ptr::null_mut(), 0));
    }
}
