//! The `capacity:` of a workload: what one replica serves, the bounds it runs in, the reactive
//! HPA as configured in the cluster, and the predictive policy. The replay (`crate::replay`, the
//! HPA algorithm in `crate::replay::hpa`) and the forecast step use them; the comparison
//! embeds them. Changing a default here changes `WorkloadConfig.schema.json` and
//! `Comparison.schema.json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::time::{dur, HumanDuration};

/// What one replica serves, and the bounds the workload runs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityConfig {
    /// Demand one replica serves at its target utilisation, in the target's units.
    #[schemars(range(min = 0.000001))]
    pub per_replica: f64,
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 1))]
    pub min_replicas: u32,
    #[serde(default = "default_max_replicas")]
    #[schemars(range(min = 1))]
    pub max_replicas: u32,
    /// From scale-up to serving.
    #[serde(default = "default_startup_delay")]
    pub startup_delay: HumanDuration,
    /// The HPA's target utilisation, as a fraction: a replica saturates at
    /// `per_replica / target_utilization`. Between the target and saturation a service is
    /// busier than planned but serves (the HPA's tolerance band is there); the replay counts
    /// both, and the gate judges saturation. Default 1: saturation at the target.
    #[serde(default = "default_target_utilization")]
    #[schemars(range(min = 0.01, max = 1.0))]
    pub target_utilization: f64,
    /// The reactive HPA, as configured in the cluster.
    #[serde(default)]
    pub hpa: HpaConfig,
    #[serde(default)]
    pub predictive: PredictiveConfig,
    /// Two scale actions in opposite directions within this window count as an oscillation.
    #[serde(default = "default_oscillation_window")]
    pub oscillation_window: HumanDuration,
}

fn default_target_utilization() -> f64 {
    1.0
}
fn default_min_replicas() -> u32 {
    1
}
fn default_max_replicas() -> u32 {
    100
}
fn default_startup_delay() -> HumanDuration {
    dur("1m")
}
fn default_oscillation_window() -> HumanDuration {
    dur("10m")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForecastBound {
    /// The interval's upper bound.
    Upper,
    /// The point forecast.
    Point,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// The forecast raises the floor under the reactive HPA's recommendation.
    Max,
    /// The forecast alone decides.
    Alone,
}

/// The predictive policy: how a forecast becomes the floor under the HPA (its `minReplicas`),
/// when to distrust it, and the guardrails. One definition, used by the forecast step as it
/// runs and by the replay that convinces the gate (`crate::policy`): the gate judges what runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PredictiveConfig {
    /// What the floor is sized for: the interval's upper bound or the point forecast.
    pub bound: ForecastBound,
    /// In the replay: the floor under the reactive HPA (as assisted mode deploys it), or the
    /// forecast alone.
    pub combine: Combine,
    /// How often a forecast is made: the forecast CronWorkflow's period.
    pub cadence: HumanDuration,
    /// How long after its time a sample can be read (scrape interval, rule evaluation): a
    /// forecast made at T sees the samples up to T − metric_delay.
    pub metric_delay: HumanDuration,
    /// No floor (the operator's) when (upper − lower) / |point| exceeds this.
    #[schemars(range(min = 0.0))]
    pub max_relative_interval_width: f64,
    /// Lower the floor by at most this many replicas at a time (absent: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_scale_down_step: Option<u32>,
    /// Lower the floor only to the highest count asked for during this window.
    pub scale_down_observation_window: HumanDuration,
}

impl Default for PredictiveConfig {
    fn default() -> Self {
        PredictiveConfig {
            bound: ForecastBound::Upper,
            combine: Combine::Max,
            cadence: dur("5m"),
            metric_delay: dur("1m"),
            max_relative_interval_width: 1.0,
            max_scale_down_step: None,
            scale_down_observation_window: dur("10m"),
        }
    }
}

impl CapacityConfig {
    /// Checks what the schema cannot; `origin` names the config file.
    pub fn check(&self, origin: &str, resolution_seconds: i64) -> Result<()> {
        let sync = self.hpa.sync_period.seconds();
        if sync <= 0 || resolution_seconds % sync != 0 {
            return Err(Error::field(
                origin,
                "/capacity/hpa/sync_period",
                format!("{} must divide the resolution evenly", self.hpa.sync_period),
            ));
        }
        if self.predictive.cadence.seconds() <= 0 {
            return Err(Error::field(
                origin,
                "/capacity/predictive/cadence",
                "must be longer than 0s",
            ));
        }
        if self.min_replicas > self.max_replicas {
            return Err(Error::field(origin, "/capacity/min_replicas", "is above max_replicas"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PolicyType {
    Pods,
    Percent,
}

/// One rate policy: at most `value` pods (or percent) of change per `period`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalingPolicy {
    #[serde(rename = "type")]
    pub policy_type: PolicyType,
    pub value: u32,
    pub period: HumanDuration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SelectPolicy {
    /// The policy that allows the most change.
    Max,
    /// The policy that allows the least change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalingRules {
    pub stabilization_window: HumanDuration,
    pub select_policy: SelectPolicy,
    pub policies: Vec<ScalingPolicy>,
}

/// The HPA as configured on the workload (defaults: Kubernetes' own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HpaConfig {
    /// No scaling while |currentMetric / target − 1| is at most this.
    pub tolerance: f64,
    /// How often the controller decides (`--horizontal-pod-autoscaler-sync-period`).
    pub sync_period: HumanDuration,
    pub scale_up: ScalingRules,
    pub scale_down: ScalingRules,
}

impl Default for HpaConfig {
    fn default() -> Self {
        HpaConfig {
            tolerance: 0.1,
            sync_period: dur("15s"),
            // Kubernetes' default: no stabilisation; +100% or +4 pods per 15 s, whichever is more.
            scale_up: ScalingRules {
                stabilization_window: dur("0s"),
                select_policy: SelectPolicy::Max,
                policies: vec![
                    ScalingPolicy {
                        policy_type: PolicyType::Percent,
                        value: 100,
                        period: dur("15s"),
                    },
                    ScalingPolicy {
                        policy_type: PolicyType::Pods,
                        value: 4,
                        period: dur("15s"),
                    },
                ],
            },
            // Kubernetes' default: 300 s stabilisation; −100% per 15 s.
            scale_down: ScalingRules {
                stabilization_window: dur("300s"),
                select_policy: SelectPolicy::Max,
                policies: vec![ScalingPolicy {
                    policy_type: PolicyType::Percent,
                    value: 100,
                    period: dur("15s"),
                }],
            },
        }
    }
}
