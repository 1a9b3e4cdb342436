//! Layer +1: arenas, the raw memory that pools are cut from.
//!
//! An arena is [`ARENA_SIZE`] bytes mapped from the OS on an `ARENA_SIZE`
//! boundary, so the arena of any pointer is found by masking its address. Its
//! first [`HEADER_PAGES`] pages hold the header: the free-page bitmap and one
//! [`Pool`] descriptor per page (`page_owner[page]` locates the descriptor of
//! the pool holding a page).
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
//! pools) and the header (about 48 KiB, 4 of its 256 pages, resident only
//! where descriptors are in use) costs under 2%, small enough that a
//! program's last partly used arena wastes little and empty arenas come back to
//! the OS at a useful granularity. pymalloc uses 1 MiB arenas of 16 KiB pools;
//! strata's arenas also carry the medium classes' multi-page pools.
//!
//! Huge pages (`STRATA_HUGE_PAGES`): off by default. `1` makes every arena
//! ask for transparent huge pages; `auto` makes the arenas mapped once the
//! heap's arenas hold [`AUTO_HUGE_PAGES_BYTES`] ask, so a small program keeps
//! 4 KiB granularity while a big heap spends less time on TLB misses
//! (CPython's object-heavy benchmark: about 7% less CPU at 1-2% more peak
//! memory; see the capi README). It stays off by default because the kernel
//! may compact memory to find a huge page at fault time, a stall a latency-
//! sensitive program did not ask for. An arena that gives pages back stops
//! asking (see [`Arena::forgo_huge_pages`]).
//!
//! Every function here that changes arena state runs under one global lock;
//! pools are acquired and released only on slow paths.

use crate::heap::ThreadHeap;
use crate::os;
use crate::pool::Pool;
use crate::settings::HugePages;
use crate::size_class::CLASS_PAGES;
use crate::{large, registry};
use core::cell::{Cell, UnsafeCell};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
/// Arena bytes mapped before `STRATA_HUGE_PAGES=auto` asks for huge pages
/// on the next arenas (eight 4 MiB arenas).
pub const AUTO_HUGE_PAGES_BYTES: usize = 32 << 20;
/// Pages per arena, header included.
pub const PAGES_PER_ARENA: usize = ARENA_SIZE / PAGE_SIZE;
/// The longest pool: an eighth of an arena, so medium pools pack several to an
/// arena and one long pool never needs a fresh arena by itself.
pub const POOL_PAGES_MAX: usize = PAGES_PER_ARENA / 8;
/// Marks a chunk as an arena (the first word of its header).
pub const ARENA_MAGIC: usize = 0x5354_5241_5441_4152;
/// Header pages at the start of every arena.
pub const HEADER_PAGES: usize = core::mem::size_of::<Arena>().div_ceil(PAGE_SIZE);
/// Pages of a full-size arena that can become pools.
#[cfg(test)]
pub const USABLE_PAGES: usize = PAGES_PER_ARENA - HEADER_PAGES;
const MAP_WORDS: usize = PAGES_PER_ARENA / 64;

/// A page bitmap as one wide word: page `p` is bit `p % 64` of word `p / 64`.
type PageBits = [u64; MAP_WORDS];

/// `bits` moved down by `by` pages (`by` < 64): page `p` of the result is
/// page `p + by` of `bits`.
fn shifted(bits: &PageBits, by: usize) -> PageBits {
    debug_assert!(by < 64);
    let mut out = [0; MAP_WORDS];
    for word in 0..MAP_WORDS {
        let above = match bits.get(word + 1) {
            Some(&next) if by > 0 => next << (64 - by),
            _ => 0,
        };
        out[word] = (bits[word] >> by) | above;
    }
    out
}

fn and(a: &PageBits, b: &PageBits) -> PageBits {
    core::array::from_fn(|word| a[word] & b[word])
}

fn not(bits: &PageBits) -> PageBits {
    core::array::from_fn(|word| !bits[word])
}

/// The `len` pages (at most 64) of `bits` from page `first`, as the low bits
/// of a word.
fn window(bits: &PageBits, first: usize, len: usize) -> u64 {
    let all = shifted(bits, first % 64)[first / 64];
    if len == 64 {
        all
    } else {
        all & ((1 << len) - 1)
    }
}

/// The header at the start of every arena.
#[repr(C)]
pub struct Arena {
    pub magic: usize,
    /// One bit per page, set while the page is free. Guarded by the arena lock.
    free_map: UnsafeCell<[u64; MAP_WORDS]>,
    /// One bit per page, set once the page has been used and not purged since
    /// (it may be resident and does not read as zero).
    dirty_map: UnsafeCell<[u64; MAP_WORDS]>,
    /// Pages in this arena, header included (the arena size in pages).
    pages: Cell<usize>,
    free_count: Cell<usize>,
    /// Free pages that are dirty (may be resident): a pool placed there
    /// costs no fresh memory. Guarded by the arena lock.
    dirty_free: Cell<usize>,
    /// When free dirty pages of this arena are due to be purged (0: none).
    purge_at: Cell<u64>,
    /// Whether the arena asked for transparent huge pages and has not given
    /// a page back since (see [`Arena::forgo_huge_pages`]).
    huge: AtomicBool,
    bucket_prev: Cell<*mut Arena>,
    bucket_next: Cell<*mut Arena>,
    all_next: Cell<*mut Arena>,
    all_prev: Cell<*mut Arena>,
    /// For every page of a pool, where the pool's descriptor lies: its byte
    /// offset from the arena's start in 64-byte units (descriptors are
    /// cache-line aligned), so `free` finds it with a load, a shift and an
    /// add. Pages of no pool (the header's, never-used ones) name `pools[0]`,
    /// which is never a pool. Written under the lock before any block of the
    /// pool exists, so readers holding a block see it.
    page_owner: [Cell<u16>; PAGES_PER_ARENA],
    pub pools: [Pool; PAGES_PER_ARENA],
}

const _: () = assert!(HEADER_PAGES < POOL_PAGES_MAX && PAGES_PER_ARENA <= 256);

/// The unit of `Arena::page_owner`: descriptors are aligned to it, and every
/// descriptor's offset in units fits a `u16`.
const DESCRIPTOR_UNIT: usize = 64;
const _: () = assert!(
    core::mem::align_of::<Pool>() % DESCRIPTOR_UNIT == 0
        && core::mem::size_of::<Pool>() % DESCRIPTOR_UNIT == 0
        && core::mem::offset_of!(Arena, pools) % DESCRIPTOR_UNIT == 0
        && core::mem::size_of::<Arena>() / DESCRIPTOR_UNIT <= u16::MAX as usize
);
const _: () = assert!(HEADER_PAGES + POOL_PAGES_MAX <= crate::settings::MIN_ARENA_SIZE / PAGE_SIZE);

impl Arena {
    /// The arena holding `ptr`.
    #[inline(always)]
    pub fn of(ptr: *const u8) -> *mut Arena {
        (ptr as usize & !(ARENA_SIZE - 1)) as *mut Arena
    }

    /// Called before the arena gives pages back: an arena that asked for
    /// transparent huge pages stops asking, once. Otherwise the kernel's
    /// khugepaged (which by default collapses a 2 MiB range with a single
    /// resident page) would fill the holes again and undo the purge. Huge
    /// pages already mapped stay until a purge splits them.
    pub fn forgo_huge_pages(&self) {
        if self.huge.load(Ordering::Relaxed) && self.huge.swap(false, Ordering::Relaxed) {
            os::advise_no_huge_pages(self.base(), self.pages.get() * PAGE_SIZE);
        }
    }

    /// The descriptor of the pool holding `ptr`, a pointer into this arena.
    #[inline(always)]
    pub fn pool_of(&self, ptr: *const u8) -> *mut Pool {
        let page = (ptr as usize & (ARENA_SIZE - 1)) >> PAGE_SHIFT;
        let offset = self.page_owner[page].get() as usize * DESCRIPTOR_UNIT;
        self.base().wrapping_add(offset).cast::<Pool>()
    }

    /// What `page_owner` holds for the pool whose first page is `first`.
    fn descriptor_offset(first: usize) -> u16 {
        ((core::mem::offset_of!(Arena, pools) + first * core::mem::size_of::<Pool>())
            / DESCRIPTOR_UNIT) as u16
    }

    fn base(&self) -> *mut u8 {
        self as *const Arena as *mut u8
    }

    fn usable(&self) -> usize {
        self.pages.get() - HEADER_PAGES
    }

    fn bit(map: &UnsafeCell<[u64; MAP_WORDS]>, page: usize) -> bool {
        // SAFETY: called under the arena lock, which guards the bitmaps.
        let map = unsafe { &*map.get() };
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

    /// The first run of `count` free pages (free and dirty ones only, if
    /// `dirty`), if any. Whole words of taken pages are skipped at once.
    fn find_run(&self, count: usize, dirty: bool) -> Option<usize> {
        // SAFETY: called under the arena lock, which guards the bitmaps.
        let (free, dirty_map) = unsafe { (&*self.free_map.get(), &*self.dirty_map.get()) };
        let mut run = 0;
        for (word, &free_bits) in free.iter().enumerate() {
            let bits = if dirty {
                free_bits & dirty_map[word]
            } else {
                free_bits
            };
            if bits == 0 {
                run = 0;
                continue;
            }
            if count == 1 {
                return Some(word * 64 + bits.trailing_zeros() as usize);
            }
            for bit in 0..64 {
                if bits & (1 << bit) != 0 {
                    run += 1;
                    if run == count {
                        return Some(word * 64 + bit + 1 - count);
                    }
                } else {
                    run = 0;
                }
            }
        }
        None
    }

    /// A run of `count` free pages with the fewest clean pages, and how many
    /// clean pages it has.
    ///
    /// Word-parallel: the starts of all-free runs are the free map ANDed
    /// with itself shifted, doubling the span each time. Only two kinds of
    /// start can be best: one on a dirty page, and the last start before a
    /// taken page; a run starting on a clean page with room to move loses
    /// nothing by moving on a page. Only those are counted.
    fn least_clean_run(&self, count: usize) -> Option<(usize, usize)> {
        debug_assert!((1..=64).contains(&count));
        // SAFETY: called under the arena lock, which guards the bitmaps.
        let (free, dirty) = unsafe { (&*self.free_map.get(), &*self.dirty_map.get()) };
        let mut starts = *free;
        let mut span = 1;
        while span * 2 <= count {
            starts = and(&starts, &shifted(&starts, span));
            span *= 2;
        }
        if span < count {
            starts = and(&starts, &shifted(&starts, count - span));
        }
        let last_starts = and(&starts, &not(&shifted(&starts, 1)));
        let dirty_starts = and(&starts, dirty);
        let mut best: Option<(usize, usize)> = None;
        for word in 0..MAP_WORDS {
            let mut candidates = dirty_starts[word] | last_starts[word];
            while candidates != 0 {
                let at = word * 64 + candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                let clean = count - window(dirty, at, count).count_ones() as usize;
                if best.is_none_or(|(_, fewest)| clean < fewest) {
                    best = Some((at, clean));
                    if clean == 0 {
                        return best;
                    }
                }
            }
        }
        best
    }

    /// Gives up to `limit` free dirty pages back to the OS, from the arena's
    /// end down (runs are cut first-fit from its start, so the pages at the
    /// end are the last to be wanted again); returns how many.
    fn purge_free_pages(&self, limit: usize) -> usize {
        let purgeable = |p: usize| Arena::bit(&self.free_map, p) && Arena::bit(&self.dirty_map, p);
        let mut purged = 0;
        let mut page = self.pages.get();
        while page > HEADER_PAGES && purged < limit {
            if !purgeable(page - 1) {
                page -= 1;
                continue;
            }
            let end = page;
            while page > HEADER_PAGES && purgeable(page - 1) && purged + (end - page) < limit {
                page -= 1;
            }
            self.forgo_huge_pages();
            // SAFETY: free pages hold no block; the range lies in this arena.
            os::decommit(
                unsafe { self.base().add(page * PAGE_SIZE) },
                (end - page) * PAGE_SIZE,
            );
            Arena::set_pages(&self.dirty_map, page, end - page, false);
            purged += end - page;
        }
        debug_assert!(purged <= self.dirty_free.get(), "dirty_free undercounts");
        self.dirty_free.set(self.dirty_free.get() - purged);
        if self.dirty_free.get() == 0 {
            self.purge_at.set(0);
        }
        purged
    }

    /// Free pages that may still be resident (free and dirty).
    ///
    /// # Safety
    /// The caller holds the arena lock.
    pub unsafe fn free_dirty_pages(&self) -> usize {
        (HEADER_PAGES..self.pages.get())
            .filter(|&p| Arena::bit(&self.free_map, p) && Arena::bit(&self.dirty_map, p))
            .count()
    }

    /// Pages in this arena, header included.
    pub fn page_count(&self) -> usize {
        self.pages.get()
    }

    /// Visits every pool in use in this arena.
    ///
    /// # Safety
    /// The caller holds the arena lock.
    pub unsafe fn for_each_pool(&self, mut visit: impl FnMut(&Pool)) {
        let mut page = HEADER_PAGES;
        while page < self.pages.get() {
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
    /// Arenas mapped now (spares included).
    pub current: usize,
    /// Bytes mapped for arenas now.
    pub bytes: usize,
    /// Free pool pages given back to the OS since start.
    pub pages_purged: usize,
}

/// Entirely free arenas waiting for reuse: `STRATA_RETAIN` of them are kept
/// (purged), the others until their purge deadline passes, so that a program
/// that frees and rebuilds a large heap within the delay reuses them instead
/// of mapping and faulting in fresh ones. 64 arenas are 256 MiB.
const MAX_SPARES: usize = 64;

/// The purge delay grows while the program thrashes: when a fresh arena has
/// to be mapped within this long after memory was given back, the delay
/// doubles (up to [`MAX_ADAPTIVE_DELAY_MS`]); after this long without such a
/// regrowth it halves again.
const THRASH_WINDOW_MS: u64 = 1000;
/// Ceiling of the adaptive delay. Free pages held this long are resident
/// memory the program is not using, so it trades time for peak memory:
/// CPython's object benchmark (`objects.py 3 40000`, 9 interleaved runs)
/// took 1.039x pymalloc's CPU time at a 1.024x peak with 500 ms, and 1.075x
/// at a 0.984x peak with 100 ms (85 k page faults against 77 k).
const MAX_ADAPTIVE_DELAY_MS: u64 = 500;

static ADAPTIVE_DELAY_MS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The purge delay in force: the setting, or longer while the program is
/// observed to give memory back and take it again soon after.
pub fn purge_delay_ms() -> u64 {
    let configured = crate::settings::get().purge_delay_ms as u64;
    configured.max(ADAPTIVE_DELAY_MS.load(core::sync::atomic::Ordering::Relaxed))
}

/// The arena lists, behind the arena lock.
struct Manager {
    /// `buckets[n]`: arenas with exactly `n` free pages, neither full nor empty.
    buckets: [*mut Arena; PAGES_PER_ARENA],
    occupied: [u64; MAP_WORDS],
    /// Every mapped arena, for statistics and purging.
    all: *mut Arena,
    /// Entirely free arenas kept mapped for reuse.
    spares: [*mut Arena; MAX_SPARES],
    spare_count: usize,
    /// The earliest `purge_at` of any arena (0: none pending).
    next_purge: u64,
    /// Free dirty pages in all arenas (the sum of `Arena::dirty_free`).
    dirty_free: usize,
    /// Pages held by pools.
    pool_pages: usize,
    /// The most [`Manager::footprint`] has been when last looked at.
    peak_footprint: usize,
    /// When memory was last given back to the OS, and when the adaptive delay
    /// last changed (ms).
    last_shrink: u64,
    last_adapt: u64,
    /// Bytes per arena, fixed when the first arena is mapped.
    arena_bytes: usize,
    counters: ArenaCounters,
}

// SAFETY: the raw pointers name arenas, which are shared memory guarded by the
// mutex that holds this struct.
unsafe impl Send for Manager {}

static MANAGER: Mutex<Manager> = Mutex::new(Manager {
    buckets: [ptr::null_mut(); PAGES_PER_ARENA],
    occupied: [0; MAP_WORDS],
    all: ptr::null_mut(),
    spares: [ptr::null_mut(); MAX_SPARES],
    spare_count: 0,
    next_purge: 0,
    dirty_free: 0,
    pool_pages: 0,
    peak_footprint: 0,
    last_shrink: 0,
    last_adapt: 0,
    arena_bytes: 0,
    counters: ArenaCounters {
        allocated_total: 0,
        reclaimed: 0,
        highwater: 0,
        current: 0,
        bytes: 0,
        pages_purged: 0,
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
    fn in_buckets(arena: &Arena) -> bool {
        let n = arena.free_count.get();
        n != 0 && n != arena.usable()
    }

    fn bucket_insert(&mut self, arena: *mut Arena) {
        // SAFETY: arena is a live arena and we hold the lock.
        let arena_ref = unsafe { &*arena };
        if !Manager::in_buckets(arena_ref) {
            return;
        }
        let n = arena_ref.free_count.get();
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
        if !Manager::in_buckets(arena_ref) {
            return;
        }
        let n = arena_ref.free_count.get();
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
                return Some(word * 64 + bits.trailing_zeros() as usize);
            }
            word += 1;
            bits = *self.occupied.get(word)?;
        }
    }

    /// The fullest arena with a run of `pages` free pages, and the run's start.
    /// Dirty pages come first: while free pages are still resident, a new
    /// pool placed on clean ones would grow the program's resident memory
    /// for nothing.
    fn find_free_run(&self, pages: usize) -> Option<(*mut Arena, usize)> {
        if self.dirty_free >= pages {
            if let Some(hit) = self.search_buckets(pages, true) {
                return Some(hit);
            }
        }
        // One free dirty page would have served a one-page run above.
        if pages > 1 && self.dirty_free > 0 {
            if let Some(hit) = self.least_clean_run(pages) {
                return Some(hit);
            }
        }
        self.search_buckets(pages, false)
    }

    /// Among the fullest [`LEAST_CLEAN_ARENAS`] arenas with `pages` free
    /// pages and some dirty ones, a run of that many with the fewest clean
    /// pages (in the fullest such arena on a tie). Each clean page is fresh
    /// memory, which the peak rule pays for by purging a resident free page
    /// that the heap then faults in again.
    fn least_clean_run(&self, pages: usize) -> Option<(*mut Arena, usize)> {
        let mut best: Option<(usize, *mut Arena, usize)> = None;
        let arenas = self
            .arenas_fullest_first(pages)
            // An arena with no dirty free page has only clean runs.
            .filter(|(_, arena)| arena.dirty_free.get() > 0)
            .take(LEAST_CLEAN_ARENAS);
        for (arena, arena_ref) in arenas {
            if let Some((first, clean)) = arena_ref.least_clean_run(pages) {
                if best.is_none_or(|(fewest, _, _)| clean < fewest) {
                    best = Some((clean, arena, first));
                }
            }
        }
        best.map(|(_, arena, first)| (arena, first))
    }

    /// A run of `pages` free pages in the emptiest arena that has one (dirty
    /// pages first, as in [`Manager::find_free_run`]). New pools go to the
    /// fullest arenas, so the pages here stay free longest.
    fn find_roomy_run(&self, pages: usize) -> Option<(*mut Arena, usize)> {
        [true, false].into_iter().find_map(|dirty| {
            (pages..PAGES_PER_ARENA).rev().find_map(|n| {
                if self.occupied[n / 64] & (1 << (n % 64)) == 0 {
                    return None;
                }
                let mut arena = self.buckets[n];
                while !arena.is_null() {
                    // SAFETY: bucket members are live arenas; lock held.
                    let arena_ref = unsafe { &*arena };
                    if let Some(first) = arena_ref.find_run(pages, dirty) {
                        return Some((arena, first));
                    }
                    arena = arena_ref.bucket_next.get();
                }
                None
            })
        })
    }

    fn search_buckets(&self, pages: usize, dirty: bool) -> Option<(*mut Arena, usize)> {
        self.arenas_fullest_first(pages)
            .filter(|(_, arena)| !dirty || arena.dirty_free.get() >= pages)
            .find_map(|(arena, arena_ref)| Some((arena, arena_ref.find_run(pages, dirty)?)))
    }

    /// The arenas in the buckets (neither full nor empty) with at least
    /// `pages` free pages, fullest first.
    fn arenas_fullest_first(&self, pages: usize) -> impl Iterator<Item = (*mut Arena, &Arena)> {
        let mut bucket = self.next_occupied(pages);
        let mut arena = bucket.map_or(ptr::null_mut(), |n| self.buckets[n]);
        core::iter::from_fn(move || {
            while arena.is_null() {
                let n = self.next_occupied(bucket? + 1)?;
                bucket = Some(n);
                arena = self.buckets[n];
            }
            let found = arena;
            // SAFETY: bucket members are live arenas; the caller holds the
            // lock (through `&self`) while it iterates.
            let found_ref = unsafe { &*found };
            arena = found_ref.bucket_next.get();
            Some((found, found_ref))
        })
    }

    /// Takes the most recently kept spare arena (there is one).
    fn pop_spare(&mut self) -> *mut Arena {
        self.spare_count -= 1;
        core::mem::replace(&mut self.spares[self.spare_count], ptr::null_mut())
    }

    fn new_arena(&mut self) -> *mut Arena {
        if self.spare_count > 0 {
            return self.pop_spare();
        }
        if self.arena_bytes == 0 {
            self.arena_bytes = crate::settings::freeze_arena_size();
        }
        self.adapt_delay(os::now_ms(), true);
        let bytes = self.arena_bytes;
        let base = os::map_aligned(bytes, ARENA_SIZE, ARENA_SIZE, 0);
        if base.is_null() {
            return base.cast();
        }
        let settings = crate::settings::get();
        let huge = match settings.huge_pages {
            HugePages::On => true,
            HugePages::Off => false,
            HugePages::Auto => self.counters.bytes >= AUTO_HUGE_PAGES_BYTES,
        };
        if huge {
            os::advise_huge_pages(base, bytes);
        }
        let arena = base.cast::<Arena>();
        let pages = bytes / PAGE_SIZE;
        // SAFETY: fresh zeroed mapping, and all-zero is a valid Arena except for
        // the fields set here (Pool::UNUSED is all zero bits).
        unsafe {
            (*arena).magic = ARENA_MAGIC;
            let unused = Arena::descriptor_offset(0);
            for owner in &(*arena).page_owner {
                owner.set(unused);
            }
            (*arena).huge.store(huge, Ordering::Relaxed);
            (*arena).pages.set(pages);
            Arena::set_pages(&(*arena).free_map, HEADER_PAGES, pages - HEADER_PAGES, true);
            (*arena).free_count.set(pages - HEADER_PAGES);
            (*arena).all_next.set(self.all);
            if !self.all.is_null() {
                (*self.all).all_prev.set(arena);
            }
        }
        self.all = arena;
        registry::register(base as usize, registry::Kind::Arena);
        let c = &mut self.counters;
        c.allocated_total += 1;
        c.current += 1;
        c.bytes += bytes;
        c.highwater = c.highwater.max(c.current);
        if settings.verbose {
            report("mapped arena", base, bytes);
        }
        arena
    }

    /// Doubles the adaptive delay when the heap regrows soon after giving
    /// memory back (`regrow`), halves it after a quiet window.
    fn adapt_delay(&mut self, now: u64, regrow: bool) {
        use core::sync::atomic::Ordering::Relaxed;
        let current = ADAPTIVE_DELAY_MS.load(Relaxed);
        let configured = crate::settings::get().purge_delay_ms as u64;
        if regrow
            && self.last_shrink != 0
            && now.saturating_sub(self.last_shrink) < THRASH_WINDOW_MS
        {
            let grown = (current.max(configured).max(1) * 2).min(MAX_ADAPTIVE_DELAY_MS);
            if grown > current && now.saturating_sub(self.last_adapt) >= current.max(configured) {
                ADAPTIVE_DELAY_MS.store(grown, Relaxed);
                self.last_adapt = now;
            }
        } else if current > 0
            && now.saturating_sub(self.last_adapt.max(self.last_shrink)) >= THRASH_WINDOW_MS
        {
            ADAPTIVE_DELAY_MS.store(current / 2, Relaxed);
            self.last_adapt = now;
        }
    }

    fn free_arena(&mut self, arena: *mut Arena) {
        if self.spare_count < MAX_SPARES {
            self.spares[self.spare_count] = arena;
            self.spare_count += 1;
        } else {
            self.unmap_arena(arena);
        }
    }

    fn unmap_arena(&mut self, arena: *mut Arena) {
        // SAFETY: arena is live; lock held.
        self.dirty_free -= unsafe { (*arena).dirty_free.get() };
        // SAFETY: arena is live and entirely free; unlink it before unmapping.
        let bytes = unsafe {
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
            (*arena).pages.get() * PAGE_SIZE
        };
        registry::unregister(arena as usize);
        os::unmap(arena.cast(), bytes);
        self.counters.reclaimed += 1;
        self.counters.current -= 1;
        self.counters.bytes -= bytes;
        if crate::settings::get().verbose {
            report("unmapped arena", arena.cast(), bytes);
        }
    }

    /// Takes `count` pages from `arena` starting at `first` for the pool
    /// whose descriptor is `pools[owner]` (`first` itself, unless a large
    /// block grows onto them); returns whether they are known to read as
    /// zero.
    fn take_pages(&mut self, arena: *mut Arena, first: usize, count: usize, owner: usize) -> bool {
        self.bucket_remove(arena);
        // SAFETY: live arena, lock held.
        let arena_ref = unsafe { &*arena };
        Arena::set_pages(&arena_ref.free_map, first, count, false);
        let dirty = (first..first + count)
            .filter(|&page| Arena::bit(&arena_ref.dirty_map, page))
            .count();
        arena_ref.dirty_free.set(arena_ref.dirty_free.get() - dirty);
        self.dirty_free -= dirty;
        let zeroed = dirty == 0;
        self.pool_pages += count;
        let clean = count - dirty;
        Arena::set_pages(&arena_ref.dirty_map, first, count, true);
        arena_ref.free_count.set(arena_ref.free_count.get() - count);
        for page in first..first + count {
            arena_ref.page_owner[page].set(Arena::descriptor_offset(owner));
        }
        self.bucket_insert(arena);
        // Fresh memory, counted in the footprint already (extra 0); the peak
        // is brought up to date once per batch. The arena is back in its
        // bucket, so its own free pages can make room too.
        if clean > 0 && fresh_batch_done(clean * PAGE_SIZE) {
            self.make_room_for(0);
        }
        zeroed
    }

    /// Takes `pages` pages at `found`, or at the start of a new arena when
    /// nothing was found, and purges what is due. Returns the arena, the
    /// first page and whether the pages read as zero; `None` when the OS
    /// has no memory left.
    fn claim_run(
        &mut self,
        found: Option<(*mut Arena, usize)>,
        pages: usize,
    ) -> Option<(*mut Arena, usize, bool)> {
        let (arena, first) = match found {
            Some(hit) => hit,
            None => {
                let arena = self.new_arena();
                if arena.is_null() {
                    return None;
                }
                (arena, HEADER_PAGES)
            }
        };
        let zeroed = self.take_pages(arena, first, pages, first);
        if self.next_purge != 0 {
            self.purge_due(os::now_ms(), false);
        }
        Some((arena, first, zeroed))
    }

    /// Schedules the free dirty pages of `arena` for purging after the delay.
    fn schedule_purge(&mut self, arena: &Arena, now: u64) {
        if arena.purge_at.get() == 0 {
            let at = now + purge_delay_ms();
            arena.purge_at.set(at.max(1));
            if self.next_purge == 0 || at < self.next_purge {
                self.next_purge = at.max(1);
            }
        }
    }

    /// Purges every arena whose delay has passed (all of them if `force`),
    /// and unmaps the spare arenas beyond `STRATA_RETAIN` that are due.
    fn purge_due(&mut self, now: u64, force: bool) {
        if !force && (self.next_purge == 0 || now < self.next_purge) {
            return;
        }
        self.next_purge = 0;
        self.last_shrink = now;
        self.adapt_delay(now, false);
        let retain = crate::settings::get().retain_arenas.min(MAX_SPARES);
        let mut index = 0;
        while index < self.spare_count {
            let spare = self.spares[index];
            // SAFETY: spares are live, entirely free arenas; lock held.
            let at = unsafe { (*spare).purge_at.get() };
            if self.spare_count > retain && (force || at <= now) {
                self.spare_count -= 1;
                self.spares[index] = self.spares[self.spare_count];
                self.unmap_arena(spare);
            } else {
                index += 1;
            }
        }
        let mut arena = self.all;
        while !arena.is_null() {
            // SAFETY: `all` links live arenas; lock held.
            let arena_ref = unsafe { &*arena };
            let at = arena_ref.purge_at.get();
            if at != 0 {
                if force || at <= now {
                    self.counters.pages_purged += self.purge_arena(arena_ref, usize::MAX);
                } else if self.next_purge == 0 || at < self.next_purge {
                    self.next_purge = at;
                }
            }
            arena = arena_ref.all_next.get();
        }
    }
    /// Purges up to `limit` free dirty pages of `arena`; returns how many.
    fn purge_arena(&mut self, arena: &Arena, limit: usize) -> usize {
        let purged = arena.purge_free_pages(limit);
        self.dirty_free -= purged;
        purged
    }

    /// The memory strata holds that may be resident: pool pages (less those
    /// given back inside pools), free arena pages not yet purged, and huge
    /// blocks and cached huge mappings. Kept from counters, not read from
    /// the OS, so that it costs no system call and a run's decisions do not
    /// depend on the machine.
    fn footprint(&self) -> usize {
        ((self.pool_pages + self.dirty_free) * PAGE_SIZE)
            .saturating_sub(POOL_BYTES_PURGED.load(Ordering::Relaxed))
            + large::footprint()
    }

    /// `extra` bytes that the footprint does not count yet are about to
    /// become resident (a huge mapping; 0 for fresh memory already counted):
    /// whatever would take the footprint past its peak while free arena
    /// pages are resident is given back first (see [`make_room`]). Cached
    /// huge mappings go first, oldest first, as many as the excess: a heap
    /// growing to a new peak has given them all back before it gets there,
    /// and one that regrows into memory it gave back (a round of objects
    /// faulted in again) keeps the rest for its next buffers.
    fn make_room_for(&mut self, extra: usize) {
        let over =
            |manager: &Self| (manager.footprint() + extra).saturating_sub(manager.peak_footprint);
        if crate::large::cached_bytes() > 0 && over(self) > 0 {
            crate::large::evict(over(self));
        }
        if self.dirty_free > 0 && over(self) > 0 {
            self.make_room(over(self));
        }
        self.peak_footprint = self.peak_footprint.max(self.footprint() + extra);
    }

    /// Gives back up to `bytes` of free resident arena memory, whatever its
    /// purge deadline: spare arenas beyond `STRATA_RETAIN` first, then the
    /// free dirty pages of the other arenas.
    fn make_room(&mut self, bytes: usize) {
        let retain = crate::settings::get().retain_arenas.min(MAX_SPARES);
        let mut freed = 0;
        while freed < bytes && self.spare_count > retain {
            let spare = self.pop_spare();
            // SAFETY: spares are live arenas; lock held.
            freed += unsafe { (*spare).dirty_free.get() } * PAGE_SIZE;
            self.unmap_arena(spare);
        }
        let mut arena = self.all;
        while freed < bytes && !arena.is_null() {
            // SAFETY: `all` links live arenas; lock held.
            let arena_ref = unsafe { &*arena };
            if arena_ref.purge_at.get() != 0 {
                let pages = self.purge_arena(arena_ref, (bytes - freed).div_ceil(PAGE_SIZE));
                self.counters.pages_purged += pages;
                freed += pages * PAGE_SIZE;
            }
            arena = arena_ref.all_next.get();
        }
    }
}

fn report(what: &str, base: *mut u8, bytes: usize) {
    let mut message = crate::check::StackMessage::new();
    let _ = core::fmt::Write::write_fmt(
        &mut message,
        format_args!("strata: {what} {base:p} ({bytes} bytes)\n"),
    );
    os::write_stderr(message.as_bytes());
}

/// Cuts a pool of `class` for `owner` from the fullest arena that can hold it.
/// Returns null when the OS has no memory left.
pub fn acquire_pool(class: usize, owner: *mut ThreadHeap) -> *mut Pool {
    let pages = CLASS_PAGES[class] as usize;
    let mut manager = lock();
    let found = manager.find_free_run(pages);
    let Some((arena, first, zeroed)) = manager.claim_run(found, pages) else {
        return ptr::null_mut();
    };
    // SAFETY: the pages were free and are now this pool's; lock held.
    unsafe {
        let arena_ref = &*arena;
        let start = arena_ref.base().add(first * PAGE_SIZE);
        let pool = &arena_ref.pools[first];
        pool.activate(class, start, pages, zeroed, owner);
        pool as *const Pool as *mut Pool
    }
}

/// The largest large block: 1 MiB, or a quarter of an arena's pool pages
/// if `STRATA_ARENA_SIZE` makes that less.
pub const LARGE_MAX: usize = 1 << 20;

/// Pages the biggest large block may span in arenas of `arena_bytes`.
fn large_max_pages(arena_bytes: usize) -> usize {
    (LARGE_MAX / PAGE_SIZE).min((arena_bytes / PAGE_SIZE - HEADER_PAGES) / 4)
}

/// A large block of `size` bytes (above the medium classes), cut from free
/// arena pages as a run of its own, or null if `size` is above the large
/// limit (or the OS has no memory): the caller then maps a huge block.
///
/// Such a block reuses the free pages that dead objects left, with no
/// system call and no page fault, and gives its pages back to the arena
/// when freed, where the next pools or large blocks find them. A program
/// that frees a round of objects and then builds a big buffer (CPython's
/// `json.dumps`) would otherwise map fresh memory for the buffer while the
/// freed pages sat idle, and purge those pages to keep its peak, only to
/// fault them in again for the next round's objects.
///
/// `growing` (a block that `realloc` moves because it grew) places the
/// block at the start of a run as long as the biggest large block, in the
/// emptiest arena that has one: the rest of the run stays free for anyone,
/// but new pools go to the fullest arenas, so the block's next growths find
/// it and stay in place ([`grow_large`]) instead of moving.
pub fn alloc_large(size: usize, zeroed: bool, growing: bool) -> *mut u8 {
    debug_assert!(growing || size > crate::size_class::MEDIUM_MAX);
    let pages = size.div_ceil(PAGE_SIZE);
    let mut manager = lock();
    if manager.arena_bytes == 0 {
        manager.arena_bytes = crate::settings::freeze_arena_size();
    }
    let max = large_max_pages(manager.arena_bytes);
    if pages > max {
        return ptr::null_mut();
    }
    // Failing a run as long as the biggest large block, one with room for
    // the block to double, then to grow by half: each spares a move or more.
    let roomy = if growing {
        [max, 2 * pages, pages + pages / 2]
            .into_iter()
            .filter(|&room| room > pages && room <= max)
            .find_map(|room| manager.find_roomy_run(room))
    } else {
        None
    };
    let found = roomy.or_else(|| manager.find_free_run(pages));
    let Some((arena, first, clean)) = manager.claim_run(found, pages) else {
        return ptr::null_mut();
    };
    // SAFETY: the pages were free and are now this block's; lock held.
    let start = unsafe {
        let arena_ref = &*arena;
        let start = arena_ref.base().add(first * PAGE_SIZE);
        arena_ref.pools[first].activate_large(start, pages);
        start
    };
    drop(manager);
    if zeroed && !clean {
        // SAFETY: the block's pages are ours and mapped.
        unsafe { ptr::write_bytes(start, 0, size) };
    }
    start
}

/// Grows the large block of `pool` in place to hold `new_size` bytes, by
/// taking the free pages that follow it in its arena. False if they are
/// not free, or `new_size` is above the large limit.
///
/// # Safety
/// `pool` is the descriptor of a live large block, `new_size` above its size.
pub unsafe fn grow_large(pool: &Pool, new_size: usize) -> bool {
    let start = pool.start.get();
    let arena = Arena::of(start);
    let first = (start as usize & (ARENA_SIZE - 1)) >> PAGE_SHIFT;
    let old_pages = pool.pages.get() as usize;
    let pages = new_size.div_ceil(PAGE_SIZE);
    let mut manager = lock();
    // SAFETY: a live block's arena is live; lock held.
    let arena_ref = unsafe { &*arena };
    let end = first + pages;
    // A block freed already (the caller's error) is not grown: the caller
    // moves it, and the free of the old block reports the pointer.
    if old_pages == 0
        || pool.owner.load(core::sync::atomic::Ordering::Relaxed) != crate::pool::LARGE_OWNER
        || pages > large_max_pages(manager.arena_bytes)
        || end > arena_ref.pages.get()
        || !(first + old_pages..end).all(|page| Arena::bit(&arena_ref.free_map, page))
    {
        return false;
    }
    manager.take_pages(arena, first + old_pages, pages - old_pages, first);
    pool.pages.set(pages as u8);
    pool.block_size.set((pages * PAGE_SIZE) as u32);
    // SAFETY: the run now spans `pages` pages from `start`.
    let end_ptr = unsafe { start.add(pages * PAGE_SIZE) };
    pool.end.set(end_ptr);
    pool.bump.set(end_ptr);
    true
}

/// Gives a freed large block's pages back to its arena.
///
/// # Safety
/// `pool` is the descriptor of a live large block, which nobody uses any
/// more.
pub unsafe fn release_large(pool: *mut Pool) {
    // SAFETY: as the caller guarantees.
    unsafe {
        (*pool).set_used(0);
        release_pool(pool);
    }
}

/// Returns an empty pool's pages to its arena, and the arena to the OS when it
/// is entirely free. The pages themselves are purged after the purge delay.
///
/// # Safety
/// `pool` is in use, has no block in use or on a remote list, is on no
/// heap's list and on no remote queue.
pub unsafe fn release_pool(pool: *mut Pool) {
    // SAFETY: the caller guarantees the pool is live and idle.
    let pool_ref = unsafe { &*pool };
    debug_assert_eq!(pool_ref.used(), 0, "releasing a pool with blocks in use");
    debug_assert!(
        !pool_ref.queued.load(core::sync::atomic::Ordering::Relaxed),
        "releasing a queued pool"
    );
    let arena = Arena::of(pool.cast());
    let first = (pool_ref.start.get() as usize & (ARENA_SIZE - 1)) >> PAGE_SHIFT;
    let pages = pool_ref.pages.get() as usize;
    let now = os::now_ms();
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
    // A pool's pages were all marked dirty when it was cut (those it purged
    // inside now count as dirty free pages until the arena purges them).
    arena_ref.dirty_free.set(arena_ref.dirty_free.get() + pages);
    manager.dirty_free += pages;
    manager.pool_pages -= pages;
    if pool_ref.purged.get() != 0 {
        pool_bytes_forgotten(crate::purge::purged_pages(pool_ref) * os::OS_PAGE);
    }
    manager.schedule_purge(arena_ref, now);
    if arena_ref.free_count.get() == arena_ref.usable() {
        manager.free_arena(arena);
    } else {
        manager.bucket_insert(arena);
    }
    manager.purge_due(now, false);
    drop(manager);
    crate::purger::ensure_running();
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

/// Gives back every free page now and unmaps the spare arenas (part of `trim`).
pub fn trim() {
    let mut manager = lock();
    while manager.spare_count > 0 {
        let spare = manager.pop_spare();
        manager.unmap_arena(spare);
    }
    manager.purge_due(os::now_ms(), true);
}

/// Called before the heap maps `bytes` of fresh memory that arena pages
/// cannot provide (a huge block, or a huge block growing). Free arena pages
/// wait out the purge delay so that a program rebuilding what it freed reuses
/// them, but that wait must not raise strata's peak: when the mapping would
/// take strata's footprint (the memory it holds that may be resident) past
/// the most it has held so far, that much free resident arena memory is
/// given back first. A program that frees a large part of its heap and then
/// builds a big buffer (CPython's `json.dumps` after a round of objects died)
/// would otherwise peak at the freed memory plus the buffer.
pub fn make_room(bytes: usize) {
    lock().make_room_for(bytes);
}

/// Bytes given back to the OS inside pools still in use (see `purge.rs`):
/// counted in their pools' pages but not resident.
static POOL_BYTES_PURGED: AtomicUsize = AtomicUsize::new(0);

/// Fresh memory (clean pages cut into pools, purged pages brought back) not
/// yet made room for.
static FRESH_DEBT: AtomicUsize = AtomicUsize::new(0);

/// Fresh memory is made room for in batches of this much, so that the
/// footprint is looked at (and the arena lock taken for restored pages)
/// rarely.
const FRESH_BATCH: usize = 1 << 20;

/// How many arenas, fullest first, [`Manager::least_clean_run`] looks at.
const LEAST_CLEAN_ARENAS: usize = 32;

/// Counts `bytes` of fresh memory; true when that completes a batch, and
/// the caller makes room for it.
fn fresh_batch_done(bytes: usize) -> bool {
    FRESH_DEBT.fetch_add(bytes, Ordering::Relaxed) + bytes >= FRESH_BATCH
        && FRESH_DEBT.swap(0, Ordering::Relaxed) > 0
}

/// `purge.rs` gave back `bytes` inside pools still in use.
pub fn pool_bytes_purged(bytes: usize) {
    POOL_BYTES_PURGED.fetch_add(bytes, Ordering::Relaxed);
}

/// `purge.rs` brought back `bytes` of a pool's purged pages: fresh memory,
/// made room for every [`FRESH_BATCH`] as [`make_room`] does.
pub fn pool_bytes_restored(bytes: usize) {
    pool_bytes_forgotten(bytes);
    if fresh_batch_done(bytes) {
        lock().make_room_for(0);
    }
}

/// Purged bytes of a pool that no longer counts them (restored, or the pool
/// went back to its arena, whose free pages count them as dirty).
fn pool_bytes_forgotten(bytes: usize) {
    let _ = POOL_BYTES_PURGED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |purged| {
        Some(purged.saturating_sub(bytes))
    });
}

/// Purges arenas whose delay has passed (called from slow paths and the
/// background purger). Returns whether a purge is still pending.
pub fn purge_if_due() -> bool {
    let mut manager = lock();
    if manager.next_purge != 0 {
        manager.purge_due(os::now_ms(), false);
    }
    manager.next_purge != 0
}

crate::fork::fork_hooks!("the arena lock": FORK_ARENA: Manager = lock());

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

    /// Sets the purge delay for one test and puts the old one back when
    /// dropped, even if the test fails: the next test must not inherit it.
    struct PurgeDelay(usize);

    impl PurgeDelay {
        fn set(delay: std::time::Duration) -> PurgeDelay {
            let old = crate::settings::get().purge_delay_ms;
            crate::settings::set_purge_delay(delay);
            PurgeDelay(old)
        }
    }

    impl Drop for PurgeDelay {
        fn drop(&mut self) {
            crate::settings::set_purge_delay(std::time::Duration::from_millis(self.0 as u64));
        }
    }

    #[test]
    fn pools_are_cut_from_the_fullest_arena_and_empty_arenas_are_released() {
        let _serial = ARENA_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let _delay = PurgeDelay::set(std::time::Duration::from_millis(10));
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
        let kept = visit_arenas(|_| {});
        assert!(
            kept.current >= before.current + 2,
            "empty arenas wait out the purge delay: {kept:?}"
        );
        // Past the delay, only STRATA_RETAIN (1) of them stay mapped.
        std::thread::sleep(std::time::Duration::from_millis(purge_delay_ms() + 20));
        purge_if_due();
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

    /// Every arena's `dirty_free` matches its bitmaps, and the manager's
    /// totals (dirty free pages, pool pages) are their sums.
    fn assert_dirty_counts_agree() {
        let manager = lock();
        let mut sum = 0;
        let mut pool_pages = 0;
        // Pages purged inside live pools, as the footprint counts them.
        let mut purged = 0;
        let mut arena = manager.all;
        while !arena.is_null() {
            // SAFETY: `all` links live arenas; lock held.
            let arena_ref = unsafe { &*arena };
            // SAFETY: lock held.
            let counted = unsafe { arena_ref.free_dirty_pages() };
            assert_eq!(arena_ref.dirty_free.get(), counted, "arena {arena:p}");
            sum += counted;
            pool_pages += arena_ref.usable() - arena_ref.free_count.get();
            for pool in &arena_ref.pools {
                if pool.pages.get() != 0 {
                    purged += crate::purge::purged_pages(pool) * os::OS_PAGE;
                }
            }
            arena = arena_ref.all_next.get();
        }
        assert_eq!(manager.dirty_free, sum);
        assert_eq!(manager.pool_pages, pool_pages);
        assert_eq!(POOL_BYTES_PURGED.load(Ordering::Relaxed), purged);
    }

    #[test]
    fn the_page_counters_agree_after_threads_churn_and_purge() {
        use rand::{Rng, SeedableRng};
        let _serial = ARENA_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let _delay = PurgeDelay::set(std::time::Duration::from_millis(1));
        let threads: Vec<_> = (0..4u64)
            .map(|seed| {
                std::thread::spawn(move || {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                    let mut live: Vec<(*mut u8, usize)> = Vec::new();
                    for round in 0..20_000 {
                        if live.len() < 2_000 && rng.gen_bool(0.55) {
                            // Small, medium and huge sizes, so pools of every
                            // shape come and go and huge maps make room.
                            let size = match rng.gen_range(0..100) {
                                0 => rng.gen_range(200_000..600_000),
                                1..=20 => rng.gen_range(600..40_000),
                                _ => rng.gen_range(1..600),
                            };
                            let p = crate::raw::alloc(size, 8);
                            assert!(!p.is_null());
                            // SAFETY: a live block of `size` bytes.
                            unsafe { p.write_bytes(round as u8, size.min(64)) };
                            live.push((p, size));
                        } else if !live.is_empty() {
                            let (p, _) = live.swap_remove(rng.gen_range(0..live.len()));
                            // SAFETY: a live block of ours.
                            unsafe { crate::raw::free(p) };
                        }
                        if round % 5_000 == 0 {
                            crate::trim();
                        }
                    }
                    for (p, _) in live {
                        // SAFETY: live blocks of ours.
                        unsafe { crate::raw::free(p) };
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_dirty_counts_agree();
        crate::trim();
        assert_dirty_counts_agree();
    }

    #[test]
    fn a_new_pool_takes_a_resident_free_page_before_a_clean_one() {
        let _serial = ARENA_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let _delay = PurgeDelay::set(std::time::Duration::from_secs(3600));
        // A run of pools; free the first ones and purge them (clean), then
        // free a later one (dirty): the next pool must land on the dirty one
        // although clean pages come first in the arena.
        let mut pools: Vec<*mut Pool> = (0..8).map(|_| acquire_pool(2, owner())).collect();
        assert!(pools.iter().all(|p| !p.is_null()));
        let same_arena = Arena::of(pools[0].cast());
        pools.retain(|&p| Arena::of(p.cast()) == same_arena);
        assert!(pools.len() >= 4, "the pools share an arena");
        let clean: Vec<*mut Pool> = pools.drain(..2).collect();
        for &pool in &clean {
            // SAFETY: acquired above, no blocks.
            unsafe { release_pool(pool) };
        }
        lock().purge_due(os::now_ms(), true);
        assert_dirty_counts_agree();
        let dirty = pools.remove(1);
        // SAFETY: acquired above, no blocks.
        unsafe { release_pool(dirty) };
        assert_dirty_counts_agree();
        let next = acquire_pool(2, owner());
        assert_eq!(next, dirty, "the resident free page is used first");
        // SAFETY: a pool we own.
        assert!(!unsafe { (*next).zeroed.get() });
        assert_dirty_counts_agree();
        pools.push(next);
        release_all(&mut pools);
        assert_dirty_counts_agree();
    }

    #[test]
    fn released_pages_are_dirty_and_fresh_ones_are_zeroed() {
        let _serial = ARENA_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        // No purge may zero the page between the release and the reuse.
        let _delay = PurgeDelay::set(std::time::Duration::from_secs(3600));
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

    /// An arena mapped for one test, outside the manager, with all its
    /// pages free and clean; unmapped when dropped, even if the test fails.
    struct LooseArena(*mut Arena);

    impl LooseArena {
        fn new() -> LooseArena {
            let base = os::map_aligned(ARENA_SIZE, ARENA_SIZE, ARENA_SIZE, 0);
            assert!(!base.is_null());
            let arena = base.cast::<Arena>();
            // SAFETY: a fresh zeroed mapping, a valid Arena once these are
            // set (as `new_arena` sets them).
            unsafe {
                (*arena).magic = ARENA_MAGIC;
                (*arena).pages.set(PAGES_PER_ARENA);
                Arena::set_pages(&(*arena).free_map, HEADER_PAGES, USABLE_PAGES, true);
                (*arena).free_count.set(USABLE_PAGES);
            }
            LooseArena(arena)
        }
    }

    impl core::ops::Deref for LooseArena {
        type Target = Arena;
        fn deref(&self) -> &Arena {
            // SAFETY: mapped and set up in `new`, unmapped only in `drop`.
            unsafe { &*self.0 }
        }
    }

    impl Drop for LooseArena {
        fn drop(&mut self) {
            os::unmap(self.0.cast(), ARENA_SIZE);
        }
    }

    /// Usable page `n` of an arena (the `n`th after the header).
    fn at(n: usize) -> usize {
        HEADER_PAGES + n
    }

    #[test]
    fn the_free_run_with_fewest_clean_pages_wins_over_the_first_one() {
        let arena = LooseArena::new();
        // Dirty (once used, now free): pages 100-103, and 10-11.
        Arena::set_pages(&arena.dirty_map, at(100), 4, true);
        Arena::set_pages(&arena.dirty_map, at(10), 2, true);
        // First fit would take the clean pages at the arena's start.
        assert_eq!(arena.find_run(4, false), Some(at(0)));
        assert_eq!(arena.least_clean_run(4), Some((at(100), 0)));
        assert_eq!(arena.least_clean_run(2), Some((at(10), 0)));
        // Six pages: a run holding 100-103 has two clean pages, the fewest.
        assert!(
            matches!(arena.least_clean_run(6), Some((first, 2)) if (at(98)..=at(100)).contains(&first))
        );
        // A taken page splits the dirty stretch: the best run of three now
        // has one clean page, and a run of two is still all dirty.
        Arena::set_pages(&arena.free_map, at(101), 1, false);
        assert_eq!(arena.least_clean_run(3).map(|(_, clean)| clean), Some(1));
        assert_eq!(arena.least_clean_run(2), Some((at(10), 0)));
        // Nothing free: no run.
        Arena::set_pages(&arena.free_map, HEADER_PAGES, USABLE_PAGES, false);
        assert_eq!(arena.least_clean_run(1), None);
    }

    #[test]
    fn a_limited_purge_gives_back_the_last_free_pages_and_keeps_the_rest_due() {
        let arena = LooseArena::new();
        Arena::set_pages(&arena.dirty_map, at(20), 10, true);
        Arena::set_pages(&arena.dirty_map, at(200), 10, true);
        // A dirty page in use is never purged.
        Arena::set_pages(&arena.dirty_map, at(205), 1, true);
        Arena::set_pages(&arena.free_map, at(205), 1, false);
        arena.dirty_free.set(19);
        arena.purge_at.set(123);

        assert_eq!(arena.purge_free_pages(6), 6);
        let dirty = |page: usize| Arena::bit(&arena.dirty_map, at(page));
        assert!((206..210).all(|p| !dirty(p)) && (203..205).all(|p| !dirty(p)));
        assert!(dirty(205) && dirty(202) && (20..30).all(dirty));
        assert_eq!(arena.dirty_free.get(), 13);
        assert_eq!(
            arena.purge_at.get(),
            123,
            "pages still wait for their purge"
        );

        assert_eq!(arena.purge_free_pages(usize::MAX), 13);
        assert!((20..30).chain(200..205).all(|p| !dirty(p)) && dirty(205));
        assert_eq!(arena.dirty_free.get(), 0);
        assert_eq!(arena.purge_at.get(), 0, "nothing left to purge");
    }

    #[test]
    fn the_fewest_clean_pages_match_a_page_by_page_search() {
        use rand::{Rng, SeedableRng};
        let arena = LooseArena::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let free = |p: usize| Arena::bit(&arena.free_map, p);
        let clean = |p: usize| !Arena::bit(&arena.dirty_map, p);
        for _ in 0..2_000 {
            // Random stretches of taken, clean and dirty pages.
            let mut page = HEADER_PAGES;
            while page < PAGES_PER_ARENA {
                let len = rng.gen_range(1..24).min(PAGES_PER_ARENA - page);
                let kind = rng.gen_range(0..3);
                Arena::set_pages(&arena.free_map, page, len, kind != 0);
                Arena::set_pages(&arena.dirty_map, page, len, kind != 1);
                page += len;
            }
            let count = rng.gen_range(1..=64);
            let fewest = (HEADER_PAGES..=PAGES_PER_ARENA - count)
                .filter(|&first| (first..first + count).all(free))
                .map(|first| (first..first + count).filter(|&p| clean(p)).count())
                .min();
            let found = arena.least_clean_run(count);
            assert_eq!(found.map(|(_, clean)| clean), fewest, "{count} pages");
            if let Some((first, in_run)) = found {
                assert!((first..first + count).all(free), "a run of taken pages");
                assert_eq!((first..first + count).filter(|&p| clean(p)).count(), in_run);
            }
        }
    }
}
