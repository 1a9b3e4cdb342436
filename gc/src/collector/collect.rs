//! One collection, phase by phase, as CPython's `gc_collect_main` does it.
//!
//! 1. Merge the younger generations into the one collected ("young").
//! 2. [`update_refs`]: copy each strong count into `gc_refs`.
//! 3. [`subtract_refs`]: remove the references that come from inside young;
//!    what stays above zero is referenced from outside (a root).
//! 4. [`move_unreachable`]: move objects at zero to an "unreachable" list,
//!    moving back whatever a reachable object reaches.
//! 5. Survivors go one generation up.
//! 6. Weak references to the unreachable are cleared.
//! 7. Finalizers run, once per object in its life (PEP 442).
//! 8. Reachability is computed again inside the unreachable set: objects a
//!    finalizer resurrected, and everything they reach, survive.
//! 9. The rest is garbage: every value is dropped, and only then is any
//!    memory freed, so a `Drop` never sees freed memory.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::hooks::{self, Phase};
use super::state::{GenerationStats, State, GENERATIONS};
use crate::any::AnyGc;
use crate::header::{flags, header_of, GcLinks, ListNode};
use crate::list;
use crate::module::{DEBUG_COLLECTABLE, DEBUG_SAVEALL, DEBUG_STATS};
use crate::trace::Visitor;

type Panic = Box<dyn Any + Send + 'static>;

/// Automatic collection: the oldest generation over its threshold, skipping
/// a full collection while few objects were added to the oldest generation
/// since the last one (CPython's long-lived heuristic: a full collection
/// only when the pending objects exceed 25% of the long-lived ones, so that
/// the total cost stays linear in the number of allocations).
pub(crate) fn collect_generations(state: &State) -> usize {
    for generation in (0..GENERATIONS).rev() {
        let gen = &state.generations[generation];
        if gen.count.get() > gen.threshold.get() {
            if generation == GENERATIONS - 1
                && state.long_lived_pending.get() < state.long_lived_total.get() / 4
            {
                continue;
            }
            return collect(state, generation);
        }
    }
    0
}

/// Collects `generation` and all younger ones; returns the number of
/// unreachable objects found. Does nothing (returns 0) when a collection is
/// already running on this thread.
pub(crate) fn collect(state: &State, generation: usize) -> usize {
    if state.collecting.get() {
        return 0;
    }
    struct Collecting<'a>(&'a State);
    impl Drop for Collecting<'_> {
        fn drop(&mut self) {
            self.0.collecting.set(false);
        }
    }
    state.collecting.set(true);
    let guard = Collecting(state);
    let debug = state.debug.get();
    hooks::run_callbacks(Phase::Start, generation, 0, 0, Duration::ZERO);
    if debug & DEBUG_STATS != 0 {
        let counts: Vec<usize> = state.generations.iter().map(|g| g.count.get()).collect();
        eprintln!("gc: collecting generation {generation}... counts {counts:?}");
    }
    let start = Instant::now();
    let mut first_panic = None;
    let collected = collect_main(state, generation, &mut first_panic);
    let duration = start.elapsed();
    let stats = &state.stats[generation];
    stats.set(GenerationStats {
        collections: stats.get().collections + 1,
        collected: stats.get().collected + collected,
        uncollectable: stats.get().uncollectable,
    });
    if debug & DEBUG_STATS != 0 {
        eprintln!(
            "gc: done, {collected} unreachable, 0 uncollectable, {:.4}s elapsed",
            duration.as_secs_f64()
        );
    }
    hooks::run_callbacks(Phase::Stop, generation, collected, 0, duration);
    drop(guard);
    if let Some(payload) = first_panic {
        panic::resume_unwind(payload);
    }
    collected
}

fn collect_main(state: &State, generation: usize, first_panic: &mut Option<Panic>) -> usize {
    if generation + 1 < GENERATIONS {
        let next = &state.generations[generation + 1].count;
        next.set(next.get() + 1);
    }
    for gen in &state.generations[..=generation] {
        gen.count.set(0);
    }
    let young = state.generation_head(generation);
    for younger in 0..generation {
        // SAFETY: distinct, initialised generation lists.
        unsafe { list::merge(state.generation_head(younger), young) };
    }
    let full = generation + 1 == GENERATIONS;
    let old = if full {
        young
    } else {
        state.generation_head(generation + 1)
    };

    let unreachable = ListNode::new();
    list::init(&unreachable);
    // SAFETY: young is a well-formed list of live tracked objects, and no
    // user code runs until the phases are done.
    let survivors = unsafe { deduce_unreachable(young, &unreachable, 0) };

    if generation + 2 == GENERATIONS {
        let pending = &state.long_lived_pending;
        pending.set(pending.get() + survivors);
    }
    if full {
        state.long_lived_pending.set(0);
        state.long_lived_total.set(survivors);
    } else {
        // SAFETY: distinct, initialised lists.
        unsafe { list::merge(young, old) };
    }

    // From here on user code runs (finalizers, drops): hold a strong
    // reference on every unreachable object so that none is freed under us.
    // In the same pass: weak references are cleared, and, when the batch
    // will go straight to deletion, every value is marked dropped before
    // any drop runs (see delete_garbage).
    let debug = state.debug.get();
    let save_all = debug & DEBUG_SAVEALL != 0;
    let mut unfinalized = 0usize;
    // SAFETY: members of the unreachable list are live tracked objects.
    unsafe {
        list::for_each(&unreachable, |links| {
            let header = header_of(links);
            header.increment_strong();
            let pending = (*links).vtable.finalize.is_some() && !header.has(flags::FINALIZED);
            unfinalized += usize::from(pending);
            let mark = if save_all { 0 } else { flags::DROPPED };
            header.set(flags::WEAK_CLEARED | mark);
            if debug & DEBUG_COLLECTABLE != 0 {
                let name = ((*links).vtable.type_name)();
                eprintln!("gc: collectable <{name} {links:p}>");
            }
        });
    }
    let garbage = ListNode::new();
    list::init(&garbage);
    // SAFETY: as above; the held references keep the members alive.
    unsafe {
        if unfinalized > 0 {
            list::for_each(&unreachable, |links| header_of(links).clear(flags::DROPPED));
            finalize_garbage(&unreachable, first_panic);
            handle_resurrected(&unreachable, &garbage, old);
            if !save_all {
                list::for_each(&garbage, |links| header_of(links).set(flags::DROPPED));
            }
        } else {
            // No user code ran since the unreachable set was computed, so
            // nothing can have been resurrected.
            list::merge(&unreachable, &garbage);
        }
        let collected = list::len(&garbage);
        if save_all {
            save_garbage(&garbage, old);
        } else {
            delete_garbage(&garbage, first_panic);
        }
        collected
    }
}

/// Phases 2-4 on `young`; `held` is the number of strong references the
/// collector itself holds on each member (1 on the second pass). Returns
/// the number of reachable objects left in `young`.
///
/// # Safety
/// `young` is a well-formed list of live tracked objects with live values.
unsafe fn deduce_unreachable(young: &ListNode, unreachable: &ListNode, held: u32) -> usize {
    let armed = AbortOnUnwind;
    // SAFETY: forwarded from the caller.
    unsafe {
        update_refs(young, held);
        subtract_refs(young);
    }
    // SAFETY: as above.
    let reachable = unsafe { move_unreachable(young, unreachable) };
    std::mem::forget(armed);
    reachable
}

/// Armed while objects sit in half-processed lists: `Trace` must not panic
/// (see its safety contract), and if one does, stopping the process is the
/// only way not to leave objects linked to a list head on a dead stack frame.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        eprintln!("strata_gc: a Trace implementation panicked during a collection; aborting");
        std::process::abort();
    }
}

/// # Safety
/// As [`deduce_unreachable`].
unsafe fn update_refs(young: &ListNode, held: u32) {
    // SAFETY: members are live tracked objects.
    unsafe {
        list::for_each(young, |links| {
            let header = header_of(links);
            debug_assert!(!header.has(flags::DROPPED));
            header.gc_refs.set(header.strong.get() - held);
            header.set(flags::COLLECTING);
        });
    }
}

/// # Safety
/// As [`deduce_unreachable`].
unsafe fn subtract_refs(young: &ListNode) {
    let mut visitor = Visitor::subtract_refs();
    // SAFETY: members are live tracked objects with live values.
    unsafe { list::for_each(young, |links| ((*links).vtable.trace)(links, &mut visitor)) };
}

/// # Safety
/// As [`deduce_unreachable`].
unsafe fn move_unreachable(young: &ListNode, unreachable: &ListNode) -> usize {
    let mut reachable = 0;
    let young_ptr = young as *const ListNode as *mut ListNode;
    let mut node = young.next.get();
    while node != young_ptr {
        let links = list::as_links(node);
        // SAFETY: node is a live member of young; tracing may append members
        // at young's tail, which the walk then reaches.
        unsafe {
            let header = header_of(links);
            if header.gc_refs.get() > 0 {
                let mut visitor = Visitor::mark_reachable(young);
                ((*links).vtable.trace)(links, &mut visitor);
                header.clear(flags::COLLECTING);
                reachable += 1;
                node = (*node).next.get();
            } else {
                // Tentatively unreachable: a later reachable object may
                // still move it back.
                let next = (*node).next.get();
                list::move_to(node, unreachable);
                header.set(flags::UNREACHABLE);
                node = next;
            }
        }
    }
    // SAFETY: members of unreachable are live.
    unsafe {
        list::for_each(unreachable, |links| {
            header_of(links).clear(flags::UNREACHABLE | flags::COLLECTING);
        });
    }
    reachable
}

/// Runs `f`, keeping the first panic for later so that the collector's
/// lists are never left half-processed.
fn guarded(first_panic: &mut Option<Panic>, f: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
        first_panic.get_or_insert(payload);
    }
}

/// Runs the finalizers not run yet; returns how many ran.
///
/// # Safety
/// `unreachable` is a list of live objects the collector holds.
unsafe fn finalize_garbage(unreachable: &ListNode, first_panic: &mut Option<Panic>) -> usize {
    let mut finalized = 0;
    // SAFETY: the held references keep every member, and the list links,
    // intact while finalizers run.
    unsafe {
        list::for_each(unreachable, |links| {
            let header = header_of(links);
            if let Some(finalize) = (*links).vtable.finalize {
                if !header.has(flags::FINALIZED) {
                    header.set(flags::FINALIZED);
                    finalized += 1;
                    guarded(first_panic, || finalize(links));
                }
            }
        });
    }
    finalized
}

/// Moves what is still unreachable to `garbage`; what a finalizer made
/// reachable again goes to `old`, and the collector's hold on it is dropped.
///
/// # Safety
/// As [`finalize_garbage`].
unsafe fn handle_resurrected(unreachable: &ListNode, garbage: &ListNode, old: &ListNode) {
    // SAFETY: forwarded from the caller. Each member is moved to `old`
    // before its hold is released, and the members not yet visited are
    // still held, so releasing one cannot free the walk's next node.
    unsafe {
        deduce_unreachable(unreachable, garbage, 1);
        list::for_each(unreachable, |links| {
            list::move_to(links as *mut ListNode, old);
            release_one(links);
        });
    }
}

/// `DEBUG_SAVEALL`: the garbage goes to the `garbage()` list, alive, and
/// back to `old`.
///
/// # Safety
/// `garbage` is a list of live objects the collector holds.
unsafe fn save_garbage(garbage: &ListNode, old: &ListNode) {
    // SAFETY: the members are live; the saved handles keep them so.
    unsafe {
        list::for_each(garbage, |links| {
            hooks::save(AnyGc::new(links));
            list::move_to(links as *mut ListNode, old);
            release_one(links);
        });
    }
}

/// Phase 9: drops every value, then releases the memory of those no handle
/// points to any more.
///
/// # Safety
/// `garbage` is a list of live objects the collector holds, all marked
/// DROPPED already, so that a Drop reading a Gc to another member panics
/// instead of reading a dropped value.
unsafe fn delete_garbage(garbage: &ListNode, first_panic: &mut Option<Panic>) {
    // SAFETY: the held references keep every member's memory live until
    // `release_holds`.
    unsafe {
        list::for_each(garbage, |links| {
            guarded(first_panic, || ((*links).vtable.drop_value)(links));
        });
        release_holds(garbage);
    }
}

/// Unlinks every member of `list` and drops the collector's reference.
///
/// # Safety
/// `list` holds live objects, each with one reference held by the collector.
unsafe fn release_holds(head: &ListNode) {
    // SAFETY: forwarded from the caller.
    unsafe {
        list::for_each(head, |links| {
            list::unlink(links as *mut ListNode);
            header_of(links).clear(flags::LINKED);
            release_one(links);
        });
    }
}

/// # Safety
/// `links` is a live object on which the caller holds one reference.
unsafe fn release_one(links: *const GcLinks) {
    // SAFETY: forwarded from the caller.
    let header = unsafe { header_of(links) };
    let count = header.strong.get() - 1;
    header.strong.set(count);
    if count == 0 {
        // SAFETY: that was the last reference.
        unsafe { super::destroy::release(links) };
    }
}
