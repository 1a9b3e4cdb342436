//! Weak references, finalizers (PEP 442), resurrection, and what a `Drop`
//! of a collected object sees.

use std::cell::{Cell, RefCell};

use strata_gc::{collect, is_finalized, Finalize, Gc, Trace, Weak};

thread_local! {
    static FINALIZED: Cell<usize> = const { Cell::new(0) };
    static DROPS: Cell<usize> = const { Cell::new(0) };
    static SAVED: RefCell<Option<Gc<Phoenix>>> = const { RefCell::new(None) };
}

#[derive(Trace)]
struct Node {
    next: RefCell<Option<Gc<Node>>>,
    #[trace(skip)]
    weak_self: RefCell<Option<Weak<Node>>>,
}

fn node() -> Gc<Node> {
    Gc::new(Node {
        next: RefCell::new(None),
        weak_self: RefCell::new(None),
    })
}

#[test]
fn weak_upgrades_while_alive_and_not_after_drop() {
    let a = node();
    let weak = Gc::downgrade(&a);
    assert_eq!(Gc::weak_count(&a), 1);
    assert!(Gc::ptr_eq(&weak.upgrade().unwrap(), &a));
    drop(a);
    assert!(weak.upgrade().is_none());
    assert_eq!(weak.strong_count(), 0);
}

#[test]
fn weak_references_to_collected_cycles_are_cleared() {
    let a = node();
    let b = node();
    *a.next.borrow_mut() = Some(b.clone());
    *b.next.borrow_mut() = Some(a.clone());
    let weak_a = Gc::downgrade(&a);
    *a.weak_self.borrow_mut() = Some(Gc::downgrade(&a));
    drop((a, b));
    assert!(weak_a.upgrade().is_some(), "still alive until collected");
    assert_eq!(collect(), 2);
    assert!(weak_a.upgrade().is_none());
    drop(weak_a); // frees the memory the weak handle kept
}

#[derive(Trace)]
#[trace(finalize)]
struct Finalized {
    next: RefCell<Option<Gc<Finalized>>>,
    #[trace(skip)]
    seen_next_alive: Cell<bool>,
}

impl Finalize for Finalized {
    fn finalize(&self) {
        FINALIZED.with(|count| count.set(count.get() + 1));
        // The graph is intact while finalizers run.
        if let Some(next) = &*self.next.borrow() {
            self.seen_next_alive.set(next.next.borrow().is_some());
        }
    }
}

#[test]
fn finalizer_runs_once_on_count_zero() {
    let object = Gc::new(Finalized {
        next: RefCell::new(None),
        seen_next_alive: Cell::new(false),
    });
    assert!(!is_finalized(&object));
    drop(object);
    assert_eq!(FINALIZED.with(Cell::get), 1);
}

#[test]
fn finalizers_of_a_cycle_run_once_with_the_graph_intact() {
    let a = Gc::new(Finalized {
        next: RefCell::new(None),
        seen_next_alive: Cell::new(false),
    });
    let b = Gc::new(Finalized {
        next: RefCell::new(Some(a.clone())),
        seen_next_alive: Cell::new(false),
    });
    *a.next.borrow_mut() = Some(b.clone());
    let observer = Gc::downgrade(&a);
    drop((a, b));
    assert_eq!(collect(), 2);
    assert_eq!(FINALIZED.with(Cell::get), 2);
    assert!(observer.upgrade().is_none());
    assert_eq!(collect(), 0);
    assert_eq!(FINALIZED.with(Cell::get), 2);
}

/// Stores a handle to its successor in a global when finalized.
#[derive(Trace)]
#[trace(finalize)]
struct Phoenix {
    next: RefCell<Option<Gc<Phoenix>>>,
    #[trace(skip)]
    name: &'static str,
}

impl Finalize for Phoenix {
    fn finalize(&self) {
        FINALIZED.with(|count| count.set(count.get() + 1));
        if self.name == "a" {
            let next = self.next.borrow().clone();
            SAVED.with(|saved| *saved.borrow_mut() = next);
        }
    }
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        DROPS.with(|count| count.set(count.get() + 1));
    }
}

#[test]
fn resurrected_objects_survive_and_are_not_finalized_again() {
    let a = Gc::new(Phoenix {
        next: RefCell::new(None),
        name: "a",
    });
    let b = Gc::new(Phoenix {
        next: RefCell::new(Some(a.clone())),
        name: "b",
    });
    *a.next.borrow_mut() = Some(b.clone());
    let weak_b = Gc::downgrade(&b);
    drop((a, b));
    // a's finalizer stores b, which reaches a: both survive.
    assert_eq!(collect(), 0);
    assert_eq!(FINALIZED.with(Cell::get), 2);
    assert_eq!(DROPS.with(Cell::get), 0);
    assert!(
        weak_b.upgrade().is_none(),
        "weak references were cleared before finalizers"
    );
    let b = SAVED.with(|saved| saved.borrow_mut().take()).unwrap();
    assert_eq!(b.name, "b");
    assert!(is_finalized(&b));
    let a = b.next.borrow().clone().unwrap();
    assert_eq!(a.name, "a");
    assert!(strata_gc::is_tracked(&a));
    drop((a, b));
    // Second time round: no finalizer, so nothing resurrects them.
    assert_eq!(collect(), 2);
    assert_eq!(FINALIZED.with(Cell::get), 2);
    assert_eq!(DROPS.with(Cell::get), 2);
}

/// Reads its neighbour in `Drop`, the case the crate docs define.
#[derive(Trace)]
struct Nosy {
    next: RefCell<Option<Gc<Nosy>>>,
    #[trace(skip)]
    saw: Cell<Option<bool>>,
}

thread_local!(static SEEN: RefCell<Vec<bool>> = const { RefCell::new(Vec::new()) });

impl Drop for Nosy {
    fn drop(&mut self) {
        if let Some(next) = &*self.next.borrow() {
            let alive = Gc::try_get(next).is_some();
            SEEN.with(|seen| seen.borrow_mut().push(alive));
            assert!(Gc::strong_count(next) >= 1);
        }
    }
}

#[test]
fn drop_of_collected_object_sees_its_batch_as_collected() {
    let a = Gc::new(Nosy {
        next: RefCell::new(None),
        saw: Cell::new(None),
    });
    let b = Gc::new(Nosy {
        next: RefCell::new(Some(a.clone())),
        saw: Cell::new(None),
    });
    *a.next.borrow_mut() = Some(b.clone());
    assert!(a.saw.get().is_none());
    drop((a, b));
    assert_eq!(collect(), 2);
    assert_eq!(SEEN.with(|seen| seen.borrow().clone()), vec![false, false]);
}

#[derive(Trace)]
struct Deref {
    next: RefCell<Option<Gc<Deref>>>,
}

impl Drop for Deref {
    fn drop(&mut self) {
        if let Some(next) = &*self.next.borrow() {
            let _ = next.next.borrow().is_some(); // panics: next was collected
        }
    }
}

#[test]
fn deref_of_collected_object_in_drop_panics_after_the_collection() {
    let a = Gc::new(Deref {
        next: RefCell::new(None),
    });
    *a.next.borrow_mut() = Some(a.clone());
    let weak = Gc::downgrade(&a);
    drop(a);
    let result = std::panic::catch_unwind(collect);
    assert!(
        result.is_err(),
        "the Drop's deref must panic, not read a dropped value"
    );
    assert!(weak.upgrade().is_none());
    assert_eq!(
        collect(),
        0,
        "the collector is usable again and the object gone"
    );
}

#[test]
fn weak_handle_inside_its_own_value_is_safe() {
    let a = node();
    *a.weak_self.borrow_mut() = Some(Gc::downgrade(&a));
    drop(a); // the value's drop drops the last weak handle
    let b = node();
    *b.weak_self.borrow_mut() = Some(Gc::downgrade(&b));
    *b.next.borrow_mut() = Some(b.clone());
    drop(b);
    assert_eq!(collect(), 1);
}

#[test]
fn try_unwrap_returns_the_value_of_a_unique_handle() {
    let a = node();
    let b = a.clone();
    let a = Gc::try_unwrap(a).err().unwrap();
    drop(b);
    let weak = Gc::downgrade(&a);
    let value = Gc::try_unwrap(a).ok().unwrap();
    assert!(value.next.borrow().is_none());
    assert!(weak.upgrade().is_none());
}

#[test]
fn into_raw_and_from_raw_keep_the_count() {
    let a = node();
    let raw = Gc::into_raw(a.clone());
    assert_eq!(Gc::strong_count(&a), 2);
    // SAFETY: raw comes from into_raw and is taken back once.
    let back = unsafe { Gc::from_raw(raw) };
    assert!(Gc::ptr_eq(&a, &back));
    drop(back);
    assert_eq!(Gc::strong_count(&a), 1);
    let untracked = Gc::new(5u64);
    let raw = Gc::into_raw(untracked);
    // SAFETY: as above.
    assert_eq!(*unsafe { Gc::from_raw(raw) }, 5);
}

#[test]
fn weak_and_try_unwrap_work_on_untracked_objects() {
    #[derive(Trace)]
    struct Leaf {
        next: Option<Gc<Leaf>>,
    }
    let a = Gc::new(Leaf { next: None });
    let b = Gc::new(Leaf {
        next: Some(a.clone()),
    });
    assert!(!strata_gc::is_tracked(&b));
    let weak = Gc::downgrade(&a);
    drop(a);
    assert!(weak.upgrade().is_some(), "b still holds a");
    let value = Gc::try_unwrap(b).ok().unwrap();
    assert!(weak.upgrade().is_some());
    drop(value);
    assert!(weak.upgrade().is_none());
    assert!(strata_gc::get_referents(&Gc::new(Leaf { next: None })).is_empty());
}

#[derive(Trace)]
#[trace(finalize)]
struct Panicky {
    next: RefCell<Option<Gc<Panicky>>>,
}

impl Finalize for Panicky {
    fn finalize(&self) {
        panic!("finalizer fails");
    }
}

#[test]
fn a_panicking_finalizer_surfaces_after_the_collection_completes() {
    let a = Gc::new(Panicky {
        next: RefCell::new(None),
    });
    *a.next.borrow_mut() = Some(a.clone());
    let weak = Gc::downgrade(&a);
    drop(a);
    let result = std::panic::catch_unwind(collect);
    assert!(result.is_err(), "the finalizer's panic is re-raised");
    assert!(weak.upgrade().is_none(), "the object was still collected");
    assert_eq!(strata_gc::get_stats()[2].collected, 1);
    assert_eq!(collect(), 0);
}

#[test]
fn debug_collectable_and_stats_flags_do_not_change_the_outcome() {
    strata_gc::set_debug(strata_gc::DEBUG_STATS | strata_gc::DEBUG_COLLECTABLE);
    let a = node();
    *a.next.borrow_mut() = Some(a.clone());
    drop(a);
    assert_eq!(collect(), 1);
    assert!(
        strata_gc::garbage().is_empty(),
        "only DEBUG_SAVEALL keeps garbage"
    );
    strata_gc::set_debug(0);
}
