//! The C allocation API (`<stdlib.h>`, `<malloc.h>`) with glibc's semantics.
//!
//! Every function picks the debug path when `STRATA_DEBUG` is on, the plain
//! path otherwise; the choice is one load of a flag that never changes.

use crate::{allocate, fail, free_family, PAGE};
use allocator::debug::{self, Family};
use allocator::raw;
use core::ffi::{c_int, c_void};
use core::ptr;

/// `malloc` promises alignment for any type: 16 bytes on x86-64 and aarch64.
pub const MALLOC_ALIGN: usize = 16;

/// # Safety
/// None: any size is accepted.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    allocate(size, MALLOC_ALIGN, Family::Malloc, false).cast()
}

/// # Safety
/// `ptr` is null or a live block from this allocator's C API.
#[no_mangle]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    // SAFETY: as the caller guarantees (and checked where cheap).
    unsafe { free_family(ptr.cast(), Family::Malloc, None) }
}

/// # Safety
/// None: any count and size are accepted.
#[no_mangle]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    match count.checked_mul(size) {
        Some(total) => allocate(total, MALLOC_ALIGN, Family::Malloc, true).cast(),
        None => fail(),
    }
}

/// # Safety
/// `ptr` is null or a live block from this allocator's `malloc` family.
#[no_mangle]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    let ptr = ptr.cast::<u8>();
    if ptr.is_null() {
        return allocate(size, MALLOC_ALIGN, Family::Malloc, false).cast();
    }
    if size == 0 {
        // glibc frees the block and returns null.
        // SAFETY: as the caller guarantees.
        unsafe { free_family(ptr, Family::Malloc, None) };
        return ptr::null_mut();
    }
    let here = raw::Here::get();
    let new = if here.checked() {
        // SAFETY: as the caller guarantees.
        unsafe { realloc_checked(ptr, size) }
    } else {
        // SAFETY: a live malloc block of ours, as the caller guarantees; a
        // pointer strata never returned stops the process.
        unsafe { here.realloc_sized(ptr, usize::MAX, MALLOC_ALIGN, size) }
    };
    if new.is_null() {
        return fail();
    }
    new.cast()
}

/// [`realloc`] while debug mode is on or not yet known to be off.
///
/// # Safety
/// As [`realloc`]; `ptr` is not null and `size` not zero.
#[cold]
#[inline(never)]
unsafe fn realloc_checked(ptr: *mut u8, size: usize) -> *mut u8 {
    if debug::enabled() {
        // SAFETY: debug::realloc validates the pointer.
        return unsafe { debug::realloc(ptr, MALLOC_ALIGN, size, Family::Malloc) };
    }
    debug::leave_checked_path();
    // SAFETY: as the caller guarantees.
    unsafe { raw::realloc(ptr, MALLOC_ALIGN, size) }
}

/// # Safety
/// As [`realloc`].
#[no_mangle]
pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, count: usize, size: usize) -> *mut c_void {
    match count.checked_mul(size) {
        // SAFETY: as the caller guarantees.
        Some(total) => unsafe { realloc(ptr, total) },
        None => fail(),
    }
}

/// # Safety
/// `out` is valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || align % core::mem::size_of::<*mut c_void>() != 0 {
        return libc::EINVAL;
    }
    let block = allocate(size, align.max(MALLOC_ALIGN), Family::Malloc, false);
    if block.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: as the caller guarantees.
    unsafe { out.write(block.cast()) };
    0
}

/// # Safety
/// None.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        crate::set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    allocate(size, align.max(MALLOC_ALIGN), Family::Malloc, false).cast()
}

/// # Safety
/// None. Like glibc, an alignment that is not a power of two is rounded up
/// to one.
#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(align) = align.max(MALLOC_ALIGN).checked_next_power_of_two() else {
        crate::set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    allocate(size, align, Family::Malloc, false).cast()
}

/// # Safety
/// None.
#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    allocate(size, PAGE, Family::Malloc, false).cast()
}

/// # Safety
/// None. The size is rounded up to whole pages (one page for zero).
#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    match size.max(1).checked_next_multiple_of(PAGE) {
        Some(rounded) => allocate(rounded, PAGE, Family::Malloc, false).cast(),
        None => fail(),
    }
}

/// # Safety
/// `ptr` is null or a live block from this allocator.
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(ptr: *mut c_void) -> usize {
    let ptr = ptr.cast::<u8>();
    if ptr.is_null() {
        return 0;
    }
    if debug::enabled() {
        return debug::usable_size(ptr);
    }
    if !raw::owns(ptr) {
        debug::foreign_pointer("malloc_usable_size", ptr);
    }
    // SAFETY: a live block of ours, as the caller guarantees.
    unsafe { raw::usable_size(ptr) }
}

/// C23 `free_sized`: the size is only a hint here.
///
/// # Safety
/// As [`free`].
#[no_mangle]
pub unsafe extern "C" fn free_sized(ptr: *mut c_void, _size: usize) {
    // SAFETY: as the caller guarantees.
    unsafe { free_family(ptr.cast(), Family::Malloc, None) }
}

/// C23 `free_aligned_sized`.
///
/// # Safety
/// As [`free`].
#[no_mangle]
pub unsafe extern "C" fn free_aligned_sized(ptr: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: as the caller guarantees.
    unsafe { free_family(ptr.cast(), Family::Malloc, None) }
}

/// Gives free memory back to the OS; returns 1 like glibc when it may have.
///
/// # Safety
/// None.
#[no_mangle]
pub unsafe extern "C" fn malloc_trim(_pad: usize) -> c_int {
    allocator::trim();
    1
}

/// Prints strata's statistics table (arenas, pools per class, huge blocks,
/// resident memory) to standard error, as glibc's `malloc_stats` prints its
/// own.
///
/// # Safety
/// None.
#[no_mangle]
pub unsafe extern "C" fn malloc_stats() {
    use std::io::Write;
    let _ = write!(std::io::stderr(), "{}", allocator::stats());
}

/// glibc's `struct mallinfo2`: every field a `size_t`.
#[repr(C)]
pub struct MallInfo2 {
    pub arena: usize,
    pub ordblks: usize,
    pub smblks: usize,
    pub hblks: usize,
    pub hblkhd: usize,
    pub usmblks: usize,
    pub fsmblks: usize,
    pub uordblks: usize,
    pub fordblks: usize,
    pub keepcost: usize,
}

/// glibc's older `struct mallinfo`: the same fields as `int`.
#[repr(C)]
pub struct MallInfo {
    pub arena: c_int,
    pub ordblks: c_int,
    pub smblks: c_int,
    pub hblks: c_int,
    pub hblkhd: c_int,
    pub usmblks: c_int,
    pub fsmblks: c_int,
    pub uordblks: c_int,
    pub fordblks: c_int,
    pub keepcost: c_int,
}

/// strata's memory in glibc's terms: `arena` is the bytes mapped for
/// arenas, `hblks`/`hblkhd` the huge blocks and their mappings, `uordblks`
/// the bytes in pool blocks handed out, `fordblks` the rest of the arenas,
/// `ordblks` the free arena pages and `keepcost` the bytes of those still
/// resident (what `malloc_trim` would give back now). The fields glibc
/// itself leaves at zero (`smblks`, `usmblks`, `fsmblks`) are zero.
///
/// # Safety
/// None.
#[no_mangle]
pub unsafe extern "C" fn mallinfo2() -> MallInfo2 {
    let stats = allocator::stats();
    // `bytes_mapped` also counts huge mappings, cached ones included, and
    // `bytes_in_use` the huge blocks: take the arenas' share of each.
    let arena = stats.arenas.bytes;
    let in_pools = stats.bytes_in_use - stats.huge_bytes;
    MallInfo2 {
        arena,
        ordblks: stats.free_pages_resident + stats.free_pages_purged,
        smblks: 0,
        hblks: stats.huge_blocks,
        hblkhd: stats.huge_bytes,
        usmblks: 0,
        fsmblks: 0,
        uordblks: in_pools,
        fordblks: arena.saturating_sub(in_pools),
        keepcost: stats.free_pages_resident * allocator::PAGE_SIZE,
    }
}

/// [`mallinfo2`] with `int` fields, as glibc's deprecated `mallinfo`: values
/// past `INT_MAX` are cut to it (glibc lets them wrap).
///
/// # Safety
/// None.
#[no_mangle]
pub unsafe extern "C" fn mallinfo() -> MallInfo {
    // SAFETY: no preconditions.
    let info = unsafe { mallinfo2() };
    let cut = |value: usize| c_int::try_from(value).unwrap_or(c_int::MAX);
    MallInfo {
        arena: cut(info.arena),
        ordblks: cut(info.ordblks),
        smblks: cut(info.smblks),
        hblks: cut(info.hblks),
        hblkhd: cut(info.hblkhd),
        usmblks: cut(info.usmblks),
        fsmblks: cut(info.fsmblks),
        uordblks: cut(info.uordblks),
        fordblks: cut(info.fordblks),
        keepcost: cut(info.keepcost),
    }
}
