//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `strata-bench` with `args`. `CARGO` is removed so that
/// the binary does not try to rebuild its runners (cargo test built them).
pub fn bench(args: &[&str]) -> Output {
    bench_with_env(args, &[])
}

/// [`bench`] with environment variables set.
pub fn bench_with_env(args: &[&str], vars: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata-bench"));
    command.args(args).env_remove("CARGO");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().expect("strata-bench runs")
}

/// `libstrata.so` for the `cpython` tests, built the way strata-capi's
/// tests build it (into a target directory of this test run, since the outer
/// `cargo test` locks its own).
#[path = "../../../allocator/capi/tests/common/library.rs"]
mod library;
#[allow(unused_imports)] // only the smoke tests run CPython
pub use library::library as strata_library;
#[path = "../../../allocator/capi/tests/common/tools.rs"]
mod tools;
#[allow(unused_imports)] // the smoke and ci_counts tests check for tools
pub use tools::have;

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
