//! The parent side of a run: making sure the runner binaries exist, then
//! starting one child per (workload, peer, repetition) and reading its
//! record from its standard output.

use crate::peers::{self, AllocatorPeer};
use crate::record::Record;
use crate::runner::RunnerArgs;
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// `cargo run` builds only the binary it runs. When started by cargo (which
/// sets `CARGO`) and a runner is missing or older than this executable, the
/// runners are built with the same profile and features.
pub fn ensure_runners() -> Result<(), String> {
    let Ok(cargo) = std::env::var("CARGO") else {
        return Ok(());
    };
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let own_time = modified(&exe).unwrap_or(SystemTime::UNIX_EPOCH);
    let stale = peers::built_allocators().any(|peer| {
        peers::runner_path(peer)
            .ok()
            .and_then(|p| modified(&p))
            .filter(|t| *t >= own_time)
            .is_none()
    });
    if !stale {
        return Ok(());
    }
    let profile = exe
        .parent()
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str())
        .map(|n| if n == "debug" { "dev" } else { n })
        .unwrap_or("release")
        .to_string();
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--quiet",
        "--profile",
        &profile,
        "-p",
        "strata-bench",
        "--bins",
    ]);
    let features: Vec<&str> = [("snmalloc", cfg!(feature = "snmalloc"))]
        .iter()
        .filter_map(|&(name, on)| on.then_some(name))
        .collect();
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    eprintln!("building the runner binaries ({profile} profile)...");
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building the runner binaries failed ({status})"))
    }
}

/// How a child is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Natively, timed.
    Native,
    /// Under `valgrind --tool=callgrind`, counting instructions of the
    /// measured region only.
    Callgrind,
}

/// Runs one child and returns its record.
pub fn run_child(
    allocator: &AllocatorPeer,
    args: &RunnerArgs,
    mode: Mode,
) -> Result<Record, String> {
    let runner = peers::runner_path(allocator)?;
    if !runner.exists() {
        return Err(format!(
            "runner for {} not found at {} (build it: cargo build --release -p strata-bench --bins)",
            allocator.name,
            runner.display()
        ));
    }
    let mut command = match mode {
        Mode::Native => Command::new(&runner),
        Mode::Callgrind => {
            let mut c = Command::new("valgrind");
            c.args([
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                "--collect-atstart=no",
                "--toggle-collect=*measured_region*",
            ])
            .arg(&runner);
            c
        }
    };
    command.args(args.to_args()).stdin(Stdio::null());
    let output = command.output().map_err(|e| match mode {
        Mode::Callgrind => {
            format!("cannot run valgrind ({e}): install it (apt-get install -y valgrind)")
        }
        Mode::Native => format!("cannot run {}: {e}", runner.display()),
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(format!(
            "{} on {} failed ({}): {last}",
            args.workload, allocator.name, output.status
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    let mut record: Record = serde_json::from_str(line).map_err(|e| {
        format!(
            "{} on {}: unreadable record ({e})",
            args.workload, allocator.name
        )
    })?;
    if mode == Mode::Callgrind {
        record.instructions = Some(
            parse_instructions(&stderr)
                .ok_or_else(|| "callgrind printed no instruction count".to_string())?,
        );
    }
    Ok(record)
}

/// The `Collected : N` line callgrind prints at exit.
pub fn parse_instructions(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|line| {
        let rest = line.split("Collected :").nth(1)?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_count_is_read_from_callgrind_output() {
        let stderr = "==12== Events    : Ir\n==12== Collected : 123456\n==12==\n";
        assert_eq!(parse_instructions(stderr), Some(123456));
        assert_eq!(parse_instructions("nothing here"), None);
    }
}
