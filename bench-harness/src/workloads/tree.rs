//! `tree`: binary trees of depth 14 built and dropped while a long-lived tree
//! of depth 16 stays (the shape of the binary-trees benchmark). One
//! operation is one node allocated.

use super::block::Block;
use super::Params;
use crate::metrics::Probe;

const SHORT_DEPTH: u32 = 14;
const LONG_DEPTH: u32 = 16;
/// Short-lived trees at scale 1: 300 x 32,767 nodes = 9.8M nodes.
const TREES: u64 = 300;

/// A node: two children and the block that gives it its size (two pointers
/// and a value, as a real tree node).
struct Node {
    children: Option<Box<(Node, Node)>>,
    _cell: Block,
}

fn build(depth: u32, probe: &mut Probe) -> Node {
    let timer = probe.begin_op();
    let cell = Block::new(24, probe);
    probe.end_op(timer);
    let children =
        (depth > 0).then(|| Box::new((build(depth - 1, probe), build(depth - 1, probe))));
    Node {
        children,
        _cell: cell,
    }
}

fn check(node: &Node) -> u64 {
    1 + node
        .children
        .as_ref()
        .map_or(0, |c| check(&c.0) + check(&c.1))
}

fn release(node: Node, probe: &mut Probe) {
    if let Some(children) = node.children {
        let (left, right) = *children;
        release(left, probe);
        release(right, probe);
    }
    node._cell.free(probe);
}

pub fn run(params: &Params, probe: &mut Probe) {
    let long_lived = build(LONG_DEPTH, probe);
    let mut nodes = 0;
    for _ in 0..params.count(TREES) {
        let tree = build(SHORT_DEPTH, probe);
        nodes += check(&tree);
        release(tree, probe);
    }
    assert_eq!(nodes, params.count(TREES) * ((1 << (SHORT_DEPTH + 1)) - 1));
    std::hint::black_box(check(&long_lived));
    release(long_lived, probe);
}
