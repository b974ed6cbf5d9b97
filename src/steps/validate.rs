//! `mttd-validate`: `dataset/` + `model/` → `validation/` (validation.json, the report and its
//! plot, and the headline numbers alone for Argo).

use std::path::PathBuf;

use super::{read_candidate, Candidate, Step};
use crate::contract::document::{write_atomic, Document};
use crate::contract::layout::{MAE_FILE, MAPE_FILE, PLOT_FILE, REPORT_FILE, VALIDATION_FILE};
use crate::contract::validation::Validation;
use crate::{evaluate, report};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub dataset: PathBuf,
    /// Folder written by train.
    #[arg(long)]
    pub model: PathBuf,
    /// Output folder: validation.json, report.md, forecast.svg.
    #[arg(long)]
    pub out: PathBuf,
}

impl Step for Args {
    const NAME: &'static str = "validate";
    type Output = Validation;

    fn run(&self) -> anyhow::Result<Validation> {
        let Candidate {
            data,
            data_manifest,
            model,
            model_manifest,
            origin,
        } = read_candidate(&self.dataset, &self.model)?;
        let (validation, series) = evaluate::validate(&model, &model_manifest, &data, &data_manifest, &origin)?;
        let title = format!(
            "{}: {} forecast {} ahead over the holdout",
            data_manifest.workload,
            model.algorithm.as_str(),
            data_manifest.label.horizon
        );
        write_atomic(
            &self.out.join(PLOT_FILE),
            report::forecast_svg(&series, &title, &report::unit_of(&data_manifest.target)).as_bytes(),
        )?;
        write_atomic(
            &self.out.join(REPORT_FILE),
            report::validation_markdown(&validation, &model, &model_manifest, PLOT_FILE).as_bytes(),
        )?;
        validation.write(&self.out.join(VALIDATION_FILE))?;
        write_atomic(
            &self.out.join(MAE_FILE),
            format!("{}", validation.holdout.model.mae).as_bytes(),
        )?;
        write_atomic(
            &self.out.join(MAPE_FILE),
            format!("{}", validation.holdout.model.mape).as_bytes(),
        )?;
        tracing::info!(
            mae = validation.holdout.model.mae,
            "validation written to {}",
            self.out.display()
        );
        Ok(validation)
    }
}
