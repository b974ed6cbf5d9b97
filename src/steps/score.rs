//! `mttd-score`: the prediction log in the store + the workload's source → `score/` (score.json
//! and its Prometheus text): how the forecasts in service did once their target time passed.

use std::path::PathBuf;

use anyhow::Context;

use super::{side_effect, Live, Step};
use crate::contract::document::{write_atomic, Document};
use crate::contract::layout::{
    value_file, SCORE_FILE, SCORE_PROMETHEUS_FILE, VALIDATION_FILE, VALUE_DRIFT, VALUE_DRIFT_ALERT,
};
use crate::contract::score::Score;
use crate::contract::validation::Validation;
use crate::contract::workload::WorkloadConfig;
use crate::store::{predictions, registry, Store};
use crate::{alert, score, source};

/// Predictions whose target time is at or before "now" are scored against the source's target.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub live: Live,
    /// Output folder: score.json, score.prom.
    #[arg(long)]
    pub out: PathBuf,
}

impl Step for Args {
    const NAME: &'static str = "score";
    type Output = Score;

    fn run(&self) -> anyhow::Result<Score> {
        let config = WorkloadConfig::load(&self.live.config)?;
        let end = self.live.end()?;
        let (raw, _) = source::load(&config, Some(end))?;
        let actual = raw.series.get(&config.signals.target).cloned().unwrap_or_default();
        let now = self.live.resolve(end, actual.last().map(|s| s.0));
        let store = Store::open(&self.live.store)?;
        // The predictions whose target time can fall in the longest window: made since its
        // start less the horizon.
        let longest = score::WINDOWS.iter().map(|w| w.1).max().unwrap_or(0);
        let since = now - longest - config.label.horizon.seconds();
        let logged = predictions::read_days(&store, &config.workload, since, now)
            .with_context(|| format!("reading the prediction log of {}", config.workload))?;
        let per_replica = config.capacity.as_ref().map(|c| c.per_replica);
        let mut score = score::score(&config.workload, &logged, &actual, per_replica, now);
        // The live drift rule, for the version in service, against the MAE it was validated
        // with (its validation.json, checked against the change log).
        let rule = config.deploy.as_ref().and_then(|d| d.drift_alert.as_ref());
        if let Some(rule) = rule.filter(|r| r.live_mae_ratio.is_some()) {
            let registry = registry::registry(&store, &config.workload)?;
            let record = registry.versions.iter().find(|v| Some(v.version) == registry.promoted);
            if let Some(record) = record {
                let bytes = registry::load_document(&store, &config.workload, record, VALIDATION_FILE)?;
                let validation = Validation::from_bytes(&bytes, &format!("{} {VALIDATION_FILE}", record.name))?;
                score.drift = score::live_drift(&score, record.version, validation.holdout.model.mae, rule);
            }
        }
        score.write(&self.out.join(SCORE_FILE))?;
        write_atomic(
            &self.out.join(SCORE_PROMETHEUS_FILE),
            score::prometheus_text(&score).as_bytes(),
        )?;
        let holds = score.drift.as_ref().map(|d| d.holds);
        write_atomic(
            &self.out.join(value_file(VALUE_DRIFT)),
            holds.map_or("none".to_string(), |h| h.to_string()).as_bytes(),
        )?;
        // The alert goes after the score is written; one that does not get through is said,
        // and never fails the step.
        let posted = match (rule, score.drift.as_ref().filter(|d| d.holds)) {
            (Some(rule), Some(drift)) => {
                let horizon = config.label.horizon.seconds();
                let alert =
                    alert::live_drift_alert(&config.workload, drift, rule, chrono::Utc::now().timestamp(), horizon);
                let url = &rule.alertmanager_url;
                side_effect("the drift alert", "posted", url, alert::post(url, &vec![alert].into()))
            }
            _ => "none",
        };
        write_atomic(&self.out.join(value_file(VALUE_DRIFT_ALERT)), posted.as_bytes())?;
        tracing::info!(
            logged = score.logged,
            "score of {} written to {}",
            config.workload,
            self.out.display()
        );
        Ok(score)
    }
}
