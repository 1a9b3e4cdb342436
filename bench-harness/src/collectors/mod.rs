//! Collector adapters: each file gives one collector's node type and its
//! [`GcHeap`](crate::gc_workloads::GcHeap) implementation, so that every
//! collector workload runs unchanged on every collector.

mod bacon_rajan;
mod dumpster_gc;
mod gcmodule_cc;
mod rc;
mod rust_cc;
mod strata_gc;

use crate::gc_workloads::{self, GcRun, GcWorkload};
use crate::metrics::Probe;
use crate::workloads::Params;

/// A collector peer.
pub struct Collector {
    pub name: &'static str,
    pub about: &'static str,
    /// Whether it reclaims cycles (`rc` does not: it runs acyclic workloads only).
    pub collects_cycles: bool,
    pub run: fn(&GcWorkload, &Params, &mut Probe) -> Result<GcRun, String>,
}

pub const COLLECTORS: &[Collector] = &[
    Collector {
        name: "strata-gc",
        about: "strata_gc::Gc, this workspace's CPython-style generational collector",
        collects_cycles: true,
        run: gc_workloads::dispatch::<strata_gc::Heap>,
    },
    Collector {
        name: "gcmodule",
        about: "gcmodule::Cc, CPython-style cycle collection by crate gcmodule",
        collects_cycles: true,
        run: gc_workloads::dispatch::<gcmodule_cc::Heap>,
    },
    Collector {
        name: "bacon-rajan-cc",
        about: "bacon_rajan_cc::Cc, Bacon & Rajan's synchronous cycle collection",
        collects_cycles: true,
        run: gc_workloads::dispatch::<bacon_rajan::Heap>,
    },
    Collector {
        name: "dumpster",
        about: "dumpster::unsync::Gc, reference counts with cycle detection",
        collects_cycles: true,
        run: gc_workloads::dispatch::<dumpster_gc::Heap>,
    },
    Collector {
        name: "rust-cc",
        about: "rust_cc::Cc, cycle collection with automatic triggering",
        collects_cycles: true,
        run: gc_workloads::dispatch::<rust_cc::Heap>,
    },
    Collector {
        name: "rc",
        about: "std::rc::Rc, plain reference counting (acyclic workloads only)",
        collects_cycles: false,
        run: gc_workloads::dispatch::<rc::Heap>,
    },
];

pub fn find(name: &str) -> Option<&'static Collector> {
    COLLECTORS.iter().find(|c| c.name == name)
}

/// Implements `GcHeap` for `$heap` whose handle is `$ptr<Node>`, `Node`
/// being the adapter's `{ edges: RefCell<Vec<$ptr<Node>>>, token: DropToken }`.
/// All adapters share this shape; only the pointer type, the `Trace`
/// implementation and the collection call differ.
macro_rules! gc_heap_adapter {
    ($heap:ident, $ptr:ident, $collect:expr) => {
        pub struct $heap;

        pub struct Node {
            edges: std::cell::RefCell<Vec<$ptr<Node>>>,
            token: $crate::gc_workloads::DropToken,
        }

        impl $crate::gc_workloads::GcHeap for $heap {
            type Handle = $ptr<Node>;

            fn new_node(id: u64) -> $ptr<Node> {
                $ptr::new(Node {
                    edges: std::cell::RefCell::new(Vec::new()),
                    token: $crate::gc_workloads::DropToken(id),
                })
            }

            fn add_edge(from: &$ptr<Node>, to: &$ptr<Node>) {
                from.edges.borrow_mut().push(to.clone());
            }

            fn clear_edges(node: &$ptr<Node>) {
                // Taken out first so that drops caused by the clear do not
                // run while the cell is borrowed.
                let edges = std::mem::take(&mut *node.edges.borrow_mut());
                drop(edges);
            }

            fn edge(node: &$ptr<Node>, i: usize) -> Option<$ptr<Node>> {
                node.edges.borrow().get(i).cloned()
            }

            fn id(node: &$ptr<Node>) -> u64 {
                node.token.0
            }

            fn address(node: &$ptr<Node>) -> *const u8 {
                let node: &Node = node;
                (node as *const Node).cast()
            }

            fn collect() {
                let _ = $collect;
            }

            fn node_bytes() -> usize {
                std::mem::size_of::<Node>()
            }
        }
    };
}
pub(crate) use gc_heap_adapter;
