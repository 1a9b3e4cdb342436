//! The command line: `strata-bench [suite|list|run|report|compare|ci]`.
//! Bad input gives one line on stderr and exit status 2; a regression found
//! by `compare` or `ci`, or a failed run, exit status 1.

use crate::record::Results;
use crate::spawn::Mode;
use crate::suite::{self, Job, Plan, Subject};
use crate::{ci, collectors, compare, cpython, gc_workloads, peers, plot, report, workloads};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "strata-bench",
    version,
    about = "Measures allocators and collectors side by side"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The default suite: every workload on every allocator and collector.
    Suite(SuiteArgs),
    /// Workloads, allocators and collectors.
    List,
    /// One workload on chosen peers.
    Run(RunArgs),
    /// Table, Markdown and plots from saved results.
    Report {
        file: PathBuf,
        /// Where report.md and the plots go.
        #[arg(long, default_value_os_t = results_dir())]
        out: PathBuf,
    },
    /// What moved between two results files; exit 1 on a regression.
    Compare {
        base: PathBuf,
        new: PathBuf,
        #[arg(long, default_value = "5%")]
        tolerance: String,
    },
    /// Instruction counts under callgrind against the committed baseline.
    Ci {
        /// Rewrite the baseline with this run's counts.
        #[arg(long)]
        update: bool,
        #[arg(long, default_value_os_t = results_dir().join("baseline.json"))]
        baseline: PathBuf,
        #[arg(long, default_value = ci::DEFAULT_TOLERANCE)]
        tolerance: String,
    },
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Size multiplier of every workload.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Repetitions of each (workload, peer), interleaved.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Threads of the threaded workloads (xthread, larson).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Allocator every allocator ratio is taken against [default: system;
    /// for cpython, pymalloc].
    #[arg(long)]
    pub baseline: Option<String>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Nodes of the locality walk run after each workload (0: no walk).
    #[arg(long, default_value_t = crate::metrics::locality::WALK_NODES)]
    pub walk_nodes: usize,
}

#[derive(Args, Debug)]
pub struct SuiteArgs {
    #[command(flatten)]
    pub common: Common,
    /// Where latest.json, report.md and the plots go.
    #[arg(long, default_value_os_t = results_dir())]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[arg(long)]
    pub workload: String,
    /// Allocators, comma-separated; for collector workloads the child's
    /// global allocator (default: strata).
    #[arg(long, value_delimiter = ',')]
    pub allocator: Vec<String>,
    /// Collectors, comma-separated (collector workloads).
    #[arg(long, value_delimiter = ',')]
    pub collector: Vec<String>,
    #[command(flatten)]
    pub common: Common,
    /// Also save the results here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `results/` of the workspace this binary was built from, or of the current
/// directory when that checkout is gone.
pub fn results_dir() -> PathBuf {
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("results");
    if built_in.is_dir() {
        built_in
    } else {
        PathBuf::from("results")
    }
}

/// A failure and the exit status it gives.
pub struct Failure {
    pub status: i32,
    pub message: String,
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        status: 2,
        message: message.into(),
    }
}

impl From<crate::record::FileError> for Failure {
    fn from(e: crate::record::FileError) -> Failure {
        usage(e.0)
    }
}

/// Parses `args` and runs the command; returns the exit status.
pub fn main_with(args: Vec<String>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("bad arguments");
            eprintln!("strata-bench: {}", first.trim_start_matches("error: "));
            return 2;
        }
    };
    match dispatch(cli.command) {
        Ok(status) => status,
        Err(f) => {
            eprintln!("strata-bench: {}", f.message);
            f.status
        }
    }
}

fn dispatch(command: Option<Command>) -> Result<i32, Failure> {
    match command {
        None => suite_command(&SuiteArgs {
            common: Common {
                scale: 1.0,
                reps: 3,
                threads: 2,
                seed: 1,
                baseline: None,
                quiet: false,
                walk_nodes: crate::metrics::locality::WALK_NODES,
            },
            out: results_dir(),
        }),
        Some(Command::Suite(args)) => suite_command(&args),
        Some(Command::List) => {
            print!("{}", list());
            Ok(0)
        }
        Some(Command::Run(args)) => run_command(&args),
        Some(Command::Report { file, out }) => {
            let results = Results::load(&file)?;
            print!("{}", report::terminal_table(&results));
            write_report(&results, &out)?;
            Ok(0)
        }
        Some(Command::Compare {
            base,
            new,
            tolerance,
        }) => {
            let tolerance = compare::parse_tolerance(&tolerance).map_err(usage)?;
            let (base, new) = (Results::load(&base)?, Results::load(&new)?);
            let comparison = compare::compare(&base, &new, tolerance);
            print!("{}", compare::render(&comparison, tolerance));
            Ok(i32::from(comparison.regressed()))
        }
        Some(Command::Ci {
            update,
            baseline,
            tolerance,
        }) => ci_command(update, &baseline, &tolerance),
    }
}

pub fn list() -> String {
    let mut out = String::from("allocator workloads:\n");
    for w in workloads::WORKLOADS {
        out += &format!("  {:<20} {}\n", w.name, w.about);
    }
    out += &format!("  {:<20} {}\n", cpython::WORKLOAD, cpython::ABOUT);
    out += "collector workloads:\n";
    for w in gc_workloads::GC_WORKLOADS {
        out += &format!("  {:<20} {}\n", w.name, w.about);
    }
    out += "allocators:\n";
    for a in peers::ALLOCATORS {
        let state = if a.built { "" } else { " [not in this build]" };
        out += &format!("  {:<20} {}{state}\n", a.name, a.about);
    }
    out += "collectors:\n";
    for c in collectors::COLLECTORS {
        out += &format!("  {:<20} {}\n", c.name, c.about);
    }
    out += "allocators of the cpython workload:\n";
    for p in cpython::PEERS {
        let state = match p.malloc {
            cpython::Malloc::Preloaded { soname, package } => {
                match cpython::find_system_library(soname) {
                    Some(_) => String::new(),
                    None => format!(" [not installed: apt-get install {package}]"),
                }
            }
            _ => String::new(),
        };
        out += &format!("  {:<20} {}{state}\n", p.name, p.about);
    }
    out
}

/// Allocator ratios are taken against `system`, unless `--baseline` or the
/// workload says otherwise.
pub const DEFAULT_BASELINE: &str = "system";

fn check_common(common: &Common) -> Result<(), Failure> {
    if !(common.scale > 0.0 && common.scale.is_finite()) {
        return Err(usage(format!(
            "--scale must be a positive number, not {}",
            common.scale
        )));
    }
    if common.reps == 0 || common.threads == 0 {
        return Err(usage("--reps and --threads must be at least 1"));
    }
    if let Some(baseline) = &common.baseline {
        if peers::find_allocator(baseline).is_none() && cpython::find(baseline).is_none() {
            return Err(usage(format!("unknown baseline allocator '{baseline}'")));
        }
    }
    Ok(())
}

fn allocator(name: &str) -> Result<&'static peers::AllocatorPeer, Failure> {
    let peer = peers::find_allocator(name).ok_or_else(|| {
        if cpython::find(name).is_some() {
            usage(format!(
                "{name} is CPython's own allocator: only the {} workload runs on it",
                cpython::WORKLOAD
            ))
        } else {
            usage(format!(
                "unknown allocator '{name}' (see strata-bench list)"
            ))
        }
    })?;
    if !peer.built {
        return Err(usage(format!(
            "allocator '{name}' is not in this build (see strata-bench list)"
        )));
    }
    Ok(peer)
}

fn plan(common: &Common, jobs: Vec<Job>) -> Plan {
    Plan {
        jobs,
        reps: common.reps,
        python_reps: common.reps,
        scale: common.scale,
        threads: common.threads,
        seed: common.seed,
        walk_nodes: common.walk_nodes,
        mode: Mode::Native,
    }
}

/// Global allocator of collector runs: one allocator under every collector,
/// so that the collectors' own costs are what differs. strata, because
/// strata-gc allocates its objects through it whatever the global allocator.
pub const COLLECTOR_HOST: &str = "strata";

/// Every workload on every peer that can run it.
pub fn default_jobs() -> Result<Vec<Job>, Failure> {
    let mut jobs = Vec::new();
    for w in workloads::WORKLOADS {
        for a in peers::built_allocators().filter(|a| w.never_free_fits || a.name != "bump") {
            jobs.push(Job {
                workload: w.name.into(),
                subject: Subject::Allocator(a),
            });
        }
    }
    let every_python_peer: Vec<_> = cpython::PEERS.iter().collect();
    match python_jobs(&every_python_peer) {
        Ok(python) => jobs.extend(python),
        Err(why) => eprintln!("skipping {}: {why}", cpython::WORKLOAD),
    }
    let host = allocator(COLLECTOR_HOST)?;
    for w in gc_workloads::GC_WORKLOADS {
        for c in collectors::COLLECTORS
            .iter()
            .filter(|c| c.collects_cycles || w.acyclic)
        {
            jobs.push(Job {
                workload: w.name.into(),
                subject: Subject::Collector {
                    collector: c.name.into(),
                    host,
                },
            });
        }
    }
    Ok(jobs)
}

/// The `cpython` jobs of `python_peers` that can run here: peers whose
/// library is missing are left out, with one line each; `Err` when there
/// is no `python3`. Builds `libstrata.so` first when needed.
fn python_jobs(python_peers: &[&'static cpython::PythonPeer]) -> Result<Vec<Job>, String> {
    if python_peers
        .iter()
        .any(|p| p.malloc == cpython::Malloc::Strata)
    {
        crate::spawn::ensure_strata_library()?;
    }
    Ok(cpython::prepare(python_peers)?
        .into_iter()
        .map(|prepared| Job {
            workload: cpython::WORKLOAD.into(),
            subject: Subject::Python(prepared),
        })
        .collect())
}

/// A peer of the `cpython` workload, or why the name is not one.
fn python_peer(name: &str) -> Result<&'static cpython::PythonPeer, Failure> {
    cpython::find(name).ok_or_else(|| {
        let known: Vec<&str> = cpython::PEERS.iter().map(|p| p.name).collect();
        if peers::find_allocator(name).is_some() {
            usage(format!(
                "{} runs on {}, not on {name}",
                cpython::WORKLOAD,
                known.join(", ")
            ))
        } else {
            usage(format!(
                "unknown allocator '{name}' (see strata-bench list)"
            ))
        }
    })
}

fn suite_command(args: &SuiteArgs) -> Result<i32, Failure> {
    check_common(&args.common)?;
    crate::spawn::ensure_runners().map_err(usage)?;
    let mut plan = plan(&args.common, default_jobs()?);
    plan.python_reps = args.common.reps * suite::SUITE_PYTHON_REPS_FACTOR;
    finish_run(&args.common, &plan, Some(&args.out), None)
}

fn run_command(args: &RunArgs) -> Result<i32, Failure> {
    check_common(&args.common)?;
    let mut jobs = Vec::new();
    if let Some(w) = gc_workloads::find(&args.workload) {
        if args.collector.is_empty() {
            return Err(usage(format!(
                "{} is a collector workload: give --collector",
                w.name
            )));
        }
        let host = allocator(
            args.allocator
                .first()
                .map_or(COLLECTOR_HOST, String::as_str),
        )?;
        for c in &args.collector {
            let collector = collectors::find(c)
                .ok_or_else(|| usage(format!("unknown collector '{c}' (see strata-bench list)")))?;
            if !collector.collects_cycles && !w.acyclic {
                return Err(usage(format!(
                    "{c} cannot reclaim the cycles of {}",
                    w.name
                )));
            }
            jobs.push(Job {
                workload: w.name.into(),
                subject: Subject::Collector {
                    collector: c.clone(),
                    host,
                },
            });
        }
    } else if args.workload == cpython::WORKLOAD {
        if !args.collector.is_empty() {
            return Err(usage(format!(
                "{} is an allocator workload: give --allocator",
                cpython::WORKLOAD
            )));
        }
        if args.allocator.is_empty() {
            return Err(usage("give --allocator A[,B..] (see strata-bench list)"));
        }
        let python_peers = args
            .allocator
            .iter()
            .map(|a| python_peer(a))
            .collect::<Result<Vec<_>, _>>()?;
        let failed = |message: String| Failure { status: 1, message };
        jobs = python_jobs(&python_peers).map_err(failed)?;
        if jobs.is_empty() {
            return Err(failed(format!(
                "none of the allocators asked for can run {} here",
                cpython::WORKLOAD
            )));
        }
    } else if let Some(w) = workloads::find(&args.workload) {
        if !args.collector.is_empty() {
            return Err(usage(format!(
                "{} is an allocator workload: give --allocator",
                w.name
            )));
        }
        if args.allocator.is_empty() {
            return Err(usage("give --allocator A[,B..] (see strata-bench list)"));
        }
        for a in &args.allocator {
            if a == "bump" && !w.never_free_fits {
                return Err(usage(format!(
                    "bump never frees: {} would allocate too much",
                    w.name
                )));
            }
            jobs.push(Job {
                workload: w.name.into(),
                subject: Subject::Allocator(allocator(a)?),
            });
        }
    } else {
        return Err(usage(format!(
            "unknown workload '{}' (see strata-bench list)",
            args.workload
        )));
    }
    if jobs
        .iter()
        .any(|j| !matches!(j.subject, Subject::Python(_)))
    {
        crate::spawn::ensure_runners().map_err(usage)?;
    }
    finish_run(
        &args.common,
        &plan(&args.common, jobs),
        None,
        args.json.as_deref(),
    )
}

fn finish_run(
    common: &Common,
    plan: &Plan,
    out: Option<&Path>,
    json: Option<&Path>,
) -> Result<i32, Failure> {
    let started = std::time::Instant::now();
    let outcome = suite::execute(plan, !common.quiet);
    let mut results = Results::new(
        common.baseline.as_deref().unwrap_or(DEFAULT_BASELINE),
        outcome.records,
    );
    if common.baseline.is_none()
        && results
            .records
            .iter()
            .any(|r| r.workload == cpython::WORKLOAD)
    {
        results
            .workload_baselines
            .insert(cpython::WORKLOAD.into(), cpython::BASELINE.into());
    }
    results.ratios = crate::summary::ratio_records(&results);
    print!("{}", report::terminal_table(&results));
    if let Some(json) = json {
        results.save(json)?;
    }
    if let Some(out) = out {
        results.save(&out.join("latest.json"))?;
        write_report(&results, out)?;
    }
    eprintln!(
        "{} runs in {:.0} s",
        results.records.len(),
        started.elapsed().as_secs_f64()
    );
    if outcome.failures.is_empty() {
        Ok(0)
    } else {
        Err(Failure {
            status: 1,
            message: format!("{} runs failed", outcome.failures.len()),
        })
    }
}

fn write_report(results: &Results, out: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(out)
        .map_err(|e| usage(format!("cannot create {}: {e}", out.display())))?;
    let plots = plot::write_plots(results, out).map_err(usage)?;
    let path = out.join("report.md");
    std::fs::write(&path, report::markdown(results, &plots))
        .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
    eprintln!("wrote {} and {} plots", path.display(), plots.len());
    Ok(())
}

fn ci_command(update: bool, baseline: &Path, tolerance: &str) -> Result<i32, Failure> {
    let tolerance = compare::parse_tolerance(tolerance).map_err(usage)?;
    let base = if update {
        None
    } else {
        Some(Results::load(baseline)?)
    };
    crate::spawn::ensure_runners().map_err(usage)?;
    let plan = ci::plan();
    let outcome = suite::execute(&plan, false);
    if let Some(first) = outcome.failures.first() {
        return Err(Failure {
            status: 1,
            message: first.clone(),
        });
    }
    let results = Results::new("system", outcome.records);
    match base {
        None => {
            results.save(baseline)?;
            println!(
                "wrote {} ({} counts)",
                baseline.display(),
                results.records.len()
            );
            Ok(0)
        }
        Some(base) => {
            let comparison = compare::compare(&base, &results, tolerance);
            print!("{}", compare::render(&comparison, tolerance));
            // Only strata's counts gate CI (see `ci::gates`). The system
            // allocator's are printed for context: they move with the
            // harness's own allocations and with the C library, neither of
            // which this project controls.
            let regressed = comparison.changes.iter().any(|c| {
                ci::gates(&c.workload, &c.peer) && c.verdict == compare::Verdict::Regressed
            });
            println!(
                "(gating: {} except on {}; the other counts are context)",
                ci::GATED_ALLOCATOR,
                ci::UNGATED_WORKLOADS.join(", ")
            );
            println!(
                "{}",
                if regressed {
                    "ci: instruction counts regressed"
                } else {
                    "ci: no regression"
                }
            );
            Ok(i32::from(regressed))
        }
    }
}
