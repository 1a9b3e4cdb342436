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
/// Workloads whose counts are printed but cannot fail the check.
/// `large-churn` is a few ten thousand instructions, mostly system-call
/// wrappers around the huge blocks it maps and frees, and its count moves
/// by up to about 1.5% between runs (clean-clone CI runs measured -1.35% and
/// -1.19% against a baseline taken on the same machine; the cause is not
/// pinned down), too close to the 2% gate. The native suite measures it.
pub const UNGATED_WORKLOADS: [&str; 1] = ["large-churn"];

/// Whether a regression of `peer` on `workload` fails the check.
pub fn gates(workload: &str, peer: &str) -> bool {
    peer == GATED_ALLOCATOR && !UNGATED_WORKLOADS.contains(&workload)
}
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
        python_reps: 1,
        scale: CI_SCALE,
        threads: 1,
        seed: CI_SEED,
        walk_nodes: 0,
        mode: Mode::Callgrind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_strata_outside_the_ungated_workloads_gates() {
        assert!(gates("mixed-sizes", "strata"));
        assert!(!gates("mixed-sizes", "system"));
        assert!(!gates("large-churn", "strata"));
        for workload in UNGATED_WORKLOADS {
            assert!(CI_WORKLOADS.contains(&workload), "{workload}");
        }
    }
}
