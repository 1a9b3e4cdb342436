//! The JSON schema of results: one [`Record`] per child process run, gathered
//! in a [`Results`] file (`results/latest.json`, `results/baseline.json`).
//!
//! Every record carries all four families of figures (throughput, pause, heap,
//! locality); collector runs add [`CollectorFigures`], callgrind runs add an
//! instruction count. A figure the workload cannot measure is `null`, never
//! a made-up zero: the `cpython` workload runs a foreign program, which
//! reports its CPU and wall time and its peak resident memory but neither
//! single-operation latencies, nor live bytes, nor addresses.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Version of the file format; bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    /// Seconds since the Unix epoch when the run started.
    pub created_unix: u64,
    /// Peer every ratio is taken against (e.g. `system`).
    pub baseline_peer: String,
    /// Workloads whose ratios are taken against a peer of their own instead
    /// (`cpython` against `pymalloc`, CPython's own allocator), when the run
    /// named no `--baseline`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workload_baselines: BTreeMap<String, String>,
    pub machine: Machine,
    pub records: Vec<Record>,
    /// Every compared figure of every (workload, peer) as a ratio to the
    /// baseline peer of the same workload in the same run (medians over
    /// repetitions); filled by `summary::ratio_records`, absent from files
    /// that carry no ratios (the callgrind baseline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ratios: Vec<RatioRecord>,
}

/// The ratios of one (workload, peer) to its baseline peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatioRecord {
    pub workload: String,
    pub kind: Kind,
    pub peer: String,
    /// The peer every ratio of this record is taken against.
    pub baseline: String,
    pub ratios: Ratios,
}

/// Median of a figure over the baseline's median of the same figure; `None`
/// (JSON `null`) when the baseline's figure is not positive. Above 1 means
/// more of it: faster for the throughput figures, longer pauses and walks,
/// more memory, more same-page pairs, larger distances.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Ratios {
    pub ops_per_sec: Option<f64>,
    pub p99_ns: Option<f64>,
    pub p999_ns: Option<f64>,
    pub max_pause_ns: Option<f64>,
    pub peak_rss: Option<f64>,
    pub final_rss: Option<f64>,
    pub rss_per_live_byte: Option<f64>,
    pub overhead_bytes_per_object: Option<f64>,
    pub same_page_rate: Option<f64>,
    pub median_distance: Option<f64>,
    pub walk_alloc_order_ns: Option<f64>,
    pub walk_shuffled_ns: Option<f64>,
    /// Wall time over the baseline's, for runs whose throughput is over CPU
    /// time (`cpython`): above 1 is slower.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
    /// Collector runs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects_per_collect_sec: Option<f64>,
    /// Collector runs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_collect_sec: Option<f64>,
    /// Callgrind runs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<f64>,
    /// The throughput ratio taken repetition by repetition (each peer's
    /// repetition over the baseline's same repetition, which ran next to it),
    /// with a confidence interval for its median: the answer to "is this
    /// peer faster, or is it noise". Absent when fewer than six repetitions
    /// pair up, too few for a 95% interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops_per_sec_paired: Option<Interval>,
}

/// The median of per-repetition ratios and a distribution-free confidence
/// interval for it (order statistics of the ratios; no assumption about how
/// the noise is distributed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub median: f64,
    pub low: f64,
    pub high: f64,
    /// Coverage of `[low, high]`: at least 0.95.
    pub confidence: f64,
    /// Repetitions paired.
    pub pairs: usize,
}

/// Where the figures were measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub os: String,
    pub arch: String,
}

impl Machine {
    pub fn current() -> Machine {
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

/// Whether a record measures an allocator or a collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Allocator,
    Collector,
}

/// One run of one workload on one peer, in its own process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub workload: String,
    pub kind: Kind,
    /// The allocator or collector measured.
    pub peer: String,
    /// The global allocator of the child process (equals `peer` for allocator runs).
    pub allocator: String,
    pub threads: usize,
    pub scale: f64,
    /// Repetition index, 0-based.
    pub rep: usize,
    pub throughput: Throughput,
    /// `null` where single operations cannot be timed (`cpython`).
    #[serde(default)]
    pub pause: Option<Pause>,
    pub heap: Heap,
    /// `null` where the addresses allocated are not seen (`cpython`).
    #[serde(default)]
    pub locality: Option<Locality>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector: Option<CollectorFigures>,
    /// Instructions executed in the measured region, under callgrind only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<u64>,
    /// What the program computed, where that can be compared across peers
    /// (`cpython`): every peer must print the same, or the run fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Operations the workload performed (its own unit: allocations, nodes,
    /// records, ...).
    pub ops: u64,
    /// Wall-clock seconds of the measured region.
    pub seconds: f64,
    /// `ops` over `cpu_seconds` where the run has them, else over `seconds`.
    pub ops_per_sec: f64,
    /// CPU seconds (user + system) of the measured region, for runs whose
    /// throughput is over CPU time (`cpython`: on a shared machine wall time
    /// also counts waiting for a core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
}

/// Latency of sampled single operations (allocator runs) or of every
/// collection (collector runs), in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    pub samples: u64,
    pub max_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub mean_ns: f64,
}

/// Resident memory of the process. Only `peak_rss` is known for every
/// workload; the rest is `null` where the workload does not account its
/// live bytes or cannot be observed before and after (`cpython`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heap {
    /// Resident memory before the workload started.
    #[serde(default)]
    pub start_rss: Option<u64>,
    /// High-water resident memory of the process (VmHWM, or `ru_maxrss`).
    pub peak_rss: u64,
    /// Resident memory after the workload freed everything.
    #[serde(default)]
    pub final_rss: Option<u64>,
    /// Most bytes the workload held live at once (its own accounting).
    #[serde(default)]
    pub peak_live_bytes: Option<u64>,
    #[serde(default)]
    pub peak_live_objects: Option<u64>,
    /// `(peak_rss - start_rss) / peak_live_bytes`: 1.0 is perfect.
    #[serde(default)]
    pub rss_per_live_byte: Option<f64>,
    /// `(peak_rss - start_rss - peak_live_bytes) / peak_live_objects`: bytes
    /// each live object costs beyond its payload (headers, padding, slack).
    #[serde(default)]
    pub overhead_bytes_per_object: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Locality {
    /// Consecutive allocation pairs that share a 4 KiB page.
    pub same_page_rate: f64,
    /// Median |address difference| of consecutive allocations.
    pub median_distance: u64,
    /// Walking a list of same-size nodes (allocated amid other sizes) in
    /// allocation order, nanoseconds per node.
    pub walk_alloc_order_ns: f64,
    /// The same nodes walked in a shuffled order.
    pub walk_shuffled_ns: f64,
}

/// Figures only a collector run has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectorFigures {
    pub collections: u64,
    /// Seconds spent inside explicit and automatic collections.
    pub collect_seconds: f64,
    /// Objects reclaimed (counted by their drops).
    pub objects_reclaimed: u64,
    pub objects_per_collect_sec: f64,
    pub bytes_per_collect_sec: f64,
    /// Minimum mutator utilisation: (window in ms, utilisation in 0..=1).
    pub mmu: Vec<(f64, f64)>,
}

/// Errors loading or saving a results file, with a one-line message.
#[derive(Debug)]
pub struct FileError(pub String);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FileError {}

impl Results {
    pub fn new(baseline_peer: &str, records: Vec<Record>) -> Results {
        let created_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Results {
            schema: SCHEMA_VERSION,
            created_unix,
            baseline_peer: baseline_peer.to_string(),
            workload_baselines: BTreeMap::new(),
            machine: Machine::current(),
            records,
            ratios: Vec::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Results, FileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| FileError(format!("cannot read {}: {e}", path.display())))?;
        let results: Results = serde_json::from_str(&text)
            .map_err(|e| FileError(format!("{} is not a results file: {e}", path.display())))?;
        if results.schema != SCHEMA_VERSION {
            return Err(FileError(format!(
                "{} has schema {}, this build reads {SCHEMA_VERSION}",
                path.display(),
                results.schema
            )));
        }
        Ok(results)
    }

    pub fn save(&self, path: &Path) -> Result<(), FileError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| FileError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| FileError(format!("cannot encode results: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| FileError(format!("cannot write {}: {e}", path.display())))
    }
}
