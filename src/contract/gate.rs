//! The promotion policy and the gate's decision, with every check's value, threshold and
//! verdict. Decided in `crate::gate`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::document::{document_kind, ApiVersion};
use super::validation::Metrics;

document_kind!(GatePolicy, GatePolicyKind, "GatePolicy");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorMetric {
    Mae,
    Mape,
    Rmse,
    PeakWeightedMae,
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
    pub fn name(self) -> &'static str {
        match self {
            ErrorMetric::Mae => "mae",
            ErrorMetric::Mape => "mape",
            ErrorMetric::Rmse => "rmse",
            ErrorMetric::PeakWeightedMae => "peak_weighted_mae",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatePolicy {
    #[serde(rename = "apiVersion", default)]
    pub api_version: ApiVersion,
    #[serde(default)]
    pub kind: GatePolicyKind,
    /// The error metric compared on the shadow window.
    #[serde(default = "default_metric")]
    pub metric: ErrorMetric,
    /// The candidate's error must be at most the control's × (1 − min_improvement).
    #[serde(default = "default_min_improvement")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_improvement: f64,
    /// Holdout interval coverage must be within this of the interval's level.
    #[serde(default = "default_coverage_tolerance")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub coverage_tolerance: f64,
    #[serde(default = "default_min_training_rows")]
    pub min_training_rows: u64,
    /// Ask an operator even when every check passes.
    #[serde(default)]
    pub require_approval: bool,
    /// Ask an operator for the first N promotions of a workload (the gate then needs the store).
    #[serde(default)]
    pub approval_for_first_promotions: u32,
    /// In the replay, the candidate's under-provisioned minutes must not exceed this policy's.
    #[serde(default = "default_under_provisioning_baseline")]
    pub under_provisioning_baseline: ReplayBaseline,
    /// In the replay, the candidate's oscillations must not exceed the control's × (1 + this).
    #[serde(default = "default_oscillation_tolerance")]
    #[schemars(range(min = 0.0))]
    pub oscillation_tolerance: f64,
    /// In the replay, the candidate's replica-minutes must not exceed the control's × (1 + this).
    #[serde(default = "default_replica_minutes_increase")]
    #[schemars(range(min = 0.0))]
    pub replica_minutes_increase: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplayBaseline {
    Control,
    Reactive,
}

fn default_under_provisioning_baseline() -> ReplayBaseline {
    ReplayBaseline::Control
}
fn default_oscillation_tolerance() -> f64 {
    0.25
}
fn default_replica_minutes_increase() -> f64 {
    0.1
}

fn default_metric() -> ErrorMetric {
    ErrorMetric::Mae
}
fn default_min_improvement() -> f64 {
    0.01
}
fn default_coverage_tolerance() -> f64 {
    0.1
}
fn default_min_training_rows() -> u64 {
    1000
}

impl Default for GatePolicy {
    fn default() -> Self {
        GatePolicy {
            api_version: ApiVersion::V1,
            kind: GatePolicyKind::Kind,
            metric: default_metric(),
            min_improvement: default_min_improvement(),
            coverage_tolerance: default_coverage_tolerance(),
            min_training_rows: default_min_training_rows(),
            require_approval: false,
            approval_for_first_promotions: 0,
            under_provisioning_baseline: default_under_provisioning_baseline(),
            oscillation_tolerance: default_oscillation_tolerance(),
            replica_minutes_increase: default_replica_minutes_increase(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Promote,
    Reject,
    NeedsApproval,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Promote => "promote",
            Verdict::Reject => "reject",
            Verdict::NeedsApproval => "needs-approval",
        }
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
