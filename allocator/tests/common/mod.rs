//! Helpers shared by the integration tests (each test file that needs one
//! declares `mod common;`).

/// The whole process's resident memory in bytes, from `/proc/self/statm`.
pub fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}
