//! `mttd-extract-features`: the workload's source (Prometheus or an export) → `dataset/`.

use std::path::PathBuf;

use super::{parse_time, write_dataset, Step};
use crate::contract::dataset::DatasetManifest;
use crate::contract::workload::WorkloadConfig;
use crate::features::Table;
use crate::{features, source};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Workload config (YAML or JSON).
    #[arg(long)]
    pub config: PathBuf,
    /// Output folder: dataset.parquet and dataset.manifest.json.
    #[arg(long)]
    pub out: PathBuf,
    /// End of the window a Prometheus source reads (RFC 3339 or Unix seconds; rounded down to
    /// the step and recorded); default now. The same `--end` gives the same dataset.
    #[arg(long, value_parser = parse_time)]
    pub end: Option<i64>,
}

impl Step for Args {
    const NAME: &'static str = "extract-features";
    type Output = DatasetManifest;

    fn run(&self) -> anyhow::Result<DatasetManifest> {
        let config = WorkloadConfig::load(&self.config)?;
        let (data, mut manifest) = extract(&config, self.end)?;
        write_dataset(&self.out, data, &mut manifest)?;
        tracing::info!(rows = manifest.rows, sha256 = %manifest.dataset_sha256, "dataset written to {}", self.out.display());
        Ok(manifest)
    }
}

/// The dataset of `config`'s source over the window ending at `end` (default now), with the
/// pods' start-up time measured over the same window when the source has a `startup_query`.
/// The manifest's sha256 and row count are filled in when the dataset is written.
pub fn extract(config: &WorkloadConfig, end: Option<i64>) -> crate::error::Result<(Table, DatasetManifest)> {
    // One "now" for the signals and the start-up measurement: the same window.
    let end = end.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let (raw, mut description) = source::load(config, Some(end))?;
    if let Some(prometheus) = description.prometheus.as_mut() {
        prometheus.startup = source::measure_startup(config, end)?;
    }
    // The horizon a config leaves open is the lead time of a scale decision, from the start-up
    // just measured: the forecast looks as far ahead as a floor needs.
    let p90 = description
        .prometheus
        .as_ref()
        .and_then(|p| p.startup.as_ref())
        .map(|s| s.p90_seconds);
    let (config, horizon_source) = config.with_horizon(p90);
    let (data, mut manifest) = features::extract_owned(&config, raw, &description)?;
    manifest.label.horizon_source = horizon_source;
    Ok((data, manifest))
}
