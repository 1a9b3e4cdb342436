//! Allocator workloads: plain functions over [`Params`] and a [`Probe`], one
//! file each. Sizes are scaled by `--scale`; `1.0` is the default suite's
//! size (a few tenths of a second each with glibc on a 2-core machine).

pub mod block;
mod buffers;
mod cpython_mix;
mod fragmentation;
mod large_churn;
mod larson;
mod mixed_sizes;
mod realloc_grow;
mod small_churn;
mod tree;
mod xthread;

use crate::metrics::Probe;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// What a run is asked to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub scale: f64,
    pub threads: usize,
    pub seed: u64,
}

impl Params {
    /// `base` scaled, at least 1.
    pub fn count(&self, base: u64) -> u64 {
        ((base as f64 * self.scale).round() as u64).max(1)
    }

    pub fn rng(&self, stream: u64) -> SmallRng {
        SmallRng::seed_from_u64(self.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

/// An allocator workload.
pub struct Workload {
    pub name: &'static str,
    pub about: &'static str,
    /// Whether `--threads` changes it.
    pub threaded: bool,
    /// Whether a never-freeing allocator (`bump`) can run it: false when the
    /// bytes it allocates in total, never reused, would exceed the machine.
    pub never_free_fits: bool,
    pub run: fn(&Params, &mut Probe),
}

pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "small-churn",
        about: "live window of 10,000 blocks; replace a random one with a random size 8-512 B",
        never_free_fits: true,
        threaded: false,
        run: small_churn::run,
    },
    Workload {
        name: "tree",
        about: "binary trees of depth 14 built and dropped next to a long-lived one",
        never_free_fits: true,
        threaded: false,
        run: tree::run,
    },
    Workload {
        name: "mixed-sizes",
        about: "live window of 2,000 blocks of log-uniform sizes 8 B-64 KiB",
        never_free_fits: false,
        threaded: false,
        run: mixed_sizes::run,
    },
    Workload {
        name: "xthread",
        about: "producers allocate, consumers on other threads free",
        never_free_fits: true,
        threaded: true,
        run: xthread::run,
    },
    Workload {
        name: "larson",
        about: "server-like: threads replace blocks in windows handed from thread to thread",
        never_free_fits: true,
        threaded: true,
        run: larson::run,
    },
    Workload {
        name: "realloc-grow",
        about: "100 buffers grown by realloc in turn from 8 B to 8-256 KiB",
        never_free_fits: false,
        threaded: false,
        run: realloc_grow::run,
    },
    Workload {
        name: "list-grow",
        about: "100 buffers grown by realloc in turn like CPython lists (an eighth more) to 8 KiB-1 MiB",
        never_free_fits: false,
        threaded: false,
        run: realloc_grow::run_list,
    },
    Workload {
        name: "fragmentation",
        about: "1M 64-byte blocks, free every other one, then allocate 1M 128-byte blocks",
        never_free_fits: true,
        threaded: false,
        run: fragmentation::run,
    },
    Workload {
        name: "cpython-mix",
        about: "interpreter-like: small objects 16-512 B, lists grown by realloc, dicts resized",
        never_free_fits: true,
        threaded: false,
        run: cpython_mix::run,
    },
    Workload {
        name: "buffers",
        about: "a round of small objects dies, then buffers of 128 KiB-1 MiB are built and freed",
        never_free_fits: false,
        threaded: false,
        run: buffers::run,
    },
    Workload {
        name: "large-churn",
        about: "blocks of 5-25 MiB allocated, touched and freed in a loop, 4 live",
        never_free_fits: false,
        threaded: false,
        run: large_churn::run,
    },
];

pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// A size drawn log-uniformly from `[low, high]`: as many blocks of 8-16 B as
/// of 32-64 KiB, the shape of real allocation size histograms.
pub fn log_uniform(rng: &mut SmallRng, low: usize, high: usize) -> usize {
    let (l, h) = ((low as f64).ln(), (high as f64).ln());
    (rng.gen_range(l..=h).exp() as usize).clamp(low, high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::LiveTotals;
    use std::sync::Arc;

    #[test]
    fn every_workload_runs_at_a_tiny_scale_and_frees_everything() {
        for workload in WORKLOADS {
            let totals = Arc::new(LiveTotals::default());
            let mut probe = Probe::new(Arc::clone(&totals));
            let params = Params {
                scale: 0.002,
                threads: 2,
                seed: 7,
            };
            (workload.run)(&params, &mut probe);
            probe.flush();
            assert!(probe.ops() > 0, "{} did nothing", workload.name);
            assert!(
                totals.peak_bytes() > 0,
                "{} allocated nothing",
                workload.name
            );
            assert_eq!(totals.live_bytes(), 0, "{} leaked", workload.name);
        }
    }

    #[test]
    fn log_uniform_stays_in_range_and_favours_small_sizes() {
        let mut rng = Params {
            scale: 1.0,
            threads: 1,
            seed: 1,
        }
        .rng(0);
        let sizes: Vec<usize> = (0..10_000)
            .map(|_| log_uniform(&mut rng, 8, 65536))
            .collect();
        assert!(sizes.iter().all(|&s| (8..=65536).contains(&s)));
        let small = sizes.iter().filter(|&&s| s <= 724).count();
        // Half the log range lies below sqrt(8 * 65536) = 724.
        assert!((4500..5500).contains(&small), "{small}");
    }
}
