//! The small-block churn of issue "strata allocator": a live window of 10,000
//! blocks; every step frees a random one and allocates a random size in
//! 8..=512 bytes in its place. The same pre-generated sequence drives every
//! allocator through its `GlobalAlloc` methods.
//!
//! ```text
//! cargo bench -p strata --bench small_churn
//! ```

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

const WINDOW: usize = 10_000;
const STEPS: usize = 100_000;

struct Script {
    victims: Vec<u32>,
    sizes: Vec<u32>,
}

fn script() -> Script {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    Script {
        victims: (0..STEPS)
            .map(|_| rng.gen_range(0..WINDOW as u32))
            .collect(),
        sizes: (0..STEPS + WINDOW)
            .map(|_| rng.gen_range(8..=512))
            .collect(),
    }
}

fn layout(size: u32) -> Layout {
    Layout::from_size_align(size as usize, 8).unwrap()
}

/// Runs the script once: fill the window, churn, empty the window.
fn churn<A: GlobalAlloc>(allocator: &A, script: &Script) {
    let mut window: Vec<(*mut u8, u32)> = Vec::with_capacity(WINDOW);
    for &size in &script.sizes[..WINDOW] {
        // SAFETY: non-zero sizes; every block is freed below with its layout.
        let p = unsafe { allocator.alloc(layout(size)) };
        // SAFETY: the block holds at least 8 bytes.
        unsafe { p.cast::<u64>().write(size as u64) };
        window.push((p, size));
    }
    for (step, &victim) in script.victims.iter().enumerate() {
        let slot = &mut window[victim as usize];
        let size = script.sizes[WINDOW + step];
        // SAFETY: slot holds a live block with that size.
        unsafe {
            allocator.dealloc(slot.0, layout(slot.1));
            let p = allocator.alloc(layout(size));
            p.cast::<u64>().write(size as u64);
            *slot = (black_box(p), size);
        }
    }
    for (p, size) in window {
        // SAFETY: live blocks.
        unsafe { allocator.dealloc(p, layout(size)) };
    }
}

fn bench(c: &mut Criterion) {
    let script = script();
    let mut group = c.benchmark_group("small-churn");
    group.throughput(Throughput::Elements(STEPS as u64));
    group.sample_size(30);
    group.bench_function(BenchmarkId::from_parameter("strata"), |b| {
        b.iter(|| churn(&strata::Strata, &script))
    });
    group.bench_function(BenchmarkId::from_parameter("system"), |b| {
        b.iter(|| churn(&System, &script))
    });
    group.bench_function(BenchmarkId::from_parameter("mimalloc"), |b| {
        b.iter(|| churn(&mimalloc::MiMalloc, &script))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
