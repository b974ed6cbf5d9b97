#!/usr/bin/env bash
# Side by side: two mttd builds' whole retrain pass (bench/pass.sh: extract-features, train and
# validate as three processes) on the generated workload, each build in a folder of its own,
# measured by hyperfine (Debian's) in one run — how a change to the pass is judged on this noisy
# machine (BENCHMARKS.md). Prints hyperfine's mean ± σ, user and system time of each.
#
# usage: bench/pass-ab.sh BINARY_A BINARY_B [DAYS]     (default 365)
# env:   MTTD_SHARED (default ../shared), BENCH_DIR (default /tmp/mttd-bench), RUNS (default 30)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${MTTD_SHARED:-$root/../shared}
work=${BENCH_DIR:-/tmp/mttd-bench}
runs=${RUNS:-30}
[ $# -ge 2 ] || { echo "usage: bench/pass-ab.sh BINARY_A BINARY_B [DAYS]" >&2; exit 2; }
a=$1 b=$2 days=${3:-365}
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
mkdir -p "$work"
csv=$work/w$days.csv
[ -f "$csv" ] || "$(reference_python "$shared" "$work/refenv")" "$shared/bench/gen_workload.py" "$days" "$csv"
for side in a b; do
  mkdir -p "$work/ab-$side"
  retrain_config "$csv" > "$work/ab-$side/w.yaml"
done
hyperfine -N -w 3 -r "$runs" -n a "$root/bench/pass.sh $a $work/ab-a" -n b "$root/bench/pass.sh $b $work/ab-b"
