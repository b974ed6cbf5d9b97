//! `score.json`: the live score of the forecasts in service — the logged predictions whose
//! target time has passed, joined with what the workload then did.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::document::{document_kind, ApiVersion};

document_kind!(Score, ScoreKind, "Score");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Score {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: ScoreKind,
    pub workload: String,
    /// "Now": predictions whose target time is at or before it are matured.
    pub scored_at: String,
    /// Predictions read from the log: those made in the days the longest window can reach.
    pub logged: u64,
    /// The trailing windows (by target time), shortest first.
    pub windows: Vec<ScoreWindow>,
    /// The live drift rule (`deploy.drift_alert.live_mae_ratio`), when configured and the
    /// version in service was scored in its window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<LiveDrift>,
}

/// The live drift rule, evaluated for the version in service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveDrift {
    pub model_version: u32,
    pub window: String,
    pub scored: u64,
    pub live_mae: f64,
    /// The version's holdout MAE (its validation.json in the store).
    pub validation_mae: f64,
    /// live_mae / validation_mae.
    pub ratio: f64,
    /// The rule's `live_mae_ratio`.
    pub limit: f64,
    /// ratio > limit over at least `min_scored` forecasts.
    pub holds: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreWindow {
    /// `1h`, `1d` or `7d`: target times in (scored_at − window, scored_at].
    pub window: String,
    /// Forecasts in the window that fell back (no prediction to score).
    pub fallbacks: u64,
    /// One entry per model version that made predictions in the window, oldest version first.
    pub versions: Vec<VersionScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionScore {
    pub model_version: u32,
    /// Matured predictions with an actual sample at their target time.
    pub scored: u64,
    /// Matured predictions without one (a gap in the source): not scored.
    pub unmatched: u64,
    /// Mean absolute error of the point forecast.
    pub mae: f64,
    /// Mean absolute percentage error (%), over actuals that are not 0; absent when all are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mape: Option<f64>,
    /// Mean of point − actual: > 0 over-forecasts.
    pub bias: f64,
    /// Share of actuals inside [lower, upper].
    pub coverage: f64,
    /// Mean of upper − lower.
    pub mean_width: f64,
    /// Forecasts that raised the floor above what the HPA alone had (the decision record's
    /// `changed_outcome`).
    pub raised: u64,
    /// Of those, the ones the demand needed: at the target time the actual was more than the
    /// HPA's own replicas serve (`capacity.per_replica`). Absent without `capacity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub useful: Option<u64>,
    /// Of those, the floors never needed (their cost). Absent without `capacity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unneeded: Option<u64>,
    /// Lead time before saturation: over the useful raises, the mean minutes from the forecast
    /// that raised the floor to the target time when the demand outgrew what the HPA alone
    /// had — how far ahead the capacity was asked for (pods serve a start-up delay after it).
    /// Absent without a useful raise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_minutes: Option<f64>,
}
