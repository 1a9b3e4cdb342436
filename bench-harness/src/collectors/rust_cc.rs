//! `rust_cc::Cc`: cycle collection with collections triggered automatically
//! as the heap grows (its default features).

use rust_cc::{Cc, Context, Finalize, Trace};

super::gc_heap_adapter!(Heap, Cc, rust_cc::collect_cycles());

// SAFETY: `trace` visits the only field that holds `Cc` references
// (`edges`); `token` holds none.
unsafe impl Trace for Node {
    fn trace(&self, ctx: &mut Context<'_>) {
        self.edges.trace(ctx);
    }
}

impl Finalize for Node {}
