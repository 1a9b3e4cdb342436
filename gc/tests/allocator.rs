//! strata-gc's objects come from strata's pools through its per-class free
//! lists, whatever the global allocator is.
#![cfg(not(miri))]

use std::cell::RefCell;
use strata_gc::{Gc, Trace};

#[derive(Trace)]
struct Node {
    #[trace(skip)]
    id: u64,
    next: RefCell<Option<Gc<Node>>>,
}

fn objects_cache() -> strata::TypeCacheStats {
    let stats = strata::stats();
    *stats.type_caches[..stats.type_cache_count]
        .iter()
        .find(|c| c.name == "strata-gc objects")
        .expect("strata-gc registers its object cache")
}

#[test]
fn freed_objects_are_reused_from_the_per_class_free_lists() {
    // Warm up: the cache registers on first use.
    drop(Gc::new(Node {
        id: 0,
        next: RefCell::new(None),
    }));
    let before = objects_cache();
    for round in 0..100 {
        let a = Gc::new(Node {
            id: round,
            next: RefCell::new(None),
        });
        let b = Gc::new(Node {
            id: round + 1,
            next: RefCell::new(Some(a.clone())),
        });
        *a.next.borrow_mut() = Some(b.clone());
        assert_eq!(a.id + 1, b.id);
        drop((a, b));
        strata_gc::collect();
    }
    let after = objects_cache();
    assert!(
        after.hits - before.hits >= 190,
        "cycle members reuse freed blocks: {before:?} -> {after:?}"
    );
    let in_pools = strata::stats().bytes_in_use;
    assert!(in_pools > 0);
}
