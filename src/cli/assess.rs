//! `mttd assess`: should this workload be predicted, scheduled, or left to its HPA? Runs what
//! a retrain runs — extraction, training, validation, the replay — in memory, and writes the
//! assessment (`crate::assess`) with its figures, verdict, reasons and, for `scheduled`, the
//! floor schedule.

use std::path::PathBuf;

use crate::contract::assessment::Assessment;
use crate::contract::document::{sha256_hex, Document};
use crate::contract::workload::WorkloadConfig;
use crate::steps::{extract_features, parse_time};
use crate::{assess, compare, evaluate, train};

#[derive(Debug, Clone, clap::Args)]
pub struct AssessArgs {
    /// Workload config: its source, features, model and (for the replay) capacity.
    #[arg(long)]
    pub config: PathBuf,
    /// End of the window a Prometheus source reads (RFC 3339 or Unix seconds); default now.
    #[arg(long, value_parser = parse_time)]
    pub end: Option<i64>,
    /// Where the assessment goes.
    #[arg(long, default_value = "assessment.json")]
    pub out: PathBuf,
}

impl AssessArgs {
    pub fn run(&self) -> anyhow::Result<Assessment> {
        let config = WorkloadConfig::load(&self.config)?;
        let origin = config.origin.clone();
        let (data, mut meta) = extract_features::extract(&config, self.end)?;
        let data = data.into_dataset();
        meta.rows = data.rows() as u64;
        meta.dataset_sha256 = sha256_hex(&data.to_parquet()?);
        let (model, manifest) = train::train(&config, &data, &meta)?;
        let (validation, _) = evaluate::validate(&model, &manifest, &data, &meta, &origin)?;
        let replay = compare::ReplaySetup::of(&config);
        let (comparison, _) = compare::shadow_compare(&model, &manifest, None, replay, &data, &meta, &origin)?;
        let assessment = assess::assess(&data, &meta, &validation, &comparison, config.capacity.as_ref());
        assessment.write(&self.out)?;
        Ok(assessment)
    }
}

/// What `mttd assess` prints: the verdict, then why.
pub fn render(assessment: &Assessment) -> String {
    let mut out = format!("{}: {}\n", assessment.workload, assessment.verdict.as_str());
    for reason in &assessment.reasons {
        out.push_str(&format!("  {reason}\n"));
    }
    if !assessment.schedule.is_empty() {
        out.push_str(&format!(
            "  schedule: {} hourly floors in the assessment\n",
            assessment.schedule.len()
        ));
    }
    out
}
