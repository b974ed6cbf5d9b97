//! `mttd-publish`: everything a version is made of → a new version in the model store, and
//! `publish/` (the version number and its status, for Argo output parameters).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;

use super::{read_model, Step};
use crate::contract::comparison::Comparison;
use crate::contract::dataset::DatasetManifest;
use crate::contract::document::{sha256_hex, write_atomic, Document};
use crate::contract::gate::Decision;
use crate::contract::layout::{
    COMPARISON_FILE, DATASET_FILE, DATASET_MANIFEST_FILE, DECISION_FILE, MODEL_FILE, MODEL_MANIFEST_FILE, PLOT_FILE,
    PUBLISHED_STATUS_FILE, PUBLISHED_VERSION_FILE, REPLAY_PLOT_FILE, REPORT_FILE, VALIDATION_FILE,
};
use crate::contract::registry::{Registry, VersionStatus};
use crate::contract::validation::Validation;
use crate::error::Error;
use crate::gate;
use crate::store::{registry, Store};
use crate::time::now_rfc3339;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "./mttd-store")]
    pub store: String,
    #[arg(long)]
    pub dataset: PathBuf,
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub validation: PathBuf,
    #[arg(long)]
    pub comparison: PathBuf,
    #[arg(long)]
    pub decision: PathBuf,
    /// Who or what triggered this run, recorded in the change log.
    #[arg(long, default_value = "manual")]
    pub triggered_by: String,
    /// Optional folder for `version` (the number published) and `status`, for Argo parameters.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What publish did: the version it published and the registry after it.
#[derive(Debug, Clone)]
pub struct Published {
    pub version: u32,
    pub status: VersionStatus,
    pub registry: Registry,
}

impl Args {
    /// Reads and cross-checks everything a version is made of.
    pub fn publication(&self) -> anyhow::Result<registry::Publication> {
        let (model, manifest) = read_model(&self.model)?;
        let dataset_manifest = DatasetManifest::read(&self.dataset.join(DATASET_MANIFEST_FILE))?;
        let dataset_path = self.dataset.join(DATASET_FILE);
        let dataset_bytes =
            std::fs::read(&dataset_path).with_context(|| format!("reading {}", dataset_path.display()))?;
        if sha256_hex(&dataset_bytes) != dataset_manifest.dataset_sha256
            || manifest.dataset_sha256 != dataset_manifest.dataset_sha256
        {
            return Err(Error::Lineage(format!(
                "{}: not the dataset the model was trained on (sha256 differs)",
                dataset_path.display()
            ))
            .into());
        }
        let validation = Validation::read(&self.validation.join(VALIDATION_FILE))?;
        let comparison = Comparison::read(&self.comparison.join(COMPARISON_FILE))?;
        let decision = Decision::read(&self.decision.join(DECISION_FILE))?;
        for (what, sha) in [
            ("validation", &validation.model_sha256),
            ("comparison", &comparison.candidate.model_sha256),
            ("decision", &decision.model_sha256),
        ] {
            if *sha != manifest.model_sha256 {
                return Err(Error::Lineage(format!(
                    "the {what} is of model {sha}, not of the model being published ({})",
                    manifest.model_sha256
                ))
                .into());
            }
        }
        // The decision is recomputed, not trusted: it must be what the gate makes of this
        // validation and comparison under its own recorded policy.
        let promotions_so_far = match decision.policy.approval_for_first_promotions {
            0 => None,
            _ => Some(registry::promotions(&Store::open(&self.store)?, &manifest.workload)?),
        };
        let recomputed = gate::decide(&decision.policy, &validation, &comparison, &manifest, promotions_so_far)?;
        if recomputed != decision {
            return Err(Error::Lineage(format!(
                "{}: the decision `{}` does not follow from the validation, the comparison and its own policy (the gate decides `{}`: {}); refusing to publish",
                self.decision.join(DECISION_FILE).display(),
                decision.decision,
                recomputed.decision,
                recomputed.reason
            ))
            .into());
        }
        let mut documents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        documents.insert(MODEL_FILE.into(), model.to_bytes());
        documents.insert(MODEL_MANIFEST_FILE.into(), manifest.to_bytes());
        documents.insert(DATASET_MANIFEST_FILE.into(), dataset_manifest.to_bytes());
        documents.insert(VALIDATION_FILE.into(), validation.to_bytes());
        documents.insert(COMPARISON_FILE.into(), comparison.to_bytes());
        documents.insert(DECISION_FILE.into(), decision.to_bytes());
        for (dir, file) in [
            (&self.validation, REPORT_FILE),
            (&self.validation, PLOT_FILE),
            (&self.comparison, REPLAY_PLOT_FILE),
        ] {
            let path = dir.join(file);
            if let Ok(bytes) = std::fs::read(&path) {
                documents.insert(file.into(), bytes);
            }
        }
        Ok(registry::Publication {
            workload: manifest.workload.clone(),
            documents,
            dataset: dataset_bytes,
            dataset_sha256: dataset_manifest.dataset_sha256.clone(),
            decision,
            actor: self.triggered_by.clone(),
            recorded_at: now_rfc3339(),
        })
    }
}

impl Step for Args {
    const NAME: &'static str = "publish";
    type Output = Published;

    fn run(&self) -> anyhow::Result<Published> {
        let publication = self.publication()?;
        let store = Store::open(&self.store)?;
        let (version, registry) = registry::publish(&store, &publication)?;
        let status = registry
            .versions
            .iter()
            .find(|v| v.version == version)
            .map(|v| v.status)
            .context("the registry after publishing does not list the version published")?;
        tracing::info!(version, status = %status.as_str(), "published to {}", store.url());
        if let Some(out) = &self.out {
            write_atomic(&out.join(PUBLISHED_VERSION_FILE), version.to_string().as_bytes())?;
            write_atomic(&out.join(PUBLISHED_STATUS_FILE), status.as_str().as_bytes())?;
        }
        Ok(Published {
            version,
            status,
            registry,
        })
    }
}
