//! `gcmodule::Cc`: reference counting with a CPython-like cycle collector
//! over a per-thread object list.

use gcmodule::{Cc, Trace, Tracer};

super::gc_heap_adapter!(Heap, Cc, gcmodule::collect_thread_cycles());

impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer) {
        self.edges.trace(tracer);
    }
}
