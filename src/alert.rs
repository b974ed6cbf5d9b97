//! Surge alerts: when the forecast's upper bound exceeds the running capacity by the configured
//! factor, the forecast step posts an alert to Alertmanager's API (`POST /api/v2/alerts`), so
//! that the on-call sees the prediction where they already look. The alert ends by itself one
//! horizon later unless the next forecast posts it again.

use crate::contract::deploy::{DriftAlertConfig, Recommendation, Surge, SurgeAlertConfig};
use crate::contract::score::LiveDrift;
use crate::error::{Error, Result};
use crate::time::rfc3339;

pub const ALERT_NAME: &str = "MttdForecastSurge";

/// The alert (Alertmanager's v2 `postableAlert`) for a surge in a recommendation, active from
/// `posted_at` (the wall clock: Alertmanager drops alerts that ended in the past) for one horizon.
pub fn surge_alert(
    rec: &Recommendation,
    surge: &Surge,
    config: &SurgeAlertConfig,
    posted_at: i64,
    horizon: i64,
) -> serde_json::Value {
    let forecast = rec.forecast.as_ref();
    let model = rec.model_version.map(|v| format!("v{v}")).unwrap_or_default();
    let annotations = serde_json::json!({
        "summary": format!("{}: predicted demand {:.4} within {} exceeds {}× the current capacity", rec.workload, surge.upper, rec.horizon, surge.factor),
        "description": format!(
            "mttd forecasts {} for {} at {} (point {:.4}, interval [{:.4}, {:.4}], model {model}); {} replicas serve {:.4}. Recommended replicas: {}.",
            rec.workload,
            rec.horizon,
            forecast.map(|f| f.target_time.as_str()).unwrap_or(""),
            forecast.map(|f| f.point).unwrap_or(f64::NAN),
            forecast.map(|f| f.lower).unwrap_or(f64::NAN),
            surge.upper,
            surge.current_replicas,
            surge.current_capacity,
            rec.replicas.map(|r| r.to_string()).unwrap_or_else(|| "none".into()),
        ),
        "runbook_url": config.runbook_url,
        "forecast_point": format!("{}", forecast.map(|f| f.point).unwrap_or(f64::NAN)),
        "forecast_upper": format!("{}", surge.upper),
        "current_capacity": format!("{}", surge.current_capacity),
        "horizon": rec.horizon,
        "model_version": model,
    });
    postable(
        ALERT_NAME,
        &config.labels,
        &rec.workload,
        &config.severity,
        annotations,
        posted_at,
        horizon,
    )
}

pub const DRIFT_ALERT_NAME: &str = "MttdForecastDrift";

/// The drift alert when the tracked interval has outgrown `config.max_width_ratio` × the
/// calibrated one (None otherwise): one Alertmanager alert, ending one horizon later unless the
/// next forecast posts it again.
pub fn drift_alert(
    rec: &Recommendation,
    config: &DriftAlertConfig,
    posted_at: i64,
    horizon: i64,
) -> Option<serde_json::Value> {
    let t = rec.interval_tracking.as_ref()?;
    let ratio = t.half_width / t.calibrated_half_width.max(f64::MIN_POSITIVE);
    if ratio <= config.max_width_ratio {
        return None;
    }
    let model = rec.model_version.map(|v| format!("v{v}")).unwrap_or_default();
    let coverage = if t.scored > 0 {
        format!("{:.3}", 1.0 - t.missed as f64 / t.scored as f64)
    } else {
        "none".into()
    };
    let annotations = serde_json::json!({
        "summary": format!("{}: the forecast's errors are {ratio:.1}× those model {model} was calibrated on", rec.workload),
        "description": format!(
            "mttd's adaptive interval for {} has grown to ±{:.4} from the calibrated ±{:.4} ({ratio:.2}×, alert above {}×) over {} scored forecasts, {} of them missed (live coverage {coverage}): the workload has drifted from what the model learned. Retrain it, or put the workload back to advisory mode.",
            rec.workload, t.half_width, t.calibrated_half_width, config.max_width_ratio, t.scored, t.missed
        ),
        "runbook_url": config.runbook_url,
        "width_ratio": format!("{ratio}"),
        "live_coverage": coverage,
        "scored_forecasts": format!("{}", t.scored),
        "model_version": model,
    });
    let (labels, severity) = (&config.labels, &config.severity);
    Some(postable(
        DRIFT_ALERT_NAME,
        labels,
        &rec.workload,
        severity,
        annotations,
        posted_at,
        horizon,
    ))
}

/// `MttdForecastDrift` from the live score: the version in service errs `drift.ratio` times
/// more than it did in validation.
pub fn live_drift_alert(
    workload: &str,
    drift: &LiveDrift,
    config: &DriftAlertConfig,
    posted_at: i64,
    horizon: i64,
) -> serde_json::Value {
    let annotations = serde_json::json!({
        "summary": format!("{workload}: model v{} errs {:.1}× what it did in validation", drift.model_version, drift.ratio),
        "description": format!(
            "Over the last {} the live MAE of {workload}'s model v{} is {:.4} on {} matured forecasts, {:.2}× its validation MAE {:.4} (alert above {}×): the workload has drifted from what the model learned. Retrain it, or put the workload back to advisory mode.",
            drift.window, drift.model_version, drift.live_mae, drift.scored, drift.ratio, drift.validation_mae, drift.limit
        ),
        "runbook_url": config.runbook_url,
        "live_mae": format!("{}", drift.live_mae),
        "validation_mae": format!("{}", drift.validation_mae),
        "mae_ratio": format!("{}", drift.ratio),
        "scored_forecasts": format!("{}", drift.scored),
        "model_version": format!("v{}", drift.model_version),
    });
    postable(
        DRIFT_ALERT_NAME,
        &config.labels,
        workload,
        &config.severity,
        annotations,
        posted_at,
        horizon,
    )
}

/// An Alertmanager v2 `postableAlert`: the configured labels, then the alert's name, the
/// workload and the severity; `annotations`; active from `posted_at` (the wall clock:
/// Alertmanager drops alerts that ended in the past) for one horizon.
fn postable(
    name: &str,
    extra: &std::collections::BTreeMap<String, String>,
    workload: &str,
    severity: &str,
    annotations: serde_json::Value,
    posted_at: i64,
    horizon: i64,
) -> serde_json::Value {
    let mut labels: serde_json::Map<String, serde_json::Value> =
        extra.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
    labels.insert("alertname".into(), name.into());
    labels.insert("workload".into(), workload.into());
    labels.insert("severity".into(), severity.into());
    serde_json::json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(posted_at),
        "endsAt": rfc3339(posted_at + horizon),
    })
}

/// Posts alerts to Alertmanager, retrying connection errors and 5xx twice (with backoff).
pub fn post(base_url: &str, alerts: &serde_json::Value) -> Result<()> {
    let url = format!("{}/api/v2/alerts", base_url.trim_end_matches('/'));
    let body = serde_json::to_vec(alerts).expect("alerts are JSON");
    crate::http::send_with_retry(reqwest::Method::POST, &url, "application/json", body).map_err(|problem| {
        Error::Alertmanager {
            url: base_url.to_string(),
            problem,
        }
    })
}
