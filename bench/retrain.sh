#!/usr/bin/env bash
# Benchmark: one retrain pass (extract-features + train + validate) of mttd against the pandas +
# scikit-learn reference (shared/bench/ref_pipeline.py), on the same generated files, side by
# side in one run. Prints wall time and peak RSS of each, and the ratios.
#
# usage: bench/retrain.sh [DAYS...]         (default: 30 365)
# env:   MTTD_SHARED (default ../shared), BENCH_DIR (default /tmp/mttd-bench),
#        MTTD_BIN (default target/release/mttd; build it with cargo build --release),
#        REPEAT (default 3: the sides run in REPEAT pairs, the reference then mttd, so that both
#        meet the same state of the machine; each figure is the median of its side's runs, and
#        each pair's speed ratio is printed too)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${MTTD_SHARED:-$root/../shared}
work=${BENCH_DIR:-/tmp/mttd-bench}
mttd=${MTTD_BIN:-$root/target/release/mttd}
repeat=${REPEAT:-3}
days=("$@")
[ $# -eq 0 ] && days=(30 365)
mkdir -p "$work"
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
py=$(reference_python "$shared" "$work/refenv")

# one run of a command: prints "wall_seconds peak_kib"
timed() {
  /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >/dev/null 2>&1
  tail -1 "$work/time.txt"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
echo "mttd: $("$mttd" --version); reference: pandas $("$py" -c 'import pandas; print(pandas.__version__)'), scikit-learn $("$py" -c 'import sklearn; print(sklearn.__version__)')"
printf '%-6s %-10s %10s %12s\n' days side wall_s peak_MiB
for d in "${days[@]}"; do
  csv=$work/w$d.csv
  [ -f "$csv" ] || "$py" "$shared/bench/gen_workload.py" "$d" "$csv"
  out=$work/mttd$d
  mkdir -p "$out"
  retrain_config "$csv" > "$out/w.yaml"
  refs=() passes=() ratios=()
  for ((i = 0; i < repeat; i++)); do
    refs+=("$(timed "$py" "$shared/bench/ref_pipeline.py" "$csv" "$work/ref$d")")
    passes+=("$(timed "$root/bench/pass.sh" "$mttd" "$out")")
    ratios+=("$(printf '%.1fx' "$(echo "${refs[i]%% *} / ${passes[i]%% *}" | bc -l)")")
  done
  read -r rw rm < <(median "${refs[@]}")
  read -r mw mm < <(median "${passes[@]}")
  printf '%-6s %-10s %10s %12.0f\n' "$d" reference "$rw" "$(echo "$rm / 1024" | bc -l)"
  printf '%-6s %-10s %10s %12.0f\n' "$d" mttd "$mw" "$(echo "$mm / 1024" | bc -l)"
  printf '%-6s %-10s %10.1fx %11.2fx\n' "$d" ratio "$(echo "$rw / $mw" | bc -l)" "$(echo "$mm / $rm" | bc -l)"
  printf '%-6s %-10s %s\n' "$d" "each pair" "${ratios[*]}"
done
