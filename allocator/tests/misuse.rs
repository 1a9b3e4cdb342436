//! Debug builds stop a double free or a foreign pointer with a message
//! naming the address and the fault. Each case runs in a child process.

use std::alloc::{GlobalAlloc, Layout};
use std::process::Command;
use strata::Strata;

const CHILD_VAR: &str = "STRATA_MISUSE_CASE";

/// In the child: commit the misuse named by the environment.
fn commit_misuse(case: &str) {
    let layout = Layout::from_size_align(48, 8).unwrap();
    // SAFETY: deliberately not: this process is expected to abort.
    unsafe {
        match case {
            "double-free" => {
                let keep = Strata.alloc(layout);
                let p = Strata.alloc(layout);
                println!("address {p:p}");
                Strata.dealloc(p, layout);
                Strata.dealloc(p, layout);
                Strata.dealloc(keep, layout);
            }
            "double-free-small" => {
                let small = Layout::from_size_align(8, 8).unwrap();
                let keep = Strata.alloc(small);
                let p = Strata.alloc(small);
                println!("address {p:p}");
                Strata.dealloc(p, small);
                Strata.dealloc(p, small);
                Strata.dealloc(keep, small);
            }
            "foreign" => {
                let mut local = [0u8; 64];
                let p = local.as_mut_ptr();
                println!("address {p:p}");
                Strata.dealloc(p, layout);
            }
            "interior" => {
                let p = Strata.alloc(layout).add(8);
                println!("address {p:p}");
                Strata.dealloc(p, layout);
            }
            "interior-large" => {
                let large = Layout::from_size_align(256 * 1024, 16).unwrap();
                let p = Strata.alloc(large).add(4096);
                println!("address {p:p}");
                Strata.dealloc(p, large);
            }
            other => panic!("unknown case {other}"),
        }
    }
}

fn run_child(case: &str) -> (bool, String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, case)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn child_entry() {
    if let Ok(case) = std::env::var(CHILD_VAR) {
        commit_misuse(&case);
    }
}

fn expect_abort(case: &str, fault: &str) {
    if !cfg!(debug_assertions) {
        eprintln!("misuse checks are compiled only into debug builds; skipping {case}");
        return;
    }
    let (ok, stdout, stderr) = run_child(case);
    assert!(!ok, "{case}: the process must stop");
    let address = stdout
        .lines()
        .find_map(|l| l.split("address ").nth(1))
        .expect("child printed the address");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("strata: "))
        .unwrap_or_else(|| panic!("{case}: no strata message in {stderr}"));
    assert!(line.contains(fault), "{case}: {line}");
    assert!(
        line.contains(address.trim()),
        "{case}: the message names {address}: {line}"
    );
}

#[test]
fn double_free_stops_the_process() {
    expect_abort("double-free", "double free");
}

#[test]
fn double_free_of_an_eight_byte_block_stops_the_process() {
    expect_abort("double-free-small", "double free");
}

#[test]
fn freeing_a_stack_pointer_stops_the_process() {
    expect_abort("foreign", "never handed out");
}

#[test]
fn freeing_an_interior_pointer_stops_the_process() {
    expect_abort("interior", "never handed out");
}

#[test]
fn freeing_an_interior_pointer_of_a_large_block_stops_the_process() {
    expect_abort("interior-large", "never handed out");
}
