#!/usr/bin/env bash
# Benchmark: mttd-sidecar against nginx as a reverse proxy (the anchor), side by side in one run.
# The app is nginx answering a 1 KiB body from its config on 127.0.0.1 (fast, so that the proxies
# are what is measured); wrk (Debian's) loads, in turn (each round in an order rotated by one) and
# for ROUNDS rounds: the app directly, the app through mttd-sidecar, the app through nginx
# configured as a production reverse proxy doing the sidecar's work (HTTP/1.1 and a keep-alive
# pool to the app; the client's Host passed on and its address appended to X-Forwarded-For, as the
# sidecar does; access log off — as the sidecar keeps no log per request) — the anchor the target
# is judged against — and, for context, the same nginx without the forwarding headers (the anchor
# before 2026-12-01: it did less than the sidecar) and nginx with a bare `proxy_pass` (its
# defaults: HTTP/1.0 and a new connection to the app per request). Every side gets the same worker
# count (WORKERS: nginx worker processes, sidecar runtime threads). Reported per side: the median
# of the rounds' requests/s and p99, the p99 added over the direct one, errors (non-2xx + socket
# errors), the serving process's CPU time (user + system, with nginx's workers) per request — the
# proxies' own cost, steadier than requests/s on a shared machine — beside it the app's and wrk's
# CPU a request and the three together (on two shared cores the throughput is the cores over all
# three: what a proxy makes the app and the client spend counts as much as its own cost), the
# sidecar's peak resident memory (VmHWM) over the whole run, and each side's p99 range over the
# rounds.
#
# usage: bench/sidecar.sh
# env:   MTTD_BIN_DIR (default target/sidecar: `cargo build --profile sidecar --bin mttd-sidecar`,
#        the whole-program optimised build the image ships), BASELINE (another mttd-sidecar binary,
#        measured beside it as `baseline`: a change's effect side by side), CONNECTIONS (default
#        64), DURATION (default 10s), ROUNDS (default 3), WORKERS (default 2), PODS (default 0;
#        1: as in a pod, the app, the proxies and wrk each in a CPU cgroup of their own — needs
#        root and cgroup v1's or v2's cpu controller)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${MTTD_BIN_DIR:-$root/target/sidecar}
baseline=${BASELINE:-}
connections=${CONNECTIONS:-64}
duration=${DURATION:-10s}
rounds=${ROUNDS:-3}
workers=${WORKERS:-2}
pods=${PODS:-0}
for program in nginx wrk; do
  command -v "$program" >/dev/null || { echo "needs $program (apt-get install nginx-light wrk)" >&2; exit 1; }
done
[ -x "$bin/mttd-sidecar" ] || { echo "no $bin/mttd-sidecar: cargo build --profile sidecar --bin mttd-sidecar" >&2; exit 1; }
[ -z "$baseline" ] || [ -x "$baseline" ] || { echo "BASELINE=$baseline is not an executable" >&2; exit 1; }
work=$(mktemp -d /tmp/mttd-sidecar-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
  for group in "${groups[@]}"; do rmdir "$group" 2>/dev/null || true; done
}
groups=()
trap cleanup EXIT

app_port=18180 sidecar_port=18181 nginx_port=18182 metrics_port=18183 plain_port=18184 baseline_port=18185 lean_port=18187
body=$(head -c 1024 /dev/zero | tr '\0' 'x')
nginx_conf() { # $1: name, $2: workers, $3: server block
  mkdir -p "$work/$1"
  cat >"$work/$1/nginx.conf" <<CONF
worker_processes $2;
daemon off;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/$1; proxy_temp_path $work/$1; fastcgi_temp_path $work/$1;
  uwsgi_temp_path $work/$1; scgi_temp_path $work/$1;
  keepalive_requests 1000000;
  $3
}
CONF
}
# The app: one worker, so that it is the same for every side.
nginx_conf app 1 "server { listen 127.0.0.1:$app_port; location / { default_type text/plain; return 200 \"$body\"; } }"
# nginx as a reverse proxy over HTTP/1.1 and a keep-alive pool to the app. $1: name, $2: port,
# $3: more directives for the location.
pooled_proxy() {
  nginx_conf "$1" "$workers" "upstream app { server 127.0.0.1:$app_port; keepalive 64; }
  server { listen 127.0.0.1:$2; location / { proxy_pass http://app; proxy_http_version 1.1;
    proxy_set_header Connection \"\"; $3 } }"
}
# The anchor does what mttd-sidecar does to a request: the client's Host kept, its address
# appended to X-Forwarded-For (src/sidecar/proxy.rs).
pooled_proxy proxy "$nginx_port" "proxy_set_header Host \$http_host;
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;"
pooled_proxy lean "$lean_port" ""
nginx_conf plain "$workers" "server { listen 127.0.0.1:$plain_port; location / { proxy_pass http://127.0.0.1:$app_port; } }"
nginx -e "$work/app/error.log" -c "$work/app/nginx.conf" & app=$!; pids+=($app)
nginx -e "$work/plain/error.log" -c "$work/plain/nginx.conf" & plain=$!; pids+=($plain)
nginx -e "$work/proxy/error.log" -c "$work/proxy/nginx.conf" & proxy=$!; pids+=($proxy)
nginx -e "$work/lean/error.log" -c "$work/lean/nginx.conf" & lean=$!; pids+=($lean)
MTTD_SIDECAR_THREADS=$workers MTTD_LOG=warn "$bin/mttd-sidecar" --listen "127.0.0.1:$sidecar_port" \
  --metrics-listen "127.0.0.1:$metrics_port" --target-port "$app_port" --route '/{page}' \
  2>"$work/sidecar.log" & sidecar=$!; pids+=($sidecar)
sides="direct:$app_port:$app mttd-sidecar:$sidecar_port:$sidecar nginx:$nginx_port:$proxy nginx-no-forwarding:$lean_port:$lean nginx-default:$plain_port:$plain"
if [ -n "$baseline" ]; then
  MTTD_SIDECAR_THREADS=$workers MTTD_LOG=warn "$baseline" --listen "127.0.0.1:$baseline_port" \
    --metrics-listen "127.0.0.1:18186" --target-port "$app_port" --route '/{page}' \
    2>"$work/baseline.log" & pids+=($!)
  sides="$sides baseline:$baseline_port:$!"
fi
sleep 1
for side in $sides; do
  port=$(echo "$side" | cut -d: -f2)
  curl -sf -o /dev/null "http://127.0.0.1:$port/index" || { echo "port $port does not answer" >&2; exit 1; }
done

# PODS=1: each part in a CPU cgroup of its own, as the containers of a pod are (the app and the
# proxy beside it) and as a client elsewhere is — the scheduler then shares a core between
# groups first and between a group's threads second. Measured on cgroup v1 (this machine's); the
# v2 branch follows the kernel's cgroup-v2 interface (cgroup.controllers, subtree_control) and
# has not been run here.
wrap=()
if [ "$pods" = 1 ]; then
  if [ -f /sys/fs/cgroup/cpu/cgroup.procs ]; then
    cgroups=/sys/fs/cgroup/cpu
  elif grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    cgroups=/sys/fs/cgroup
    echo +cpu >"$cgroups/cgroup.subtree_control"
  else
    echo "PODS=1 needs cgroup v1's or v2's cpu controller" >&2
    exit 1
  fi
  for part in app proxy client; do
    groups+=("$cgroups/mttd-bench-$part")
    mkdir -p "$cgroups/mttd-bench-$part"
  done
  place() { # $1: a process (its children follow), $2: part
    for process in "$1" $(pgrep -P "$1"); do echo "$process" >"$cgroups/mttd-bench-$2/cgroup.procs"; done
  }
  place "$app" app
  for side in $sides; do
    IFS=: read -r name _ pid <<<"$side"
    [ "$name" = direct ] || place "$pid" proxy
  done
  wrap=(sh -c "echo \$\$ >$cgroups/mttd-bench-client/cgroup.procs && exec \"\$@\"" wrk)
fi

# CPU time (user + system, clock ticks) of a process and its children (nginx's workers).
cpu_ticks() {
  { cat "/proc/$1/stat"; for child in $(pgrep -P "$1"); do cat "/proc/$child/stat"; done; } |
    awk '{ticks += $14 + $15} END {print ticks}'
}

run() { # $1: port, $2: the serving process → "requests/s p99_ms errors" and µs of CPU a request of
  # the serving process, of the app and of wrk (the client)
  local before after app_before app_after TIMEFORMAT='%U %S'
  before=$(cpu_ticks "$2")
  app_before=$(cpu_ticks "$app")
  { time "${wrap[@]}" wrk -t2 -c"$connections" -d"$duration" --latency "http://127.0.0.1:$1/index" >"$work/wrk.txt"; } 2>"$work/client-cpu"
  after=$(cpu_ticks "$2")
  app_after=$(cpu_ticks "$app")
  python3 - "$work/wrk.txt" "$((after - before))" "$((app_after - app_before))" "$(getconf CLK_TCK)" \
    "$(tail -n 1 "$work/client-cpu")" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", text).groups()
p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors += int(m.group(1)) if m else 0
requests = int(re.search(r"(\d+) requests in", text).group(1))
cpu = int(sys.argv[2]) / int(sys.argv[4]) * 1e6 / requests
app = int(sys.argv[3]) / int(sys.argv[4]) * 1e6 / requests
client = sum(float(t) for t in sys.argv[5].split()) * 1e6 / requests
print(f"{rps:.0f} {p99:.3f} {errors} {cpu:.2f} {app:.2f} {client:.2f}")
PY
}

: >"$work/results"
read -ra order <<<"$sides"
for round in $(seq "$rounds"); do
  # Each round starts one side further on, so that no side always follows the same one (a
  # fixed order measured the same binary 11% apart in two places).
  for k in "${!order[@]}"; do
    IFS=: read -r name port pid <<<"${order[$(((k + round) % ${#order[@]}))]}"
    echo "$name $(run "$port" "$pid")" >>"$work/results"
  done
done
hwm_kib=$(awk '/VmHWM/ {print $2}' "/proc/$sidecar/status")
sent=$(curl -s "http://127.0.0.1:$metrics_port/metrics" | awk '/^http_requests_total/ {s += $2} END {print s}')

python3 - "$work/results" "$hwm_kib" "$sent" "$connections" "$duration" "$rounds" "$workers" <<'PY'
import math, statistics, sys
path, hwm, sent, connections, duration, rounds, workers = sys.argv[1:]
rows = {}
for line in open(path):
    side, rps, p99, errors, cpu, app, client = line.split()
    rows.setdefault(side, []).append((float(rps), float(p99), int(errors), float(cpu), float(app), float(client)))
# All three: for the direct side the serving process is the app, counted once.
med = {s: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v), sum(r[2] for r in v),
           statistics.median(r[3] for r in v), statistics.median(r[4] for r in v),
           statistics.median(r[5] for r in v),
           statistics.median(r[3] + (0 if s == "direct" else r[4]) + r[5] for r in v))
       for s, v in rows.items()}
print(f"wrk -t2 -c{connections} -d{duration}, {rounds} rounds, {workers} workers per proxy, medians")
print("| side | requests/s | p99 ms | added p99 ms | errors | CPU µs a request | p99 ms, rounds' range "
      "| the app's CPU µs a request | wrk's | all three |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for side in ("direct", "mttd-sidecar", "nginx", "nginx-no-forwarding", "nginx-default", "baseline"):
    if side not in med:
        continue
    rps, p99, errors, cpu, app, client, machine = med[side]
    added = "" if side == "direct" else f"{p99 - med['direct'][1]:.2f}"
    # p99 moves by a millisecond between rounds of the same binary on two shared cores: the
    # range says how far apart two sides' medians must be to mean anything.
    low, high = min(r[1] for r in rows[side]), max(r[1] for r in rows[side])
    print(f"| {side} | {rps:,.0f} | {p99:.2f} | {added} | {errors} | {cpu:.2f} | {low:.2f}–{high:.2f} "
          f"| {app:.2f} | {client:.2f} | {machine:.2f} |")
s, n = med["mttd-sidecar"], med["nginx"]
print(f"\nmttd-sidecar / nginx (the anchor): throughput {s[0] / n[0]:.2f}× (target ≥ 1), "
      f"p99 {s[1]:.2f} vs {n[1]:.2f} ms (target: added p99 no more than nginx's), "
      f"CPU a request {s[3] / n[3]:.2f}×, of the proxy, the app and wrk together {s[6] / n[6]:.2f}×")
# Round by round: the two sides measured in the same round, seconds apart, so that a drift of
# the machine over the run moves both. With the sign test's two-sided p-value: how likely so
# lopsided a count of rounds would be if neither side had the lower p99 (or the higher throughput).
def sign_test(wins, n):
    tail = sum(math.comb(n, k) for k in range(min(wins, n - wins) + 1)) / 2**n
    return min(1.0, 2 * tail)
pairs = list(zip(rows["mttd-sidecar"], rows["nginx"]))
p99_wins = sum(a[1] <= b[1] for a, b in pairs)
rps_wins = sum(a[0] >= b[0] for a, b in pairs)
print(f"round by round: p99 at or below nginx's in {p99_wins} of {len(pairs)} rounds "
      f"(median difference {statistics.median(a[1] - b[1] for a, b in pairs):+.2f} ms, sign test p = "
      f"{sign_test(p99_wins, len(pairs)):.2f}); throughput at or above in {rps_wins} of {len(pairs)} "
      f"(median ratio {statistics.median(a[0] / b[0] for a, b in pairs):.2f}×, p = {sign_test(rps_wins, len(pairs)):.2f})")
def against(other):
    return f"throughput {s[0] / med[other][0]:.2f}×, CPU a request {s[3] / med[other][3]:.2f}×"
print(f"mttd-sidecar / nginx without the forwarding headers: {against('nginx-no-forwarding')}")
if "baseline" in med:
    print(f"mttd-sidecar / baseline: {against('baseline')}")
print(f"mttd-sidecar peak resident memory: {int(hwm) / 1024:.1f} MiB; requests it counted: {sent}")
PY
