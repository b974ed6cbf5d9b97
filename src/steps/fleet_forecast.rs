//! `mttd-fleet-forecast`: many workloads' forecasts in one process — every workload config in
//! a folder (or this run's shard of them), each forecast exactly as `mttd-forecast` makes it
//! into `OUT/<workload>/`, with bounded concurrency against the source and the store, and each
//! workload alone: a bad config, missing metrics or a tampered model makes that workload fall
//! back (or, for a config that cannot be read, fail) and never delays or fails the others.
//! `OUT/fleet.json` says what each did; `OUT/configmaps.yaml` is every advice ConfigMap as one
//! Kubernetes `List`, for one `kubectl apply`; `OUT/advice.yaml` the run as one ConfigMap (what
//! an Argo resource step can apply); `OUT/values/` the counts (recommendations, fallbacks,
//! failed) for a workflow's metrics.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::forecast::{self, recommendation_configmap};
use super::{side_effect, Live, Step};
use crate::contract::document::{write_atomic, ApiVersion, Document};
use crate::contract::fleet::{FleetFailure, FleetOutcome, FleetRun, FleetRunKind};
use crate::contract::layout::{
    forecast_state_key, value_file, FLEET_ADVICE_FILE, FLEET_CONFIGMAPS_FILE, FLEET_FILE, RECOMMENDATION_FILE,
    VALUE_FAILED, VALUE_FALLBACKS, VALUE_RECOMMENDATIONS,
};
use crate::contract::workload::WorkloadConfig;
use crate::store::Store;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A folder of workload configs (`*.yaml`, `*.yml`; one workload each), e.g. the mounted
    /// ConfigMaps labelled for mttd.
    #[arg(long)]
    pub configs: PathBuf,
    /// Model store (every workload's promoted model and prediction log).
    #[arg(long, default_value = "./mttd-store")]
    pub store: String,
    /// "Now", as for `mttd-forecast` (RFC 3339, Unix seconds, or `latest`); default the clock.
    #[arg(long)]
    pub now: Option<String>,
    /// Output folder: `<workload>/` as `mttd-forecast --out` writes it (its recommendation is
    /// the next run's state), fleet.json, configmaps.yaml.
    #[arg(long)]
    pub out: PathBuf,
    /// Workloads forecast at once (each reads the source and the store).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// This run's shard: `K/N` takes the configs whose position in name order is K modulo N
    /// (an Argo `withParam` fan-out over a few pods).
    #[arg(long, default_value = "0/1", value_parser = parse_shard)]
    pub shard: (usize, usize),
    /// Keep each workload's state (its last recommendation: the observation window, the
    /// adaptive interval, the change log's witness) in the store at
    /// `<workload>/forecast/state.json`, for a pod whose output folder does not persist: read
    /// before its forecast when OUT has none, written after (needs write access to that key, as
    /// the prediction log to `predictions/`; a state that cannot be read or written is said and
    /// the forecast goes on without it).
    #[arg(long)]
    pub state_in_store: bool,
}

fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let parsed = text
        .split_once('/')
        .and_then(|(k, n)| Some((k.parse::<usize>().ok()?, n.parse::<usize>().ok()?)));
    match parsed {
        Some((k, n)) if n > 0 && k < n => Ok((k, n)),
        _ => Err(format!("`{text}` is not a shard K/N with 0 <= K < N (e.g. 0/4)")),
    }
}

/// The workload configs in `dir`, in name order.
fn configs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the config folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    found.sort();
    Ok(found)
}

impl Step for Args {
    const NAME: &'static str = "fleet-forecast";
    type Output = FleetRun;

    fn run(&self) -> anyhow::Result<FleetRun> {
        let (k, n) = self.shard;
        let mine: Vec<PathBuf> = configs(&self.configs)?
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k)
            .map(|(_, p)| p)
            .collect();
        std::fs::create_dir_all(&self.out).with_context(|| format!("creating {}", self.out.display()))?;
        let state = match self.state_in_store {
            true => Some(Store::open(&self.store)?),
            false => None,
        };
        let results = crate::parallel::map(&mine, self.concurrency, |path| {
            let started = std::time::Instant::now();
            // One workload alone: its error (or a panic) is its own.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.one(path, state.as_ref())))
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the forecast panicked")));
            let millis = started.elapsed().as_millis() as u64;
            let config = path.display().to_string();
            match outcome {
                Ok((rec, configmap)) => (
                    Ok(FleetOutcome {
                        config,
                        workload: rec.workload.clone(),
                        replicas: rec.replicas,
                        fallback: rec.fallback.as_ref().map(|f| f.reason.as_str().to_string()),
                        millis,
                    }),
                    Some(configmap),
                ),
                Err(e) => (
                    Err(FleetFailure {
                        config,
                        error: format!("{e:#}"),
                    }),
                    None,
                ),
            }
        });
        let mut run = FleetRun {
            api_version: ApiVersion::V1,
            kind: FleetRunKind::Kind,
            shard: format!("{k}/{n}"),
            workloads: results.len() as u64,
            recommendations: 0,
            fallbacks: Default::default(),
            failed: Vec::new(),
            outcomes: Vec::new(),
        };
        let mut items = Vec::new();
        for (result, configmap) in results {
            match result {
                Ok(outcome) => {
                    match &outcome.fallback {
                        Some(reason) => *run.fallbacks.entry(reason.clone()).or_default() += 1,
                        None => run.recommendations += 1,
                    }
                    run.outcomes.push(outcome);
                }
                Err(failure) => run.failed.push(failure),
            }
            items.extend(configmap);
        }
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        write_atomic(
            &self.out.join(FLEET_CONFIGMAPS_FILE),
            serde_yaml_ng::to_string(&list)
                .context("the ConfigMap list")?
                .as_bytes(),
        )?;
        run.write(&self.out.join(FLEET_FILE))?;
        let fallbacks: u64 = run.fallbacks.values().sum();
        write_atomic(
            &self.out.join(FLEET_ADVICE_FILE),
            advice_configmap(&run, k, n).as_bytes(),
        )?;
        for (name, value) in [
            (VALUE_RECOMMENDATIONS, run.recommendations),
            (VALUE_FALLBACKS, fallbacks),
            (VALUE_FAILED, run.failed.len() as u64),
        ] {
            write_atomic(&self.out.join(value_file(name)), value.to_string().as_bytes())?;
        }
        tracing::info!(
            workloads = run.workloads,
            recommendations = run.recommendations,
            failed = run.failed.len(),
            "fleet forecast written to {}",
            self.out.display()
        );
        Ok(run)
    }
}

/// Largest `fleet.json` carried in the advice ConfigMap: a ConfigMap holds at most 1 MiB.
const MAX_ADVICE_BYTES: usize = 900 * 1024;

/// The run as one ConfigMap, `mttd-fleet-advice-<K>-of-<N>`: `fleet.json` (every workload's
/// replicas or fallback) and the counts — or, for a shard too large for a ConfigMap, the counts
/// and a note to raise the shard count.
fn advice_configmap(run: &FleetRun, k: usize, n: usize) -> String {
    let json = String::from_utf8(crate::contract::canonical_json(run)).expect("JSON is UTF-8");
    let mut data = serde_json::json!({
        "recommendations": run.recommendations.to_string(),
        "fallbacks": run.fallbacks.values().sum::<u64>().to_string(),
        "failed": run.failed.len().to_string(),
    });
    if json.len() <= MAX_ADVICE_BYTES {
        data["fleet.json"] = serde_json::Value::String(json);
    } else {
        data["note"] = serde_json::Value::String(format!(
            "fleet.json is {} bytes, more than a ConfigMap holds: forecast this fleet over more shards",
            json.len()
        ));
    }
    serde_yaml_ng::to_string(&forecast::configmap(&format!("mttd-fleet-advice-{k}-of-{n}"), data)).expect("YAML")
}

impl Args {
    /// One workload's forecast, as `mttd-forecast` makes it, into `OUT/<workload>/` — with its
    /// state from and back to `state` (the store) when given.
    fn one(
        &self,
        path: &Path,
        state: Option<&Store>,
    ) -> anyhow::Result<(crate::contract::Recommendation, serde_json::Value)> {
        let workload = WorkloadConfig::load(path)?.workload;
        let out = self.out.join(&workload);
        let key = forecast_state_key(&workload);
        if let Some(store) = state.filter(|_| !out.join(RECOMMENDATION_FILE).exists()) {
            match store.get(&key) {
                Ok(Some(bytes)) => write_atomic(&out.join(RECOMMENDATION_FILE), &bytes)?,
                Ok(None) => {}
                Err(e) => tracing::warn!("{workload}: no state read from the store: {e}"),
            }
        }
        let step = forecast::Args {
            live: Live {
                config: path.to_path_buf(),
                store: self.store.clone(),
                now: self.now.clone(),
            },
            out,
            current_replicas: None,
            state: None,
            namespace: None,
        };
        let rec = step.run()?;
        if let Some(store) = state {
            side_effect("the state", "written", &key, store.put(&key, &rec.to_bytes()));
        }
        let configmap = recommendation_configmap(&rec);
        Ok((rec, configmap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(workloads: usize) -> FleetRun {
        FleetRun {
            api_version: ApiVersion::V1,
            kind: FleetRunKind::Kind,
            shard: "0/1".into(),
            workloads: workloads as u64,
            recommendations: workloads as u64,
            fallbacks: Default::default(),
            failed: Vec::new(),
            outcomes: (0..workloads)
                .map(|i| FleetOutcome {
                    config: format!("workload-with-a-long-name-{i:06}.yaml"),
                    workload: format!("workload-with-a-long-name-{i:06}"),
                    replicas: Some(3),
                    fallback: None,
                    millis: 5,
                })
                .collect(),
        }
    }

    /// The advice ConfigMap carries the run, or — past what a ConfigMap holds — the counts and
    /// a note to shard further.
    #[test]
    fn the_advice_configmap_carries_the_run_or_says_to_shard_further() {
        let small: serde_json::Value = serde_yaml_ng::from_str(&advice_configmap(&run(3), 1, 4)).unwrap();
        assert_eq!(small["metadata"]["name"], "mttd-fleet-advice-1-of-4");
        assert_eq!(small["data"]["recommendations"], "3");
        let carried: FleetRun = serde_json::from_str(small["data"]["fleet.json"].as_str().unwrap()).unwrap();
        assert_eq!(carried, run(3));
        let large: serde_json::Value = serde_yaml_ng::from_str(&advice_configmap(&run(20_000), 0, 1)).unwrap();
        assert!(large["data"].get("fleet.json").is_none());
        assert!(large["data"]["note"].as_str().unwrap().contains("more shards"));
        assert_eq!(large["data"]["recommendations"], "20000");
    }
}
