//! Runner with snmalloc (cargo feature `snmalloc`, needs cmake).
#[global_allocator]
static GLOBAL: snmalloc_rs::SnMalloc = snmalloc_rs::SnMalloc;

fn main() {
    strata_bench::runner::main("snmalloc")
}
