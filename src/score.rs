//! Live scoring: the logged predictions whose target time has passed, joined with the actual
//! target at that time — per model version, over trailing windows: accuracy (MAE, MAPE, bias),
//! the interval (coverage, width) and what the forecasts did (floors raised above the HPA's own,
//! and whether the demand then needed them).

use std::collections::BTreeMap;

use crate::contract::deploy::{DriftAlertConfig, Recommendation};
use crate::contract::document::ApiVersion;
use crate::contract::score::{LiveDrift, Score, ScoreKind, ScoreWindow, VersionScore};
use crate::time::{parse_timestamp, rfc3339};

/// The trailing windows scored, by target time.
pub const WINDOWS: [(&str, i64); 3] = [("1h", 3_600), ("1d", 86_400), ("7d", 7 * 86_400)];

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
    let at = |t: i64| {
        actual
            .binary_search_by_key(&t, |s| s.0)
            .ok()
            .map(|i| actual[i].1)
            .filter(|v| v.is_finite())
    };
    let windows = WINDOWS
        .iter()
        .map(|&(name, seconds)| {
            let mut fallbacks = 0;
            let mut by_version: BTreeMap<u32, Tally> = BTreeMap::new();
            for rec in logged {
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
        }
    }
}

/// A gauge of the score: its name, help and value for one version.
type Gauge = (&'static str, &'static str, fn(&VersionScore) -> Option<f64>);

/// The score as Prometheus text: gauges labelled by workload, model version and window.
pub fn prometheus_text(score: &Score) -> String {
    let mut out = String::new();
    let metrics: [Gauge; 8] = [
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
