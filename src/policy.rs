//! How a forecast becomes replicas — the predictive policy, in one place. The forecast step
//! calls [`floor_for`] once per run; the replay calls it at each of the same cadence ticks, from
//! the same samples, with the same memory of its earlier floors; so the policy the gate judges
//! is the one that runs. The policy's settings are `capacity.predictive`
//! (`contract::capacity::PredictiveConfig`).

use crate::contract::calendar::DeclaredEvent;
use crate::contract::capacity::{CapacityConfig, ForecastBound};
use crate::contract::deploy::SetBy;

impl CapacityConfig {
    /// The replicas that serve `demand` (none for demand ≤ 0). A tiny epsilon keeps exact
    /// quotients (50 / 25 = 2) from rounding up through float error.
    pub fn replicas_for(&self, demand: f64) -> u32 {
        ((demand / self.per_replica) - 1e-9).ceil().max(0.0) as u32
    }
}

/// One forecast: its point and interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    pub point: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The floor one forecast asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Floor {
    /// Replicas for the policy's bound, before the guardrails.
    pub needed: u32,
    /// After the guardrails: within [operator's floor, max], never lowered faster or further
    /// than the guardrails allow. What the HPA's minReplicas becomes.
    pub replicas: u32,
    /// The guardrails that changed the count, in order.
    pub guardrails: Vec<String>,
    /// What set the floor: the forecast, or the last guardrail that changed it.
    pub set_by: SetBy,
    /// The forecast the floor was sized from: the model's, scaled by the declared events'
    /// uplift at its target time.
    pub adjusted: Forecast,
    /// What is remembered for the observation window of later runs.
    pub remembered: u32,
}

/// Why a forecast gives no floor (the operator's floor then holds).
#[derive(Debug, Clone, PartialEq)]
pub struct Distrust(pub String);

/// The floor for `forecast`, given the previous floor (`previous`, absent when the last run fell
/// back or there was none), the counts remembered within the observation window (`recent`) and
/// the declared events in force at the forecast's target time (`events`: their uplift scales
/// the forecast; their replica window bounds the floor after the guardrails).
pub fn floor_for(
    forecast: &Forecast,
    previous: Option<u32>,
    recent: &[u32],
    capacity: &CapacityConfig,
    events: &[&DeclaredEvent],
) -> Result<Floor, Distrust> {
    let policy = &capacity.predictive;
    let factor: f64 = events.iter().map(|e| 1.0 + e.uplift.unwrap_or(0.0)).product();
    let forecast = &Forecast {
        point: forecast.point * factor,
        lower: forecast.lower * factor,
        upper: forecast.upper * factor,
    };
    let width = (forecast.upper - forecast.lower) / forecast.point.abs().max(f64::MIN_POSITIVE);
    // NaN (a non-finite forecast) counts as too wide.
    if width.is_nan() || width > policy.max_relative_interval_width {
        return Err(Distrust(format!(
            "the interval is {:.0}% of the forecast, more than {:.0}%",
            width * 100.0,
            policy.max_relative_interval_width * 100.0
        )));
    }
    let demand = match policy.bound {
        ForecastBound::Upper => forecast.upper,
        ForecastBound::Point => forecast.point,
    };
    let needed = capacity.replicas_for(demand);
    let (mut replicas, mut guardrails, mut set_by) = guard(needed, previous, recent, capacity);
    for e in events.iter().filter(|e| e.uplift.is_some_and(|u| u != 0.0)) {
        guardrails.insert(
            0,
            format!("event {}: forecast × {}", e.name, 1.0 + e.uplift.unwrap_or(0.0)),
        );
    }
    // The events' replica window, within the capacity's bounds.
    let lo = events.iter().filter_map(|e| e.min_replicas).max();
    let hi = events.iter().filter_map(|e| e.max_replicas).min();
    if lo.is_some() || hi.is_some() {
        let lo = lo.unwrap_or(0).max(capacity.min_replicas).min(capacity.max_replicas);
        let hi = hi.unwrap_or(u32::MAX).min(capacity.max_replicas).max(lo);
        let bounded = replicas.clamp(lo, hi);
        if bounded != replicas {
            let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
            guardrails.push(format!(
                "event window {}: replicas within [{lo}, {hi}]",
                names.join(", ")
            ));
            replicas = bounded;
            set_by = SetBy::EventWindow;
        }
    }
    Ok(Floor {
        needed,
        replicas,
        guardrails,
        set_by,
        adjusted: *forecast,
        remembered: needed.clamp(capacity.min_replicas, capacity.max_replicas),
    })
}

/// The adaptive interval's update after one scored forecast
/// (`contract::capacity::AdaptiveInterval`): the forecast step and the replay track the ratio of
/// the half-width to the calibrated one, and `step` is the rate.
pub fn track_interval(ratio: f64, missed: bool, level: f64, step: f64) -> f64 {
    (ratio + step * (f64::from(u8::from(missed)) - (1.0 - level))).max(0.0)
}

/// A forecast made and not yet scored: its point and the half-width it was made with.
pub trait Pending {
    fn point_and_half_width(&self) -> (f64, f64);
}

impl Pending for crate::contract::deploy::PendingForecast {
    fn point_and_half_width(&self) -> (f64, f64) {
        (self.point, self.half_width)
    }
}

/// The replay's: (target row, point, half-width).
impl Pending for (i64, f64, f64) {
    fn point_and_half_width(&self) -> (f64, f64) {
        (self.1, self.2)
    }
}

/// The adaptive interval's scoring of the forecasts made so far, in the order they were made,
/// as the forecast step and the replay both run it. What is tracked is the ratio of the
/// half-width to the calibrated one, recomputed from the state the last forecast left
/// (`previous`: its tracked and calibrated half-widths; 1 when the calibrated one is zero): each
/// pending forecast that is `due` is scored against its `actual` (one without an actual — a gap —
/// is dropped unscored, a miss is the actual outside the half-width that forecast used) and moves
/// the ratio by [`track_interval`]. Returns the half-width for a forecast whose calibrated one is
/// `calibrated`, the forecasts still waiting, and how many were scored and missed.
pub fn score_due<P: Pending>(
    previous: (f64, f64),
    calibrated: f64,
    pending: Vec<P>,
    due: impl Fn(&P) -> bool,
    actual: impl Fn(&P) -> Option<f64>,
    level: f64,
    step: f64,
) -> (f64, Vec<P>, u64, u64) {
    let mut ratio = if previous.1 > 0.0 { previous.0 / previous.1 } else { 1.0 };
    let (mut scored, mut missed) = (0, 0);
    let mut waiting = Vec::new();
    for p in pending {
        if !due(&p) {
            waiting.push(p);
            continue;
        }
        if let Some(actual) = actual(&p) {
            let (point, half) = p.point_and_half_width();
            let miss = (actual - point).abs() > half;
            ratio = track_interval(ratio, miss, level, step);
            scored += 1;
            missed += u64::from(miss);
        }
    }
    (ratio * calibrated, waiting, scored, missed)
}

/// Applies min/max (the operator's floor and the cap), the observation window and the
/// scale-down step to `needed`, given the current floor and the recent counts; says which
/// guardrails acted, and which one set the result (the last to change it).
pub fn guard(
    needed: u32,
    current: Option<u32>,
    recent: &[u32],
    capacity: &CapacityConfig,
) -> (u32, Vec<String>, SetBy) {
    let policy = &capacity.predictive;
    let mut applied = Vec::new();
    let mut set_by = SetBy::Forecast;
    let mut r = needed;
    if r < capacity.min_replicas || r > capacity.max_replicas {
        set_by = if r < capacity.min_replicas {
            SetBy::MinReplicas
        } else {
            SetBy::MaxReplicas
        };
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
                set_by = SetBy::ObservationWindow;
                applied.push(format!(
                    "observation window {}: no scale-down below the highest recent recommendation",
                    policy.scale_down_observation_window
                ));
            }
            if let Some(step) = policy.max_scale_down_step {
                if cur - r > step {
                    r = cur - step;
                    set_by = SetBy::MaxScaleDownStep;
                    applied.push(format!("max scale-down step {step}"));
                }
            }
        }
    }
    let bounded = r.clamp(capacity.min_replicas, capacity.max_replicas);
    if bounded != r {
        set_by = if bounded > r {
            SetBy::MinReplicas
        } else {
            SetBy::MaxReplicas
        };
    }
    (bounded, applied, set_by)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn capacity(min: u32, max: u32, step: Option<u32>) -> CapacityConfig {
        let mut c: CapacityConfig =
            serde_yaml_ng::from_str(&format!("per_replica: 10\nmin_replicas: {min}\nmax_replicas: {max}\n")).unwrap();
        c.predictive.max_scale_down_step = step;
        c
    }

    #[test]
    fn guardrails_in_order() {
        let cap = |min, max| capacity(min, max, Some(2));
        assert_eq!(guard(50, None, &[], &cap(2, 20)).0, 20);
        assert_eq!(guard(0, None, &[], &cap(2, 20)).0, 2);
        // From 10 to 3: the window saw 8, so 8; then within the step.
        assert_eq!(guard(3, Some(10), &[8], &cap(1, 20)).0, 8);
        assert_eq!(guard(3, Some(10), &[], &cap(1, 20)).0, 8, "at most 2 fewer");
        assert_eq!(guard(12, Some(10), &[], &cap(1, 20)), (12, vec![], SetBy::Forecast));
        assert_eq!(guard(50, None, &[], &cap(2, 20)).2, SetBy::MaxReplicas);
        assert_eq!(guard(0, None, &[], &cap(2, 20)).2, SetBy::MinReplicas);
        assert_eq!(guard(3, Some(10), &[8], &cap(1, 20)).2, SetBy::ObservationWindow);
        assert_eq!(guard(3, Some(10), &[], &cap(1, 20)).2, SetBy::MaxScaleDownStep);
    }

    #[test]
    fn the_floor_is_sized_for_the_bound_and_never_below_the_operators() {
        let mut cap = capacity(3, 40, None);
        let f = Forecast {
            point: 100.0,
            lower: 80.0,
            upper: 150.0,
        };
        assert_eq!(floor_for(&f, None, &[], &cap, &[]).unwrap().replicas, 15);
        cap.predictive.bound = ForecastBound::Point;
        assert_eq!(floor_for(&f, None, &[], &cap, &[]).unwrap().replicas, 10);
        let low = Forecast {
            point: 1.0,
            lower: 0.5,
            upper: 1.5,
        };
        assert_eq!(
            floor_for(&low, None, &[], &cap, &[]).unwrap().replicas,
            3,
            "the operator's floor"
        );
        cap.predictive.max_relative_interval_width = 0.1;
        assert!(floor_for(&f, None, &[], &cap, &[]).is_err(), "too wide to act on");
    }

    #[test]
    fn the_tracked_half_width_widens_after_misses_and_narrows_slowly_after_hits() {
        // Level 0.8: a miss adds 0.8 × step, a hit takes 0.2 × step away; never below 0.
        assert!((track_interval(10.0, true, 0.8, 1.0) - 10.8).abs() < 1e-12);
        assert!((track_interval(10.0, false, 0.8, 1.0) - 9.8).abs() < 1e-12);
        assert_eq!(track_interval(0.1, false, 0.8, 1.0), 0.0);
        // At the level's miss rate (1 in 5) it stands still on average.
        let mut h = 10.0;
        for i in 0..1000 {
            h = track_interval(h, i % 5 == 0, 0.8, 0.5);
        }
        assert!((h - 10.0).abs() < 0.5, "{h}");
    }

    #[test]
    fn a_declared_event_scales_the_forecast_and_bounds_the_floor() {
        let cap = capacity(2, 40, None);
        let f = Forecast {
            point: 100.0,
            lower: 80.0,
            upper: 150.0,
        };
        let event = |uplift: Option<f64>, min: Option<u32>, max: Option<u32>| DeclaredEvent {
            name: "launch".into(),
            start: "2026-01-01T00:00:00Z".into(),
            end: "2026-01-02T00:00:00Z".into(),
            uplift,
            min_replicas: min,
            max_replicas: max,
        };
        let up = event(Some(1.0), None, None);
        let floor = floor_for(&f, None, &[], &cap, &[&up]).unwrap();
        assert_eq!((floor.replicas, floor.adjusted.upper), (30, 300.0));
        assert_eq!(floor.guardrails, vec!["event launch: forecast × 2".to_string()]);
        let window = event(None, Some(20), Some(25));
        let floor = floor_for(&f, None, &[], &cap, &[&window]).unwrap();
        assert_eq!((floor.replicas, floor.set_by), (20, SetBy::EventWindow));
        let capped = event(Some(1.0), None, Some(25));
        assert_eq!(floor_for(&f, None, &[], &cap, &[&capped]).unwrap().replicas, 25);
        // The capacity's bounds stay outermost.
        let beyond = event(None, Some(90), None);
        assert_eq!(floor_for(&f, None, &[], &cap, &[&beyond]).unwrap().replicas, 40);
        // No event: as before.
        assert_eq!(floor_for(&f, None, &[], &cap, &[]).unwrap().set_by, SetBy::Forecast);
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
            let cap = capacity(min, min + extra, step);
            let (r, applied, set_by) = guard(needed, current, &recent, &cap);
            prop_assert_eq!(applied.is_empty(), set_by == SetBy::Forecast && r == needed);
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
