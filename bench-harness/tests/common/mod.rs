//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs the built `strata-bench` with `args`. `CARGO` is removed so that
/// the binary does not try to rebuild its runners (cargo test built them).
pub fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata-bench"))
        .args(args)
        .env_remove("CARGO")
        .output()
        .expect("strata-bench runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
