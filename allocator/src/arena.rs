//! Layer +1: arenas, the raw memory that pools are cut from.
//!
//! An arena is [`ARENA_SIZE`] bytes mapped from the OS on an `ARENA_SIZE`
//! boundary, so the arena of any pointer is found by masking its address. Its
//! first [`HEADER_PAGES`] pages hold the header: the free-page bitmap and one
//! [`Pool`] descriptor per page (the pool of a pointer is `pools[page_owner[page]]`).
//! The other pages are handed out as pools of 1 to [`POOL_PAGES_MAX`] pages.
//!
//! Arenas with free pages are kept in buckets by how many free pages they
//! have, and a pool is always cut from the arena with the fewest free pages
//! that can hold it (pymalloc's `usable_arenas` order): allocation packs the
//! fullest arenas, so the emptiest ones drain and can be returned. An arena
//! whose pages are all free is unmapped, except that one is kept as a spare so
//! that a program oscillating around an arena boundary does not map and unmap
//! on every swing.
//!
//! Arena size: 4 MiB. Large enough that mapping is rare (one `mmap` per 256
//! pools) and the header (about 26 KiB) costs under 1%, small enough that a
//! program's last partly used arena wastes little and empty arenas come back to
//! the OS at a useful granularity. pymalloc uses 1 MiB arenas of 16 KiB pools;
//! strata's arenas also carry the medium classes' multi-page pools.
//!
//! Every function here that changes arena state runs under one global lock;
//! pools are acquired and released only on slow paths.

use crate::heap::ThreadHeap;
use crate::os;
use crate::pool::Pool;
use crate::registry;
use crate::size_class::CLASS_PAGES;
use core::cell::{Cell, UnsafeCell};
use core::ptr;
use std::sync::{Mutex, MutexGuard};

/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 14;
/// A pool page: 16 KiB, four OS pages, pymalloc's pool size since Python 3.10.
/// Small enough that a thread's one partly used pool per class wastes little,
/// big enough that a 512-byte class still gets 32 blocks per pool.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// log2 of [`ARENA_SIZE`].
pub const ARENA_SHIFT: u32 = 22;
/// See the module docs for why 4 MiB.
pub const ARENA_SIZE: usize = 1 << ARENA_SHIFT;
/// Pages per arena, header included.
pub const PAGES_PER_ARENA: usize = ARENA_SIZE / PAGE_SIZE;
/// The longest pool: an eighth of an arena, so medium pools pack several to an
/// arena and one long pool never needs a fresh arena by itself.
pub const POOL_PAGES_MAX: usize = PAGES_PER_ARENA / 8;
/// Marks a chunk as an arena (the first word of its header).
pub const ARENA_MAGIC: usize = 0x5354_5241_5441_4152;
/// Header pages at the start of every arena.
pub const HEADER_PAGES: usize = core::mem::size_of::<Arena>().div_ceil(PAGE_SIZE);
/// Pages of an arena that can become pools.
pub const USABLE_PAGES: usize = PAGES_PER_ARENA - HEADER_PAGES;
const MAP_WORDS: usize = PAGES_PER_ARENA / 64;

/// The header at the start of every arena.
#[repr(C)]
pub struct Arena {
    pub magic: usize,
    /// One bit per page, set while the page is free. Guarded by the arena lock.
    free_map: UnsafeCell<[u64; MAP_WORDS]>,
    /// One bit per page, set once the page has been used (no longer reads as zero).
    dirty_map: UnsafeCell<[u64; MAP_WORDS]>,
    free_count: Cell<usize>,
    bucket_prev: Cell<*mut Arena>,
    bucket_next: Cell<*mut Arena>,
    all_next: Cell<*mut Arena>,
    all_prev: Cell<*mut Arena>,
    /// For every page of a pool, the index of the pool's first page. Written
    /// under the lock before any block of the pool exists, so readers holding a
    /// block see it.
    pub page_owner: [Cell<u8>; PAGES_PER_ARENA],
    pub pools: [Pool; PAGES_PER_ARENA],
}

const _: () = assert!(HEADER_PAGES < POOL_PAGES_MAX && PAGES_PER_ARENA <= 256);

impl Arena {
    /// The arena holding `ptr`.
    #[inline(always)]
    pub fn of(ptr: *const u8) -> *mut Arena {
        (ptr as usize & !(ARENA_SIZE - 1)) as *mut Arena
    }

    /// The descriptor of the pool holding `ptr`, a pointer into this arena.
    #[inline(always)]
    pub fn pool_of(&self, ptr: *const u8) -> *mut Pool {
        let page = (ptr as usize & (ARENA_SIZE - 1)) >> PAGE_SHIFT;
        let head = self.page_owner[page].get() as usize;
        &self.pools[head] as *const Pool as *mut Pool
    }

    fn base(&self) -> *mut u8 {
        self as *const Arena as *mut u8
    }

    fn page_is_free(&self, page: usize) -> bool {
        // SAFETY: called under the arena lock.
        let map = unsafe { &*self.free_map.get() };
        map[page / 64] & (1 << (page % 64)) != 0
    }

    fn set_pages(map: &UnsafeCell<[u64; MAP_WORDS]>, first: usize, count: usize, value: bool) {
        // SAFETY: called under the arena lock, which guards both bitmaps.
        let map = unsafe { &mut *map.get() };
        for page in first..first + count {
            if value {
                map[page / 64] |= 1 << (page % 64);
            } else {
                map[page / 64] &= !(1 << (page % 64));
            }
        }
    }

    fn any_dirty(&self, first: usize, count: usize) -> bool {
        // SAFETY: called under the arena lock.
        let map = unsafe { &*self.dirty_map.get() };
        (first..first + count).any(|page| map[page / 64] & (1 << (page % 64)) != 0)
    }

    /// The first run of `count` free pages, if any.
    fn find_run(&self, count: usize) -> Option<usize> {
        let mut run = 0;
        for page in HEADER_PAGES..PAGES_PER_ARENA {
            if self.page_is_free(page) {
                run += 1;
                if run == count {
                    return Some(page + 1 - count);
                }
            } else {
                run = 0;
            }
        }
        None
    }

    /// Visits every pool in use in this arena.
    ///
    /// # Safety
    /// The caller holds the arena lock.
    pub unsafe fn for_each_pool(&self, mut visit: impl FnMut(&Pool)) {
        let mut page = HEADER_PAGES;
        while page < PAGES_PER_ARENA {
            let pool = &self.pools[page];
            let pages = pool.pages.get() as usize;
            if pages == 0 {
                page += 1;
            } else {
                visit(pool);
                page += pages;
            }
        }
    }
}

/// Arena counters, as `sys._debugmallocstats()` reports them.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ArenaCounters {
    /// Arenas mapped since start.
    pub allocated_total: usize,
    /// Arenas returned to the OS since start.
    pub reclaimed: usize,
    /// Most arenas mapped at once.
    pub highwater: usize,
    /// Arenas mapped now (the spare included).
    pub current: usize,
}

/// The arena lists, behind the arena lock.
struct Manager {
    /// `buckets[n]`: arenas with exactly `n` free pages, `0 < n < USABLE_PAGES`.
    buckets: [*mut Arena; PAGES_PER_ARENA],
    occupied: [u64; MAP_WORDS],
    /// Every mapped arena, for statistics.
    all: *mut Arena,
    /// An entirely free arena kept mapped for reuse.
    spare: *mut Arena,
    counters: ArenaCounters,
}

// SAFETY: the raw pointers name arenas, which are shared memory guarded by the
// mutex that holds this struct.
unsafe impl Send for Manager {}

static MANAGER: Mutex<Manager> = Mutex::new(Manager {
    buckets: [ptr::null_mut(); PAGES_PER_ARENA],
    occupied: [0; MAP_WORDS],
    all: ptr::null_mut(),
    spare: ptr::null_mut(),
    counters: ArenaCounters {
        allocated_total: 0,
        reclaimed: 0,
        highwater: 0,
        current: 0,
    },
});

fn lock() -> MutexGuard<'static, Manager> {
    // Nothing panics while holding the lock, but never propagate poison from
    // inside an allocator either.
    MANAGER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Manager {
    fn bucket_insert(&mut self, arena: *mut Arena) {
        // SAFETY: arena is a live arena and we hold the lock.
        let arena_ref = unsafe { &*arena };
        let n = arena_ref.free_count.get();
        if n == 0 || n == USABLE_PAGES {
            return;
        }
        let head = self.buckets[n];
        arena_ref.bucket_prev.set(ptr::null_mut());
        arena_ref.bucket_next.set(head);
        if !head.is_null() {
            // SAFETY: bucket members are live arenas.
            unsafe { (*head).bucket_prev.set(arena) };
        }
        self.buckets[n] = arena;
        self.occupied[n / 64] |= 1 << (n % 64);
    }

    fn bucket_remove(&mut self, arena: *mut Arena) {
        // SAFETY: arena is a live arena and we hold the lock.
        let arena_ref = unsafe { &*arena };
        let n = arena_ref.free_count.get();
        if n == 0 || n == USABLE_PAGES {
            return;
        }
        let prev = arena_ref.bucket_prev.get();
        let next = arena_ref.bucket_next.get();
        if prev.is_null() {
            self.buckets[n] = next;
        } else {
            // SAFETY: bucket members are live arenas.
            unsafe { (*prev).bucket_next.set(next) };
        }
        if !next.is_null() {
            // SAFETY: as above.
            unsafe { (*next).bucket_prev.set(prev) };
        }
        if self.buckets[n].is_null() {
            self.occupied[n / 64] &= !(1 << (n % 64));
        }
    }

    /// The first non-empty bucket holding arenas with at least `min` free pages.
    fn next_occupied(&self, min: usize) -> Option<usize> {
        let mut word = min / 64;
        let mut bits = self.occupied.get(word)? & (!0u64 << (min % 64));
        loop {
            if bits != 0 {
                let n = word * 64 + bits.trailing_zeros() as usize;
                return (n < USABLE_PAGES).then_some(n);
            }
            word += 1;
            bits = *self.occupied.get(word)?;
        }
    }

    /// The fullest arena with a run of `pages` free pages, and the run's start.
    fn find_free_run(&self, pages: usize) -> Option<(*mut Arena, usize)> {
        let mut bucket = self.next_occupied(pages);
        while let Some(n) = bucket {
            let mut arena = self.buckets[n];
            while !arena.is_null() {
                // SAFETY: bucket members are live arenas; lock held.
                let arena_ref = unsafe { &*arena };
                if let Some(first) = arena_ref.find_run(pages) {
                    return Some((arena, first));
                }
                arena = arena_ref.bucket_next.get();
            }
            bucket = self.next_occupied(n + 1);
        }
        None
    }

    fn new_arena(&mut self) -> *mut Arena {
        let spare = core::mem::replace(&mut self.spare, ptr::null_mut());
        if !spare.is_null() {
            return spare;
        }
        let base = os::map_aligned(ARENA_SIZE, ARENA_SIZE, ARENA_SIZE, 0);
        if base.is_null() {
            return base.cast();
        }
        if crate::settings::get().huge_pages {
            os::advise_huge_pages(base, ARENA_SIZE);
        }
        let arena = base.cast::<Arena>();
        // SAFETY: fresh zeroed mapping, and all-zero is a valid Arena except for
        // the fields set here (Pool::UNUSED is all zero bits).
        unsafe {
            (*arena).magic = ARENA_MAGIC;
            Arena::set_pages(&(*arena).free_map, HEADER_PAGES, USABLE_PAGES, true);
            (*arena).free_count.set(USABLE_PAGES);
            (*arena).all_next.set(self.all);
            if !self.all.is_null() {
                (*self.all).all_prev.set(arena);
            }
        }
        self.all = arena;
        registry::register(base as usize);
        let c = &mut self.counters;
        c.allocated_total += 1;
        c.current += 1;
        c.highwater = c.highwater.max(c.current);
        arena
    }

    fn free_arena(&mut self, arena: *mut Arena) {
        if self.spare.is_null() && crate::settings::get().retain_arenas > 0 {
            self.spare = arena;
        } else {
            self.unmap_arena(arena);
        }
    }

    fn unmap_arena(&mut self, arena: *mut Arena) {
        // SAFETY: arena is live and entirely free; unlink it before unmapping.
        unsafe {
            let prev = (*arena).all_prev.get();
            let next = (*arena).all_next.get();
            if prev.is_null() {
                self.all = next;
            } else {
                (*prev).all_next.set(next);
            }
            if !next.is_null() {
                (*next).all_prev.set(prev);
            }
        }
        registry::unregister(arena as usize);
        os::unmap(arena.cast(), ARENA_SIZE);
        self.counters.reclaimed += 1;
        self.counters.current -= 1;
    }

    /// Takes `count` pages from `arena` starting at `first`.
    fn take_pages(&mut self, arena: *mut Arena, first: usize, count: usize) -> bool {
        self.bucket_remove(arena);
        // SAFETY: live arena, lock held.
        let arena_ref = unsafe { &*arena };
        Arena::set_pages(&arena_ref.free_map, first, count, false);
        let zeroed = !arena_ref.any_dirty(first, count);
        Arena::set_pages(&arena_ref.dirty_map, first, count, true);
        arena_ref.free_count.set(arena_ref.free_count.get() - count);
        for page in first..first + count {
            arena_ref.page_owner[page].set(first as u8);
        }
        self.bucket_insert(arena);
        zeroed
    }
}

/// Cuts a pool of `class` for `owner` from the fullest arena that can hold it.
/// Returns null when the OS has no memory left.
pub fn acquire_pool(class: usize, owner: *mut ThreadHeap) -> *mut Pool {
    let pages = CLASS_PAGES[class] as usize;
    let mut manager = lock();
    let found = manager.find_free_run(pages);
    let (arena, first) = match found {
        Some(hit) => hit,
        None => {
            let arena = manager.new_arena();
            if arena.is_null() {
                return ptr::null_mut();
            }
            (arena, HEADER_PAGES)
        }
    };
    let zeroed = manager.take_pages(arena, first, pages);
    // SAFETY: the pages were free and are now this pool's; lock held.
    unsafe {
        let arena_ref = &*arena;
        let start = arena_ref.base().add(first * PAGE_SIZE);
        let pool = &arena_ref.pools[first];
        pool.activate(class, start, pages, zeroed, owner);
        pool as *const Pool as *mut Pool
    }
}

/// Returns an empty pool's pages to its arena, and the arena to the OS when it
/// is entirely free.
///
/// # Safety
/// `pool` is in use, has no block in use or on a remote list, and is on no
/// heap's list.
pub unsafe fn release_pool(pool: *mut Pool) {
    // SAFETY: the caller guarantees the pool is live and idle.
    let pool_ref = unsafe { &*pool };
    debug_assert_eq!(pool_ref.used(), 0, "releasing a pool with blocks in use");
    let arena = Arena::of(pool.cast());
    let first = (pool_ref.start.get() as usize & (ARENA_SIZE - 1)) >> PAGE_SHIFT;
    let pages = pool_ref.pages.get() as usize;
    let mut manager = lock();
    manager.bucket_remove(arena);
    pool_ref.pages.set(0);
    pool_ref
        .owner
        .store(ptr::null_mut(), core::sync::atomic::Ordering::Relaxed);
    // SAFETY: live arena, lock held.
    let arena_ref = unsafe { &*arena };
    Arena::set_pages(&arena_ref.free_map, first, pages, true);
    arena_ref.free_count.set(arena_ref.free_count.get() + pages);
    if arena_ref.free_count.get() == USABLE_PAGES {
        manager.free_arena(arena);
    } else {
        manager.bucket_insert(arena);
    }
}

/// Runs `visit` on every mapped arena under the arena lock, and returns the
/// arena counters.
pub fn visit_arenas(mut visit: impl FnMut(&Arena)) -> ArenaCounters {
    let manager = lock();
    let mut arena = manager.all;
    while !arena.is_null() {
        // SAFETY: `all` links live arenas; lock held.
        let arena_ref = unsafe { &*arena };
        visit(arena_ref);
        arena = arena_ref.all_next.get();
    }
    manager.counters
}

/// Unmaps the spare arena, if any (part of `trim`).
pub fn release_spare() {
    let mut manager = lock();
    let spare = core::mem::replace(&mut manager.spare, ptr::null_mut());
    if !spare.is_null() {
        manager.unmap_arena(spare);
    }
}

/// Fork support: the lock parked between `fork()`'s prepare and after handlers.
static FORK_GUARD: crate::fork::HeldGuard<Manager> = crate::fork::HeldGuard::new();

/// Takes the arena lock before `fork()` (see `fork.rs`).
pub fn lock_for_fork() {
    FORK_GUARD.hold(lock());
}

/// Releases the arena lock after `fork()`, in the parent and in the child.
pub fn unlock_after_fork() {
    FORK_GUARD.release();
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::heap::EMPTY_HEAP;
    use std::sync::Mutex;

    /// Serialises the unit tests that reason about arena state.
    pub static ARENA_TESTS: Mutex<()> = Mutex::new(());

    fn owner() -> *mut ThreadHeap {
        &EMPTY_HEAP as *const ThreadHeap as *mut ThreadHeap
    }

    fn release_all(pools: &mut Vec<*mut Pool>) {
        for pool in pools.drain(..) {
            // SAFETY: pools acquired by the test, never used for blocks.
            unsafe { release_pool(pool) };
        }
    }

    #[test]
    fn pools_are_cut_from_the_fullest_arena_and_empty_arenas_are_released() {
        let _serial = ARENA_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let before = visit_arenas(|_| {});
        // Fill two whole arenas (plus whatever partly used one existed).
        let mut pools: Vec<*mut Pool> = (0..USABLE_PAGES * 2 + 1)
            .map(|_| acquire_pool(0, owner()))
            .collect();
        assert!(pools.iter().all(|p| !p.is_null()));
        let arena_of = |p: *mut Pool| Arena::of(p.cast());
        let first = arena_of(pools[0]);
        let last = arena_of(*pools.last().unwrap());
        assert_ne!(first, last);
        let full = pools
            .iter()
            .map(|&p| arena_of(p))
            .find(|&a| a != first && a != last)
            .expect("a middle arena");

        // Leave `full` with one free page and `last` with many: the fullest
        // usable arena, `full`, must serve the next pool.
        let index = pools.iter().position(|&p| arena_of(p) == full).unwrap();
        let freed = pools.remove(index);
        // SAFETY: acquired above, no blocks.
        unsafe { release_pool(freed) };
        let next = acquire_pool(0, owner());
        assert_eq!(
            arena_of(next),
            full,
            "the pool must come from the fullest arena"
        );
        pools.push(next);

        let peak = visit_arenas(|_| {});
        release_all(&mut pools);
        let after = visit_arenas(|_| {});
        assert!(
            after.reclaimed >= before.reclaimed + 2,
            "empty arenas go back to the OS: {after:?}"
        );
        assert!(
            after.current <= before.current + 1,
            "at most one spare arena is kept: {after:?}"
        );
        assert!(peak.highwater >= before.current + 2);
    }

    #[test]
    fn released_pages_are_dirty_and_fresh_ones_are_zeroed() {
        let _serial = ARENA_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let pool = acquire_pool(3, owner());
        // SAFETY: a pool we own; its block memory is mapped.
        unsafe {
            let start = (*pool).start.get();
            let fresh = (*pool).zeroed.get();
            if fresh {
                assert_eq!(*start, 0);
            }
            *start = 0xAB;
            release_pool(pool);
        }
        let again = acquire_pool(3, owner());
        assert_eq!(again, pool, "the page just freed is the first free one");
        // SAFETY: as above.
        unsafe {
            assert!(
                !(*again).zeroed.get(),
                "a reused page is not known to be zero"
            );
            release_pool(again);
        }
    }

    #[test]
    fn multi_page_pools_take_contiguous_pages() {
        let _serial = ARENA_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let class = crate::size_class::NUM_CLASSES - 1;
        let pages = CLASS_PAGES[class] as usize;
        assert!(pages > 1);
        let pool = acquire_pool(class, owner());
        // SAFETY: a live pool we own.
        unsafe {
            let arena = &*Arena::of(pool.cast());
            let start = (*pool).start.get();
            for page in 0..pages {
                let inside = start.add(page * PAGE_SIZE);
                assert_eq!(arena.pool_of(inside), pool);
            }
            release_pool(pool);
        }
    }
}
