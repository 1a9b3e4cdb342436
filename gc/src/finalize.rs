//! `Finalize`: code that runs before an object is destroyed (PEP 442's
//! `tp_finalize`, Python's `__del__`).

/// A finalizer, run at most once per object, before the object is
/// destroyed — whether its count reached zero or a collection found it in an
/// unreachable cycle.
///
/// Unlike `Drop`, a finalizer sees the whole object graph intact: every
/// `Gc` field is readable. It may resurrect the object (store a handle to it
/// somewhere reachable); the collector then keeps it and everything it
/// reaches, and the finalizer does not run again. Weak references to an
/// object found unreachable are cleared before its finalizer runs.
///
/// Opt in with `#[trace(finalize)]` on a `#[derive(Trace)]` type (or
/// `FINALIZE = true` plus `run_finalizer` in a manual `Trace` impl).
///
/// ```
/// use std::cell::Cell;
/// use strata_gc::{Finalize, Gc, Trace};
///
/// thread_local!(static FINALIZED: Cell<u32> = const { Cell::new(0) });
///
/// #[derive(Trace)]
/// #[trace(finalize)]
/// struct File { #[trace(skip)] name: String }
///
/// impl Finalize for File {
///     fn finalize(&self) {
///         FINALIZED.with(|count| count.set(count.get() + 1));
///     }
/// }
///
/// drop(Gc::new(File { name: "log".into() }));
/// assert_eq!(FINALIZED.with(Cell::get), 1);
/// ```
pub trait Finalize {
    /// Runs once, before the object's value is dropped.
    fn finalize(&self);
}
