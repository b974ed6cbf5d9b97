//! The Kubernetes Horizontal Pod Autoscaler's algorithm, as documented
//! (kubernetes.io, "Horizontal Pod Autoscaling") and as the controller computes it:
//! `desired = ceil(current × currentMetric / targetMetric)`, no change while the ratio is within
//! the tolerance, stabilisation windows (scale-up: the lowest recommendation in its window wins;
//! scale-down: the highest), rate policies per period chosen by `selectPolicy`, and min/max.

use std::collections::VecDeque;

use crate::contract::capacity::{HpaConfig, PolicyType, ScalingPolicy, ScalingRules, SelectPolicy};

/// The replica count the metric asks for: `ceil(current × ratio)`, or `current` inside the
/// tolerance. `ratio` is currentMetric / targetMetric.
pub fn desired_replicas(current: u32, ratio: f64, tolerance: f64) -> u32 {
    if (ratio - 1.0).abs() <= tolerance {
        return current;
    }
    // A tiny epsilon keeps exact products (2 × 1.5 = 3) from rounding up through float error.
    ((current as f64 * ratio) - 1e-9).ceil().max(0.0) as u32
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

    pub fn record(&mut self, now: i64, change: i64) {
        if change != 0 {
            self.events.push_back((now, change));
        }
        while self.events.front().is_some_and(|(t, _)| *t < now - 3600) {
            self.events.pop_front();
        }
    }

    /// The most replicas the scale-up policies allow now.
    pub fn scale_up_limit(&self, now: i64, current: u32, rules: &ScalingRules) -> i64 {
        self.limit(now, current, rules, i64::max, i64::min, |start, p| {
            match p.policy_type {
                PolicyType::Pods => start + p.value as i64,
                PolicyType::Percent => (start as f64 * (1.0 + p.value as f64 / 100.0)).ceil() as i64,
            }
        })
    }

    /// The fewest replicas the scale-down policies allow now.
    pub fn scale_down_limit(&self, now: i64, current: u32, rules: &ScalingRules) -> i64 {
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
        rules: &ScalingRules,
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
    /// The replicas the HPA sets now, given the raw recommendation (`desired_replicas`).
    pub fn decide(
        &mut self,
        config: &HpaConfig,
        now: i64,
        current: u32,
        recommendation: u32,
        min: u32,
        max: u32,
    ) -> u32 {
        let stabilized = self.stabilizer.stabilize(
            now,
            current,
            recommendation,
            config.scale_up.stabilization_window.seconds(),
            config.scale_down.stabilization_window.seconds(),
        );
        let mut desired = stabilized as i64;
        let cur = current as i64;
        if desired > cur {
            let limit = self.rates.scale_up_limit(now, current, &config.scale_up).max(cur);
            desired = desired.min(limit.min(max as i64));
        } else if desired < cur {
            let limit = self.rates.scale_down_limit(now, current, &config.scale_down).min(cur);
            desired = desired.max(limit.max(min as i64));
        }
        desired.clamp(min as i64, max as i64) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::dur;

    #[test]
    fn documented_formula() {
        // kubernetes.io: current metric 200m, desired 100m → the replicas double.
        assert_eq!(desired_replicas(1, 200.0 / 100.0, 0.1), 2);
        // current 50m, desired 100m → the replicas halve.
        assert_eq!(desired_replicas(4, 50.0 / 100.0, 0.1), 2);
        // ceil: 3 × 1.5 = 4.5 → 5.
        assert_eq!(desired_replicas(3, 1.5, 0.1), 5);
    }

    #[test]
    fn no_change_inside_the_tolerance() {
        assert_eq!(desired_replicas(10, 1.09, 0.1), 10);
        assert_eq!(desired_replicas(10, 0.91, 0.1), 10);
        assert_eq!(desired_replicas(10, 1.11, 0.1), 12);
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
    fn select_policy_min_and_pods_scale_down() {
        let mut config = HpaConfig::default();
        config.scale_up.select_policy = SelectPolicy::Min;
        config.scale_down = ScalingRules {
            stabilization_window: dur("0s"),
            select_policy: SelectPolicy::Max,
            policies: vec![ScalingPolicy {
                policy_type: PolicyType::Pods,
                value: 2,
                period: dur("60s"),
            }],
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
        config.scale_down.select_policy = SelectPolicy::Disabled;
        config.scale_down.stabilization_window = dur("0s");
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
}
