//! How a forecast becomes replicas: the demand a replica count serves, and the guardrails that
//! hold a predictive policy back from scaling down too far or too fast. Their one home, used by
//! the forecast step (`guard`, over the recommendations it recorded on earlier runs) and by the
//! replay (`replay_guard`, at every HPA sync).
//!
//! The two still differ — their configs (`deploy:` and `capacity.predictive`) and their cadence —
//! which is the issue "Test what you deploy" to make one; here they only sit side by side.

use crate::contract::capacity::{CapacityConfig, PredictiveConfig};
use crate::contract::deploy::DeployConfig;
use crate::replay::hpa::Stabilizer;

impl CapacityConfig {
    /// The replicas that serve `demand` (none for demand ≤ 0). A tiny epsilon keeps exact
    /// quotients (50 / 25 = 2) from rounding up through float error.
    pub fn replicas_for(&self, demand: f64) -> u32 {
        ((demand / self.per_replica) - 1e-9).ceil().max(0.0) as u32
    }
}

/// Applies min/max, the scale-down step and the observation window to `needed`, given the
/// current replica count and the recent recommendations (`recent`, all within the window).
pub fn guard(
    needed: u32,
    current: Option<u32>,
    recent: &[u32],
    capacity: &CapacityConfig,
    deploy: &DeployConfig,
) -> (u32, Vec<String>) {
    let mut applied = Vec::new();
    let mut r = needed;
    if r < capacity.min_replicas || r > capacity.max_replicas {
        r = r.clamp(capacity.min_replicas, capacity.max_replicas);
        applied.push(format!(
            "min/max replicas [{}, {}]",
            capacity.min_replicas, capacity.max_replicas
        ));
    }
    if let Some(cur) = current {
        if r < cur {
            let highest = recent.iter().copied().max().unwrap_or(r).min(cur);
            if highest > r {
                r = highest;
                applied.push(format!(
                    "observation window {}: no scale-down below the highest recent recommendation",
                    deploy.scale_down_observation_window
                ));
            }
            if let Some(step) = deploy.max_scale_down_step {
                if cur - r > step {
                    r = cur - step;
                    applied.push(format!("max scale-down step {step}"));
                }
            }
        }
    }
    (r.clamp(capacity.min_replicas, capacity.max_replicas), applied)
}

/// The replay's predictive policy at one HPA sync: `desired` (already combined with the reactive
/// HPA and within min/max) held at the highest count asked for during the observation window,
/// then at most `max_scale_down_step` below `current`.
pub(crate) fn replay_guard(
    observation: &mut Stabilizer,
    now: i64,
    current: u32,
    desired: u32,
    predictive: &PredictiveConfig,
    capacity: &CapacityConfig,
) -> u32 {
    let window = predictive.scale_down_observation_window.seconds();
    let mut desired = observation.stabilize(now, current, desired, 0, window);
    if let Some(step) = predictive.max_scale_down_step {
        desired = desired.max(current.saturating_sub(step));
    }
    desired.clamp(capacity.min_replicas, capacity.max_replicas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn capacity(min: u32, max: u32) -> CapacityConfig {
        serde_yaml_ng::from_str(&format!("per_replica: 10\nmin_replicas: {min}\nmax_replicas: {max}\n")).unwrap()
    }

    #[test]
    fn guardrails_in_order() {
        let deploy = DeployConfig {
            max_scale_down_step: Some(2),
            ..DeployConfig::default()
        };
        assert_eq!(guard(50, None, &[], &capacity(2, 20), &deploy).0, 20);
        assert_eq!(guard(0, None, &[], &capacity(2, 20), &deploy).0, 2);
        // From 10 to 3: the window saw 8, so 8; then within the step.
        assert_eq!(guard(3, Some(10), &[8], &capacity(1, 20), &deploy).0, 8);
        assert_eq!(
            guard(3, Some(10), &[], &capacity(1, 20), &deploy).0,
            8,
            "at most 2 fewer"
        );
        assert_eq!(guard(12, Some(10), &[], &capacity(1, 20), &deploy), (12, vec![]));
    }

    proptest! {
        #[test]
        fn guardrails_hold(
            needed in 0u32..200,
            current in prop::option::of(1u32..100),
            recent in prop::collection::vec(0u32..100, 0..5),
            min in 1u32..10,
            extra in 0u32..100,
            step in prop::option::of(1u32..10),
        ) {
            let cap = capacity(min, min + extra);
            let deploy = DeployConfig { max_scale_down_step: step, ..DeployConfig::default() };
            let (r, _) = guard(needed, current, &recent, &cap, &deploy);
            prop_assert!(r >= cap.min_replicas && r <= cap.max_replicas);
            if let Some(cur) = current {
                if r < cur {
                    if let Some(step) = step {
                        // Only max_replicas (a hard bound) may force a larger step down.
                        prop_assert!(cur - r <= step || r == cap.max_replicas, "scale-down larger than the step");
                    }
                    let highest = recent.iter().copied().max().unwrap_or(0);
                    prop_assert!(r >= highest.min(cur) || r == cap.max_replicas, "below a recent recommendation");
                }
            }
        }
    }
}
