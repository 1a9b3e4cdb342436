//! Building `libstrata.so` for integration tests. Shared: strata-capi's
//! tests use it as `common/library.rs`, strata-bench's include this file by
//! path, so both build the library the same way.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `libstrata.so`, built for these tests: cargo does not build a
/// cdylib-only crate's library for its integration tests, so the first test
/// that needs it runs `cargo build -p strata-capi` (same profile) into a
/// target directory of its own, which the outer `cargo test` does not lock.
pub fn library() -> PathBuf {
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
