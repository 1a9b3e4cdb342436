//! Runner with the C library's malloc (`std::alloc::System`).
#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

fn main() {
    strata_bench::runner::main("system")
}
