#!/usr/bin/env bash
# One retrain pass of mttd as Argo runs it: extract-features, train and validate as three
# processes, on DIR/w.yaml, writing DIR/data, DIR/model and DIR/validation. Their documents on
# stdout are discarded; warnings and errors stay on stderr (MTTD_LOG, default warn).
#
# usage: bench/pass.sh MTTD_BINARY DIR
set -euo pipefail
mttd=$1 out=$2
export MTTD_LOG=${MTTD_LOG:-warn}
"$mttd" extract-features --config "$out/w.yaml" --out "$out/data" >/dev/null
"$mttd" train --config "$out/w.yaml" --dataset "$out/data" --out "$out/model" >/dev/null
"$mttd" validate --dataset "$out/data" --model "$out/model" --out "$out/validation" >/dev/null
