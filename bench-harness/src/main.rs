//! `strata-bench`: see the crate documentation and README.

fn main() {
    std::process::exit(strata_bench::cli::main_with(std::env::args().collect()))
}
