#!/usr/bin/env bash
# Benchmark: how fast each step program starts and answers on small inputs (the target: 20 ms),
# measured with hyperfine (Debian's `hyperfine`). The inputs: the demo workload's last 6 days
# (1-minute data, three series), run once through `mttd run` to make every step folder; then
# each step program is timed on them exactly as Argo calls it.
#
# usage: bench/starts.sh
# env:   MTTD_BIN_DIR (default target/release; build with cargo build --release --bins),
#        BENCH_DIR (default /tmp/mttd-starts), RUNS (default 30)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${MTTD_BIN_DIR:-$root/target/release}
work=${BENCH_DIR:-/tmp/mttd-starts}
runs=${RUNS:-30}
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work/small"
cd "$work"

# The demo export, cut to its last 6 days; its config with a 1-day shadow window.
"$bin/mttd" run --demo --store demo-store --work-dir demo-out >/dev/null 2>&1
{
  head -1 demo-out/demo/workload.csv
  tail -n $((6 * 1440 * 3)) demo-out/demo/workload.csv
} >small/workload.csv
cp demo-out/demo/mttd.yaml small/mttd.yaml
printf 'split:\n  shadow_window: 1d\n' >>small/mttd.yaml
"$bin/mttd" run --config small/mttd.yaml --store store --work-dir out >/dev/null 2>&1
d=out/demo-api

hyperfine --warmup 3 --runs "$runs" -N --export-markdown starts.md \
  -n extract-features "$bin/mttd-extract-features --config small/mttd.yaml --out t/data" \
  -n train "$bin/mttd-train --config small/mttd.yaml --dataset $d/dataset --out t/model" \
  -n validate "$bin/mttd-validate --dataset $d/dataset --model $d/model --out t/validation" \
  -n shadow-compare "$bin/mttd-shadow-compare --config small/mttd.yaml --dataset $d/dataset --model $d/model --store store --out t/comparison" \
  -n gate "$bin/mttd-gate --validation $d/validation --comparison $d/comparison --model $d/model --policy $d/gate-policy.json --store store --out t/decision" \
  -n publish "$bin/mttd-publish --store store --dataset $d/dataset --model $d/model --validation $d/validation --comparison $d/comparison --decision $d/decision" \
  -n forecast "$bin/mttd-forecast --config small/mttd.yaml --store store --out t/forecast --now latest" \
  >/dev/null
cat starts.md
echo "inputs: $(wc -l <small/workload.csv) CSV lines, dataset $(du -h $d/dataset/dataset.parquet | cut -f1)"
