//! The built-in demo workload: 30 days of 1-minute requests per second with a diurnal and a
//! weekly cycle, random bursts and noise, plus CPU and latency signals that follow it — the same
//! shape as `shared/bench/gen_workload.py` — from a fixed seed, so every run sees the same data.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::contract::document::write_atomic;
use crate::error::Result;
use crate::time::rfc3339;

/// 2026-01-05T00:00:00Z, a Monday.
const START: i64 = 1_767_571_200;

/// SplitMix64: small, fast, and the same sequence on every platform.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self, sd: f64) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    /// Gamma with integer shape k: a sum of k exponentials.
    fn gamma(&mut self, k: u32, scale: f64) -> f64 {
        (0..k).map(|_| -(1.0 - self.uniform()).ln() * scale).sum()
    }
}

/// The demo series: (timestamp, requests_per_second, cpu_cores, p95_latency_seconds).
pub fn generate(days: usize, seed: u64) -> Vec<(i64, f64, f64, f64)> {
    let n = days * 1440;
    let mut rng = Rng(seed);
    let mut bursts = vec![0.0; n];
    for _ in 0..days * 2 {
        let start = (rng.uniform() * (n - 60) as f64) as usize;
        let len = 10 + (rng.uniform() * 50.0) as usize;
        let height = 50.0 + rng.uniform() * 200.0;
        for j in 0..len {
            // Hann window, as numpy.hanning.
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * j as f64 / (len - 1) as f64).cos();
            bursts[start + j] += height * w;
        }
    }
    (0..n)
        .map(|m| {
            let t = START + m as i64 * 60;
            let minute_of_day = (m % 1440) as f64;
            let daily = 0.5
                + 0.5
                    * (std::f64::consts::TAU * minute_of_day / 1440.0 - std::f64::consts::FRAC_PI_2)
                        .sin()
                        .powi(2);
            let weekday = (m / 1440) % 7; // START is a Monday
            let weekly = if weekday >= 5 { 0.6 } else { 1.0 };
            let rps = (200.0 * daily * weekly + 40.0 + bursts[m] + rng.normal(8.0)).max(0.0);
            let cpu = rps * 0.004 + rng.normal(0.02) + 0.1;
            let latency = 0.05 + 0.0002 * rps + rng.gamma(2, 0.005);
            (t, rps, cpu, latency)
        })
        .collect()
}

/// The demo workload's config.
pub const CONFIG: &str = "\
# The built-in demo workload (mttd run --demo): 30 days of 1-minute data.
apiVersion: mttd/v1
kind: WorkloadConfig
workload: demo-api
source:
  file:
    path: workload.csv
signals:
  target: requests_per_second
  features: [cpu_cores, p95_latency_seconds]
resolution: 1m
label:
  horizon: 15m
  kind: at
capacity:
  per_replica: 25        # requests/s one replica serves at its target utilisation
  min_replicas: 2
  max_replicas: 40
  startup_delay: 2m
gate:
  # A first model's control is seasonal-naive, whose wide interval buys fewer under-provisioned
  # minutes with more replicas: judge the candidate's under-provisioning against the reactive HPA.
  under_provisioning_baseline: reactive
";

/// Writes `workload.csv` and `mttd.yaml` into `dir`; returns the config path.
pub fn write(dir: &Path, days: usize, seed: u64) -> Result<PathBuf> {
    let mut csv = String::from("timestamp,series,value\n");
    for (t, rps, cpu, latency) in generate(days, seed) {
        let ts = rfc3339(t);
        let _ = writeln!(csv, "{ts},cpu_cores,{cpu:.6}");
        let _ = writeln!(csv, "{ts},p95_latency_seconds,{latency:.6}");
        let _ = writeln!(csv, "{ts},requests_per_second,{rps:.4}");
    }
    write_atomic(&dir.join("workload.csv"), csv.as_bytes())?;
    let config = dir.join("mttd.yaml");
    write_atomic(&config, CONFIG.as_bytes())?;
    Ok(config)
}
