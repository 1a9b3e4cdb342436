//! The collector benchmarks with the system allocator as the global
//! allocator: strata-gc's objects come from strata, everything else (peers,
//! `Rc`) from the system's malloc. See `workloads/mod.rs`.
//!
//! `cargo bench -p strata-gc --bench collectors -- --warm-up-time 1 --measurement-time 3`

mod workloads;

fn main() {
    workloads::run("");
}
