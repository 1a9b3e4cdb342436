//! `dumpster::unsync::Gc`: reference counting whose dropped references are
//! checked for unreachable cycles in batches.

use dumpster::unsync::Gc;
use dumpster::{Trace, Visitor};

super::gc_heap_adapter!(Heap, Gc, dumpster::unsync::collect());

// SAFETY: `accept` visits the only field that holds `Gc` references
// (`edges`); `token` holds none.
unsafe impl Trace for Node {
    fn accept<V: Visitor>(&self, visitor: &mut V) -> Result<(), ()> {
        self.edges.accept(visitor)
    }
}
