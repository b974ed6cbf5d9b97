#!/usr/bin/env bash
# Benchmark: extraction from a local Prometheus. 30 days × 3 signals at 60 s are backfilled with
# promtool; then, alternately in one run, mttd's `extract-features` (chunked concurrent
# query_range, stitching, features, Parquet, manifest) and a plain sequential fetch of the same
# chunk URLs by one `curl` process (one kept-alive connection, bodies discarded, nothing parsed:
# the raw HTTP time). Prints the median wall time of each and the ratio.
#
# usage: bench/prometheus.sh
# env:   BENCH_DIR (default /tmp/mttd-bench-prometheus), MTTD_BIN (default target/release/mttd;
#        build it with cargo build --release), REPEAT (default 5), CHUNK (points per request,
#        default 10000, as mttd's default), CONCURRENCY (mttd's, default 4)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-/tmp/mttd-bench-prometheus}
mttd=${MTTD_BIN:-$root/target/release/mttd}
repeat=${REPEAT:-5}
chunk=${CHUNK:-10000}
concurrency=${CONCURRENCY:-4}
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
start=1767225600             # 2026-01-01T00:00:00Z
minutes=$((30 * 1440))
end=$((start + (minutes - 1) * 60))
lookback_s=$(((minutes - 1) * 60))
mkdir -p "$work"

if [ ! -d "$work/data" ]; then
  python3 - "$work/series.om" "$start" "$minutes" <<'PY'
import math, sys
path, start, minutes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "w") as f:
    f.write("# TYPE http_requests counter\n")
    total = 0
    for m in range(minutes):
        total += round(60 * (100 + 50 * math.sin(m * 2 * math.pi / 1440) + (m * 7919) % 13))
        f.write(f'http_requests_total{{service="api"}} {total} {start + m * 60}\n')
    f.write("# TYPE container_cpu_usage gauge\n")
    for m in range(minutes):
        f.write(f'container_cpu_usage{{pod="api-1"}} {0.5 + (m * 31 % 97) / 1000} {start + m * 60}\n')
    f.write("# TYPE latency_seconds gauge\n")
    for m in range(minutes):
        f.write(f'latency_seconds{{service="api"}} {0.1 + (m % 60) / 1000} {start + m * 60}\n')
    f.write("# EOF\n")
PY
  promtool tsdb create-blocks-from openmetrics --max-block-duration=168h "$work/series.om" "$work/data" >/dev/null
fi

printf 'global:\n  scrape_interval: 1m\nscrape_configs: []\n' > "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --storage.tsdb.retention.time=100y --web.listen-address=127.0.0.1:0 2> "$work/prometheus.log" &
prom=$!
trap 'kill $prom 2>/dev/null; wait $prom 2>/dev/null || true' EXIT
until grep -q 'Server is ready' "$work/prometheus.log"; do sleep 0.2; done
address=$(grep -o 'msg="Listening on" address=[0-9.:]*' "$work/prometheus.log" | head -1 | sed 's/.*address=//')

queries=(
  'sum(rate(http_requests_total{service="api"}[5m]))'
  'sum(container_cpu_usage{pod=~"api-.*"})'
  'latency_seconds{service="api"}'
)
cat > "$work/w.yaml" <<YAML
apiVersion: mttd/v1
kind: WorkloadConfig
workload: bench
source:
  prometheus:
    url: http://$address
    lookback: ${lookback_s}s
    chunk_points: $chunk
    concurrency: $concurrency
signals:
  target: '${queries[0]}'
  features:
    cpu_cores: '${queries[1]}'
    latency_seconds: '${queries[2]}'
YAML

# The chunk URLs mttd asks for: [s, s + (chunk − 1)·60], consecutive, up to the end.
urls=()
for q in "${queries[@]}"; do
  s=$((end - lookback_s))
  while [ "$s" -le "$end" ]; do
    e=$((s + (chunk - 1) * 60)); [ "$e" -gt "$end" ] && e=$end
    urls+=("http://$address/api/v1/query_range?query=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$q")&start=$s&end=$e&step=60")
    s=$((e + 60))
  done
done

curl_args=()
for u in "${urls[@]}"; do curl_args+=(-o /dev/null "$u"); done
now() { date +%s.%N; }
mttd_times=() curl_times=()
"$mttd" extract-features --config "$work/w.yaml" --out "$work/out" --end "$end" >/dev/null 2>&1 # warm-up
for ((i = 0; i < repeat; i++)); do
  t0=$(now)
  curl -sf "${curl_args[@]}"
  t1=$(now)
  "$mttd" extract-features --config "$work/w.yaml" --out "$work/out" --end "$end" >/dev/null 2>&1
  t2=$(now)
  curl_times+=("$(echo "$t1 - $t0" | bc)")
  mttd_times+=("$(echo "$t2 - $t1" | bc)")
done
m=$(median "${mttd_times[@]}") c=$(median "${curl_times[@]}")
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(prometheus --version 2>&1 | head -1)"
echo "requests: ${#urls[@]} (3 signals × $(( ${#urls[@]} / 3 )) chunks of ≤ $chunk points), median of $repeat"
echo "one curl, the chunk URLs in sequence (keep-alive): ${c} s"
echo "mttd extract-features (concurrency $concurrency, features, Parquet, manifest): ${m} s"
echo "ratio mttd / raw HTTP: $(echo "scale=2; $m / $c" | bc)"
