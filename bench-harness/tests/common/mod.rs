//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

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

/// Whether `python3` runs; the `cpython` tests are skipped, saying so,
/// where it does not.
pub fn have_python() -> bool {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: python3 is not installed");
    }
    found
}

/// `libstrata.so` for the `cpython` tests. Cargo does not build another
/// package's cdylib for these tests, and the outer `cargo test` locks its
/// target directory, so this runs `cargo build -p strata-capi` (same
/// profile) into a target directory of its own.
pub fn strata_library() -> PathBuf {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            let release = exe
                .ancestors()
                .any(|dir| dir.file_name().is_some_and(|name| name == "release"));
            let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libstrata-build");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut command = Command::new(cargo);
            command
                .args(["build", "--quiet", "-p", "strata-capi", "--target-dir"])
                .arg(&target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            if release {
                command.arg("--release");
            }
            let status = command.status().expect("run cargo build");
            assert!(status.success(), "cargo build -p strata-capi failed");
            let library = target_dir
                .join(if release { "release" } else { "debug" })
                .join("libstrata.so");
            assert!(library.exists(), "{} is missing", library.display());
            library
        })
        .clone()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
