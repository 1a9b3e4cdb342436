//! Pauses: single-operation latencies and collection times in an HDR
//! histogram, and the minimum mutator utilisation curve of a collector run.

use crate::record::Pause;
use hdrhistogram::Histogram;
use std::time::Duration;

/// 1 ns .. 100 s at 3 significant digits: covers a fast-path allocation and
/// the longest collection alike.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy the crate's preconditions
    // (low >= 1, high >= 2 * low, sigfig <= 5).
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

pub fn record(histogram: &mut Histogram<u64>, duration: Duration) {
    let ns = (duration.as_nanos() as u64).clamp(1, histogram.high());
    // In range after the clamp, so recording cannot fail.
    let _ = histogram.record(ns);
}

pub fn summarize(histogram: &Histogram<u64>) -> Pause {
    if histogram.is_empty() {
        return Pause {
            samples: 0,
            max_ns: 0,
            p99_ns: 0,
            p999_ns: 0,
            mean_ns: 0.0,
        };
    }
    Pause {
        samples: histogram.len(),
        max_ns: histogram.max(),
        p99_ns: histogram.value_at_quantile(0.99),
        p999_ns: histogram.value_at_quantile(0.999),
        mean_ns: histogram.mean(),
    }
}

/// Windows of the minimum mutator utilisation curve, in milliseconds.
pub const MMU_WINDOWS_MS: [f64; 10] =
    [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// Minimum mutator utilisation: for each window length, the smallest share of
/// any window of the run that was not spent in a pause. `pauses` are
/// `(start, length)` in seconds from the start of a run lasting `total`.
pub fn mmu(pauses: &[(f64, f64)], total: f64) -> Vec<(f64, f64)> {
    MMU_WINDOWS_MS
        .iter()
        .map(|&window_ms| {
            let window = window_ms / 1000.0;
            if total <= window {
                let paused: f64 = pauses.iter().map(|p| p.1).sum();
                return (
                    window_ms,
                    (1.0 - paused / total.max(window)).clamp(0.0, 1.0),
                );
            }
            // The worst window starts at a pause's start or ends at a pause's
            // end; trying both for every pause finds it.
            let mut worst: f64 = 1.0;
            for &(start, length) in pauses {
                for window_start in [start, start + length - window] {
                    let window_start = window_start.clamp(0.0, total - window);
                    let paused = paused_within(pauses, window_start, window_start + window);
                    worst = worst.min(1.0 - paused / window);
                }
            }
            (window_ms, worst.clamp(0.0, 1.0))
        })
        .collect()
}

fn paused_within(pauses: &[(f64, f64)], from: f64, to: f64) -> f64 {
    pauses
        .iter()
        .map(|&(start, length)| ((start + length).min(to) - start.max(from)).max(0.0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reports_max_and_percentiles() {
        let mut h = new_histogram();
        for ns in 1..=1000u64 {
            record(&mut h, Duration::from_nanos(ns));
        }
        let p = summarize(&h);
        assert_eq!(p.samples, 1000);
        assert_eq!(p.max_ns, 1000);
        assert!((985..=995).contains(&p.p99_ns), "{}", p.p99_ns);
    }

    #[test]
    fn mmu_of_one_pause_fills_the_short_window() {
        // A 20 ms pause in a 1 s run: the 10 ms window is entirely paused,
        // the 100 ms window 80% free.
        let curve = mmu(&[(0.5, 0.02)], 1.0);
        let at = |w: f64| curve.iter().find(|p| p.0 == w).expect("window measured").1;
        assert_eq!(at(10.0), 0.0);
        assert!((at(100.0) - 0.8).abs() < 1e-9, "{curve:?}");
        assert!((at(1000.0) - 0.98).abs() < 1e-9, "{curve:?}");
    }

    #[test]
    fn mmu_without_pauses_is_one() {
        assert!(mmu(&[], 2.0).iter().all(|&(_, u)| u == 1.0));
    }
}
