//! Layer -1: the operating system's virtual memory.
//!
//! This is the only module that maps, unmaps or advises memory. Everything above
//! it deals in addresses it was handed. Failures are reported as null pointers or
//! `false`, never as panics: the allocator must be able to return null from
//! `GlobalAlloc::alloc` when the OS says no.

use core::ptr;

/// The OS page size the allocator assumes for rounding mappings. Linux on
/// x86-64 and aarch64 (4 KiB configuration) uses 4096; larger page kernels still
/// accept 4 KiB-multiple lengths for `munmap`/`madvise` only when they are
/// multiples of their own page, so callers only pass pool-sized (16 KiB) or
/// larger multiples of this for release and advice.
pub const OS_PAGE: usize = 4096;

/// Maps `len` bytes of fresh, zeroed, read-write memory. Returns null on failure.
///
/// `len` must be a non-zero multiple of [`OS_PAGE`].
pub fn map(len: usize) -> *mut u8 {
    debug_assert!(len > 0 && len % OS_PAGE == 0);
    // SAFETY: an anonymous private mapping with a null hint touches no existing
    // memory; the kernel picks the address.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Maps `len` bytes such that `result + offset` is a multiple of `align` and
/// `result` itself is a multiple of `base_align`. Both alignments are powers of
/// two, at least [`OS_PAGE`]; `offset` is a multiple of `base_align` when
/// `align > base_align`. Over-maps and trims the excess, so the result costs no
/// more address space than asked for. Returns null on failure.
pub fn map_aligned(len: usize, base_align: usize, align: usize, offset: usize) -> *mut u8 {
    debug_assert!(base_align.is_power_of_two() && align.is_power_of_two());
    let slack = base_align.max(align);
    let Some(total) = len.checked_add(slack) else {
        return ptr::null_mut();
    };
    let raw = map(total);
    if raw.is_null() {
        return raw;
    }
    let raw_addr = raw as usize;
    let start = if align > base_align {
        (raw_addr + offset).next_multiple_of(align) - offset
    } else {
        raw_addr.next_multiple_of(base_align)
    };
    debug_assert!(start % base_align == 0 && (start + offset) % align == 0);
    debug_assert!(start + len <= raw_addr + total);
    let head = start - raw_addr;
    let tail = raw_addr + total - (start + len);
    if head > 0 {
        unmap(raw, head);
    }
    if tail > 0 {
        unmap((start + len) as *mut u8, tail);
    }
    start as *mut u8
}

/// Returns a mapping (or a page-aligned part of one) to the OS.
pub fn unmap(addr: *mut u8, len: usize) {
    debug_assert!(addr as usize % OS_PAGE == 0 && len % OS_PAGE == 0);
    // SAFETY: callers pass whole pages that they mapped and no longer use; munmap
    // of such a range cannot affect memory anyone else owns.
    unsafe {
        libc::munmap(addr.cast(), len);
    }
}

/// Tells the OS the pages in `[addr, addr+len)` are not needed: their physical
/// memory is freed at once and they read back as zero on the next touch.
pub fn decommit(addr: *mut u8, len: usize) {
    debug_assert!(addr as usize % OS_PAGE == 0 && len % OS_PAGE == 0);
    // SAFETY: MADV_DONTNEED on a private anonymous range we own only drops its
    // contents; callers guarantee no live block lies in the range.
    unsafe {
        libc::madvise(addr.cast(), len, libc::MADV_DONTNEED);
    }
}

/// Asks for transparent huge pages on a range (best effort; errors ignored).
pub fn advise_huge_pages(addr: *mut u8, len: usize) {
    // SAFETY: MADV_HUGEPAGE only changes how the kernel backs the range.
    unsafe {
        libc::madvise(addr.cast(), len, libc::MADV_HUGEPAGE);
    }
}

/// Stops asking for transparent huge pages on a range (best effort).
pub fn advise_no_huge_pages(addr: *mut u8, len: usize) {
    // SAFETY: MADV_NOHUGEPAGE only changes how the kernel backs the range.
    unsafe {
        libc::madvise(addr.cast(), len, libc::MADV_NOHUGEPAGE);
    }
}

/// Writes `bytes` to standard error without allocating.
pub fn write_stderr(bytes: &[u8]) {
    // SAFETY: writing a valid byte slice to fd 2.
    unsafe {
        libc::write(2, bytes.as_ptr().cast(), bytes.len());
    }
}

/// Stops the process at once, without unwinding or running destructors.
pub fn abort() -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// Tries to grow a mapping in place to `new_len` bytes (`mremap` without
/// moving). Returns whether it worked; on failure the mapping is unchanged.
pub fn grow_in_place(addr: *mut u8, old_len: usize, new_len: usize) -> bool {
    // SAFETY: flags 0 forbids moving, so at worst the call fails and nothing
    // changes; on success the extra pages are fresh, zeroed and ours.
    let p = unsafe { libc::mremap(addr.cast(), old_len, new_len, 0) };
    p != libc::MAP_FAILED
}

/// Moves the pages of the mapping `[addr, addr+old_len)` to `to`, growing
/// it to `new_len` bytes, without copying: the kernel remaps the physical
/// pages, the range at `to` (which the caller has reserved) is replaced, and
/// the old range is unmapped. False, with nothing changed, on failure.
///
/// # Safety
/// `[addr, addr+old_len)` is a private anonymous mapping of the caller's, and
/// `[to, to+new_len)` a mapping of the caller's that nobody else uses.
pub unsafe fn move_mapping(addr: *mut u8, old_len: usize, new_len: usize, to: *mut u8) -> bool {
    // SAFETY: as the caller guarantees; MREMAP_FIXED only replaces the
    // caller's own reservation at `to`.
    let p = unsafe {
        libc::mremap(
            addr.cast(),
            old_len,
            new_len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            to.cast::<libc::c_void>(),
        )
    };
    p != libc::MAP_FAILED
}

/// Milliseconds on a coarse monotonic clock (a vDSO read, no system call).
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}
