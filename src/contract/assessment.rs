//! The assessment of a workload (`mttd assess`): should it be predicted, scheduled, or left to
//! the reactive HPA — with the figures and the reasons. Made in `crate::assess`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::document::{document_kind, wire_enum, ApiVersion};
use super::interval::Interval;

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum WorkloadVerdict {
        /// The forecast beats last-value clearly and, replayed, serves better than the HPA alone.
        Predictive = "predictive",
        /// Not predictive, but the demand has a strong, stable daily/weekly shape: a floor
        /// schedule (hour by hour) does the job without a model.
        Scheduled = "scheduled",
        /// Neither: leave the workload to its reactive HPA.
        ReactiveOnly = "reactive-only",
    }
}

document_kind!(Assessment, AssessmentKind, "Assessment");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Assessment {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: AssessmentKind,
    pub workload: String,
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub dataset_sha256: String,
    /// The dataset's first and last rows.
    pub interval: Interval,
    pub figures: AssessmentFigures,
    pub verdict: WorkloadVerdict,
    /// Why, one line per rule that decided.
    pub reasons: Vec<String>,
    /// With `scheduled`: the floor for each hour of the week (or of the day, with less than
    /// three weeks of data).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<ScheduleSlot>,
}

/// The demand's daily/weekly shape over the dataset (shadow-compare records it in the
/// comparison, so the gate can judge the workload too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShapeFigures {
    /// The seasonal period used: `1d` or `7d` (with at least three weeks of data).
    pub period: String,
    /// 1 − Var(remainder) / Var(detrended), 0 to 1 (absent with less than three periods of
    /// data): how much of the demand's movement the daily/weekly shape explains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seasonality_strength: Option<f64>,
    /// The 99th percentile of the unexplained movement (|remainder|) over the mean demand: how
    /// large the swings no shape predicts are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burstiness: Option<f64>,
}

/// The verdict on a workload and why, as the gate records it in its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadAssessment {
    pub verdict: WorkloadVerdict,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentFigures {
    pub shape: ShapeFigures,
    /// 1 − MAE(model) / MAE(last value) on the holdout.
    pub skill_over_last_value: f64,
    /// MAE(seasonal naive) / MAE(model) on the holdout (absent without a seasonal baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seasonal_naive_ratio: Option<f64>,
    /// The replay over the shadow window (absent without `capacity:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayGain>,
}

/// The predictive policy (the candidate) against the reactive HPA in the replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayGain {
    pub reactive_saturated_minutes: f64,
    pub predictive_saturated_minutes: f64,
    pub reactive_above_target_minutes: f64,
    pub predictive_above_target_minutes: f64,
    /// Replica-minutes, predictive / reactive − 1.
    pub replica_minutes_increase: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSlot {
    /// `mon 09` (hour of the week, UTC) or `09` (hour of the day, UTC).
    pub slot: String,
    /// The 90th percentile of the demand in that hour over the data.
    pub demand_p90: f64,
    /// Replicas for it (within min/max; absent without `capacity:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}
