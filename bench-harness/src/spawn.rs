//! The parent side of a run: making sure the runner binaries exist, then
//! starting one child per (workload, peer, repetition) and reading its
//! record from its standard output.

use crate::cpython;
use crate::peers::{self, AllocatorPeer};
use crate::record::Record;
use crate::runner::RunnerArgs;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// `cargo run` builds only the binary it runs. When started by cargo (which
/// sets `CARGO`) and a runner is missing or older than this executable, the
/// runners are built with the same profile and features.
pub fn ensure_runners() -> Result<(), String> {
    let Some(cargo) = Cargo::calling()? else {
        return Ok(());
    };
    let stale = peers::built_allocators().any(|peer| {
        peers::runner_path(peer)
            .map(|p| cargo.is_stale(&p))
            .unwrap_or(true)
    });
    if !stale {
        return Ok(());
    }
    let features: Vec<&str> = [("snmalloc", cfg!(feature = "snmalloc"))]
        .iter()
        .filter_map(|&(name, on)| on.then_some(name))
        .collect();
    let mut args = vec!["-p", "strata-bench", "--bins"];
    let features = features.join(",");
    if !features.is_empty() {
        args.extend(["--features", &features]);
    }
    cargo.build("the runner binaries", &args)
}

/// `libstrata.so`, which the `cpython` workload preloads, is the cdylib of
/// another package (`strata-capi`) that `cargo run -p strata-bench` does not
/// build. When started by cargo, this builds it with the same profile into
/// the same directory; cargo itself decides whether anything changed, since
/// the library need not be rebuilt when only the harness was. Nothing to do
/// when [`cpython::STRATA_LIBRARY_VAR`] names a library.
pub fn ensure_strata_library() -> Result<(), String> {
    if std::env::var_os(cpython::STRATA_LIBRARY_VAR).is_some() {
        return Ok(());
    }
    let Some(cargo) = Cargo::calling()? else {
        return Ok(());
    };
    let library = cpython::strata_library()?;
    // Older than this executable: perhaps stale, perhaps untouched by a
    // change to the harness alone. Only cargo knows, so the line says no more.
    if cargo.is_stale(&library) {
        eprintln!(
            "bringing libstrata.so up to date ({} profile)...",
            cargo.profile
        );
    }
    cargo.build_quietly("libstrata.so", &["-p", "strata-capi"])
}

/// The cargo that started this executable, and its profile.
struct Cargo {
    program: std::ffi::OsString,
    profile: String,
    built: SystemTime,
}

impl Cargo {
    /// `None` when not started by cargo (which sets `CARGO`).
    fn calling() -> Result<Option<Cargo>, String> {
        let Some(program) = std::env::var_os("CARGO") else {
            return Ok(None);
        };
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
        let profile = exe
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|n| n.to_str())
            .map(|n| if n == "debug" { "dev" } else { n })
            .unwrap_or("release")
            .to_string();
        Ok(Some(Cargo {
            program,
            profile,
            built: modified(&exe).unwrap_or(SystemTime::UNIX_EPOCH),
        }))
    }

    /// Whether `path` is missing or older than this executable.
    fn is_stale(&self, path: &Path) -> bool {
        modified(path).is_none_or(|t| t < self.built)
    }

    /// `cargo build` with this profile, saying first what it builds.
    fn build(&self, what: &str, args: &[&str]) -> Result<(), String> {
        eprintln!("building {what} ({} profile)...", self.profile);
        self.build_quietly(what, args)
    }

    fn build_quietly(&self, what: &str, args: &[&str]) -> Result<(), String> {
        let status = Command::new(&self.program)
            .args(["build", "--quiet", "--profile", &self.profile])
            .args(args)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("building {what} failed ({status})"))
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// How a child is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Natively, timed.
    Native,
    /// Under `valgrind --tool=callgrind`, counting the instructions executed
    /// inside the global allocator only.
    Callgrind,
}

/// The functions every global allocator call goes through (the shims the
/// compiler generates for `#[global_allocator]`). Callgrind counts only
/// inside them, so that the counts measure the allocator, not the workload's
/// own code, whose inlining shifts with any change to this crate.
pub const ALLOCATOR_ENTRY_POINTS: [&str; 4] = [
    "__rust_alloc",
    "__rust_dealloc",
    "__rust_realloc",
    "__rust_alloc_zeroed",
];

/// Settings of every child counted under callgrind. Strata gives free pages
/// back after a delay measured in milliseconds, and callgrind's slowdown
/// differs from one machine to the next, so with the default delay a run
/// purges (and later refills) a different number of pools on each machine,
/// and its count moves by a few percent. With purging deferred past the end
/// of the run the counts are the same on every machine; the native suite
/// still measures purging.
pub const CALLGRIND_ENV: [(&str, &str); 1] = [("STRATA_PURGE_DELAY_MS", "3600000")];

/// The command that runs `runner` under callgrind, counting only inside
/// [`ALLOCATOR_ENTRY_POINTS`], with [`CALLGRIND_ENV`] set; the runner's
/// arguments follow.
pub fn callgrind_command(runner: &Path) -> Command {
    let mut c = Command::new("valgrind");
    c.args([
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        "--collect-atstart=no",
    ])
    .args(ALLOCATOR_ENTRY_POINTS.map(|f| format!("--toggle-collect=*{f}")))
    .envs(CALLGRIND_ENV)
    .arg(runner);
    c
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
        Mode::Callgrind => callgrind_command(&runner),
    };
    command.args(args.to_args()).stdin(Stdio::null());
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match mode {
            Mode::Callgrind => {
                format!("cannot run valgrind ({e}): install it (apt-get install -y valgrind)")
            }
            Mode::Native => format!("cannot run {}: {e}", runner.display()),
        })?;
    let output = wait_with_timeout(child, CHILD_TIMEOUT)
        .map_err(|e| format!("{} on {}: {e}", args.workload, allocator.name))?;
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

/// Longest a child may run: ten times the slowest run of the default suite
/// seen here, so that a hung child (a deadlock in an allocator under test)
/// fails its run instead of the whole suite.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Collects a child's output, killing it if it outlives `limit`.
pub(crate) fn wait_with_timeout(mut child: Child, limit: Duration) -> Result<Output, String> {
    // Reading both pipes on their own threads keeps a child that fills one
    // of them from blocking while we wait.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child
            .try_wait()
            .map_err(|e| format!("cannot wait for the child: {e}"))?
        {
            Some(status) => break status,
            None if start.elapsed() > limit => {
                // The child may exit between the check and the kill; either
                // way it is gone afterwards.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("killed after {} s", limit.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let join = |h: std::thread::JoinHandle<Vec<u8>>| h.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout: join(stdout),
        stderr: join(stderr),
    })
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
    #[cfg(unix)]
    fn a_child_that_outlives_its_limit_is_killed() {
        let child = Command::new("sleep").arg("10").spawn().unwrap();
        let start = Instant::now();
        let error = wait_with_timeout(child, Duration::from_millis(100)).unwrap_err();
        assert!(error.contains("killed"), "{error}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    #[cfg(unix)]
    fn a_child_within_its_limit_gives_its_output() {
        let child = Command::new("echo")
            .arg("hi")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let output = wait_with_timeout(child, Duration::from_secs(10)).unwrap();
        assert!(output.status.success());
        assert_eq!(output.stdout, b"hi\n");
    }

    #[test]
    fn instruction_count_is_read_from_callgrind_output() {
        let stderr = "==12== Events    : Ir\n==12== Collected : 123456\n==12==\n";
        assert_eq!(parse_instructions(stderr), Some(123456));
        assert_eq!(parse_instructions("nothing here"), None);
    }
}
