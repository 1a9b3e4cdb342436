//! The allocators measured, and where their runner binaries live.
//!
//! Each allocator has a runner binary, built from `src/bin/`, whose
//! `#[global_allocator]` is that allocator; the parent finds it next to its
//! own executable (cargo puts every binary of the package in one directory).

use std::path::PathBuf;

pub struct AllocatorPeer {
    pub name: &'static str,
    pub about: &'static str,
    /// The runner binary's name.
    pub runner: &'static str,
    /// Whether this build includes it (its cargo feature is on).
    pub built: bool,
}

pub const ALLOCATORS: &[AllocatorPeer] = &[
    AllocatorPeer {
        name: "strata",
        about: "strata, this workspace's pymalloc-style allocator",
        runner: "strata-bench-runner-strata",
        built: true,
    },
    AllocatorPeer {
        name: "system",
        about: "the C library's malloc (glibc here)",
        runner: "strata-bench-runner-system",
        built: true,
    },
    AllocatorPeer {
        name: "mimalloc",
        about: "mimalloc, crate mimalloc",
        runner: "strata-bench-runner-mimalloc",
        built: true,
    },
    AllocatorPeer {
        name: "jemalloc",
        about: "jemalloc, crate tikv-jemallocator",
        runner: "strata-bench-runner-jemalloc",
        built: true,
    },
    AllocatorPeer {
        name: "snmalloc",
        about: "snmalloc, crate snmalloc-rs (cargo feature `snmalloc`, needs cmake)",
        runner: "strata-bench-runner-snmalloc",
        built: cfg!(feature = "snmalloc"),
    },
    AllocatorPeer {
        name: "rpmalloc",
        about: "rpmalloc, crate rpmalloc",
        runner: "strata-bench-runner-rpmalloc",
        built: true,
    },
    AllocatorPeer {
        name: "bump",
        about: "never frees: the speed-of-light reference",
        runner: "strata-bench-runner-bump",
        built: true,
    },
];

pub fn find_allocator(name: &str) -> Option<&'static AllocatorPeer> {
    ALLOCATORS.iter().find(|a| a.name == name)
}

/// Allocators this build has runners for.
pub fn built_allocators() -> impl Iterator<Item = &'static AllocatorPeer> {
    ALLOCATORS.iter().filter(|a| a.built)
}

/// Directory of the running executable, where the runners are.
pub fn runner_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    exe.parent()
        .map(|d| d.to_path_buf())
        .ok_or_else(|| format!("{} has no directory", exe.display()))
}

pub fn runner_path(peer: &AllocatorPeer) -> Result<PathBuf, String> {
    Ok(runner_dir()?.join(format!("{}{}", peer.runner, std::env::consts::EXE_SUFFIX)))
}
