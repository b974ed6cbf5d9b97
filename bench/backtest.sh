#!/usr/bin/env bash
# Benchmark: `mttd backtest` over each shared trace, the whole trace after a week of history:
# daily retrains through the gate (the default policy, and with the reactive HPA as the
# under-provisioning baseline), a forecast every 5 minutes, the adaptive 80% interval (rate 0.05),
# the live drift rule (live MAE > 1.5 × the validation MAE over a day), the replay as in
# tests/it/traces.rs (the median demand needs 5 replicas at a 70% target; pods serve after 2m).
# Prints per trace: coverage of the interval as served, saturated minutes and replica-minutes of
# mttd against the reactive HPA, retrains, promotions, rejections, drift events, and the wall
# time and peak memory of the run (GNU time).
#
# usage: bench/backtest.sh
# env:   MTTD_BIN_DIR (default target/release; cargo build --release --bin mttd),
#        MTTD_SHARED (default ../shared), BENCH_DIR (default /tmp/mttd-backtest)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${MTTD_BIN_DIR:-$root/target/release}
shared=${MTTD_SHARED:-$root/../shared}
work=${BENCH_DIR:-/tmp/mttd-backtest}
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
[ -d "$shared/data/traces" ] || { echo "needs the shared traces in $shared/data/traces (MTTD_SHARED)" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work" && cd "$work"
printf '%-22s %-8s %9s %12s %12s %12s %12s %8s %6s %5s %6s %7s %9s\n' trace gate coverage "sat mttd" "sat HPA" "rm mttd" "rm HPA" retrains promo rej drift "time s" "peak MB"
for spec in "${trace_specs[@]}"; do
  IFS=: read -r file series resolution <<<"$spec"
  median=$(python3 -c "
import csv, statistics, sys
print(statistics.median(float(r['value']) for r in csv.DictReader(open(sys.argv[1]))))" "$shared/data/traces/$file.csv")
  for gate in default reactive; do
    {
      trace_config "$shared" "$file" "$series" "$resolution" "${file//_/-}"
      printf 'capacity:\n  per_replica: %s\n  max_replicas: 1000\n  startup_delay: 2m\n  target_utilization: 0.7\n' "$(python3 -c "print($median / 5)")"
      printf '  predictive:\n    adaptive_interval: {rate: 0.05}\n'
      printf 'deploy:\n  max_staleness: 1000d\n  drift_alert:\n    alertmanager_url: http://127.0.0.1:9/\n    runbook_url: https://runbooks.example/drift\n    live_mae_ratio: 1.5\n    live_window: 1d\n'
      [ "$gate" = reactive ] && printf 'gate:\n  under_provisioning_baseline: reactive\n'
      true
    } >"$file-$gate.yaml"
    /usr/bin/time -f '%e %M' -o time.txt "$bin/mttd" backtest --config "$file-$gate.yaml" --out "out-$file-$gate" >/dev/null
    read -r seconds kb <time.txt
    python3 - "$file" "$gate" "out-$file-$gate/backtest.json" "$seconds" "$kb" <<'PY'
import json, sys
name, gate, path, seconds, kb = sys.argv[1:]
d = json.load(open(path)); r = d["replay"]; s = d["summary"]
cov = f"{r['interval_coverage'] * 100:.1f}%" if r["forecasts_scored"] else "—"
print(f"{name:<22} {gate:<8} {cov:>9} {r['mttd']['saturated_minutes']:>12.1f} {r['reactive']['saturated_minutes']:>12.1f} "
      f"{r['mttd']['replica_minutes']:>12.0f} {r['reactive']['replica_minutes']:>12.0f} {s['retrains']:>8} {s['promotions'] + s['shadows']:>6} "
      f"{s['rejections']:>5} {s['drift_events']:>6} {float(seconds):>7.2f} {int(kb) / 1024:>9.0f}")
PY
  done
done
echo "reports: $work/out-*/report.md"
