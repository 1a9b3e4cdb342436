//! Layer 3 and the allocator's controls: per-type caches, statistics that add
//! up across threads, and settings from the environment.

use std::alloc::{GlobalAlloc, Layout};
use std::process::Command;
use std::sync::{Arc, Barrier};
use strata::{Strata, TypeCache};

#[test]
fn a_type_cache_serves_freed_blocks_first_and_overflows_to_the_pools() {
    static CACHE: TypeCache<[u64; 5], 4> = TypeCache::new("five-words");
    let blocks: Vec<*mut [u64; 5]> = (0..10).map(|_| CACHE.alloc()).collect();
    assert!(blocks.iter().all(|p| !p.is_null() && *p as usize % 8 == 0));
    let before = CACHE.stats();
    for &p in &blocks {
        // SAFETY: blocks from this cache, unused.
        unsafe { CACHE.free(p) };
    }
    assert_eq!(CACHE.cached(), 4, "the cache keeps at most N blocks");
    let after_free = CACHE.stats();
    assert_eq!(after_free.overflows - before.overflows, 6);
    let again: Vec<*mut [u64; 5]> = (0..5).map(|_| CACHE.alloc()).collect();
    let after = CACHE.stats();
    assert_eq!(after.hits - after_free.hits, 4, "four hits from the cache");
    assert_eq!(
        after.misses - after_free.misses,
        1,
        "then a miss to the pools"
    );
    for p in &again[..4] {
        assert!(
            blocks[..4].contains(p),
            "the cache kept the first four blocks freed"
        );
    }
    for &p in &again {
        // SAFETY: as above.
        unsafe { CACHE.free(p) };
    }
    CACHE.trim();
    assert_eq!(CACHE.cached(), 0);
    let table = strata::stats().to_string();
    assert!(table.contains("type cache five-words"), "{table}");
}

#[test]
fn type_cache_counters_add_up_across_threads_and_exited_threads_return_their_blocks() {
    static CACHE: TypeCache<[u8; 40], 8> = TypeCache::new("forty");
    let start = CACHE.stats();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..100 {
                    let p = CACHE.alloc();
                    // SAFETY: a block from this cache.
                    unsafe { CACHE.free(p) };
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let end = CACHE.stats();
    assert_eq!(end.hits + end.misses - start.hits - start.misses, 400);
    assert_eq!(
        end.hits - start.hits,
        396,
        "each thread misses once, then hits"
    );
}

#[test]
fn block_counts_add_up_across_threads() {
    // 488 bytes is a class no other test in this binary uses.
    let layout = Layout::from_size_align(488, 8).unwrap();
    let class = |s: &strata::Stats| *s.classes.iter().find(|c| c.block_size == 488).unwrap();
    let before = class(&strata::stats());
    let held = Arc::new(Barrier::new(5));
    let counted = Arc::new(Barrier::new(5));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (held, counted) = (Arc::clone(&held), Arc::clone(&counted));
            std::thread::spawn(move || {
                // SAFETY: non-zero size; freed below.
                let blocks: Vec<usize> = (0..1000)
                    .map(|_| unsafe { Strata.alloc(layout) } as usize)
                    .collect();
                held.wait();
                counted.wait();
                blocks
            })
        })
        .collect();
    held.wait();
    let during = class(&strata::stats());
    counted.wait();
    assert_eq!(during.blocks_in_use, before.blocks_in_use + 4000);
    assert!(during.pools >= 4 * (1000 * 488usize).div_ceil(strata::PAGE_SIZE));
    // Free every block from this thread: remote frees, pending until their
    // (exited) owners' pools are collected.
    for w in workers {
        for p in w.join().unwrap() {
            // SAFETY: live blocks handed over from the worker.
            unsafe { Strata.dealloc(p as *mut u8, layout) };
        }
    }
    let pending = strata::stats().remote_pending;
    strata::trim();
    let stats = strata::stats();
    let after = class(&stats);
    assert_eq!(
        after.blocks_in_use, before.blocks_in_use,
        "every block was returned"
    );
    assert!(
        pending <= 4000,
        "at most this test's 4000 remote frees were pending: {pending}"
    );
    assert_eq!(
        stats.remote_pending, 0,
        "trim collects what was freed into exited threads' pools"
    );
}

/// Runs this test binary's `child_entry` with extra environment variables.
fn child(vars: &[(&str, &str)]) -> (String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("STRATA_CONTROLS_CHILD", "1")
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success());
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn child_entry() {
    if std::env::var_os("STRATA_CONTROLS_CHILD").is_some() {
        let layout = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: non-zero size; freed at once.
        unsafe { Strata.dealloc(Strata.alloc(layout), layout) };
        println!("settings {:?}", strata::settings::get());
        // Which of a 200 KiB and a 300 KiB block are large blocks (runs of
        // arena pages) under this arena size.
        let sizes = [200 << 10, 300 << 10].map(|n| Layout::from_size_align(n, 16).unwrap());
        // SAFETY: non-zero sizes; each block freed once with its layout.
        unsafe {
            let blocks = sizes.map(|l| Strata.alloc(l));
            let stats = strata::stats();
            println!(
                "large blocks {} huge blocks {}",
                stats.large_blocks, stats.huge_blocks
            );
            for (block, l) in blocks.into_iter().zip(sizes) {
                Strata.dealloc(block, l);
            }
        }
    }
}

#[test]
fn environment_settings_are_read_and_malformed_ones_warn_and_fall_back() {
    let (stdout, stderr) = child(&[
        ("STRATA_PURGE_DELAY_MS", "250"),
        ("STRATA_RETAIN", "3"),
        ("STRATA_ARENA_SIZE", "2M"),
    ]);
    assert!(
        stdout.contains("purge_delay_ms: 250") && stdout.contains("retain_arenas: 3"),
        "{stdout}"
    );
    assert!(stdout.contains("arena_size: 2097152"), "{stdout}");
    assert!(!stderr.contains("ignoring"), "{stderr}");

    let (stdout, stderr) = child(&[
        ("STRATA_PURGE_DELAY_MS", "soon"),
        ("STRATA_ARENA_SIZE", "3G"),
    ]);
    assert!(
        stdout.contains("purge_delay_ms: 10") && stdout.contains("arena_size: 4194304"),
        "{stdout}"
    );
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("strata: ignoring"))
        .collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(warnings[0].contains("STRATA_ARENA_SIZE") || warnings[1].contains("STRATA_ARENA_SIZE"));
    assert!(
        stderr.contains("STRATA_PURGE_DELAY_MS=\"soon\""),
        "{stderr}"
    );
}

#[test]
fn show_stats_prints_the_table_at_exit() {
    let (_, stderr) = child(&[("STRATA_SHOW_STATS", "1")]);
    assert!(
        stderr.contains("Small and medium block allocator (strata)"),
        "{stderr}"
    );
    assert!(stderr.contains("# arenas allocated current"), "{stderr}");
}

#[test]
fn the_arena_size_can_be_set_from_code_only_before_the_first_arena() {
    assert!(matches!(
        strata::settings::set_arena_size(3 << 30),
        Err(strata::settings::ArenaSizeError::OutOfRange(_))
    ));
    let layout = Layout::from_size_align(8, 8).unwrap();
    // SAFETY: non-zero size; freed at once.
    unsafe { Strata.dealloc(Strata.alloc(layout), layout) };
    assert_eq!(
        strata::settings::set_arena_size(1 << 20),
        Err(strata::settings::ArenaSizeError::AlreadyInUse)
    );
}

#[test]
fn the_large_block_limit_follows_the_arena_size() {
    // 4 MiB arenas: both are large blocks (the limit is 1 MiB).
    let (stdout, _) = child(&[]);
    assert!(stdout.contains("large blocks 2 huge blocks 0"), "{stdout}");
    // 1 MiB arenas: the limit is a quarter of the pool pages (240 KiB), so
    // the 300 KiB block is mapped on its own.
    let (stdout, _) = child(&[("STRATA_ARENA_SIZE", "1M")]);
    assert!(stdout.contains("large blocks 1 huge blocks 1"), "{stdout}");
}
