//! The allocators CPython runs on, and finding their shared libraries.
//!
//! CPython takes its memory from pymalloc unless `PYTHONMALLOC=malloc`
//! sends every request to `malloc`, which `LD_PRELOAD` then replaces. The C
//! libraries are Debian's packages, found where the dynamic linker finds
//! them; a peer whose library is missing is skipped, with one line saying
//! so, rather than failing the run.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a peer's `malloc` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malloc {
    /// CPython's own small-object allocator (`PYTHONMALLOC` unset).
    Pymalloc,
    /// `PYTHONMALLOC=malloc` on the C library's `malloc`, nothing preloaded.
    CLibrary,
    /// `PYTHONMALLOC=malloc` with a system library preloaded.
    Preloaded {
        soname: &'static str,
        /// The Debian package that installs it.
        package: &'static str,
    },
    /// `PYTHONMALLOC=malloc` with this workspace's `libstrata.so` preloaded.
    Strata,
}

#[derive(Debug)]
pub struct PythonPeer {
    pub name: &'static str,
    pub about: &'static str,
    pub malloc: Malloc,
}

/// The ratios of the `cpython` workload are taken against CPython's own
/// allocator unless `--baseline` names another.
pub const BASELINE: &str = "pymalloc";

pub const PEERS: &[PythonPeer] = &[
    PythonPeer {
        name: "pymalloc",
        about: "CPython's own allocator (cpython workload only; its baseline)",
        malloc: Malloc::Pymalloc,
    },
    PythonPeer {
        name: "system",
        about: "PYTHONMALLOC=malloc on glibc's malloc",
        malloc: Malloc::CLibrary,
    },
    PythonPeer {
        name: "mimalloc",
        about: "PYTHONMALLOC=malloc, LD_PRELOAD=libmimalloc.so.2",
        malloc: Malloc::Preloaded {
            soname: "libmimalloc.so.2",
            package: "libmimalloc2.0",
        },
    },
    PythonPeer {
        name: "jemalloc",
        about: "PYTHONMALLOC=malloc, LD_PRELOAD=libjemalloc.so.2",
        malloc: Malloc::Preloaded {
            soname: "libjemalloc.so.2",
            package: "libjemalloc2",
        },
    },
    PythonPeer {
        name: "strata",
        about: "PYTHONMALLOC=malloc, LD_PRELOAD=libstrata.so (strata-capi, same profile)",
        malloc: Malloc::Strata,
    },
];

pub fn find(name: &str) -> Option<&'static PythonPeer> {
    PEERS.iter().find(|p| p.name == name)
}

/// A peer ready to run: the interpreter and what to preload into it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub peer: &'static PythonPeer,
    pub python: PathBuf,
    pub preload: Option<PathBuf>,
}

/// The real interpreter behind `python3` on `PATH`: a version manager's
/// shim is a script, and preloading an allocator into the shell that runs
/// it would measure the shell too.
pub fn interpreter() -> Result<PathBuf, String> {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .map_err(|e| format!("python3 not found on PATH ({e})"))?;
    let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || path.is_empty() {
        return Err("python3 on PATH does not name its executable".into());
    }
    Ok(PathBuf::from(path))
}

/// Environment variable naming the `libstrata.so` the strata peer preloads,
/// instead of the one built next to this executable.
pub const STRATA_LIBRARY_VAR: &str = "STRATA_BENCH_LIBSTRATA";

/// The `libstrata.so` the strata peer preloads: the one cargo builds next to
/// this executable (same target directory and profile), unless
/// [`STRATA_LIBRARY_VAR`] names another.
pub fn strata_library() -> Result<PathBuf, String> {
    match std::env::var_os(STRATA_LIBRARY_VAR) {
        Some(path) => Ok(PathBuf::from(path)),
        None => Ok(crate::peers::runner_dir()?.join("libstrata.so")),
    }
}

/// The library a peer preloads; `Err` says why it cannot run here.
pub fn library(malloc: Malloc) -> Result<Option<PathBuf>, String> {
    match malloc {
        Malloc::Pymalloc | Malloc::CLibrary => Ok(None),
        Malloc::Preloaded { soname, package } => find_system_library(soname)
            .map(Some)
            .ok_or_else(|| format!("{soname} not found (apt-get install {package})")),
        Malloc::Strata => {
            let path = strata_library()?;
            if path.is_file() {
                Ok(Some(path))
            } else {
                Err(format!(
                    "{} not found (build it: cargo build --release -p strata-capi)",
                    path.display()
                ))
            }
        }
    }
}

/// Where the dynamic linker finds `soname`: `ldconfig -p`, else Debian's
/// multiarch library directories.
pub fn find_system_library(soname: &str) -> Option<PathBuf> {
    let listing = ["ldconfig", "/sbin/ldconfig"]
        .iter()
        .find_map(|ldconfig| Command::new(ldconfig).arg("-p").output().ok())
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let arch_dir = format!("{}-linux-gnu", std::env::consts::ARCH);
    ldconfig_entries(&listing, soname)
        .into_iter()
        // The cache may also list another architecture's copy, which the
        // loader would refuse to preload.
        .filter(|path| path.is_file())
        .min_by_key(|path| !path.to_string_lossy().contains(&arch_dir))
        .or_else(|| {
            ["/usr/lib", "/lib"]
                .iter()
                .map(|dir| Path::new(dir).join(&arch_dir).join(soname))
                .find(|path| path.is_file())
        })
}

/// The paths `ldconfig -p` lists for `soname`, from lines like
/// `libjemalloc.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/libjemalloc.so.2`.
fn ldconfig_entries(listing: &str, soname: &str) -> Vec<PathBuf> {
    listing
        .lines()
        .filter_map(|line| {
            let (name, path) = line.trim().split_once(" => ")?;
            (name.split_whitespace().next()? == soname).then(|| PathBuf::from(path.trim()))
        })
        .collect()
}

/// The interpreter and the libraries of `peers`, in their order; a peer
/// whose library is missing is left out after one line on stderr. `Err`
/// when there is no interpreter at all.
pub fn prepare(peers: &[&'static PythonPeer]) -> Result<Vec<Prepared>, String> {
    let python = interpreter()?;
    let mut ready = Vec::new();
    for &peer in peers {
        match library(peer.malloc) {
            Ok(preload) => ready.push(Prepared {
                peer,
                python: python.clone(),
                preload,
            }),
            Err(why) => eprintln!("skipping cpython on {}: {why}", peer.name),
        }
    }
    Ok(ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "3 libs found in cache `/etc/ld.so.cache'\n\
        \tlibjemalloc.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/libjemalloc.so.2\n\
        \tlibjemalloc.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libjemalloc.so\n\
        \tlibjemalloc.so.2 (libc6) => /lib/i386-linux-gnu/libjemalloc.so.2\n";

    #[test]
    fn ldconfig_listing_gives_every_path_of_exactly_that_soname() {
        assert_eq!(
            ldconfig_entries(LISTING, "libjemalloc.so.2"),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libjemalloc.so.2"),
                PathBuf::from("/lib/i386-linux-gnu/libjemalloc.so.2")
            ]
        );
        assert!(ldconfig_entries(LISTING, "libmimalloc.so.2").is_empty());
    }

    #[test]
    fn a_library_that_is_not_installed_is_not_found() {
        assert_eq!(find_system_library("libstrata-bench-no-such.so.9"), None);
        let missing = Malloc::Preloaded {
            soname: "libstrata-bench-no-such.so.9",
            package: "no-such-package",
        };
        let why = library(missing).unwrap_err();
        assert!(why.contains("apt-get install no-such-package"), "{why}");
    }

    #[test]
    fn pymalloc_and_glibc_preload_nothing() {
        assert_eq!(library(Malloc::Pymalloc), Ok(None));
        assert_eq!(library(Malloc::CLibrary), Ok(None));
        assert_eq!(find(BASELINE).map(|p| p.malloc), Some(Malloc::Pymalloc));
    }
}
