//! `mttd-score`: the prediction log in the store + the workload's source → `score/` (score.json
//! and its Prometheus text): how the forecasts in service did once their target time passed.

use std::path::PathBuf;

use anyhow::Context;

use super::{Live, Step};
use crate::contract::document::{write_atomic, Document};
use crate::contract::layout::{SCORE_FILE, SCORE_PROMETHEUS_FILE};
use crate::contract::score::Score;
use crate::contract::workload::WorkloadConfig;
use crate::store::{predictions, Store};
use crate::{score, source};

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
        let logged = predictions::read_all(&store, &config.workload)
            .with_context(|| format!("reading the prediction log of {}", config.workload))?;
        let per_replica = config.capacity.as_ref().map(|c| c.per_replica);
        let score = score::score(&config.workload, &logged, &actual, per_replica, now);
        score.write(&self.out.join(SCORE_FILE))?;
        write_atomic(
            &self.out.join(SCORE_PROMETHEUS_FILE),
            score::prometheus_text(&score).as_bytes(),
        )?;
        tracing::info!(
            logged = score.logged,
            "score of {} written to {}",
            config.workload,
            self.out.display()
        );
        Ok(score)
    }
}
