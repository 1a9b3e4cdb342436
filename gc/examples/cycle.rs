//! The README's example: a two-node cycle that reference counting alone
//! cannot free, freed by `collect()`.

use std::cell::RefCell;

use strata_gc::{Gc, Trace};

#[derive(Trace)]
struct Node {
    #[trace(skip)]
    id: u64,
    next: RefCell<Option<Gc<Node>>>,
}

fn main() {
    let a = Gc::new(Node {
        id: 1,
        next: RefCell::new(None),
    });
    let b = Gc::new(Node {
        id: 2,
        next: RefCell::new(Some(a.clone())),
    });
    *a.next.borrow_mut() = Some(b.clone());
    assert_eq!(b.next.borrow().as_ref().unwrap().id, 1);
    drop((a, b));
    let freed = strata_gc::collect();
    assert_eq!(freed, 2);
    println!("collect() found {freed} unreachable objects and freed them");
}
