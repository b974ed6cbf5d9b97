//! `mttd-train`: `dataset/` → `model/` (model.json and its manifest).

use std::path::PathBuf;

use super::{read_dataset, Step};
use crate::contract::document::Document;
use crate::contract::layout::{MODEL_FILE, MODEL_MANIFEST_FILE};
use crate::contract::model::ModelManifest;
use crate::contract::workload::WorkloadConfig;
use crate::train;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub config: PathBuf,
    /// Folder written by extract-features.
    #[arg(long)]
    pub dataset: PathBuf,
    /// Output folder: model.json and model.manifest.json.
    #[arg(long)]
    pub out: PathBuf,
}

impl Step for Args {
    const NAME: &'static str = "train";
    type Output = ModelManifest;

    fn run(&self) -> anyhow::Result<ModelManifest> {
        let config = WorkloadConfig::load(&self.config)?;
        let (data, data_manifest) = read_dataset(&self.dataset)?;
        let (model, manifest) = train::train(&config, &data, &data_manifest)?;
        model.write(&self.out.join(MODEL_FILE))?;
        manifest.write(&self.out.join(MODEL_MANIFEST_FILE))?;
        tracing::info!(fit_rows = manifest.fit_rows, sha256 = %manifest.model_sha256, "model written to {}", self.out.display());
        Ok(manifest)
    }
}
