//! Shared by the integration tests: finding `libstrata.so`, compiling the C
//! test program, and running programs with the library preloaded.

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod library;
pub use library::library;
mod tools;
pub use tools::have;

/// A scratch directory of this test run (removed and recreated).
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("strata-capi-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The C test program, compiled once per test binary with the system `cc`.
/// `-O0 -fno-builtin` keeps the compiler from removing the deliberate
/// memory errors (stores to a block it knows is freed).
pub fn c_program() -> PathBuf {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            compile(
                "cc",
                "api.c",
                &[
                    "-fno-builtin",
                    "-Wno-free-nonheap-object",
                    "-Wno-use-after-free",
                ],
                // libstdc++ supplies the C++ operators when strata is not
                // preloaded, so the program also runs on its own.
                &["-pthread", "-ldl", "-Wl,--no-as-needed", "-lstdc++"],
            )
        })
        .clone()
}

/// The C++ test program, compiled with the system `c++`; `None` (after
/// saying so) when there is no C++ compiler.
pub fn cxx_program() -> Option<PathBuf> {
    static PROGRAM: OnceLock<Option<PathBuf>> = OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            have("c++").then(|| {
                compile(
                    "c++",
                    "cxx.cpp",
                    &["-std=c++17", "-Wno-mismatched-new-delete"],
                    &["-pthread"],
                )
            })
        })
        .clone()
}

/// A C program that calls `operator new` with no C++ runtime loaded.
pub fn new_without_cxx_program() -> PathBuf {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM
        .get_or_init(|| compile("cc", "new_without_cxx.c", &[], &["-ldl"]))
        .clone()
}

fn compile(compiler: &str, source: &str, flags: &[&str], libraries: &[&str]) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(source);
    let name = source
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("program");
    let out = scratch(&format!("{compiler}-{name}")).join("program");
    let status = Command::new(compiler)
        .args(["-O0", "-g", "-Wall", "-o"])
        .arg(&out)
        .args(flags)
        .arg(&source)
        .args(libraries)
        .status()
        .unwrap_or_else(|e| panic!("the system compiler `{compiler}` runs: {e}"));
    assert!(status.success(), "compiling {}", source.display());
    out
}

/// A command for `program` with strata preloaded.
pub fn preloaded(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .env("LD_PRELOAD", library())
        .env_remove("STRATA_DEBUG");
    command
}

/// Panics with the program's output unless it exited with status 0.
pub fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
