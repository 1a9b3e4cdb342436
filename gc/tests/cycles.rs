//! Cycles of every shape are freed by `collect()`; what is reachable is not.

use std::cell::{Cell, RefCell};

use strata_gc::{collect, Gc, Trace};

thread_local!(static DROPS: Cell<usize> = const { Cell::new(0) });

fn drops() -> usize {
    DROPS.with(Cell::get)
}

/// A node with any number of outgoing edges that counts its drops.
#[derive(Trace)]
struct Node {
    #[trace(skip)]
    id: usize,
    edges: RefCell<Vec<Gc<Node>>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        DROPS.with(|d| d.set(d.get() + 1));
    }
}

fn node(id: usize) -> Gc<Node> {
    Gc::new(Node {
        id,
        edges: RefCell::new(Vec::new()),
    })
}

fn link(from: &Gc<Node>, to: &Gc<Node>) {
    from.edges.borrow_mut().push(to.clone());
}

#[test]
fn self_loop_is_freed() {
    let a = node(0);
    link(&a, &a);
    drop(a);
    assert_eq!(drops(), 0, "a cycle is not freed by counting");
    assert_eq!(collect(), 1);
    assert_eq!(drops(), 1);
}

#[test]
fn pair_is_freed() {
    let a = node(0);
    let b = node(1);
    link(&a, &b);
    link(&b, &a);
    drop((a, b));
    assert_eq!(collect(), 2);
    assert_eq!(drops(), 2);
    assert_eq!(collect(), 0, "nothing left to find");
}

#[test]
fn ring_is_freed_and_a_held_ring_is_not() {
    let ring: Vec<Gc<Node>> = (0..100).map(node).collect();
    for i in 0..ring.len() {
        link(&ring[i], &ring[(i + 1) % ring.len()]);
    }
    let held = ring[37].clone();
    drop(ring);
    assert_eq!(collect(), 0, "one member is held from outside");
    assert_eq!(drops(), 0);
    assert_eq!(held.id, 37);
    assert_eq!(held.edges.borrow()[0].id, 38);
    drop(held);
    assert_eq!(collect(), 100);
    assert_eq!(drops(), 100);
}

#[test]
fn tree_with_parent_links_is_freed() {
    let root = node(0);
    let mut level = vec![root.clone()];
    let mut next_id = 1;
    for _ in 0..5 {
        let mut next = Vec::new();
        for parent in &level {
            for _ in 0..3 {
                let child = node(next_id);
                next_id += 1;
                link(parent, &child);
                link(&child, parent);
                next.push(child);
            }
        }
        level = next;
    }
    drop(level);
    assert_eq!(collect(), 0);
    let leaf_parent = root.edges.borrow()[1].edges.borrow()[2].clone();
    drop(root);
    assert_eq!(
        collect(),
        0,
        "a subtree held keeps its ancestors through parent links"
    );
    drop(leaf_parent);
    assert_eq!(collect(), next_id);
    assert_eq!(drops(), next_id);
}

#[test]
fn doubly_linked_list_is_freed() {
    let nodes: Vec<Gc<Node>> = (0..1000).map(node).collect();
    for pair in nodes.windows(2) {
        link(&pair[0], &pair[1]);
        link(&pair[1], &pair[0]);
    }
    drop(nodes);
    assert_eq!(collect(), 1000);
    assert_eq!(drops(), 1000);
}

#[test]
fn reachable_objects_are_untouched() {
    let root = node(0);
    let a = node(1);
    let b = node(2);
    link(&root, &a);
    link(&a, &b);
    link(&b, &a);
    let strong_before = Gc::strong_count(&a);
    drop((a, b));
    assert_eq!(collect(), 0);
    assert_eq!(drops(), 0);
    let a = root.edges.borrow()[0].clone();
    assert_eq!(a.id, 1);
    assert_eq!(Gc::strong_count(&a), strong_before);
    assert_eq!(a.edges.borrow()[0].edges.borrow()[0].id, 1);
    drop((root, a));
    assert_eq!(collect(), 2);
}

#[test]
fn acyclic_objects_are_freed_by_counting_alone() {
    let a = node(0);
    let b = node(1);
    link(&a, &b);
    drop(b);
    assert_eq!(drops(), 0);
    drop(a);
    assert_eq!(drops(), 2);
    assert_eq!(collect(), 0);
}

#[test]
fn garbage_hanging_off_a_cycle_is_freed_with_it() {
    let a = node(0);
    let b = node(1);
    let tail = node(2);
    link(&a, &b);
    link(&b, &a);
    link(&b, &tail);
    drop((a, b, tail));
    assert_eq!(collect(), 3);
    assert_eq!(drops(), 3);
}

#[test]
fn generic_and_enum_types_derive_trace() {
    #[derive(Trace)]
    enum Tree<T: Trace + 'static> {
        Leaf(#[trace(skip)] T),
        Branch {
            children: Vec<Tree<T>>,
            back: RefCell<Option<Gc<Wrapper<T>>>>,
        },
    }
    #[derive(Trace)]
    struct Wrapper<T: Trace + 'static>(Tree<T>);

    const { assert!(<Tree<u8> as Trace>::MAY_CONTAIN_GC) };
    let w = Gc::new(Wrapper(Tree::Branch {
        children: vec![Tree::Leaf(1u8)],
        back: RefCell::new(None),
    }));
    if let Tree::Branch { back, .. } = &w.0 {
        *back.borrow_mut() = Some(w.clone());
    }
    drop(w);
    assert_eq!(collect(), 1);
}

#[test]
fn types_without_gc_are_not_tracked() {
    #[derive(Trace)]
    struct Plain {
        name: String,
        values: Vec<u64>,
        #[trace(skip)]
        skipped: RefCell<Option<Gc<Node>>>,
    }
    const { assert!(!<Plain as Trace>::MAY_CONTAIN_GC) };
    let plain = Gc::new(Plain {
        name: "x".into(),
        values: vec![1],
        skipped: RefCell::new(None),
    });
    assert!(!strata_gc::is_tracked(&plain));
    assert!(strata_gc::is_tracked(&node(0)));
    assert_eq!(plain.name, "x");
    assert_eq!(plain.values[0], 1);
    assert!(plain.skipped.borrow().is_none());
}

#[test]
fn over_aligned_objects_keep_their_alignment() {
    #[derive(Trace)]
    #[repr(align(64))]
    struct Aligned {
        next: RefCell<Option<Gc<Aligned>>>,
    }
    #[derive(Trace)]
    #[repr(align(16))]
    struct Aligned16 {
        next: RefCell<Option<Gc<Aligned16>>>,
    }
    let a = Gc::new(Aligned {
        next: RefCell::new(None),
    });
    let b = Gc::new(Aligned16 {
        next: RefCell::new(None),
    });
    assert_eq!(&*a as *const Aligned as usize % 64, 0);
    assert_eq!(&*b as *const Aligned16 as usize % 16, 0);
    *a.next.borrow_mut() = Some(a.clone());
    *b.next.borrow_mut() = Some(b.clone());
    drop((a, b));
    assert_eq!(collect(), 2);
}

#[test]
fn immutable_objects_are_tracked_only_if_they_reach_tracked_ones() {
    #[derive(Trace)]
    struct Leaf {
        next: Option<Gc<Leaf>>,
    }
    const { assert!(<Leaf as Trace>::REFERENCES_FIXED) };
    const { assert!(!<Node as Trace>::REFERENCES_FIXED) };
    let a = Gc::new(Leaf { next: None });
    let b = Gc::new(Leaf {
        next: Some(a.clone()),
    });
    assert!(!strata_gc::is_tracked(&a) && !strata_gc::is_tracked(&b));
    assert_eq!(strata_gc::get_count().0, 0);
    assert!(b.next.as_ref().is_some_and(|next| Gc::ptr_eq(next, &a)));

    #[derive(Trace)]
    struct Mutable {
        link: RefCell<Option<Gc<Frozen>>>,
    }
    #[derive(Trace)]
    struct Frozen {
        back: Gc<Mutable>,
    }
    let m = Gc::new(Mutable {
        link: RefCell::new(None),
    });
    let f = Gc::new(Frozen { back: m.clone() });
    assert!(strata_gc::is_tracked(&f), "it reaches a tracked object");
    *m.link.borrow_mut() = Some(f.clone());
    assert!(Gc::ptr_eq(&f.back, &m));
    drop((m, f));
    assert_eq!(
        collect(),
        2,
        "the cycle through the immutable object is found"
    );
}
