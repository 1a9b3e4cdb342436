//! strata-gc against the Rust cycle collectors on crates.io (gcmodule,
//! bacon_rajan_cc, dumpster, rust-cc) and against `Rc`, on the four
//! workloads:
//!
//! - `two_node_cycles`: create 100,000 two-node cycles, drop them, collect;
//! - `doubly_linked_list`: a 100,000-node doubly linked list, dropped, collected;
//! - `random_graph`: 50,000 nodes with 4 random edges each, dropped, collected;
//! - `acyclic_tree`: create and drop a 1,000,000-node binary tree (no cycles,
//!   so `Rc` can do it too; no explicit collection).
//!
//! Every collector runs with its default settings (automatic collection
//! included). The benchmarks run on a thread with a 1 GiB stack because some
//! peers trace recursively and would overflow the main thread's on the
//! 100,000-node list.
//!
//! `cargo bench -p strata-gc --bench collectors` (system allocator for everything
//! but strata-gc's objects) and `--bench collectors_strata_global` (strata as
//! the global allocator, so every peer and `Rc` allocate from it too).

use std::cell::RefCell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use rand::{rngs::StdRng, Rng, SeedableRng};

const CYCLES: usize = 100_000;
const LIST: usize = 100_000;
const GRAPH: usize = 50_000;
const EDGES: usize = 4;
const TREE: usize = 1_000_000;

/// Node types and workload functions for one collector. `$handle` is the
/// strong pointer type, `$collect` a full collection, `$attr` the derives.
macro_rules! workloads {
    ($name:ident, $handle:ident, $collect:expr, [$(#[$attr:meta])*], { $($manual:item)* }) => {
        mod $name {
            use super::*;

            $(#[$attr])*
            #[allow(dead_code)]
            pub struct Link {
                pub value: u64,
                pub next: RefCell<Option<$handle<Link>>>,
                pub prev: RefCell<Option<$handle<Link>>>,
            }

            $(#[$attr])*
            pub struct GraphNode {
                pub edges: RefCell<Vec<$handle<GraphNode>>>,
            }

            $(#[$attr])*
            pub struct Tree {
                pub value: u64,
                pub left: Option<$handle<Tree>>,
                pub right: Option<$handle<Tree>>,
            }

            $($manual)*

            fn link(value: u64, prev: Option<$handle<Link>>) -> $handle<Link> {
                $handle::new(Link { value, next: RefCell::new(None), prev: RefCell::new(prev) })
            }

            #[allow(dead_code)]
            pub fn two_node_cycles(count: usize) -> u64 {
                let mut sum = 0;
                for i in 0..count {
                    let a = link(i as u64, None);
                    let b = link(i as u64 + 1, Some(a.clone()));
                    *a.next.borrow_mut() = Some(b.clone());
                    sum += a.value + b.value;
                }
                $collect;
                sum
            }

            #[allow(dead_code)]
            pub fn doubly_linked_list(length: usize) -> u64 {
                let head = link(0, None);
                let mut tail = head.clone();
                for i in 1..length {
                    let node = link(i as u64, Some(tail.clone()));
                    *tail.next.borrow_mut() = Some(node.clone());
                    tail = node;
                }
                let sum = head.value + tail.value;
                drop((head, tail));
                $collect;
                sum
            }

            #[allow(dead_code)]
            pub fn random_graph(edges: &[[u32; EDGES]]) -> usize {
                let nodes: Vec<$handle<GraphNode>> = (0..edges.len())
                    .map(|_| $handle::new(GraphNode { edges: RefCell::new(Vec::with_capacity(EDGES)) }))
                    .collect();
                for (node, targets) in nodes.iter().zip(edges) {
                    let mut out = node.edges.borrow_mut();
                    for &target in targets {
                        out.push(nodes[target as usize].clone());
                    }
                }
                let count = nodes.len();
                drop(nodes);
                $collect;
                count
            }

            fn tree(first: u64, count: u64) -> Option<$handle<Tree>> {
                if count == 0 {
                    return None;
                }
                let left_count = (count - 1) / 2;
                let left = tree(first + 1, left_count);
                let right = tree(first + 1 + left_count, count - 1 - left_count);
                Some($handle::new(Tree { value: first, left, right }))
            }

            pub fn acyclic_tree(count: usize) -> u64 {
                let root = tree(0, count as u64).unwrap();
                let sum = root.value
                    + root.left.as_ref().map_or(0, |l| l.value)
                    + root.right.as_ref().map_or(0, |r| r.value);
                drop(root);
                sum
            }
        }
    };
}

use strata_gc::Gc as StrataGc;
workloads! { strata, StrataGc, strata_gc::collect(), [#[derive(strata_gc::Trace)]], {} }

use gcmodule::Cc as GcmoduleCc;
// gcmodule's derive recurses forever in `is_type_tracked` on a type that
// contains itself (a stack overflow at the first `Cc::new`): by hand, with
// the default `is_type_tracked` (true).
workloads! { gcmodule_cc, GcmoduleCc, gcmodule::collect_thread_cycles(), [], {
    impl gcmodule::Trace for Link {
        fn trace(&self, tracer: &mut gcmodule::Tracer) {
            self.next.trace(tracer);
            self.prev.trace(tracer);
        }
    }
    impl gcmodule::Trace for GraphNode {
        fn trace(&self, tracer: &mut gcmodule::Tracer) {
            self.edges.trace(tracer);
        }
    }
    impl gcmodule::Trace for Tree {
        fn trace(&self, tracer: &mut gcmodule::Tracer) {
            self.left.trace(tracer);
            self.right.trace(tracer);
        }
    }
}}

use dumpster::unsync::Gc as DumpsterGc;
// dumpster's derive does not expand inside macro_rules, so these are by hand.
workloads! { dumpster_gc, DumpsterGc, dumpster::unsync::collect(), [], {
    // SAFETY: each visits exactly the handles the node owns.
    unsafe impl dumpster::Trace for Link {
        fn accept<V: dumpster::Visitor>(&self, visitor: &mut V) -> Result<(), ()> {
            self.next.accept(visitor)?;
            self.prev.accept(visitor)
        }
    }
    // SAFETY: as above.
    unsafe impl dumpster::Trace for GraphNode {
        fn accept<V: dumpster::Visitor>(&self, visitor: &mut V) -> Result<(), ()> {
            self.edges.accept(visitor)
        }
    }
    // SAFETY: as above.
    unsafe impl dumpster::Trace for Tree {
        fn accept<V: dumpster::Visitor>(&self, visitor: &mut V) -> Result<(), ()> {
            self.left.accept(visitor)?;
            self.right.accept(visitor)
        }
    }
}}

use rust_cc::Cc as RustCc;
workloads! { rust_cc_cc, RustCc, rust_cc::collect_cycles(), [#[derive(rust_cc::Trace, rust_cc::Finalize)]], {} }

use bacon_rajan_cc::Cc as BaconCc;
workloads! { bacon, BaconCc, bacon_rajan_cc::collect_cycles(), [], {
    impl bacon_rajan_cc::Trace for Link {
        fn trace(&self, tracer: &mut bacon_rajan_cc::Tracer) {
            self.next.trace(tracer);
            self.prev.trace(tracer);
        }
    }
    impl bacon_rajan_cc::Trace for GraphNode {
        fn trace(&self, tracer: &mut bacon_rajan_cc::Tracer) {
            self.edges.trace(tracer);
        }
    }
    impl bacon_rajan_cc::Trace for Tree {
        fn trace(&self, tracer: &mut bacon_rajan_cc::Tracer) {
            self.left.trace(tracer);
            self.right.trace(tracer);
        }
    }
}}

use std::rc::Rc;
workloads! { rc, Rc, black_box(()), [], {} }

fn random_edges() -> Vec<[u32; EDGES]> {
    let mut rng = StdRng::seed_from_u64(0x5747_a7a5);
    (0..GRAPH)
        .map(|_| std::array::from_fn(|_| rng.gen_range(0..GRAPH as u32)))
        .collect()
}

/// One criterion group: `$workload(arg)` for each collector module listed.
macro_rules! group {
    ($c:expr, $suffix:expr, $workload:ident, $arg:expr, [$(($label:literal, $module:ident)),*]) => {{
        let mut group = $c.benchmark_group(format!("{}{}", stringify!($workload), $suffix));
        $(
            group.bench_function(BenchmarkId::from_parameter($label), |b| {
                b.iter(|| $module::$workload(black_box($arg)))
            });
        )*
        group.finish();
    }};
}

fn benches(c: &mut Criterion, suffix: &str) {
    group!(
        c,
        suffix,
        two_node_cycles,
        CYCLES,
        [
            ("strata-gc", strata),
            ("gcmodule", gcmodule_cc),
            ("bacon_rajan_cc", bacon),
            ("dumpster", dumpster_gc),
            ("rust-cc", rust_cc_cc)
        ]
    );
    group!(
        c,
        suffix,
        doubly_linked_list,
        LIST,
        [
            ("strata-gc", strata),
            ("gcmodule", gcmodule_cc),
            ("bacon_rajan_cc", bacon),
            ("dumpster", dumpster_gc),
            ("rust-cc", rust_cc_cc)
        ]
    );
    let edges = random_edges();
    group!(
        c,
        suffix,
        random_graph,
        &edges,
        [
            ("strata-gc", strata),
            ("gcmodule", gcmodule_cc),
            ("bacon_rajan_cc", bacon),
            ("dumpster", dumpster_gc),
            ("rust-cc", rust_cc_cc)
        ]
    );
    group!(
        c,
        suffix,
        acyclic_tree,
        TREE,
        [
            ("Rc", rc),
            ("strata-gc", strata),
            ("gcmodule", gcmodule_cc),
            ("bacon_rajan_cc", bacon),
            ("dumpster", dumpster_gc),
            ("rust-cc", rust_cc_cc)
        ]
    );
}

/// Runs every workload for every collector; `suffix` tells the group names
/// of the two binaries apart.
pub fn run(suffix: &'static str) {
    let run = move || {
        let mut criterion = Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        benches(&mut criterion, suffix);
        criterion.final_summary();
    };
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(run)
        .expect("spawn the benchmark thread")
        .join()
        .expect("benchmarks panicked");
}
