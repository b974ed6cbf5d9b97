//! The autoscaler replay: what each policy would have done to the replicas over a window of
//! real demand — the reactive HPA, and predictive policies that size for a forecast — and what
//! it cost: minutes above the target utilisation and saturated, unmet demand, over-provisioned replica-minutes, scale
//! actions, oscillations, and how long before each reactive saturation a policy had the capacity.
//!
//! Time runs in ticks of the HPA's sync period; demand is constant within a data interval. New
//! pods serve only after the start-up delay. Pods that are still starting count as replicas (they
//! cost) but serve nothing; the HPA's metric is demand per replica, starting pods counting as
//! idle, as the controller conservatively treats unready pods when scaling up.

pub mod hpa;

use crate::contract::calendar::CalendarConfig;
use crate::contract::capacity::{CapacityConfig, Combine, SettingSource};
use crate::contract::comparison::{ReplayMetrics, ReplayReport};
use crate::contract::deploy::Actuation;
use crate::policy::{floor_for, score_due, Forecast};
use hpa::Hpa;

/// The forecasts a model makes over the window, indexed by *target* row: `by_target[t]` is the
/// forecast made from row t − horizon_rows (from the samples up to it) for row t, for t in
/// 0..rows + horizon_rows (the first ones are made before the window); `None` where no forecast
/// can be made (a gap: the forecast step falls back there).
pub struct Forecasts<'a> {
    pub by_target: &'a [Option<Forecast>],
    pub horizon_rows: usize,
    /// The workload's calendar: the declared events at each forecast's target time adjust it
    /// as the forecast step does (`policy::floor_for`).
    pub calendar: Option<&'a CalendarConfig>,
    /// The interval's level (the model's), for the adaptive interval.
    pub level: f64,
}

/// The adaptive interval as the forecast step carries it between runs: the latest forecast's
/// tracked and calibrated half-widths (their ratio is what is tracked, recomputed from them by
/// `score_due` as in the step, to the last bit), and the forecasts made and not yet scored (target row,
/// point, half-width used).
#[derive(Debug, Clone)]
struct Tracking {
    half_width: f64,
    calibrated: f64,
    pending: Vec<(i64, f64, f64)>,
}

/// A floor the predictive policy set: when (seconds from the window's start, a cadence tick)
/// and what (`None`: no forecast, or one not trusted — the operator's floor holds), from which
/// forecast (after the adaptive interval; acted on or not) for which data row.
#[derive(Debug, Clone, PartialEq)]
pub struct FloorSet {
    pub at: i64,
    pub replicas: Option<u32>,
    pub forecast: Option<Forecast>,
    pub target_row: i64,
}

/// One policy's replicas over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub tick_seconds: i64,
    /// Per tick: replicas (serving or starting) and serving replicas.
    pub replicas: Vec<u32>,
    pub serving: Vec<u32>,
    /// Per tick, the demand.
    pub demand: Vec<f64>,
    /// The predictive policy's floors, one per cadence tick (empty for the reactive HPA).
    pub floors: Vec<FloorSet>,
}

/// Pods, each with the time it starts serving.
struct Pods {
    ready_at: Vec<i64>,
}

impl Pods {
    fn total(&self) -> u32 {
        self.ready_at.len() as u32
    }
    fn serving(&self, now: i64) -> u32 {
        self.ready_at.iter().filter(|&&t| t <= now).count() as u32
    }
    /// Scales to `target`: new pods serve after `delay`; removals take the youngest first.
    fn scale_to(&mut self, target: u32, now: i64, delay: i64) {
        let total = self.total();
        if target > total {
            self.ready_at
                .extend(std::iter::repeat_n(now + delay, (target - total) as usize));
        } else {
            self.ready_at.sort_unstable();
            self.ready_at.truncate(target as usize);
        }
    }
}

/// Replays one policy over `demand` (one value per data row of `row_seconds`, the first at Unix
/// time `start`). Without forecasts it is the reactive HPA; with them, the predictive policy as
/// it runs: at each cadence tick (Unix times divisible by the cadence, as the CronWorkflow fires)
/// a forecast is made from the samples that have arrived (up to the tick − metric_delay) and
/// turned into a floor by [`floor_for`], with the same memory as the forecast step (the
/// previous floor, the counts remembered in the observation window); the floor holds until
/// the next tick under the HPA (combine: max) as assisted mode's `actuation` puts it there — a
/// second metric the HPA takes the maximum over (floor-metric) or its minReplicas
/// (min-replicas-patch) — or decides alone (combine: alone).
pub fn replay(
    demand: &[f64],
    start: i64,
    row_seconds: i64,
    capacity: &CapacityConfig,
    actuation: Actuation,
    forecasts: Option<&Forecasts>,
) -> Trace {
    let tick = capacity.hpa.sync_period.seconds().min(row_seconds).max(1);
    let ticks_per_row = (row_seconds / tick).max(1) as usize;
    let delay = capacity.startup_delay_seconds();
    let (min, max) = (capacity.min_replicas, capacity.max_replicas);
    let initial = demand
        .first()
        .map_or(min, |d| capacity.replicas_for(*d).clamp(min, max));
    let mut pods = Pods {
        ready_at: vec![i64::MIN; initial as usize],
    };
    let mut hpa = Hpa::default();
    let policy = &capacity.predictive;
    let cadence = policy.cadence.seconds().max(1);
    let window = policy.scale_down_observation_window.seconds();
    // The next cadence tick, in seconds from the window's start.
    let mut next_forecast = start.div_euclid(cadence) * cadence - start;
    if next_forecast < 0 {
        next_forecast += cadence;
    }
    let mut floor: Option<u32> = None;
    let mut remembered: Vec<(i64, u32)> = Vec::new();
    let mut tracking: Option<Tracking> = None;
    let metric_lag = (capacity.hpa.metric_delay.seconds().max(0) / tick) as usize;
    let mut trace = Trace {
        tick_seconds: tick,
        replicas: Vec::with_capacity(demand.len() * ticks_per_row),
        serving: Vec::with_capacity(demand.len() * ticks_per_row),
        demand: Vec::with_capacity(demand.len() * ticks_per_row),
        floors: Vec::new(),
    };
    for (row, &d) in demand.iter().enumerate() {
        for k in 0..ticks_per_row {
            let now = row as i64 * row_seconds + k as i64 * tick;
            let current = pods.total();
            // The HPA reads the demand as its metric pipeline delivers it: metric_delay late
            // (before the window, the first value).
            let seen = match trace.demand.len().checked_sub(metric_lag) {
                _ if metric_lag == 0 => d,
                Some(i) => trace.demand[i],
                None => trace.demand.first().copied().unwrap_or(d),
            };
            let recommendation = hpa::recommend(&capacity.hpa, current, pods.serving(now), seen, capacity.per_replica);
            if let Some(f) = forecasts {
                while now >= next_forecast {
                    let at = next_forecast;
                    next_forecast += cadence;
                    // The forecast made at `at`, from the samples up to at − metric_delay.
                    let made_from = (at - policy.metric_delay.seconds()).div_euclid(row_seconds);
                    let target_row = made_from + f.horizon_rows as i64;
                    remembered.retain(|(t, _)| *t > at - window && *t < at);
                    let recent: Vec<u32> = remembered.iter().map(|(_, r)| *r).collect();
                    let made = usize::try_from(target_row)
                        .ok()
                        .and_then(|t| f.by_target.get(t).copied().flatten());
                    // The adaptive interval, as the forecast step tracks it: the forecasts whose
                    // target row has arrived are scored, in order, against the demand there.
                    let mut trial = tracking.clone();
                    let mut drifted = false;
                    let made = match (made, policy.adaptive_interval.as_ref()) {
                        (Some(fc), Some(adaptive)) => {
                            let calibrated = (fc.upper - fc.lower) / 2.0;
                            let t = trial.get_or_insert(Tracking {
                                half_width: calibrated,
                                calibrated,
                                pending: Vec::new(),
                            });
                            let actual =
                                |p: &(i64, f64, f64)| usize::try_from(p.0).ok().and_then(|r| demand.get(r).copied());
                            let (half, waiting, _, _) = score_due(
                                (t.half_width, t.calibrated),
                                calibrated,
                                std::mem::take(&mut t.pending),
                                |p| p.0 <= made_from,
                                actual,
                                f.level,
                                adaptive.rate,
                            );
                            (t.half_width, t.calibrated, t.pending) = (half, calibrated, waiting);
                            drifted = adaptive.drifted(half, calibrated);
                            Some(Forecast {
                                point: fc.point,
                                lower: fc.point - half,
                                upper: fc.point + half,
                            })
                        }
                        (made, _) => made,
                    };
                    // A forecast made is scored when its time comes, acted on or not.
                    if let (Some(mut t), Some(fc)) = (trial, made) {
                        t.pending.push((target_row, fc.point, t.half_width));
                        tracking = Some(t);
                    }
                    let target_time = start + target_row * row_seconds;
                    let events = f.calendar.map(|c| c.events_at(target_time)).unwrap_or_default();
                    // A drifted model's forecast is made and scored but not acted on.
                    let acted = made.filter(|_| !drifted);
                    floor = match acted.map(|fc| floor_for(&fc, floor, &recent, capacity, &events)) {
                        Some(Ok(set)) => {
                            remembered.push((at, set.remembered));
                            Some(set.replicas)
                        }
                        // A gap or a forecast not trusted: the forecast step falls back, and
                        // assisted mode gives the HPA its operator's floor back.
                        _ => None,
                    };
                    trace.floors.push(FloorSet {
                        at,
                        replicas: floor,
                        forecast: made,
                        target_row,
                    });
                }
            }
            let target = match (forecasts, policy.combine) {
                (None, _) => hpa.decide(&capacity.hpa, now, current, recommendation, min, max),
                // The floor is a second metric (External, AverageValue 1; 0 when there is none):
                // the HPA recommends the maximum over its metrics, then stabilises and
                // rate-limits that as it does any recommendation.
                (Some(_), Combine::Max) if actuation == Actuation::FloorMetric => {
                    let floor = f64::from(floor.unwrap_or(0));
                    let asked = hpa::external_average_value(&capacity.hpa, current, floor, 1.0);
                    hpa.decide(&capacity.hpa, now, current, recommendation.max(asked), min, max)
                }
                // The floor is the HPA's minReplicas: the HPA scales above it as it always does,
                // and to it at once (the controller's "below minReplicas" path, no rate limit).
                (Some(_), Combine::Max) => {
                    let floor = floor.unwrap_or(min).max(min);
                    hpa.decide(&capacity.hpa, now, current, recommendation, floor, max)
                }
                (Some(_), Combine::Alone) => {
                    let reactive = hpa.decide(&capacity.hpa, now, current, recommendation, min, max);
                    floor.unwrap_or(reactive)
                }
            };
            hpa.rates.record(now, target as i64 - current as i64);
            pods.scale_to(target, now, delay);
            trace.replicas.push(pods.total());
            trace.serving.push(pods.serving(now));
            trace.demand.push(d);
        }
    }
    trace
}

impl CapacityConfig {
    /// What `serving` replicas take before they saturate.
    fn saturation(&self, serving: u32) -> f64 {
        f64::from(serving) * self.per_replica / self.target_utilization
    }
}

/// Start ticks of the episodes where `trace` was saturated.
fn saturation_starts(trace: &Trace, capacity: &CapacityConfig) -> Vec<usize> {
    let short = |i: usize| trace.demand[i] > capacity.saturation(trace.serving[i]) + 1e-9;
    (0..trace.demand.len())
        .filter(|&i| short(i) && (i == 0 || !short(i - 1)))
        .collect()
}

/// The metrics of `trace`, with lead times against the reactive saturation episodes.
pub(crate) fn measure(
    trace: &Trace,
    capacity: &CapacityConfig,
    reactive_saturations: &[usize],
    lead_cap_seconds: i64,
) -> ReplayMetrics {
    let lead_cap_ticks = (lead_cap_seconds / trace.tick_seconds).max(0) as usize;
    let minutes = trace.tick_seconds as f64 / 60.0;
    let mut m = ReplayMetrics {
        above_target_minutes: 0.0,
        saturated_minutes: 0.0,
        unmet_demand: 0.0,
        over_provisioned_replica_minutes: 0.0,
        replica_minutes: 0.0,
        scale_actions: 0,
        oscillations: 0,
        saturations_covered: 0,
        mean_lead_minutes: 0.0,
    };
    let window_ticks = (capacity.oscillation_window.seconds() / trace.tick_seconds) as usize;
    let mut last_action: Option<(usize, i32)> = None;
    for i in 0..trace.demand.len() {
        let at_target = trace.serving[i] as f64 * capacity.per_replica;
        let saturation = capacity.saturation(trace.serving[i]);
        let d = trace.demand[i];
        if d > at_target + 1e-9 {
            m.above_target_minutes += minutes;
        }
        if d > saturation + 1e-9 {
            m.saturated_minutes += minutes;
            m.unmet_demand += (d - saturation) * minutes;
        }
        let needed = capacity.replicas_for(d).max(capacity.min_replicas);
        m.over_provisioned_replica_minutes += trace.replicas[i].saturating_sub(needed) as f64 * minutes;
        m.replica_minutes += trace.replicas[i] as f64 * minutes;
        if i > 0 && trace.replicas[i] != trace.replicas[i - 1] {
            m.scale_actions += 1;
            let direction = if trace.replicas[i] > trace.replicas[i - 1] {
                1
            } else {
                -1
            };
            if let Some((at, previous)) = last_action {
                if previous != direction && i - at <= window_ticks {
                    m.oscillations += 1;
                }
            }
            last_action = Some((i, direction));
        }
    }
    let mut lead_total = 0.0;
    for &s in reactive_saturations {
        let d = trace.demand[s];
        let covers = |i: usize| capacity.saturation(trace.serving[i]) + 1e-9 >= d;
        if covers(s) {
            m.saturations_covered += 1;
            let mut t = s;
            while t > 0 && s - t < lead_cap_ticks && covers(t - 1) {
                t -= 1;
            }
            lead_total += (s - t) as f64 * minutes;
        }
    }
    if !reactive_saturations.is_empty() {
        m.mean_lead_minutes = lead_total / reactive_saturations.len() as f64;
    }
    m
}

/// The reactive HPA and one predictive policy over the same window (`mttd backtest`): the
/// reactive saturation episodes, each one's metrics and trace.
pub fn against_reactive(
    demand: &[f64],
    start: i64,
    row_seconds: i64,
    capacity: &CapacityConfig,
    actuation: Actuation,
    forecasts: &Forecasts,
) -> (u32, (ReplayMetrics, Trace), (ReplayMetrics, Trace)) {
    let reactive = replay(demand, start, row_seconds, capacity, actuation, None);
    let saturations = saturation_starts(&reactive, capacity);
    let cap = forecasts.horizon_rows as i64 * row_seconds;
    let policy = replay(demand, start, row_seconds, capacity, actuation, Some(forecasts));
    let measured = |trace: &Trace| measure(trace, capacity, &saturations, cap);
    (
        saturations.len() as u32,
        (measured(&reactive), reactive),
        (measured(&policy), policy),
    )
}

/// The three policies' traces, for plots.
pub struct ReplayTraces {
    /// Unix time of the first data interval.
    pub start: i64,
    pub row_seconds: i64,
    pub ticks_per_row: usize,
    pub per_replica: f64,
    pub reactive: Trace,
    pub control: Trace,
    pub candidate: Trace,
}

/// Replays the reactive HPA, the control and the candidate over one window starting at `start`.
pub fn compare(
    demand: &[f64],
    start: i64,
    row_seconds: i64,
    capacity: &CapacityConfig,
    actuation: Actuation,
    control: &Forecasts,
    candidate: &Forecasts,
) -> (ReplayReport, ReplayTraces) {
    let reactive = replay(demand, start, row_seconds, capacity, actuation, None);
    let saturations = saturation_starts(&reactive, capacity);
    let cap = control.horizon_rows as i64 * row_seconds;
    let control = replay(demand, start, row_seconds, capacity, actuation, Some(control));
    let candidate = replay(demand, start, row_seconds, capacity, actuation, Some(candidate));
    let measured = |trace: &Trace| measure(trace, capacity, &saturations, cap);
    let report = ReplayReport {
        capacity: capacity.clone(),
        actuation,
        startup_delay_source: match capacity.startup_delay {
            Some(_) => SettingSource::Config,
            None => SettingSource::Default,
        },
        reactive_saturation_episodes: saturations.len() as u32,
        reactive: measured(&reactive),
        control: measured(&control),
        candidate: measured(&candidate),
    };
    let traces = ReplayTraces {
        start,
        row_seconds,
        ticks_per_row: (row_seconds / reactive.tick_seconds).max(1) as usize,
        per_replica: capacity.per_replica,
        reactive,
        control,
        candidate,
    };
    (report, traces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::capacity::{HpaConfig, PredictiveConfig};
    use crate::time::dur;
    use proptest::prelude::*;

    fn capacity(min: u32, max: u32, delay: &str) -> CapacityConfig {
        CapacityConfig {
            per_replica: 10.0,
            min_replicas: min,
            max_replicas: max,
            startup_delay: Some(dur(delay)),
            target_utilization: 1.0,
            hpa: HpaConfig::default(),
            predictive: PredictiveConfig::default(),
            oscillation_window: dur("10m"),
        }
    }

    fn exact(v: f64) -> Option<Forecast> {
        Some(Forecast {
            point: v,
            lower: v,
            upper: v,
        })
    }

    /// A perfect forecast of `demand` for horizon `h` (beyond the window: the last value).
    fn perfect(demand: &[f64], h: usize) -> Vec<Option<Forecast>> {
        (0..demand.len() + h)
            .map(|t| exact(demand[t.min(demand.len() - 1)]))
            .collect()
    }

    /// The floor in force at each tick of `trace` (the operator's where none is set).
    fn floors_in_force(trace: &Trace, min: u32) -> Vec<u32> {
        (0..trace.replicas.len())
            .map(|i| {
                let now = i as i64 * trace.tick_seconds;
                trace
                    .floors
                    .iter()
                    .rev()
                    .find(|f| f.at <= now)
                    .and_then(|f| f.replicas)
                    .unwrap_or(min)
            })
            .collect()
    }

    #[test]
    fn predictive_serves_a_ramp_the_reactive_hpa_lags_behind() {
        let demand: Vec<f64> = (0..120).map(|m| if m < 60 { 20.0 } else { 200.0 }).collect();
        let cap = capacity(1, 50, "2m");
        let reactive = replay(&demand, 0, 60, &cap, Actuation::FloorMetric, None);
        let forecast = perfect(&demand, 15);
        let saturations = saturation_starts(&reactive, &cap);
        let r = measure(&reactive, &cap, &saturations, 900);
        assert!(r.saturated_minutes >= 2.0, "the HPA waits for pods to start: {r:?}");
        for actuation in [Actuation::FloorMetric, Actuation::MinReplicasPatch] {
            let f = Forecasts {
                by_target: &forecast,
                horizon_rows: 15,
                calendar: None,
                level: 0.8,
            };
            let predictive = replay(&demand, 0, 60, &cap, actuation, Some(&f));
            let p = measure(&predictive, &cap, &saturations, 900);
            assert_eq!(p.saturated_minutes, 0.0, "{actuation:?}: {p:?}");
            assert_eq!(p.saturations_covered, 1);
            assert!(p.mean_lead_minutes >= 2.0, "{actuation:?}: {p:?}");
            assert!(
                p.replica_minutes > r.replica_minutes,
                "earlier capacity costs replica-minutes"
            );
        }
    }

    /// A floor raised from 2 to 20 with the HPA's default scale-up policies (100% or 4 pods per
    /// 15 s, whichever is more): as minReplicas the controller sets it at once; as a metric it
    /// is a recommendation like any other and climbs at the policies' rate: 2 → 6 → 12 → 20.
    #[test]
    fn a_floor_metric_climbs_at_the_scale_up_rate_a_min_replicas_floor_jumps() {
        let demand = vec![10.0; 30];
        let cap = capacity(2, 50, "0m");
        let asked: Vec<Option<Forecast>> = (0..60).map(|_| exact(20.0 * cap.per_replica)).collect();
        let f = Forecasts {
            by_target: &asked,
            horizon_rows: 1,
            calendar: None,
            level: 0.8,
        };
        let replicas = |actuation| {
            let trace = replay(&demand, 0, 60, &cap, actuation, Some(&f));
            let first = trace.floors.first().expect("a floor at the first tick").replicas;
            assert_eq!(first, Some(20), "{actuation:?}");
            trace.replicas[..5].to_vec()
        };
        assert_eq!(replicas(Actuation::MinReplicasPatch), vec![20; 5]);
        assert_eq!(replicas(Actuation::FloorMetric), vec![6, 12, 20, 20, 20]);
    }

    fn demand_strategy() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(0.0f64..500.0, 2..150)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn replicas_stay_within_min_and_max(
            demand in demand_strategy(),
            min in 1u32..5,
            extra in 0u32..30,
            noise in prop::collection::vec(-100.0f64..100.0, 200),
            alone in any::<bool>(),
            step in prop::option::of(1u32..5),
            patch in any::<bool>(),
        ) {
            let actuation = if patch { Actuation::MinReplicasPatch } else { Actuation::FloorMetric };
            let mut cap = capacity(min, min + extra, "1m");
            cap.predictive.combine = if alone { Combine::Alone } else { Combine::Max };
            cap.predictive.max_scale_down_step = step;
            let forecast: Vec<Option<Forecast>> = perfect(&demand, 15).iter().enumerate().map(|(i, v)| exact((v.unwrap().point + noise[i % noise.len()]).max(0.0))).collect();
            for f in [None, Some(Forecasts { by_target: &forecast, horizon_rows: 15, calendar: None, level: 0.8 })] {
                let trace = replay(&demand, 0, 60, &cap, actuation, f.as_ref());
                prop_assert!(trace.replicas.iter().all(|&r| r >= cap.min_replicas && r <= cap.max_replicas));
            }
        }

        #[test]
        fn the_hpa_never_goes_below_the_floor_in_force_and_a_floor_is_set_at_every_cadence_tick(
            demand in demand_strategy(),
            h in 1usize..30,
            start_minute in 0i64..10,
            gaps in prop::collection::vec(any::<bool>(), 200),
        ) {
            let cap = capacity(2, 1000, "1m");
            let forecast: Vec<Option<Forecast>> = perfect(&demand, h)
                .into_iter()
                .enumerate()
                .map(|(i, f)| f.filter(|_| !gaps[i % gaps.len()]))
                .collect();
            let f = Forecasts { by_target: &forecast, horizon_rows: h, calendar: None, level: 0.8 };
            let trace = replay(&demand, start_minute * 60, 60, &cap, Actuation::MinReplicasPatch, Some(&f));
            for (i, floor) in floors_in_force(&trace, cap.min_replicas).iter().enumerate() {
                prop_assert!(trace.replicas[i] >= *floor, "tick {}: {} replicas under the floor {}", i, trace.replicas[i], floor);
            }
            // As a metric, the floor is approached at the scale-up rate: under it, the HPA
            // never scales down.
            let metric = replay(&demand, start_minute * 60, 60, &cap, Actuation::FloorMetric, Some(&f));
            prop_assert_eq!(&metric.floors, &trace.floors);
            for (i, floor) in floors_in_force(&metric, cap.min_replicas).iter().enumerate().skip(1) {
                if metric.replicas[i - 1] < *floor {
                    prop_assert!(metric.replicas[i] >= metric.replicas[i - 1], "tick {}: scaled down under the floor {}", i, floor);
                }
            }
            // One forecast per 5 minutes of wall-clock time, aligned as a CronWorkflow fires.
            let window = demand.len() as i64 * 60;
            let expected = (start_minute * 60..start_minute * 60 + window).filter(|t| t % 300 == 0).count();
            prop_assert_eq!(trace.floors.len(), expected);
            prop_assert!(trace.floors.iter().all(|f| (f.at + start_minute * 60) % 300 == 0));
        }

        #[test]
        fn the_reactive_hpa_never_scales_inside_the_tolerance(demand in demand_strategy(), delay in 0i64..4) {
            let cap = capacity(1, 1000, &format!("{delay}m"));
            let trace = replay(&demand, 0, 60, &cap, Actuation::FloorMetric, None);
            for i in 1..trace.replicas.len() {
                let current = trace.replicas[i - 1] as f64;
                let ratio = trace.demand[i] / (current * cap.per_replica);
                if (ratio - 1.0).abs() <= cap.hpa.tolerance {
                    prop_assert_eq!(trace.replicas[i], trace.replicas[i - 1], "tick {}: ratio {}", i, ratio);
                }
            }
        }

        #[test]
        fn replay_is_deterministic(demand in demand_strategy()) {
            let cap = capacity(2, 40, "2m");
            let forecast = perfect(&demand, 15);
            let f = Forecasts { by_target: &forecast, horizon_rows: 15, calendar: None, level: 0.8 };
            for a in [Actuation::FloorMetric, Actuation::MinReplicasPatch] {
                prop_assert_eq!(replay(&demand, 0, 60, &cap, a, Some(&f)), replay(&demand, 0, 60, &cap, a, Some(&f)));
                prop_assert_eq!(replay(&demand, 0, 60, &cap, a, None), replay(&demand, 0, 60, &cap, a, None));
            }
        }
    }
}
