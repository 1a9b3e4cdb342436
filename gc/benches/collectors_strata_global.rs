//! The collector benchmarks with strata as the global allocator, so that
//! `Rc` and every peer allocate from the same allocator as strata-gc. See
//! `workloads/mod.rs`.
//!
//! `cargo bench -p strata-gc --bench collectors_strata_global -- --warm-up-time 1 --measurement-time 3`

mod workloads;

#[global_allocator]
static GLOBAL: strata::Strata = strata::Strata;

fn main() {
    workloads::run("_strata_global");
}
