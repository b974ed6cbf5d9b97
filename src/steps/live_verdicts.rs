//! `mttd-live-verdicts`: the prediction log in the store + the workload's source → what the live
//! evidence decides, recorded in the change log: the end of each shadow version's live trial
//! (promoted or rejected) and live drift of the version in service (once per version); and
//! `live-verdicts/` (trials.json, the outcome and drift words for Argo output parameters).

use std::path::PathBuf;

use anyhow::Context;

use super::{Live, Step};
use crate::contract::document::{write_atomic, ApiVersion, Document};
use crate::contract::gate::Verdict;
use crate::contract::layout::{value_file, TRIALS_FILE, VALUE_DRIFT, VALUE_OUTCOME};
use crate::contract::registry::{LiveTrial, ShadowTrial, ShadowTrials, ShadowTrialsKind, TrialOutcome, VersionStatus};
use crate::contract::workload::WorkloadConfig;
use crate::shadow::{self, Trial};
use crate::store::{predictions, registry, Store};
use crate::time::{now_rfc3339, parse_timestamp, rfc3339};
use crate::{score, source};

/// Each shadow is judged on the forecasts it and the version in service logged in the same
/// runs, by the config's `gate.live_shadow` (its defaults when absent).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub live: Live,
    /// Who or what triggered this run, recorded in the change log.
    #[arg(long, default_value = "manual")]
    pub triggered_by: String,
    /// Output folder: trials.json, `values/outcome` and `values/drift`.
    #[arg(long)]
    pub out: PathBuf,
}

impl Step for Args {
    const NAME: &'static str = "live-verdicts";
    type Output = ShadowTrials;

    fn run(&self) -> anyhow::Result<ShadowTrials> {
        let config = WorkloadConfig::load(&self.live.config)?;
        let policy = config.gate.live_shadow.clone().unwrap_or_default();
        let store = Store::open(&self.live.store)?;
        let workload = &config.workload;
        let before = registry::registry(&store, workload)?;
        let shadows: Vec<_> = before
            .versions
            .iter()
            .filter(|v| v.status == VersionStatus::Shadow)
            .collect();
        let end = self.live.end()?;
        let mut trials = ShadowTrials {
            api_version: ApiVersion::V1,
            kind: ShadowTrialsKind::Kind,
            workload: workload.clone(),
            judged_at: rfc3339(end),
            in_service: before.promoted,
            trials: Vec::new(),
            drift: None,
        };
        let rule = config
            .deploy
            .as_ref()
            .and_then(|d| d.drift_alert.as_ref())
            .filter(|r| r.live_mae_ratio.is_some());
        let in_service_unmarked = before
            .versions
            .iter()
            .any(|v| Some(v.version) == before.promoted && v.drift.is_none());
        let mut recorded = "none";
        if !shadows.is_empty() || (rule.is_some() && in_service_unmarked) {
            let (raw, _) = source::load(&config, Some(end))?;
            let actual = raw.series.get(&config.signals.target).cloned().unwrap_or_default();
            let now = self.live.resolve(end, actual.last().map(|s| s.0));
            trials.judged_at = rfc3339(now);
            // The runs a trial can span (the last max_duration), and the live rule's windows.
            let longest = score::WINDOWS.iter().map(|w| w.1).max().unwrap_or(0);
            let since = now - policy.max_duration.seconds().max(longest) - config.label.horizon().seconds();
            let logged = predictions::read_days(&store, workload, since, now)
                .with_context(|| format!("reading the prediction log of {workload}"))?;
            let published =
                |v: &crate::contract::registry::VersionRecord| parse_timestamp(&v.published_at).unwrap_or(now);
            let judged: Vec<(u32, Trial, _)> = shadows
                .iter()
                .map(|v| {
                    let evidence = shadow::evidence(&logged, &actual, v.version, before.promoted, &policy, now);
                    (v.version, shadow::judge(&evidence, published(v), now), evidence)
                })
                .collect();
            // One promotion a run, of the winner with the lowest live error; the other winners'
            // trials go on against it.
            let winner = judged
                .iter()
                .filter(|(_, t, _)| matches!(t, Trial::End(Verdict::Promote, _)))
                .min_by(|a, b| a.2.shadow_error.total_cmp(&b.2.shadow_error))
                .map(|(v, _, _)| *v);
            for (version, trial, evidence) in judged {
                let (outcome, reason) = match trial {
                    Trial::End(Verdict::Promote, why) if Some(version) != winner => (
                        TrialOutcome::Waiting,
                        format!("{why}; v{} won by more this run", winner.unwrap_or_default()),
                    ),
                    Trial::End(verdict, why) => {
                        let trial = LiveTrial {
                            decision: verdict,
                            reason: why.clone(),
                            at: now_rfc3339(),
                            by: self.triggered_by.clone(),
                            evidence: evidence.clone(),
                        };
                        registry::record_live_verdict(&store, workload, version, &trial)?;
                        let outcome = if verdict == Verdict::Promote {
                            TrialOutcome::Promoted
                        } else {
                            TrialOutcome::Rejected
                        };
                        (outcome, why)
                    }
                    Trial::Wait(why) => (TrialOutcome::Waiting, why),
                };
                tracing::info!(version, outcome = outcome.as_str(), "{workload} v{version}: {reason}");
                trials.trials.push(ShadowTrial {
                    version,
                    outcome,
                    reason,
                    evidence,
                });
            }
            // The live drift rule on the version in service, recorded once per version.
            if rule.is_some() {
                let per_replica = config.capacity.as_ref().map(|c| c.per_replica);
                let scored = score::score(workload, &logged, &actual, per_replica, now);
                let current = registry::registry(&store, workload)?;
                trials.drift = score::in_service_drift(&store, &current, &scored, rule)?;
                let unmarked = current
                    .versions
                    .iter()
                    .any(|v| Some(v.version) == current.promoted && v.drift.is_none());
                if let Some(drift) = trials.drift.as_ref().filter(|d| d.holds && unmarked) {
                    registry::record_drift(&store, workload, drift, &self.triggered_by, &now_rfc3339())?;
                    tracing::warn!(
                        version = drift.model_version,
                        ratio = drift.ratio,
                        "{workload}: live drift recorded in the change log"
                    );
                    recorded = "recorded";
                }
            }
        }
        trials.write(&self.out.join(TRIALS_FILE))?;
        let word = [TrialOutcome::Promoted, TrialOutcome::Rejected, TrialOutcome::Waiting]
            .into_iter()
            .find(|o| trials.trials.iter().any(|t| t.outcome == *o))
            .map_or("none", TrialOutcome::as_str);
        write_atomic(&self.out.join(value_file(VALUE_OUTCOME)), word.as_bytes())?;
        write_atomic(&self.out.join(value_file(VALUE_DRIFT)), recorded.as_bytes())?;
        Ok(trials)
    }
}
