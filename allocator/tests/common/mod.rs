//! Helpers shared by the integration tests (each test file that needs one
//! declares `mod common;`).

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::alloc::Layout;

/// The whole process's resident memory in bytes, from `/proc/self/statm`.
pub fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A 16-aligned layout of `size` bytes.
pub fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 16).unwrap()
}

/// Writes a pattern, keyed by `seed`, over the `len` bytes at `p`.
pub fn fill(p: *mut u8, len: usize, seed: u8) {
    for i in 0..len {
        // SAFETY: the caller's block holds `len` bytes.
        unsafe { *p.add(i) = (i % 251) as u8 ^ seed };
    }
}

/// Whether the `len` bytes at `p` still hold `fill`'s pattern for `seed`.
pub fn holds(p: *mut u8, len: usize, seed: u8) -> bool {
    // SAFETY: the caller's block holds `len` bytes.
    (0..len).all(|i| unsafe { *p.add(i) } == (i % 251) as u8 ^ seed)
}
