//! `mttd-shadow-compare`: the candidate against the model in service on the shadow window →
//! `comparison/` (comparison.json, and the replay's plot when capacity is configured).

use std::path::PathBuf;

use super::{read_candidate, Candidate, Step};
use crate::contract::comparison::Comparison;
use crate::contract::document::{write_atomic, Document};
use crate::contract::layout::{COMPARISON_FILE, REPLAY_PLOT_FILE};
use crate::contract::workload::WorkloadConfig;
use crate::store::{registry, Store};
use crate::{compare, report};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Workload config: its `capacity` drives the autoscaler replay.
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub dataset: PathBuf,
    /// Folder of the candidate model.
    #[arg(long)]
    pub model: PathBuf,
    /// Model store holding the control (the promoted model).
    #[arg(long, default_value = "./mttd-store")]
    pub store: String,
    /// Output folder: comparison.json.
    #[arg(long)]
    pub out: PathBuf,
}

impl Step for Args {
    const NAME: &'static str = "shadow-compare";
    type Output = Comparison;

    fn run(&self) -> anyhow::Result<Comparison> {
        let Candidate {
            data,
            data_manifest,
            model,
            model_manifest,
            origin,
        } = read_candidate(&self.dataset, &self.model)?;
        let config = WorkloadConfig::load(&self.config)?;
        let store = Store::open(&self.store)?;
        let promoted = registry::promoted_model(&store, &data_manifest.workload)?;
        // The replay judges the floor as assisted mode would put it under the HPA.
        let (comparison, traces) = compare::shadow_compare(
            &model,
            &model_manifest,
            promoted,
            compare::ReplaySetup::of(&config),
            &data,
            &data_manifest,
            &origin,
        )?;
        if let Some(traces) = traces {
            let title = format!(
                "{}: demand and serving capacity over the shadow window",
                data_manifest.workload
            );
            write_atomic(
                &self.out.join(REPLAY_PLOT_FILE),
                report::replay_svg(
                    &traces,
                    &title,
                    &report::unit_of(&data_manifest.target),
                    &config.calendar.as_ref().map(|c| c.markers()).unwrap_or_default(),
                )
                .as_bytes(),
            )?;
        }
        comparison.write(&self.out.join(COMPARISON_FILE))?;
        tracing::info!(control = %comparison.control.reason, "comparison written to {}", self.out.display());
        Ok(comparison)
    }
}
