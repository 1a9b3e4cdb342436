//! Runner with the never-freeing bump allocator.
#[global_allocator]
static GLOBAL: strata_bench::bump::Bump = strata_bench::bump::Bump;

fn main() {
    strata_bench::runner::main("bump")
}
