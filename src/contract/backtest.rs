//! `backtest.json`: what mttd would have done over a stretch of history — the retrains and the
//! gate's decisions, the live trials of shadows, drift, the forecasts' live error per version,
//! and the HPA replay of the deployed policy beside the reactive HPA. Made by `crate::backtest`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::comparison::ReplayMetrics;
use super::document::{document_kind, ApiVersion};
use super::gate::Verdict;
use super::interval::Interval;

document_kind!(Backtest, BacktestKind, "Backtest");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backtest {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: BacktestKind,
    pub workload: String,
    /// The stretch replayed: forecasts at every cadence tick in it.
    pub window: Interval,
    pub retrain_every: String,
    pub cadence: String,
    pub horizon: String,
    /// Every retrain, in order: when, why, and what the gate decided.
    pub retrains: Vec<BacktestRetrain>,
    /// Every shadow's live trial that ended.
    pub trials: Vec<BacktestTrial>,
    /// Every time the live drift rule (`deploy.drift_alert.live_mae_ratio`) held for the version
    /// in service (once per version; each triggers a retrain).
    pub drift: Vec<BacktestDrift>,
    /// Cadence ticks, and those without a forecast of the version in service by reason
    /// (`no-promoted-model`, `metrics-stale`, `feature-window-incomplete`).
    pub ticks: u64,
    pub fallbacks: std::collections::BTreeMap<String, u64>,
    /// Each version's forecasts at the cadence ticks, matured by the window's end, against what
    /// then happened (the model's calibrated interval).
    pub versions: Vec<BacktestVersion>,
    pub replay: BacktestReplay,
    pub summary: BacktestSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRetrain {
    pub at: String,
    /// `schedule` or `drift`.
    pub trigger: String,
    /// The version published (absent when the retrain failed, e.g. too little data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Verdict>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestTrial {
    pub at: String,
    pub version: u32,
    pub decision: Verdict,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestDrift {
    pub at: String,
    pub version: u32,
    pub live_mae: f64,
    pub validation_mae: f64,
    pub ratio: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestVersion {
    pub version: u32,
    /// `promoted` forecasts were the advice; `shadow` ones were only logged.
    pub role: String,
    pub scored: u64,
    pub mae: f64,
    pub mape: f64,
    pub coverage: f64,
    pub mean_interval_width: f64,
}

/// The HPA replay over the window: the reactive HPA alone, and with the floors the deployed
/// policy set from the forecasts of the version in service at each tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestReplay {
    pub reactive_saturation_episodes: u32,
    pub reactive: ReplayMetrics,
    pub mttd: ReplayMetrics,
    /// Cadence ticks at which the policy set no floor (no forecast, or one not trusted).
    pub ticks_without_floor: u64,
    /// The forecasts the policy made (acted on or not) whose target time fell in the window,
    /// and the share of their actuals inside the interval as served — adaptive when
    /// `capacity.predictive.adaptive_interval` is set, else the model's calibrated one.
    pub forecasts_scored: u64,
    pub interval_coverage: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestSummary {
    pub retrains: u64,
    pub promotions: u64,
    pub shadows: u64,
    pub rejections: u64,
    pub shadows_promoted: u64,
    pub shadows_rejected: u64,
    pub drift_events: u64,
    /// mttd's saturated minutes and replica-minutes against the reactive HPA's (mttd − reactive).
    pub saturated_minutes_saved: f64,
    pub replica_minutes_added: f64,
}
