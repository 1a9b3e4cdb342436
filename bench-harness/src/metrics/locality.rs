//! Locality: how close related objects land.
//!
//! Two views: the addresses of consecutive allocations a workload made (same
//! page rate, median distance), and a walk over a list of same-size nodes
//! allocated amid allocations of other sizes, in allocation order against a
//! shuffled order. An allocator that keeps one size class together makes the
//! first walk much faster than the second.

use crate::record::Locality;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Instant;

const PAGE: usize = 4096;

/// Same-page rate and median distance of consecutive addresses.
pub fn address_figures(addresses: &[usize]) -> (f64, u64) {
    if addresses.len() < 2 {
        return (0.0, 0);
    }
    let mut distances: Vec<u64> = addresses
        .windows(2)
        .map(|w| w[0].abs_diff(w[1]) as u64)
        .collect();
    let same_page = addresses
        .windows(2)
        .filter(|w| w[0] / PAGE == w[1] / PAGE)
        .count();
    let middle = distances.len() / 2;
    let (_, median, _) = distances.select_nth_unstable(middle);
    (same_page as f64 / (addresses.len() - 1) as f64, *median)
}

/// A list node of 64 bytes, a typical small object.
struct Node {
    next: *const Node,
    value: u64,
    _pad: [u64; 6],
}

/// Nodes in the walk; 200,000 x 64 B = 12.5 MiB, beyond the last-level cache
/// of most machines, so that the walk order shows.
pub const WALK_NODES: usize = 200_000;

/// Builds the walk list and times both walks; returns ns per node.
pub fn walk_figures(nodes: usize, seed: u64) -> (f64, f64) {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut list: Vec<Box<Node>> = Vec::with_capacity(nodes);
    let mut fillers: Vec<Vec<u8>> = Vec::with_capacity(nodes);
    for i in 0..nodes {
        list.push(Box::new(Node {
            next: std::ptr::null(),
            value: i as u64,
            _pad: [0; 6],
        }));
        // A filler of another size between two nodes, as a real program would
        // have; an allocator that segregates sizes keeps the nodes adjacent.
        fillers.push(vec![0u8; rng.gen_range(16..256)]);
    }
    link(&mut list, &(0..nodes).collect::<Vec<_>>());
    let in_order = time_walk(&list[0], nodes);
    let mut order: Vec<usize> = (0..nodes).collect();
    order.shuffle(&mut rng);
    link(&mut list, &order);
    let shuffled = time_walk(&list[order[0]], nodes);
    drop(fillers);
    (in_order, shuffled)
}

fn link(list: &mut [Box<Node>], order: &[usize]) {
    for w in order.windows(2) {
        let next: *const Node = &*list[w[1]];
        list[w[0]].next = next;
    }
    list[*order.last().expect("non-empty walk")].next = std::ptr::null();
}

fn time_walk(head: &Node, nodes: usize) -> f64 {
    let start = Instant::now();
    let mut sum = 0u64;
    let mut node: *const Node = head;
    while !node.is_null() {
        // SAFETY: every `next` points into a live `Box<Node>` of the list,
        // which outlives the walk, or is null at the end.
        let current = unsafe { &*node };
        sum = sum.wrapping_add(current.value);
        node = current.next;
    }
    black_box(sum);
    start.elapsed().as_nanos() as f64 / nodes as f64
}

pub fn locality(addresses: &[usize], walk_nodes: usize, seed: u64) -> Locality {
    let (same_page_rate, median_distance) = address_figures(addresses);
    let (walk_alloc_order_ns, walk_shuffled_ns) = if walk_nodes >= 2 {
        walk_figures(walk_nodes, seed)
    } else {
        (0.0, 0.0)
    };
    Locality {
        same_page_rate,
        median_distance,
        walk_alloc_order_ns,
        walk_shuffled_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_addresses_share_pages() {
        let addresses: Vec<usize> = (0..100).map(|i| 0x10000 + i * 16).collect();
        let (rate, median) = address_figures(&addresses);
        assert!(rate > 0.9);
        assert_eq!(median, 16);
    }

    #[test]
    fn scattered_addresses_do_not() {
        let addresses: Vec<usize> = (0..100).map(|i| i * 3 * PAGE).collect();
        assert_eq!(address_figures(&addresses), (0.0, 3 * PAGE as u64));
    }

    #[test]
    fn walks_visit_every_node() {
        let (a, b) = walk_figures(1000, 1);
        assert!(a > 0.0 && b > 0.0);
    }
}
