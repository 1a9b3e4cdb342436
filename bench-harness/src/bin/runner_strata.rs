//! Runner with strata, this workspace's allocator.
#[global_allocator]
static GLOBAL: strata::Strata = strata::Strata;

fn main() {
    strata_bench::runner::main("strata")
}
