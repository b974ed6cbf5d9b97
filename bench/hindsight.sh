#!/usr/bin/env bash
# How far mttd's model class can go on each shared trace, with hindsight (issue 16): mttd's own
# dataset and split for the trace (`extract-features`, `train`, `validate` with the config of
# tests/it/traces.rs), then a median regression on the dataset's features fitted on the holdout
# rows themselves — with their answers and no penalty, an optimistic bound for any linear model on
# these features — beside mttd's holdout MAE. Also the variance ratio of the target's changes over
# the horizon (1 for a random walk: nothing in the series' past foresees them).
#
# usage: bench/hindsight.sh [TRACE...]   (default: the four traces in shared/data/traces)
# env:   MTTD_SHARED (default ../shared), BENCH_DIR (default /tmp/mttd-bench-hindsight),
#        MTTD_BIN (default target/release/mttd), REF_VENV (a venv with shared/bench/requirements.txt;
#        default /tmp/mttd-bench/refenv, made by bench/retrain.sh, or made here)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${MTTD_SHARED:-$root/../shared}
work=${BENCH_DIR:-/tmp/mttd-bench-hindsight}
mttd=${MTTD_BIN:-$root/target/release/mttd}
venv=${REF_VENV:-/tmp/mttd-bench/refenv}
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
[ -d "$shared/data/traces" ] || { echo "no traces at $shared/data/traces (set MTTD_SHARED)" >&2; exit 1; }
py=$(reference_python "$shared" "$venv")
mkdir -p "$work"
printf '| trace | mttd holdout MAE | hindsight, relative | hindsight, absolute | mttd / best hindsight | variance ratio over the horizon |\n'
printf '| --- | --- | --- | --- | --- | --- |\n'
for spec in "${trace_specs[@]}"; do
  IFS=: read -r trace series resolution <<<"$spec"
  [ $# -eq 0 ] || [[ " $* " == *" $trace "* ]] || continue
  out=$work/$trace
  mkdir -p "$out"
  trace_config "$shared" "$trace" "$series" "$resolution" trace >"$out/w.yaml"
  "$root/bench/pass.sh" "$mttd" "$out"
  "$py" - "$trace" "$out" <<'PY'
import json, sys
import numpy as np, pandas as pd
from sklearn.linear_model import QuantileRegressor

trace, out = sys.argv[1], sys.argv[2]
data = pd.read_parquet(f"{out}/data/dataset.parquet")
manifest = json.load(open(f"{out}/data/dataset.manifest.json"))
split = json.load(open(f"{out}/model/model.manifest.json"))["split"]["holdout"]
mttd_mae = json.load(open(f"{out}/validation/validation.json"))["holdout"]["model"]["mae"]
t = pd.to_datetime(data["timestamp"], unit="s", utc=True)
rows = ((t >= pd.Timestamp(split["start"])) & (t <= pd.Timestamp(split["end"]))).to_numpy()
features = [c for c in data.columns if c not in ("timestamp", "label")]
label = data["label"].to_numpy()[rows]

def hindsight(relative):
    # The MAE itself is minimised (median regression), over all coefficients of the class. mttd's
    # relative scale forecasts y = s · (w·x / s-scaled + b), s the 60-minute mean: linear in w
    # and b over the target's own features as they are, the other features times s, and s itself.
    s = data["target_mean_60m"].to_numpy()[rows]
    columns = [data[c].to_numpy()[rows] * (1.0 if c.startswith("target") or not relative else s)
               for c in features]
    x = np.column_stack(columns + ([s] if relative else []))
    x = x / (np.abs(x).max(0) + 1e-300)  # conditioning only: a rescaled column, the same class
    fitted = QuantileRegressor(quantile=0.5, alpha=0, solver="highs", fit_intercept=not relative)
    fitted.fit(x, label)
    return float(np.abs(fitted.predict(x) - label).mean())

# The relative scale needs the 60-minute mean among the features (a short history has none).
relative = hindsight(True) if "target_mean_60m" in data.columns else float("nan")
absolute = hindsight(False)
# Changes of the target over the horizon against one grid step's, on the whole trace.
series = data.set_index(t)["target"]
h = manifest["label"]["horizon_steps"]
step = series.index.to_series().diff().min()
grid = series.asfreq(step)
ratio = grid.diff(h).var() / (h * grid.diff(1).var())
print(f"| {trace} | {mttd_mae:.6g} | {relative:.6g} | {absolute:.6g} | "
      f"{mttd_mae / np.nanmin([relative, absolute]):.3f} | {ratio:.2f} |")
PY
done
