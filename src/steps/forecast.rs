//! `mttd-forecast`: the promoted model's forecast for the latest window → `forecast/`: the
//! recommendation, a ConfigMap carrying it, Prometheus text, and one value a file for workflow
//! conditions and metrics; in assisted mode the floor pushed as a metric (or, opted in, an HPA
//! `minReplicas` patch); a surge alert when one is predicted.

use std::path::PathBuf;

use anyhow::Context;

use super::{side_effect, Live, Step};
use crate::contract::deploy::{DeployConfig, Fallback, FallbackReason, Recommendation};
use crate::contract::document::{canonical_json, write_atomic, Document};
use crate::contract::layout::{
    value_file, CONFIGMAP_FILE, HPA_PATCH_FILE, PROMETHEUS_TEXT_FILE, RECOMMENDATION_FILE, VALUES_DIR, VALUE_ALERT,
    VALUE_DRIFT_ALERT, VALUE_FALLBACK, VALUE_FLOOR_PUSH, VALUE_LIVE_COVERAGE, VALUE_MODEL_VERSION, VALUE_PATCH_HPA,
    VALUE_POINT, VALUE_PREDICTION_LOG, VALUE_REACTIVE_REPLICAS, VALUE_REPLICAS, VALUE_SET_BY, VALUE_UPPER,
};
use crate::contract::workload::WorkloadConfig;
use crate::error::Error;
use crate::store::{predictions, registry, Store};
use crate::time::HumanDuration;
use crate::{alert, floor_metric, forecast, source};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Data older than `deploy.max_staleness` before "now" is stale.
    #[command(flatten)]
    pub live: Live,
    /// Output folder: recommendation.json, configmap.yaml, hpa-patch.yaml (the opt-in
    /// `min-replicas-patch` actuation),
    /// forecast.prom, and values/ (one value a file, for workflow conditions and metrics).
    #[arg(long)]
    pub out: PathBuf,
    /// The replicas running now (for the scale-down guardrails); default the previous
    /// recommendation's.
    #[arg(long)]
    pub current_replicas: Option<u32>,
    /// The previous recommendation (the observation window's memory); default OUT/recommendation.json.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// The namespace of the workload's HPA, written into the assisted-mode patch (default: the
    /// namespace the patch is applied in).
    #[arg(long)]
    pub namespace: Option<String>,
}

impl Step for Args {
    const NAME: &'static str = "forecast";
    type Output = Recommendation;

    /// The exit rule: 0 whenever a recommendation is published — a forecast or a fallback,
    /// whatever went wrong after the config was read (the source, the store, the model, the
    /// state, the numbers) and whether or not a surge alert got through (its outcome is
    /// `values/alert`); non-zero only when the config or the command line cannot be used, or
    /// the outputs cannot be written. The outputs are written all or nothing.
    fn run(&self) -> anyhow::Result<Recommendation> {
        let config = WorkloadConfig::load(&self.live.config)?;
        // One clock reading: the window a Prometheus source reads ends where "now" is.
        let end = self.live.end()?;
        let mut unavailable: Option<Fallback> = None;
        let fail = |reason: FallbackReason, detail: String| Some(Fallback { reason, detail });
        // A source that cannot be read is a fallback (metrics missing), not a failed step: the
        // published advice must then say "reactive baseline", not keep the last forecast.
        let (raw, description) = match source::load(&config, Some(end)) {
            Ok(loaded) => loaded,
            Err(e) => {
                unavailable = fail(FallbackReason::MetricsMissing, e.to_string());
                (
                    source::RawSeries::default(),
                    source::SourceDescription {
                        kind: "none",
                        location: String::new(),
                        sha256: None,
                        prometheus: None,
                    },
                )
            }
        };
        let latest = raw
            .series
            .get(&config.signals.target)
            .and_then(|s| s.last())
            .map(|s| s.0);
        let now = self.live.resolve(end, latest);
        let state = self.state.clone().unwrap_or_else(|| self.out.join(RECOMMENDATION_FILE));
        let previous = match state.exists().then(|| Recommendation::read(&state)) {
            None => None,
            Some(Ok(previous)) => Some(previous),
            Some(Err(e)) => {
                unavailable = unavailable.or(fail(FallbackReason::StateInvalid, e.to_string()));
                None
            }
        };
        // The store: the log must still have the entry the last forecast saw (a truncation or
        // a rewrite is refused), then the promoted model, verified.
        let seen = previous.as_ref().and_then(|p| p.log_witness.as_ref());
        let loaded =
            Store::open(&self.live.store).and_then(|store| registry::served_models(&store, &config.workload, seen));
        let (promoted, drift, shadows, log_witness) = match loaded {
            Ok(served) => (served.promoted, served.promoted_drift, served.shadows, served.head),
            Err(e) => {
                let reason = match e {
                    Error::Store { .. } => FallbackReason::StoreUnavailable,
                    _ => FallbackReason::ModelRejected,
                };
                unavailable = unavailable.or(fail(reason, e.to_string()));
                (None, None, Vec::new(), None)
            }
        };
        let mut rec = forecast::recommend(forecast::ForecastInput {
            config: &config,
            promoted,
            raw: &raw,
            source: &description,
            now,
            current_replicas: self.current_replicas,
            previous: previous.as_ref(),
            unavailable,
            log_witness,
            drift,
        })?;
        rec.shadows = forecast::shadow_forecasts(&config, &shadows, &raw, &description, now);
        let deploy = config.deploy.clone().unwrap_or_default();
        self.write_outputs(&rec, &deploy)?;
        // The advice is out first; then what it sets off, each outcome recorded (`pushed` or
        // `posted`, `failed`, `none`) and none failing the step: a floor that could not be
        // pushed ages out by itself (the queries drop it) and the HPA is reactive again; an
        // alert that did not get through never keeps the floor from being raised.
        let horizon = HumanDuration::parse(&rec.horizon).map_or(0, |h| h.seconds());
        let pushed = deploy.floor_pushgateway().map(|gateway| {
            let url = floor_metric::group_url(gateway, &rec.workload);
            side_effect(
                "the floor metric",
                "pushed",
                &url,
                floor_metric::push(gateway, &rec, now),
            )
        });
        write_atomic(
            &self.out.join(value_file(VALUE_FLOOR_PUSH)),
            pushed.unwrap_or("none").as_bytes(),
        )?;
        let surge = match (&rec.surge, &deploy.surge_alert) {
            (Some(surge), Some(alert)) => {
                let alerts = vec![alert::surge_alert(
                    &rec,
                    surge,
                    alert,
                    chrono::Utc::now().timestamp(),
                    horizon,
                )];
                let url = &alert.alertmanager_url;
                Some(side_effect(
                    "the surge alert",
                    "posted",
                    url,
                    alert::post(url, &alerts.into()),
                ))
            }
            _ => None,
        };
        write_atomic(
            &self.out.join(value_file(VALUE_ALERT)),
            surge.unwrap_or("none").as_bytes(),
        )?;
        // Drift: the adaptive interval has outgrown the calibrated one.
        let drift = deploy.drift_alert.as_ref().and_then(|alert| {
            let drifted = alert::drift_alert(&rec, alert, chrono::Utc::now().timestamp(), horizon)?;
            let url = &alert.alertmanager_url;
            Some(side_effect(
                "the drift alert",
                "posted",
                url,
                alert::post(url, &vec![drifted].into()),
            ))
        });
        write_atomic(
            &self.out.join(value_file(VALUE_DRIFT_ALERT)),
            drift.unwrap_or("none").as_bytes(),
        )?;
        // The prediction log: what this run predicted, for live scoring once it has matured.
        let logged = deploy.prediction_log.then(|| {
            let logged = Store::open(&self.live.store).and_then(|store| predictions::log(&store, &rec, now));
            side_effect("the prediction", "logged", &self.live.store, logged.map(drop))
        });
        write_atomic(
            &self.out.join(value_file(VALUE_PREDICTION_LOG)),
            logged.unwrap_or("none").as_bytes(),
        )?;
        tracing::info!(
            replicas = %rec.replicas.map(|r| r.to_string()).unwrap_or_else(|| "none".into()),
            fallback = rec.fallback.as_ref().map_or("none", |f| f.reason.as_str()),
            "recommendation written to {}",
            self.out.display()
        );
        Ok(rec)
    }
}

impl Args {
    /// Writes the output folder all or nothing: a staging folder beside it, then swapped in.
    fn write_outputs(&self, rec: &Recommendation, deploy: &DeployConfig) -> anyhow::Result<()> {
        let name = self
            .out
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "forecast".into());
        let staging = self
            .out
            .with_file_name(format!(".{name}.staging-{}", std::process::id()));
        let old = self.out.with_file_name(format!(".{name}.old-{}", std::process::id()));
        let written = (|| -> anyhow::Result<()> {
            write_atomic(&staging.join(CONFIGMAP_FILE), configmap_yaml(rec).as_bytes())?;
            if let Some(yaml) = hpa_patch_yaml(rec, deploy, self.namespace.as_deref()) {
                write_atomic(&staging.join(HPA_PATCH_FILE), yaml.as_bytes())?;
            }
            write_atomic(&staging.join(PROMETHEUS_TEXT_FILE), prometheus_text(rec).as_bytes())?;
            for (name, value) in values(rec, deploy) {
                write_atomic(&staging.join(VALUES_DIR).join(name), value.as_bytes())?;
            }
            rec.write(&staging.join(RECOMMENDATION_FILE))?;
            if self.out.exists() {
                std::fs::rename(&self.out, &old).with_context(|| format!("moving {} aside", self.out.display()))?;
            }
            std::fs::rename(&staging, &self.out).with_context(|| format!("renaming into {}", self.out.display()))
        })();
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
            if old.exists() && !self.out.exists() {
                let _ = std::fs::rename(&old, &self.out);
            }
        }
        let _ = std::fs::remove_dir_all(&old);
        written
    }
}

/// The ConfigMap `mttd-forecast-<workload>` carrying the recommendation (for kubectl apply,
/// GitOps, or an Argo resource template), as YAML.
pub fn configmap_yaml(rec: &Recommendation) -> String {
    serde_yaml_ng::to_string(&recommendation_configmap(rec)).expect("YAML")
}

/// The ConfigMap `mttd-forecast-<workload>` carrying the recommendation.
pub fn recommendation_configmap(rec: &Recommendation) -> serde_json::Value {
    let json = String::from_utf8(canonical_json(rec)).expect("JSON is UTF-8");
    configmap(
        &format!("mttd-forecast-{}", rec.workload),
        serde_json::json!({
            "recommendation.json": json,
            "replicas": rec.replicas.map(|r| r.to_string()).unwrap_or_default(),
            "mode": rec.mode.as_str(),
            "fallback": rec.fallback.as_ref().map(|f| f.reason.as_str()).unwrap_or_default(),
        }),
    )
}

/// A forecast ConfigMap `name` holding `data`, labelled for mttd.
pub fn configmap(name: &str, data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/name": "mttd", "app.kubernetes.io/component": "forecast"},
        },
        "data": data,
    })
}

/// In assisted mode with `actuation: min-replicas-patch`: a merge patch setting the HPA's minReplicas to the recommendation — never
/// below the operator's floor — or, on a fallback, back to the operator's floor
/// (`kubectl patch hpa NAME --type merge --patch-file hpa-patch.yaml`), in `namespace` when
/// given (else the namespace it is applied in).
pub fn hpa_patch_yaml(rec: &Recommendation, deploy: &DeployConfig, namespace: Option<&str>) -> Option<String> {
    if !deploy.patches_hpa() {
        return None;
    }
    let replicas = rec.acted_floor().or(rec.operator_floor)?;
    let mut metadata = serde_json::json!({"name": deploy.hpa_name.clone().unwrap_or_else(|| rec.workload.clone())});
    if let Some(namespace) = namespace {
        metadata["namespace"] = namespace.into();
    }
    let value = serde_json::json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": {"minReplicas": replicas},
    });
    Some(serde_yaml_ng::to_string(&value).expect("YAML"))
}

/// One-value files for a workflow engine's conditions and metrics (Argo output parameters):
/// `replicas`, `point`, `upper` (a number, or `none`), `fallback` (the reason, or `none`) and
/// `patch-hpa` (`true` when an HPA patch was written), `model-version` (the promoted version
/// used, or `none`), `set-by` (what set the replicas, from the decision record, or `none`) and
/// `reactive-replicas` (what the HPA alone recommends, or `none`), `live-coverage` (the adaptive
/// interval's coverage so far, or `none`).
pub fn values(rec: &Recommendation, deploy: &DeployConfig) -> Vec<(&'static str, String)> {
    let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_else(|| "none".into());
    let forecast = rec.forecast.as_ref().filter(|_| rec.fallback.is_none());
    vec![
        (
            VALUE_REPLICAS,
            rec.replicas.map(|r| r.to_string()).unwrap_or_else(|| "none".into()),
        ),
        (VALUE_POINT, number(forecast.map(|f| f.point))),
        (VALUE_UPPER, number(forecast.map(|f| f.upper))),
        (
            VALUE_FALLBACK,
            rec.fallback
                .as_ref()
                .map(|f| f.reason.as_str())
                .unwrap_or("none")
                .to_string(),
        ),
        (VALUE_PATCH_HPA, hpa_patch_yaml(rec, deploy, None).is_some().to_string()),
        (
            VALUE_MODEL_VERSION,
            rec.model_version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "none".into()),
        ),
        (
            VALUE_SET_BY,
            rec.decision.as_ref().map_or("none", |d| d.set_by.as_str()).to_string(),
        ),
        (
            VALUE_REACTIVE_REPLICAS,
            rec.decision
                .as_ref()
                .map_or_else(|| "none".into(), |d| d.reactive_replicas.to_string()),
        ),
        (
            VALUE_LIVE_COVERAGE,
            live_coverage(rec).map_or_else(|| "none".into(), |c| c.to_string()),
        ),
    ]
}

/// The adaptive interval's coverage of the forecasts scored so far (none before the first).
pub fn live_coverage(rec: &Recommendation) -> Option<f64> {
    let t = rec.interval_tracking.as_ref().filter(|t| t.scored > 0)?;
    Some(1.0 - t.missed as f64 / t.scored as f64)
}

/// Prometheus text format, for the node exporter's textfile collector and Argo metrics.
pub fn prometheus_text(rec: &Recommendation) -> String {
    let w = &rec.workload;
    let mut out = String::new();
    out.push_str("# HELP mttd_forecast The workload's forecast for the horizon: point and interval bounds.\n# TYPE mttd_forecast gauge\n");
    if let Some(f) = &rec.forecast {
        for (bound, v) in [("point", f.point), ("lower", f.lower), ("upper", f.upper)] {
            out.push_str(&format!("mttd_forecast{{workload=\"{w}\",bound=\"{bound}\"}} {v}\n"));
        }
    }
    out.push_str("# HELP mttd_recommended_replicas Replicas recommended after the guardrails.\n# TYPE mttd_recommended_replicas gauge\n");
    if let Some(r) = rec.replicas {
        let mode = rec.mode.as_str();
        out.push_str(&format!(
            "mttd_recommended_replicas{{workload=\"{w}\",mode=\"{mode}\"}} {r}\n"
        ));
    }
    out.push_str("# HELP mttd_decision_replicas The decision record: what the HPA alone recommends (reactive), replicas for the forecast's point and upper bound, and what the HPA recommends with the floor under it (final).\n# TYPE mttd_decision_replicas gauge\n");
    if let Some(d) = &rec.decision {
        let kinds = [
            ("reactive", Some(d.reactive_replicas)),
            ("point", d.point_replicas),
            ("upper", d.upper_replicas),
            ("final", Some(d.final_replicas)),
        ];
        for (kind, value) in kinds {
            if let Some(v) = value {
                out.push_str(&format!(
                    "mttd_decision_replicas{{workload=\"{w}\",kind=\"{kind}\"}} {v}\n"
                ));
            }
        }
    }
    out.push_str("# HELP mttd_decision_set_by 1 for what set the final replicas: the forecast, a guardrail, the HPA's own recommendation (reactive) or a fallback.\n# TYPE mttd_decision_set_by gauge\n");
    if let Some(d) = &rec.decision {
        out.push_str(&format!(
            "mttd_decision_set_by{{workload=\"{w}\",set_by=\"{}\"}} 1\n",
            d.set_by.as_str()
        ));
    }
    out.push_str("# HELP mttd_headroom_replicas Balloon pods to hold node room for the forecast's surge beyond the running replicas.\n# TYPE mttd_headroom_replicas gauge\n");
    if let Some(h) = &rec.headroom {
        out.push_str(&format!(
            "mttd_headroom_replicas{{workload=\"{w}\"}} {}\n",
            h.balloon_replicas
        ));
    }
    out.push_str("# HELP mttd_interval_half_width The adaptive interval's half-width now, in the target's units.\n# TYPE mttd_interval_half_width gauge\n");
    out.push_str("# HELP mttd_interval_scored Forecasts scored against what happened, and those the interval missed.\n# TYPE mttd_interval_scored gauge\n");
    if let Some(t) = &rec.interval_tracking {
        out.push_str(&format!(
            "mttd_interval_half_width{{workload=\"{w}\"}} {}\n",
            t.half_width
        ));
        for (outcome, n) in [("all", t.scored), ("missed", t.missed)] {
            out.push_str(&format!(
                "mttd_interval_scored{{workload=\"{w}\",outcome=\"{outcome}\"}} {n}\n"
            ));
        }
    }
    out.push_str("# HELP mttd_forecast_fallback 1 when the forecast fell back to the reactive baseline.\n# TYPE mttd_forecast_fallback gauge\n");
    let reason = rec.fallback.as_ref().map(|f| f.reason.as_str()).unwrap_or("none");
    out.push_str(&format!(
        "mttd_forecast_fallback{{workload=\"{w}\",reason=\"{reason}\"}} {}\n",
        u8::from(rec.fallback.is_some())
    ));
    out
}
