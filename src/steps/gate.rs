//! `mttd-gate`: `validation/` + `comparison/` + the candidate + the promotion policy →
//! `decision/` (decision.json, and the decision word alone for an Argo output parameter).

use std::path::PathBuf;

use super::{read_model, Step};
use crate::contract::comparison::Comparison;
use crate::contract::document::{write_atomic, Document};
use crate::contract::gate::{Decision, GatePolicy};
use crate::contract::layout::{COMPARISON_FILE, DECISION_FILE, DECISION_WORD_FILE, VALIDATION_FILE};
use crate::contract::validation::Validation;
use crate::gate;
use crate::store::{registry, Store};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Folder written by validate.
    #[arg(long)]
    pub validation: PathBuf,
    /// Folder written by shadow-compare.
    #[arg(long)]
    pub comparison: PathBuf,
    /// Folder of the candidate model.
    #[arg(long)]
    pub model: PathBuf,
    /// Promotion policy (YAML or JSON); the defaults when absent.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Model store, to count earlier promotions (needed when the policy asks approval for the
    /// first N).
    #[arg(long)]
    pub store: Option<String>,
    /// Output folder: decision.json and `decision` (the word alone).
    #[arg(long)]
    pub out: PathBuf,
}

impl Step for Args {
    const NAME: &'static str = "gate";
    type Output = Decision;

    fn run(&self) -> anyhow::Result<Decision> {
        let policy = match &self.policy {
            Some(path) => GatePolicy::read(path)?,
            None => GatePolicy::default(),
        };
        let validation = Validation::read(&self.validation.join(VALIDATION_FILE))?;
        let comparison = Comparison::read(&self.comparison.join(COMPARISON_FILE))?;
        let (_, manifest) = read_model(&self.model)?;
        let promotions_so_far = match &self.store {
            Some(url) => Some(registry::promotions(&Store::open(url)?, &manifest.workload)?),
            None => None,
        };
        let decision = gate::decide(&policy, &validation, &comparison, &manifest, promotions_so_far)?;
        decision.write(&self.out.join(DECISION_FILE))?;
        write_atomic(
            &self.out.join(DECISION_WORD_FILE),
            decision.decision.as_str().as_bytes(),
        )?;
        tracing::info!(decision = decision.decision.as_str(), reason = %decision.reason, "decision written to {}", self.out.display());
        Ok(decision)
    }
}
