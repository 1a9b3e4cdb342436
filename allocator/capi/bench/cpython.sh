#!/usr/bin/env bash
# CPython on different allocators: objects.py (dicts of tuples and strings,
# JSON, sorting, reference cycles, gc.collect()) under pymalloc (CPython's
# own, the reference), and with PYTHONMALLOC=malloc under glibc, mimalloc,
# jemalloc (Debian's libmimalloc2.0, libjemalloc2) and strata, each preloaded
# with LD_PRELOAD; strata also with a purge delay of 1 s instead of the
# default, and in debug mode (STRATA_DEBUG=1) for its overhead. Runs are interleaved; the median of each is reported with ratios
# against pymalloc (below 1 is better).
#
#   allocator/capi/bench/cpython.sh [runs] [rounds]
#
# Needs python3; allocators whose library is missing are skipped
# (apt-get install libmimalloc2.0 libjemalloc2).
set -euo pipefail
runs=${1:-5}
rounds=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release --quiet -p strata-capi)
strata=$target/release/libstrata.so
python=$(python3 -c 'import sys; print(sys.executable)')
find_lib() { ldconfig -p | awk -v name="$1" '$1 == name { print $NF; exit }'; }
mimalloc=$(find_lib libmimalloc.so.2)
jemalloc=$(find_lib libjemalloc.so.2)

# name, library to preload, PYTHONMALLOC, extra VAR=value for the run.
names=(pymalloc glibc)
preload=("" "")
pymalloc=("" malloc)
extra=("" "")
add() { names+=("$1"); preload+=("$2"); pymalloc+=(malloc); extra+=("$3"); }
if [ -n "$mimalloc" ]; then add mimalloc "$mimalloc" ""; else echo "skipping mimalloc: libmimalloc.so.2 not found"; fi
if [ -n "$jemalloc" ]; then add jemalloc "$jemalloc" ""; else echo "skipping jemalloc: libjemalloc.so.2 not found"; fi
add strata "$strata" ""
add strata-purge1s "$strata" STRATA_PURGE_DELAY_MS=1000
add strata-debug "$strata" STRATA_DEBUG=1

results=$(mktemp)
trap 'rm -f "$results"' EXIT
echo "python: $python ($("$python" -V 2>&1)), $runs runs of objects.py $rounds, interleaved"
for ((run = 1; run <= runs; run++)); do
    for i in "${!names[@]}"; do
        line=$(env ${preload[$i]:+LD_PRELOAD=${preload[$i]}} \
            ${pymalloc[$i]:+PYTHONMALLOC=${pymalloc[$i]}} \
            ${extra[$i]:+${extra[$i]}} \
            "$python" "$here/objects.py" "$rounds")
        echo "${names[$i]} $line" >> "$results"
    done
done

# name wall cpu rss checksum -> medians and ratios against pymalloc.
awk '
function median(list,   n, values, i, j, t) {
    n = split(list, values, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (values[j] + 0 < values[i] + 0) { t = values[i]; values[i] = values[j]; values[j] = t }
    return n % 2 ? values[(n + 1) / 2] : (values[n / 2] + values[n / 2 + 1]) / 2
}
{
    if (!($1 in wall)) order[++count] = $1
    wall[$1] = wall[$1] " " $2; cpu[$1] = cpu[$1] " " $3; rss[$1] = rss[$1] " " $4
    if (checksum == "") checksum = $5
    else if ($5 != checksum) { print "checksum differs under " $1 > "/dev/stderr"; bad = 1 }
}
END {
    base_cpu = median(cpu["pymalloc"]); base_wall = median(wall["pymalloc"]); base_rss = median(rss["pymalloc"])
    printf "%-15s %9s %7s %9s %7s %10s %7s\n", "allocator", "cpu s", "ratio", "wall s", "ratio", "peak MiB", "ratio"
    for (k = 1; k <= count; k++) {
        name = order[k]; c = median(cpu[name]); w = median(wall[name]); r = median(rss[name])
        printf "%-15s %9.3f %7.2f %9.3f %7.2f %10.1f %7.2f\n", name, c, c / base_cpu, w, w / base_wall, r / 1024, r / base_rss
    }
    exit bad
}' "$results"
