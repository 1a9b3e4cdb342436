//! Runner with rpmalloc.
#[global_allocator]
static GLOBAL: rpmalloc::RpMalloc = rpmalloc::RpMalloc;

fn main() {
    strata_bench::runner::main("rpmalloc")
}
