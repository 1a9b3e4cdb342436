//! The C test program (`tests/c/api.c`) on `libstrata.so`: every C and C++
//! allocation function with its edge cases, threads, fork; a C++ program
//! (`tests/c/cxx.cpp`) whose compiler-generated `new`/`delete` calls reach
//! strata; and debug mode stopping each kind of memory error with the right
//! message.

mod common;

use common::{assert_success, c_program, cxx_program, new_without_cxx_program, preloaded};
use std::os::unix::process::ExitStatusExt;

#[test]
fn c_api_behaves_as_c_requires_on_strata() {
    let output = preloaded(c_program())
        .env("STRATA_EXPECTED", "1")
        .output()
        .expect("run api");
    assert_success("api.c on strata", &output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("all checks passed"));
    // The program ends with malloc_stats(): strata's table on stderr.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("(strata)") && stderr.contains("Total resident"),
        "malloc_stats printed: {stderr}"
    );
}

#[test]
fn small_blocks_start_at_the_block_offset() {
    for (setting, expect) in [(None, "48"), (Some("0"), "0"), (Some("16"), "16")] {
        let mut command = preloaded(c_program());
        command
            .env("STRATA_EXPECTED", "1")
            .env("STRATA_EXPECT_OFFSET", expect)
            .env_remove("STRATA_BLOCK_OFFSET");
        if let Some(value) = setting {
            command.env("STRATA_BLOCK_OFFSET", value);
        }
        let output = command.output().expect("run api");
        assert_success(&format!("api.c, STRATA_BLOCK_OFFSET={setting:?}"), &output);
    }
}

#[test]
fn c_api_behaves_as_c_requires_in_debug_mode() {
    let output = preloaded(c_program())
        .env("STRATA_EXPECTED", "1")
        .env("STRATA_DEBUG", "1")
        .output()
        .expect("run api");
    assert_success("api.c on strata in debug mode", &output);
}

#[test]
fn cxx_program_runs_on_strata_plain_and_in_debug_mode() {
    let Some(program) = cxx_program() else {
        return;
    };
    for debug in ["0", "1"] {
        let output = preloaded(&program)
            .env("STRATA_DEBUG", debug)
            .output()
            .expect("run cxx");
        assert_success(&format!("cxx.cpp with STRATA_DEBUG={debug}"), &output);
        assert!(String::from_utf8_lossy(&output.stdout).contains("all checks passed"));
    }
}

#[test]
fn array_new_released_with_delete_is_reported() {
    let Some(program) = cxx_program() else {
        return;
    };
    let report = report_of(&program, "array-delete");
    assert_report(
        &report,
        &[
            "mismatched free of",
            "block of 40 bytes",
            "allocated with new[], freed with delete",
        ],
    );
}

/// Runs `new_without_cxx.c` in `mode`; returns its output.
fn new_without_cxx(mode: &str) -> std::process::Output {
    preloaded(new_without_cxx_program())
        .arg(mode)
        .output()
        .expect("run new_without_cxx")
}

#[test]
fn operator_new_without_a_cxx_runtime_reports_and_aborts() {
    let output = new_without_cxx("");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("small block at 0x"), "stdout: {stdout}");
    assert!(
        !stdout.contains("returned"),
        "operator new returned: {stdout}"
    );
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGABRT),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("strata: out of memory in operator new (4611686018427387903 bytes)"),
        "stderr: {stderr}"
    );
}

#[test]
fn operator_new_finds_a_cxx_runtime_loaded_later() {
    // The new-handler installed through a libstdc++ loaded with
    // dlopen(RTLD_LOCAL) is called.
    let output = new_without_cxx("dlopen-handler");
    assert_success("new_without_cxx dlopen-handler", &output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("new-handler called"));
    // Without a handler, std::bad_alloc is thrown; no C++ frame catches it
    // here, so libstdc++ ends the process naming the exception.
    let output = new_without_cxx("dlopen-throw");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("small block at 0x"), "stdout: {stdout}");
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGABRT),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("std::bad_alloc"), "stderr: {stderr}");
    assert!(!stderr.contains("strata:"), "stderr: {stderr}");
}

/// Runs one memory error of the C program under debug mode; returns its
/// report line.
fn memory_error_report(mode: &str) -> String {
    report_of(&c_program(), mode)
}

fn report_of(program: &std::path::Path, mode: &str) -> String {
    let output = preloaded(program)
        .arg(mode)
        .env("STRATA_DEBUG", "1")
        .output()
        .expect("run api");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGABRT),
        "{mode}: the process must abort; status {}, stdout {}, stderr {stderr}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("strata: "))
        .collect();
    assert_eq!(lines.len(), 1, "{mode}: one report line: {stderr}");
    lines[0].to_owned()
}

fn assert_report(report: &str, parts: &[&str]) {
    for part in parts {
        assert!(report.contains(part), "`{report}` lacks `{part}`");
    }
    assert!(report.contains("0x"), "`{report}` names the address");
}

#[test]
fn overflow_is_reported_with_the_guard_bytes() {
    let report = memory_error_report("overflow");
    assert_report(
        &report,
        &[
            "buffer overflow after",
            "block of 24 bytes",
            "read 41 42 fd",
        ],
    );
}

#[test]
fn underflow_is_reported_with_the_guard_bytes() {
    let report = memory_error_report("underflow");
    assert_report(
        &report,
        &["buffer underflow before", "block of 24 bytes", "fd fd 41"],
    );
}

#[test]
fn double_free_is_reported() {
    let report = memory_error_report("double-free");
    assert_report(&report, &["double free of", "block of 40 bytes"]);
}

#[test]
fn free_of_a_stack_pointer_is_reported() {
    let report = memory_error_report("stack-free");
    assert_report(&report, &["free of 0x", "a pointer strata never returned"]);
}

#[test]
fn new_freed_with_free_is_reported() {
    let report = memory_error_report("new-free");
    assert_report(
        &report,
        &[
            "mismatched free of",
            "block of 32 bytes",
            "allocated with new, freed with free",
        ],
    );
}

#[test]
fn write_after_free_is_reported_when_the_block_leaves_quarantine() {
    let report = memory_error_report("write-after-free");
    assert_report(
        &report,
        &[
            "write after free to",
            "block of 48 bytes",
            "byte 5 reads 58",
        ],
    );
}

#[test]
fn memory_errors_go_unnoticed_without_debug_mode_except_foreign_frees() {
    // Without debug mode the overflow corrupts nothing strata checks (the
    // block has slack), so the program runs on: debug mode is what catches it.
    let output = preloaded(c_program())
        .arg("overflow")
        .output()
        .expect("run api");
    assert_success("overflow without debug mode", &output);
    // A pointer that is not strata's is always refused.
    let output = preloaded(c_program())
        .arg("stack-free")
        .output()
        .expect("run api");
    assert_eq!(output.status.signal(), Some(libc::SIGABRT));
    assert!(String::from_utf8_lossy(&output.stderr).contains("a pointer strata never returned"));
    // So is a pointer into an arena's header, which free's fast path lets
    // through to the check on its slow path.
    let output = preloaded(c_program())
        .arg("header-free")
        .output()
        .expect("run api");
    assert_eq!(output.status.signal(), Some(libc::SIGABRT));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("free of 0x7") && stderr.contains("00000, a pointer strata never"),
        "{stderr}"
    );
    // realloc finds a block's pool with the same one lookup, and refuses
    // both kinds of pointer too, naming itself.
    for (mode, address) in [
        ("stack-realloc", "realloc of 0x7"),
        ("header-realloc", "00000, a pointer strata never"),
    ] {
        let output = preloaded(c_program()).arg(mode).output().expect("run api");
        assert_eq!(output.status.signal(), Some(libc::SIGABRT), "{mode}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("realloc of 0x")
                && stderr.contains(address)
                && stderr.contains("a pointer strata never returned"),
            "{mode}: {stderr}"
        );
    }
}
