#!/usr/bin/env bash
# Benchmark: fleet forecasting — WORKLOADS synthetic workloads (default 1000), each with its own
# series `demand{workload="wNNNN"}` in a real Prometheus (4 days at 60 s, read over 3, backfilled with
# promtool) and a promoted model in a file store, forecast by ONE `mttd fleet-forecast` run;
# then the same with BROKEN (default 10) of them broken (5 configs whose query names a series
# that is not there, 5 tampered models): each must fall back alone.
# The models: one workload's model trained by `mttd run` on 8 days of the same generator, its
# store folder copied for every other workload (the forecast reads each from its own folder,
# sha256 checked against its own change log, exactly as for a model trained for it).
# Prints the wall time and peak memory (GNU time) of each run and fleet.json's counts.
#
# usage: bench/fleet.sh
# env:   MTTD_BIN_DIR (default target/release; cargo build --release --bin mttd --bin mttd-fleet-forecast:
#        it runs both, and a stale mttd-fleet-forecast is measured silently otherwise),
#        BENCH_DIR (default /tmp/mttd-fleet), WORKLOADS, BROKEN, CONCURRENCY (default 8)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${MTTD_BIN_DIR:-$root/target/release}
work=${BENCH_DIR:-/tmp/mttd-fleet}
workloads=${WORKLOADS:-1000}
broken=${BROKEN:-10}
concurrency=${CONCURRENCY:-8}
start=1767225600             # 2026-01-01T00:00:00Z
minutes=$((4 * 1440))
end=$((start + minutes * 60 - 60))
now=$(date -u -d "@$end" +%Y-%m-%dT%H:%M:%SZ)
command -v promtool >/dev/null && command -v prometheus >/dev/null || { echo "needs Debian's prometheus (promtool, prometheus)" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work/configs" && cd "$work"

# The series: a daily cycle, a per-workload level and phase, a deterministic wiggle.
python3 - "$workloads" "$start" "$minutes" <<'PY'
import math, sys
n, start, minutes = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def value(w, m):
    return (50 + w % 97) * (2 + math.sin((m + 37 * w) * 2 * math.pi / 1440)) + (m * 7919 + w) % 13
with open("series.om", "w") as f:
    f.write("# TYPE demand gauge\n")
    for w in range(n):
        for m in range(minutes):
            f.write(f'demand{{workload="w{w:04d}"}} {value(w, m):.3f} {start + m * 60}\n')
    f.write("# EOF\n")
# Eight days of workload w0000 ending at the same time, to train its model on.
with open("w0000.csv", "w") as f:
    f.write("timestamp,series,value\n")
    import datetime
    for m in range(-4 * 1440, minutes):
        t = datetime.datetime.fromtimestamp(start + m * 60, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        f.write(f"{t},demand,{value(0, m):.3f}\n")
PY
/usr/bin/time -f 'backfill: %e s' promtool tsdb create-blocks-from openmetrics series.om data >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'global:\n  scrape_interval: 1m\nscrape_configs: []\n' >prom.yml
prometheus --config.file=prom.yml --storage.tsdb.path=data --storage.tsdb.retention.time=100y \
  --web.listen-address=127.0.0.1:$port >prometheus.log 2>&1 &
prom=$!
trap 'kill $prom 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.2; done

common='features:\n  lags: [5m, 15m, 30m, 60m]\n  seasonal_lags: [1d]\nsplit:\n  shadow_window: 1d\ncapacity:\n  per_replica: 20\n  max_replicas: 200\n'
# A gate that promotes the first model whatever the replay says: the benchmark is about serving it.
loose='gate:\n  min_improvement: 0\n  coverage_tolerance: 1\n  under_provisioning_baseline: reactive\n  oscillation_tolerance: 100\n  replica_minutes_increase: 100\n'
printf "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: w0000\nsource:\n  file:\n    path: $work/w0000.csv\nsignals:\n  target: demand\n$common$loose" >train.yaml
"$bin/mttd" run --config train.yaml --store store --work-dir train-out 2>/dev/null | grep -q "decision        promote" \
  || { echo "the model was not promoted: see $work/train-out" >&2; exit 1; }
for w in $(seq 1 $((workloads - 1))); do cp -r store/w0000 "store/$(printf 'w%04d' "$w")"; done
for w in $(seq 0 $((workloads - 1))); do
  name=$(printf 'w%04d' "$w")
  printf "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: $name\nsource:\n  prometheus:\n    url: http://127.0.0.1:$port\n    lookback: 3d\nsignals:\n  target: 'demand{workload=\"$name\"}'\n$common" >"configs/$name.yaml"
done

run() {
  local out=$1
  /usr/bin/time -f '%e %M' -o "$out.time" "$bin/mttd-fleet-forecast" --configs configs --store store \
    --out "$out" --now "$now" --concurrency "$concurrency" >/dev/null 2>"$out.log"
  read -r seconds kb <"$out.time"
  python3 - "$out/fleet.json" "$seconds" "$kb" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"{d['workloads']} workloads in {float(sys.argv[2]):.1f} s, peak {int(sys.argv[3]) / 1024:.0f} MiB: "
      f"{d['recommendations']} recommendations, fallbacks {d['fallbacks']}, failed {len(d['failed'])}")
PY
}
echo "healthy fleet (concurrency $concurrency):"
run healthy
# Break some: half query a series that is not there, half have a tampered model.
for w in $(seq 1 $((broken / 2))); do
  sed -i 's/demand{workload=/absent{workload=/' "configs/$(printf 'w%04d' "$w").yaml"
done
for w in $(seq $((broken / 2 + 1)) "$broken"); do
  sed -i 's/"intercept":/"intercept": 1 + /' "store/$(printf 'w%04d' "$w")/models/v1/model.json"
done
echo "with $broken broken:"
run broken
