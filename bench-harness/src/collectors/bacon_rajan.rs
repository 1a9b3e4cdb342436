//! `bacon_rajan_cc::Cc`: Bacon and Rajan's synchronous cycle collection over
//! buffered possible roots.

use bacon_rajan_cc::{Cc, Trace, Tracer};

super::gc_heap_adapter!(Heap, Cc, bacon_rajan_cc::collect_cycles());

impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer) {
        self.edges.trace(tracer);
    }
}
