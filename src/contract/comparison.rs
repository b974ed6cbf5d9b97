//! What shadow-compare writes: the candidate against the control on the shadow window, and the
//! autoscaler replay's numbers. Computed in `crate::compare` and `crate::replay`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::assessment::ShapeFigures;
use super::capacity::{CapacityConfig, SettingSource};
use super::deploy::Actuation;
use super::document::{document_kind, ApiVersion};
use super::interval::Interval;
use super::model::ModelKind;
use super::validation::Metrics;

document_kind!(Comparison, ComparisonKind, "Comparison");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: ComparisonKind,
    pub workload: String,
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub dataset_sha256: String,
    /// The shadow window: the latest rows, unseen by training and validation.
    pub window: Interval,
    pub candidate: ModelRef,
    pub control: ControlRef,
    pub candidate_metrics: Metrics,
    pub control_metrics: Metrics,
    /// The autoscaler replay; absent when the workload has no `capacity` configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayReport>,
    /// The demand's daily/weekly shape over the dataset, for the verdict on the workload
    /// (absent in comparisons made before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<ShapeFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    pub algorithm: ModelKind,
    pub model_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlRef {
    pub algorithm: ModelKind,
    /// The promoted version it came from; absent for a baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
    /// Why this control was used.
    pub reason: String,
}

/// What a policy did over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayMetrics {
    /// Minutes when demand exceeded what the serving replicas take at their target utilisation
    /// (`serving × per_replica`): busier than planned.
    pub above_target_minutes: f64,
    /// Minutes when demand exceeded what the serving replicas can take at all
    /// (`serving × per_replica / target_utilization`): saturated, the under-provisioning the
    /// gate judges.
    pub saturated_minutes: f64,
    /// Demand above the saturation capacity, summed over minutes (target units × minutes).
    pub unmet_demand: f64,
    /// Replicas beyond what demand needed, × minutes.
    pub over_provisioned_replica_minutes: f64,
    /// All replicas (serving or starting) × minutes: what the policy costs.
    pub replica_minutes: f64,
    pub scale_actions: u32,
    /// Scale actions reversing the direction of the previous one within the oscillation window.
    pub oscillations: u32,
    /// Reactive saturation episodes this policy already had the capacity for when they began.
    pub saturations_covered: u32,
    /// Mean over the reactive saturation episodes of how many minutes before the episode began
    /// this policy had had the capacity (0 when it did not have it), counting back at most the
    /// forecast horizon: a forecast cannot see further, and a policy that simply runs
    /// over-provisioned should not score hours of lead.
    pub mean_lead_minutes: f64,
}

fn startup_delay_from_config() -> SettingSource {
    SettingSource::Config
}

fn replayed_before_actuation() -> Actuation {
    Actuation::MinReplicasPatch
}

/// The replay's numbers for all three policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayReport {
    pub capacity: CapacityConfig,
    /// How the predictive floors met the HPA in the replay: assisted mode's actuation from the
    /// workload config (absent in comparisons made before it was recorded: the minReplicas
    /// patch, the only actuation then).
    #[serde(default = "replayed_before_actuation")]
    pub actuation: Actuation,
    /// Where `capacity.startup_delay` (the value replayed) came from (absent in comparisons made
    /// before it was recorded: the config, or its default then).
    #[serde(default = "startup_delay_from_config")]
    pub startup_delay_source: SettingSource,
    /// Episodes of consecutive saturated ticks under the reactive HPA.
    pub reactive_saturation_episodes: u32,
    pub reactive: ReplayMetrics,
    pub control: ReplayMetrics,
    pub candidate: ReplayMetrics,
}
