//! Reference counting with CPython's generational cycle collector.
//!
//! `Gc<T>` is `Rc<T>` that also frees cycles: counts free an object the
//! moment its last handle goes, and a collector modelled on CPython's `gc`
//! module finds the groups of objects that only keep each other alive.
//!
//! ```
//! use std::cell::RefCell;
//! use strata_gc::{Gc, Trace};
//!
//! #[derive(Trace)]
//! struct Node {
//!     #[trace(skip)]
//!     id: u64,
//!     next: RefCell<Option<Gc<Node>>>,
//! }
//!
//! let a = Gc::new(Node { id: 1, next: RefCell::new(None) });
//! let b = Gc::new(Node { id: 2, next: RefCell::new(Some(a.clone())) });
//! *a.next.borrow_mut() = Some(b.clone());
//! drop((a, b));
//! assert_eq!(strata_gc::collect(), 2); // both found unreachable and freed
//! ```
//!
//! # The model
//!
//! ```text
//!   Gc::new ──► generation 0 ──(survives)──► generation 1 ──► generation 2
//!                 count > 2000                 10 gen-0         10 gen-1 runs
//!                 ⇒ collect gen 0              runs ⇒ gen 1     and pending >
//!                                                                25% ⇒ gen 2
//!   collect(g):  young = gen 0..=g merged
//!     update_refs      gc_refs := strong count             (per object)
//!     subtract_refs    gc_refs -= 1 per reference from young (Trace)
//!     move_unreachable gc_refs == 0 → unreachable list, unless a reachable
//!                      object reaches it (moved back)
//!     survivors        → generation g+1
//!     unreachable      weak refs cleared → finalizers (once) → resurrected
//!                      ones survive → the rest: every value dropped, then
//!                      memory freed
//! ```
//!
//! Vocabulary: a *tracked* object is one whose type may hold a `Gc`
//! ([`Trace::MAY_CONTAIN_GC`]); only those carry collector links and sit in
//! a *generation* list. `gc_refs` is CPython's working copy of the count
//! during a collection. *Unreachable* objects are referenced only from other
//! unreachable objects.
//!
//! Where things live: `header.rs` (the object layout), `list.rs` (the
//! generation lists), `gc.rs`/`weak.rs`/`any.rs` (the handles), `trace.rs`
//! (`Trace` and the collector's visitor), `collector/collect.rs` (the
//! phases above), `collector/destroy.rs` (count-zero destruction and the
//! trashcan), `collector/state.rs` (per-thread state and thresholds),
//! `module.rs` (the `gc` module API), `memory.rs` (the allocator).
//!
//! # Thresholds
//!
//! The defaults are (2000, 10, 10), CPython 3.13's (earlier versions, and the
//! design note, use 700 for generation 0): see [`set_threshold`]. A full
//! collection also waits until the objects promoted into the oldest
//! generation since the last one exceed 25% of those it held then (CPython's
//! long-lived heuristic), which keeps the total work linear.
//!
//! # Reference ownership
//!
//! CPython's four rules map onto Rust's ownership:
//!
//! | CPython | strata-gc |
//! |---|---|
//! | a function *passes* a new reference | it returns `Gc<T>`; [`Gc::into_raw`] hands a counted pointer to hand-managed code |
//! | a function *lends* a borrowed reference | it returns `&T` or `&Gc<T>` |
//! | a container *steals* a reference | it takes `Gc<T>` by value; [`Gc::from_raw`] takes back an `into_raw` pointer |
//! | a caller *borrows* for the call | it passes `&Gc<T>`, and `clone`s to keep it |
//!
//! # Memory
//!
//! Objects are allocated with `strata`'s allocator whatever the program's
//! global allocator is (under Miri: the standard allocator). Every object
//! has a 16-byte count header, like `Rc`. Objects that may be part of a
//! cycle also carry 24 bytes of collector links in front of it (two list
//! links and a type table: CPython's `PyGC_Head` plus `ob_type`). Objects
//! that cannot — their type holds no `Gc`, or its handles are fixed at
//! construction and all point to such objects ([`Trace::REFERENCES_FIXED`])
//! — carry no links and cost the collector nothing.
//!
//! # Drop of collected objects
//!
//! A collection first runs finalizers ([`Finalize`]) on the whole graph,
//! intact. Then it marks every object of the unreachable batch *collected*,
//! drops each value, and frees memory only after the last drop. During those
//! drops, a `Gc` field pointing into the same batch is a valid pointer to
//! not-yet-freed memory whose value may already be gone: `strong_count`,
//! `ptr_eq` and clones work, [`Gc::try_get`] returns `None`, and `Deref`
//! panics (the panic is re-raised by `collect` after it has finished); a
//! `Weak` to it upgrades to `None`. Never undefined behaviour.
//!
//! # Soundness of `Trace`
//!
//! A `Trace` that reports references it does not own could let the collector
//! free a live object, so `Trace` is an `unsafe trait`: derive it, or see its
//! safety contract. Reporting too few is safe (a leak), and so is a wrong
//! `MAY_CONTAIN_GC = false` or `REFERENCES_FIXED = true` (the object is
//! left untracked: cycles through it leak).
//!
//! # Threads
//!
//! `Gc` is `!Send`: each thread has its own objects and collector, and the
//! module functions act on the calling thread's. Cycles still alive when a
//! thread ends are leaked.

mod any;
mod collector;
mod finalize;
mod gc;
mod header;
mod list;
mod memory;
mod module;
mod trace;
mod trace_impls;
mod weak;

pub use any::AnyGc;
pub use collector::hooks::{CallbackId, CallbackInfo, Phase};
pub use collector::state::{GenerationStats, DEFAULT_THRESHOLDS, GENERATIONS};
pub use finalize::Finalize;
pub use gc::Gc;
pub use module::*;
pub use strata_gc_derive::Trace;
pub use trace::{Trace, Visitor};
pub use weak::Weak;

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
