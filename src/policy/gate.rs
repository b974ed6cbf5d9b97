//! The promotion gate: a candidate is promoted only when every check of the policy passes —
//! it beats the control by a margin on the chosen metric, its interval covers what it claims,
//! and it was trained on enough rows. Every check is recorded with its value, threshold and
//! verdict.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::compare::Comparison;
use crate::contract::{ApiVersion, Document};
use crate::error::{Error, Result};
use crate::evaluation::{Metrics, Validation};
use crate::model::ModelManifest;

crate::document_kind!(GatePolicyKind, "GatePolicy");

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

impl Document for GatePolicy {
    const KIND: &'static str = "GatePolicy";
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

crate::document_kind!(DecisionKind, "Decision");

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

impl Document for Decision {
    const KIND: &'static str = "Decision";
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

fn check(name: &str, value: f64, comparison: &str, threshold: f64, detail: String) -> Check {
    let passed = match comparison {
        "<=" => value <= threshold,
        _ => value >= threshold,
    };
    Check {
        name: name.into(),
        value,
        comparison: comparison.into(),
        threshold,
        passed,
        detail,
    }
}

/// The gate step: checks that the documents belong to one candidate, then decides.
/// `promotions_so_far` (from the store) is needed when the policy asks approval for the first N.
pub fn decide(
    policy: &GatePolicy,
    validation: &Validation,
    comparison: &Comparison,
    manifest: &ModelManifest,
    promotions_so_far: Option<u32>,
) -> Result<Decision> {
    for (what, sha) in [
        ("validation", &validation.model_sha256),
        ("comparison", &comparison.candidate.model_sha256),
    ] {
        if *sha != manifest.model_sha256 {
            return Err(Error::Data(format!(
                "the {what} is of model {sha}, not of the candidate {}",
                manifest.model_sha256
            )));
        }
    }
    let metric = policy.metric;
    let candidate = metric.of(&comparison.candidate_metrics);
    let control = metric.of(&comparison.control_metrics);
    let level = validation.interval_level;
    let coverage = validation.holdout.model.coverage;
    let training_rows = manifest.fit_rows + manifest.calibration_rows;
    let mut checks = vec![
        check(
            &format!("shadow_{}_vs_control", metric.name()),
            candidate,
            "<=",
            control * (1.0 - policy.min_improvement),
            format!(
                "candidate {} {candidate:.4} vs control ({}) {control:.4} on the shadow window; must improve by {:.1}%",
                metric.name(),
                comparison.control.reason,
                policy.min_improvement * 100.0
            ),
        ),
        check(
            "holdout_coverage_min",
            coverage,
            ">=",
            level - policy.coverage_tolerance,
            format!("share of holdout actuals inside the {:.0}% interval", level * 100.0),
        ),
        check(
            "holdout_coverage_max",
            coverage,
            "<=",
            level + policy.coverage_tolerance,
            "an interval much wider than claimed wastes capacity".into(),
        ),
        check(
            "training_rows",
            training_rows as f64,
            ">=",
            policy.min_training_rows as f64,
            "rows used to fit and calibrate".into(),
        ),
    ];
    let mut notes = Vec::new();
    match &comparison.replay {
        Some(replay) => {
            let (baseline_name, baseline) = match policy.under_provisioning_baseline {
                ReplayBaseline::Control => ("control", &replay.control),
                ReplayBaseline::Reactive => ("reactive HPA", &replay.reactive),
            };
            checks.push(check(
                "replay_under_provisioned_minutes",
                replay.candidate.under_provisioned_minutes,
                "<=",
                baseline.under_provisioned_minutes,
                format!(
                    "minutes the candidate's replicas could not serve demand; the {baseline_name}'s is the threshold"
                ),
            ));
            checks.push(check(
                "replay_oscillations",
                replay.candidate.oscillations as f64,
                "<=",
                replay.control.oscillations as f64 * (1.0 + policy.oscillation_tolerance),
                format!(
                    "scale direction reversals; the control's × (1 + {})",
                    policy.oscillation_tolerance
                ),
            ));
            checks.push(check(
                "replay_replica_minutes",
                replay.candidate.replica_minutes,
                "<=",
                replay.control.replica_minutes * (1.0 + policy.replica_minutes_increase),
                format!(
                    "what the candidate's replicas cost; the control's × (1 + {})",
                    policy.replica_minutes_increase
                ),
            ));
        }
        None => notes.push(
            "no capacity is configured for the workload: the autoscaler replay and its checks were skipped".into(),
        ),
    }
    let first_promotions = policy.approval_for_first_promotions;
    let approval_for_first = if first_promotions > 0 {
        let so_far = promotions_so_far.ok_or_else(|| {
            Error::Data(format!(
                "the policy asks approval for the first {first_promotions} promotions: the gate needs the model store (--store) to count them"
            ))
        })?;
        (so_far < first_promotions)
            .then(|| format!("{so_far} of the first {first_promotions} promotions need an operator"))
    } else {
        None
    };
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.passed).collect();
    let (decision, reason) = if !failed.is_empty() {
        (
            Verdict::Reject,
            format!(
                "failed: {}",
                failed
                    .iter()
                    .map(|c| format!("{} ({:.4} not {} {:.4})", c.name, c.value, c.comparison, c.threshold))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else if policy.require_approval {
        (
            Verdict::NeedsApproval,
            "every check passed; the policy asks an operator to approve".into(),
        )
    } else if let Some(why) = approval_for_first {
        (Verdict::NeedsApproval, format!("every check passed; {why}"))
    } else {
        (
            Verdict::Promote,
            format!(
                "every check passed: shadow {} {candidate:.4} vs control {control:.4} ({:+.1}%)",
                metric.name(),
                if control > 0.0 {
                    (candidate / control - 1.0) * 100.0
                } else {
                    0.0
                }
            ),
        )
    };
    Ok(Decision {
        api_version: ApiVersion::V1,
        kind: DecisionKind::Kind,
        workload: manifest.workload.clone(),
        decision,
        reason,
        model_sha256: manifest.model_sha256.clone(),
        checks,
        notes,
        policy: policy.clone(),
    })
}
