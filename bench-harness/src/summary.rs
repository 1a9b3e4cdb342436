//! Repetitions folded into medians with min and max, and every figure also
//! as a ratio to the baseline peer measured in the same run. A figure no
//! repetition measured (`null` in the records) has no spread and no ratio.

use crate::record::{Interval, Kind, Locality, Pause, Record, Results};

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

    /// The spread of the values that are there; `None` when none is.
    pub fn of_present(values: impl IntoIterator<Item = Option<f64>>) -> Option<Spread> {
        let present: Vec<f64> = values.into_iter().flatten().collect();
        (!present.is_empty()).then(|| Spread::of(&present))
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
    /// Throughput of each repetition, by repetition number, for ratios
    /// taken pair by pair ([`Ratios::ops_per_sec_paired`]).
    pub ops_by_rep: Vec<(usize, f64)>,
    /// Wall-clock seconds of the measured region.
    pub wall_seconds: Spread,
    /// CPU seconds, for runs whose throughput is over CPU time (`cpython`).
    pub cpu_seconds: Option<Spread>,
    pub p99_ns: Option<Spread>,
    pub max_pause_ns: Option<Spread>,
    pub peak_rss: Spread,
    pub final_rss: Option<Spread>,
    pub rss_per_live_byte: Option<Spread>,
    pub overhead_bytes_per_object: Option<Spread>,
    pub p999_ns: Option<Spread>,
    pub same_page_rate: Option<Spread>,
    pub median_distance: Option<Spread>,
    pub walk_alloc_order_ns: Option<Spread>,
    pub walk_shuffled_ns: Option<Spread>,
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
            let present =
                |f: &dyn Fn(&Record) -> Option<f64>| Spread::of_present(group.iter().map(|r| f(r)));
            let pause = |f: fn(&Pause) -> u64| present(&|r| r.pause.as_ref().map(|p| f(p) as f64));
            let locality = |f: fn(&Locality) -> f64| present(&|r| r.locality.as_ref().map(f));
            Summary {
                reps: group.len(),
                ops_per_sec: spread(&|r| r.throughput.ops_per_sec),
                ops_by_rep: group
                    .iter()
                    .map(|r| (r.rep, r.throughput.ops_per_sec))
                    .collect(),
                wall_seconds: spread(&|r| r.throughput.seconds),
                cpu_seconds: present(&|r| r.throughput.cpu_seconds),
                p99_ns: pause(|p| p.p99_ns),
                max_pause_ns: pause(|p| p.max_ns),
                peak_rss: spread(&|r| r.heap.peak_rss as f64),
                final_rss: present(&|r| r.heap.final_rss.map(|b| b as f64)),
                rss_per_live_byte: present(&|r| r.heap.rss_per_live_byte),
                overhead_bytes_per_object: present(&|r| r.heap.overhead_bytes_per_object),
                p999_ns: pause(|p| p.p999_ns),
                same_page_rate: locality(|l| l.same_page_rate),
                median_distance: locality(|l| l.median_distance as f64),
                walk_alloc_order_ns: locality(|l| l.walk_alloc_order_ns),
                walk_shuffled_ns: locality(|l| l.walk_shuffled_ns),
                instructions: present(&|r| r.instructions.map(|i| i as f64)),
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
    let of_measured = |f: fn(&Summary) -> Option<Spread>| div(f(summary)?.median, f(base)?.median);
    let collector = |f: fn(&CollectorSummary) -> f64| match (&summary.collector, &base.collector) {
        (Some(s), Some(b)) => div(f(s), f(b)),
        _ => None,
    };
    Some(Ratios {
        ops_per_sec: of(|s| s.ops_per_sec),
        p99_ns: of_measured(|s| s.p99_ns),
        p999_ns: of_measured(|s| s.p999_ns),
        max_pause_ns: of_measured(|s| s.max_pause_ns),
        peak_rss: of(|s| s.peak_rss),
        final_rss: of_measured(|s| s.final_rss),
        rss_per_live_byte: of_measured(|s| s.rss_per_live_byte),
        overhead_bytes_per_object: of_measured(|s| s.overhead_bytes_per_object),
        same_page_rate: of_measured(|s| s.same_page_rate),
        median_distance: of_measured(|s| s.median_distance),
        walk_alloc_order_ns: of_measured(|s| s.walk_alloc_order_ns),
        walk_shuffled_ns: of_measured(|s| s.walk_shuffled_ns),
        // Where throughput is over CPU time, wall time is a figure of its
        // own; elsewhere it is the inverse of the throughput ratio.
        wall_seconds: match (summary.cpu_seconds, base.cpu_seconds) {
            (Some(_), Some(_)) => of(|s| s.wall_seconds),
            _ => None,
        },
        objects_per_collect_sec: collector(|c| c.objects_per_collect_sec),
        bytes_per_collect_sec: collector(|c| c.bytes_per_collect_sec),
        instructions: match (summary.instructions, base.instructions) {
            (Some(s), Some(b)) => div(s.median, b.median),
            _ => None,
        },
        ops_per_sec_paired: paired(&summary.ops_by_rep, &base.ops_by_rep),
    })
}

/// The ratio of `peer` to `base` repetition by repetition (the runs of one
/// repetition are interleaved, so a pair shares the machine's state), with
/// a 95% interval for the median ratio; `None` with fewer than six pairs.
fn paired(peer: &[(usize, f64)], base: &[(usize, f64)]) -> Option<Interval> {
    let ratios: Vec<f64> = peer
        .iter()
        .filter_map(|&(rep, value)| {
            let &(_, b) = base.iter().find(|&&(r, _)| r == rep)?;
            div(value, b)
        })
        .collect();
    median_interval(&ratios)
}

/// A distribution-free interval for the median of `values`: the order
/// statistics `x(k)` and `x(n+1-k)` for the largest `k` whose coverage,
/// `1 - 2 P(Binomial(n, 1/2) < k)`, is still at least 95%. `None` when even
/// the whole range covers less (five values or fewer).
pub fn median_interval(values: &[f64]) -> Option<Interval> {
    let n = values.len();
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    // P(B = i) for B ~ Binomial(n, 1/2), summed from i = 0 upwards; the
    // terms are built by ratios, so nothing overflows for large n.
    let mut term = 0.5f64.powi(n as i32);
    let mut below = 0.0; // P(B < k)
    let mut best = None;
    for k in 1..=n.div_ceil(2) {
        below += term;
        term *= (n - (k - 1)) as f64 / k as f64;
        let coverage = 1.0 - 2.0 * below;
        if coverage < 0.95 {
            break;
        }
        best = Some((k, coverage));
    }
    let (k, confidence) = best?;
    Some(Interval {
        median: Spread::of(&sorted).median,
        low: sorted[k - 1],
        high: sorted[n - k],
        confidence,
        pairs: n,
    })
}

/// The ratios of every (workload, peer) of a results file to the baseline
/// of its workload ([`baseline_for`]), in first-seen order: what the JSON
/// stores.
pub fn ratio_records(results: &Results) -> Vec<RatioRecord> {
    let summaries = summarize(&results.records);
    summaries
        .iter()
        .filter_map(|s| {
            let base = baseline_for(results, s.kind, &s.workload);
            Some(RatioRecord {
                workload: s.workload.clone(),
                kind: s.kind,
                peer: s.peer.clone(),
                ratios: ratios(s, &summaries, &base)?,
                baseline: base,
            })
        })
        .collect()
}

/// Collector every collector ratio is taken against: the CPython-style
/// peer, the closest in design to strata-gc.
pub const COLLECTOR_BASELINE: &str = "gcmodule";

/// The baseline the ratios of one workload are taken against: for
/// allocators the workload's own baseline if the file names one
/// (`workload_baselines`), else the file's `baseline_peer`; for collectors
/// [`COLLECTOR_BASELINE`]; or the first peer measured on that workload when
/// the preferred one was not.
pub fn baseline_for(results: &Results, kind: Kind, workload: &str) -> String {
    let mut of_workload = results
        .records
        .iter()
        .filter(|r| r.kind == kind && r.workload == workload);
    let preferred = match kind {
        Kind::Allocator => results
            .workload_baselines
            .get(workload)
            .unwrap_or(&results.baseline_peer)
            .as_str(),
        Kind::Collector => COLLECTOR_BASELINE,
    };
    if of_workload.clone().any(|r| r.peer == preferred) {
        return preferred.to_string();
    }
    of_workload
        .next()
        .map(|r| r.peer.clone())
        .unwrap_or_default()
}

/// The baselines of one kind in a few words, for headings: the one most
/// workloads use, then the workloads that use another
/// (`system; cpython against pymalloc`).
pub fn baseline_label(results: &Results, kind: Kind) -> String {
    let mut workloads: Vec<&str> = Vec::new();
    for r in results.records.iter().filter(|r| r.kind == kind) {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    let bases: Vec<(&str, String)> = workloads
        .iter()
        .map(|w| (*w, baseline_for(results, kind, w)))
        .collect();
    let count = |base: &str| bases.iter().filter(|(_, b)| b == base).count();
    // The most used baseline; the first such on a tie.
    let Some(main) =
        bases
            .iter()
            .map(|(_, b)| b.as_str())
            .reduce(|best, b| if count(b) > count(best) { b } else { best })
    else {
        return String::new();
    };
    let mut label = main.to_string();
    for (workload, base) in bases.iter().filter(|(_, b)| b != main) {
        label += &format!("; {workload} against {base}");
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_interval_needs_six_values_and_widens_with_fewer() {
        assert_eq!(median_interval(&[1.0, 2.0, 3.0, 4.0, 5.0]), None);
        // Six values: only the whole range covers 95% (1 - 2/64).
        let six = median_interval(&[6.0, 1.0, 5.0, 2.0, 4.0, 3.0]).unwrap();
        assert_eq!((six.low, six.high, six.median), (1.0, 6.0, 3.5));
        assert!((six.confidence - (1.0 - 2.0 / 64.0)).abs() < 1e-12);
        // 21 values: x(6) and x(16), coverage 97.3% (x(7)..x(15) would be
        // 92.2%, below 95%).
        let values: Vec<f64> = (1..=21).rev().map(f64::from).collect();
        let i = median_interval(&values).unwrap();
        assert_eq!((i.low, i.high, i.median, i.pairs), (6.0, 16.0, 11.0, 21));
        assert!(i.confidence >= 0.95 && i.confidence < 0.98);
    }

    #[test]
    fn paired_ratios_match_repetitions_not_positions() {
        // The peer's repetitions arrive in another order; a repetition the
        // baseline lacks is left out.
        let base: Vec<(usize, f64)> = (0..8).map(|rep| (rep, 100.0 + rep as f64 * 10.0)).collect();
        let mut peer: Vec<(usize, f64)> = base.iter().map(|&(rep, b)| (rep, b * 0.9)).collect();
        peer.reverse();
        peer.push((99, 1.0));
        let i = paired(&peer, &base).unwrap();
        assert_eq!(i.pairs, 8);
        for x in [i.low, i.median, i.high] {
            assert!((x - 0.9).abs() < 1e-12, "{x}");
        }
        assert_eq!(paired(&peer[..5], &base), None);
    }

    #[test]
    fn spread_has_median_min_max() {
        let s = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(&[1.0, 2.0, 3.0, 10.0]).median, 2.5);
    }
}
