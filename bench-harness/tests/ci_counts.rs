//! The counts `strata-bench ci` gates on must not depend on the machine:
//! two runs of the same job under callgrind count the same instructions.

mod common;
use common::have;
use strata_bench::ci::{CI_SCALE, CI_SEED};
use strata_bench::spawn::{callgrind_command, parse_instructions};

fn count(workload: &str) -> u64 {
    let output = callgrind_command(env!("CARGO_BIN_EXE_strata-bench-runner-strata").as_ref())
        .args(["--workload", workload, "--scale"])
        .arg(CI_SCALE.to_string())
        .args(["--threads", "1", "--seed"])
        .arg(CI_SEED.to_string())
        .args(["--walk-nodes", "0"])
        .output()
        .expect("valgrind runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{workload}: {stderr}");
    parse_instructions(&stderr).unwrap_or_else(|| panic!("{workload}: no count in {stderr}"))
}

#[test]
fn a_gated_count_is_the_same_on_every_run() {
    if !have("valgrind") {
        return;
    }
    // mixed-sizes frees whole pools often enough that, with the default
    // purge delay, how many get purged depends on how fast callgrind runs:
    // runs differed by 1.4% before the harness deferred purging. What is
    // left is the workload's own timing code, which allocates a little
    // more or less with the time it sees (a few instructions in 10^5).
    // The runs go side by side, so they also see different loads.
    let runs: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| count("mixed-sizes"))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (low, high) = (*runs.iter().min().unwrap(), *runs.iter().max().unwrap());
    assert!(
        (high - low) as f64 <= low as f64 * 1e-3,
        "counts differ by more than 0.1%: {runs:?}"
    );
}
