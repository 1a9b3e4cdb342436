//! `strata_gc::Gc`: this workspace's reference counting with CPython's
//! generational cycle collector (automatic by thresholds, and `collect()`).

use strata_gc::{Gc, Trace, Visitor};

super::gc_heap_adapter!(Heap, Gc, strata_gc::collect());

// SAFETY: `trace` visits the only field that holds `Gc` references
// (`edges`); `token` holds none.
unsafe impl Trace for Node {
    fn trace(&self, visitor: &mut Visitor<'_>) {
        self.edges.trace(visitor);
    }
}
