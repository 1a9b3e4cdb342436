//! Running a plan of jobs: every (workload, peer) once per repetition,
//! repetitions interleaved across peers, each job in its own child process,
//! with a progress bar.

use crate::cpython;
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
    pub subject: Subject,
}

/// What a job measures, and so which child process runs it.
#[derive(Clone)]
pub enum Subject {
    /// An allocator workload, in the runner whose global allocator this is.
    Allocator(&'static AllocatorPeer),
    /// A collector workload, in the runner of the allocator `host`.
    Collector {
        collector: String,
        host: &'static AllocatorPeer,
    },
    /// CPython, on one of its allocators.
    Python(cpython::Prepared),
}

impl Job {
    /// The peer measured: the allocator or the collector.
    pub fn peer(&self) -> &str {
        match &self.subject {
            Subject::Allocator(allocator) => allocator.name,
            Subject::Collector { collector, .. } => collector,
            Subject::Python(prepared) => prepared.peer.name,
        }
    }

    pub fn label(&self) -> String {
        format!("{} / {}", self.workload, self.peer())
    }

    /// Measures the job once, in a child process.
    fn run(&self, params: Params, walk_nodes: usize, mode: Mode) -> Result<Record, String> {
        let args = |collector: Option<&String>| RunnerArgs {
            workload: self.workload.clone(),
            collector: collector.cloned(),
            params,
            walk_nodes,
        };
        match &self.subject {
            Subject::Allocator(allocator) => spawn::run_child(allocator, &args(None), mode),
            Subject::Collector { collector, host } => {
                spawn::run_child(host, &args(Some(collector)), mode)
            }
            Subject::Python(prepared) if mode == Mode::Native => cpython::run(prepared, &params),
            Subject::Python(_) => Err(format!("{} runs natively only", self.label())),
        }
    }
}

pub struct Plan {
    pub jobs: Vec<Job>,
    pub reps: usize,
    /// Repetitions of the `cpython` jobs, whose runs spread more than the
    /// others' on a shared machine and which the default suite repeats
    /// more (see [`SUITE_PYTHON_REPS_FACTOR`]).
    pub python_reps: usize,
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

/// How many times the suite's repetitions the default suite runs each
/// `cpython` job: 9 at the suite's default 3, enough for the paired speed
/// ratio's 95% interval (six or more), for about 15 s more.
pub const SUITE_PYTHON_REPS_FACTOR: usize = 3;

impl Plan {
    /// Repetitions of `job`.
    pub fn reps_of(&self, job: &Job) -> usize {
        match job.subject {
            Subject::Python(_) => self.python_reps,
            _ => self.reps,
        }
    }
}

pub fn execute(plan: &Plan, show_progress: bool) -> Outcome {
    let total = plan.jobs.iter().map(|j| plan.reps_of(j)).sum::<usize>() as u64;
    let rounds = plan.jobs.iter().map(|j| plan.reps_of(j)).max().unwrap_or(0);
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
    for rep in 0..rounds {
        // Each repetition starts at another job, so that no peer always runs
        // first (on a cold cache) or last (after the machine warmed up).
        let start = if plan.jobs.is_empty() {
            0
        } else {
            rep * 7 % plan.jobs.len()
        };
        for i in 0..plan.jobs.len() {
            let job = &plan.jobs[(start + i) % plan.jobs.len()];
            if rep >= plan.reps_of(job) {
                continue;
            }
            bar.set_message(format!("rep {} {}", rep + 1, job.label()));
            // Every peer sees the same random sequence in a repetition.
            let params = Params {
                scale: plan.scale,
                threads: plan.threads,
                seed: plan.seed + rep as u64,
            };
            match job.run(params, plan.walk_nodes, plan.mode) {
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
    for message in differing_checksums(&outcome.records) {
        eprintln!("failed: {message}");
        outcome.failures.push(message);
    }
    // Records sorted by plan order, so that tables list peers in a stable order.
    let position = |r: &Record| {
        plan.jobs
            .iter()
            .position(|j| j.workload == r.workload && j.peer() == r.peer)
            .unwrap_or(usize::MAX)
    };
    outcome.records.sort_by_key(|r| (position(r), r.rep));
    outcome
}

/// One line per workload whose runs printed different checksums: some peer
/// computed a wrong result, which fails the run however fast it was.
pub fn differing_checksums(records: &[Record]) -> Vec<String> {
    let mut workloads: Vec<&str> = Vec::new();
    for r in records.iter().filter(|r| r.checksum.is_some()) {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    workloads
        .into_iter()
        .filter_map(|workload| {
            // Each checksum seen, with the peers that printed it.
            let mut seen: Vec<(u64, Vec<&str>)> = Vec::new();
            for r in records.iter().filter(|r| r.workload == workload) {
                let Some(checksum) = r.checksum else {
                    continue;
                };
                match seen.iter_mut().find(|(c, _)| *c == checksum) {
                    Some((_, peers)) if peers.contains(&r.peer.as_str()) => {}
                    Some((_, peers)) => peers.push(&r.peer),
                    None => seen.push((checksum, vec![&r.peer])),
                }
            }
            (seen.len() > 1).then(|| {
                let listed: Vec<String> = seen
                    .iter()
                    .map(|(c, peers)| format!("{c} from {}", peers.join(", ")))
                    .collect();
                format!(
                    "{workload} computed different results: checksum {}",
                    listed.join("; ")
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_printing(peer: &str, checksum: u64) -> Record {
        let params = Params {
            scale: 1.0,
            threads: 1,
            seed: 1,
        };
        let report = cpython::Report {
            wall_seconds: 1.0,
            cpu_seconds: 1.0,
            peak_rss_kib: 1,
            checksum,
        };
        cpython::record(peer, &params, 1, report)
    }

    #[test]
    fn cpython_jobs_run_their_own_number_of_repetitions() {
        // An interpreter that does not exist: every run fails at once, and
        // the failures count the runs.
        let job = Job {
            workload: cpython::WORKLOAD.into(),
            subject: Subject::Python(cpython::Prepared {
                peer: &cpython::PEERS[0],
                python: "/nonexistent/python3".into(),
                preload: None,
            }),
        };
        let plan = Plan {
            jobs: vec![job],
            reps: 1,
            python_reps: 3,
            scale: 1.0,
            threads: 1,
            seed: 1,
            walk_nodes: 0,
            mode: Mode::Native,
        };
        assert_eq!(plan.reps_of(&plan.jobs[0]), 3);
        let outcome = execute(&plan, false);
        assert_eq!(outcome.failures.len(), 3, "{:?}", outcome.failures);
        assert!(outcome.records.is_empty());
    }

    #[test]
    fn equal_checksums_pass_and_a_differing_one_fails_naming_its_peer() {
        let agreeing = [run_printing("pymalloc", 5), run_printing("strata", 5)];
        assert!(differing_checksums(&agreeing).is_empty());
        let differing = [
            run_printing("pymalloc", 5),
            run_printing("pymalloc", 5),
            run_printing("strata", 6),
        ];
        assert_eq!(
            differing_checksums(&differing),
            ["cpython computed different results: checksum 5 from pymalloc; 6 from strata"]
        );
    }
}
