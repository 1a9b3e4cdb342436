#!/usr/bin/env bash
# Runs strata-gc's tests under Miri (undefined behaviour, leaks, aliasing).
# Installs the nightly Miri component if it is missing; if it cannot be
# installed, prints a warning and exits 0 so that the rest of CI still runs.
# Under Miri the collector takes memory from the standard allocator and the
# tests use small sizes (see `cfg(miri)` in gc/tests/).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri.sh: installing the nightly Miri component"
    if ! { rustup toolchain install nightly --profile minimal --component miri --component rust-src \
            || rustup component add miri rust-src --toolchain nightly; }; then
        echo "WARNING: miri.sh: could not install Miri; strata-gc's Miri tests were SKIPPED" >&2
        exit 0
    fi
    if ! cargo +nightly miri --version >/dev/null 2>&1; then
        echo "WARNING: miri.sh: Miri unavailable after install; strata-gc's Miri tests were SKIPPED" >&2
        exit 0
    fi
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
# Each test runs on its own thread with its own collector; the doctests and
# benches are left to the normal test run.
cargo +nightly miri test -p strata-gc --tests "$@"
