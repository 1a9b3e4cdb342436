//! The API of Python's `gc` module, as free functions on this thread's
//! collector.

use std::rc::Rc;

use crate::any::AnyGc;
use crate::collector::collect;
use crate::collector::hooks::{self, CallbackId, CallbackInfo};
use crate::collector::state::{state, GenerationStats, GENERATIONS};
use crate::gc::Gc;
use crate::header::{flags, GcLinks, ListNode};
use crate::list;
use crate::trace::{Trace, Visitor};

/// Print statistics to stderr at each collection.
pub const DEBUG_STATS: u32 = 1 << 0;
/// Print each unreachable object found to stderr.
pub const DEBUG_COLLECTABLE: u32 = 1 << 1;
/// Print uncollectable objects (there are none: kept for Python parity).
pub const DEBUG_UNCOLLECTABLE: u32 = 1 << 2;
/// Keep unreachable objects alive in [`garbage`] instead of freeing them.
pub const DEBUG_SAVEALL: u32 = 1 << 5;
/// What Python's `DEBUG_LEAK` means: collectable, uncollectable and save-all.
pub const DEBUG_LEAK: u32 = DEBUG_COLLECTABLE | DEBUG_UNCOLLECTABLE | DEBUG_SAVEALL;

/// Full collection (all generations); returns the number of unreachable
/// objects found. Returns 0 if called while a collection is running.
pub fn collect() -> usize {
    collect_generation(GENERATIONS - 1)
}

/// Collects `generation` (0, 1 or 2) and the younger ones; returns the
/// number of unreachable objects found.
///
/// # Panics
/// If `generation > 2`, or if a finalizer or a `Drop` of a collected object
/// panicked (after the collection completed).
pub fn collect_generation(generation: usize) -> usize {
    assert!(generation < GENERATIONS, "invalid generation {generation}");
    collect::collect(state(), generation)
}

/// Turns automatic collection on.
pub fn enable() {
    state().enabled.set(true);
}

/// Turns automatic collection off (manual `collect` still works).
pub fn disable() {
    state().enabled.set(false);
}

/// Whether automatic collection is on.
pub fn is_enabled() -> bool {
    state().enabled.get()
}

/// The collection counts: tracked allocations minus deallocations since the
/// last collection of generation 0, then collections of the next younger
/// generation since the last collection of generations 1 and 2.
pub fn get_count() -> (usize, usize, usize) {
    let generations = &state().generations;
    (
        generations[0].count.get(),
        generations[1].count.get(),
        generations[2].count.get(),
    )
}

/// The thresholds (default (2000, 10, 10), as CPython 3.13).
pub fn get_threshold() -> (usize, usize, usize) {
    let generations = &state().generations;
    (
        generations[0].threshold.get(),
        generations[1].threshold.get(),
        generations[2].threshold.get(),
    )
}

/// Sets the thresholds; a generation-0 threshold of 0 turns automatic
/// collection off.
pub fn set_threshold(threshold0: usize, threshold1: usize, threshold2: usize) {
    let generations = &state().generations;
    generations[0].threshold.set(threshold0);
    generations[1].threshold.set(threshold1);
    generations[2].threshold.set(threshold2);
}

/// Per-generation statistics since the thread started.
pub fn get_stats() -> [GenerationStats; GENERATIONS] {
    let stats = &state().stats;
    [stats[0].get(), stats[1].get(), stats[2].get()]
}

/// Moves every tracked object to the permanent generation, which
/// collections ignore (Python's `gc.freeze`, for objects known to live
/// forever).
pub fn freeze() {
    let state = state();
    for generation in 0..GENERATIONS {
        // SAFETY: distinct, initialised lists.
        unsafe { list::merge(state.generation_head(generation), &state.permanent) };
    }
    state.generations[0].count.set(0);
}

/// Moves the permanent generation back into the oldest one.
pub fn unfreeze() {
    let state = state();
    // SAFETY: distinct, initialised lists.
    unsafe { list::merge(&state.permanent, state.generation_head(GENERATIONS - 1)) };
}

/// Number of objects in the permanent generation.
pub fn get_freeze_count() -> usize {
    list::len(&state().permanent)
}

/// Whether the collector tracks the object: its type may hold a `Gc` and it
/// is in a generation.
pub fn is_tracked<T: Trace + 'static>(object: &Gc<T>) -> bool {
    T::MAY_CONTAIN_GC && object.header().has(flags::LINKED)
}

/// Whether the object's finalizer has run.
pub fn is_finalized<T: Trace + 'static>(object: &Gc<T>) -> bool {
    object.header().has(flags::FINALIZED)
}

/// The tracked objects `object` refers to directly.
pub fn get_referents<T: Trace + 'static>(object: &Gc<T>) -> Vec<AnyGc> {
    let mut found = Vec::new();
    let mut add = |links: *const GcLinks| {
        // SAFETY: the visited object is reachable from `object`, so live.
        found.push(unsafe { AnyGc::new(links) });
    };
    if !object.header().has(flags::DROPPED) {
        (**object).trace(&mut Visitor::call(&mut add));
    }
    found
}

/// The tracked objects (in any generation, frozen ones included) that refer
/// to `object` directly.
pub fn get_referrers<T: Trace + 'static>(object: &Gc<T>) -> Vec<AnyGc> {
    let Some(target) = object.links() else {
        return Vec::new();
    };
    let state = state();
    let mut found = Vec::new();
    let heads: Vec<&ListNode> = (0..GENERATIONS)
        .map(|g| state.generation_head(g))
        .chain([&state.permanent])
        .collect();
    for head in heads {
        // SAFETY: generation lists hold live tracked objects with live values.
        unsafe {
            list::for_each(head, |links| {
                let mut refers = false;
                let mut check = |child: *const GcLinks| refers |= child == target;
                ((*links).vtable.trace)(links, &mut Visitor::call(&mut check));
                if refers {
                    found.push(AnyGc::new(links));
                }
            });
        }
    }
    found
}

/// The tracked objects in `generation` (0, 1, 2), or in all of them for
/// `None`; frozen objects are not included (Python's `gc.get_objects`).
pub fn get_objects(generation: Option<usize>) -> Vec<AnyGc> {
    let state = state();
    let generations = match generation {
        Some(generation) => {
            assert!(generation < GENERATIONS, "invalid generation {generation}");
            generation..generation + 1
        }
        None => 0..GENERATIONS,
    };
    let mut found = Vec::new();
    for generation in generations {
        // SAFETY: generation lists hold live tracked objects.
        unsafe {
            list::for_each(state.generation_head(generation), |links| {
                found.push(AnyGc::new(links));
            });
        }
    }
    found
}

/// Sets the `DEBUG_*` flags.
pub fn set_debug(flags: u32) {
    state().debug.set(flags);
}

/// The `DEBUG_*` flags in force.
pub fn get_debug() -> u32 {
    state().debug.get()
}

/// The objects kept by `DEBUG_SAVEALL` (a snapshot of Python's `gc.garbage`).
pub fn garbage() -> Vec<AnyGc> {
    hooks::garbage()
}

/// Empties the garbage list, returning its handles (dropping them frees
/// the objects at the next collection).
pub fn take_garbage() -> Vec<AnyGc> {
    hooks::take_garbage()
}

/// Registers a callback run before and after every collection on this
/// thread (Python's `gc.callbacks`).
pub fn add_callback(callback: impl Fn(&CallbackInfo) + 'static) -> CallbackId {
    hooks::add_callback(Rc::new(callback))
}

/// Unregisters a callback; returns whether it was registered.
pub fn remove_callback(id: CallbackId) -> bool {
    hooks::remove_callback(id)
}
