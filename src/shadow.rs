//! The live trial of a shadow version (`gate.live_shadow`): its logged forecasts against the
//! promoted version's over the same runs — both matured, both with an actual — and the verdict:
//! promote once it beats the version in service by the margin over enough forecasts and time,
//! reject when it does not, or when its trial runs out without enough evidence.

use crate::contract::deploy::Recommendation;
use crate::contract::gate::{LiveShadowPolicy, Verdict};
use crate::contract::interval::Interval;
use crate::contract::registry::LiveEvidence;
use crate::evaluate::metrics;
use crate::model::Prediction;
use crate::score::actual_at;
use crate::time::{parse_timestamp, rfc3339};

/// How a trial stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Trial {
    /// Not yet decidable, and why.
    Wait(String),
    /// Ended: promote or reject, and why.
    End(Verdict, String),
}

/// The shadow `version`'s live evidence against `in_service` (the promoted version) from
/// `logged` (the prediction log) and `actual` (the target's samples, sorted), at `now`.
pub fn evidence(
    logged: &[Recommendation],
    actual: &[(i64, f64)],
    version: u32,
    in_service: Option<u32>,
    policy: &LiveShadowPolicy,
    now: i64,
) -> LiveEvidence {
    let matured = |f: &crate::contract::deploy::ForecastValue| {
        let t = parse_timestamp(&f.target_time).filter(|t| *t <= now)?;
        Some((
            t,
            actual_at(actual, t)?,
            Prediction {
                point: f.point,
                lower: f.lower,
                upper: f.upper,
            },
        ))
    };
    let (mut shadow, mut served) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    let mut started: Option<i64> = None;
    for rec in logged {
        let Some(theirs) = rec.shadows.iter().find(|s| s.model_version == version) else {
            continue;
        };
        if let Some(made) = parse_timestamp(&rec.generated_at) {
            started = Some(started.map_or(made, |s| s.min(made)));
        }
        if rec.model_version.is_none() || rec.model_version != in_service {
            continue;
        }
        let (Some(a), Some(b)) = (
            theirs.forecast.as_ref().and_then(matured),
            rec.forecast.as_ref().and_then(matured),
        ) else {
            continue;
        };
        first = first.min(a.0.min(b.0));
        last = last.max(a.0.max(b.0));
        shadow.0.push(a.2);
        shadow.1.push(a.1);
        served.0.push(b.2);
        served.1.push(b.1);
    }
    let scored = shadow.0.len() as u64;
    let error = |(predictions, actuals): &(Vec<Prediction>, Vec<f64>)| {
        if predictions.is_empty() {
            0.0
        } else {
            policy.metric.of(&metrics(predictions, actuals))
        }
    };
    LiveEvidence {
        in_service,
        started: started.map(rfc3339),
        scored,
        span: (scored > 0).then(|| Interval {
            start: rfc3339(first),
            end: rfc3339(last),
        }),
        metric: policy.metric,
        shadow_error: error(&shadow),
        in_service_error: error(&served),
        policy: policy.clone(),
    }
}

/// The trial's state at `now`. Its length counts from the first run that forecast the shadow
/// (`evidence.started`), else from `published_at` (Unix seconds): the workload's time, also
/// when an export is replayed.
pub fn judge(evidence: &LiveEvidence, published_at: i64, now: i64) -> Trial {
    let policy = &evidence.policy;
    let metric = evidence.metric.as_str();
    let Some(in_service) = evidence.in_service else {
        return Trial::End(
            Verdict::Promote,
            "no version is in service: the shadow passed the gate and has nothing to beat".into(),
        );
    };
    let span = evidence
        .span
        .as_ref()
        .and_then(|s| Some(parse_timestamp(&s.end)? - parse_timestamp(&s.start)?))
        .unwrap_or(0);
    let enough = evidence.scored >= policy.min_scored && span >= policy.min_duration.seconds();
    let figures = format!(
        "live {metric} {:.4} vs v{in_service}'s {:.4} over {} matured forecasts spanning {}",
        evidence.shadow_error,
        evidence.in_service_error,
        evidence.scored,
        crate::time::HumanDuration::from_seconds(span)
    );
    if enough {
        let limit = evidence.in_service_error * (1.0 - policy.min_improvement);
        return if evidence.shadow_error <= limit && evidence.shadow_error < evidence.in_service_error {
            Trial::End(
                Verdict::Promote,
                format!("{figures}: better by at least {:.1}%", policy.min_improvement * 100.0),
            )
        } else {
            Trial::End(
                Verdict::Reject,
                format!(
                    "{figures}: not better by {:.1}% (at most {limit:.4} needed)",
                    policy.min_improvement * 100.0
                ),
            )
        };
    }
    let started = evidence
        .started
        .as_deref()
        .and_then(parse_timestamp)
        .unwrap_or(published_at);
    if now - started >= policy.max_duration.seconds() {
        return Trial::End(
            Verdict::Reject,
            format!(
                "{figures}: not enough live evidence (at least {} over {} needed) within {} of its first forecast",
                policy.min_scored, policy.min_duration, policy.max_duration
            ),
        );
    }
    Trial::Wait(format!(
        "{figures}; a verdict needs at least {} over {}",
        policy.min_scored, policy.min_duration
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::gate::ErrorMetric;

    fn evidence(scored: u64, hours: i64, shadow: f64, served: f64) -> LiveEvidence {
        LiveEvidence {
            in_service: Some(1),
            started: Some(rfc3339(0)),
            scored,
            span: (scored > 0).then(|| Interval {
                start: rfc3339(0),
                end: rfc3339(hours * 3600),
            }),
            metric: ErrorMetric::Mae,
            shadow_error: shadow,
            in_service_error: served,
            policy: serde_yaml_ng::from_str(
                "{min_duration: 2h, max_duration: 1d, min_scored: 20, min_improvement: 0.1}",
            )
            .unwrap(),
        }
    }

    fn ended(trial: Trial) -> Option<Verdict> {
        match trial {
            Trial::End(verdict, _) => Some(verdict),
            Trial::Wait(_) => None,
        }
    }

    #[test]
    fn a_trial_ends_only_on_enough_evidence_or_when_it_runs_out() {
        let at = |e: &LiveEvidence, hours: i64| ended(judge(e, 0, hours * 3600));
        // Better by 20% over 30 forecasts and 3h: promoted; by 5%: rejected (10% needed).
        assert_eq!(at(&evidence(30, 3, 8.0, 10.0), 3), Some(Verdict::Promote));
        assert_eq!(at(&evidence(30, 3, 9.5, 10.0), 3), Some(Verdict::Reject));
        // Far better, but over 1h or 10 forecasts: it waits — until a day has passed.
        assert_eq!(at(&evidence(30, 1, 1.0, 10.0), 1), None);
        assert_eq!(at(&evidence(10, 3, 1.0, 10.0), 3), None);
        assert_eq!(at(&evidence(10, 3, 1.0, 10.0), 24), Some(Verdict::Reject));
        // Nothing ever forecast: the day counts from its publication.
        let mut silent = evidence(0, 0, 0.0, 0.0);
        silent.started = None;
        assert_eq!(ended(judge(&silent, 5 * 3600, 20 * 3600)), None);
        assert_eq!(ended(judge(&silent, 5 * 3600, 29 * 3600)), Some(Verdict::Reject));
        // Nothing in service to beat.
        let mut alone = evidence(0, 0, 0.0, 0.0);
        alone.in_service = None;
        assert_eq!(at(&alone, 0), Some(Verdict::Promote));
    }
}
