//! Whether a program a test needs is installed. Shared like `library.rs`:
//! strata-capi's tests use it as `common/tools.rs`, strata-bench's include
//! this file by path.

use std::process::Command;

/// Whether `tool` runs (`tool --version`); prints why a test is skipped.
pub fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: `{tool}` is not installed");
    }
    found
}
