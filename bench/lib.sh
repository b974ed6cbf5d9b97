# What the bench scripts share (sourced, not run).

# The shared traces as tests/it/traces.rs reads them: file (in shared/data/traces, without .csv),
# series, resolution.
trace_specs=(nasa_http:nasa_http:1m worldcup98_may:worldcup98_may:1m google2019_cpu:google2019_cpu:5m
  twitter_stream_2021:twitter_stream:1m)

# trace_config SHARED FILE SERIES RESOLUTION WORKLOAD: a trace's WorkloadConfig as the traces test
# writes it (15-minute horizon, defaults otherwise); a caller appends what its run needs.
trace_config() {
  printf 'apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: %s\n' "$5"
  printf 'source:\n  file:\n    path: %s\nsignals:\n  target: %s\nresolution: %s\nlabel:\n  horizon: 15m\n' \
    "$1/data/traces/$2.csv" "$3" "$4"
}

# reference_python SHARED VENV: the venv's python, with shared/bench/requirements.txt (pandas,
# scikit-learn) installed on first use.
reference_python() {
  if [ ! -x "$2/bin/python" ]; then
    python3 -m venv "$2"
    "$2/bin/pip" install -q -r "$1/bench/requirements.txt"
  fi
  echo "$2/bin/python"
}

# retrain_config CSV: the WorkloadConfig of the generated workload (shared/bench/gen_workload.py)
# that bench/retrain.sh and bench/pass.sh run mttd's pass with.
retrain_config() {
  cat <<YAML
apiVersion: mttd/v1
kind: WorkloadConfig
workload: bench
source:
  file:
    path: $1
signals:
  target: requests_per_second
  features: [cpu_cores, p95_latency_seconds]
label:
  horizon: 15m
YAML
}

# median VALUE...: the middle one (the lower middle of an even count), by number; a value may be
# a line "number more…", then the whole line of the median number is printed.
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
