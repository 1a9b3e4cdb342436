//! # strata: CPython's allocator, rebuilt as a Rust global allocator
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: strata::Strata = strata::Strata;
//!
//! fn main() {
//!     let words: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
//!     assert_eq!(words[999], "999");
//!     let stats = strata::stats();
//!     assert!(stats.bytes_in_use > 0);
//!     println!("{stats}");
//! }
//! ```
//!
//! Every allocation of the program then goes through strata: one byte or one
//! gigabyte, any alignment a `Layout` allows, from any thread.
//!
//! ## The layers
//!
//! strata follows the pyramid of CPython's `Objects/obmalloc.c`, except that
//! it also serves the sizes pymalloc hands to the C library:
//!
//! ```text
//!  +3  object-specific allocators   type_cache.rs
//!        per-thread free lists of one type (CPython's dict free list)
//!  +2  object allocator             pool.rs, heap.rs, thread.rs
//!        size classes -> pools of one class -> blocks on free lists,
//!        one heap of pools per thread
//!  +1  raw memory manager           arena.rs
//!        4 MiB arenas, aligned to their size, carved into 16 KiB pages
//!  0   huge blocks                  large.rs
//!        one mapping per block above 128 KiB
//!  -1  OS virtual memory            os.rs
//!        mmap / munmap / madvise, nothing else calls the OS
//! ```
//!
//! ## Vocabulary
//!
//! * **Size class** (`size_class.rs`): the block size that serves a request.
//!   64 small classes in 8-byte steps up to 512 bytes, then 32 medium classes
//!   (four per power of two) up to 128 KiB. Size to class is a table lookup.
//! * **Block**: what a caller gets. A free block's first word links it into
//!   its pool's free list.
//! * **Pool** (`pool.rs`): one or more 16 KiB pages holding blocks of one
//!   class. Its descriptor (class, blocks in use, free-list head, bump pointer
//!   into the never-used tail) sits in the arena header, so blocks start on
//!   the page boundary.
//! * **Arena** (`arena.rs`): a 4 MiB mapping aligned to 4 MiB: masking any
//!   pointer finds its arena header, and the header's page table finds the
//!   pool. Arenas with free pages are used fullest first; an empty arena goes
//!   back to the OS (one is kept as a spare).
//! * **Thread heap** (`heap.rs`, `thread.rs`): each thread's pools, per class:
//!   the current pool, the pools with room, the full ones. The fast paths
//!   touch only the calling thread's heap, with no atomics. A block freed by
//!   another thread goes to its pool's lock-free remote list and the pool is
//!   queued on its owner, which collects it when it runs dry. When a thread
//!   exits its pools go to an orphanage and are adopted by the next thread
//!   that needs a pool of their class.
//! * **Huge block** (`large.rs`): a direct mapping with a one-page header on
//!   an arena-sized boundary, found by the same mask.
//! * **Registry** (`registry.rs`): one bit per 4 MiB chunk of the address
//!   space, so "is this pointer strata's?" never touches unmapped memory.
//!
//! ## Where things live
//!
//! `lib.rs` (this file) is the `GlobalAlloc` front: it picks class or huge
//! block and calls `heap.rs`. `purge.rs` gives back the free pages inside
//! sparse pools; `type_cache.rs` holds [`TypeCache`] and [`ClassCache`];
//! `stats.rs` builds [`stats()`]; `settings.rs` reads `STRATA_*` variables;
//! `check.rs` holds the misuse checks of debug builds (double free, foreign
//! pointers); [`trim()`] gives memory back at once. `debug.rs` is the debug
//! mode (`STRATA_DEBUG=1`: guard bytes, fill patterns, checks on every free)
//! and `fork.rs` the `pthread_atfork` handlers, both used by the C API
//! (`allocator/capi`).
//!
//! ## Giving memory back
//!
//! * **Purge delay** (`STRATA_PURGE_DELAY_MS`, 10 ms, longer while the heap
//!   is observed to shrink and regrow): free pages stay resident that long, so
//!   a program that frees and reallocates reuses them, then go back to the OS
//!   with `madvise`, from slow paths or the background purger (`purger.rs`).
//! * **Empty pools** return to their arena at once; **empty arenas** are
//!   unmapped (`STRATA_RETAIN` are kept, purged).
//! * **Sparse pools** (a quarter full or less for the purge delay) give back
//!   the 4 KiB pages no live block touches; see `purge.rs`.
//! * **Huge mappings** freed are cached for the purge delay for reuse, which
//!   spares a program that churns big blocks a page fault per page; they are
//!   given back first when fresh memory would raise the peak.
//!
//! ## Guarantees
//!
//! strata never allocates through itself while serving a request (thread-heap
//! set-up included), never panics inside `GlobalAlloc`, and returns null when
//! the OS refuses memory.

#![deny(unsafe_op_in_unsafe_fn)]

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod arena;
mod check;
pub mod debug;
pub mod fork;
mod heap;
mod large;
mod os;
mod pool;
mod purge;
mod purger;
mod registry;
pub mod settings;
mod size_class;
mod stats;
mod thread;
mod type_cache;

pub use arena::{ArenaCounters, ARENA_SIZE, PAGE_SIZE};
pub use size_class::{MEDIUM_MAX, NUM_CLASSES, SMALL_MAX};
pub use stats::{stats, ClassStats, Stats};
pub use type_cache::{ClassCache, TypeCache, TypeCacheStats, MAX_TYPE_CACHES};

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

/// The strata allocator. Install it with `#[global_allocator]`, or call its
/// `GlobalAlloc` methods directly to use it next to another global allocator.
#[derive(Clone, Copy, Debug, Default)]
pub struct Strata;

/// Allocates `size` bytes aligned to `align` (a power of two). Null on failure.
#[inline(always)]
fn allocate(size: usize, align: usize) -> *mut u8 {
    allocate_in(thread::current(), size, align)
}

/// [`allocate`] with the calling thread's heap already loaded.
#[inline(always)]
fn allocate_in(heap: *mut heap::ThreadHeap, size: usize, align: usize) -> *mut u8 {
    match size_class::class_for(size, align) {
        Some(class) => heap::alloc_in(heap, class),
        None => allocate_huge(size, align, false),
    }
}

#[cold]
#[inline(never)]
fn allocate_huge(size: usize, align: usize, zeroed: bool) -> *mut u8 {
    if size > MEDIUM_MAX && size <= arena::LARGE_MAX && align <= arena::PAGE_SIZE {
        let block = arena::alloc_large(size, zeroed, false);
        if !block.is_null() {
            return block;
        }
    }
    large::alloc(size.max(1), align, zeroed)
}

/// `alloc` while debug mode is on or not yet known to be off: kept out of
/// line so that the fast path makes no call and saves no register.
#[cold]
#[inline(never)]
fn alloc_checked(size: usize, align: usize) -> *mut u8 {
    if debug::enabled() {
        return debug::alloc(size, align, debug::Family::Rust, false);
    }
    debug::leave_checked_path();
    allocate(size, align)
}

/// `dealloc` while debug mode is on or not yet known to be off.
///
/// # Safety
/// As [`GlobalAlloc::dealloc`]: `ptr` is a live block of `size` bytes.
#[cold]
#[inline(never)]
unsafe fn dealloc_checked(ptr: *mut u8, size: usize) {
    if debug::enabled() {
        // SAFETY: debug::free checks the pointer itself.
        return unsafe { debug::free(ptr, debug::Family::Rust, Some(size)) };
    }
    debug::leave_checked_path();
    check::on_free_any(ptr);
    // SAFETY: as the caller guarantees.
    unsafe { heap::free(ptr) }
}

/// `realloc` while debug mode is on or not yet known to be off.
///
/// # Safety
/// As [`GlobalAlloc::realloc`]: `ptr` is a live block of `old_size` bytes.
#[cold]
#[inline(never)]
unsafe fn realloc_checked(ptr: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    if debug::enabled() {
        // SAFETY: debug::realloc checks the pointer itself.
        return unsafe { debug::realloc(ptr, align, new_size, debug::Family::Rust) };
    }
    debug::leave_checked_path();
    // SAFETY: as the caller guarantees.
    unsafe { reallocate_in(thread::current(), ptr, old_size, align, new_size) }
}

// SAFETY: every block returned is at least `layout.size()` bytes, aligned to
// `layout.align()`, and not handed out again until it is deallocated.
unsafe impl GlobalAlloc for Strata {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let here = raw::Here::get();
        if here.checked() {
            return alloc_checked(layout.size(), layout.align());
        }
        here.alloc(layout.size(), layout.align())
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let here = raw::Here::get();
        if here.checked() {
            // SAFETY: as the caller guarantees.
            return unsafe { dealloc_checked(ptr, layout.size()) };
        }
        check::on_free_any(ptr);
        // SAFETY: the GlobalAlloc contract: ptr is a live block of ours;
        // anything not in a pool is a huge block.
        unsafe { here.free_or_else(ptr, |ptr| large::free(ptr)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if debug::enabled() {
            return debug::alloc(layout.size(), layout.align(), debug::Family::Rust, true);
        }
        match size_class::class_for(layout.size(), layout.align()) {
            Some(class) => {
                let fresh = heap::next_block_is_zeroed(class);
                let block = heap::alloc(class);
                if !block.is_null() && !fresh {
                    // SAFETY: the block holds at least layout.size() bytes.
                    unsafe { ptr::write_bytes(block, 0, layout.size()) };
                }
                block
            }
            // Fresh mappings read as zero; reused ones are cleared.
            None => allocate_huge(layout.size(), layout.align(), true),
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let here = raw::Here::get();
        if here.checked() {
            // SAFETY: as the caller guarantees.
            return unsafe { realloc_checked(ptr, layout.size(), layout.align(), new_size) };
        }
        // SAFETY: the GlobalAlloc contract: ptr is a live block of ours
        // holding at least layout.size() bytes.
        unsafe { here.realloc_sized(ptr, layout.size(), layout.align(), new_size) }
    }
}

/// Resizes a live block, in place when it fits, copying `old_size` bytes
/// (at most `new_size`; `usize::MAX` for the whole block) otherwise. Null,
/// with the block untouched, on failure.
///
/// A pool block costs one page-map lookup: its descriptor gives the usable
/// size and then frees the old block, as `free` would after its own lookup.
///
/// # Safety
/// `ptr` is a live block of ours holding at least `old_size` bytes, aligned
/// to `align`; `heap` is `thread::current()`.
#[inline(always)]
unsafe fn reallocate_in(
    heap: *mut heap::ThreadHeap,
    ptr: *mut u8,
    old_size: usize,
    align: usize,
    new_size: usize,
) -> *mut u8 {
    // No `check::on_free_any`: a pointer in no arena is checked on the
    // unpooled path, which names the call.
    if !registry::in_arena(ptr) {
        // SAFETY: as the caller guarantees; not a pool block.
        return unsafe { reallocate_unpooled(ptr, old_size, align, new_size) };
    }
    // SAFETY: ptr lies in an arena.
    let pool = unsafe { heap::pool_in_arena(ptr) };
    // SAFETY: the descriptor of a live block's pool is readable.
    let usable = unsafe { (*pool).block_size.get() } as usize;
    if fits_in_pool_block(usable, new_size, align) {
        return ptr;
    }
    // A large block grows into the free pages after it when it can.
    // SAFETY: as above; a large block's descriptor is its own.
    if new_size > usable
        && new_size <= arena::LARGE_MAX
        && unsafe { (*pool).class.get() } == pool::LARGE_CLASS
        && unsafe { arena::grow_large(&*pool, new_size) }
    {
        return ptr;
    }
    if usable == 0 {
        // The page map sends arena header pages to a descriptor that is no
        // pool's: this pointer was never a block.
        debug::foreign_pointer("realloc", ptr);
    }
    // A block that grows past the medium classes by more than a quarter at
    // once (a `Vec` doubling, a buffer growing by half), or a large block
    // that found no room to grow in, is a buffer still being built: it is
    // mapped as a huge block, which grows by `mremap` without copying,
    // where it would copy most of itself at every move between arena runs.
    // A block of at least `GROW_IN_RUN_MIN` growing by a small step (CPython
    // grows a list by an eighth) takes a large block, on the pages dead
    // objects left, placed where it can grow in place up to the large
    // limit if there is such a place: between medium classes a quarter
    // apart, such a buffer would move and copy itself at every other step.
    // Either way, a resident cached mapping that the buffer would fill an
    // eighth of comes first: it costs no fault, and the buffer's next
    // growths stay in place in it.
    let mut new = ptr::null_mut();
    if new_size > usable {
        let small_step = new_size <= usable + usable / 4;
        if small_step && usable >= GROW_IN_RUN_MIN && align <= os::OS_PAGE {
            new = large::alloc_cached(new_size);
        }
        if new.is_null() {
            if new_size > MEDIUM_MAX && (!small_step || usable > MEDIUM_MAX) {
                new = large::alloc(new_size, align, false);
            } else if small_step
                && (new_size > MEDIUM_MAX || usable >= GROW_IN_RUN_MIN)
                && align <= arena::PAGE_SIZE
            {
                new = arena::alloc_large(new_size, false, true);
            }
        }
    }
    if new.is_null() {
        new = allocate_in(heap, new_size, align);
    }
    if !new.is_null() {
        // SAFETY: both blocks are live and distinct; copy what both hold.
        // The refill behind `allocate_in` may have given this thread its
        // heap, so the old block is freed as the heap now current.
        unsafe {
            ptr::copy_nonoverlapping(ptr, new, old_size.min(usable).min(new_size));
            heap::free_in_pool(thread::current(), pool, ptr);
        }
    }
    new
}

/// The smallest block that `realloc` moves to a large block of its own when
/// it grows by a small step, rather than to the next medium class. A run is
/// made of whole 16 KiB pages, up to a page more than the buffer asked for
/// (half as much again at 32 KiB, a quarter at 64 KiB); a buffer growing by
/// eighths fills that page within a few steps. Below two pages the copies
/// this saves are small, and a page would be most of the block.
const GROW_IN_RUN_MIN: usize = 2 * arena::PAGE_SIZE;

/// [`reallocate_in`] for a block that is not in a pool: a huge block, or a
/// pointer strata never returned (which stops the process).
///
/// # Safety
/// As [`reallocate_in`].
#[cold]
#[inline(never)]
unsafe fn reallocate_unpooled(
    ptr: *mut u8,
    old_size: usize,
    align: usize,
    new_size: usize,
) -> *mut u8 {
    if !raw::owns(ptr) {
        debug::foreign_pointer("realloc", ptr);
    }
    // SAFETY: a live huge block of ours (caller's contract).
    if unsafe { large::grow_within(ptr, new_size) } {
        return ptr;
    }
    // SAFETY: as above.
    let usable = unsafe { large::usable_size(ptr) };
    // Keep the mapping when it fits with at most one page spare (or, for a
    // small over-aligned block, at most half spare); otherwise
    // `resize_in_place` trims or grows it.
    if new_size <= usable
        && (usable - new_size < os::OS_PAGE || (usable <= MEDIUM_MAX && new_size >= usable / 2))
    {
        return ptr;
    }
    // SAFETY: a huge block of ours.
    if new_size > MEDIUM_MAX && unsafe { large::resize_in_place(ptr, new_size) } {
        return ptr;
    }
    // Growing a big huge block that cannot grow where it is: move its
    // pages. Below RELOCATE_MIN a copy is cheaper than the system calls.
    if new_size > usable && usable >= large::RELOCATE_MIN {
        // SAFETY: a live huge block.
        let moved = unsafe { large::relocate(ptr, new_size) };
        if !moved.is_null() {
            return moved;
        }
    }
    let new = allocate(new_size, align);
    if !new.is_null() {
        // SAFETY: both blocks are live and distinct; copy what both hold.
        unsafe {
            ptr::copy_nonoverlapping(ptr, new, old_size.min(usable).min(new_size));
            large::free(ptr);
        }
    }
    new
}

/// Whether a pool block of `usable` bytes can keep serving a resize to
/// `new_size`: it must fit, and must not shrink below half unless the new
/// size has the same class, so a big block shrunk to a small one gives its
/// memory back.
#[inline]
fn fits_in_pool_block(usable: usize, new_size: usize, align: usize) -> bool {
    new_size <= usable
        && (new_size >= usable / 2
            || size_class::class_for(new_size, align).map(|c| size_class::CLASS_SIZE[c] as usize)
                == Some(usable))
}

/// Gives memory back to the OS now, like `malloc_trim(0)` or `mi_collect`:
/// the free pages inside the calling thread's pools, the pools of exited
/// threads that emptied, every free arena page, and the spare arenas.
/// Other threads' pools are purged by those threads themselves, after the
/// purge delay (`STRATA_PURGE_DELAY_MS`), without any call.
pub fn trim() {
    let heap = thread::current();
    if !core::ptr::eq(heap, &heap::EMPTY_HEAP) {
        // SAFETY: this thread's own heap.
        unsafe {
            type_cache::flush_all(&*heap);
            (*heap).purge_all();
        }
    }
    thread::trim_orphans();
    arena::trim();
    large::trim();
}

/// Low-level entry points for the C API: sizes and alignments without a `Layout`.
pub mod raw {
    use super::*;

    /// The calling thread's heap, loaded once by a fast path that both tests
    /// whether to take the checked (debug) path and then allocates or frees.
    #[derive(Clone, Copy, Debug)]
    pub struct Here(*mut heap::ThreadHeap);

    impl Here {
        /// The calling thread's heap (a shared empty one before its first
        /// allocation). Valid only on the thread that got it.
        #[inline(always)]
        pub fn get() -> Here {
            Here(thread::current())
        }

        /// Whether requests must take the checked path: debug mode is on or
        /// not yet known to be off. One compare on the heap the fast path
        /// loads anyway, so it tests this first and keeps the call to
        /// [`debug::enabled`] (which reads the environment the first time)
        /// off its way; the checked paths clear the flag with
        /// [`debug::leave_checked_path`] once the mode is known to be off.
        #[inline(always)]
        pub fn checked(self) -> bool {
            // SAFETY: heaps (and the empty heap) live for the whole process.
            unsafe {
                (*self.0)
                    .checked
                    .load(core::sync::atomic::Ordering::Relaxed)
            }
        }

        /// [`alloc`], with this heap.
        #[inline(always)]
        pub fn alloc(self, size: usize, align: usize) -> *mut u8 {
            debug_assert!(align.is_power_of_two());
            allocate_in(self.0, size, align)
        }

        /// Only the fast path of [`Here::alloc`]: a pooled block if the
        /// current pool of its class has one at hand, else null, in which
        /// case the caller calls [`alloc`] (out of line, so that its own fast
        /// path makes no call and keeps no stack frame).
        #[inline(always)]
        pub fn alloc_fast(self, size: usize, align: usize) -> *mut u8 {
            debug_assert!(align.is_power_of_two());
            match size_class::class_for(size, align) {
                Some(class) => heap::alloc_fast_in(self.0, class),
                None => ptr::null_mut(),
            }
        }

        /// [`realloc`], with this heap, copying at most `old_size` bytes
        /// (`usize::MAX`: the whole usable size).
        ///
        /// # Safety
        /// As [`realloc`]; the block holds at least `old_size` bytes (or
        /// `old_size` is `usize::MAX`); `self` is the calling thread's.
        #[inline(always)]
        pub unsafe fn realloc_sized(
            self,
            ptr: *mut u8,
            old_size: usize,
            align: usize,
            new_size: usize,
        ) -> *mut u8 {
            // SAFETY: as the caller guarantees.
            unsafe { reallocate_in(self.0, ptr, old_size, align, new_size) }
        }

        /// [`free_or_else`], with this heap.
        ///
        /// # Safety
        /// As [`free_or_else`]; `self` is the calling thread's.
        #[inline(always)]
        pub unsafe fn free_or_else(self, ptr: *mut u8, other: impl FnOnce(*mut u8)) {
            // SAFETY: as the caller guarantees.
            unsafe { heap::free_or_else_in(self.0, ptr, other) }
        }
    }

    /// Allocates `size` bytes aligned to `align` (a power of two). Null on
    /// failure. A zero size gets a unique minimal block.
    #[inline]
    pub fn alloc(size: usize, align: usize) -> *mut u8 {
        debug_assert!(align.is_power_of_two());
        allocate(size, align)
    }

    /// Frees a block.
    ///
    /// # Safety
    /// `ptr` came from this allocator and was not freed since.
    #[inline]
    pub unsafe fn free(ptr: *mut u8) {
        check::on_free_any(ptr);
        // SAFETY: as the caller guarantees.
        unsafe { heap::free(ptr) }
    }

    /// Frees `ptr` if it is a pool block, the fast path of `free`; anything
    /// else (a huge block, null, a pointer strata never returned) goes to
    /// `other`, which may check it with [`owns`](raw::owns) and
    /// [`free`](raw::free) it.
    ///
    /// # Safety
    /// If `ptr` lies in one of strata's arenas, it is a live block there.
    #[inline(always)]
    pub unsafe fn free_or_else(ptr: *mut u8, other: impl FnOnce(*mut u8)) {
        // SAFETY: as the caller guarantees.
        unsafe { heap::free_or_else(ptr, other) }
    }

    /// Resizes a block allocated with `align` to `new_size` bytes, keeping its
    /// contents (up to the smaller size); in place when possible. Null, with
    /// the block untouched, on failure.
    ///
    /// # Safety
    /// `ptr` came from this allocator with alignment `align` and was not freed
    /// since.
    pub unsafe fn realloc(ptr: *mut u8, align: usize, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller guarantees; the whole usable size is valid.
        unsafe { reallocate_in(thread::current(), ptr, usize::MAX, align, new_size) }
    }

    /// The usable size of a live block (at least what was asked for).
    ///
    /// # Safety
    /// `ptr` came from this allocator and was not freed since.
    pub unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: as the caller guarantees.
        unsafe { heap::usable_size(ptr) }
    }

    /// Whether `ptr` lies in memory strata manages (an arena or huge block).
    /// Never touches memory that might be unmapped.
    #[inline]
    pub fn owns(ptr: *const u8) -> bool {
        let addr = ptr as usize;
        let chunk = if addr & (ARENA_SIZE - 1) == 0 {
            addr.wrapping_sub(ARENA_SIZE)
        } else {
            addr & !(ARENA_SIZE - 1)
        };
        registry::is_registered(chunk)
    }
}
