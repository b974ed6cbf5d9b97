//! The promotion gate: a candidate is promoted only when every check of the policy passes —
//! it beats the control by a margin on the chosen metric, its interval covers what it claims,
//! and it was trained on enough rows. Every check is recorded with its value, threshold and
//! verdict.

use crate::assess;
use crate::contract::assessment::{WorkloadAssessment, WorkloadVerdict};
use crate::contract::comparison::Comparison;
use crate::contract::document::ApiVersion;
use crate::contract::gate::{Check, Decision, DecisionKind, GatePolicy, ReplayBaseline, Verdict};
use crate::contract::model::ModelManifest;
use crate::contract::validation::Validation;
use crate::error::{Error, Result};

fn check(name: &str, value: f64, comparison: &str, threshold: f64, detail: String) -> Check {
    let passed = match comparison {
        "<=" => value <= threshold,
        _ => value >= threshold,
    };
    Check {
        name: name.into(),
        value,
        comparison: comparison.into(),
        threshold,
        passed,
        detail,
    }
}

/// The gate step: checks that the documents belong to one candidate, then decides.
/// `promotions_so_far` (from the store) is needed when the policy asks approval for the first N.
pub fn decide(
    policy: &GatePolicy,
    validation: &Validation,
    comparison: &Comparison,
    manifest: &ModelManifest,
    promotions_so_far: Option<u32>,
) -> Result<Decision> {
    for (what, sha) in [
        ("validation", &validation.model_sha256),
        ("comparison", &comparison.candidate.model_sha256),
    ] {
        if *sha != manifest.model_sha256 {
            return Err(Error::Lineage(format!(
                "the {what} is of model {sha}, not of the candidate {}",
                manifest.model_sha256
            )));
        }
    }
    let metric = policy.metric;
    let candidate = metric.of(&comparison.candidate_metrics);
    let control = metric.of(&comparison.control_metrics);
    let level = validation.interval_level;
    let coverage = validation.holdout.model.coverage;
    let training_rows = manifest.fit_rows + manifest.calibration_rows;
    let mut checks = vec![
        check(
            &format!("shadow_{}_vs_control", metric.as_str()),
            candidate,
            "<=",
            control * (1.0 - policy.min_improvement),
            format!(
                "candidate {} {candidate:.4} vs control ({}) {control:.4} on the shadow window; must improve by {:.1}%",
                metric.as_str(),
                comparison.control.reason,
                policy.min_improvement * 100.0
            ),
        ),
        check(
            "holdout_coverage_min",
            coverage,
            ">=",
            level - policy.coverage_tolerance,
            format!("share of holdout actuals inside the {:.0}% interval", level * 100.0),
        ),
        check(
            "holdout_coverage_max",
            coverage,
            "<=",
            level + policy.coverage_tolerance,
            "an interval much wider than claimed wastes capacity".into(),
        ),
        check(
            "training_rows",
            training_rows as f64,
            ">=",
            policy.min_training_rows as f64,
            "rows used to fit and calibrate".into(),
        ),
    ];
    let mut notes = Vec::new();
    match &comparison.replay {
        Some(replay) => {
            let (baseline_name, baseline) = match policy.under_provisioning_baseline {
                ReplayBaseline::Control => ("control", &replay.control),
                ReplayBaseline::Reactive => ("reactive HPA", &replay.reactive),
            };
            checks.push(check(
                "replay_saturated_minutes",
                replay.candidate.saturated_minutes,
                "<=",
                baseline.saturated_minutes,
                format!("minutes the candidate's replicas were saturated; the {baseline_name}'s is the threshold"),
            ));
            checks.push(check(
                "replay_oscillations",
                replay.candidate.oscillations as f64,
                "<=",
                replay.control.oscillations as f64 * (1.0 + policy.oscillation_tolerance),
                format!(
                    "scale direction reversals; the control's × (1 + {})",
                    policy.oscillation_tolerance
                ),
            ));
            checks.push(check(
                "replay_replica_minutes",
                replay.candidate.replica_minutes,
                "<=",
                replay.control.replica_minutes * (1.0 + policy.replica_minutes_increase),
                format!(
                    "what the candidate's replicas cost; the control's × (1 + {})",
                    policy.replica_minutes_increase
                ),
            ));
        }
        None => notes.push(
            "no capacity is configured for the workload: the autoscaler replay and its checks were skipped".into(),
        ),
    }
    // A floor helps only if pods started on it serve before the forecast's target time.
    if let (Some(replay), Ok(horizon)) = (
        &comparison.replay,
        crate::time::HumanDuration::parse(&validation.horizon),
    ) {
        let c = &replay.capacity;
        let lead = c.lead_seconds();
        if lead > horizon.seconds() {
            notes.push(format!(
                "the horizon {} is shorter than start-up ({}s, {}) + metric delay + cadence = {lead}s: pods started on a floor serve after the time it was sized for",
                validation.horizon,
                c.startup_delay_seconds(),
                replay.startup_delay_source.as_str()
            ));
        }
    }
    // The verdict on the workload, by `mttd assess`'s rules on the same evidence.
    let assessment = comparison.shape.clone().map(|shape| {
        let (verdict, reasons) = assess::verdict(&assess::figures(shape, validation, comparison.replay.as_ref()));
        WorkloadAssessment { verdict, reasons }
    });
    if policy.require_predictive {
        let (value, detail) = match &assessment {
            Some(a) => (
                f64::from(u8::from(a.verdict == WorkloadVerdict::Predictive)),
                format!(
                    "the workload's verdict is {}: {}",
                    a.verdict.as_str(),
                    a.reasons.join("; ")
                ),
            ),
            None => (
                0.0,
                "the comparison has no shape figures to judge the workload by".into(),
            ),
        };
        checks.push(check("workload_verdict_predictive", value, ">=", 1.0, detail));
    }
    let first_promotions = policy.approval_for_first_promotions;
    let approval_for_first = if first_promotions > 0 {
        let so_far = promotions_so_far.ok_or_else(|| {
            Error::Data(format!(
                "the policy asks approval for the first {first_promotions} promotions: the gate needs the model store (--store) to count them"
            ))
        })?;
        (so_far < first_promotions)
            .then(|| format!("{so_far} of the first {first_promotions} promotions need an operator"))
    } else {
        None
    };
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.passed).collect();
    let (decision, reason) = if !failed.is_empty() {
        (
            Verdict::Reject,
            format!(
                "failed: {}",
                failed
                    .iter()
                    .map(|c| format!("{} ({:.4} not {} {:.4})", c.name, c.value, c.comparison, c.threshold))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else if policy.require_approval {
        (
            Verdict::NeedsApproval,
            "every check passed; the policy asks an operator to approve".into(),
        )
    } else if let Some(why) = approval_for_first {
        (Verdict::NeedsApproval, format!("every check passed; {why}"))
    } else if let (Some(live), Some(in_service)) = (&policy.live_shadow, comparison.control.version) {
        (
            Verdict::Shadow,
            format!(
                "every check passed (shadow {} {candidate:.4} vs control {control:.4}); published as a shadow of v{in_service}: promoted once its live {} beats v{in_service}'s by {:.1}% over at least {} and {} matured forecasts (rejected after {} without it)",
                metric.as_str(),
                live.metric.as_str(),
                live.min_improvement * 100.0,
                live.min_duration,
                live.min_scored,
                live.max_duration
            ),
        )
    } else {
        (
            Verdict::Promote,
            format!(
                "every check passed: shadow {} {candidate:.4} vs control {control:.4} ({:+.1}%)",
                metric.as_str(),
                if control > 0.0 {
                    (candidate / control - 1.0) * 100.0
                } else {
                    0.0
                }
            ),
        )
    };
    Ok(Decision {
        api_version: ApiVersion::V1,
        kind: DecisionKind::Kind,
        workload: manifest.workload.clone(),
        decision,
        reason,
        model_sha256: manifest.model_sha256.clone(),
        checks,
        assessment,
        notes,
        policy: policy.clone(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const MODEL: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const DATA: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn metrics(mae: f64, coverage: f64) -> serde_json::Value {
        json!({"rows": 100, "mae": mae, "mape": mae / 100.0, "rmse": mae, "peak_weighted_mae": mae,
               "coverage": coverage, "mean_interval_width": 1.0})
    }

    fn interval() -> serde_json::Value {
        json!({"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"})
    }

    fn validation(coverage: f64) -> Validation {
        serde_json::from_value(json!({
            "apiVersion": "mttd/v1", "kind": "Validation", "workload": "api", "algorithm": "elastic-net",
            "model_sha256": MODEL, "dataset_sha256": DATA, "horizon": "15m", "interval_level": 0.8,
            "holdout": {"interval": interval(), "model": metrics(1.0, coverage), "last_value": metrics(2.0, 0.8)},
            "folds": [],
        }))
        .unwrap()
    }

    /// Replay numbers: (saturated minutes, oscillations, replica-minutes).
    type Policy = (f64, u32, f64);

    fn replay(reactive: Policy, control: Policy, candidate: Policy) -> serde_json::Value {
        let policy = |(under, oscillations, replica_minutes): Policy| {
            json!({"above_target_minutes": under, "saturated_minutes": under, "unmet_demand": 0.0, "over_provisioned_replica_minutes": 0.0,
                   "replica_minutes": replica_minutes, "scale_actions": oscillations, "oscillations": oscillations,
                   "saturations_covered": 0, "mean_lead_minutes": 0.0})
        };
        json!({"capacity": {"per_replica": 10.0}, "reactive_saturation_episodes": 0,
               "reactive": policy(reactive), "control": policy(control), "candidate": policy(candidate)})
    }

    fn comparison(candidate_mae: f64, control_mae: f64, replay: Option<serde_json::Value>) -> Comparison {
        let mut c = json!({
            "apiVersion": "mttd/v1", "kind": "Comparison", "workload": "api", "dataset_sha256": DATA,
            "window": interval(),
            "candidate": {"algorithm": "elastic-net", "model_sha256": MODEL},
            "control": {"algorithm": "seasonal-naive", "reason": "no model is promoted"},
            "candidate_metrics": metrics(candidate_mae, 0.8), "control_metrics": metrics(control_mae, 0.8),
        });
        if let Some(r) = replay {
            c["replay"] = r;
        }
        serde_json::from_value(c).unwrap()
    }

    fn manifest(fit_rows: u64) -> ModelManifest {
        serde_json::from_value(json!({
            "apiVersion": "mttd/v1", "kind": "ModelManifest", "workload": "api",
            "model_sha256": MODEL, "dataset_sha256": DATA,
            "split": {"fit": interval(), "calibration": interval(), "holdout": interval(), "shadow": interval()},
            "hyperparameters": {}, "split_config": {},
            "fit_rows": fit_rows, "calibration_rows": fit_rows / 4, "code_version": "test",
        }))
        .unwrap()
    }

    fn verdict(policy: &GatePolicy, validation: &Validation, comparison: &Comparison, so_far: Option<u32>) -> Decision {
        decide(policy, validation, comparison, &manifest(4000), so_far).unwrap()
    }

    fn failed(d: &Decision) -> Vec<&str> {
        d.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn the_workload_verdict_is_recorded_and_can_be_required() {
        let shape: crate::contract::assessment::ShapeFigures =
            serde_json::from_value(json!({"period": "1d", "seasonality_strength": 0.3, "burstiness": 1.0})).unwrap();
        let with_shape = |replay_json| {
            let mut c = comparison(9.0, 10.0, Some(replay_json));
            c.shape = Some(shape.clone());
            c
        };
        // Skill 0.5 (MAE 1 vs last-value 2) and 60% fewer saturated minutes: predictive.
        let gains = with_shape(replay((50.0, 2, 1000.0), (40.0, 2, 1000.0), (20.0, 2, 1050.0)));
        let mut policy = GatePolicy::default();
        let d = verdict(&policy, &validation(0.8), &gains, None);
        assert_eq!(d.assessment.as_ref().unwrap().verdict, WorkloadVerdict::Predictive);
        assert!(
            d.checks.iter().all(|c| c.name != "workload_verdict_predictive"),
            "recorded, not checked"
        );
        policy.require_predictive = true;
        assert_eq!(
            verdict(&policy, &validation(0.8), &gains, None).decision,
            Verdict::Promote
        );
        // 2% fewer saturated minutes and no shape to schedule: reactive-only, rejected when required.
        let flat = with_shape(replay((50.0, 2, 1000.0), (50.0, 2, 1000.0), (49.0, 2, 1000.0)));
        let d = verdict(&policy, &validation(0.8), &flat, None);
        assert_eq!(d.assessment.as_ref().unwrap().verdict, WorkloadVerdict::ReactiveOnly);
        assert_eq!(
            (d.decision, failed(&d)),
            (Verdict::Reject, vec!["workload_verdict_predictive"])
        );
        // Without shape figures (an older comparison) nothing is recorded, and a requirement fails.
        let d = verdict(&policy, &validation(0.8), &comparison(9.0, 10.0, None), None);
        assert!(d.assessment.is_none());
        assert_eq!(failed(&d), vec!["workload_verdict_predictive"]);
    }

    #[test]
    fn a_start_up_longer_than_the_horizon_allows_is_noted() {
        let mut slow = replay((10.0, 2, 1000.0), (10.0, 2, 1000.0), (5.0, 2, 1000.0));
        slow["capacity"]["startup_delay"] = json!("12m");
        let d = verdict(
            &GatePolicy::default(),
            &validation(0.8),
            &comparison(9.0, 10.0, Some(slow)),
            None,
        );
        assert!(
            d.notes.iter().any(|n| n.contains("shorter than start-up (720s")),
            "{:?}",
            d.notes
        );
        let d = verdict(
            &GatePolicy::default(),
            &validation(0.8),
            &comparison(
                9.0,
                10.0,
                Some(replay((10.0, 2, 1000.0), (10.0, 2, 1000.0), (5.0, 2, 1000.0))),
            ),
            None,
        );
        assert!(d.notes.is_empty(), "1m + 1m + 5m within 15m: {:?}", d.notes);
    }

    #[test]
    fn a_policy_without_the_requirement_serialises_as_before_so_signed_entries_still_verify() {
        let bytes = crate::contract::canonical_json(&GatePolicy::default());
        assert!(!String::from_utf8(bytes).unwrap().contains("require_predictive"));
    }

    #[test]
    fn with_a_live_trial_a_passing_candidate_shadows_the_version_in_service() {
        let policy: GatePolicy =
            serde_yaml_ng::from_str("live_shadow: {min_duration: 2h, min_improvement: 0.05}").unwrap();
        let live = policy.live_shadow.as_ref().unwrap();
        assert_eq!((live.max_duration.seconds(), live.min_scored), (7 * 86_400, 30));
        let mut against_v3 = comparison(9.0, 10.0, None);
        against_v3.control.version = Some(3);
        let d = verdict(&policy, &validation(0.8), &against_v3, None);
        assert_eq!(d.decision, Verdict::Shadow, "{}", d.reason);
        assert!(
            d.reason.contains("shadow of v3") && d.reason.contains("2h"),
            "{}",
            d.reason
        );
        // Nothing in service to beat live: promoted as before; a failing one is still rejected.
        let first = verdict(&policy, &validation(0.8), &comparison(9.0, 10.0, None), None);
        assert_eq!(first.decision, Verdict::Promote, "{}", first.reason);
        against_v3.candidate_metrics.mae = 10.0;
        assert_eq!(
            verdict(&policy, &validation(0.8), &against_v3, None).decision,
            Verdict::Reject
        );
        let bytes = crate::contract::canonical_json(&GatePolicy::default());
        assert!(
            !String::from_utf8(bytes).unwrap().contains("live_shadow"),
            "signed entries verify as before"
        );
    }

    #[test]
    fn a_better_candidate_is_promoted() {
        let d = verdict(
            &GatePolicy::default(),
            &validation(0.8),
            &comparison(9.0, 10.0, None),
            None,
        );
        assert_eq!(d.decision, Verdict::Promote, "{}", d.reason);
        assert_eq!(d.checks.len(), 4);
        assert_eq!(d.notes.len(), 1, "the skipped replay is noted");
    }

    #[test]
    fn a_candidate_not_better_by_the_margin_is_rejected() {
        let d = verdict(
            &GatePolicy::default(),
            &validation(0.8),
            &comparison(9.95, 10.0, None),
            None,
        );
        assert_eq!(d.decision, Verdict::Reject);
        assert_eq!(failed(&d), ["shadow_mae_vs_control"]);
    }

    #[test]
    fn an_interval_that_covers_too_little_or_too_much_is_rejected() {
        for coverage in [0.6, 0.95] {
            let d = verdict(
                &GatePolicy::default(),
                &validation(coverage),
                &comparison(5.0, 10.0, None),
                None,
            );
            assert_eq!(d.decision, Verdict::Reject, "coverage {coverage}");
            assert_eq!(failed(&d).len(), 1, "{:?}", failed(&d));
            assert!(failed(&d)[0].starts_with("holdout_coverage_"));
        }
    }

    #[test]
    fn too_few_training_rows_are_rejected() {
        let d = decide(
            &GatePolicy::default(),
            &validation(0.8),
            &comparison(5.0, 10.0, None),
            &manifest(100),
            None,
        )
        .unwrap();
        assert_eq!(failed(&d), ["training_rows"]);
    }

    #[test]
    fn an_operator_is_asked_when_the_policy_says_so() {
        let policy = GatePolicy {
            require_approval: true,
            ..GatePolicy::default()
        };
        let d = verdict(&policy, &validation(0.8), &comparison(5.0, 10.0, None), None);
        assert_eq!(d.decision, Verdict::NeedsApproval);
        // A failed check still rejects: approval is for candidates that pass.
        let d = verdict(&policy, &validation(0.8), &comparison(11.0, 10.0, None), None);
        assert_eq!(d.decision, Verdict::Reject);
    }

    #[test]
    fn the_first_promotions_need_an_operator_and_the_store_to_count_them() {
        let policy = GatePolicy {
            approval_for_first_promotions: 2,
            ..GatePolicy::default()
        };
        let better = comparison(5.0, 10.0, None);
        assert_eq!(
            verdict(&policy, &validation(0.8), &better, Some(1)).decision,
            Verdict::NeedsApproval
        );
        assert_eq!(
            verdict(&policy, &validation(0.8), &better, Some(2)).decision,
            Verdict::Promote
        );
        let err = decide(&policy, &validation(0.8), &better, &manifest(4000), None).unwrap_err();
        assert!(err.to_string().contains("--store"), "{err}");
    }

    #[test]
    fn each_replay_check_can_reject() {
        let good = (10.0, 2, 1000.0);
        let cases = [
            ((11.0, 2, 1000.0), "replay_saturated_minutes"),
            ((10.0, 3, 1000.0), "replay_oscillations"),
            ((10.0, 2, 1101.0), "replay_replica_minutes"),
        ];
        let all_good = comparison(5.0, 10.0, Some(replay(good, good, good)));
        assert_eq!(
            verdict(&GatePolicy::default(), &validation(0.8), &all_good, None).decision,
            Verdict::Promote
        );
        for (candidate, check) in cases {
            let c = comparison(5.0, 10.0, Some(replay(good, good, candidate)));
            let d = verdict(&GatePolicy::default(), &validation(0.8), &c, None);
            assert_eq!(failed(&d), [check]);
            assert_eq!(d.decision, Verdict::Reject);
        }
    }

    #[test]
    fn under_provisioning_is_judged_against_the_chosen_baseline() {
        // The candidate under-provisions more than the control but less than the reactive HPA.
        let c = comparison(
            5.0,
            10.0,
            Some(replay((30.0, 2, 1000.0), (5.0, 2, 1000.0), (10.0, 2, 1000.0))),
        );
        let against_control = verdict(&GatePolicy::default(), &validation(0.8), &c, None);
        assert_eq!(failed(&against_control), ["replay_saturated_minutes"]);
        let policy = GatePolicy {
            under_provisioning_baseline: ReplayBaseline::Reactive,
            ..GatePolicy::default()
        };
        assert_eq!(verdict(&policy, &validation(0.8), &c, None).decision, Verdict::Promote);
    }

    #[test]
    fn documents_of_another_model_are_refused() {
        let mut v = validation(0.8);
        v.model_sha256 = DATA.into();
        let err = decide(
            &GatePolicy::default(),
            &v,
            &comparison(5.0, 10.0, None),
            &manifest(4000),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("validation"), "{err}");
    }
}
