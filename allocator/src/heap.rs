//! Layer +2, per thread: a [`ThreadHeap`] owns, for every size class, the
//! pool it allocates from now (`current`), the pools with free blocks
//! (`avail`) and the pools that were full when last seen (`full`), like
//! pymalloc's `usedpools`, but one set per thread so the fast paths touch no
//! atomics and take no lock.
//!
//! Allocation pops the current pool's free list; free pushes onto the pool's
//! free list when the freeing thread owns the pool and onto its remote list
//! otherwise. Everything else (carving the tail, switching pools, collecting
//! remote frees, taking a pool from an arena) is out of line.

use crate::arena::{self, Arena};
use crate::pool::{Block, Pool, PoolList, PoolState, LARGE_OWNER};
use crate::size_class::NUM_CLASSES;
use crate::{check, large, registry, thread};
use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// One size class's pools in one heap.
pub struct ClassPools {
    pub current: Cell<*mut Pool>,
    pub avail: PoolList,
    pub full: PoolList,
}

/// The pools of one thread (or of the orphanage: see `thread.rs`).
#[repr(C)]
pub struct ThreadHeap {
    /// Whether this thread's requests take the checked path: true until
    /// debug mode is known to be off (see `raw::Here::checked`). Kept in
    /// the heap because the fast paths load the heap anyway, so the test
    /// costs one compare with no extra load. First, so that it shares its
    /// page with the class table: `malloc` and `free` then touch one page of
    /// the heap, not two (one TLB entry fewer per call).
    pub checked: AtomicBool,
    pub classes: [ClassPools; NUM_CLASSES],
    /// Pools of this heap that other threads freed blocks into (a Treiber stack
    /// through `Pool::remote_next`; the owner takes it whole).
    remote_queue: AtomicPtr<Pool>,
    /// Link in the list of heaps waiting for a new thread.
    pub recycle_next: Cell<*mut ThreadHeap>,
    /// Sparse avail pools waiting for the purge delay, oldest first (through
    /// `Pool::purge_prev`/`purge_next`).
    candidates_head: Cell<*mut Pool>,
    candidates_tail: Cell<*mut Pool>,
    /// No purge pass before this time (ms), so slow paths read the clock but
    /// rarely walk the candidates.
    next_purge_check: Cell<u64>,
    /// Per-type caches (layer +3), indexed by cache.
    pub type_slots: [crate::type_cache::TypeSlot; crate::type_cache::MAX_TYPE_CACHES],
    /// Per-class caches (layer +3, `ClassCache`), indexed by size class.
    pub class_cache: [crate::type_cache::ClassList; NUM_CLASSES],
    /// Link in the list of every heap ever made (heaps are never unmapped).
    pub all_next: Cell<*mut ThreadHeap>,
    /// Blocks this thread freed into other threads' pools, and blocks other
    /// threads freed that this heap collected: per-thread counters (plain
    /// load and store) whose difference, summed, is the remote frees pending.
    pub remote_issued: AtomicU64,
    pub remote_collected: AtomicU64,
}

// The fast paths read `checked` and then a small class's current pool: both
// lie in the heap's first OS page (heaps start on a page: see `thread.rs`).
const _: () = assert!(
    core::mem::offset_of!(ThreadHeap, checked) == 0
        && core::mem::offset_of!(ThreadHeap, classes)
            + crate::size_class::SMALL_CLASSES * core::mem::size_of::<ClassPools>()
            <= crate::os::OS_PAGE
);

// SAFETY: the Cell fields are touched only by the owning thread (the orphanage:
// by whoever holds its lock); other threads only push onto `remote_queue`.
unsafe impl Sync for ThreadHeap {}

/// The current pool of every class of a heap that owns nothing: it has no free
/// block and no tail, so allocation from it always takes the slow path.
pub static EMPTY_POOL: Pool = Pool::UNUSED;

/// What a thread uses before its first allocation: every class's current pool
/// is [`EMPTY_POOL`], so the fast path needs no "is there a heap" test.
pub static EMPTY_HEAP: ThreadHeap = ThreadHeap::new();

#[inline(always)]
fn empty_pool() -> *mut Pool {
    &EMPTY_POOL as *const Pool as *mut Pool
}

impl ThreadHeap {
    pub const fn new() -> ThreadHeap {
        ThreadHeap {
            classes: [const {
                ClassPools {
                    current: Cell::new(&raw const EMPTY_POOL as *mut Pool),
                    avail: PoolList::EMPTY,
                    full: PoolList::EMPTY,
                }
            }; NUM_CLASSES],
            remote_queue: AtomicPtr::new(ptr::null_mut()),
            recycle_next: Cell::new(ptr::null_mut()),
            candidates_head: Cell::new(ptr::null_mut()),
            candidates_tail: Cell::new(ptr::null_mut()),
            next_purge_check: Cell::new(0),
            type_slots: [crate::type_cache::TypeSlot::EMPTY; crate::type_cache::MAX_TYPE_CACHES],
            class_cache: [crate::type_cache::ClassList::EMPTY; NUM_CLASSES],
            all_next: Cell::new(ptr::null_mut()),
            remote_issued: AtomicU64::new(0),
            remote_collected: AtomicU64::new(0),
            checked: AtomicBool::new(true),
        }
    }

    /// Any thread: tells this heap that `pool` has blocks on its remote list.
    ///
    /// # Safety
    /// `pool` is a live pool whose `queued` flag the caller just set, and
    /// which is on no other remote queue.
    pub unsafe fn queue_remote_pool(&self, pool: *mut Pool) {
        let mut head = self.remote_queue.load(Ordering::Relaxed);
        loop {
            // SAFETY: the caller owns the pool's queue link (queued was false).
            unsafe { (*pool).remote_next.store(head, Ordering::Relaxed) };
            // Release: the owner's Acquire swap then sees the link.
            match self.remote_queue.compare_exchange_weak(
                head,
                pool,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(current) => head = current,
            }
        }
    }

    /// Owner only: takes the whole remote queue.
    pub fn take_remote_queue(&self) -> *mut Pool {
        if self.remote_queue.load(Ordering::Relaxed).is_null() {
            return ptr::null_mut();
        }
        // Acquire pairs with the Release push in `queue_remote_pool`.
        self.remote_queue.swap(ptr::null_mut(), Ordering::Acquire)
    }

    /// Owner only: collects the remote frees of every queued pool this heap
    /// owns and settles the pools; forwards pools it no longer owns.
    pub fn process_remote_queue(&self, orphan_lock_held: bool) {
        let mut pool = self.take_remote_queue();
        while !pool.is_null() {
            // SAFETY: queued pools are live until dequeued (a queued pool is
            // never released); read the link before the pool can be re-queued.
            let pool_ref = unsafe { &*pool };
            let next = pool_ref.remote_next.load(Ordering::Relaxed);
            if ptr::eq(pool_ref.owner.load(Ordering::Relaxed), self) {
                self.settle_queued(pool);
            } else {
                thread::forward_queued_pool(pool, orphan_lock_held);
            }
            pool = next;
        }
    }

    /// Owner only: gives back the current pool of its class, which is empty
    /// and on no remote queue. Out of line, so that `settle` keeps its
    /// short prologue for the common transitions.
    #[cold]
    #[inline(never)]
    fn release_current(&self, pool: *mut Pool) {
        // SAFETY: the caller owns the live pool.
        let class = unsafe { (*pool).class.get() } as usize;
        self.classes[class].current.set(empty_pool());
        thread::pool_left_heap(self);
        // SAFETY: empty, on no list (the current pool is on none) and no
        // remote queue.
        unsafe { arena::release_pool(pool) };
    }

    /// Owner only: a pool of ours just left a remote queue.
    pub fn settle_queued(&self, pool: *mut Pool) {
        // SAFETY: the caller owns the live pool.
        let pool_ref = unsafe { &*pool };
        // SeqCst: see `Pool::push_remote`.
        pool_ref.queued.store(false, Ordering::SeqCst);
        self.collect_remote(pool_ref);
        // A current pool stays current here, even if it emptied: the
        // allocation paths that process the queue go on using it.
        if pool_ref.state.get() != PoolState::Current {
            self.settle(pool);
        }
    }

    /// Owner only: puts a pool whose free count changed on the right list,
    /// gives it back to its arena when it is empty, and makes it a purge
    /// candidate when it turns sparse.
    ///
    /// `extern "C"` because the free fast path calls it: see `alloc_refill`.
    pub extern "C" fn settle(&self, pool: *mut Pool) {
        // SAFETY: the caller owns the live pool.
        let pool_ref = unsafe { &*pool };
        let lists = &self.classes[pool_ref.class.get() as usize];
        match pool_ref.state.get() {
            PoolState::Full if pool_ref.has_free() => {
                // SAFETY: the pool is on our full list.
                unsafe { lists.full.remove(pool) };
                pool_ref.set_state(PoolState::Avail);
                // SAFETY: now on no list.
                unsafe { lists.avail.push(pool) };
                self.settle(pool);
            }
            // A queued pool waits: its owner's queue still links it.
            PoolState::Avail if pool_ref.used() == 0 && !pool_ref.queued.load(Ordering::SeqCst) => {
                self.leave_avail(pool);
                thread::pool_left_heap(self);
                // SAFETY: empty, on no list and no remote queue.
                unsafe { arena::release_pool(pool) };
            }
            PoolState::Avail if pool_ref.used() == 0 => {}
            // Only the free path brings a current pool here (its `slow_below`
            // is 1 for big classes; `settle_queued` skips current pools):
            // give it back; the next allocation of the class finds another.
            PoolState::Current
                if pool_ref.used() == 0 && !pool_ref.queued.load(Ordering::SeqCst) =>
            {
                self.release_current(pool);
            }
            PoolState::Avail
                if pool_ref.purge_armed.get() && pool_ref.used() < pool_ref.slow_below.get() =>
            {
                pool_ref.purge_armed.set(false);
                pool_ref.set_state(PoolState::Avail);
                let now = crate::os::now_ms();
                self.add_candidate(pool, now);
                self.purge_candidates(now, false);
            }
            _ => {}
        }
    }

    /// Owner only: collects remote frees and gives back the free pages of
    /// every pool with room, without waiting for the purge delay.
    pub fn purge_all(&self) {
        self.process_remote_queue(false);
        for lists in &self.classes {
            let current = lists.current.get();
            if !ptr::eq(current, &EMPTY_POOL) {
                // SAFETY: our current pool.
                let current_ref = unsafe { &*current };
                self.collect_remote(current_ref);
                crate::purge::purge_pool(current_ref);
            }
            lists.avail.for_each(|pool| {
                self.remove_candidate(pool);
                // SAFETY: our avail pool.
                crate::purge::purge_pool(unsafe { &*pool });
            });
        }
    }

    /// Owner only: takes the blocks other threads freed into `pool`.
    pub fn collect_remote(&self, pool: &Pool) -> u32 {
        let count = pool.collect_remote();
        add(&self.remote_collected, count as u64);
        count
    }

    /// Owner only: unlinks an avail pool from the avail and candidate lists.
    pub fn leave_avail(&self, pool: *mut Pool) {
        // SAFETY: the caller owns the live pool, which is on our avail list.
        let pool_ref = unsafe { &*pool };
        // SAFETY: as above.
        unsafe {
            self.classes[pool_ref.class.get() as usize]
                .avail
                .remove(pool)
        };
        self.remove_candidate(pool);
    }

    fn add_candidate(&self, pool: *mut Pool, now: u64) {
        // SAFETY: the caller owns the live pool, which is on no candidate list.
        let pool_ref = unsafe { &*pool };
        pool_ref.candidate_since.set(now.max(1));
        pool_ref.purge_next.set(ptr::null_mut());
        let tail = self.candidates_tail.get();
        pool_ref.purge_prev.set(tail);
        if tail.is_null() {
            self.candidates_head.set(pool);
        } else {
            // SAFETY: candidates are live pools of ours.
            unsafe { (*tail).purge_next.set(pool) };
        }
        self.candidates_tail.set(pool);
    }

    pub fn remove_candidate(&self, pool: *mut Pool) {
        // SAFETY: the caller owns the live pool.
        let pool_ref = unsafe { &*pool };
        if pool_ref.candidate_since.get() == 0 {
            return;
        }
        let prev = pool_ref.purge_prev.get();
        let next = pool_ref.purge_next.get();
        // SAFETY: neighbours on the candidate list are live pools of ours.
        unsafe {
            if prev.is_null() {
                self.candidates_head.set(next);
            } else {
                (*prev).purge_next.set(next);
            }
            if next.is_null() {
                self.candidates_tail.set(prev);
            } else {
                (*next).purge_prev.set(prev);
            }
        }
        pool_ref.candidate_since.set(0);
    }

    /// Owner only: purges the free pages of candidates that stayed sparse for
    /// the purge delay (every candidate if `force`), and arenas' free pages.
    pub fn purge_candidates(&self, now: u64, force: bool) {
        if !force && now < self.next_purge_check.get() {
            return;
        }
        let delay = arena::purge_delay_ms();
        self.next_purge_check.set(now + (delay / 4).max(1));
        loop {
            let pool = self.candidates_head.get();
            if pool.is_null() {
                break;
            }
            // SAFETY: candidates are live pools of ours.
            let pool_ref = unsafe { &*pool };
            if !force && now < pool_ref.candidate_since.get() + delay {
                break;
            }
            self.remove_candidate(pool);
            crate::purge::purge_pool(pool_ref);
        }
        arena::purge_if_due();
    }

    /// Owner only: makes `pool` (on no list) the current pool of its class,
    /// retiring the old current pool to the full or avail list.
    fn install_current(&self, class: usize, pool: *mut Pool) {
        let lists = &self.classes[class];
        let old = lists.current.get();
        if old != empty_pool() {
            // SAFETY: the current pool is ours and on no list.
            let old_ref = unsafe { &*old };
            if old_ref.has_free() {
                old_ref.set_state(PoolState::Avail);
                // SAFETY: on no list.
                unsafe { lists.avail.push(old) };
                self.settle(old);
            } else {
                old_ref.set_state(PoolState::Full);
                // SAFETY: on no list.
                unsafe { lists.full.push(old) };
            }
        }
        // SAFETY: the caller hands over a live pool of ours, on no list.
        unsafe {
            (*pool).purge_armed.set(true);
            (*pool).set_state(PoolState::Current);
        }
        lists.current.set(pool);
    }
}

/// Allocates a block of `class` for the calling thread. Null when out of memory.
#[inline(always)]
pub fn alloc(class: usize) -> *mut u8 {
    alloc_in(thread::current(), class)
}

/// [`alloc`] with the calling thread's heap already loaded.
#[inline(always)]
pub fn alloc_in(heap: *mut ThreadHeap, class: usize) -> *mut u8 {
    alloc_or_else(heap, class, || alloc_refill(heap, class))
}

/// The fast path alone: a block from the current pool's free list or its
/// never-used tail, or null (the caller then takes a slow path). Makes no
/// call.
#[inline(always)]
pub fn alloc_fast_in(heap: *mut ThreadHeap, class: usize) -> *mut u8 {
    alloc_or_else(heap, class, ptr::null_mut)
}

/// A block from the current pool's free list or never-used tail, or
/// whatever `slow` returns. Each branch returns directly, so the caller's
/// fast path tests nothing after it.
#[inline(always)]
fn alloc_or_else(heap: *mut ThreadHeap, class: usize, slow: impl FnOnce() -> *mut u8) -> *mut u8 {
    debug_assert!(ptr::eq(heap, thread::current()));
    // SAFETY: `heap` is this thread's heap (or EMPTY_HEAP) and only this thread
    // touches its lists; its current pools are live pools it owns (or EMPTY_POOL).
    unsafe {
        debug_assert!(class < NUM_CLASSES);
        // Class indices come from the size-class tables, always in range.
        let pool = (*heap).classes.get_unchecked(class).current.get();
        let block = (*pool).free.get();
        if !block.is_null() {
            (*pool).free.set((*block).next);
            (*pool).set_used((*pool).used() + 1);
            check::on_alloc(&*pool, block.cast());
            return block.cast();
        }
        // No free block: carve the never-used tail (same cache line).
        let tail = (*pool).bump.get();
        if tail < (*pool).end.get() {
            (*pool)
                .bump
                .set(tail.add((*pool).block_size.get() as usize));
            (*pool).set_used((*pool).used() + 1);
            return tail;
        }
    }
    slow()
}

/// The current pool has neither a free block nor a tail: bring back a purged
/// page, or go to the slow path.
///
/// The out-of-line functions that the fast paths call are `extern "C"`:
/// nothing in the allocator may unwind, and a callee that cannot unwind
/// needs no landing pad in its caller, so `malloc` and `free` tail-call them
/// and keep no stack frame. A panic in one of them (a debug assertion)
/// aborts the process instead.
#[inline(never)]
extern "C" fn alloc_refill(heap: *mut ThreadHeap, class: usize) -> *mut u8 {
    // SAFETY: as in `alloc`.
    let pool = unsafe { &*(*heap).classes[class].current.get() };
    let block = take_block(pool);
    if !block.is_null() {
        return block;
    }
    alloc_slow(heap, class)
}

/// Takes a block from a pool: its free list, its tail, or a purged page
/// brought back. Null if it has none.
fn take_block(pool: &Pool) -> *mut u8 {
    let mut block = pool.free.get();
    if block.is_null() {
        let carved = pool.carve();
        if !carved.is_null() || pool.purged.get() == 0 || !crate::purge::restore_page(pool) {
            return carved;
        }
        block = pool.free.get();
    }
    // SAFETY: free-list blocks are free blocks of this pool.
    pool.free.set(unsafe { (*block).next });
    pool.set_used(pool.used() + 1);
    check::on_alloc(pool, block.cast());
    block.cast()
}

/// The current pool is exhausted: find blocks freed by other threads, another
/// pool with room, an orphaned pool, or a new pool from an arena.
#[cold]
#[inline(never)]
fn alloc_slow(heap: *mut ThreadHeap, class: usize) -> *mut u8 {
    let heap = if ptr::eq(heap, &EMPTY_HEAP) {
        let fresh = thread::init_current();
        if fresh.is_null() {
            return ptr::null_mut();
        }
        fresh
    } else {
        heap
    };
    // SAFETY: `heap` is this thread's heap.
    let heap_ref = unsafe { &*heap };
    let lists = &heap_ref.classes[class];
    let current = lists.current.get();
    if current != empty_pool() {
        // SAFETY: our current pool.
        let current_ref = unsafe { &*current };
        if heap_ref.collect_remote(current_ref) > 0 {
            return take_block(current_ref);
        }
    }
    heap_ref.process_remote_queue(false);
    if current != empty_pool() {
        // SAFETY: our current pool (processing never releases a current pool).
        let current_ref = unsafe { &*current };
        if current_ref.has_free() {
            return take_block(current_ref);
        }
    }
    let mut next = lists.avail.pop();
    if !next.is_null() {
        heap_ref.remove_candidate(next);
    } else {
        next = thread::adopt_orphan(heap_ref, class);
    }
    if next.is_null() {
        next = arena::acquire_pool(class, heap);
        if next.is_null() {
            return ptr::null_mut();
        }
    }
    heap_ref.install_current(class, next);
    // SAFETY: a live pool of ours with room.
    take_block(unsafe { &*next })
}

/// Frees a block of any kind.
///
/// # Safety
/// `ptr` was returned by this allocator and not freed since.
#[inline(always)]
pub unsafe fn free(ptr: *mut u8) {
    // SAFETY: as the caller guarantees; a pointer that is not a pool block
    // is a huge one.
    unsafe { free_or_else(ptr, |ptr| large::free(ptr)) }
}

/// Frees `ptr` if it is a pool block; otherwise hands it to `other` (a huge
/// block, null, or a pointer that is not strata's). The pool path is one
/// table load to know the pointer is ours, a few more to find its pool, and
/// no call in the common case.
///
/// # Safety
/// If `ptr` lies in an arena, it is a live block there.
#[inline(always)]
pub unsafe fn free_or_else(ptr: *mut u8, other: impl FnOnce(*mut u8)) {
    // SAFETY: as the caller guarantees.
    unsafe { free_or_else_in(thread::current(), ptr, other) }
}

/// [`free_or_else`] with the calling thread's heap already loaded.
///
/// # Safety
/// As [`free_or_else`]; `heap` is `thread::current()`.
#[inline(always)]
pub unsafe fn free_or_else_in(heap: *mut ThreadHeap, ptr: *mut u8, other: impl FnOnce(*mut u8)) {
    debug_assert!(ptr::eq(heap, thread::current()));
    if !registry::in_arena(ptr) {
        return other(ptr);
    }
    // SAFETY: ptr lies in an arena and, as the caller guarantees, is a live
    // block there.
    unsafe { free_in_pool(heap, pool_in_arena(ptr), ptr) }
}

/// The descriptor of the pool `ptr` lies in: the arena's page map. (Kept
/// apart from the `in_arena` test so that callers branch on that test alone;
/// a null check of the result would cost the free path two instructions.)
///
/// # Safety
/// `registry::in_arena(ptr)`.
#[inline(always)]
pub unsafe fn pool_in_arena(ptr: *mut u8) -> *mut Pool {
    // SAFETY: ptr lies in a live arena, so its page map is readable.
    unsafe { (*Arena::of(ptr)).pool_of(ptr) }
}

/// Frees `ptr`, a block of `pool`: onto the free list if `heap` owns the
/// pool, else onto its remote list.
///
/// # Safety
/// `heap` is `thread::current()`; `pool` is [`pool_in_arena`] of `ptr`,
/// which is a live block.
#[inline(always)]
pub unsafe fn free_in_pool(heap: *mut ThreadHeap, pool: *mut Pool, ptr: *mut u8) {
    debug_assert!(ptr::eq(heap, thread::current()));
    check::on_free(pool, ptr);
    let block = ptr.cast::<Block>();
    // SAFETY: the pool is live while it has a block in use (ours).
    unsafe {
        if (*pool).owner.load(Ordering::Relaxed) != heap {
            return free_remote(heap, pool, block);
        }
        (*block).next = (*pool).free.get();
        (*pool).free.set(block);
        let used = (*pool).used() - 1;
        (*pool).set_used(used);
        // One compare covers the rare cases: a full pool must move to the
        // avail list, an empty one back to its arena, a sparse one becomes
        // a purge candidate; the current pool never leaves here.
        if used < (*pool).slow_below.get() {
            (*heap).settle(pool);
        }
    }
}

/// A free into another thread's pool: onto its remote list. Large blocks,
/// which no heap owns, come here from every thread and go back to their
/// arena.
///
/// # Safety
/// `pool` is live and `block` is a block of it in use.
#[inline(never)]
unsafe extern "C" fn free_remote(heap: *mut ThreadHeap, pool: *mut Pool, block: *mut Block) {
    // SAFETY: descriptors of a live arena are readable.
    let owner = unsafe { (*pool).owner.load(Ordering::Relaxed) };
    if owner == LARGE_OWNER {
        // SAFETY: as above.
        if block.cast::<u8>() != unsafe { (*pool).start.get() } {
            crate::debug::foreign_pointer("free", block.cast());
        }
        // SAFETY: a live large block, freed by the caller.
        return unsafe { arena::release_large(pool) };
    }
    // A pointer into the arena's header (or into pages that are no pool's)
    // reaches here: its descriptor has no owner.
    if owner.is_null() {
        crate::debug::foreign_pointer("free", block.cast());
    }
    // SAFETY: as the caller guarantees.
    unsafe { (*pool).push_remote(block) };
    count_remote_free(heap);
}

/// Remote frees issued by threads that had no heap yet.
pub static HEAPLESS_REMOTE_FREES: AtomicU64 = AtomicU64::new(0);

/// Owner-only counter update: a plain load and store, no atomic
/// read-modify-write on the free path.
#[inline(always)]
pub fn add(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

#[inline]
fn count_remote_free(heap: *mut ThreadHeap) {
    if ptr::eq(heap, &EMPTY_HEAP) {
        HEAPLESS_REMOTE_FREES.fetch_add(1, Ordering::Relaxed);
    } else {
        // SAFETY: this thread's own heap.
        add(unsafe { &(*heap).remote_issued }, 1);
    }
}

/// The usable size of the block at `ptr`.
///
/// # Safety
/// `ptr` was returned by this allocator and not freed since.
#[inline]
pub unsafe fn usable_size(ptr: *mut u8) -> usize {
    if !registry::in_arena(ptr) {
        // SAFETY: a huge block.
        return unsafe { large::usable_size(ptr) };
    }
    // SAFETY: ptr lies in a live arena, so its pool descriptor is valid.
    unsafe { (*(*Arena::of(ptr)).pool_of(ptr)).block_size.get() as usize }
}

/// Whether a block of `class` is about to come from the untouched tail of a
/// pool fresh from the OS, i.e. reads as zero already.
pub fn next_block_is_zeroed(class: usize) -> bool {
    let heap = thread::current();
    // SAFETY: as in `alloc`.
    let pool = unsafe { &*(*heap).classes[class].current.get() };
    pool.free.get().is_null() && pool.zeroed.get() && pool.bump.get() < pool.end.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size_class::{class_of, CLASS_SIZE};

    /// Runs `body` on a fresh thread, so it gets a fresh heap.
    fn on_fresh_thread(body: impl FnOnce() + Send + 'static) {
        let _serial = crate::arena::tests::ARENA_TESTS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        std::thread::spawn(body).join().unwrap();
    }

    #[test]
    fn every_heap_starts_on_a_page_of_its_own() {
        // Threads alive at once hold distinct heaps, carved one after another.
        let ready = std::sync::Arc::new(std::sync::Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let ready = ready.clone();
                std::thread::spawn(move || {
                    let block = alloc(class_of(32));
                    let heap = crate::thread::current() as usize;
                    ready.wait();
                    // SAFETY: allocated above, on this thread.
                    unsafe { free(block) };
                    heap
                })
            })
            .collect();
        let heaps: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for heap in &heaps {
            assert_eq!(heap % crate::os::OS_PAGE, 0, "heap at {heap:#x}");
        }
        let distinct: std::collections::HashSet<_> = heaps.iter().collect();
        assert_eq!(distinct.len(), heaps.len());
    }

    #[test]
    fn a_new_pool_is_carved_lazily_in_address_order() {
        on_fresh_thread(|| {
            let class = class_of(48);
            let blocks: Vec<usize> = (0..4).map(|_| alloc(class) as usize).collect();
            for pair in blocks.windows(2) {
                assert_eq!(pair[1] - pair[0], 48);
            }
            for &b in &blocks {
                // SAFETY: blocks allocated above.
                unsafe { free(b as *mut u8) };
            }
        });
    }

    #[test]
    fn freed_block_is_reused_by_same_class() {
        on_fresh_thread(|| {
            let class = class_of(100);
            let a = alloc(class);
            let keep = alloc(class);
            // SAFETY: live blocks.
            unsafe { free(a) };
            let b = alloc(class);
            assert_eq!(a, b, "the most recently freed block comes back first");
            // SAFETY: live blocks.
            unsafe {
                assert_eq!(usable_size(b), CLASS_SIZE[class] as usize);
                free(b);
                free(keep);
            }
        });
    }

    #[test]
    fn a_pool_that_empties_goes_back_to_its_arena_unless_current() {
        on_fresh_thread(|| {
            let class = class_of(512);
            let per_pool = crate::arena::PAGE_SIZE / 512;
            let blocks: Vec<*mut u8> = (0..per_pool * 3).map(|_| alloc(class)).collect();
            let pools_at_peak = crate::stats().classes[class].pools;
            assert!(pools_at_peak >= 3);
            for &b in &blocks {
                // SAFETY: live blocks.
                unsafe { free(b) };
            }
            let pools_after = crate::stats().classes[class].pools;
            assert!(
                pools_after <= pools_at_peak - 2,
                "empty non-current pools are released: {pools_after}"
            );
        });
    }

    #[test]
    fn an_emptied_current_pool_goes_back_only_for_big_classes() {
        on_fresh_thread(|| {
            let pools = |class: usize| crate::stats().classes[class].pools;
            // A 32 KiB block: its pool, current and empty after the free,
            // goes back to the arena at once.
            let big = class_of(32 * 1024);
            assert!(CLASS_SIZE[big] >= crate::pool::RELEASE_EMPTY_CURRENT_MIN);
            let before = pools(big);
            let block = alloc(big);
            assert_eq!(pools(big), before + 1, "a pool was taken for the block");
            // SAFETY: a live block.
            unsafe { free(block) };
            assert_eq!(pools(big), before, "the emptied current pool went back");
            // The next allocation of the class takes a pool again.
            let again = alloc(big);
            assert!(!again.is_null());
            assert_eq!(pools(big), before + 1);
            // SAFETY: a live block.
            unsafe { free(again) };

            // A small class keeps its emptied current pool.
            let small = class_of(64);
            let block = alloc(small);
            let held = pools(small);
            // SAFETY: a live block.
            unsafe { free(block) };
            assert_eq!(pools(small), held, "the small class's current pool stays");
        });
    }

    #[test]
    fn blocks_freed_by_another_thread_are_reused_by_the_owner() {
        on_fresh_thread(|| {
            let class = class_of(64);
            let per_pool = (crate::arena::PAGE_SIZE - crate::settings::block_offset()) / 64;
            let blocks: Vec<usize> = (0..per_pool).map(|_| alloc(class) as usize).collect();
            let freed = blocks.clone();
            std::thread::spawn(move || {
                for b in freed {
                    // SAFETY: live blocks handed over to this thread.
                    unsafe { free(b as *mut u8) };
                }
            })
            .join()
            .unwrap();
            // The pool is exhausted; the next allocation collects remote frees.
            let again = alloc(class) as usize;
            assert!(blocks.contains(&again), "remote-freed blocks are reused");
            // SAFETY: live block.
            unsafe { free(again as *mut u8) };
        });
    }
}
