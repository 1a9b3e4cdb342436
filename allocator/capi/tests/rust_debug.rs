//! Debug mode for Rust programs: with `strata::Strata` as the global
//! allocator and `STRATA_DEBUG=1`, every `GlobalAlloc` call goes through the
//! checks. Each case runs in a child process (this test binary again, one
//! test selected, the case named in `STRATA_RUST_CASE`).

use std::process::Command;

#[global_allocator]
static GLOBAL: allocator::Strata = allocator::Strata;

const CASE: &str = "STRATA_RUST_CASE";

/// The body the child runs; a no-op in the parent's own test run.
#[test]
fn child() {
    let Ok(case) = std::env::var(CASE) else {
        return;
    };
    match case.as_str() {
        "workload" => {
            let mut map = std::collections::BTreeMap::new();
            for i in 0..20_000u32 {
                map.insert(i.to_string(), vec![i; (i % 40) as usize]);
            }
            let total: usize = map.values().map(Vec::len).sum();
            let mut text = String::new();
            for key in map.keys().take(1000) {
                text.push_str(key);
            }
            text.shrink_to_fit();
            assert_eq!(total, 390_000);
            assert!(allocator::debug::enabled());
        }
        "overflow" => {
            let mut bytes: Vec<u8> = Vec::with_capacity(10);
            // black_box: a release build may otherwise drop the allocation
            // (or the stray write) altogether.
            let at = std::hint::black_box(bytes.as_mut_ptr());
            // SAFETY: none; this deliberately writes past the allocation.
            unsafe { at.add(10).write(0x41) };
            drop(std::hint::black_box(bytes));
        }
        "wrong-layout" => {
            let boxed = Box::new([7u64; 4]);
            let raw = Box::into_raw(boxed).cast::<u64>();
            // SAFETY: none; this frees 32 bytes as if they were 16.
            unsafe { drop(Box::from_raw(raw.cast::<[u64; 2]>())) };
        }
        other => panic!("unknown case {other}"),
    }
}

fn run_child(case: &str) -> std::process::Output {
    Command::new(std::env::current_exe().expect("test executable"))
        .args(["--exact", "child", "--test-threads", "1", "--nocapture"])
        .env(CASE, case)
        .env("STRATA_DEBUG", "1")
        .output()
        .expect("run the child test")
}

#[test]
fn rust_program_runs_cleanly_in_debug_mode() {
    let output = run_child("workload");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs a faulty case and checks it stopped with a report holding `parts`.
fn assert_child_stops_with(case: &str, parts: &[&str]) {
    let output = run_child(case);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{case} must stop the process");
    for part in parts {
        assert!(
            stderr.contains(part),
            "{case}: `{part}` missing in {stderr}"
        );
    }
}

#[test]
fn rust_overflow_is_reported() {
    assert_child_stops_with(
        "overflow",
        &[
            "strata: buffer overflow after 0x",
            "(block of 10 bytes)",
            "read 41 fd",
        ],
    );
}

#[test]
fn rust_dealloc_with_the_wrong_layout_is_reported() {
    assert_child_stops_with(
        "wrong-layout",
        &[
            "strata: wrong size in Rust dealloc of 0x",
            "(block of 32 bytes): the caller states 16 bytes",
        ],
    );
}
