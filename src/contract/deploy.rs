//! Deploy: how forecasts become advice (the `deploy:` config) and the recommendation the
//! forecast step publishes. Made in `crate::forecast`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::document::{document_kind, wire_enum, ApiVersion};
use super::interval::Interval;
use super::registry::LogWitness;
use crate::error::{Error, Result};
use crate::time::{dur, HumanDuration};

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum Mode {
        /// Publish the recommendation; change nothing.
        Advisory = "advisory",
        /// The recommendation raises the floor under the HPA, as `actuation` says.
        Assisted = "assisted",
    }
}

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum Actuation {
        /// GitOps-safe: the floor is pushed to a Pushgateway as `mttd_floor_replicas`, a metric
        /// the autoscaler reads beside its reactive one (a KEDA trigger, or an External metric
        /// through prometheus-adapter, `AverageValue: 1`) and takes the maximum over; the HPA
        /// object in Git never changes, and a floor not refreshed in time drops out by itself.
        FloorMetric = "floor-metric",
        /// Opt-in: a merge patch of the HPA's `minReplicas` (the object in Git changes).
        MinReplicasPatch = "min-replicas-patch",
    }
}

/// How forecasts are turned into advice, and when to distrust them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DeployConfig {
    pub mode: Mode,
    /// Fall back when the latest sample is older than this.
    pub max_staleness: HumanDuration,
    /// How assisted mode raises the floor: a pushed metric (default) or a `minReplicas` patch.
    pub actuation: Actuation,
    /// Where assisted mode's floor metric is pushed (needed with `actuation: floor-metric`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushgateway: Option<PushgatewayConfig>,
    /// Alert the on-call when the model has drifted: the adaptive interval
    /// (`capacity.predictive.adaptive_interval`) has grown beyond this many times its calibrated
    /// width — the live errors are that much larger than those it was validated on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_alert: Option<DriftAlertConfig>,
    /// Node headroom: size a low-priority "balloon" of placeholder pods for the forecast's
    /// surge beyond the running replicas, so the cluster autoscaler adds nodes ahead of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headroom: Option<HeadroomConfig>,
    /// The HPA the `minReplicas` patch is for (default: the workload's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa_name: Option<String>,
    /// Alert the on-call through Alertmanager when the forecast's upper bound exceeds the
    /// current capacity by a factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surge_alert: Option<SurgeAlertConfig>,
    /// Log every forecast's recommendation (without the step's memory: history, interval
    /// tracking, log witness) in the model store, append-only, one object a forecast under
    /// `<workload>/predictions/<day>/` (default on; needs write access to that prefix only). A
    /// prediction that cannot be logged never fails the step.
    #[serde(skip_serializing_if = "is_true")]
    pub prediction_log: bool,
}

fn is_true(value: &bool) -> bool {
    *value
}

/// `MttdForecastDrift`: posted to Alertmanager by the forecast step while the tracked half-width
/// exceeds `max_width_ratio` × the calibrated one, and by the score step while the live MAE of
/// the version in service exceeds `live_mae_ratio` × its validation MAE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftAlertConfig {
    /// Alertmanager's base URL (alerts are posted to `/api/v2/alerts`).
    #[schemars(regex(pattern = r"^https?://[^@/]+(/.*)?$"))]
    pub alertmanager_url: String,
    #[serde(default = "default_drift_ratio")]
    #[schemars(range(min = 1.0))]
    pub max_width_ratio: f64,
    /// The score step's rule: drift when the live MAE of the version in service over
    /// `live_window` exceeds this many times the MAE it was validated with (its holdout MAE at
    /// the same horizon), over at least `min_scored` matured forecasts. Absent: no live rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub live_mae_ratio: Option<f64>,
    /// The score's window the live rule reads: `1h`, `1d` or `7d`.
    #[serde(default = "default_live_window")]
    #[schemars(regex(pattern = r"^(1h|1d|7d)$"))]
    pub live_window: String,
    #[serde(default = "default_min_scored")]
    pub min_scored: u64,
    /// Once the live rule has held for the version in service and the live-verdicts step has
    /// recorded it in the change log, assisted mode is advisory for that version: the advice is
    /// still written, the floor is taken away from the HPA (as on a fallback) until another
    /// version is promoted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub advisory_on_drift: bool,
    /// The runbook the alert links to (annotation `runbook_url`).
    pub runbook_url: String,
    #[serde(default = "default_severity")]
    pub severity: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_live_window() -> String {
    "1d".into()
}

fn default_min_scored() -> u64 {
    30
}

fn default_drift_ratio() -> f64 {
    2.0
}

/// The balloon's bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeadroomConfig {
    /// At most this many balloon pods (each the size of one of the workload's pods).
    #[schemars(range(min = 1))]
    pub max_replicas: u32,
}

/// Node headroom: balloon pods = the replicas for the forecast's upper bound (within max
/// replicas) minus those running now, at most `max_replicas`; 0 on a fallback. The balloon's
/// pods sit under a negative PriorityClass, so the workload's own pods preempt them and start
/// on nodes that are already there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Headroom {
    pub balloon_replicas: u32,
    /// The replicas counted as running: `--current-replicas`, else what the HPA recommends
    /// with the floor under it (the decision record's final replicas).
    pub running_replicas: u32,
    /// Replicas for the forecast's upper bound, within max replicas (0 without a forecast).
    pub upper_replicas: u32,
}

/// A Prometheus Pushgateway: each forecast replaces the group `job/<job>/workload/<workload>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushgatewayConfig {
    /// The Pushgateway's base URL, e.g. `http://pushgateway.monitoring:9091`.
    #[schemars(regex(pattern = r"^https?://[^@/]+(/.*)?$"))]
    pub url: String,
    /// The grouping key's `job` label.
    #[serde(default = "default_push_job")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.-]+$"))]
    pub job: String,
}

fn default_push_job() -> String {
    "mttd-forecast".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SurgeAlertConfig {
    /// Alertmanager's base URL, e.g. `http://alertmanager.monitoring:9093` (alerts are posted
    /// to `/api/v2/alerts`).
    #[schemars(regex(pattern = r"^https?://[^@/]+(/.*)?$"))]
    pub alertmanager_url: String,
    /// Alert when upper bound > factor × current replicas × per-replica capacity.
    #[serde(default = "default_surge_factor")]
    #[schemars(range(min = 1.0))]
    pub factor: f64,
    /// The runbook the alert links to (annotation `runbook_url`).
    pub runbook_url: String,
    /// Label `severity`.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// More labels, e.g. `team: payments`, for routing.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_surge_factor() -> f64 {
    1.2
}
fn default_severity() -> String {
    "warning".into()
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            mode: Mode::Advisory,
            max_staleness: dur("5m"),
            actuation: Actuation::FloorMetric,
            pushgateway: None,
            headroom: None,
            drift_alert: None,
            hpa_name: None,
            surge_alert: None,
            prediction_log: true,
        }
    }
}

impl DeployConfig {
    /// Checks what the schema cannot; `origin` names the config file.
    pub fn check(&self, origin: &str) -> Result<()> {
        if self.mode == Mode::Assisted && self.actuation == Actuation::FloorMetric && self.pushgateway.is_none() {
            return Err(Error::field(
                origin,
                "/deploy/pushgateway",
                "assisted mode pushes its floor metric to a Pushgateway: give `pushgateway: {url: …}`, or choose `actuation: min-replicas-patch`",
            ));
        }
        Ok(())
    }

    /// Whether the forecast step writes a `minReplicas` patch.
    pub fn patches_hpa(&self) -> bool {
        self.mode == Mode::Assisted && self.actuation == Actuation::MinReplicasPatch
    }

    /// Where the floor metric is pushed, in assisted mode with `actuation: floor-metric`.
    pub fn floor_pushgateway(&self) -> Option<&PushgatewayConfig> {
        (self.mode == Mode::Assisted && self.actuation == Actuation::FloorMetric)
            .then_some(self.pushgateway.as_ref())
            .flatten()
    }
}

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum FallbackReason {
        NoPromotedModel = "no-promoted-model",
        MetricsMissing = "metrics-missing",
        MetricsStale = "metrics-stale",
        FeatureWindowIncomplete = "feature-window-incomplete",
        FeatureMismatch = "feature-mismatch",
        IntervalTooWide = "interval-too-wide",
        /// The forecast is not a finite number (the model or its inputs overflowed).
        ForecastInvalid = "forecast-invalid",
        /// The model store cannot be read.
        StoreUnavailable = "store-unavailable",
        /// The promoted model, or the change log that names it, fails its checks (altered,
        /// not valid, not listed).
        ModelRejected = "model-rejected",
        /// The previous recommendation (the state) cannot be read: its memory is lost, so no
        /// floor is trusted this time; the next run starts from this fallback.
        StateInvalid = "state-invalid",
        /// The adaptive interval has outgrown `capacity.predictive.adaptive_interval.max_width_ratio`
        /// × the calibrated one: the model has drifted.
        Drifted = "drifted",
    }
}

wire_enum! {
    /// What set the replicas the workload runs with the forecast's floor under its HPA: a
    /// bounded set, for metric labels and sums.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum SetBy {
        /// The floor sized from the forecast, unchanged by the guardrails.
        Forecast = "forecast",
        /// The operator's floor (`min_replicas`) raised the forecast's.
        MinReplicas = "min-replicas",
        /// The cap (`max_replicas`) lowered the forecast's.
        MaxReplicas = "max-replicas",
        /// The scale-down observation window held the floor up.
        ObservationWindow = "observation-window",
        /// The scale-down step held the floor up.
        MaxScaleDownStep = "max-scale-down-step",
        /// A declared event's replica window (`calendar.events`) bounded the floor.
        EventWindow = "event-window",
        /// The HPA's own recommendation is at least the floor: the forecast changes nothing.
        Reactive = "reactive",
        /// A fallback: no floor, the HPA decides alone.
        Fallback = "fallback",
    }
}

/// The decision record: what the HPA alone would do now beside what the forecast asks, and what
/// the workload runs with both — "would assisted mode have changed anything?", per forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRecord {
    /// The latest demand sample the HPA's metric sees.
    pub demand: f64,
    /// What the HPA alone recommends for that demand (its algorithm and tolerance at the running
    /// count, `--current-replicas`; without it, the count that demand settles at), within
    /// [min, max]; before its stabilisation window and rate policies, which depend on a history
    /// the step does not see.
    pub reactive_replicas: u32,
    /// Replicas for the forecast's point and for its upper bound (absent without a forecast).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_replicas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_replicas: Option<u32>,
    /// What the HPA recommends with the floor under it: the larger of the two.
    pub final_replicas: u32,
    pub set_by: SetBy,
    /// The forecast raised the count above the HPA's own: final > reactive.
    pub changed_outcome: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    pub reason: FallbackReason,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForecastValue {
    /// The time the forecast is for (the latest sample + the horizon).
    pub target_time: String,
    pub point: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The adaptive interval between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntervalTracking {
    /// The adaptive half-width at the latest forecast.
    pub half_width: f64,
    /// The model's calibrated half-width at the latest forecast (it follows the level when the
    /// model's interval does); their ratio is what is tracked, and the drift alert's yardstick.
    pub calibrated_half_width: f64,
    /// Forecasts made (acted on or not) whose target time has not passed (scored when it has).
    pub pending: Vec<PendingForecast>,
    /// Forecasts scored so far, and how many missed (the actual outside the interval used).
    pub scored: u64,
    pub missed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PendingForecast {
    pub target_time: String,
    pub point: f64,
    pub half_width: f64,
}

/// A recommendation recorded for the scale-down observation window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    pub at: String,
    pub replicas: u32,
}

document_kind!(Recommendation, RecommendationKind, "Recommendation");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recommendation {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: RecommendationKind,
    pub workload: String,
    /// When it was made ("now").
    pub generated_at: String,
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<u32>,
    /// The input window used (first and last sample of the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Interval>,
    pub horizon: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastValue>,
    /// The floor the forecast asks for (sized for the policy's bound) after the guardrails,
    /// never below the operator's; absent on fallback (then nothing is recommended beyond what
    /// the HPA does, and assisted mode gives the HPA its operator's floor back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// The last change-log entry this forecast saw (carried forward when the store could not be
    /// read): the next forecast refuses a log that no longer has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_witness: Option<LogWitness>,
    /// The operator's own floor (`capacity.min_replicas`, the HPA's configured minReplicas):
    /// the floor assisted mode sets on a fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_floor: Option<u32>,
    /// Replicas the forecast asked for before the guardrails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needed_replicas: Option<u32>,
    /// The guardrails that changed the count, in order.
    pub guardrails: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// Recommendations within the observation window, for the next run.
    pub history: Vec<Recorded>,
    /// Node headroom, when `deploy.headroom` is configured and the running count is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headroom: Option<Headroom>,
    /// The adaptive interval's memory (`capacity.predictive.adaptive_interval`): its half-width
    /// now and the forecasts not yet scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_tracking: Option<IntervalTracking>,
    /// The decision record (absent when no demand sample could be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionRecord>,
    /// Set when the upper bound exceeds the current capacity by the surge alert's factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surge: Option<Surge>,
    /// The shadow versions' forecasts from the same inputs (`gate.live_shadow`): logged and
    /// scored, never acted on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shadows: Vec<ShadowForecast>,
    /// Why assisted mode is advisory for this run (`deploy.drift_alert.advisory_on_drift`: the
    /// change log records live drift of the version in service): the advice stands, the floor
    /// is not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demoted: Option<String>,
}

/// A shadow version's forecast (its calibrated interval), or why it made none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowForecast {
    pub model_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Fallback>,
}

impl Recommendation {
    /// The floor to act on: the recommended replicas, unless the run fell back or assisted mode
    /// was set back to advisory.
    pub fn acted_floor(&self) -> Option<u32> {
        self.replicas.filter(|_| self.demoted.is_none())
    }

    /// What the prediction log keeps of it: everything but the step's memory between runs
    /// (history, interval tracking, log witness).
    pub fn as_logged(&self) -> Recommendation {
        Recommendation {
            history: Vec::new(),
            interval_tracking: None,
            log_witness: None,
            ..self.clone()
        }
    }
}

/// A predicted surge: the forecast's upper bound against what the running replicas serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Surge {
    pub upper: f64,
    pub current_replicas: u32,
    /// current_replicas × per_replica.
    pub current_capacity: f64,
    pub factor: f64,
}
