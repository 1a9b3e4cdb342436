//! Runner with mimalloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    strata_bench::runner::main("mimalloc")
}
