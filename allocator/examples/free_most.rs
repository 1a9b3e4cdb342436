//! Memory given back after a mass free, per allocator (one process each):
//! allocate 512 MiB in blocks of random sizes 16..=2048 bytes, touch them,
//! free all but every 64th, and report the resident set at the peak, one
//! second later without any call, and (strata, system) after an explicit trim.
//!
//! ```text
//! cargo run --release -p strata --example free_most -- strata|system|mimalloc
//! ```

use rand::{rngs::StdRng, Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::time::Duration;

fn resident_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096.0 / (1 << 20) as f64
}

fn run<A: GlobalAlloc>(allocator: &A, trim: impl Fn()) {
    let mut rng = StdRng::seed_from_u64(64);
    let target = 512usize << 20;
    let mut blocks: Vec<(*mut u8, Layout)> = Vec::with_capacity(target / 1000);
    let base = resident_mib();
    let mut total = 0;
    while total < target {
        let layout = Layout::from_size_align(rng.gen_range(16..=2048), 8).unwrap();
        // SAFETY: non-zero size.
        let p = unsafe { allocator.alloc(layout) };
        assert!(!p.is_null());
        // SAFETY: the block holds layout.size() bytes.
        unsafe { p.write_bytes(0x5a, layout.size()) };
        total += layout.size();
        blocks.push((p, layout));
    }
    let peak = resident_mib() - base;
    for (i, &(p, layout)) in blocks.iter().enumerate() {
        if i % 64 != 0 {
            // SAFETY: live block with its layout.
            unsafe { allocator.dealloc(p, layout) };
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let later = resident_mib() - base;
    trim();
    let trimmed = resident_mib() - base;
    println!(
        "peak {peak:.0} MiB; 1 s after freeing 63/64: {later:.0} MiB ({:.0}% of peak); after trim: {trimmed:.0} MiB ({:.0}%)",
        100.0 * later / peak,
        100.0 * trimmed / peak
    );
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("strata") => run(&strata::Strata, strata::trim),
        Some("system") => run(&System, || {
            // SAFETY: malloc_trim has no preconditions.
            unsafe { libc::malloc_trim(0) };
        }),
        Some("mimalloc") => run(&mimalloc::MiMalloc, || {}),
        _ => {
            eprintln!("usage: free_most strata|system|mimalloc");
            std::process::exit(2);
        }
    }
}
