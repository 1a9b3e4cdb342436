//! Layer 0: huge blocks, mapped one per allocation.
//!
//! Requests above [`MEDIUM_MAX`](crate::size_class::MEDIUM_MAX) or aligned
//! beyond a pool page get their own mapping. The mapping starts on an
//! [`ARENA_SIZE`] boundary with a [`HugeHeader`] in its first OS page, so the
//! same mask that finds an arena header finds it: the block starts one page in
//! (or at its alignment, if that is larger). A block aligned to `ARENA_SIZE`
//! or more would start on the boundary itself; its header then sits exactly
//! one chunk before the block, and `free` tells the two cases apart by the
//! pointer's offset in its chunk (pool blocks are never at offset 0: the arena
//! header is there).

use crate::arena::ARENA_SIZE;
use crate::os::{self, OS_PAGE};
use crate::registry;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Marks a chunk as a huge block (the first word of its header).
pub const HUGE_MAGIC: usize = 0x5354_5241_5441_4855;

#[repr(C)]
pub struct HugeHeader {
    pub magic: usize,
    map_len: usize,
    /// Offset of the block from the mapping's start.
    offset: usize,
    /// The size last asked for (by the allocation or a resize): a resize
    /// above it that the mapping holds is growth into pages already mapped.
    requested: usize,
}

impl HugeHeader {
    /// Where this mapping's block starts.
    pub fn block_start(&self) -> *mut u8 {
        (self as *const HugeHeader as usize + self.offset) as *mut u8
    }
}

/// Marks a freed huge mapping kept in the cache for reuse.
pub const CACHED_MAGIC: usize = 0x5354_5241_5441_4843;

/// Freed huge mappings kept for reuse. A program that allocates, touches and
/// frees multi-megabyte blocks in a loop would otherwise pay a page fault per
/// 4 KiB on every round (mmap, fault, munmap); reusing a resident mapping
/// costs nothing. Entries unused for the purge delay are unmapped on the next
/// huge allocation or free, and by `trim()`.
///
/// A cached mapping stays resident, so it must not raise strata's peak: a
/// program that frees a big temporary buffer and then grows its heap would
/// otherwise hold both. The arena manager's peak rule sees to that: cached
/// mappings count in strata's footprint, and before fresh memory would take
/// the footprint past the most it has been, [`evict`] unmaps them first
/// (oldest first). So every freed mapping is cached; one nobody reuses goes
/// back after the purge delay, or as soon as fresh memory needs its room.
const CACHE_SLOTS: usize = 8;
/// Cached mappings never hold more than this in all.
const CACHE_MAX_BYTES: usize = 512 << 20;
/// A reused mapping keeps all its pages when the request needs at least
/// 1/`KEEP_RATIO` of them, and gives the tail back otherwise. The tail is
/// resident already (no footprint is added by keeping it), and a block that
/// then grows, as a list or string buffer being built does, grows into it
/// with neither a system call nor a page fault: CPython's JSON encoder
/// regrows a list from 128 KiB to 800 KiB in the mapping of the last one,
/// every 330 KiB of output.
const KEEP_RATIO: usize = 8;

#[derive(Clone, Copy)]
struct CachedMapping {
    base: *mut u8,
    len: usize,
    freed_at: u64,
}

struct HugeCache {
    entries: [CachedMapping; CACHE_SLOTS],
    count: usize,
    bytes: usize,
}

// SAFETY: the pointers name mappings owned by the cache, guarded by its mutex.
unsafe impl Send for HugeCache {}

static CACHE: Mutex<HugeCache> = Mutex::new(HugeCache {
    entries: [CachedMapping {
        base: ptr::null_mut(),
        len: 0,
        freed_at: 0,
    }; CACHE_SLOTS],
    count: 0,
    bytes: 0,
});

fn lock_cache() -> MutexGuard<'static, HugeCache> {
    CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The cache, locked, with the mappings unused for the purge delay gone.
fn lock_unexpired_cache() -> MutexGuard<'static, HugeCache> {
    let now = os::now_ms();
    let mut cache = lock_cache();
    cache.expire(now, false);
    cache
}

/// The length of a mapping holding `size` bytes at `offset`: whole OS
/// pages. None on overflow.
fn mapping_len(size: usize, offset: usize) -> Option<usize> {
    size.checked_add(offset)?.checked_next_multiple_of(OS_PAGE)
}

impl HugeCache {
    fn remove(&mut self, index: usize) -> CachedMapping {
        let entry = self.entries[index];
        self.count -= 1;
        self.entries[index] = self.entries[self.count];
        self.bytes -= entry.len;
        CACHED_BYTES.fetch_sub(entry.len, Ordering::Relaxed);
        entry
    }

    /// Unmaps entries older than the purge delay (all of them if `force`).
    fn expire(&mut self, now: u64, force: bool) {
        let delay = crate::arena::purge_delay_ms();
        let mut index = 0;
        while index < self.count {
            if force || now >= self.entries[index].freed_at + delay {
                let entry = self.remove(index);
                release_mapping(entry.base, entry.len);
            } else {
                index += 1;
            }
        }
    }

    /// The smallest cached mapping that holds `len` bytes and that a block
    /// of `len` bytes keeps whole (see [`KEEP_RATIO`]).
    fn take_whole(&mut self, len: usize) -> Option<CachedMapping> {
        let entries = &self.entries[..self.count];
        let pick = (0..entries.len())
            .filter(|&i| entries[i].len >= len && len.saturating_mul(KEEP_RATIO) >= entries[i].len)
            .min_by_key(|&i| entries[i].len)?;
        Some(self.remove(pick))
    }

    /// A cached mapping for a request of `len` bytes: the smallest that is
    /// big enough, else, for a request of at least [`RELOCATE_MIN`], the
    /// biggest (the caller grows it, keeping its resident pages).
    fn take(&mut self, len: usize) -> Option<CachedMapping> {
        let entries = &self.entries[..self.count];
        // Growing a smaller mapping costs system calls, which only saving
        // the faults of a big one repays.
        let pick = (0..entries.len())
            .filter(|&i| entries[i].len >= len)
            .min_by_key(|&i| entries[i].len)
            .or_else(|| {
                (len >= RELOCATE_MIN)
                    .then(|| (0..entries.len()).max_by_key(|&i| entries[i].len))
                    .flatten()
            });
        Some(self.remove(pick?))
    }

    /// Unmaps the oldest entries until `bytes` are freed or none is left;
    /// returns the bytes freed.
    fn evict(&mut self, bytes: usize) -> usize {
        let mut freed = 0;
        while freed < bytes && self.count > 0 {
            let oldest = (0..self.count)
                .min_by_key(|&i| self.entries[i].freed_at)
                .unwrap_or(0);
            let entry = self.remove(oldest);
            release_mapping(entry.base, entry.len);
            freed += entry.len;
        }
        freed
    }

    fn insert(&mut self, base: *mut u8, len: usize, now: u64) {
        if self.count == CACHE_SLOTS {
            self.evict(1);
        }
        let over = (self.bytes + len).saturating_sub(CACHE_MAX_BYTES);
        self.evict(over);
        self.entries[self.count] = CachedMapping {
            base,
            len,
            freed_at: now,
        };
        self.count += 1;
        self.bytes += len;
        CACHED_BYTES.fetch_add(len, Ordering::Relaxed);
    }
}

fn release_mapping(base: *mut u8, len: usize) {
    registry::unregister(base as usize);
    os::unmap(base, len);
}

/// Unmaps cached huge mappings unused for the purge delay.
pub fn expire(now: u64) {
    lock_cache().expire(now, false);
}

/// Unmaps cached huge mappings, oldest first, until `bytes` are given back
/// or the cache is empty; returns the bytes given back. The arena manager
/// calls this, holding its lock, to make room for fresh memory (lock order:
/// the arena lock, then the cache's).
pub fn evict(bytes: usize) -> usize {
    if CACHED_BYTES.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    lock_cache().evict(bytes)
}

/// Bytes in cached mappings, without the cache's lock.
pub fn cached_bytes() -> usize {
    CACHED_BYTES.load(Ordering::Relaxed)
}

/// Unmaps every cached huge mapping (part of `trim`).
pub fn trim() {
    lock_cache().expire(0, true);
}

static HUGE_BLOCKS: AtomicUsize = AtomicUsize::new(0);
static HUGE_BYTES: AtomicUsize = AtomicUsize::new(0);
/// The huge cache's `bytes`, readable without its lock.
static CACHED_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bytes of huge blocks and cached huge mappings (part of the arena
/// manager's footprint).
pub fn footprint() -> usize {
    HUGE_BYTES.load(Ordering::Relaxed) + CACHED_BYTES.load(Ordering::Relaxed)
}

/// Live huge blocks, the bytes mapped for them, and bytes in cached mappings.
pub fn counters() -> (usize, usize, usize) {
    let cached = lock_cache().bytes;
    (
        HUGE_BLOCKS.load(Ordering::Relaxed),
        HUGE_BYTES.load(Ordering::Relaxed),
        cached,
    )
}

/// The header of the huge block at `ptr`.
#[inline]
pub fn header_of(ptr: *mut u8) -> *mut HugeHeader {
    let addr = ptr as usize;
    if addr & (ARENA_SIZE - 1) == 0 {
        (addr - ARENA_SIZE) as *mut HugeHeader
    } else {
        (addr & !(ARENA_SIZE - 1)) as *mut HugeHeader
    }
}

/// Where the block starts in its mapping: one page in (the header's), or
/// `align` in for an over-aligned block, capped at `ARENA_SIZE` (a block
/// aligned to that or more starts one chunk in; `header_of` looks there).
///
/// Written as one clamp: rustc 1.95's LLVM folded the earlier
/// `if align >= ARENA_SIZE { .. } else { align.max(OS_PAGE) }` to the `max`
/// alone in one release build, so an 8 MiB-aligned block got its header
/// two chunks back and `free` refused it (`tests/huge_align.rs`
/// tests this in release builds).
fn block_offset(align: usize) -> usize {
    align.clamp(OS_PAGE, ARENA_SIZE)
}

/// Makes `base` (a mapping of `len` bytes) a huge block and returns the block.
fn install(base: *mut u8, len: usize, offset: usize, requested: usize) -> *mut u8 {
    // SAFETY: the first page of the mapping is ours.
    unsafe {
        base.cast::<HugeHeader>().write(HugeHeader {
            magic: HUGE_MAGIC,
            map_len: len,
            offset,
            requested,
        })
    };
    HUGE_BLOCKS.fetch_add(1, Ordering::Relaxed);
    HUGE_BYTES.fetch_add(len, Ordering::Relaxed);
    // SAFETY: offset < len.
    unsafe { base.add(offset) }
}

/// Fits a cached mapping to a request of `len` bytes and returns its base
/// and length. A longer one is kept whole when at most half of it would
/// sit idle and otherwise gives its tail back; a shorter one grows, in place
/// or by moving its pages to a new aligned range, so its resident pages still
/// save their faults. Null (the mapping released) if the OS refuses.
fn fit_mapping(entry: CachedMapping, len: usize) -> (*mut u8, usize) {
    let base = entry.base;
    if entry.len >= len {
        if len.saturating_mul(KEEP_RATIO) >= entry.len {
            return (base, entry.len);
        }
        // SAFETY: the tail past `len` is part of the cached mapping, which
        // nobody else uses.
        os::unmap(unsafe { base.add(len) }, entry.len - len);
        return (base, len);
    }
    if os::grow_in_place(base, entry.len, len) {
        return (base, len);
    }
    // SAFETY: the cached mapping is ours alone.
    let to = unsafe { move_to_new_range(base, entry.len, len) };
    if to.is_null() {
        release_mapping(base, entry.len);
        return (ptr::null_mut(), 0);
    }
    (to, len)
}

/// Moves the registered huge mapping `[from, from+old_len)` to a new range
/// aligned to [`ARENA_SIZE`], grown to `new_len` bytes, by remapping its
/// pages (no copy), and moves its registration with it. Returns the new base,
/// or null with the old mapping untouched.
///
/// # Safety
/// The mapping at `from` is strata's and nobody uses it during the move.
unsafe fn move_to_new_range(from: *mut u8, old_len: usize, new_len: usize) -> *mut u8 {
    let to = os::map_aligned(new_len, ARENA_SIZE, ARENA_SIZE, 0);
    if to.is_null() {
        return to;
    }
    // Registered before the move, so a reader that finds the kind finds the
    // header; the old chunk is forgotten before its pages leave.
    registry::register(to as usize, registry::Kind::Huge);
    registry::unregister(from as usize);
    // SAFETY: as the caller guarantees; `to` was just mapped for it.
    if !unsafe { os::move_mapping(from, old_len, new_len, to) } {
        registry::register(from as usize, registry::Kind::Huge);
        release_mapping(to, new_len);
        return ptr::null_mut();
    }
    to
}

/// Maps a huge block (or reuses a cached mapping), zeroed if `zeroed`. Null
/// when the size overflows or the OS refuses.
pub fn alloc(size: usize, align: usize, zeroed: bool) -> *mut u8 {
    let offset = block_offset(align);
    let Some(len) = mapping_len(size, offset) else {
        return ptr::null_mut();
    };
    if offset == OS_PAGE {
        let reused = lock_unexpired_cache().take(len);
        if let Some(entry) = reused {
            if len > entry.len {
                // Growing the mapping adds fresh memory. The entry has left
                // the cache's count and is not a block's yet, so all `len`
                // bytes are what the footprint is about to gain.
                crate::arena::make_room(len);
            }
            let (base, mapped) = fit_mapping(entry, len);
            if base.is_null() {
                return base;
            }
            let block = install(base, mapped, offset, size);
            if zeroed {
                // SAFETY: the block holds at least `size` bytes.
                unsafe { ptr::write_bytes(block, 0, size) };
            }
            return block;
        }
    }
    let (block_align, block_offset) = if align >= ARENA_SIZE {
        (align, offset)
    } else {
        (ARENA_SIZE, 0)
    };
    crate::arena::make_room(len);
    let base = os::map_aligned(len, ARENA_SIZE, block_align, block_offset);
    if base.is_null() {
        return base;
    }
    registry::register(base as usize, registry::Kind::Huge);
    // Fresh mappings read as zero.
    let block = install(base, len, offset, size);
    debug_assert!(block as usize % align == 0);
    block
}

/// A block of `size` bytes (aligned to at most an OS page) in a cached
/// mapping that holds it and that it keeps whole, or null if no such mapping
/// is cached. For a buffer that `realloc` is growing: the mapping is
/// resident already and counted in the footprint, so taking it costs no
/// fault and no system call, and the buffer grows on into its pages in
/// place (a program building lists round after round regrows each in the
/// mapping of one from the round before).
pub fn alloc_cached(size: usize) -> *mut u8 {
    if CACHED_BYTES.load(Ordering::Relaxed) == 0 {
        return ptr::null_mut();
    }
    let Some(len) = mapping_len(size, OS_PAGE) else {
        return ptr::null_mut();
    };
    let reused = lock_unexpired_cache().take_whole(len);
    match reused {
        Some(entry) => install(entry.base, entry.len, OS_PAGE, size),
        None => ptr::null_mut(),
    }
}

/// Frees a huge block: its mapping goes to the cache or back to the OS.
///
/// # Safety
/// `ptr` is a live huge block returned by [`alloc`].
pub unsafe fn free(ptr: *mut u8) {
    let header = header_of(ptr);
    crate::check::on_free_huge(header, ptr);
    // SAFETY: the caller guarantees a live huge block, so its header is mapped.
    let (len, offset) = unsafe { ((*header).map_len, (*header).offset) };
    HUGE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
    HUGE_BYTES.fetch_sub(len, Ordering::Relaxed);
    let base = header.cast::<u8>();
    if offset == OS_PAGE && len <= CACHE_MAX_BYTES / 4 {
        let now = os::now_ms();
        let mut cache = lock_cache();
        cache.expire(now, false);
        // SAFETY: the header page is ours; the mark lets debug checks tell a
        // double free from a live block.
        unsafe { (*header).magic = CACHED_MAGIC };
        cache.insert(base, len, now);
        drop(cache);
        crate::purger::ensure_running();
        return;
    }
    release_mapping(base, len);
}

/// Bytes usable from `ptr` to the end of its mapping.
///
/// # Safety
/// `ptr` is a live huge block.
pub unsafe fn usable_size(ptr: *mut u8) -> usize {
    // SAFETY: live huge block, header mapped.
    let header = unsafe { &*header_of(ptr) };
    header.map_len - header.offset
}

/// Keeps a huge block where it is for a resize to `new_size` when that is
/// growth (at least the size last asked for) into pages its mapping already
/// has: no system call, no page fault. Returns whether it did.
///
/// # Safety
/// `ptr` is a live huge block.
pub unsafe fn grow_within(ptr: *mut u8, new_size: usize) -> bool {
    // SAFETY: live huge block, header mapped and ours to update.
    let header = unsafe { &mut *header_of(ptr) };
    if new_size < header.requested || new_size > header.map_len - header.offset {
        return false;
    }
    header.requested = new_size;
    true
}

/// Resizes a huge block in place if it can: shrinking unmaps the tail pages,
/// growing extends the mapping when the address space after it is free.
/// Returns whether the block now holds `new_size` bytes.
///
/// # Safety
/// `ptr` is a live huge block.
pub unsafe fn resize_in_place(ptr: *mut u8, new_size: usize) -> bool {
    // SAFETY: live huge block, header mapped and ours to update.
    let header = unsafe { &mut *header_of(ptr) };
    let Some(new_len) = new_size
        .checked_add(header.offset)
        .and_then(|n| n.checked_next_multiple_of(OS_PAGE))
    else {
        return false;
    };
    let base = header as *mut HugeHeader as *mut u8;
    let old_len = header.map_len;
    if new_len == old_len {
        header.requested = new_size;
        return true;
    }
    if new_len < old_len {
        // SAFETY: the tail beyond new_len is past the block's new end.
        os::unmap(unsafe { base.add(new_len) }, old_len - new_len);
    } else {
        crate::arena::make_room(new_len - old_len);
        if !os::grow_in_place(base, old_len, new_len) {
            return false;
        }
    }
    header.map_len = new_len;
    header.requested = new_size;
    if new_len > old_len {
        HUGE_BYTES.fetch_add(new_len - old_len, Ordering::Relaxed);
    } else {
        HUGE_BYTES.fetch_sub(old_len - new_len, Ordering::Relaxed);
    }
    true
}

/// Huge blocks at least this big grow by [`relocate`]; smaller ones are
/// copied (a copy of less than a mebibyte costs less than the three or four
/// system calls of a move).
pub const RELOCATE_MIN: usize = 1 << 20;

/// Moves a huge block to a new mapping of `new_size` bytes (larger than it
/// has) without copying its contents: the pages are remapped by the kernel,
/// so a growing buffer costs neither a copy nor a second resident copy, and
/// the old mapping is gone at once rather than held in the cache. Returns
/// the block's new address, or null (the block untouched) if the OS refuses.
///
/// Blocks aligned to [`ARENA_SIZE`] or more are not moved (null).
///
/// # Safety
/// `ptr` is a live huge block.
pub unsafe fn relocate(ptr: *mut u8, new_size: usize) -> *mut u8 {
    let header = header_of(ptr);
    // SAFETY: live huge block, header mapped.
    let (old_len, offset) = unsafe { ((*header).map_len, (*header).offset) };
    // Any offset below ARENA_SIZE keeps the block's alignment on a new base
    // aligned to ARENA_SIZE; a larger one needs a base placed for it.
    if offset >= ARENA_SIZE {
        return ptr::null_mut();
    }
    let Some(new_len) = mapping_len(new_size, offset) else {
        return ptr::null_mut();
    };
    debug_assert!(new_len > old_len);
    crate::arena::make_room(new_len - old_len);
    // SAFETY: the mapping is this live block's own, which the caller hands
    // over for the move.
    let to = unsafe { move_to_new_range(header.cast::<u8>(), old_len, new_len) };
    if to.is_null() {
        return to;
    }
    // SAFETY: the header moved with its page.
    unsafe {
        (*to.cast::<HugeHeader>()).map_len = new_len;
        (*to.cast::<HugeHeader>()).requested = new_size;
    }
    HUGE_BYTES.fetch_add(new_len - old_len, Ordering::Relaxed);
    // SAFETY: offset < new_len.
    unsafe { to.add(offset) }
}

// The cache lock is a leaf: `fork.rs` takes it last.
crate::fork::fork_hooks!("the huge-mapping cache lock": FORK_CACHE: HugeCache = lock_cache());
