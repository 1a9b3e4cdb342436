//! Destroying a tracked object whose strong count reached zero: the
//! finalizer (once), then the value's drop, then the memory — with CPython's
//! trashcan, so that dropping a million-node chain does not recurse a million
//! frames deep.
//!
//! Dropping a value drops its `Gc` fields, which may destroy their targets,
//! whose drops destroy theirs... Past [`TRASHCAN_DEPTH`] nested destructions
//! an object is not destroyed on the spot but put on a per-thread deferred
//! list (linked through its now unused generation links); the outermost
//! destruction empties that list in a loop. Stack use is bounded by the depth
//! limit times the frame size of one destruction.

use std::ptr::NonNull;

use crate::collector::state::{state, untrack, State};
use crate::gc::deallocate_box;
use crate::header::{flags, header_of, GcBox, GcLinks, ListNode, LINKS_SIZE};
use crate::list;
use crate::trace::Trace;

/// Nested destructions allowed before deferring. CPython unwinds at 50
/// levels; a level here costs a few hundred bytes of stack for typical
/// nodes, so 50 levels stay far below the smallest thread stacks.
pub(crate) const TRASHCAN_DEPTH: usize = 50;

/// Called when the strong count of the tracked object at `links` has just
/// reached zero (type-erased: goes through the object's type table).
///
/// # Safety
/// As [`release_as`].
#[inline]
pub(crate) unsafe fn release(links: *const GcLinks) {
    // SAFETY: forwarded from the caller; the table is the object's own.
    unsafe { ((*links).vtable.release)(links) }
}

/// Called when the strong count of the tracked object of type `T` at
/// `links` has just reached zero.
///
/// # Safety
/// `links` belongs to a tracked object of type `T` with strong count 0 that
/// no collection is currently holding.
pub(crate) unsafe fn release_as<T: Trace + 'static>(links: *const GcLinks) {
    // SAFETY: the caller guarantees the object's memory is live.
    let header = unsafe { header_of(links) };
    debug_assert_eq!(header.strong.get(), 0);
    if header.has(flags::DROPPED) {
        // A handle to an object whose value a collection already dropped.
        if header.weak.get() == 0 {
            // SAFETY: no handle of any kind is left.
            unsafe { deallocate_as::<T>(links) };
        }
        return;
    }
    if T::FINALIZE && !header.has(flags::FINALIZED) {
        header.set(flags::FINALIZED);
        // PEP 442: the finalizer sees a live object; if it stores a new
        // handle somewhere, the object is resurrected and stays.
        header.strong.set(1);
        // SAFETY: the value is live and not dropped.
        unsafe { (*value_of::<T>(links)).run_finalizer() };
        let count = header.strong.get() - 1;
        header.strong.set(count);
        if count > 0 {
            return;
        }
    }
    let state = state();
    // SAFETY: the object is live and unreferenced.
    unsafe { untrack(state, links) };
    if state.destroy_depth.get() >= TRASHCAN_DEPTH {
        // SAFETY: unlinked just above, so `next` is free to reuse.
        unsafe { defer(state, links) };
        return;
    }
    // SAFETY: as above.
    unsafe { destroy_as::<T>(state, links) };
    if state.destroy_depth.get() == 0 {
        drain_deferred(state);
    }
}

/// The value of the tracked object of type `T` at `links`.
#[inline]
fn value_of<T>(links: *const GcLinks) -> *mut T {
    let boxed = links
        .cast::<u8>()
        .wrapping_add(LINKS_SIZE)
        .cast::<GcBox<T>>()
        .cast_mut();
    // SAFETY: only computes an address inside the same allocation.
    unsafe { std::ptr::addr_of_mut!((*boxed).value) }
}

/// # Safety
/// `links` belongs to a tracked `T` with no handle left and no live value.
#[inline]
unsafe fn deallocate_as<T: Trace + 'static>(links: *const GcLinks) {
    let boxed = links
        .cast::<u8>()
        .wrapping_add(LINKS_SIZE)
        .cast::<GcBox<T>>()
        .cast_mut();
    // SAFETY: forwarded from the caller; the box is non-null.
    unsafe { deallocate_box::<T>(NonNull::new_unchecked(boxed)) }
}

/// Drops the value and frees the memory (unless weak handles remain).
///
/// # Safety
/// The object is a `T`, unlinked, with strong count 0 and a live value.
pub(crate) unsafe fn destroy_as<T: Trace + 'static>(state: &State, links: *const GcLinks) {
    struct Depth<'a>(&'a State);
    impl Drop for Depth<'_> {
        fn drop(&mut self) {
            let depth = &self.0.destroy_depth;
            depth.set(depth.get() - 1);
        }
    }
    state.destroy_depth.set(state.destroy_depth.get() + 1);
    let depth = Depth(state);
    // SAFETY: the caller guarantees a live object.
    let header = unsafe { header_of(links) };
    header.set(flags::DROPPED);
    // A weak handle inside the value must not free the memory under the
    // running drop: hold one for its duration.
    header.increment_weak();
    // SAFETY: the value is live and nobody can reach it any more (strong
    // count 0; weak handles check the count before touching the value).
    unsafe { std::ptr::drop_in_place(value_of::<T>(links)) };
    drop(depth);
    header.weak.set(header.weak.get() - 1);
    if header.weak.get() == 0 {
        // SAFETY: no handle of any kind is left.
        unsafe { deallocate_as::<T>(links) };
    }
}

/// # Safety
/// `links` is unlinked, with strong count 0 and a live value.
unsafe fn defer(state: &State, links: *const GcLinks) {
    let node = links as *mut ListNode;
    // SAFETY: the object is unlinked, so its `next` field is ours.
    unsafe { (*node).next.set(state.deferred.get()) };
    state.deferred.set(node);
}

/// Destroys the deferred objects, each at depth 1 (their own children may
/// defer again and are picked up by this same loop).
fn drain_deferred(state: &State) {
    loop {
        let node = state.deferred.get();
        if node.is_null() {
            return;
        }
        // SAFETY: deferred objects are unlinked, unreferenced and live.
        unsafe {
            state.deferred.set((*node).next.get());
            let links = list::as_links(node);
            ((*links).vtable.destroy)(state, links);
        }
    }
}
