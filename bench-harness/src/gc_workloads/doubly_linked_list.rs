//! `doubly-linked-list`: circular lists of 10,000 nodes with `next` and
//! `prev` links (edge 0 and edge 1 of each node: every pair of neighbours is
//! a cycle);
//! a tenth of the nodes are unlinked from the middle, the list is walked,
//! then dropped and collected.

use super::{GcHeap, Mutator};
use crate::metrics::Probe;
use crate::workloads::Params;
use rand::Rng;

const LENGTH: usize = 10_000;
const LISTS: u64 = 60;

pub fn run<H: GcHeap>(params: &Params, probe: &mut Probe, m: &mut Mutator) -> Result<(), String> {
    let mut rng = params.rng(32);
    let length = (params.count(LISTS * LENGTH as u64) as usize).clamp(4, LENGTH);
    let lists = params.count(LISTS * LENGTH as u64) / length as u64;
    for _ in 0..lists {
        let mut nodes: Vec<H::Handle> = Vec::with_capacity(length);
        for i in 0..length {
            let node = m.node::<H>(probe);
            if i > 0 {
                // Edge 0 is `next`, edge 1 is `prev`.
                H::add_edge(&nodes[i - 1], &node);
            }
            nodes.push(node);
            m.op(probe);
        }
        H::add_edge(&nodes[length - 1], &nodes[0]);
        for i in 1..length {
            H::add_edge(&nodes[i], &nodes[i - 1]);
        }
        H::add_edge(&nodes[0], &nodes[length - 1]);
        // Unlink random inner nodes: relink their neighbours around them.
        for _ in 0..length / 10 {
            let i = rng.gen_range(1..nodes.len() - 1);
            let (prev, next) = (nodes[i - 1].clone(), nodes[i + 1].clone());
            rebuild_links::<H>(&prev, H::edge(&prev, 1).as_ref(), Some(&next));
            rebuild_links::<H>(&next, Some(&prev), H::edge(&next, 0).as_ref());
            H::clear_edges(&nodes[i]);
            nodes.remove(i);
            m.op(probe);
        }
        let head = nodes[0].clone();
        drop(nodes);
        let mut walked = 1;
        let mut at = H::edge(&head, 0).ok_or("the head has no next link")?;
        while H::id(&at) != H::id(&head) {
            walked += 1;
            at = H::edge(&at, 0).ok_or("a node has no next link")?;
        }
        drop(at);
        if walked != length - length / 10 {
            return Err(format!("walked {walked} nodes of {}", length - length / 10));
        }
        drop(head);
        let created = m.created();
        m.collect::<H>(probe);
        m.expect_dropped(created, "after dropping a list")?;
    }
    m.finish::<H>(probe)
}

/// Sets a node's links to exactly (next, prev), in that edge order.
fn rebuild_links<H: GcHeap>(node: &H::Handle, prev: Option<&H::Handle>, next: Option<&H::Handle>) {
    H::clear_edges(node);
    if let Some(next) = next {
        H::add_edge(node, next);
    }
    if let Some(prev) = prev {
        H::add_edge(node, prev);
    }
}
