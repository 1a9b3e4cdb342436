//! Random graphs with random roots: exactly the nodes unreachable from the
//! roots are dropped by `collect()`, checked against a reachability oracle.

use std::cell::RefCell;
use std::collections::BTreeSet;

use proptest::prelude::*;
use strata_gc::{collect, collect_generation, Gc, Trace};

thread_local!(static DROPPED: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) });

#[derive(Trace)]
struct Node {
    #[trace(skip)]
    id: usize,
    edges: RefCell<Vec<Gc<Node>>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        DROPPED.with(|dropped| dropped.borrow_mut().push(self.id));
    }
}

/// The oracle: nodes reachable from `roots` along `edges`.
fn reachable(nodes: usize, edges: &[(usize, usize)], roots: &BTreeSet<usize>) -> BTreeSet<usize> {
    let mut seen = roots.clone();
    let mut stack: Vec<usize> = roots.iter().copied().collect();
    while let Some(node) = stack.pop() {
        for &(_, to) in edges.iter().filter(|(from, _)| *from == node) {
            if to < nodes && seen.insert(to) {
                stack.push(to);
            }
        }
    }
    seen
}

/// Builds the graph, keeps only the roots, optionally promotes it first,
/// collects, and checks the dropped set against the oracle.
fn check(nodes: usize, edges: &[(usize, usize)], roots: &BTreeSet<usize>, promote: usize) {
    DROPPED.with(|dropped| dropped.borrow_mut().clear());
    let all: Vec<Gc<Node>> = (0..nodes)
        .map(|id| {
            Gc::new(Node {
                id,
                edges: RefCell::new(Vec::new()),
            })
        })
        .collect();
    for &(from, to) in edges {
        all[from].edges.borrow_mut().push(all[to].clone());
    }
    if promote > 0 {
        collect_generation(promote - 1);
    }
    let kept: Vec<Gc<Node>> = roots.iter().map(|&root| all[root].clone()).collect();
    drop(all);
    let live = reachable(nodes, edges, roots);
    let dropped_by_counts: BTreeSet<usize> =
        DROPPED.with(|dropped| dropped.borrow().iter().copied().collect());
    assert!(
        dropped_by_counts.is_disjoint(&live),
        "a reachable node was dropped by counting"
    );

    let found = collect();
    let dropped: BTreeSet<usize> =
        DROPPED.with(|dropped| dropped.borrow().iter().copied().collect());
    let expected: BTreeSet<usize> = (0..nodes).filter(|id| !live.contains(id)).collect();
    assert_eq!(
        dropped, expected,
        "exactly the unreachable nodes are dropped"
    );
    assert_eq!(found + dropped_by_counts.len(), expected.len());

    // The survivors are intact: every edge of every reachable node is there.
    for root in &kept {
        let mut stack = vec![root.clone()];
        let mut visited = BTreeSet::new();
        while let Some(node) = stack.pop() {
            if !visited.insert(node.id) {
                continue;
            }
            let expected_out = edges.iter().filter(|(from, _)| *from == node.id).count();
            assert_eq!(node.edges.borrow().len(), expected_out);
            stack.extend(node.edges.borrow().iter().cloned());
        }
    }
    drop(kept);
    collect();
    assert_eq!(
        DROPPED.with(|dropped| dropped.borrow().len()),
        nodes,
        "everything freed at the end"
    );
}

fn graph() -> impl Strategy<Value = (usize, Vec<(usize, usize)>, BTreeSet<usize>, usize)> {
    (1usize..40).prop_flat_map(|nodes| {
        (
            Just(nodes),
            prop::collection::vec((0..nodes, 0..nodes), 0..nodes * 3),
            prop::collection::btree_set(0..nodes, 0..4),
            0usize..4,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    #[cfg_attr(miri, ignore = "proptest is too slow under Miri; the fixed graphs run instead")]
    fn collect_drops_exactly_the_unreachable((nodes, edges, roots, promote) in graph()) {
        check(nodes, &edges, &roots, promote);
    }
}

#[test]
fn fixed_random_graphs_match_the_oracle() {
    // A small deterministic generator, so that Miri runs the same check.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    let rounds = if cfg!(miri) { 3 } else { 200 };
    for _ in 0..rounds {
        let nodes = 1 + next(30);
        let edges: Vec<(usize, usize)> = (0..next(nodes * 3 + 1))
            .map(|_| (next(nodes), next(nodes)))
            .collect();
        let roots: BTreeSet<usize> = (0..next(4)).map(|_| next(nodes)).collect();
        check(nodes, &edges, &roots, next(4));
    }
}
