#!/usr/bin/env bash
# Probe: how long writing 64 MiB to a new file takes, by the size of each write, each right after
# a reference run (the pandas + scikit-learn pass of bench/retrain.sh, which leaves ~600 MB just
# freed). On a VM whose balloon reports free memory to the host, writes as large as the
# reporting order let the kernel fill page-cache folios from memory the host has taken back.
# BENCHMARKS.md (issue 17, "the dataset written 64 KiB at a time") has what it showed here.
#
# usage: bench/write-sizes.sh [SIZE...]   (bytes; default 16384 32768 65536 131072 1048576)
# env:   MTTD_SHARED (default ../shared), BENCH_DIR (default /tmp/mttd-bench), REPEAT (default 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${MTTD_SHARED:-$root/../shared}
work=${BENCH_DIR:-/tmp/mttd-bench}
repeat=${REPEAT:-3}
sizes=("$@")
[ $# -eq 0 ] && sizes=(16384 32768 65536 131072 1048576)
mkdir -p "$work"
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
py=$(reference_python "$shared" "$work/refenv")
csv=$work/w365.csv
[ -f "$csv" ] || "$py" "$shared/bench/gen_workload.py" 365 "$csv"
order=/sys/module/page_reporting/parameters/page_reporting_order
echo "kernel $(uname -r); page reporting order: $(cat "$order" 2>/dev/null || echo 'none (no free page reporting)')"
for ((i = 0; i < repeat; i++)); do
  for size in "${sizes[@]}"; do
    "$py" "$shared/bench/ref_pipeline.py" "$csv" "$work/ref365" >/dev/null
    rm -f "$work/probe.bin"
    python3 - "$work/probe.bin" "$size" <<'PY'
import os, sys, time
path, size = sys.argv[1], int(sys.argv[2])
piece = memoryview(bytearray(os.urandom(1 << 20)))
start = time.perf_counter()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
for _ in range(64):
    for at in range(0, 1 << 20, size):
        os.write(fd, piece[at:at + size])
os.close(fd)
print(f"{size:>8} B a write: 64 MiB in {(time.perf_counter() - start) * 1e3:.0f} ms")
PY
  done
done
rm -f "$work/probe.bin"
