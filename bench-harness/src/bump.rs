//! `Bump`: a never-freeing allocator, the speed-of-light reference. An
//! allocation is one atomic add on a cursor into one large reserved mapping;
//! `dealloc` does nothing. No real program can use it; every other
//! allocator's figures read as a distance from it.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Address space reserved at the first allocation: 8 GiB, more than the
/// workloads marked `never_free_fits` allocate in total, and a bound on what
/// one run can take of a 24 GiB machine (past it, allocation fails and the
/// run stops). Pages become resident only when touched.
const RESERVE: usize = 8 << 30;

pub struct Bump;

/// Start of the reservation, 0 until the first allocation.
static BASE: AtomicUsize = AtomicUsize::new(0);
/// Bytes handed out so far.
static CURSOR: AtomicUsize = AtomicUsize::new(0);
/// Bytes of the reservation made resident in advance so far.
static POPULATED: AtomicUsize = AtomicUsize::new(0);

/// Made resident in one call ahead of the cursor. A page fault per fresh
/// 4 KiB page costs microseconds on virtual machines; populating 16 MiB at
/// a time turns that into one system call, so that the reference measures
/// allocation and not the hypervisor.
const POPULATE_CHUNK: usize = 16 << 20;
const MADV_POPULATE_WRITE: libc::c_int = 23;

/// Makes the reservation resident up to at least `end` bytes. Threads
/// racing here may populate the same chunk twice, which is harmless.
#[cold]
#[inline(never)]
fn populate(base: usize, end: usize) {
    // Relaxed: the watermark is a hint; populating is idempotent.
    let from = POPULATED.load(Ordering::Relaxed);
    if end <= from {
        return;
    }
    let to = (end + POPULATE_CHUNK).min(RESERVE) & !(4095);
    // SAFETY: [base + from, base + to) lies inside the reservation, which is
    // mapped read-write; MADV_POPULATE_WRITE only faults pages in (kernels
    // without it return EINVAL, and the pages then fault on first touch).
    unsafe {
        libc::madvise(
            (base + from) as *mut libc::c_void,
            to - from,
            MADV_POPULATE_WRITE,
        )
    };
    POPULATED.fetch_max(to, Ordering::Relaxed);
}

#[cold]
#[inline(never)]
fn reserve() -> usize {
    // SAFETY: an anonymous private mapping with no address hint has no
    // preconditions; failure is checked below.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            RESERVE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return 0;
    }
    // AcqRel on success: the winner publishes the mapping; Acquire on
    // failure: the loser sees the winner's base. The mapping itself needs
    // no ordering (the kernel made it visible), only the agreement on one.
    match BASE.compare_exchange(0, raw as usize, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => raw as usize,
        Err(winner) => {
            // SAFETY: `raw` is the mapping made above, unused by anyone.
            unsafe { libc::munmap(raw, RESERVE) };
            winner
        }
    }
}

// SAFETY: blocks never overlap because each comes from a distinct range of
// the cursor, which only grows; they are aligned as asked; memory is never
// reused, so no block is handed out twice.
unsafe impl GlobalAlloc for Bump {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Acquire pairs with the AcqRel publication in `reserve`.
        let mut base = BASE.load(Ordering::Acquire);
        if base == 0 {
            base = reserve();
            if base == 0 {
                return std::ptr::null_mut();
            }
        }
        let align = layout.align();
        // Padding the size to the alignment keeps the cursor aligned for the
        // common case of equal alignments, so that no block wastes a gap.
        let size = (layout.size() + align - 1) & !(align - 1);
        // Relaxed: the cursor only hands out disjoint ranges; no other memory
        // is published through it.
        let mut offset = CURSOR.fetch_add(size + align - 1, Ordering::Relaxed);
        offset = (base + offset + align - 1) & !(align - 1);
        if offset + size > base + RESERVE {
            return std::ptr::null_mut();
        }
        // Relaxed: see `populate`.
        if offset + size - base > POPULATED.load(Ordering::Relaxed) {
            populate(base, offset + size - base);
        }
        offset as *mut u8
    }

    #[inline]
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}
