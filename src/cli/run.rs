//! `mttd run`: the whole loop on one machine — extract-features → train → validate →
//! shadow-compare → gate → publish — each step called exactly as its own program would be,
//! on folders under a work directory, against a model store (a local folder by default).

use std::path::PathBuf;

use clap::Args;

use crate::contract::deploy::Recommendation;
use crate::contract::document::Document;
use crate::contract::layout::{
    COMPARISON_DIR, DATASET_DIR, DECISION_DIR, FORECAST_DIR, MODEL_DIR, REPORT_FILE, RUN_GATE_POLICY_FILE,
    VALIDATION_DIR,
};
use crate::contract::source::SourceConfig;
use crate::contract::workload::WorkloadConfig;
use crate::steps::{self, parse_time, Step};

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Run on the built-in demo workload (30 days of 1-minute data, fixed seed).
    #[arg(long, conflicts_with = "config", required_unless_present = "config")]
    pub demo: bool,
    /// Workload config of your own data.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Model store URL or folder.
    #[arg(long, default_value = "./mttd-store")]
    pub store: String,
    /// Where each step's outputs go.
    #[arg(long, default_value = "./mttd-out")]
    pub work_dir: PathBuf,
    /// Recorded in the change log.
    #[arg(long, default_value = "mttd run")]
    pub triggered_by: String,
    /// End of the window a Prometheus source reads (RFC 3339 or Unix seconds); default now.
    /// The forecast is made as of this time too.
    #[arg(long, value_parser = parse_time)]
    pub end: Option<i64>,
}

/// What a run produced, for the summary.
pub struct RunSummary {
    pub workload: String,
    pub rows: u64,
    pub version: u32,
    pub decision: String,
    pub reason: String,
    pub candidate_mae: f64,
    pub candidate_mape: f64,
    pub control: String,
    pub control_mae: f64,
    pub control_mape: f64,
    pub report: PathBuf,
    /// The replay's line, when capacity is configured.
    pub replay: Option<String>,
    /// The current recommendation's line, when capacity is configured.
    pub recommendation: Option<String>,
    /// The config the run used: the backtest it points at runs on it.
    pub config: PathBuf,
}

impl RunArgs {
    pub fn execute(&self) -> anyhow::Result<RunSummary> {
        let config_path = match (&self.config, self.demo) {
            (Some(path), _) => path.clone(),
            (None, _) => crate::demo::write(&self.work_dir.join("demo"), 30, 7)?,
        };
        let config = WorkloadConfig::load(&config_path)?;
        let dir = self.work_dir.join(&config.workload);
        // One end for the whole run: the forecast is made as of the data just trained on.
        let end = match config.source {
            SourceConfig::File(_) => self.end,
            SourceConfig::Prometheus(_) => Some(self.end.unwrap_or_else(|| chrono::Utc::now().timestamp())),
        };
        let [data, model, validation, comparison, decision] =
            [DATASET_DIR, MODEL_DIR, VALIDATION_DIR, COMPARISON_DIR, DECISION_DIR].map(|name| dir.join(name));
        // The gate step reads its policy from a file: the config's `gate:`, written beside the
        // step folders, so that it is called exactly as its program would be.
        let policy = dir.join(RUN_GATE_POLICY_FILE);
        config.gate.write(&policy)?;
        let dataset = steps::extract_features::Args {
            config: config_path.clone(),
            out: data.clone(),
            end,
        }
        .run()?;
        steps::train::Args {
            config: config_path.clone(),
            dataset: data.clone(),
            out: model.clone(),
        }
        .run()?;
        steps::validate::Args {
            dataset: data.clone(),
            model: model.clone(),
            out: validation.clone(),
        }
        .run()?;
        let c = steps::shadow_compare::Args {
            config: config_path.clone(),
            dataset: data.clone(),
            model: model.clone(),
            store: self.store.clone(),
            out: comparison.clone(),
        }
        .run()?;
        let verdict = steps::gate::Args {
            validation: validation.clone(),
            comparison: comparison.clone(),
            model: model.clone(),
            policy: Some(policy),
            store: Some(self.store.clone()),
            out: decision.clone(),
        }
        .run()?;
        let published = steps::publish::Args {
            store: self.store.clone(),
            dataset: data,
            model,
            validation: validation.clone(),
            comparison,
            decision,
            triggered_by: self.triggered_by.clone(),
            out: None,
        }
        .run()?;
        let recommendation = match &config.capacity {
            None => None,
            Some(_) => {
                let rec = steps::forecast::Args {
                    live: steps::Live {
                        config: config_path.clone(),
                        store: self.store.clone(),
                        now: Some(end.map(|t| t.to_string()).unwrap_or_else(|| "latest".into())),
                    },
                    out: dir.join(FORECAST_DIR),
                    current_replicas: None,
                    state: None,
                    namespace: None,
                }
                .run()?;
                Some(describe(&rec))
            }
        };
        Ok(RunSummary {
            workload: config.workload,
            rows: dataset.rows,
            version: published.version,
            decision: verdict.decision.as_str().to_string(),
            reason: verdict.reason,
            candidate_mae: c.candidate_metrics.mae,
            candidate_mape: c.candidate_metrics.mape,
            control: match c.control.version {
                Some(v) => format!("v{v} ({})", c.control.algorithm.as_str()),
                None => c.control.algorithm.as_str().to_string(),
            },
            control_mae: c.control_metrics.mae,
            control_mape: c.control_metrics.mape,
            report: validation.join(REPORT_FILE),
            recommendation,
            config: config_path.clone(),
            replay: c.replay.as_ref().map(|r| {
                format!(
                    "saturated min: reactive {:.0}, control {:.0}, candidate {:.0}  |  replica-min: {:.0}, {:.0}, {:.0}",
                    r.reactive.saturated_minutes,
                    r.control.saturated_minutes,
                    r.candidate.saturated_minutes,
                    r.reactive.replica_minutes,
                    r.control.replica_minutes,
                    r.candidate.replica_minutes
                )
            }),
        })
    }
}

impl RunSummary {
    pub fn render(&self, store: &str) -> String {
        format!(
            "workload        {}\n\
             dataset rows    {}\n\
             model version   mttd-model:v{} in {store}\n\
             shadow window   candidate MAE {:.3}, MAPE {:.2}%  |  control {} MAE {:.3}, MAPE {:.2}%\n\
             replay          {}\n\
             decision        {}: {}\n\
             report          {}\n\
             recommendation  {}\n\
             what if         mttd backtest --config {}   (the whole loop over the history, as if live)\n",
            self.workload,
            self.rows,
            self.version,
            self.candidate_mae,
            self.candidate_mape * 100.0,
            self.control,
            self.control_mae,
            self.control_mape * 100.0,
            self.replay.as_deref().unwrap_or("skipped: no capacity configured"),
            self.decision,
            self.reason,
            self.report.display(),
            self.recommendation
                .as_deref()
                .unwrap_or("skipped: no capacity configured"),
            self.config.display()
        )
    }
}

/// One line for a recommendation.
fn describe(rec: &Recommendation) -> String {
    let mode = rec.mode.as_str();
    match (&rec.fallback, &rec.forecast, rec.replicas) {
        (Some(f), _, _) => format!("fallback to the reactive HPA ({}): {}", f.reason.as_str(), f.detail),
        (None, Some(f), Some(r)) => format!(
            "{r} replicas ({mode}, model v{}) for {}: forecast {:.1} [{:.1}, {:.1}]",
            rec.model_version.unwrap_or_default(),
            f.target_time,
            f.point,
            f.lower,
            f.upper
        ),
        _ => "none".into(),
    }
}
