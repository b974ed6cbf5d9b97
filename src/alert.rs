//! Surge alerts: when the forecast's upper bound exceeds the running capacity by the configured
//! factor, the forecast step posts an alert to Alertmanager's API (`POST /api/v2/alerts`), so
//! that the on-call sees the prediction where they already look. The alert ends by itself one
//! horizon later unless the next forecast posts it again.

use crate::contract::deploy::{Recommendation, Surge, SurgeAlertConfig};
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
    let mut labels = serde_json::Map::new();
    for (k, v) in &config.labels {
        labels.insert(k.clone(), v.clone().into());
    }
    labels.insert("alertname".into(), ALERT_NAME.into());
    labels.insert("workload".into(), rec.workload.clone().into());
    labels.insert("severity".into(), config.severity.clone().into());
    let forecast = rec.forecast.as_ref();
    let model = rec.model_version.map(|v| format!("v{v}")).unwrap_or_default();
    serde_json::json!({
        "labels": labels,
        "annotations": {
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
        },
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
