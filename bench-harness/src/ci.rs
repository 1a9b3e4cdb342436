//! `ci`: small fixed workloads counted in instructions under callgrind,
//! compared with `results/baseline.json`. Only instructions inside the
//! global allocator are counted (see `spawn::ALLOCATOR_ENTRY_POINTS`); they
//! do not depend on the machine's load, so a small tolerance is safe on a
//! shared runner.

use crate::peers;
use crate::spawn::Mode;
use crate::suite::{Job, Plan, Subject};

/// The workloads and scales of the CI check: single-threaded ones (thread
/// interleaving would make counts vary), sized so that the whole check takes
/// a few minutes under callgrind's ~50x slowdown.
pub const CI_WORKLOADS: [&str; 7] = [
    "small-churn",
    "tree",
    "mixed-sizes",
    "realloc-grow",
    "fragmentation",
    "cpython-mix",
    "large-churn",
];
pub const CI_SCALE: f64 = 0.1;
/// Seed of every CI run: the same sequence of requests every time.
pub const CI_SEED: u64 = 42;
/// Allocators counted by CI: strata, and glibc to put its counts in context.
pub const CI_ALLOCATORS: [&str; 2] = ["strata", "system"];
/// The allocator whose counts fail the check when they regress.
pub const GATED_ALLOCATOR: &str = "strata";
pub const DEFAULT_TOLERANCE: &str = "2%";

pub fn plan() -> Plan {
    let jobs = CI_WORKLOADS
        .iter()
        .flat_map(|w| {
            CI_ALLOCATORS
                .iter()
                .filter_map(|a| peers::find_allocator(a).filter(|p| p.built))
                .map(move |allocator| Job {
                    workload: w.to_string(),
                    subject: Subject::Allocator(allocator),
                })
        })
        .collect();
    Plan {
        jobs,
        reps: 1,
        scale: CI_SCALE,
        threads: 1,
        seed: CI_SEED,
        walk_nodes: 0,
        mode: Mode::Callgrind,
    }
}
