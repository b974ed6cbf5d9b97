//! The Kubernetes Horizontal Pod Autoscaler's algorithm, as documented
//! (kubernetes.io, "Horizontal Pod Autoscaling") and as the controller computes it
//! (`pkg/controller/podautoscaler/horizontal.go`, `replica_calculator.go`):
//! `desired = ceil(current × currentMetric / targetMetric)`, no change while the ratio is within
//! the tolerance (per direction), the metric's treatment of pods still starting (by metric type),
//! stabilisation windows (scale-up: the lowest recommendation in its window wins; scale-down:
//! the highest), rate policies per period chosen by `selectPolicy`, and min/max — or, for an
//! HPA without `behavior`, the controller's legacy path.

use std::collections::VecDeque;

use crate::contract::capacity::{HpaBehavior, HpaConfig, HpaMetric, PolicyType, Rules, ScalingPolicy, SelectPolicy};

/// The replica count the metric asks for: `ceil(current × ratio)`, or `current` while
/// `1 − down ≤ ratio ≤ 1 + up` (the tolerances, inclusive as the controller's `isWithin`).
/// `ratio` is currentMetric / targetMetric.
pub fn desired_replicas(current: u32, ratio: f64, up: f64, down: f64) -> u32 {
    if within(ratio, up, down) {
        return current;
    }
    // A tiny epsilon keeps exact products (2 × 1.5 = 3) from rounding up through float error.
    ((current as f64 * ratio) - 1e-9).ceil().max(0.0) as u32
}

fn within(ratio: f64, up: f64, down: f64) -> bool {
    1.0 - down <= ratio && ratio <= 1.0 + up
}

/// An External metric with an `AverageValue` target: `usage / (target × status.replicas)` is
/// the ratio (pods still starting are in status.replicas), as the controller's
/// `GetExternalPerPodMetricReplicas`. How the floor metric reaches the HPA (target 1).
pub fn external_average_value(config: &HpaConfig, total: u32, usage: f64, target: f64) -> u32 {
    if total == 0 {
        return ((usage / target) - 1e-9).ceil().max(0.0) as u32;
    }
    let (up, down) = (config.scale_up_rules().tolerance, config.scale_down_rules().tolerance);
    desired_replicas(total, usage / (f64::from(total) * target), up, down)
}

/// The HPA's raw recommendation for `demand` when `total` pods run and `ready` of them serve,
/// by the metric type the HPA uses.
pub fn recommend(config: &HpaConfig, total: u32, ready: u32, demand: f64, per_replica: f64) -> u32 {
    let (up, down) = (config.scale_up_rules().tolerance, config.scale_down_rules().tolerance);
    let needed = || ((demand / per_replica) - 1e-9).ceil().max(0.0) as u32;
    if total == 0 {
        return needed();
    }
    match config.metric {
        HpaMetric::ExternalAverageValue => external_average_value(config, total, demand, per_replica),
        HpaMetric::Pods => {
            if ready == 0 {
                // No pod reports a metric yet: the controller cannot compute a ratio.
                return total;
            }
            let unready = total - ready;
            // The ready pods carry the demand between them.
            let usage_ratio = demand / (f64::from(ready) * per_replica);
            if unready == 0 {
                return desired_replicas(total, usage_ratio, up, down);
            }
            // Scale-up: starting pods count at 0 (the ratio over all pods); scale-down: they
            // are left out (the ratio over the ready ones, and the count over them too).
            let (new_ratio, counted) = if usage_ratio > 1.0 {
                (demand / (f64::from(total) * per_replica), total)
            } else {
                (usage_ratio, ready)
            };
            if within(new_ratio, up, down)
                || (usage_ratio > 1.0 && new_ratio < 1.0)
                || (usage_ratio < 1.0 && new_ratio > 1.0)
            {
                return total;
            }
            let new_replicas = ((new_ratio * f64::from(counted)) - 1e-9).ceil().max(0.0) as u32;
            if (new_ratio < 1.0 && new_replicas > total) || (new_ratio > 1.0 && new_replicas < total) {
                return total;
            }
            new_replicas
        }
    }
}

/// Recommendations over time, for stabilisation windows.
#[derive(Debug, Default, Clone)]
pub struct Stabilizer {
    history: VecDeque<(i64, u32)>,
}

impl Stabilizer {
    /// Stabilises `recommendation` against those of the last windows (as the controller does),
    /// then records it.
    pub fn stabilize(&mut self, now: i64, current: u32, recommendation: u32, up_window: i64, down_window: i64) -> u32 {
        let keep = up_window.max(down_window);
        while self.history.front().is_some_and(|(t, _)| *t <= now - keep) {
            self.history.pop_front();
        }
        let mut up = recommendation;
        let mut down = recommendation;
        for &(t, r) in &self.history {
            if t > now - up_window {
                up = up.min(r);
            }
            if t > now - down_window {
                down = down.max(r);
            }
        }
        self.history.push_back((now, recommendation));
        current.max(up).min(down)
    }

    /// The legacy path (no `behavior`): the highest recommendation of the window, this one
    /// included, whatever the current count (the controller's `stabilizeRecommendation`).
    pub fn highest(&mut self, now: i64, recommendation: u32, window: i64) -> u32 {
        while self.history.front().is_some_and(|(t, _)| *t <= now - window) {
            self.history.pop_front();
        }
        self.history.push_back((now, recommendation));
        self.history.iter().map(|&(_, r)| r).max().unwrap_or(recommendation)
    }
}

/// Scale events over time, for rate policies.
#[derive(Debug, Default, Clone)]
pub struct RateLimiter {
    /// (time, change): positive for pods added, negative for pods removed.
    events: VecDeque<(i64, i64)>,
}

impl RateLimiter {
    fn changes_within(&self, now: i64, period: i64) -> (i64, i64) {
        let mut added = 0;
        let mut removed = 0;
        for &(t, d) in &self.events {
            if t > now - period {
                if d > 0 {
                    added += d;
                } else {
                    removed -= d;
                }
            }
        }
        (added, removed)
    }

    /// Records a scale event (kept for an hour: the API's longest policy period is 30 minutes).
    pub fn record(&mut self, now: i64, change: i64) {
        if change != 0 {
            self.events.push_back((now, change));
        }
        while self.events.front().is_some_and(|(t, _)| *t < now - 3600) {
            self.events.pop_front();
        }
    }

    /// The most replicas the scale-up policies allow now.
    pub fn scale_up_limit(&self, now: i64, current: u32, rules: &Rules) -> i64 {
        self.limit(now, current, rules, i64::max, i64::min, |start, p| {
            match p.policy_type {
                PolicyType::Pods => start + p.value as i64,
                PolicyType::Percent => (start as f64 * (1.0 + p.value as f64 / 100.0)).ceil() as i64,
            }
        })
    }

    /// The fewest replicas the scale-down policies allow now.
    pub fn scale_down_limit(&self, now: i64, current: u32, rules: &Rules) -> i64 {
        self.limit(now, current, rules, i64::min, i64::max, |start, p| {
            match p.policy_type {
                PolicyType::Pods => start - p.value as i64,
                PolicyType::Percent => (start as f64 * (1.0 - p.value as f64 / 100.0)) as i64,
            }
        })
    }

    /// Each policy proposes a limit from the replicas at the start of its period (current,
    /// less what was added, plus what was removed within it); `selectPolicy: Max` takes the one
    /// allowing the most change (`most`), `Min` the least (`least`), `Disabled` no change.
    fn limit(
        &self,
        now: i64,
        current: u32,
        rules: &Rules,
        most: fn(i64, i64) -> i64,
        least: fn(i64, i64) -> i64,
        propose: impl Fn(i64, &ScalingPolicy) -> i64,
    ) -> i64 {
        let current = current as i64;
        let select = match rules.select_policy {
            SelectPolicy::Disabled => return current,
            SelectPolicy::Max => most,
            SelectPolicy::Min => least,
        };
        rules
            .policies
            .iter()
            .map(|p| {
                let (added, removed) = self.changes_within(now, p.period.seconds());
                propose(current - added + removed, p)
            })
            .reduce(select)
            .unwrap_or(current)
    }
}

/// One HPA: its stabiliser and rate limiter.
#[derive(Debug, Default, Clone)]
pub struct Hpa {
    pub stabilizer: Stabilizer,
    pub rates: RateLimiter,
}

impl Hpa {
    /// The replicas the HPA sets now, given the raw recommendation ([`recommend`]).
    pub fn decide(
        &mut self,
        config: &HpaConfig,
        now: i64,
        current: u32,
        recommendation: u32,
        min: u32,
        max: u32,
    ) -> u32 {
        let (up, down) = (config.scale_up_rules(), config.scale_down_rules());
        let desired = match config.behavior {
            HpaBehavior::Explicit => {
                let stabilized = self.stabilizer.stabilize(
                    now,
                    current,
                    recommendation,
                    up.stabilization_window_seconds,
                    down.stabilization_window_seconds,
                );
                self.convert_with_behavior(now, current, stabilized, min, max, &up, &down)
            }
            HpaBehavior::Legacy => {
                // --horizontal-pod-autoscaler-downscale-stabilization: the scale-down window.
                let stabilized = self
                    .stabilizer
                    .highest(now, recommendation, down.stabilization_window_seconds);
                let limit = (2 * current).max(4).min(max);
                stabilized.min(limit)
            }
        };
        desired.clamp(min, max)
    }

    /// The controller's `convertDesiredReplicasWithBehaviorRate`: the rate limit from the
    /// events of each policy's period, clamped at the current count, then max/min.
    #[allow(clippy::too_many_arguments)]
    pub fn convert_with_behavior(
        &self,
        now: i64,
        current: u32,
        desired: u32,
        min: u32,
        max: u32,
        up: &Rules,
        down: &Rules,
    ) -> u32 {
        let (mut desired, cur) = (desired as i64, current as i64);
        if desired > cur {
            let limit = self.rates.scale_up_limit(now, current, up).max(cur);
            desired = desired.min(limit.min(max as i64));
        } else if desired < cur {
            let limit = self.rates.scale_down_limit(now, current, down).min(cur);
            desired = desired.max(limit.max(min as i64));
        }
        desired.max(0) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::capacity::ScalingRules;
    use crate::time::dur;

    #[test]
    fn documented_formula() {
        // kubernetes.io: current metric 200m, desired 100m → the replicas double.
        assert_eq!(desired_replicas(1, 200.0 / 100.0, 0.1, 0.1), 2);
        // current 50m, desired 100m → the replicas halve.
        assert_eq!(desired_replicas(4, 50.0 / 100.0, 0.1, 0.1), 2);
        // ceil: 3 × 1.5 = 4.5 → 5.
        assert_eq!(desired_replicas(3, 1.5, 0.1, 0.1), 5);
    }

    #[test]
    fn no_change_inside_the_tolerance_per_direction() {
        assert_eq!(desired_replicas(10, 1.09, 0.1, 0.1), 10);
        assert_eq!(desired_replicas(10, 0.91, 0.1, 0.1), 10);
        assert_eq!(desired_replicas(10, 1.11, 0.1, 0.1), 12);
        // behavior.scaleUp.tolerance: 0 (Kubernetes >= 1.35): any rise scales up; the
        // scale-down side keeps its 10%.
        assert_eq!(desired_replicas(10, 1.05, 0.0, 0.1), 11);
        assert_eq!(desired_replicas(10, 0.95, 0.0, 0.1), 10);
        let mut config = HpaConfig::default();
        config.scale_up.tolerance = Some(0.0);
        assert_eq!(recommend(&config, 10, 10, 105.0, 10.0), 11);
        assert_eq!(recommend(&config, 10, 10, 95.0, 10.0), 10);
    }

    #[test]
    fn an_external_average_value_metric_counts_starting_pods() {
        let config = HpaConfig::default();
        // 10 pods, 4 still starting, demand for 12: usage / (target × status.replicas).
        assert_eq!(recommend(&config, 10, 6, 120.0, 10.0), 12);
        assert_eq!(recommend(&config, 10, 6, 50.0, 10.0), 5);
    }

    #[test]
    fn a_pods_metric_leaves_starting_pods_out_of_a_scale_down_and_guards_reversals() {
        let config = HpaConfig {
            metric: HpaMetric::Pods,
            ..HpaConfig::default()
        };
        // All ready: the plain formula.
        assert_eq!(recommend(&config, 10, 10, 150.0, 10.0), 15);
        // Scale-up with 4 starting: counted at 0 → ratio 130 / (10 × 10) = 1.3 → 13.
        assert_eq!(recommend(&config, 10, 6, 130.0, 10.0), 13);
        // Ready pods overloaded (90 / 60 = 1.5), but over all pods 0.9: the direction reverses
        // (or falls in the tolerance) — no change.
        assert_eq!(recommend(&config, 10, 6, 90.0, 10.0), 10);
        // Scale-down with 4 starting: they are left out — 30 / 60 = 0.5 over the 6 ready → 3.
        assert_eq!(recommend(&config, 10, 6, 30.0, 10.0), 3);
        // The External metric would have counted the starting pods as idle capacity.
        assert_eq!(recommend(&HpaConfig::default(), 10, 6, 30.0, 10.0), 3);
        assert_eq!(
            recommend(&HpaConfig::default(), 10, 6, 90.0, 10.0),
            10,
            "0.9: in the tolerance"
        );
    }

    #[test]
    fn scale_down_waits_for_the_highest_recommendation_in_the_window() {
        let config = HpaConfig::default();
        let mut hpa = Hpa::default();
        // 10 replicas are recommended, then demand drops: the HPA holds 10 for 300 s.
        assert_eq!(hpa.decide(&config, 0, 10, 10, 1, 100), 10);
        assert_eq!(hpa.decide(&config, 15, 10, 2, 1, 100), 10);
        assert_eq!(hpa.decide(&config, 285, 10, 2, 1, 100), 10);
        assert_eq!(
            hpa.decide(&config, 300, 10, 2, 1, 100),
            2,
            "the 10 of t=0 has left the window"
        );
    }

    #[test]
    fn scale_up_is_limited_by_the_default_policies() {
        let config = HpaConfig::default();
        let mut hpa = Hpa::default();
        // From 1: max(+4 pods, +100%) = 5.
        assert_eq!(hpa.decide(&config, 0, 1, 50, 1, 100), 5);
        hpa.rates.record(0, 4);
        // Within the same 15 s period, the added pods count against the limit.
        assert_eq!(hpa.decide(&config, 10, 5, 50, 1, 100), 5);
        // The next period: from 5, max(9, 10) = 10; from 10: 20.
        assert_eq!(hpa.decide(&config, 15, 5, 50, 1, 100), 10);
        hpa.rates.record(15, 5);
        assert_eq!(hpa.decide(&config, 30, 10, 50, 1, 100), 20);
    }

    #[test]
    fn select_policy_min_and_a_partial_scale_down_block() {
        let mut config = HpaConfig::default();
        config.scale_up.select_policy = Some(SelectPolicy::Min);
        // Only the window and the policies given: the rest is Kubernetes' default.
        config.scale_down = ScalingRules {
            stabilization_window: Some(dur("0s")),
            policies: Some(vec![ScalingPolicy {
                policy_type: PolicyType::Pods,
                value: 2,
                period: dur("60s"),
            }]),
            ..ScalingRules::default()
        };
        let mut hpa = Hpa::default();
        // From 10 with Min: min(+4, +100%) = 14.
        assert_eq!(hpa.decide(&config, 0, 10, 50, 1, 100), 14);
        // Scale down at most 2 pods per minute.
        let mut hpa = Hpa::default();
        assert_eq!(hpa.decide(&config, 0, 10, 1, 1, 100), 8);
        hpa.rates.record(0, -2);
        assert_eq!(hpa.decide(&config, 30, 8, 1, 1, 100), 8);
        assert_eq!(hpa.decide(&config, 60, 8, 1, 1, 100), 6);
    }

    #[test]
    fn disabled_direction_never_moves() {
        let mut config = HpaConfig::default();
        config.scale_down.select_policy = Some(SelectPolicy::Disabled);
        config.scale_down.stabilization_window = Some(dur("0s"));
        let mut hpa = Hpa::default();
        assert_eq!(hpa.decide(&config, 0, 10, 1, 1, 100), 10);
    }

    #[test]
    fn min_and_max_bound_everything() {
        let config = HpaConfig::default();
        let mut hpa = Hpa::default();
        assert_eq!(hpa.decide(&config, 0, 10, 500, 2, 12), 12);
        let mut hpa = Hpa::default();
        assert_eq!(hpa.decide(&config, 0, 3, 3, 5, 12), 5);
    }

    #[test]
    fn without_behavior_the_legacy_path() {
        let config = HpaConfig {
            behavior: HpaBehavior::Legacy,
            ..HpaConfig::default()
        };
        let mut hpa = Hpa::default();
        // Scale-up capped at max(2 × current, 4) per sync: from 1 to 4, from 3 to 6.
        assert_eq!(hpa.decide(&config, 0, 1, 50, 1, 100), 4);
        let mut hpa = Hpa::default();
        assert_eq!(hpa.decide(&config, 0, 3, 50, 1, 100), 6);
        // The highest recommendation of the window drives a scale-up even after demand fell:
        // 50 was asked at t=0; at t=15 only 5 is, and the HPA still goes 6 → 12.
        assert_eq!(hpa.decide(&config, 15, 6, 5, 1, 100), 12);
        // And scales down without a rate limit once the window has passed.
        assert_eq!(hpa.decide(&config, 400, 40, 5, 1, 100), 5);
    }

    /// The controller's own cases for the legacy stabilisation (`TestNormalizeDesiredReplicas`,
    /// same file and commit as below): past recommendations (minutes ago, count), the new one,
    /// the answer, with the 5-minute downscale window.
    #[test]
    fn the_controllers_own_legacy_stabilisation_cases() {
        type Case = (&'static str, &'static [(i64, u32)], u32, u32);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("empty log", &[], 5, 5),
            ("stabilize", &[(2, 4), (1, 5)], 3, 5),
            ("no stabilize", &[(2, 1), (1, 2)], 3, 3),
            ("no stabilize - old recommendations", &[(10, 10), (9, 9)], 3, 3),
            ("stabilize - old recommendations", &[(10, 10), (9, 9), (2, 5), (1, 4)], 3, 5),
        ];
        let now = 10_000;
        for &(name, past, new, expected) in cases {
            let mut s = Stabilizer::default();
            for &(minutes_ago, r) in past {
                s.highest(now - minutes_ago * 60, r, 300);
            }
            assert_eq!(s.highest(now, new, 300), expected, "{name}");
        }
    }

    /// The HPA controller's own cases for `convertDesiredReplicasWithBehaviorRate`
    /// (`TestScalingWithRules`, kubernetes/kubernetes `pkg/controller/podautoscaler/
    /// horizontal_test.go`, read at omerap12/kubernetes@060da168, current master), as test
    /// vectors: (scale-up events, scale-down events, min, max, scale-up rules, scale-down rules,
    /// current, desired, the controller's answer). Rules are (pods, pods period, percent,
    /// percent period, stabilisation window) as its `generateScalingRules` builds them (a 0
    /// leaves that policy out, selectPolicy Max); `None` is Kubernetes' default. Events are
    /// spread as its `generateEventsUniformDistribution(events, 120)`: the middles of equal
    /// segments of the last 120 s.
    #[test]
    fn the_controllers_own_rate_limit_cases() {
        type R = Option<(u32, i64, u32, i64, i64)>;
        type Case = (
            &'static str,
            &'static [i64],
            &'static [i64],
            u32,
            u32,
            R,
            R,
            u32,
            u32,
            u32,
        );
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("prenormalized desired replicas within range", &[], &[], 3, 8, None, None, 5, 7, 7),
            ("prenormalized desired replicas < minReplicas", &[], &[], 2, 8, None, None, 3, 1, 2),
            ("within range when minReplicas is 0", &[], &[], 0, 10, None, None, 1, 0, 0),
            ("maxReplicas is the limit because maxReplicas < scaleUpLimit", &[], &[], 1, 10, None, None, 20, 1000, 10),
            ("desired replica count is more than the maximum replica count", &[], &[], 100, 150, None, None, 100, 1000, 150),
            ("scaleUpLimit is the limit with user policies", &[], &[], 1, 2000, Some((0, 0, 1, 60, 0)), None, 3, 1000, 4),
            ("scaleUp with default behavior", &[], &[], 1, 1000, None, None, 10, 50, 20),
            ("scaleUp with pods policy larger than percent policy", &[], &[], 1, 1000, Some((100, 60, 100, 60, 0)), None, 10, 500, 110),
            ("scaleUp with percent policy larger than pods policy", &[], &[], 1, 1000, Some((2, 60, 100, 60, 0)), None, 10, 500, 20),
            ("scaleUp with large pod policy", &[], &[], 1, 1000, Some((100, 60, 0, 0, 0)), None, 10, 50, 50),
            ("scaleUp with large percent policy", &[], &[], 1, 1000, Some((10000, 60, 0, 0, 0)), None, 10, 50, 50),
            ("scaleUp with pod policy limitation", &[], &[], 1, 1000, Some((30, 60, 0, 0, 0)), None, 10, 50, 40),
            ("scaleUp with percent policy limitation", &[], &[], 1, 1000, Some((0, 0, 200, 60, 0)), None, 10, 50, 30),
            ("scaleDown with percent policy larger than pod policy", &[], &[], 1, 1000, None, Some((20, 60, 1, 60, 300)), 100, 2, 80),
            ("scaleDown with pod policy larger than percent policy", &[], &[], 1, 1000, None, Some((2, 60, 1, 60, 300)), 100, 2, 98),
            ("scaleDown with MinReplicas limitation, large pod policy", &[], &[], 1, 1000, None, Some((100, 60, 0, 0, 300)), 10, 0, 1),
            ("scaleDown with MinReplicas limitation, large percent policy", &[], &[], 5, 1000, None, Some((0, 0, 100, 60, 300)), 10, 2, 5),
            ("scaleDown with pod policy limitation", &[], &[], 1, 1000, None, Some((5, 60, 0, 0, 300)), 10, 2, 5),
            ("scaleDown with percent policy limitation", &[], &[], 1, 1000, None, Some((0, 0, 50, 60, 300)), 10, 5, 5),
            ("scaleUp, MaxReplicas limit, large pod policy and events", &[1, 5, 9], &[], 1, 200, Some((300, 60, 0, 0, 0)), None, 100, 500, 200),
            ("scaleUp, MaxReplicas limit, large percent policy and events", &[1, 5, 9], &[], 1, 200, Some((0, 0, 10000, 60, 0)), None, 100, 500, 200),
            ("scaleUp with a lot of recent scale-up events", &[1, 5, 9], &[], 1, 1000, Some((5, 120, 0, 0, 0)), None, 100, 500, 100),
            ("scaleUp with pod policy and previous scale up events", &[1, 5, 9], &[], 1, 1000, Some((150, 120, 0, 0, 0)), None, 100, 500, 235),
            ("scaleUp with percent policy and previous scale up events", &[1, 5, 9], &[], 1, 1000, Some((0, 0, 200, 120, 0)), None, 100, 500, 255),
            ("scaleUp with percent policy and previous up and down events", &[4], &[2], 1, 1000, Some((0, 0, 300, 300, 0)), None, 6, 24, 16),
            ("scaleDown with default policy and previous events", &[], &[1, 5, 9], 1, 1000, None, None, 10, 5, 5),
            ("scaleDown, MinReplicas=nil, large pod policy and previous events", &[], &[1, 5, 9], 1, 1000, None, Some((115, 120, 0, 0, 300)), 100, 0, 1),
            ("scaleDown, MinReplicas, large pod policy and previous events", &[], &[1, 5, 9], 5, 1000, None, Some((130, 120, 0, 0, 300)), 100, 0, 5),
            ("scaleDown, MinReplicas, large percent policy and previous events", &[], &[1, 5, 9], 5, 1000, None, Some((0, 0, 100, 120, 300)), 100, 2, 5),
            ("scaleDown with pod policy limitation and previous events", &[], &[1, 5, 9], 1, 1000, None, Some((5, 120, 0, 0, 300)), 100, 2, 100),
            ("scaleDown with percent policy limitation and previous events", &[], &[2, 4, 6], 1, 1000, None, Some((0, 0, 50, 120, 300)), 100, 0, 56),
            ("scaleDown with percent policy and previous up and down events", &[2], &[4], 1, 1000, None, Some((0, 0, 50, 180, 0)), 10, 1, 6),
            ("scaleDown with previous events preventing further scale down", &[], &[10, 10, 10], 1, 1000, None, Some((0, 0, 10, 120, 300)), 100, 0, 100),
            ("scaleDown with previous events still allowing more scale down", &[], &[10, 10, 10], 1, 1000, None, Some((0, 0, 1000, 120, 300)), 10, 5, 5),
            ("'outdated' events, one behavior, up", &[8, 12, 9, 11], &[], 1, 1000, Some((1000, 60, 0, 0, 0)), None, 100, 200, 200),
            ("events not 'outdated', two policies, up", &[8, 12, 9, 11], &[], 1, 1000, Some((1000, 120, 100, 60, 0)), None, 100, 200, 200),
            ("events 'outdated', two policies, up", &[8, 12, 9, 11], &[], 1, 1000, Some((1000, 30, 100, 60, 0)), None, 100, 200, 200),
            ("'outdated' events, one behavior, down", &[], &[8, 12, 9, 11], 1, 1000, None, Some((1000, 60, 0, 0, 300)), 100, 5, 5),
            ("events not 'outdated', two policies, down", &[], &[8, 12, 9, 11], 1, 1000, None, Some((1000, 120, 100, 60, 300)), 100, 5, 5),
            ("events 'outdated', two policies, down", &[], &[8, 12, 9, 11], 1, 1000, None, Some((1000, 30, 100, 60, 300)), 100, 5, 5),
        ];
        let rules = |r: R| {
            r.map(|(pods, pods_period, percent, percent_period, window)| {
                let mut policies = Vec::new();
                if pods != 0 {
                    policies.push(ScalingPolicy {
                        policy_type: PolicyType::Pods,
                        value: pods,
                        period: dur(&format!("{pods_period}s")),
                    });
                }
                if percent != 0 {
                    policies.push(ScalingPolicy {
                        policy_type: PolicyType::Percent,
                        value: percent,
                        period: dur(&format!("{percent_period}s")),
                    });
                }
                ScalingRules {
                    stabilization_window: Some(dur(&format!("{window}s"))),
                    select_policy: Some(SelectPolicy::Max),
                    policies: Some(policies),
                    tolerance: None,
                }
            })
            .unwrap_or_default()
        };
        let now = 10_000;
        for &(name, up_events, down_events, min, max, up, down, current, desired, expected) in cases {
            let config = HpaConfig {
                scale_up: rules(up),
                scale_down: rules(down),
                ..HpaConfig::default()
            };
            let mut hpa = Hpa::default();
            for (events, sign) in [(up_events, 1), (down_events, -1)] {
                let segment = 120.0 / events.len().max(1) as f64;
                for (i, change) in events.iter().enumerate() {
                    let ago = (120.0 - segment * (i + 1) as f64 + segment / 2.0) as i64;
                    hpa.rates.record(now - ago, sign * change);
                }
            }
            let got = hpa.convert_with_behavior(
                now,
                current,
                desired,
                min,
                max,
                &config.scale_up_rules(),
                &config.scale_down_rules(),
            );
            assert_eq!(got, expected, "{name}");
        }
    }
}
