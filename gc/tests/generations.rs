//! Generations, promotion, automatic collection, freeze, stats, callbacks,
//! debug flags and the introspection functions.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use strata_gc::*;

thread_local!(static DROPS: Cell<usize> = const { Cell::new(0) });

fn drops() -> usize {
    DROPS.with(Cell::get)
}

#[derive(Trace)]
struct Node {
    next: RefCell<Option<Gc<Node>>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        DROPS.with(|d| d.set(d.get() + 1));
    }
}

fn node() -> Gc<Node> {
    Gc::new(Node {
        next: RefCell::new(None),
    })
}

/// Two nodes pointing at each other; returns one of them.
fn pair() -> Gc<Node> {
    let a = node();
    let b = node();
    *a.next.borrow_mut() = Some(b.clone());
    *b.next.borrow_mut() = Some(a.clone());
    a
}

fn contains(objects: &[AnyGc], object: &Gc<Node>) -> bool {
    objects.iter().any(|any| any.is(object))
}

#[test]
fn survivors_are_promoted_one_generation_per_collection() {
    let a = node();
    assert!(contains(&get_objects(Some(0)), &a));
    collect_generation(0);
    assert!(contains(&get_objects(Some(1)), &a));
    assert!(!contains(&get_objects(Some(0)), &a));
    collect_generation(1);
    assert!(contains(&get_objects(Some(2)), &a));
    collect();
    assert!(contains(&get_objects(Some(2)), &a));
    assert_eq!(get_objects(None).len(), 1);
}

#[test]
fn young_collection_does_not_examine_older_generations() {
    let a = pair();
    collect_generation(0);
    drop(a);
    assert_eq!(
        collect_generation(0),
        0,
        "the pair now lives in generation 1"
    );
    assert_eq!(drops(), 0);
    assert_eq!(collect_generation(1), 2);
    assert_eq!(drops(), 2);
}

#[test]
fn counts_follow_allocations_and_collections() {
    assert_eq!(get_count(), (0, 0, 0));
    let kept: Vec<Gc<Node>> = (0..5).map(|_| node()).collect();
    let untracked = Gc::new(1u32);
    assert_eq!(get_count().0, 5, "untracked objects are not counted");
    drop(kept);
    assert_eq!(get_count().0, 0, "deallocations are uncounted");
    collect_generation(0);
    assert_eq!(get_count(), (0, 1, 0));
    collect_generation(1);
    assert_eq!(get_count(), (0, 0, 1));
    assert_eq!(*untracked, 1);
}

#[test]
fn automatic_collection_runs_at_the_threshold() {
    assert_eq!(get_threshold(), DEFAULT_THRESHOLDS);
    assert_eq!(DEFAULT_THRESHOLDS, (2000, 10, 10));
    set_threshold(10, 10, 10);
    assert_eq!(get_threshold(), (10, 10, 10));
    for _ in 0..5 {
        drop(pair()); // 10 tracked allocations: at the threshold, not past it
    }
    assert_eq!(get_stats()[0].collections, 0);
    assert_eq!(drops(), 0);
    drop(pair());
    assert_eq!(
        get_stats()[0].collections,
        1,
        "the 11th allocation collects"
    );
    assert_eq!(drops(), 10);
    assert_eq!(get_stats()[0].collected, 10);
    assert_eq!(collect(), 2);
}

#[test]
fn disabled_collector_collects_only_on_request() {
    set_threshold(10, 10, 10);
    disable();
    assert!(!is_enabled());
    for _ in 0..50 {
        drop(pair());
    }
    assert_eq!(drops(), 0);
    assert_eq!(collect(), 100);
    enable();
    assert!(is_enabled());
    for _ in 0..50 {
        drop(pair());
    }
    assert!(drops() >= 180, "automatic collections resumed");
    collect();
    assert_eq!(drops(), 200);
}

#[test]
fn full_collections_wait_for_enough_new_long_lived_objects() {
    let long_lived: Vec<Gc<Node>> = (0..400).map(|_| node()).collect();
    collect();
    let full_before = get_stats()[2].collections;
    set_threshold(2, 1, 1);
    // Few survivors: the oldest generation passes its threshold, but the
    // pending objects stay under 25% of the 400 long-lived ones.
    for _ in 0..200 {
        drop(pair());
    }
    assert_eq!(get_stats()[2].collections, full_before);
    assert!(get_stats()[1].collections > 10);
    // Many survivors: now a full collection happens on its own.
    let survivors: Vec<Gc<Node>> = (0..300).map(|_| node()).collect();
    assert!(get_stats()[2].collections > full_before);
    assert_eq!(long_lived.len() + survivors.len(), 700);
    drop((long_lived, survivors));
    collect();
    assert_eq!(drops(), 1100);
}

#[test]
fn freeze_hides_objects_from_collections() {
    drop(pair());
    freeze();
    assert_eq!(get_freeze_count(), 2);
    assert_eq!(collect(), 0);
    assert_eq!(drops(), 0);
    unfreeze();
    assert_eq!(get_freeze_count(), 0);
    assert_eq!(collect(), 2);
}

#[test]
fn stats_count_collections_and_collected_per_generation() {
    drop(pair());
    collect_generation(0);
    drop(pair());
    collect();
    let stats = get_stats();
    assert_eq!(
        stats[0],
        GenerationStats {
            collections: 1,
            collected: 2,
            uncollectable: 0
        }
    );
    assert_eq!(stats[1], GenerationStats::default());
    assert_eq!(
        stats[2],
        GenerationStats {
            collections: 1,
            collected: 2,
            uncollectable: 0
        }
    );
}

#[test]
fn callbacks_see_start_and_stop_of_each_collection() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    let id = add_callback(move |info| sink.borrow_mut().push(*info));
    drop(pair());
    collect_generation(1);
    {
        let seen = seen.borrow();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            (seen[0].phase, seen[0].generation, seen[0].collected),
            (Phase::Start, 1, 0)
        );
        assert_eq!(
            (seen[1].phase, seen[1].generation, seen[1].collected),
            (Phase::Stop, 1, 2)
        );
        assert_eq!(seen[1].uncollectable, 0);
    }
    assert!(remove_callback(id));
    assert!(!remove_callback(id));
    collect();
    assert_eq!(seen.borrow().len(), 2);
}

#[test]
fn saveall_keeps_garbage_alive_in_the_garbage_list() {
    set_debug(DEBUG_SAVEALL);
    assert_eq!(get_debug(), DEBUG_SAVEALL);
    drop(pair());
    assert_eq!(collect(), 2);
    assert_eq!(drops(), 0);
    let garbage = garbage();
    assert_eq!(garbage.len(), 2);
    let a = garbage[0].downcast::<Node>().unwrap();
    assert!(a.next.borrow().is_some());
    assert!(garbage[0].downcast::<Vec<Gc<Node>>>().is_none());
    assert!(garbage[0].type_name().ends_with("Node"));
    drop((a, garbage));
    set_debug(0);
    assert_eq!(take_garbage().len(), 2);
    assert_eq!(collect(), 2);
    assert_eq!(drops(), 2);
    assert!(strata_gc::garbage().is_empty());
}

#[test]
fn referents_and_referrers_follow_the_edges() {
    let target = node();
    let a = Gc::new(Node {
        next: RefCell::new(Some(target.clone())),
    });
    let c = Gc::new(Node {
        next: RefCell::new(Some(target.clone())),
    });
    let referents = get_referents(&a);
    assert_eq!(referents.len(), 1);
    assert!(referents[0].is(&target));
    assert!(get_referents(&target).is_empty());
    let referrers = get_referrers(&target);
    assert_eq!(referrers.len(), 2);
    assert!(contains(&referrers, &a) && contains(&referrers, &c));
}

#[derive(Trace)]
struct Link {
    #[trace(skip)]
    value: u32,
    next: Option<Gc<Link>>,
}

fn chain(length: u32) -> Gc<Link> {
    let mut head = Gc::new(Link {
        value: 0,
        next: None,
    });
    for value in 1..length {
        head = Gc::new(Link {
            value,
            next: Some(head),
        });
    }
    head
}

#[cfg(not(miri))]
const CHAIN: u32 = 1_000_000;
#[cfg(miri)]
const CHAIN: u32 = 1_000;

#[test]
fn dropping_a_long_chain_does_not_overflow_a_small_stack() {
    let thread = std::thread::Builder::new().stack_size(2 << 20);
    let handle = thread
        .spawn(|| {
            let head = chain(CHAIN);
            assert_eq!(head.value, CHAIN - 1);
            assert!(!is_tracked(&head), "an immutable chain needs no tracking");
            drop(head);
            // The same with tracked (mutable) links.
            let first = node();
            let mut last = first.clone();
            for _ in 1..CHAIN {
                let next = node();
                *last.next.borrow_mut() = Some(next.clone());
                last = next;
            }
            drop(last);
            assert_eq!(drops(), 0);
            drop(first);
            assert_eq!(drops(), CHAIN as usize);
            get_count().0
        })
        .unwrap();
    assert_eq!(handle.join().unwrap(), 0, "every link was freed");
}

#[test]
fn collecting_a_long_ring_does_not_recurse() {
    let thread = std::thread::Builder::new().stack_size(2 << 20);
    let handle = thread
        .spawn(|| {
            let length = CHAIN / 10;
            let first = node();
            let mut last = first.clone();
            for _ in 1..length {
                let next = node();
                *last.next.borrow_mut() = Some(next.clone());
                last = next;
            }
            *last.next.borrow_mut() = Some(first);
            drop(last);
            (collect(), length)
        })
        .unwrap();
    let (collected, length) = handle.join().unwrap();
    assert_eq!(collected, length as usize);
}

#[test]
fn collect_from_a_finalizer_or_callback_does_nothing() {
    let nested = Rc::new(Cell::new(usize::MAX));
    let sink = nested.clone();
    let id = add_callback(move |_| sink.set(collect()));
    drop(pair());
    assert_eq!(collect(), 2);
    assert_eq!(nested.get(), 0);
    remove_callback(id);
}
