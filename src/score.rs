//! Live scoring: the logged predictions whose target time has passed, joined with the actual
//! target at that time — per model version, over trailing windows: accuracy (MAE, MAPE, bias),
//! the interval (coverage, width) and what the forecasts did (floors raised above the HPA's own,
//! and whether the demand then needed them). Shadow versions' forecasts are scored alike (they
//! raise nothing).

use std::collections::BTreeMap;

use crate::contract::deploy::{DriftAlertConfig, Recommendation};
use crate::contract::document::{ApiVersion, Document};
use crate::contract::layout::VALIDATION_FILE;
use crate::contract::registry::Registry;
use crate::contract::score::{LiveDrift, Score, ScoreKind, ScoreWindow, VersionScore};
use crate::contract::validation::Validation;
use crate::error::Result;
use crate::store::Store;
use crate::time::{parse_timestamp, rfc3339};

/// The trailing windows scored, by target time.
pub const WINDOWS: [(&str, i64); 3] = [("1h", 3_600), ("1d", 86_400), ("7d", 7 * 86_400)];

/// The target's sample at exactly `t` (the grid time a forecast was for), when finite.
pub fn actual_at(actual: &[(i64, f64)], t: i64) -> Option<f64> {
    actual
        .binary_search_by_key(&t, |s| s.0)
        .ok()
        .map(|i| actual[i].1)
        .filter(|v| v.is_finite())
}

/// Scores `logged` (the prediction log, any order) against `actual` (the target's samples,
/// sorted by time) at `now`; `per_replica` (the capacity one replica serves) decides whether a
/// raised floor was needed.
pub fn score(
    workload: &str,
    logged: &[Recommendation],
    actual: &[(i64, f64)],
    per_replica: Option<f64>,
    now: i64,
) -> Score {
    let at = |t: i64| actual_at(actual, t);
    let windows = WINDOWS
        .iter()
        .map(|&(name, seconds)| {
            let mut fallbacks = 0;
            let mut by_version: BTreeMap<u32, Tally> = BTreeMap::new();
            for rec in logged {
                // The shadow versions' forecasts, each by its own target time.
                for shadow in &rec.shadows {
                    let Some(f) = &shadow.forecast else { continue };
                    let Some(target) = parse_timestamp(&f.target_time).filter(|t| *t <= now && *t > now - seconds)
                    else {
                        continue;
                    };
                    let tally = by_version.entry(shadow.model_version).or_default();
                    match at(target) {
                        Some(actual) => tally.add(f.point, f.lower, f.upper, actual),
                        None => tally.unmatched += 1,
                    }
                }
                let target = match &rec.forecast {
                    Some(f) => parse_timestamp(&f.target_time),
                    None => parse_timestamp(&rec.generated_at),
                };
                let Some(target) = target.filter(|t| *t <= now && *t > now - seconds) else {
                    continue;
                };
                let (Some(forecast), Some(version)) = (&rec.forecast, rec.model_version) else {
                    fallbacks += 1;
                    continue;
                };
                let tally = by_version.entry(version).or_default();
                let Some(actual) = at(target) else {
                    tally.unmatched += 1;
                    continue;
                };
                tally.add(forecast.point, forecast.lower, forecast.upper, actual);
                if let Some(decision) = rec.decision.as_ref().filter(|d| d.changed_outcome) {
                    tally.raised += 1;
                    if let Some(per_replica) = per_replica {
                        if actual > f64::from(decision.reactive_replicas) * per_replica {
                            tally.useful += 1;
                            tally.lead_seconds += target - parse_timestamp(&rec.generated_at).unwrap_or(target);
                        }
                    }
                }
            }
            ScoreWindow {
                window: name.to_string(),
                fallbacks,
                versions: by_version
                    .into_iter()
                    .map(|(version, tally)| tally.finish(version, per_replica.is_some()))
                    .collect(),
            }
        })
        .collect();
    Score {
        api_version: ApiVersion::V1,
        kind: ScoreKind::Kind,
        workload: workload.to_string(),
        scored_at: rfc3339(now),
        logged: logged.len() as u64,
        windows,
        drift: None,
    }
}

/// The live drift rule (`rule`, when it has a `live_mae_ratio`) on the version in service of
/// `registry`, against the holdout MAE of its validation.json in `store` (checked against the
/// change log); None without a rule, a version in service, or a score of it in the window.
pub fn in_service_drift(
    store: &Store,
    registry: &Registry,
    score: &Score,
    rule: Option<&DriftAlertConfig>,
) -> Result<Option<LiveDrift>> {
    let in_service = registry.versions.iter().find(|v| Some(v.version) == registry.promoted);
    let (Some(rule), Some(record)) = (rule.filter(|r| r.live_mae_ratio.is_some()), in_service) else {
        return Ok(None);
    };
    let bytes = crate::store::registry::load_document(store, &registry.workload, record, VALIDATION_FILE)?;
    let validation = Validation::from_bytes(&bytes, &format!("{} {VALIDATION_FILE}", record.name))?;
    Ok(live_drift(score, record.version, validation.holdout.model.mae, rule))
}

/// The live drift rule for `version` (the version in service), validated with `validation_mae`:
/// its live MAE in the rule's window against that; `None` without a live rule or when the
/// version was not scored in the window.
pub fn live_drift(score: &Score, version: u32, validation_mae: f64, rule: &DriftAlertConfig) -> Option<LiveDrift> {
    let limit = rule.live_mae_ratio?;
    let window = score.windows.iter().find(|w| w.window == rule.live_window)?;
    let scored = window
        .versions
        .iter()
        .find(|v| v.model_version == version && v.scored > 0)?;
    let ratio = scored.mae / validation_mae.max(f64::MIN_POSITIVE);
    Some(LiveDrift {
        model_version: version,
        window: window.window.clone(),
        scored: scored.scored,
        live_mae: scored.mae,
        validation_mae,
        ratio,
        limit,
        holds: ratio > limit && scored.scored >= rule.min_scored,
    })
}

#[derive(Default)]
struct Tally {
    scored: u64,
    unmatched: u64,
    abs_error: f64,
    pct_error: f64,
    pct_count: u64,
    error: f64,
    covered: u64,
    width: f64,
    raised: u64,
    useful: u64,
    lead_seconds: i64,
}

impl Tally {
    fn add(&mut self, point: f64, lower: f64, upper: f64, actual: f64) {
        self.scored += 1;
        self.abs_error += (point - actual).abs();
        self.error += point - actual;
        if actual != 0.0 {
            self.pct_error += ((point - actual) / actual).abs() * 100.0;
            self.pct_count += 1;
        }
        if (lower..=upper).contains(&actual) {
            self.covered += 1;
        }
        self.width += upper - lower;
    }

    fn finish(self, model_version: u32, with_capacity: bool) -> VersionScore {
        let n = self.scored.max(1) as f64;
        VersionScore {
            model_version,
            scored: self.scored,
            unmatched: self.unmatched,
            mae: self.abs_error / n,
            mape: (self.pct_count > 0).then(|| self.pct_error / self.pct_count as f64),
            bias: self.error / n,
            coverage: self.covered as f64 / n,
            mean_width: self.width / n,
            raised: self.raised,
            useful: with_capacity.then_some(self.useful),
            unneeded: with_capacity.then_some(self.raised - self.useful),
            lead_minutes: (self.useful > 0).then(|| self.lead_seconds as f64 / 60.0 / self.useful as f64),
        }
    }
}

/// A gauge of the score: its name, help and value for one version.
type Gauge = (&'static str, &'static str, fn(&VersionScore) -> Option<f64>);

/// The score as Prometheus text: gauges labelled by workload, model version and window.
pub fn prometheus_text(score: &Score) -> String {
    let mut out = String::new();
    let metrics: [Gauge; 9] = [
        ("mttd_live_scored", "Matured predictions scored", |v| {
            Some(v.scored as f64)
        }),
        ("mttd_live_mae", "Mean absolute error of the live forecasts", |v| {
            Some(v.mae)
        }),
        ("mttd_live_bias", "Mean of point minus actual", |v| Some(v.bias)),
        ("mttd_live_coverage", "Share of actuals inside the interval", |v| {
            Some(v.coverage)
        }),
        ("mttd_live_interval_width", "Mean interval width", |v| {
            Some(v.mean_width)
        }),
        (
            "mttd_live_raised",
            "Forecasts that raised the floor above the HPA's own",
            |v| Some(v.raised as f64),
        ),
        ("mttd_live_useful", "Raised floors the demand needed", |v| {
            v.useful.map(|u| u as f64)
        }),
        ("mttd_live_unneeded", "Raised floors never needed", |v| {
            v.unneeded.map(|u| u as f64)
        }),
        (
            "mttd_live_lead_minutes",
            "Mean minutes from a useful raise of the floor to the saturation the HPA alone would have met",
            |v| v.lead_minutes,
        ),
    ];
    for (name, help, value) in metrics {
        out.push_str(&format!("# HELP {name} {help}.\n# TYPE {name} gauge\n"));
        for window in &score.windows {
            for version in &window.versions {
                if let Some(v) = value(version) {
                    out.push_str(&format!(
                        "{name}{{workload=\"{}\",model_version=\"{}\",window=\"{}\"}} {v}\n",
                        score.workload, version.model_version, window.window
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A logged recommendation made at `made` by `version`, for `target` (none: a fallback).
    fn logged(made: i64, version: Option<u32>, forecast: Option<(i64, f64, f64, f64)>, raised: bool) -> Recommendation {
        let mut rec = serde_json::json!({
            "apiVersion": "mttd/v1",
            "kind": "Recommendation",
            "workload": "api",
            "generated_at": rfc3339(made),
            "mode": "advisory",
            "horizon": "15m",
            "guardrails": [],
            "history": [],
            "decision": {
                "demand": 100.0,
                "reactive_replicas": 10,
                "final_replicas": if raised { 12 } else { 10 },
                "set_by": if raised { "forecast" } else { "reactive" },
                "changed_outcome": raised,
            },
        });
        if let Some(v) = version {
            rec["model_version"] = v.into();
        }
        if let Some((target, point, lower, upper)) = forecast {
            rec["forecast"] = serde_json::json!({
                "target_time": rfc3339(target), "point": point, "lower": lower, "upper": upper,
            });
        }
        serde_json::from_value(rec).unwrap()
    }

    #[test]
    fn matured_predictions_are_scored_per_version_and_window() {
        let now = 1_800_000_000;
        let actual = vec![(now - 7_200, 50.0), (now - 600, 100.0), (now - 300, 0.0)];
        let log = vec![
            // v1, 10 min ago: error +10, inside its interval, raised and needed (100 > 10 × 5).
            logged(now - 1_500, Some(1), Some((now - 600, 110.0, 90.0, 130.0)), true),
            // v1, 5 min ago, actual 0: no percentage error; outside its interval; raised, not needed.
            logged(now - 1_200, Some(1), Some((now - 300, 4.0, 1.0, 3.0)), true),
            // v1 at a time the source has no sample: unmatched.
            logged(now - 1_000, Some(1), Some((now - 120, 7.0, 6.0, 8.0)), false),
            // v2, two hours ago: only in the day's window; error −10.
            logged(now - 8_100, Some(2), Some((now - 7_200, 40.0, 30.0, 60.0)), false),
            // A fallback and a forecast not yet matured.
            logged(now - 200, None, None, false),
            logged(now, Some(1), Some((now + 900, 1.0, 0.0, 2.0)), false),
        ];
        let score = score("api", &log, &actual, Some(5.0), now);
        assert_eq!(score.logged, 6);
        let hour = &score.windows[0];
        assert_eq!((hour.window.as_str(), hour.fallbacks), ("1h", 1));
        assert_eq!(hour.versions.len(), 1, "v2's prediction is older than an hour");
        let v1 = &hour.versions[0];
        assert_eq!((v1.model_version, v1.scored, v1.unmatched), (1, 2, 1));
        assert!((v1.mae - 7.0).abs() < 1e-12, "(10 + 4) / 2: {}", v1.mae);
        assert!((v1.bias - 7.0).abs() < 1e-12);
        assert_eq!(v1.mape, Some(10.0), "the actual 0 has no percentage error");
        assert_eq!(v1.coverage, 0.5);
        assert!((v1.mean_width - 21.0).abs() < 1e-12);
        assert_eq!((v1.raised, v1.useful, v1.unneeded), (2, Some(1), Some(1)));
        // The useful raise was asked 15 minutes before the demand needed it.
        assert_eq!(v1.lead_minutes, Some(15.0));
        let day = &score.windows[1];
        assert_eq!(day.versions.iter().map(|v| v.model_version).collect::<Vec<_>>(), [1, 2]);
        assert!((day.versions[1].bias + 10.0).abs() < 1e-12);
        // Without capacity, whether a raised floor was needed is not said.
        let without = super::score("api", &log, &actual, None, now);
        assert_eq!(without.windows[0].versions[0].useful, None);
        // The live rule: v1's hour against a validation MAE of 5 → 1.4×.
        let rule: DriftAlertConfig = serde_json::from_value(serde_json::json!({
            "alertmanager_url": "http://am:9093", "runbook_url": "https://r", "live_mae_ratio": 1.3,
            "live_window": "1h", "min_scored": 2,
        }))
        .unwrap();
        let drift = live_drift(&score, 1, 5.0, &rule).unwrap();
        assert!((drift.ratio - 1.4).abs() < 1e-12 && drift.holds, "{drift:?}");
        let strict = DriftAlertConfig {
            min_scored: 3,
            ..rule.clone()
        };
        assert!(!live_drift(&score, 1, 5.0, &strict).unwrap().holds, "too few scored");
        assert!(live_drift(&score, 2, 5.0, &rule).is_none(), "v2 not scored in the hour");
    }
}
