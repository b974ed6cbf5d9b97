//! Should this workload be predicted at all? The runbook's first step: predictive scaling,
//! scheduled scaling, or neither. From the same evidence the retrain makes — the dataset, the
//! validation's holdout and the replay — the assessment measures how much of the demand a
//! daily/weekly shape explains (seasonality strength, the STL-style `1 − Var(R) / Var(S + R)`
//! with a centred moving-average trend), how large the unexplained swings are (burstiness), the
//! forecast's skill over last-value, and what the replay gains over the HPA; then a verdict:
//!
//! - **predictive** when the model beats last-value by at least [`MIN_SKILL`] and, with a
//!   replay, the predictive policy serves better than the HPA alone — fewer saturated minutes
//!   (at least [`MIN_SATURATION_CUT`] fewer) when the HPA saturates, else at least
//!   [`MIN_ABOVE_TARGET_CUT`] fewer above-target minutes for at most [`MAX_COST`] more
//!   replica-minutes;
//! - otherwise **scheduled** when the shape is strong ([`MIN_SEASONALITY`]), the swings it does
//!   not explain small ([`MAX_BURSTINESS`]), and the seasonal-naive forecast within
//!   [`MAX_SEASONAL_NAIVE_RATIO`] of the model: a floor per hour of the week does the job;
//! - otherwise **reactive-only**.

use crate::contract::assessment::{
    Assessment, AssessmentFigures, AssessmentKind, ReplayGain, ScheduleSlot, ShapeFigures, WorkloadVerdict,
};
use crate::contract::capacity::CapacityConfig;
use crate::contract::comparison::{Comparison, ReplayReport};
use crate::contract::dataset::DatasetManifest;
use crate::contract::document::ApiVersion;
use crate::contract::validation::Validation;
use crate::dataset::Dataset;

pub const MIN_SKILL: f64 = 0.10;
pub const MIN_SATURATION_CUT: f64 = 0.10;
pub const MIN_ABOVE_TARGET_CUT: f64 = 0.25;
pub const MAX_COST: f64 = 0.10;
pub const MIN_SEASONALITY: f64 = 0.6;
pub const MAX_BURSTINESS: f64 = 0.5;
pub const MAX_SEASONAL_NAIVE_RATIO: f64 = 1.15;

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// The assessment of the dataset's `target` column with the validation's holdout and the
/// comparison's shape figures and replay (the shape measured here only for a comparison made
/// before it recorded one).
pub fn assess(
    data: &Dataset,
    meta: &DatasetManifest,
    validation: &Validation,
    comparison: &Comparison,
    capacity: Option<&CapacityConfig>,
) -> Assessment {
    let shape = comparison.shape.clone().unwrap_or_else(|| shape(data, meta));
    let figures = figures(shape, validation, comparison.replay.as_ref());
    let (verdict, reasons) = verdict(&figures);
    let schedule = if verdict == WorkloadVerdict::Scheduled {
        let period = if figures.shape.period == "7d" { WEEK } else { DAY };
        schedule(&data.timestamps, target_of(data), period, capacity)
    } else {
        Vec::new()
    };
    Assessment {
        api_version: ApiVersion::V1,
        kind: AssessmentKind::Kind,
        workload: meta.workload.clone(),
        dataset_sha256: meta.dataset_sha256.clone(),
        interval: meta.interval.clone(),
        figures,
        verdict,
        reasons,
        schedule,
    }
}

fn target_of(data: &Dataset) -> &[f64] {
    data.column("target").unwrap_or(&data.label)
}

/// The demand's shape over the dataset: a weekly period with three weeks of data, else daily.
pub fn shape(data: &Dataset, meta: &DatasetManifest) -> ShapeFigures {
    let span = match (data.timestamps.first(), data.timestamps.last()) {
        (Some(a), Some(b)) => b - a,
        _ => 0,
    };
    let period = if span >= 3 * WEEK { WEEK } else { DAY };
    let step = crate::time::HumanDuration::parse(&meta.resolution).map_or(60, |d| d.seconds());
    let shape = seasonal_shape(&data.timestamps, target_of(data), period, step);
    ShapeFigures {
        period: if period == WEEK { "7d" } else { "1d" }.into(),
        seasonality_strength: shape.as_ref().map(|s| s.strength),
        burstiness: shape.as_ref().map(|s| s.burstiness),
    }
}

/// The figures the verdict is made from: the shape, the holdout's errors, the replay.
pub fn figures(shape: ShapeFigures, validation: &Validation, replay: Option<&ReplayReport>) -> AssessmentFigures {
    let h = &validation.holdout;
    AssessmentFigures {
        shape,
        skill_over_last_value: 1.0 - h.model.mae / h.last_value.mae.max(f64::MIN_POSITIVE),
        seasonal_naive_ratio: h
            .seasonal_naive
            .as_ref()
            .map(|s| s.mae / h.model.mae.max(f64::MIN_POSITIVE)),
        replay: replay.map(|r| ReplayGain {
            reactive_saturated_minutes: r.reactive.saturated_minutes,
            predictive_saturated_minutes: r.candidate.saturated_minutes,
            reactive_above_target_minutes: r.reactive.above_target_minutes,
            predictive_above_target_minutes: r.candidate.above_target_minutes,
            replica_minutes_increase: r.candidate.replica_minutes / r.reactive.replica_minutes.max(f64::MIN_POSITIVE)
                - 1.0,
        }),
    }
}

/// The verdict and why, from the figures alone (rules in the module's documentation).
pub fn verdict(f: &AssessmentFigures) -> (WorkloadVerdict, Vec<String>) {
    let mut reasons = Vec::new();
    let skilled = f.skill_over_last_value >= MIN_SKILL;
    reasons.push(format!(
        "skill over last-value {:.2} {} {MIN_SKILL}",
        f.skill_over_last_value,
        if skilled { "≥" } else { "<" }
    ));
    let gains = match &f.replay {
        None => {
            reasons.push("no replay (no capacity: configured): judged on skill alone".into());
            true
        }
        Some(r) if r.reactive_saturated_minutes > 0.0 => {
            let cut = 1.0 - r.predictive_saturated_minutes / r.reactive_saturated_minutes;
            reasons.push(format!(
                "replay: {:.0}% fewer saturated minutes ({:.1} vs {:.1}), need {:.0}%",
                cut * 100.0,
                r.predictive_saturated_minutes,
                r.reactive_saturated_minutes,
                MIN_SATURATION_CUT * 100.0
            ));
            cut >= MIN_SATURATION_CUT
        }
        Some(r) => {
            let cut = 1.0 - r.predictive_above_target_minutes / r.reactive_above_target_minutes.max(f64::MIN_POSITIVE);
            reasons.push(format!(
                "replay: the HPA never saturates; {:.0}% fewer above-target minutes for {:+.1}% replica-minutes, need {:.0}% for at most {:+.0}%",
                cut * 100.0,
                r.replica_minutes_increase * 100.0,
                MIN_ABOVE_TARGET_CUT * 100.0,
                MAX_COST * 100.0
            ));
            cut >= MIN_ABOVE_TARGET_CUT && r.replica_minutes_increase <= MAX_COST
        }
    };
    if skilled && gains {
        return (WorkloadVerdict::Predictive, reasons);
    }
    let shaped = match (f.shape.seasonality_strength, f.shape.burstiness) {
        (Some(strength), Some(burstiness)) => {
            let ratio_ok = f.seasonal_naive_ratio.is_some_and(|r| r <= MAX_SEASONAL_NAIVE_RATIO);
            reasons.push(format!(
                "shape: seasonality {strength:.2} (need ≥ {MIN_SEASONALITY}), burstiness {burstiness:.2} (need ≤ {MAX_BURSTINESS}), seasonal-naive {} the model's error (need ≤ {MAX_SEASONAL_NAIVE_RATIO}×)",
                f.seasonal_naive_ratio.map_or("without a baseline for".into(), |r| format!("{r:.2}×"))
            ));
            strength >= MIN_SEASONALITY && burstiness <= MAX_BURSTINESS && ratio_ok
        }
        _ => {
            reasons.push(format!("shape: less than three {} periods of data", f.shape.period));
            false
        }
    };
    let verdict = if shaped {
        WorkloadVerdict::Scheduled
    } else {
        WorkloadVerdict::ReactiveOnly
    };
    (verdict, reasons)
}

struct Shape {
    strength: f64,
    burstiness: f64,
}

/// Seasonality strength and burstiness over `period`: the trend a centred moving average of one
/// period, the shape the mean detrended value per slot, the remainder what is left.
fn seasonal_shape(timestamps: &[i64], values: &[f64], period: i64, step: i64) -> Option<Shape> {
    let step = step.max(1);
    let per_period = (period / step).max(1) as usize;
    let n = values.len();
    if n < 3 * per_period || timestamps.len() != n {
        return None;
    }
    // Centred moving average over rows (a gap shortens the window's time span; rare and small).
    let mut prefix = vec![0.0; n + 1];
    for (i, v) in values.iter().enumerate() {
        prefix[i + 1] = prefix[i] + v;
    }
    let half = per_period / 2;
    let slots = per_period;
    let slot = |t: i64| (t.rem_euclid(period) / step) as usize % slots;
    let detrended: Vec<(usize, f64)> = (half..n.saturating_sub(half))
        .map(|i| {
            let trend = (prefix[i + half] - prefix[i - half]) / (2 * half).max(1) as f64;
            (slot(timestamps[i]), values[i] - trend)
        })
        .collect();
    let mut sums = vec![(0.0, 0usize); slots];
    for (s, d) in &detrended {
        sums[*s].0 += d;
        sums[*s].1 += 1;
    }
    let shape: Vec<f64> = sums.iter().map(|(sum, count)| sum / (*count).max(1) as f64).collect();
    let remainder: Vec<f64> = detrended.iter().map(|(s, d)| d - shape[*s]).collect();
    let variance = |xs: &mut dyn Iterator<Item = f64>| {
        let xs: Vec<f64> = xs.collect();
        let mean = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len().max(1) as f64
    };
    let var_detrended = variance(&mut detrended.iter().map(|(_, d)| *d));
    let var_remainder = variance(&mut remainder.iter().copied());
    let strength = if var_detrended > 0.0 {
        (1.0 - var_remainder / var_detrended).max(0.0)
    } else {
        0.0
    };
    let mut swings: Vec<f64> = remainder.iter().map(|r| r.abs()).collect();
    swings.sort_by(f64::total_cmp);
    let p99 = swings[((0.99 * swings.len() as f64).ceil() as usize).clamp(1, swings.len()) - 1];
    let mean = values.iter().sum::<f64>() / n as f64;
    Some(Shape {
        strength,
        burstiness: p99 / mean.abs().max(f64::MIN_POSITIVE),
    })
}

/// The floor schedule: the demand's P90 in each hour of `period` (a week or a day), in replicas
/// when the capacity is known.
fn schedule(timestamps: &[i64], values: &[f64], period: i64, capacity: Option<&CapacityConfig>) -> Vec<ScheduleSlot> {
    const DAYS: [&str; 7] = ["thu", "fri", "sat", "sun", "mon", "tue", "wed"]; // 1970-01-01 was a Thursday
    let hours = (period / 3600) as usize;
    let mut by_hour: Vec<Vec<f64>> = vec![Vec::new(); hours];
    for (t, v) in timestamps.iter().zip(values) {
        by_hour[(t.rem_euclid(period) / 3600) as usize].push(*v);
    }
    let mut slots: Vec<ScheduleSlot> = by_hour
        .into_iter()
        .enumerate()
        .filter(|(_, vs)| !vs.is_empty())
        .map(|(hour, mut vs)| {
            vs.sort_by(f64::total_cmp);
            let p90 = vs[((0.9 * vs.len() as f64).ceil() as usize).clamp(1, vs.len()) - 1];
            let name = if period == WEEK {
                format!("{} {:02}", DAYS[hour / 24], hour % 24)
            } else {
                format!("{hour:02}")
            };
            ScheduleSlot {
                slot: name,
                demand_p90: p90,
                replicas: capacity.map(|c| c.replicas_for(p90).clamp(c.min_replicas, c.max_replicas)),
            }
        })
        .collect();
    // Monday first, as a week is read.
    if period == WEEK {
        let monday = slots.iter().position(|s| s.slot.starts_with("mon")).unwrap_or(0);
        slots.rotate_left(monday);
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(skill: f64, strength: Option<f64>, ratio: Option<f64>, replay: Option<ReplayGain>) -> AssessmentFigures {
        AssessmentFigures {
            shape: ShapeFigures {
                period: "1d".into(),
                seasonality_strength: strength,
                burstiness: strength.map(|_| 0.2),
            },
            skill_over_last_value: skill,
            seasonal_naive_ratio: ratio,
            replay,
        }
    }

    fn gain(reactive: f64, predictive: f64, cost: f64) -> Option<ReplayGain> {
        Some(ReplayGain {
            reactive_saturated_minutes: reactive,
            predictive_saturated_minutes: predictive,
            reactive_above_target_minutes: 100.0,
            predictive_above_target_minutes: 50.0,
            replica_minutes_increase: cost,
        })
    }

    #[test]
    fn one_case_per_verdict() {
        let v = |f: &AssessmentFigures| verdict(f).0;
        assert_eq!(
            v(&figures(0.3, Some(0.9), Some(1.5), gain(50.0, 20.0, 0.05))),
            WorkloadVerdict::Predictive
        );
        // Skilled, but the replay shows no gain; a strong, stable shape: a schedule.
        assert_eq!(
            v(&figures(0.3, Some(0.9), Some(1.05), gain(50.0, 49.0, 0.05))),
            WorkloadVerdict::Scheduled
        );
        // No skill, no shape.
        assert_eq!(
            v(&figures(0.02, Some(0.2), Some(1.05), gain(50.0, 20.0, 0.05))),
            WorkloadVerdict::ReactiveOnly
        );
        // The HPA never saturates: above-target minutes halved at +5% is a gain, at +30% not.
        assert_eq!(
            v(&figures(0.3, None, None, gain(0.0, 0.0, 0.05))),
            WorkloadVerdict::Predictive
        );
        assert_eq!(
            v(&figures(0.3, None, None, gain(0.0, 0.0, 0.30))),
            WorkloadVerdict::ReactiveOnly
        );
        // No replay: skill decides.
        assert_eq!(v(&figures(0.3, None, None, None)), WorkloadVerdict::Predictive);
        let (_, reasons) = verdict(&figures(0.02, None, None, None));
        assert!(
            reasons.iter().any(|r| r.contains("less than three 1d periods")),
            "{reasons:?}"
        );
    }

    #[test]
    fn a_pure_daily_shape_is_strongly_seasonal_and_noise_is_not() {
        let step = 300;
        let ts: Vec<i64> = (0..(10 * DAY / step)).map(|i| i * step).collect();
        let daily: Vec<f64> = ts
            .iter()
            .map(|t| 100.0 + 50.0 * (*t as f64 * std::f64::consts::TAU / DAY as f64).sin())
            .collect();
        let shape = seasonal_shape(&ts, &daily, DAY, step).unwrap();
        assert!(shape.strength > 0.99, "{}", shape.strength);
        assert!(shape.burstiness < 0.01, "{}", shape.burstiness);
        // A deterministic scramble of the same values: no shape left.
        let noise: Vec<f64> = (0..ts.len() as u64)
            .map(|i| daily[((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % daily.len() as u64) as usize])
            .collect();
        let shape = seasonal_shape(&ts, &noise, DAY, step).unwrap();
        assert!(shape.strength < 0.2, "{}", shape.strength);
        assert!(
            seasonal_shape(&ts[..100], &daily[..100], DAY, step).is_none(),
            "too short"
        );
    }

    #[test]
    fn the_schedule_is_the_p90_of_each_hour_monday_first() {
        let ts: Vec<i64> = (0..(3 * WEEK / 3600)).map(|i| i * 3600).collect();
        let values: Vec<f64> = ts.iter().map(|t| ((t / 3600) % 24) as f64 * 10.0).collect();
        let capacity: CapacityConfig =
            serde_yaml_ng::from_str("per_replica: 10\nmin_replicas: 2\nmax_replicas: 20\n").unwrap();
        let slots = schedule(&ts, &values, WEEK, Some(&capacity));
        assert_eq!(slots.len(), 168);
        assert_eq!(slots[0].slot, "mon 00");
        assert_eq!(slots[9].slot, "mon 09");
        assert_eq!(slots[9].demand_p90, 90.0);
        assert_eq!(slots[9].replicas, Some(9));
        assert_eq!(slots[0].replicas, Some(2), "within min");
        assert_eq!(slots[23].replicas, Some(20), "within max");
    }
}
