//! The `Trace` trait: how the collector learns an object's outgoing strong
//! references (CPython's `tp_traverse`).

use std::marker::PhantomData;

use crate::header::{flags, header_of, GcLinks, ListNode};
use crate::list;

/// Lists the [`Gc`](crate::Gc) handles a value owns, so that the collector
/// can find cycles through them.
///
/// Derive it with `#[derive(Trace)]` (`#[trace(skip)]` leaves a field out;
/// `#[trace(finalize)]` on the type runs its [`Finalize`](crate::Finalize)
/// impl before the object is destroyed).
///
/// # Safety
///
/// The collector frees a cycle when every strong count of its members is
/// explained by references that `trace` reported. A wrong report can
/// therefore free a live object, which is why implementing `Trace` by hand is
/// `unsafe`. A manual implementation must:
///
/// - visit (call `trace` on) each `Gc` that `self` owns at most once, and
///   never a `Gc` that `self` does not own (a `Gc` shared through an `Rc`,
///   a global, or a borrowed reference is not owned);
/// - report the same handles on every call while no other code runs: no
///   interior mutation, no creating or dropping of `Gc`s, no panics (a
///   panic during a collection aborts the process);
/// - set [`MAY_CONTAIN_GC`](Trace::MAY_CONTAIN_GC) to `true` if the type can
///   hold a `Gc` at all.
///
/// Leaving a `Gc` out is allowed: it only makes the collector keep what that
/// handle reaches (a leak, never a free of a live object). The derive only
/// ever forwards to the fields' own implementations, which follow the rules.
pub unsafe trait Trace {
    /// Whether a value of this type can hold a `Gc`. Objects of types where
    /// it is `false` are never tracked and carry no collector links (CPython
    /// tracks only containers).
    const MAY_CONTAIN_GC: bool = true;

    /// Whether the set of `Gc` handles a value owns is fixed once the value
    /// is in a `Gc`: no interior mutability (`RefCell`...) can add one. An
    /// object of such a type whose handles all point to untracked objects can
    /// never be part of a cycle, so `Gc::new` leaves it untracked (CPython
    /// untracks tuples of untracked objects the same way); an immutable tree
    /// or list then costs the collector nothing. The derive computes it from
    /// the fields; a wrong `true` can only make the collector miss cycles
    /// through such objects (a leak).
    const REFERENCES_FIXED: bool = false;

    /// Whether [`run_finalizer`](Trace::run_finalizer) does anything.
    /// `#[derive(Trace)]` with `#[trace(finalize)]` sets it.
    const FINALIZE: bool = false;

    /// Visits every `Gc` this value owns, by calling `trace` on it (or on the
    /// field that holds it).
    fn trace(&self, visitor: &mut Visitor<'_>);

    /// Calls [`Finalize::finalize`](crate::Finalize::finalize) when
    /// [`FINALIZE`](Trace::FINALIZE) is `true`.
    fn run_finalizer(&self) {}
}

/// What the collector does with each reference a [`Trace`] impl reports.
/// Opaque to users: they only pass it on to their fields.
pub struct Visitor<'a> {
    mode: Mode<'a>,
    _not_send: PhantomData<*const ()>,
}

enum Mode<'a> {
    /// CPython's `visit_decref`: a reference from inside the collected set.
    SubtractRefs,
    /// CPython's `visit_reachable`: the referent of a reachable object is
    /// reachable too; move it back to `young` if it was taken out.
    MarkReachable(&'a ListNode),
    /// Whether any referent is tracked (for `Trace::REFERENCES_FIXED`).
    FindTracked(&'a mut bool),
    /// Anything else (referents, referrers): hand the object to a closure.
    Call(&'a mut dyn FnMut(*const GcLinks)),
}

impl<'a> Visitor<'a> {
    pub(crate) fn subtract_refs() -> Self {
        Visitor {
            mode: Mode::SubtractRefs,
            _not_send: PhantomData,
        }
    }

    pub(crate) fn mark_reachable(young: &'a ListNode) -> Self {
        Visitor {
            mode: Mode::MarkReachable(young),
            _not_send: PhantomData,
        }
    }

    pub(crate) fn find_tracked(found: &'a mut bool) -> Self {
        Visitor {
            mode: Mode::FindTracked(found),
            _not_send: PhantomData,
        }
    }

    pub(crate) fn call(f: &'a mut dyn FnMut(*const GcLinks)) -> Self {
        Visitor {
            mode: Mode::Call(f),
            _not_send: PhantomData,
        }
    }

    /// Reports a reference to the tracked object at `links`.
    ///
    /// # Safety
    /// `links` belongs to a tracked object whose memory is live (a `Gc`
    /// handle to it exists).
    #[inline]
    pub(crate) unsafe fn visit(&mut self, links: *const GcLinks) {
        // SAFETY: the caller guarantees a live tracked object.
        let header = unsafe { header_of(links) };
        match &mut self.mode {
            Mode::SubtractRefs => {
                if header.has(flags::COLLECTING) {
                    let refs = &header.gc_refs;
                    debug_assert!(refs.get() > 0, "Trace reported more references than exist");
                    refs.set(refs.get() - 1);
                }
            }
            Mode::MarkReachable(young) => {
                if !header.has(flags::COLLECTING) {
                    return;
                }
                let refs = &header.gc_refs;
                if header.has(flags::UNREACHABLE) {
                    // Taken out tentatively, but a reachable object points at
                    // it: back to the young list, where the scan will reach it.
                    header.clear(flags::UNREACHABLE);
                    // SAFETY: it is a member of the unreachable list.
                    unsafe { list::move_to(links as *mut ListNode, young) };
                    refs.set(1);
                } else if refs.get() == 0 {
                    // Not scanned yet; it will be, and is reachable.
                    refs.set(1);
                }
            }
            Mode::FindTracked(found) => **found |= header.has(flags::LINKED),
            Mode::Call(f) => f(links),
        }
    }
}
