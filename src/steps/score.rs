//! `mttd-score`: the prediction log in the store + the workload's source → `score/` (score.json
//! and its Prometheus text): how the forecasts in service did once their target time passed.

use std::path::PathBuf;

use anyhow::Context;

use super::{side_effect, Live, Step};
use crate::contract::document::{write_atomic, Document};
use crate::contract::layout::{
    value_file, SCORE_FILE, SCORE_PROMETHEUS_FILE, VALUE_DRIFT, VALUE_DRIFT_ALERT, VALUE_LIVE_INTERVAL_COVERAGE,
    VALUE_LIVE_MAE, VALUE_LIVE_SCORED, VALUE_MODEL_VERSION,
};
use crate::contract::score::Score;
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
        let since = now - longest - config.label.horizon().seconds();
        let logged = predictions::read_days(&store, &config.workload, since, now)
            .with_context(|| format!("reading the prediction log of {}", config.workload))?;
        let per_replica = config.capacity.as_ref().map(|c| c.per_replica);
        let mut score = score::score(&config.workload, &logged, &actual, per_replica, now);
        // The version in service, and the live drift rule for it against the MAE it was
        // validated with (its validation.json, checked against the change log).
        let registry = registry::registry(&store, &config.workload)?;
        let in_service = registry.versions.iter().find(|v| Some(v.version) == registry.promoted);
        let rule = config.deploy.as_ref().and_then(|d| d.drift_alert.as_ref());
        score.drift = score::in_service_drift(&store, &registry, &score, rule)?;
        score.write(&self.out.join(SCORE_FILE))?;
        write_atomic(
            &self.out.join(SCORE_PROMETHEUS_FILE),
            score::prometheus_text(&score).as_bytes(),
        )?;
        // For the workflow's metrics: the version in service over the last day.
        let day = in_service.and_then(|record| {
            let window = score.windows.iter().find(|w| w.window == "1d")?;
            window
                .versions
                .iter()
                .find(|v| v.model_version == record.version && v.scored > 0)
        });
        let values = [
            (VALUE_MODEL_VERSION, in_service.map(|r| r.version.to_string())),
            (VALUE_LIVE_MAE, day.map(|d| d.mae.to_string())),
            (VALUE_LIVE_INTERVAL_COVERAGE, day.map(|d| d.coverage.to_string())),
            (VALUE_LIVE_SCORED, day.map(|d| d.scored.to_string())),
        ];
        for (name, value) in values {
            write_atomic(
                &self.out.join(value_file(name)),
                value.as_deref().unwrap_or("none").as_bytes(),
            )?;
        }
        let holds = score.drift.as_ref().map(|d| d.holds);
        write_atomic(
            &self.out.join(value_file(VALUE_DRIFT)),
            holds.map_or("none".to_string(), |h| h.to_string()).as_bytes(),
        )?;
        // The alert goes after the score is written; one that does not get through is said,
        // and never fails the step.
        let posted = match (rule, score.drift.as_ref().filter(|d| d.holds)) {
            (Some(rule), Some(drift)) => {
                let horizon = config.label.horizon().seconds();
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
