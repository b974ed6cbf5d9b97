//! `mttd-forecast`: the promoted model's forecast for the latest window → `forecast/`: the
//! recommendation, a ConfigMap carrying it, an HPA patch (assisted mode), Prometheus text, and
//! one value a file for workflow conditions and metrics; a surge alert when one is predicted.

use std::path::PathBuf;

use anyhow::Context;

use super::{parse_time, Step};
use crate::contract::deploy::{DeployConfig, Mode, Recommendation};
use crate::contract::document::{canonical_json, write_atomic, Document};
use crate::contract::layout::{
    CONFIGMAP_FILE, HPA_PATCH_FILE, PROMETHEUS_TEXT_FILE, RECOMMENDATION_FILE, VALUES_DIR, VALUE_FALLBACK,
    VALUE_MODEL_VERSION, VALUE_PATCH_HPA, VALUE_POINT, VALUE_REPLICAS, VALUE_UPPER,
};
use crate::contract::workload::WorkloadConfig;
use crate::error::Error;
use crate::store::{registry, Store};
use crate::{alert, forecast, source};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Workload config: its source gives the latest window, `capacity` and `deploy` the advice.
    #[arg(long)]
    pub config: PathBuf,
    /// Model store holding the promoted model.
    #[arg(long, default_value = "./mttd-store")]
    pub store: String,
    /// Output folder: recommendation.json, configmap.yaml, hpa-patch.yaml (assisted mode),
    /// forecast.prom, and values/ (one value a file, for workflow conditions and metrics).
    #[arg(long)]
    pub out: PathBuf,
    /// "Now" (RFC 3339, Unix seconds, or `latest`: the latest sample's time, for replaying an
    /// export); default the clock. Data older than `max_staleness` before it is stale.
    #[arg(long)]
    pub now: Option<String>,
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

    fn run(&self) -> anyhow::Result<Recommendation> {
        let config = WorkloadConfig::load(&self.config)?;
        let given = match self.now.as_deref() {
            Some("latest") | None => None,
            Some(text) => Some(parse_time(text).map_err(|e| anyhow::anyhow!("--now: {e}, or `latest`"))?),
        };
        // One clock reading: the window a Prometheus source reads ends where "now" is.
        let end = given.unwrap_or_else(|| chrono::Utc::now().timestamp());
        // A server that cannot answer is a fallback (metrics missing), not a failed step: the
        // published advice must then say "reactive baseline", not keep the last forecast.
        let (raw, description, source_error) = match source::load(&config, Some(end)) {
            Ok((raw, description)) => (raw, description, None),
            Err(e @ Error::Prometheus { .. }) => (
                source::RawSeries::default(),
                source::SourceDescription {
                    kind: "prometheus",
                    location: String::new(),
                    sha256: None,
                    prometheus: None,
                },
                Some(e.to_string()),
            ),
            Err(e) => return Err(e.into()),
        };
        let latest = raw
            .series
            .get(&config.signals.target)
            .and_then(|s| s.last())
            .map(|s| s.0);
        let now = match (self.now.as_deref(), given) {
            (Some("latest"), None) if source_error.is_none() => {
                latest.ok_or_else(|| anyhow::anyhow!("--now latest: the target has no samples"))?
            }
            _ => end,
        };
        let state = self.state.clone().unwrap_or_else(|| self.out.join(RECOMMENDATION_FILE));
        let previous = if state.exists() {
            Some(Recommendation::read(&state)?)
        } else {
            None
        };
        let store = Store::open(&self.store)?;
        let promoted = registry::promoted_model(&store, &config.workload)?;
        let rec = forecast::recommend(forecast::ForecastInput {
            config: &config,
            promoted,
            raw: &raw,
            source: &description,
            now,
            current_replicas: self.current_replicas,
            previous: previous.as_ref(),
            source_error,
        })?;
        let deploy = config.deploy.clone().unwrap_or_default();
        write_atomic(&self.out.join(CONFIGMAP_FILE), configmap_yaml(&rec).as_bytes())?;
        let patch = self.out.join(HPA_PATCH_FILE);
        match hpa_patch_yaml(&rec, &deploy, self.namespace.as_deref()) {
            Some(yaml) => write_atomic(&patch, yaml.as_bytes())?,
            None if patch.exists() => {
                std::fs::remove_file(&patch).with_context(|| format!("removing {}", patch.display()))?
            }
            None => {}
        }
        write_atomic(&self.out.join(PROMETHEUS_TEXT_FILE), prometheus_text(&rec).as_bytes())?;
        for (name, value) in values(&rec, &deploy) {
            write_atomic(&self.out.join(VALUES_DIR).join(name), value.as_bytes())?;
        }
        rec.write(&self.out.join(RECOMMENDATION_FILE))?;
        // The advice is published first; a failed alert then fails the step visibly.
        if let (Some(surge), Some(alert)) = (&rec.surge, &deploy.surge_alert) {
            let alerts = serde_json::Value::Array(vec![alert::surge_alert(
                &rec,
                surge,
                alert,
                chrono::Utc::now().timestamp(),
                config.label.horizon.seconds(),
            )]);
            alert::post(&alert.alertmanager_url, &alerts)?;
            tracing::warn!(
                upper = surge.upper,
                capacity = surge.current_capacity,
                "surge alert posted to {}",
                alert.alertmanager_url
            );
        }
        tracing::info!(
            replicas = %rec.replicas.map(|r| r.to_string()).unwrap_or_else(|| "none".into()),
            fallback = rec.fallback.as_ref().map_or("none", |f| f.reason.as_str()),
            "recommendation written to {}",
            self.out.display()
        );
        Ok(rec)
    }
}

/// The ConfigMap `mttd-forecast-<workload>` carrying the recommendation (for kubectl apply,
/// GitOps, or an Argo resource template).
pub fn configmap_yaml(rec: &Recommendation) -> String {
    let json = String::from_utf8(canonical_json(rec)).expect("JSON is UTF-8");
    let value = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": format!("mttd-forecast-{}", rec.workload),
            "labels": {"app.kubernetes.io/name": "mttd", "app.kubernetes.io/component": "forecast"},
        },
        "data": {
            "recommendation.json": json,
            "replicas": rec.replicas.map(|r| r.to_string()).unwrap_or_default(),
            "mode": rec.mode.as_str(),
            "fallback": rec.fallback.as_ref().map(|f| f.reason.as_str()).unwrap_or_default(),
        },
    });
    serde_yaml_ng::to_string(&value).expect("YAML")
}

/// In assisted mode: a merge patch setting the HPA's minReplicas to the recommendation — never
/// below the operator's floor — or, on a fallback, back to the operator's floor
/// (`kubectl patch hpa NAME --type merge --patch-file hpa-patch.yaml`), in `namespace` when
/// given (else the namespace it is applied in).
pub fn hpa_patch_yaml(rec: &Recommendation, deploy: &DeployConfig, namespace: Option<&str>) -> Option<String> {
    if deploy.mode != Mode::Assisted {
        return None;
    }
    let replicas = rec.replicas.or(rec.operator_floor)?;
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
/// used, or `none`).
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
    ]
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
    out.push_str("# HELP mttd_forecast_fallback 1 when the forecast fell back to the reactive baseline.\n# TYPE mttd_forecast_fallback gauge\n");
    let reason = rec.fallback.as_ref().map(|f| f.reason.as_str()).unwrap_or("none");
    out.push_str(&format!(
        "mttd_forecast_fallback{{workload=\"{w}\",reason=\"{reason}\"}} {}\n",
        u8::from(rec.fallback.is_some())
    ));
    out
}
