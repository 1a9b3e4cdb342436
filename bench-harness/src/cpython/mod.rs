//! The `cpython` workload: CPython itself, whose allocator strata is built
//! after, running `objects.py` (dicts of tuples and strings, JSON dump and
//! load, sorting, reference cycles and `gc.collect()`) on each allocator it
//! can use:
//!
//! ```text
//!  peer       PYTHONMALLOC  LD_PRELOAD
//!  pymalloc   (unset)       -                 CPython's own allocator: the baseline
//!  system     malloc        -                 glibc
//!  mimalloc   malloc        libmimalloc.so.2  Debian's libmimalloc2.0
//!  jemalloc   malloc        libjemalloc.so.2  Debian's libjemalloc2
//!  strata     malloc        libstrata.so      strata-capi, built with the harness's profile
//! ```
//!
//! Each run is `python3 -c <objects.py> ROUNDS RECORDS` in a child process
//! of its own, started by the parent directly: the allocator measured lives
//! in the interpreter, so there is no runner binary. The script times itself
//! and prints `<wall s> <CPU s> <peak RSS KiB> <checksum>`. Throughput is
//! records per CPU second (user + system), the figure to compare on a
//! shared machine, where wall time also counts waiting for a core; wall time
//! and peak RSS are figures of their own. Single-operation pauses, live
//! bytes and addresses cannot be seen from outside the interpreter, so
//! those figures are `null`. Every peer must print the same checksum, or
//! the run fails.

mod peers;

pub use peers::{
    find, find_system_library, interpreter, prepare, strata_library, Malloc, Prepared, PythonPeer,
    BASELINE, PEERS, STRATA_LIBRARY_VAR,
};

use crate::record::{Heap, Kind, Record, Throughput};
use crate::workloads::Params;
use std::process::{Command, Stdio};

pub const WORKLOAD: &str = "cpython";
pub const ABOUT: &str =
    "CPython (python3) on objects.py: dicts of tuples and strings, JSON, sorting, cycles, gc.collect()";

/// The script, compiled in so that the binary runs it from anywhere.
pub const OBJECTS_PY: &str = include_str!("../../../allocator/capi/bench/objects.py");

/// Rounds of `objects.py` per run at every scale: in the second round the
/// allocator serves requests from memory the first one freed, next to the
/// survivors the first one kept, as a long-running program does.
pub const ROUNDS: u64 = 2;

/// Records per round at scale 1. One round of 40,000 (the script's default)
/// takes 1.5-2.3 s of CPU with pymalloc on the 2-core machine here, and
/// glibc needs up to twice that; two rounds of 16,000 keep the workload's
/// 5 peers x 3 repetitions near 30 s of the default suite.
pub const RECORDS_AT_SCALE_1: u64 = 16_000;

/// Rounds and records per round of a run.
pub fn work(params: &Params) -> (u64, u64) {
    (ROUNDS, params.count(RECORDS_AT_SCALE_1))
}

/// The line `objects.py` prints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    pub wall_seconds: f64,
    pub cpu_seconds: f64,
    pub peak_rss_kib: u64,
    pub checksum: u64,
}

/// Reads the last non-empty line of the script's output.
pub fn parse_report(stdout: &str) -> Result<Report, String> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or("objects.py printed nothing")?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let bad =
        || format!("objects.py printed '{line}', not '<wall s> <cpu s> <peak RSS KiB> <checksum>'");
    let [wall, cpu, rss, checksum] = fields[..] else {
        return Err(bad());
    };
    Ok(Report {
        wall_seconds: wall.parse().map_err(|_| bad())?,
        cpu_seconds: cpu.parse().map_err(|_| bad())?,
        peak_rss_kib: rss.parse().map_err(|_| bad())?,
        checksum: checksum.parse().map_err(|_| bad())?,
    })
}

/// What the dynamic loader prints when it cannot preload a library (wrong
/// architecture, unreadable file); it then runs the program without it,
/// which would measure glibc under another peer's name.
const PRELOAD_REFUSED: &str = "cannot be preloaded";

/// Runs `objects.py` once on `prepared`'s allocator and measures it.
pub fn run(prepared: &Prepared, params: &Params) -> Result<Record, String> {
    let name = prepared.peer.name;
    let (rounds, records) = work(params);
    let mut command = Command::new(&prepared.python);
    command
        .arg("-c")
        .arg(OBJECTS_PY)
        .arg(rounds.to_string())
        .arg(records.to_string())
        // Inherited settings would change what is measured.
        .env_remove("PYTHONMALLOC")
        .env_remove("LD_PRELOAD")
        // String hashes, and so dict and set layouts, are the same for every
        // peer of a repetition, as the Rust workloads' random sequences are.
        .env("PYTHONHASHSEED", (params.seed % (1 << 32)).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if prepared.peer.malloc != Malloc::Pymalloc {
        command.env("PYTHONMALLOC", "malloc");
    }
    if let Some(library) = &prepared.preload {
        command.env("LD_PRELOAD", library);
    }
    let child = command
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", prepared.python.display()))?;
    let output = crate::spawn::wait_with_timeout(child, crate::spawn::CHILD_TIMEOUT)
        .map_err(|e| format!("{WORKLOAD} on {name}: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last_error = || {
        stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message")
            .to_string()
    };
    if let Some(refused) = stderr.lines().find(|l| l.contains(PRELOAD_REFUSED)) {
        return Err(format!("{WORKLOAD} on {name}: {refused}"));
    }
    if !output.status.success() {
        return Err(format!(
            "{WORKLOAD} on {name} failed ({}): {}",
            output.status,
            last_error()
        ));
    }
    let report = parse_report(&String::from_utf8_lossy(&output.stdout))
        .map_err(|e| format!("{WORKLOAD} on {name}: {e}"))?;
    Ok(record(name, params, rounds * records, report))
}

/// The record of one run: throughput over CPU time, wall time and peak RSS
/// as measured; every figure the script cannot give is `None`.
pub fn record(peer: &str, params: &Params, records: u64, report: Report) -> Record {
    let cpu = report.cpu_seconds;
    Record {
        workload: WORKLOAD.into(),
        kind: Kind::Allocator,
        peer: peer.into(),
        allocator: peer.into(),
        threads: 1,
        scale: params.scale,
        rep: 0,
        throughput: Throughput {
            ops: records,
            seconds: report.wall_seconds,
            ops_per_sec: if cpu > 0.0 { records as f64 / cpu } else { 0.0 },
            cpu_seconds: Some(cpu),
        },
        pause: None,
        heap: Heap {
            start_rss: None,
            peak_rss: report.peak_rss_kib * 1024,
            final_rss: None,
            peak_live_bytes: None,
            peak_live_objects: None,
            rss_per_live_byte: None,
            overhead_bytes_per_object: None,
        },
        locality: None,
        collector: None,
        instructions: None,
        checksum: Some(report.checksum),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_line_is_read_into_its_four_figures() {
        let report = parse_report("noise\n1.334 1.314 60936 5073627\n\n").unwrap();
        assert_eq!(
            report,
            Report {
                wall_seconds: 1.334,
                cpu_seconds: 1.314,
                peak_rss_kib: 60936,
                checksum: 5073627
            }
        );
        assert!(parse_report("").is_err());
        assert!(parse_report("1.0 2.0 3").is_err());
        assert!(parse_report("1.0 x 3 4").is_err());
    }

    #[test]
    fn a_record_has_cpu_throughput_and_no_unmeasured_figures() {
        let params = Params {
            scale: 0.5,
            threads: 2,
            seed: 1,
        };
        let report = Report {
            wall_seconds: 2.0,
            cpu_seconds: 1.0,
            peak_rss_kib: 100,
            checksum: 7,
        };
        let r = record("strata", &params, 40_000, report);
        assert_eq!(r.throughput.ops_per_sec, 40_000.0);
        assert_eq!(r.throughput.seconds, 2.0);
        assert_eq!(r.throughput.cpu_seconds, Some(1.0));
        assert_eq!(r.heap.peak_rss, 102_400);
        assert_eq!((r.pause, r.locality, r.heap.final_rss), (None, None, None));
        assert_eq!(r.checksum, Some(7));
    }

    #[test]
    fn scale_sets_the_records_per_round() {
        let at = |scale| {
            work(&Params {
                scale,
                threads: 1,
                seed: 1,
            })
        };
        assert_eq!(at(1.0), (ROUNDS, RECORDS_AT_SCALE_1));
        assert_eq!(at(0.5), (ROUNDS, RECORDS_AT_SCALE_1 / 2));
        assert_eq!(at(1e-9), (ROUNDS, 1));
    }
}
