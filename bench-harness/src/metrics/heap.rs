//! Heap efficiency: resident memory of this process against the bytes the
//! workload held live.

use crate::record::Heap;

/// Reads a `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in bytes.
/// Returns 0 where the file does not exist (not Linux).
pub fn status_bytes(field: &str) -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub fn current_rss() -> u64 {
    status_bytes("VmRSS")
}

pub fn peak_rss() -> u64 {
    status_bytes("VmHWM")
}

pub fn heap(
    start_rss: u64,
    peak_rss: u64,
    final_rss: u64,
    live_bytes: u64,
    live_objects: u64,
) -> Heap {
    let grown = peak_rss.saturating_sub(start_rss) as f64;
    Heap {
        start_rss: Some(start_rss),
        peak_rss,
        final_rss: Some(final_rss),
        peak_live_bytes: Some(live_bytes),
        peak_live_objects: Some(live_objects),
        // Without live bytes there is nothing to divide by: no figure.
        rss_per_live_byte: (live_bytes > 0).then(|| grown / live_bytes as f64),
        overhead_bytes_per_object: (live_objects > 0)
            .then(|| (grown - live_bytes as f64) / live_objects as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn rss_grows_when_memory_is_touched() {
        let before = current_rss();
        // black_box: in a release build an allocation nothing reads is
        // removed altogether, and the RSS would not move.
        let block = std::hint::black_box(vec![1u8; 64 << 20]);
        let during = current_rss();
        assert!(during >= before + (48 << 20), "{before} -> {during}");
        assert!(peak_rss() >= during);
        drop(block);
    }

    #[test]
    fn overhead_is_growth_beyond_live_bytes_per_object() {
        let h = heap(1000, 3000, 1200, 1000, 10);
        assert_eq!(h.rss_per_live_byte, Some(2.0));
        assert_eq!(h.overhead_bytes_per_object, Some(100.0));
        assert_eq!(heap(1000, 3000, 1200, 0, 0).rss_per_live_byte, None);
    }
}
