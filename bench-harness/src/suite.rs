//! Running a plan of jobs: every (workload, peer) once per repetition,
//! repetitions interleaved across peers, each job in its own child process,
//! with a progress bar.

use crate::peers::AllocatorPeer;
use crate::record::Record;
use crate::runner::RunnerArgs;
use crate::spawn::{self, Mode};
use crate::workloads::Params;
use indicatif::{ProgressBar, ProgressStyle};

/// One (workload, peer) to measure.
#[derive(Clone)]
pub struct Job {
    pub workload: String,
    /// The child's global allocator; the measured peer for allocator jobs.
    pub allocator: &'static AllocatorPeer,
    /// The measured collector, for collector jobs.
    pub collector: Option<String>,
}

impl Job {
    pub fn label(&self) -> String {
        match &self.collector {
            Some(c) => format!("{} / {c}", self.workload),
            None => format!("{} / {}", self.workload, self.allocator.name),
        }
    }
}

pub struct Plan {
    pub jobs: Vec<Job>,
    pub reps: usize,
    pub scale: f64,
    pub threads: usize,
    pub seed: u64,
    pub walk_nodes: usize,
    pub mode: Mode,
}

/// Records of the runs that succeeded, and one line per run that failed.
pub struct Outcome {
    pub records: Vec<Record>,
    pub failures: Vec<String>,
}

pub fn execute(plan: &Plan, show_progress: bool) -> Outcome {
    let total = (plan.jobs.len() * plan.reps) as u64;
    let bar = if show_progress {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("constant template")
            .progress_chars("=> "),
    );
    let mut outcome = Outcome {
        records: Vec::new(),
        failures: Vec::new(),
    };
    for rep in 0..plan.reps {
        // Each repetition starts at another job, so that no peer always runs
        // first (on a cold cache) or last (after the machine warmed up).
        let start = if plan.jobs.is_empty() {
            0
        } else {
            rep * 7 % plan.jobs.len()
        };
        for i in 0..plan.jobs.len() {
            let job = &plan.jobs[(start + i) % plan.jobs.len()];
            bar.set_message(format!("rep {} {}", rep + 1, job.label()));
            let args = RunnerArgs {
                workload: job.workload.clone(),
                collector: job.collector.clone(),
                // Every peer sees the same random sequence in a repetition.
                params: Params {
                    scale: plan.scale,
                    threads: plan.threads,
                    seed: plan.seed + rep as u64,
                },
                walk_nodes: plan.walk_nodes,
            };
            match spawn::run_child(job.allocator, &args, plan.mode) {
                Ok(mut record) => {
                    record.rep = rep;
                    outcome.records.push(record);
                }
                Err(message) => {
                    // `suspend` prints above the bar, or plainly when hidden.
                    bar.suspend(|| eprintln!("failed: {message}"));
                    outcome.failures.push(message);
                }
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    // Records sorted by plan order, so that tables list peers in a stable order.
    let position = |r: &Record| {
        plan.jobs
            .iter()
            .position(|j| {
                j.workload == r.workload
                    && j.collector.as_deref().unwrap_or(j.allocator.name) == r.peer
            })
            .unwrap_or(usize::MAX)
    };
    outcome.records.sort_by_key(|r| (position(r), r.rep));
    outcome
}
