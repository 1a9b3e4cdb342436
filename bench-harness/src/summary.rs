//! Repetitions folded into medians with min and max, and every figure also
//! as a ratio to the baseline peer measured in the same run.

use crate::record::{Kind, Record, Results};

/// Median, minimum and maximum of one figure over repetitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let median = match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Spread {
            median,
            min: v.first().copied().unwrap_or(0.0),
            max: v.last().copied().unwrap_or(0.0),
        }
    }
}

/// The figures of one (workload, peer) over its repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub workload: String,
    pub kind: Kind,
    pub peer: String,
    pub reps: usize,
    pub ops_per_sec: Spread,
    pub p99_ns: Spread,
    pub max_pause_ns: Spread,
    pub peak_rss: Spread,
    pub final_rss: Spread,
    pub rss_per_live_byte: Spread,
    pub overhead_bytes_per_object: Spread,
    pub p999_ns: Spread,
    pub same_page_rate: Spread,
    pub median_distance: Spread,
    pub walk_alloc_order_ns: Spread,
    pub walk_shuffled_ns: Spread,
    pub instructions: Option<Spread>,
    pub collector: Option<CollectorSummary>,
}

/// Medians of the collector figures over repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorSummary {
    pub collections: f64,
    pub collect_seconds: f64,
    pub objects_per_collect_sec: f64,
    pub bytes_per_collect_sec: f64,
    /// (window ms, median utilisation).
    pub mmu: Vec<(f64, f64)>,
}

fn collector_summary(group: &[&Record]) -> Option<CollectorSummary> {
    let figures: Vec<_> = group.iter().filter_map(|r| r.collector.as_ref()).collect();
    if figures.is_empty() {
        return None;
    }
    let median = |f: &dyn Fn(&crate::record::CollectorFigures) -> f64| {
        Spread::of(&figures.iter().map(|c| f(c)).collect::<Vec<_>>()).median
    };
    let windows: Vec<f64> = figures[0].mmu.iter().map(|m| m.0).collect();
    Some(CollectorSummary {
        collections: median(&|c| c.collections as f64),
        collect_seconds: median(&|c| c.collect_seconds),
        objects_per_collect_sec: median(&|c| c.objects_per_collect_sec),
        bytes_per_collect_sec: median(&|c| c.bytes_per_collect_sec),
        mmu: windows
            .iter()
            .enumerate()
            .map(|(i, &w)| (w, median(&|c| c.mmu.get(i).map_or(0.0, |m| m.1))))
            .collect(),
    })
}

/// Summaries in first-seen order of (workload, peer).
pub fn summarize(records: &[Record]) -> Vec<Summary> {
    let mut keys: Vec<(String, Kind, String)> = Vec::new();
    for r in records {
        let key = (r.workload.clone(), r.kind, r.peer.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|(workload, kind, peer)| {
            let group: Vec<&Record> = records
                .iter()
                .filter(|r| r.workload == workload && r.kind == kind && r.peer == peer)
                .collect();
            let spread = |f: &dyn Fn(&Record) -> f64| {
                Spread::of(&group.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            let instructions: Vec<f64> = group
                .iter()
                .filter_map(|r| r.instructions.map(|i| i as f64))
                .collect();
            Summary {
                reps: group.len(),
                ops_per_sec: spread(&|r| r.throughput.ops_per_sec),
                p99_ns: spread(&|r| r.pause.p99_ns as f64),
                max_pause_ns: spread(&|r| r.pause.max_ns as f64),
                peak_rss: spread(&|r| r.heap.peak_rss as f64),
                final_rss: spread(&|r| r.heap.final_rss as f64),
                rss_per_live_byte: spread(&|r| r.heap.rss_per_live_byte),
                overhead_bytes_per_object: spread(&|r| r.heap.overhead_bytes_per_object),
                p999_ns: spread(&|r| r.pause.p999_ns as f64),
                same_page_rate: spread(&|r| r.locality.same_page_rate),
                median_distance: spread(&|r| r.locality.median_distance as f64),
                walk_alloc_order_ns: spread(&|r| r.locality.walk_alloc_order_ns),
                walk_shuffled_ns: spread(&|r| r.locality.walk_shuffled_ns),
                instructions: (!instructions.is_empty()).then(|| Spread::of(&instructions)),
                collector: collector_summary(&group),
                workload,
                kind,
                peer,
            }
        })
        .collect()
}

use crate::record::RatioRecord;
pub use crate::record::Ratios;

/// `a / b`, or `None` when `b` is not positive or the quotient not finite.
fn div(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b).filter(|r| r.is_finite())
}

/// Ratios of every compared figure of `summary` to the same figure of the
/// baseline peer's summary of the same workload: the one place ratios are
/// computed (tables, plots, report and JSON all use it). `None` when the
/// baseline peer was not measured on that workload.
pub fn ratios(summary: &Summary, all: &[Summary], baseline_peer: &str) -> Option<Ratios> {
    let base = all.iter().find(|s| {
        s.workload == summary.workload && s.kind == summary.kind && s.peer == baseline_peer
    })?;
    let of = |f: fn(&Summary) -> Spread| div(f(summary).median, f(base).median);
    let collector = |f: fn(&CollectorSummary) -> f64| match (&summary.collector, &base.collector) {
        (Some(s), Some(b)) => div(f(s), f(b)),
        _ => None,
    };
    Some(Ratios {
        ops_per_sec: of(|s| s.ops_per_sec),
        p99_ns: of(|s| s.p99_ns),
        p999_ns: of(|s| s.p999_ns),
        max_pause_ns: of(|s| s.max_pause_ns),
        peak_rss: of(|s| s.peak_rss),
        final_rss: of(|s| s.final_rss),
        rss_per_live_byte: of(|s| s.rss_per_live_byte),
        overhead_bytes_per_object: of(|s| s.overhead_bytes_per_object),
        same_page_rate: of(|s| s.same_page_rate),
        median_distance: of(|s| s.median_distance),
        walk_alloc_order_ns: of(|s| s.walk_alloc_order_ns),
        walk_shuffled_ns: of(|s| s.walk_shuffled_ns),
        objects_per_collect_sec: collector(|c| c.objects_per_collect_sec),
        bytes_per_collect_sec: collector(|c| c.bytes_per_collect_sec),
        instructions: match (summary.instructions, base.instructions) {
            (Some(s), Some(b)) => div(s.median, b.median),
            _ => None,
        },
    })
}

/// The ratios of every (workload, peer) of a results file to its kind's
/// baseline ([`baseline_for`]), in first-seen order: what the JSON stores.
pub fn ratio_records(results: &Results) -> Vec<RatioRecord> {
    let summaries = summarize(&results.records);
    let baselines = [Kind::Allocator, Kind::Collector].map(|k| (k, baseline_for(results, k)));
    summaries
        .iter()
        .filter_map(|s| {
            let base = &baselines.iter().find(|(k, _)| *k == s.kind)?.1;
            Some(RatioRecord {
                workload: s.workload.clone(),
                kind: s.kind,
                peer: s.peer.clone(),
                baseline: base.clone(),
                ratios: ratios(s, &summaries, base)?,
            })
        })
        .collect()
}

/// Collector every collector ratio is taken against: the CPython-style
/// peer, the closest in design to strata-gc.
pub const COLLECTOR_BASELINE: &str = "gcmodule";

/// The baseline every ratio of a results file is taken against: the file's
/// own setting for allocators, [`COLLECTOR_BASELINE`] for collectors, or the
/// first peer of that kind when the preferred one was not measured.
pub fn baseline_for(results: &Results, kind: Kind) -> String {
    let has = |peer: &str| {
        results
            .records
            .iter()
            .any(|r| r.kind == kind && r.peer == peer)
    };
    let preferred = match kind {
        Kind::Allocator => results.baseline_peer.as_str(),
        Kind::Collector => COLLECTOR_BASELINE,
    };
    if has(preferred) {
        return preferred.to_string();
    }
    results
        .records
        .iter()
        .find(|r| r.kind == kind)
        .map(|r| r.peer.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_has_median_min_max() {
        let s = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(&[1.0, 2.0, 3.0, 10.0]).median, 2.5);
    }
}
