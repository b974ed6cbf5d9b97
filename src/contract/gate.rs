//! The promotion policy and the gate's decision, with every check's value, threshold and
//! verdict. Decided in `crate::gate`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::assessment::WorkloadAssessment;
use super::document::{document_kind, wire_enum, ApiVersion};
use super::validation::Metrics;
use crate::time::{dur, HumanDuration};

document_kind!(GatePolicy, GatePolicyKind, "GatePolicy");

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum ErrorMetric {
        Mae = "mae",
        Mape = "mape",
        Rmse = "rmse",
        PeakWeightedMae = "peak_weighted_mae",
    }
}

impl ErrorMetric {
    pub fn of(self, m: &Metrics) -> f64 {
        match self {
            ErrorMetric::Mae => m.mae,
            ErrorMetric::Mape => m.mape,
            ErrorMetric::Rmse => m.rmse,
            ErrorMetric::PeakWeightedMae => m.peak_weighted_mae,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GatePolicy {
    #[serde(rename = "apiVersion", default)]
    pub api_version: ApiVersion,
    #[serde(default)]
    pub kind: GatePolicyKind,
    /// The error metric compared on the shadow window.
    pub metric: ErrorMetric,
    /// The candidate's error must be at most the control's × (1 − min_improvement).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_improvement: f64,
    /// Holdout interval coverage must be within this of the interval's level.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub coverage_tolerance: f64,
    pub min_training_rows: u64,
    /// Ask an operator even when every check passes.
    #[serde(default)]
    pub require_approval: bool,
    /// Ask an operator for the first N promotions of a workload (the gate then needs the store).
    #[serde(default)]
    pub approval_for_first_promotions: u32,
    /// In the replay, the candidate's saturated minutes must not exceed this policy's.
    pub under_provisioning_baseline: ReplayBaseline,
    /// In the replay, the candidate's oscillations must not exceed the control's × (1 + this).
    #[schemars(range(min = 0.0))]
    pub oscillation_tolerance: f64,
    /// In the replay, the candidate's replica-minutes must not exceed the control's × (1 + this).
    #[schemars(range(min = 0.0))]
    pub replica_minutes_increase: f64,
    /// Promote only a workload whose verdict (`mttd assess`'s rules, on the same evidence) is
    /// `predictive`. (Left out when false: the policy is embedded in signed change-log entries,
    /// which are verified on their re-serialised bytes, so older entries must serialise as before.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_predictive: bool,
    /// Live evidence before promotion: a candidate that passes every check while a version is
    /// in service is published as a `shadow` — forecast beside the promoted one on every run,
    /// logged and scored, never acted on — and the promotion step (`mttd live-verdicts`)
    /// promotes it only once its live error beats the promoted version's over the same matured
    /// forecasts. Absent: a passing candidate is promoted at once. (Left out when absent, as
    /// `require_predictive`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_shadow: Option<LiveShadowPolicy>,
}

/// The live trial of a shadow version (`gate.live_shadow`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveShadowPolicy {
    /// The shadow's matured forecasts paired with the promoted version's must span at least
    /// this (first to last target time) before a verdict.
    #[serde(default = "default_live_min_duration")]
    pub min_duration: HumanDuration,
    /// A shadow still without a verdict this long after it was published is rejected: not
    /// enough live evidence (no version shadows for ever).
    #[serde(default = "default_live_max_duration")]
    pub max_duration: HumanDuration,
    /// The live error compared, over the same matured forecasts.
    #[serde(default = "default_live_metric")]
    pub metric: ErrorMetric,
    /// The shadow's live error must be at most the promoted version's × (1 − min_improvement).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_improvement: f64,
    /// Matured forecast pairs needed for a verdict.
    #[serde(default = "default_live_min_scored")]
    pub min_scored: u64,
}

impl Default for LiveShadowPolicy {
    fn default() -> Self {
        LiveShadowPolicy {
            min_duration: default_live_min_duration(),
            max_duration: default_live_max_duration(),
            metric: default_live_metric(),
            min_improvement: 0.0,
            min_scored: default_live_min_scored(),
        }
    }
}

fn default_live_min_duration() -> HumanDuration {
    dur("1d")
}
fn default_live_max_duration() -> HumanDuration {
    dur("7d")
}
fn default_live_metric() -> ErrorMetric {
    ErrorMetric::Mae
}
fn default_live_min_scored() -> u64 {
    30
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplayBaseline {
    Control,
    Reactive,
}

impl Default for GatePolicy {
    fn default() -> Self {
        GatePolicy {
            api_version: ApiVersion::V1,
            kind: GatePolicyKind::Kind,
            metric: ErrorMetric::Mae,
            min_improvement: 0.01,
            coverage_tolerance: 0.1,
            min_training_rows: 1000,
            require_approval: false,
            approval_for_first_promotions: 0,
            under_provisioning_baseline: ReplayBaseline::Control,
            oscillation_tolerance: 0.25,
            replica_minutes_increase: 0.1,
            require_predictive: false,
            live_shadow: None,
        }
    }
}

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum Verdict {
        Promote = "promote",
        Reject = "reject",
        NeedsApproval = "needs-approval",
        /// Passed every check; published as a live shadow to earn its promotion on live
        /// evidence (`live_shadow`).
        Shadow = "shadow",
    }
}

document_kind!(Decision, DecisionKind, "Decision");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: DecisionKind,
    pub workload: String,
    pub decision: Verdict,
    /// One line saying why.
    pub reason: String,
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub model_sha256: String,
    pub checks: Vec<Check>,
    /// The verdict on the workload — predictive, scheduled, reactive-only — and why, from the
    /// validation and the comparison (absent when the comparison has no shape figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assessment: Option<WorkloadAssessment>,
    /// What the gate could not check, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub policy: GatePolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub name: String,
    pub value: f64,
    /// `<=` or `>=`: how value must compare with threshold.
    pub comparison: String,
    pub threshold: f64,
    pub passed: bool,
    pub detail: String,
}
