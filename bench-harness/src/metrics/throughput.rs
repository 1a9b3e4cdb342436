//! Throughput: operations per second of the measured region.

use crate::record::Throughput;
use std::time::Duration;

pub fn throughput(ops: u64, elapsed: Duration) -> Throughput {
    let seconds = elapsed.as_secs_f64();
    Throughput {
        ops,
        seconds,
        ops_per_sec: if seconds > 0.0 {
            ops as f64 / seconds
        } else {
            0.0
        },
        cpu_seconds: None,
    }
}
