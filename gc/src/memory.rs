//! Where GC objects get their memory: the one place that names the
//! allocator, so switching it touches nothing else.
//!
//! Objects come from `strata`'s pools whatever `#[global_allocator]` the
//! program uses, through a `strata::ClassCache` (per-thread free lists by
//! size class). Under Miri they come from the standard allocator instead, so
//! that Miri checks the collector rather than the allocator's mappings.

use std::alloc::{handle_alloc_error, Layout};

/// Returns memory for `layout` (never null: failure ends in
/// `handle_alloc_error`, as `Box` does).
///
/// # Safety
/// `layout` has a non-zero size.
#[inline]
pub(crate) unsafe fn allocate(layout: Layout) -> *mut u8 {
    debug_assert!(layout.size() > 0);
    // SAFETY: the caller guarantees a non-zero size.
    let ptr = unsafe { backend::alloc(layout) };
    if ptr.is_null() {
        handle_alloc_error(layout);
    }
    ptr
}

/// Returns memory obtained from [`allocate`].
///
/// # Safety
/// `ptr` came from `allocate(layout)` with this very `layout` and is not
/// used afterwards.
#[inline]
pub(crate) unsafe fn deallocate(ptr: *mut u8, layout: Layout) {
    // SAFETY: forwarded from the caller.
    unsafe { backend::dealloc(ptr, layout) }
}

#[cfg(not(miri))]
mod backend {
    use std::alloc::Layout;

    /// The collector's per-type free lists (strata's layer 3): objects are
    /// generic over their type, so the lists are kept per size class. Up to
    /// 80 freed objects per class and thread are reused before the pools are
    /// touched, as CPython keeps 80 freed dicts.
    static OBJECTS: strata::ClassCache<80> = strata::ClassCache::new("strata-gc objects");

    /// # Safety
    /// As `GlobalAlloc::alloc`.
    #[inline]
    pub(super) unsafe fn alloc(layout: Layout) -> *mut u8 {
        OBJECTS.alloc(layout)
    }

    /// # Safety
    /// As `GlobalAlloc::dealloc`.
    #[inline]
    pub(super) unsafe fn dealloc(ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller (ptr came from `alloc(layout)`).
        unsafe { OBJECTS.free(ptr, layout) }
    }
}

#[cfg(miri)]
mod backend {
    pub(super) use std::alloc::{alloc, dealloc};
}
