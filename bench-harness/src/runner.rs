//! The child side: what a runner binary does. Each runner is a tiny binary
//! with its own `#[global_allocator]` (see `src/bin/`) that calls
//! [`main`]; it runs one workload once and prints one JSON [`Record`] line.
//!
//! Arguments: `--workload W --scale S --threads N --seed K
//! [--collector C] [--walk-nodes N]`.

use crate::metrics::{self, LiveTotals, Probe};
use crate::record::{Kind, Record};
use crate::workloads::{self, Params};
use crate::{collectors, gc_workloads};
use std::sync::Arc;
use std::time::Instant;

/// Parsed runner arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerArgs {
    pub workload: String,
    pub collector: Option<String>,
    pub params: Params,
    pub walk_nodes: usize,
}

impl RunnerArgs {
    /// The argument list that [`parse`] reads back.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--workload".into(),
            self.workload.clone(),
            "--scale".into(),
            self.params.scale.to_string(),
            "--threads".into(),
            self.params.threads.to_string(),
            "--seed".into(),
            self.params.seed.to_string(),
            "--walk-nodes".into(),
            self.walk_nodes.to_string(),
        ];
        if let Some(c) = &self.collector {
            args.extend(["--collector".into(), c.clone()]);
        }
        args
    }
}

pub fn parse(args: &[String]) -> Result<RunnerArgs, String> {
    let mut parsed = RunnerArgs {
        workload: String::new(),
        collector: None,
        params: Params {
            scale: 1.0,
            threads: 2,
            seed: 1,
        },
        walk_nodes: metrics::locality::WALK_NODES,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = || format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--workload" => parsed.workload = value.clone(),
            "--collector" => parsed.collector = Some(value.clone()),
            "--scale" => parsed.params.scale = value.parse().map_err(|_| bad())?,
            "--threads" => parsed.params.threads = value.parse().map_err(|_| bad())?,
            "--seed" => parsed.params.seed = value.parse().map_err(|_| bad())?,
            "--walk-nodes" => parsed.walk_nodes = value.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown runner flag {flag}")),
        }
    }
    if parsed.workload.is_empty() {
        return Err("--workload is required".into());
    }
    Ok(parsed)
}

/// Entry point of every runner binary; `allocator` names its global allocator.
pub fn main(allocator: &str) -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match parse(&args).and_then(|a| run(allocator, &a)) {
        Ok(record) => {
            println!(
                "{}",
                serde_json::to_string(&record).expect("records encode")
            );
            0
        }
        Err(message) => {
            eprintln!("runner-{allocator}: {message}");
            2
        }
    };
    std::process::exit(code)
}

/// The measured region, kept out of line so that profiles (`perf`,
/// `valgrind --toggle-collect=*measured_region*`) can single it out.
#[inline(never)]
pub fn measured_region<R>(f: impl FnOnce() -> R) -> R {
    std::hint::black_box(f())
}

/// Stack of the thread collector workloads run on: dropping a long chain of
/// reference-counted nodes recurses once per node in every collector
/// measured (as `Rc` does), which a graph of 50,000 nodes turns into a
/// recursion far deeper than the main thread's 8 MiB allow. Only touched
/// pages become resident.
const COLLECTOR_STACK: usize = 1 << 30;

fn on_big_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("workload".into())
            .stack_size(COLLECTOR_STACK)
            .spawn_scoped(scope, f)
            .expect("the workload thread starts")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Runs one workload in this process and measures it.
pub fn run(allocator: &str, args: &RunnerArgs) -> Result<Record, String> {
    let totals = Arc::new(LiveTotals::default());
    let mut probe = Probe::new(Arc::clone(&totals));
    let start_rss = metrics::heap::current_rss();
    let (kind, peer, elapsed, collector) = match &args.collector {
        None => {
            let workload = workloads::find(&args.workload)
                .ok_or_else(|| format!("unknown allocator workload {}", args.workload))?;
            let start = Instant::now();
            measured_region(|| (workload.run)(&args.params, &mut probe));
            (
                Kind::Allocator,
                allocator.to_string(),
                start.elapsed(),
                None,
            )
        }
        Some(name) => {
            let workload = gc_workloads::find(&args.workload)
                .ok_or_else(|| format!("unknown collector workload {}", args.workload))?;
            let collector =
                collectors::find(name).ok_or_else(|| format!("unknown collector {name}"))?;
            if !workload.acyclic && !collector.collects_cycles {
                return Err(format!(
                    "{name} cannot reclaim cycles: {} is not for it",
                    workload.name
                ));
            }
            let start = Instant::now();
            let figures = measured_region(|| {
                on_big_stack(|| (collector.run)(workload, &args.params, &mut probe))
            })?;
            let elapsed = start.elapsed();
            (
                Kind::Collector,
                name.clone(),
                elapsed,
                Some(figures.finish(elapsed)),
            )
        }
    };
    probe.flush();
    let heap = metrics::heap::heap(
        start_rss,
        metrics::heap::peak_rss(),
        metrics::heap::current_rss(),
        totals.peak_bytes(),
        totals.peak_objects(),
    );
    if totals.live_bytes() != 0 {
        return Err(format!(
            "workload {} leaked {} bytes",
            args.workload,
            totals.live_bytes()
        ));
    }
    let threaded = workloads::find(&args.workload).is_some_and(|w| w.threaded);
    Ok(Record {
        workload: args.workload.clone(),
        kind,
        peer,
        allocator: allocator.to_string(),
        threads: if threaded { args.params.threads } else { 1 },
        scale: args.params.scale,
        rep: 0,
        throughput: metrics::throughput::throughput(probe.ops(), elapsed),
        pause: Some(metrics::pause::summarize(probe.latency())),
        heap,
        locality: Some(metrics::locality::locality(
            probe.addresses(),
            args.walk_nodes,
            args.params.seed,
        )),
        collector,
        instructions: None,
        checksum: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_args_round_trip() {
        let args = RunnerArgs {
            workload: "tree".into(),
            collector: Some("rc".into()),
            params: Params {
                scale: 0.25,
                threads: 4,
                seed: 9,
            },
            walk_nodes: 10,
        };
        assert_eq!(parse(&args.to_args()), Ok(args));
    }

    #[test]
    fn runner_rejects_unknown_flags_and_missing_values() {
        assert!(parse(&["--bogus".into(), "1".into()]).is_err());
        assert!(parse(&["--workload".into()]).is_err());
        assert!(parse(&[
            "--scale".into(),
            "x".into(),
            "--workload".into(),
            "t".into()
        ])
        .is_err());
    }
}
