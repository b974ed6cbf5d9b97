//! The `capacity:` of a workload: what one replica serves, the bounds it runs in, the reactive
//! HPA as configured in the cluster, and the predictive policy. The replay (`crate::replay`, the
//! HPA algorithm in `crate::replay::hpa`) and the forecast step use them; the comparison
//! embeds them. Changing a default here changes `WorkloadConfig.schema.json` and
//! `Comparison.schema.json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::document::wire_enum;
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
    /// From scale-up to serving. Absent: the pods' measured P90 when the Prometheus source has
    /// a `startup_query` (recorded in the dataset manifest), else 1m. The replay report records
    /// the value it used and where it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_delay: Option<HumanDuration>,
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
/// The start-up delay when neither the config nor a measurement gives one.
pub const DEFAULT_STARTUP_DELAY_SECONDS: i64 = 60;

wire_enum! {
    /// Where a setting mttd can measure came from: the replay's start-up delay, the dataset's
    /// horizon.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum SettingSource {
        /// Set in the config.
        Config = "config",
        /// From the pods' measured start-up P90 (`source.prometheus.startup_query`, in the
        /// dataset manifest): the start-up delay itself, or the horizon as the lead time of a
        /// scale decision made with the workload's start-up delay.
        Measured = "measured",
        /// Neither: mttd's default.
        Default = "default",
    }
}

impl CapacityConfig {
    /// The start-up delay in seconds (the config's, else the default); see [`Self::resolved`].
    pub fn startup_delay_seconds(&self) -> i64 {
        self.startup_delay
            .as_ref()
            .map_or(DEFAULT_STARTUP_DELAY_SECONDS, HumanDuration::seconds)
    }

    /// The lead time of a scale decision: from the samples a forecast sees (`metric_delay` old)
    /// to the end of the cadence its floor holds for, with pods started on it serving only after
    /// the start-up delay — how far ahead a floor must look to matter.
    pub fn lead_seconds(&self) -> i64 {
        self.startup_delay_seconds() + self.predictive.metric_delay.seconds() + self.predictive.cadence.seconds()
    }

    /// This capacity with its start-up delay filled in — the config's, else `measured` (seconds,
    /// rounded up to whole seconds, at most a day), else the default — and where it came from.
    pub fn resolved(&self, measured: Option<f64>) -> (CapacityConfig, SettingSource) {
        let mut resolved = self.clone();
        let (delay, source) = match (&self.startup_delay, measured) {
            (Some(d), _) => (d.clone(), SettingSource::Config),
            (None, Some(seconds)) => (
                HumanDuration::from_seconds(seconds.clamp(0.0, 86_400.0).ceil() as i64),
                SettingSource::Measured,
            ),
            (None, None) => (
                HumanDuration::from_seconds(DEFAULT_STARTUP_DELAY_SECONDS),
                SettingSource::Default,
            ),
        };
        resolved.startup_delay = Some(delay);
        (resolved, source)
    }
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
    /// Adapt the interval to the live errors (absent: the model's calibrated interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_interval: Option<AdaptiveInterval>,
}

/// Quantile tracking of the interval's half-width (Angelopoulos, Candès and Tibshirani, "Conformal
/// PID control for time series prediction", 2023: the P term): each forecast whose target time
/// has passed moves the half-width by `rate` × the calibrated half-width × (miss − (1 − level)),
/// so a run of misses widens it and hits narrow it slowly, holding coverage near the level when
/// the workload drifts. The forecast step carries it in its state; the replay tracks it the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveInterval {
    #[schemars(range(min = 0.0, max = 10.0))]
    pub rate: f64,
    /// Stop acting while the tracked half-width exceeds this many times the calibrated one: the
    /// live errors say the workload has drifted from what the model learned, so the forecast
    /// falls back (`drifted`: no floor, assisted mode gives the HPA its operator's floor back)
    /// until the interval narrows again or a retrain replaces the model. Its forecasts are still
    /// made, logged and scored. Absent: never. The replay applies the same rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0))]
    pub max_width_ratio: Option<f64>,
}

impl AdaptiveInterval {
    /// The tracked half-width has outgrown `max_width_ratio` × the calibrated one.
    pub fn drifted(&self, half_width: f64, calibrated: f64) -> bool {
        self.max_width_ratio
            .is_some_and(|limit| half_width > limit * calibrated)
    }
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
            adaptive_interval: None,
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
        self.hpa.check(origin)
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

/// One direction's `behavior` (`scaleUp` or `scaleDown`), as in the HPA object: each field
/// absent takes Kubernetes' default for the direction (the API server merges them the same way).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ScalingRules {
    /// Default: 0s up, 300s down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stabilization_window: Option<HumanDuration>,
    /// Default: Max.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<SelectPolicy>,
    /// Default up: +100% or +4 pods per 15s; down: −100% per 15s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<ScalingPolicy>>,
    /// This direction's tolerance (`behavior.*.tolerance`, beta and on by default since
    /// Kubernetes 1.35); default the HPA's `tolerance`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub tolerance: Option<f64>,
}

/// One direction's rules with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub stabilization_window_seconds: i64,
    pub select_policy: SelectPolicy,
    pub policies: Vec<ScalingPolicy>,
    pub tolerance: f64,
}

/// How the HPA's metric relates to the replicas (which HPA metric configuration is replayed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HpaMetric {
    /// An External (or Object) metric with an `AverageValue` target, e.g. the service's total
    /// requests/s: the usage ratio is demand / (target × status.replicas), pods still starting
    /// included.
    ExternalAverageValue,
    /// A Pods metric (or CPU): the ratio is taken over ready pods; on a scale-up pods still
    /// starting count as idle, on a scale-down they are left out, and a ratio that reverses
    /// direction once they are counted keeps the replicas (the controller's
    /// `calcPlainMetricReplicas`).
    Pods,
}

/// Whether the HPA object has `spec.behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HpaBehavior {
    /// `spec.behavior` set (or defaulted by the API): stabilisation windows and rate policies.
    Explicit,
    /// No `spec.behavior` (`kubectl autoscale`, autoscaling/v1): the controller's legacy path —
    /// the highest recommendation of the downscale window (current ignored), scale-up capped at
    /// max(2 × current, 4) per sync, no rate policies.
    Legacy,
}

/// The HPA as configured on the workload (defaults: Kubernetes' own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HpaConfig {
    /// No scaling while 1 − down ≤ currentMetric / target ≤ 1 + up, both this unless a
    /// direction sets its own (`--horizontal-pod-autoscaler-tolerance`).
    #[schemars(range(min = 0.0))]
    pub tolerance: f64,
    /// How often the controller decides (`--horizontal-pod-autoscaler-sync-period`).
    pub sync_period: HumanDuration,
    /// How old the metric the HPA reads is (scrape interval, rule evaluation, the adapter).
    pub metric_delay: HumanDuration,
    pub metric: HpaMetric,
    pub behavior: HpaBehavior,
    pub scale_up: ScalingRules,
    pub scale_down: ScalingRules,
}

impl Default for HpaConfig {
    fn default() -> Self {
        HpaConfig {
            tolerance: 0.1,
            sync_period: dur("15s"),
            metric_delay: dur("0s"),
            metric: HpaMetric::ExternalAverageValue,
            behavior: HpaBehavior::Explicit,
            scale_up: ScalingRules::default(),
            scale_down: ScalingRules::default(),
        }
    }
}

impl HpaConfig {
    /// The scale-up rules; Kubernetes' defaults: no stabilisation; +100% or +4 pods per 15 s,
    /// whichever is more.
    pub fn scale_up_rules(&self) -> Rules {
        self.resolve(&self.scale_up, 0, || {
            vec![
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
            ]
        })
    }

    /// The scale-down rules; Kubernetes' defaults: 300 s stabilisation; −100% per 15 s.
    pub fn scale_down_rules(&self) -> Rules {
        self.resolve(&self.scale_down, 300, || {
            vec![ScalingPolicy {
                policy_type: PolicyType::Percent,
                value: 100,
                period: dur("15s"),
            }]
        })
    }

    fn resolve(&self, rules: &ScalingRules, window: i64, policies: impl Fn() -> Vec<ScalingPolicy>) -> Rules {
        Rules {
            stabilization_window_seconds: rules.stabilization_window.as_ref().map_or(window, |w| w.seconds()),
            select_policy: rules.select_policy.unwrap_or(SelectPolicy::Max),
            policies: rules.policies.clone().unwrap_or_else(policies),
            tolerance: rules.tolerance.unwrap_or(self.tolerance),
        }
    }

    /// What the API server validates (`validateScalingRules`, `validateScalingPolicy`).
    fn check(&self, origin: &str) -> Result<()> {
        let at = |field: &str| format!("/capacity/hpa/{field}");
        if self.tolerance.is_nan() || self.tolerance < 0.0 {
            return Err(Error::field(origin, at("tolerance"), "must be 0 or more"));
        }
        if self.metric_delay.seconds() < 0 {
            return Err(Error::field(origin, at("metric_delay"), "must be 0s or more"));
        }
        for (direction, rules) in [("scale_up", &self.scale_up), ("scale_down", &self.scale_down)] {
            if let Some(w) = &rules.stabilization_window {
                if !(0..=3600).contains(&w.seconds()) {
                    return Err(Error::field(
                        origin,
                        at(&format!("{direction}/stabilization_window")),
                        "must be between 0s and 3600s",
                    ));
                }
            }
            if rules.tolerance.is_some_and(|t| t.is_nan() || t < 0.0) {
                return Err(Error::field(
                    origin,
                    at(&format!("{direction}/tolerance")),
                    "must be 0 or more",
                ));
            }
            if let Some(policies) = &rules.policies {
                if policies.is_empty() {
                    return Err(Error::field(
                        origin,
                        at(&format!("{direction}/policies")),
                        "must list at least one policy (leave it out for Kubernetes' defaults)",
                    ));
                }
                for (i, p) in policies.iter().enumerate() {
                    if p.value == 0 {
                        return Err(Error::field(
                            origin,
                            at(&format!("{direction}/policies/{i}/value")),
                            "must be more than 0",
                        ));
                    }
                    if !(1..=1800).contains(&p.period.seconds()) {
                        return Err(Error::field(
                            origin,
                            at(&format!("{direction}/policies/{i}/period")),
                            "must be between 1s and 1800s",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(hpa: &str) -> std::result::Result<(), String> {
        let c: CapacityConfig =
            serde_yaml_ng::from_str(&format!("per_replica: 10\nhpa:\n{hpa}")).map_err(|e| e.to_string())?;
        c.check("w.yaml", 60).map_err(|e| e.to_string())
    }

    #[test]
    fn the_start_up_delay_is_the_configs_else_the_measured_p90_else_a_minute() {
        let c =
            |yaml: &str| -> CapacityConfig { serde_yaml_ng::from_str(&format!("per_replica: 10\n{yaml}")).unwrap() };
        let (set, source) = c("startup_delay: 2m\n").resolved(Some(180.0));
        assert_eq!((set.startup_delay_seconds(), source), (120, SettingSource::Config));
        let (measured, source) = c("").resolved(Some(179.2));
        assert_eq!(
            (measured.startup_delay_seconds(), source),
            (180, SettingSource::Measured)
        );
        let (huge, _) = c("").resolved(Some(1e30));
        assert_eq!(huge.startup_delay_seconds(), 86_400, "at most a day");
        let (neither, source) = c("").resolved(None);
        assert_eq!((neither.startup_delay_seconds(), source), (60, SettingSource::Default));
        assert_eq!(c("").startup_delay_seconds(), 60);
    }

    #[test]
    fn the_hpa_is_validated_as_the_api_server_does() {
        check("  tolerance: 0.05\n").unwrap();
        check("  scale_down:\n    stabilization_window: 60s\n").unwrap();
        for (hpa, field) in [
            ("  scale_up:\n    policies: []\n", "/capacity/hpa/scale_up/policies"),
            (
                "  scale_up:\n    policies: [{type: Pods, value: 0, period: 15s}]\n",
                "/capacity/hpa/scale_up/policies/0/value",
            ),
            (
                "  scale_down:\n    policies: [{type: Percent, value: 10, period: 31m}]\n",
                "/capacity/hpa/scale_down/policies/0/period",
            ),
            (
                "  scale_down:\n    stabilization_window: 2h\n",
                "/capacity/hpa/scale_down/stabilization_window",
            ),
            ("  scale_up:\n    tolerance: -0.1\n", "/capacity/hpa/scale_up/tolerance"),
            ("  tolerance: -1\n", "/capacity/hpa/tolerance"),
        ] {
            let e = check(hpa).unwrap_err();
            assert!(e.contains("w.yaml") && e.contains(field), "{hpa}: {e}");
        }
    }

    #[test]
    fn a_partial_direction_takes_kubernetes_defaults_for_the_rest() {
        let c: CapacityConfig =
            serde_yaml_ng::from_str("per_replica: 10\nhpa:\n  scale_down:\n    stabilization_window: 60s\n").unwrap();
        let down = c.hpa.scale_down_rules();
        assert_eq!(down.stabilization_window_seconds, 60);
        assert_eq!(down.select_policy, SelectPolicy::Max);
        assert_eq!(down.policies.len(), 1, "−100% per 15 s");
        assert_eq!(down.tolerance, 0.1);
        assert_eq!(c.hpa.scale_up_rules().stabilization_window_seconds, 0);
        assert_eq!(c.hpa.scale_up_rules().policies.len(), 2);
    }
}
