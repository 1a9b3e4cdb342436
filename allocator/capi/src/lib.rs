//! # libstrata.so: strata as the C allocator
//!
//! This crate builds `libstrata.so`, which replaces `malloc` and friends and
//! the C++ `operator new`/`delete` family in any dynamically linked program:
//!
//! ```text
//! cargo build --release -p strata-capi
//! LD_PRELOAD=target/release/libstrata.so python3 my_script.py
//! STRATA_DEBUG=1 LD_PRELOAD=target/release/libstrata.so ./my_program
//! ```
//!
//! From C the library is used through the standard declarations; it adds
//! three functions of its own:
//!
//! ```c
//! int strata_owns(const void *p);        /* 1 if p lies in strata's memory */
//! size_t strata_thread_heaps(void);      /* threads holding a strata heap */
//! int strata_debug_enabled(void);        /* 1 under STRATA_DEBUG=1 */
//! ```
//!
//! * `malloc.rs`: `malloc`, `free`, `calloc`, `realloc`, `reallocarray`,
//!   `posix_memalign`, `aligned_alloc`, `memalign`, `valloc`, `pvalloc`,
//!   `malloc_usable_size`, `free_sized`, `free_aligned_sized`, `malloc_trim`,
//!   `malloc_stats`, `mallinfo2`, `mallinfo`.
//! * `cxx.rs`: every replaceable `operator new` and `operator delete`.
//! * This file: the paths they share, and the start-up constructor.
//!
//! Start-up: strata needs no initialisation call. Its state is static and
//! zero-initialised, settings come from `getenv` (which does not allocate),
//! and a thread's heap is created on its first allocation from `mmap`ed
//! memory. Nothing here calls `dlsym`, except a failed `operator new`
//! looking for a C++ runtime loaded later (see `cxx.rs`). A constructor in
//! `.init_array` registers the `fork()` handlers (`pthread_atfork` may
//! allocate, which is fine by then). Threads that C code creates release their heaps through
//! strata's pthread key destructor when they exit.
//!
//! Debug mode (`STRATA_DEBUG=1`) is `strata::debug`: guard bytes, fill
//! patterns, family and double-free checks, one-line fault reports.

#![deny(unsafe_op_in_unsafe_fn)]

mod cxx;
mod malloc;

use allocator::debug::{self, Family};
use allocator::raw;
use core::alloc::{GlobalAlloc, Layout};
use core::ffi::{c_int, c_void};
use core::ptr;

/// The page size `valloc` and `pvalloc` align to.
const PAGE: usize = 4096;

pub(crate) fn set_errno(code: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = code };
}

/// Reports an allocation failure the C way: null with `errno = ENOMEM`.
#[cold]
pub(crate) fn fail() -> *mut c_void {
    set_errno(libc::ENOMEM);
    ptr::null_mut()
}

/// The block offset `libstrata.so` asks for unless `STRATA_BLOCK_OFFSET`
/// says otherwise: small blocks start 48 bytes into their pool's page, as in
/// CPython's pymalloc, so that the fields of an object behind a 16-byte
/// header (CPython's GC links) start a cache line. CPython's collector walks
/// its containers in allocation order and reads each one's fields: at 48 the
/// walk's misses overlap (see `allocator::settings::block_offset`; the
/// figures are in the README).
const C_BLOCK_OFFSET: usize = 48;

/// `calloc` up to this size clears a block from the fast path; larger ones
/// take the zeroed path, which skips the clearing for memory fresh from the
/// OS (CPython's lists ask `calloc` for their item arrays, 50,000 times in
/// one round of its benchmark, nearly all small).
const CALLOC_CLEAR_MAX: usize = 1024;

/// Allocates for any family; null with `ENOMEM` on failure.
#[inline(always)]
pub(crate) fn allocate(size: usize, align: usize, family: Family, zeroed: bool) -> *mut u8 {
    let here = raw::Here::get();
    if here.checked() {
        return allocate_checked(size, align, family, zeroed);
    }
    if !zeroed || size <= CALLOC_CLEAR_MAX {
        let block = here.alloc_fast(size, align);
        if !block.is_null() {
            if zeroed {
                // SAFETY: the block holds at least `size` bytes. Clearing a
                // small block costs less than finding out whether it is
                // fresh from the OS.
                unsafe { ptr::write_bytes(block, 0, size) };
            }
            return block;
        }
    }
    allocate_plain(size, align, zeroed)
}

/// [`allocate`] while debug mode is on or not yet known to be off: out of
/// line, so that `malloc`'s fast path makes no call. The out-of-line paths
/// are `extern "C"`: they cannot unwind (a panic aborts), so the fast paths
/// need no landing pad and tail-call them without a stack frame.
#[cold]
#[inline(never)]
extern "C" fn allocate_checked(size: usize, align: usize, family: Family, zeroed: bool) -> *mut u8 {
    // The process's first allocation comes here (every heap, and the empty
    // heap of a thread that has none yet, starts on the checked path), and
    // the block offset is fixed only when the first pool is cut, after it.
    allocator::settings::prefer_block_offset(C_BLOCK_OFFSET);
    if !debug::enabled() {
        debug::leave_checked_path();
        return allocate_plain(size, align, zeroed);
    }
    let block = debug::alloc(size, align, family, zeroed);
    if block.is_null() {
        fail();
    }
    block
}

/// [`allocate`] when the fast path has no block at hand, or for `calloc`.
#[inline(never)]
extern "C" fn allocate_plain(size: usize, align: usize, zeroed: bool) -> *mut u8 {
    let block = if zeroed {
        allocate_zeroed(size, align)
    } else {
        raw::alloc(size, align)
    };
    if block.is_null() {
        fail();
    }
    block
}

fn allocate_zeroed(size: usize, align: usize) -> *mut u8 {
    match Layout::from_size_align(size, align) {
        // SAFETY: debug mode is off here, so this is the plain zeroed path,
        // which skips the memset for memory fresh from the OS.
        Ok(layout) => unsafe { allocator::Strata.alloc_zeroed(layout) },
        Err(_) => ptr::null_mut(),
    }
}

/// Frees a block of any family. A pointer strata never handed out stops the
/// process (glibc does the same for pointers it can tell are invalid).
///
/// # Safety
/// `ptr` is null or a live block allocated through `family`.
#[inline(always)]
pub(crate) unsafe fn free_family(ptr: *mut u8, family: Family, size: Option<usize>) {
    let here = raw::Here::get();
    if here.checked() {
        // SAFETY: as the caller guarantees.
        return unsafe { free_checked(ptr, family, size.unwrap_or(0), size.is_some()) };
    }
    // SAFETY: a pool block is live, as the caller guarantees; the rest is
    // checked before it is touched.
    unsafe { here.free_or_else(ptr, |ptr| free_unpooled(ptr, family)) }
}

/// [`free_family`] while debug mode is on or not yet known to be off.
///
/// # Safety
/// As [`free_family`].
#[cold]
#[inline(never)]
unsafe extern "C" fn free_checked(ptr: *mut u8, family: Family, size: usize, sized: bool) {
    let size = sized.then_some(size);
    if debug::enabled() {
        // SAFETY: debug::free validates the pointer itself.
        return unsafe { debug::free(ptr, family, size) };
    }
    debug::leave_checked_path();
    // SAFETY: as the caller guarantees.
    unsafe { raw::free_or_else(ptr, |ptr| free_unpooled(ptr, family)) }
}

/// `free` of anything but a pool block: null, a huge block, or a pointer
/// strata never handed out, which stops the process.
///
/// # Safety
/// `ptr` is null, a live huge block, or not strata's at all.
#[cold]
#[inline(never)]
unsafe extern "C" fn free_unpooled(ptr: *mut u8, family: Family) {
    if ptr.is_null() {
        return;
    }
    if !raw::owns(ptr) {
        debug::foreign_pointer(family.deallocator(), ptr);
    }
    // SAFETY: ours and not in a pool, so a live huge block.
    unsafe { raw::free(ptr) }
}

/// Whether `ptr` lies in memory strata manages.
#[no_mangle]
pub extern "C" fn strata_owns(ptr: *const c_void) -> c_int {
    c_int::from(raw::owns(ptr.cast()))
}

/// Threads that hold a strata heap right now.
#[no_mangle]
pub extern "C" fn strata_thread_heaps() -> usize {
    allocator::stats().thread_heaps
}

/// Whether debug mode is on.
#[no_mangle]
pub extern "C" fn strata_debug_enabled() -> c_int {
    c_int::from(debug::enabled())
}

extern "C" fn on_load() {
    allocator::fork::install_handlers();
}

/// Runs [`on_load`] when the dynamic loader maps the library, before `main`.
#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn() = on_load;
