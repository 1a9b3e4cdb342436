//! A program whose global allocator is strata, doing ordinary heavy std work.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{mpsc, Arc, Mutex};

#[global_allocator]
static GLOBAL: strata::Strata = strata::Strata;

#[test]
fn collections_and_strings_work_and_keep_their_contents() {
    let mut map: HashMap<String, Vec<u64>> = HashMap::new();
    for i in 0..100_000u64 {
        map.entry(format!("k{}", i % 1_000)).or_default().push(i);
    }
    assert_eq!(map.len(), 1_000);
    for (key, values) in &map {
        let n: u64 = key[1..].parse().unwrap();
        assert_eq!(values.len(), 100);
        assert!(values.iter().all(|v| v % 1_000 == n));
    }
    let tree: BTreeMap<u64, String> = (0..50_000)
        .map(|i| (i * 7 % 50_021, "x".repeat((i % 300) as usize)))
        .collect();
    assert!(tree.values().all(|s| s.chars().all(|c| c == 'x')));
    let set: BTreeSet<String> = tree.values().cloned().collect();
    assert_eq!(set.len(), 300);
    let mut queue: VecDeque<Box<[u8]>> = VecDeque::new();
    for i in 0..20_000usize {
        queue.push_back(vec![(i % 251) as u8; i % 2_000].into_boxed_slice());
        if queue.len() > 500 {
            let old = queue.pop_front().unwrap();
            assert!(old.iter().all(|&b| b == old.first().copied().unwrap_or(0)));
        }
    }
    let mut text = String::new();
    for i in 0..100_000 {
        text.push_str(&i.to_string());
    }
    assert!(text.len() > 400_000);
    let huge = vec![7u8; 64 << 20];
    assert_eq!(huge[(64 << 20) - 1], 7);
}

#[test]
fn threads_share_and_hand_over_heap_data() {
    let shared = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel::<Vec<String>>();
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let tx = tx.clone();
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                for round in 0..200 {
                    let batch: Vec<String> = (0..50).map(|i| format!("{t}-{round}-{i}")).collect();
                    shared.lock().unwrap().push(batch.len());
                    tx.send(batch).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut received = 0;
    for batch in rx {
        assert!(batch.iter().all(|s| s.split('-').count() == 3));
        received += batch.len();
    }
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(received, 4 * 200 * 50);
    assert_eq!(shared.lock().unwrap().len(), 800);
}

#[test]
fn stats_see_the_blocks_a_program_holds() {
    let before = strata::stats();
    let held: Vec<Box<[u8; 200]>> = (0..10_000).map(|_| Box::new([1u8; 200])).collect();
    let during = strata::stats();
    let class = strata::stats()
        .classes
        .iter()
        .position(|c| c.block_size == 200)
        .unwrap();
    assert!(
        during.classes[class].blocks_in_use >= before.classes[class].blocks_in_use + 10_000 - 100
    );
    assert!(during.bytes_in_use >= 10_000 * 200);
    assert!(during.bytes_mapped >= during.bytes_in_use);
    let table = during.to_string();
    assert!(table.contains("# arenas allocated current"), "{table}");
    drop(held);
}
