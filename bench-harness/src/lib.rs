//! # strata-bench
//!
//! Measures allocators and collectors side by side on the four figures
//! that judge memory management: throughput, pauses, heap efficiency and
//! locality. Every (workload, peer) runs in its own child process — a
//! runner binary whose `#[global_allocator]` is the peer — so that its peak
//! memory is its own; repetitions are interleaved across peers; results are
//! JSON, a Markdown report and SVG plots.
//!
//! ```text
//!  strata-bench (parent)                      runner binaries (children)
//!  cli -> suite -> spawn  ---- args ---->     runner: workload + metrics
//!          |               <--- JSON ----     #[global_allocator] = peer
//!  summary -> report / plot / compare / ci
//! ```
//!
//! Workloads are plain functions; a single run can also happen in-process:
//!
//! ```
//! use strata_bench::runner::{run, RunnerArgs};
//! use strata_bench::workloads::Params;
//!
//! let args = RunnerArgs {
//!     workload: "small-churn".into(),
//!     collector: None,
//!     params: Params { scale: 0.001, threads: 1, seed: 1 },
//!     walk_nodes: 0,
//! };
//! let record = run("system", &args).unwrap();
//! assert!(record.throughput.ops > 0);
//! assert!(record.heap.peak_live_bytes.is_some_and(|b| b > 0));
//! ```

pub mod bump;
pub mod ci;
pub mod cli;
pub mod collectors;
pub mod compare;
pub mod cpython;
pub mod gc_workloads;
pub mod metrics;
pub mod peers;
pub mod plot;
pub mod record;
pub mod report;
pub mod runner;
pub mod spawn;
pub mod suite;
pub mod summary;
pub mod workloads;
