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

use std::cell::RefCell;
use std::ptr::NonNull;

use crate::collector::state::{state, untrack, State};
use crate::gc::deallocate_box;
use crate::header::{flags, links_of, BoxHeader, GcBox, GcLinks};
use crate::trace::Trace;

/// Nested destructions allowed before deferring. CPython unwinds at 50
/// levels; a level here costs a few hundred bytes of stack for typical
/// nodes, so 50 levels stay far below the smallest thread stacks.
pub(crate) const TRASHCAN_DEPTH: usize = 50;

/// An object whose destruction was put off, and how to destroy it.
type Deferred = (NonNull<u8>, unsafe fn(NonNull<u8>));

thread_local! {
    // Only touched past TRASHCAN_DEPTH nested destructions.
    static DEFERRED: RefCell<Vec<Deferred>> = const { RefCell::new(Vec::new()) };
}

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

/// Called when the strong count of the object of type `T` at `boxed` has
/// just reached zero: finalizer, value drop, memory (or only the memory, if
/// a collection dropped the value already).
///
/// # Safety
/// `boxed` is a live object of type `T` with strong count 0 that no
/// collection is currently holding.
pub(crate) unsafe fn release_as<T: Trace + 'static>(boxed: NonNull<GcBox<T>>) {
    // SAFETY: the caller guarantees the object's memory is live.
    let header = unsafe { &(*boxed.as_ptr()).header };
    debug_assert_eq!(header.strong.get(), 0);
    if header.has(flags::DROPPED) {
        // A handle to an object whose value a collection already dropped,
        // or whose value try_unwrap moved out.
        if header.weak.get() == 0 {
            // SAFETY: no handle of any kind is left.
            unsafe { deallocate_box(boxed) };
        }
        return;
    }
    if T::FINALIZE && !header.has(flags::FINALIZED) {
        header.set(flags::FINALIZED);
        // PEP 442: the finalizer sees a live object; if it stores a new
        // handle somewhere, the object is resurrected and stays.
        header.strong.set(1);
        // SAFETY: the value is live and not dropped.
        unsafe { (*boxed.as_ptr()).value.run_finalizer() };
        let count = header.strong.get() - 1;
        header.strong.set(count);
        if count > 0 {
            return;
        }
    }
    if !T::MAY_CONTAIN_GC {
        // Its drop cannot drop a Gc, so it cannot recurse: no trashcan.
        // SAFETY: live, unreferenced, value not dropped.
        unsafe { destroy_box(boxed) };
        return;
    }
    let state = state();
    if header.has(flags::LINKED) {
        // SAFETY: a linked object has links in front of its header.
        unsafe { untrack(state, links_of(boxed.as_ptr().cast::<BoxHeader>())) };
    }
    if state.destroy_depth.get() >= TRASHCAN_DEPTH {
        defer(boxed.cast(), destroy_erased::<T>);
        return;
    }
    // SAFETY: as above.
    unsafe { destroy_nested(state, boxed.cast(), destroy_erased::<T>) };
    if state.destroy_depth.get() == 0 {
        drain_deferred(state);
    }
}

/// # Safety
/// As [`destroy_box`], for a box of the type the function was made for.
unsafe fn destroy_erased<T: Trace + 'static>(boxed: NonNull<u8>) {
    // SAFETY: forwarded from the caller.
    unsafe { destroy_box::<T>(boxed.cast()) }
}

/// Drops the value and frees the memory (unless weak handles remain).
///
/// # Safety
/// The object is unlinked, with strong count 0 and a live value.
#[inline]
unsafe fn destroy_box<T: Trace + 'static>(boxed: NonNull<GcBox<T>>) {
    // SAFETY: the caller guarantees a live object.
    let header = unsafe { &(*boxed.as_ptr()).header };
    header.set(flags::DROPPED);
    // A weak handle inside the value must not free the memory under the
    // running drop: hold one for its duration.
    header.increment_weak();
    // SAFETY: the value is live and nobody can reach it any more (strong
    // count 0; weak handles check the count before touching the value).
    unsafe { std::ptr::drop_in_place(std::ptr::addr_of_mut!((*boxed.as_ptr()).value)) };
    header.weak.set(header.weak.get() - 1);
    if header.weak.get() == 0 {
        // SAFETY: no handle of any kind is left.
        unsafe { deallocate_box(boxed) };
    }
}

/// Runs `destroy` one destruction level deeper.
///
/// # Safety
/// As `destroy`.
#[inline]
unsafe fn destroy_nested(state: &State, boxed: NonNull<u8>, destroy: unsafe fn(NonNull<u8>)) {
    struct Depth<'a>(&'a State);
    impl Drop for Depth<'_> {
        fn drop(&mut self) {
            let depth = &self.0.destroy_depth;
            depth.set(depth.get() - 1);
        }
    }
    state.destroy_depth.set(state.destroy_depth.get() + 1);
    let _depth = Depth(state);
    // SAFETY: forwarded from the caller.
    unsafe { destroy(boxed) };
}

fn defer(boxed: NonNull<u8>, destroy: unsafe fn(NonNull<u8>)) {
    let deferred = DEFERRED.try_with(|list| list.borrow_mut().push((boxed, destroy)));
    if deferred.is_err() {
        // Thread teardown removed the list: destroy on the spot.
        // SAFETY: the caller passes an unlinked, unreferenced, live object.
        unsafe { destroy(boxed) };
    }
}

/// Destroys the deferred objects, each at depth 1 (their own children may
/// defer again and are picked up by this same loop).
fn drain_deferred(state: &State) {
    loop {
        let next = DEFERRED
            .try_with(|list| list.borrow_mut().pop())
            .ok()
            .flatten();
        let Some((boxed, destroy)) = next else {
            return;
        };
        // SAFETY: deferred objects are unlinked, unreferenced and live.
        unsafe { destroy_nested(state, boxed, destroy) };
    }
}
