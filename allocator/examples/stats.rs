//! Uses strata as the global allocator for some everyday work, then prints
//! its statistics table.
//!
//! ```text
//! cargo run --release -p strata --example stats
//! ```

use std::collections::{BTreeMap, HashMap};

#[global_allocator]
static GLOBAL: strata::Strata = strata::Strata;

fn main() {
    let mut index: HashMap<String, Vec<u32>> = HashMap::new();
    for i in 0..200_000u32 {
        index
            .entry(format!("key-{}", i % 5_000))
            .or_default()
            .push(i);
    }
    let ordered: BTreeMap<&str, usize> = index.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    let workers: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                (0..50_000)
                    .map(|i| vec![t as u8; i % 300])
                    .filter(|v| v.len() > 100)
                    .count()
            })
        })
        .collect();
    let long: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    println!(
        "{} keys, {} ordered, {} long vectors from 4 threads",
        index.len(),
        ordered.len(),
        long
    );
    println!();
    print!("{}", strata::stats());
}
