//! The steps as Argo calls them: each one's arguments (defined once, here, for both the `mttd`
//! subcommand and the step's own binary), and its run: read and validate inputs, call the
//! library, write outputs atomically. Inputs and outputs are folders so Argo can pass them as
//! artifacts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::compare::{self, Comparison};
use crate::config::WorkloadConfig;
use crate::contract::{sha256_hex, write_atomic, Document};
use crate::dataset::{self, DATASET_FILE};
use crate::evaluation::{self, Validation};
use crate::model::{self, Model, ModelManifest};
use crate::policy::gate::{self, Decision, GatePolicy};
use crate::store::{registry, Store};
use crate::{features, report, source, train};

pub const VALIDATION_FILE: &str = "validation.json";
pub const REPORT_FILE: &str = "report.md";
pub const PLOT_FILE: &str = "forecast.svg";
pub const COMPARISON_FILE: &str = "comparison.json";
pub const REPLAY_PLOT_FILE: &str = "replay.svg";
pub const DECISION_FILE: &str = "decision.json";
/// The decision word alone, for an Argo output parameter.
pub const DECISION_WORD_FILE: &str = "decision";

/// A step program: its name and what it does with its arguments.
pub trait Step: Args {
    const NAME: &'static str;
    fn run(&self) -> anyhow::Result<()>;
}

/// Reads a model folder: model.json and its manifest, checked against each other.
pub fn read_model(dir: &Path) -> anyhow::Result<(Model, ModelManifest)> {
    let path = dir.join(model::MODEL_FILE);
    let model = Model::read(&path)?;
    model.check(&path.display().to_string())?;
    let manifest = ModelManifest::read(&dir.join(model::MANIFEST_FILE))?;
    if sha256_hex(&model.to_bytes()) != manifest.model_sha256 {
        anyhow::bail!(
            "{}: sha256 does not match {} (the model was changed)",
            path.display(),
            model::MANIFEST_FILE
        );
    }
    Ok((model, manifest))
}

/// A candidate model with the dataset it was trained on, checked to belong together.
pub struct Candidate {
    pub data: dataset::Dataset,
    pub meta: dataset::DatasetManifest,
    pub model: Model,
    pub manifest: ModelManifest,
    /// The model manifest's path, for errors.
    pub origin: String,
}

pub fn read_candidate(dataset_dir: &Path, model_dir: &Path) -> anyhow::Result<Candidate> {
    let (data, meta) = dataset::read_dataset(dataset_dir)?;
    let (model, manifest) = read_model(model_dir)?;
    let origin = model_dir.join(model::MANIFEST_FILE).display().to_string();
    evaluation::check_lineage(&manifest, &meta, &origin)?;
    Ok(Candidate {
        data,
        meta,
        model,
        manifest,
        origin,
    })
}

#[derive(Debug, Clone, Args)]
pub struct ExtractFeaturesArgs {
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

/// A command-line time: RFC 3339 or Unix seconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    crate::contract::parse_timestamp(text)
        .ok_or_else(|| format!("`{text}` is not an RFC 3339 timestamp (2026-01-31T00:00:00Z) or Unix seconds"))
}

impl Step for ExtractFeaturesArgs {
    const NAME: &'static str = "extract-features";
    fn run(&self) -> anyhow::Result<()> {
        let config = WorkloadConfig::load(&self.config)?;
        let (raw, description) = source::load(&config, self.end)?;
        let (data, mut manifest) = features::extract(&config, &raw, &description)?;
        dataset::write_dataset(&self.out, data, &mut manifest)?;
        tracing::info!(rows = manifest.rows, sha256 = %manifest.dataset_sha256, "dataset written to {}", self.out.display());
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    #[arg(long)]
    pub config: PathBuf,
    /// Folder written by extract-features.
    #[arg(long)]
    pub dataset: PathBuf,
    /// Output folder: model.json and model.manifest.json.
    #[arg(long)]
    pub out: PathBuf,
}

impl Step for TrainArgs {
    const NAME: &'static str = "train";
    fn run(&self) -> anyhow::Result<()> {
        let config = WorkloadConfig::load(&self.config)?;
        let (data, meta) = dataset::read_dataset(&self.dataset)?;
        let (model, manifest) = train::train(&config, &data, &meta)?;
        model.write(&self.out.join(model::MODEL_FILE))?;
        manifest.write(&self.out.join(model::MANIFEST_FILE))?;
        tracing::info!(fit_rows = manifest.fit_rows, sha256 = %manifest.model_sha256, "model written to {}", self.out.display());
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    #[arg(long)]
    pub dataset: PathBuf,
    /// Folder written by train.
    #[arg(long)]
    pub model: PathBuf,
    /// Output folder: validation.json, report.md, forecast.svg.
    #[arg(long)]
    pub out: PathBuf,
}

impl Step for ValidateArgs {
    const NAME: &'static str = "validate";
    fn run(&self) -> anyhow::Result<()> {
        let Candidate {
            data,
            meta,
            model,
            manifest,
            origin,
        } = read_candidate(&self.dataset, &self.model)?;
        let (validation, series) = evaluation::validate(&model, &manifest, &data, &meta, &origin)?;
        let title = format!(
            "{}: {} forecast {} ahead over the holdout",
            meta.workload,
            model.algorithm.name(),
            meta.label.horizon
        );
        write_atomic(
            &self.out.join(PLOT_FILE),
            report::forecast_svg(&series, &title).as_bytes(),
        )?;
        write_atomic(
            &self.out.join(REPORT_FILE),
            report::validation_markdown(&validation, PLOT_FILE).as_bytes(),
        )?;
        validation.write(&self.out.join(VALIDATION_FILE))?;
        // The headline numbers alone, for Argo output parameters and template metrics.
        write_atomic(
            &self.out.join("mae"),
            format!("{}", validation.holdout.model.mae).as_bytes(),
        )?;
        write_atomic(
            &self.out.join("mape"),
            format!("{}", validation.holdout.model.mape).as_bytes(),
        )?;
        tracing::info!(
            mae = validation.holdout.model.mae,
            "validation written to {}",
            self.out.display()
        );
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct ShadowCompareArgs {
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

impl Step for ShadowCompareArgs {
    const NAME: &'static str = "shadow-compare";
    fn run(&self) -> anyhow::Result<()> {
        let Candidate {
            data,
            meta,
            model,
            manifest,
            origin,
        } = read_candidate(&self.dataset, &self.model)?;
        let config = WorkloadConfig::load(&self.config)?;
        let store = Store::open(&self.store)?;
        let promoted = registry::promoted_model(&store, &meta.workload)?;
        let capacity = config.capacity.as_ref();
        let (comparison, traces) =
            compare::shadow_compare(&model, &manifest, promoted, capacity, &data, &meta, &origin)?;
        if let Some(traces) = traces {
            let title = format!("{}: demand and serving capacity over the shadow window", meta.workload);
            write_atomic(
                &self.out.join(REPLAY_PLOT_FILE),
                report::replay_svg(&traces, &title).as_bytes(),
            )?;
        }
        comparison.write(&self.out.join(COMPARISON_FILE))?;
        tracing::info!(control = %comparison.control.reason, "comparison written to {}", self.out.display());
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct GateArgs {
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

impl GateArgs {
    pub fn decide(&self, policy: &GatePolicy) -> anyhow::Result<Decision> {
        let validation = Validation::read(&self.validation.join(VALIDATION_FILE))?;
        let comparison = Comparison::read(&self.comparison.join(COMPARISON_FILE))?;
        let (_, manifest) = read_model(&self.model)?;
        let promotions_so_far = match &self.store {
            Some(url) => Some(registry::promotions(&Store::open(url)?, &manifest.workload)?),
            None => None,
        };
        let decision = gate::decide(policy, &validation, &comparison, &manifest, promotions_so_far)?;
        decision.write(&self.out.join(DECISION_FILE))?;
        write_atomic(&self.out.join(DECISION_WORD_FILE), decision.decision.word().as_bytes())?;
        tracing::info!(decision = decision.decision.word(), reason = %decision.reason, "decision written to {}", self.out.display());
        Ok(decision)
    }
}

impl Step for GateArgs {
    const NAME: &'static str = "gate";
    fn run(&self) -> anyhow::Result<()> {
        let policy = match &self.policy {
            Some(path) => GatePolicy::read(path)?,
            None => GatePolicy::default(),
        };
        self.decide(&policy).map(|_| ())
    }
}

#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
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

impl PublishArgs {
    /// Publishes and returns the new version.
    pub fn publish(&self) -> anyhow::Result<(u32, registry::Registry)> {
        let publication = self.publication()?;
        let store = Store::open(&self.store)?;
        let (version, registry) = registry::publish(&store, &publication)?;
        tracing::info!(version, status = ?registry.versions.last().map(|v| v.status), "published to {}", store.url());
        Ok((version, registry))
    }

    /// Reads and cross-checks everything a version is made of.
    pub fn publication(&self) -> anyhow::Result<registry::Publication> {
        let (model, manifest) = read_model(&self.model)?;
        let dataset_manifest = dataset::DatasetManifest::read(&self.dataset.join(dataset::MANIFEST_FILE))?;
        let dataset_path = self.dataset.join(DATASET_FILE);
        let dataset_bytes =
            std::fs::read(&dataset_path).with_context(|| format!("reading {}", dataset_path.display()))?;
        if sha256_hex(&dataset_bytes) != dataset_manifest.dataset_sha256
            || manifest.dataset_sha256 != dataset_manifest.dataset_sha256
        {
            anyhow::bail!(
                "{}: not the dataset the model was trained on (sha256 differs)",
                dataset_path.display()
            );
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
                anyhow::bail!(
                    "the {what} is of model {sha}, not of the model being published ({})",
                    manifest.model_sha256
                );
            }
        }
        let mut documents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        documents.insert(model::MODEL_FILE.into(), model.to_bytes());
        documents.insert(model::MANIFEST_FILE.into(), manifest.to_bytes());
        documents.insert(dataset::MANIFEST_FILE.into(), dataset_manifest.to_bytes());
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
            recorded_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        })
    }
}

impl Step for PublishArgs {
    const NAME: &'static str = "publish";
    fn run(&self) -> anyhow::Result<()> {
        let (version, registry) = self.publish()?;
        if let Some(out) = &self.out {
            let status = registry
                .versions
                .iter()
                .find(|v| v.version == version)
                .map(|v| v.status);
            let status = serde_json::to_value(status)?.as_str().unwrap_or_default().to_string();
            write_atomic(&out.join("version"), version.to_string().as_bytes())?;
            write_atomic(&out.join("status"), status.as_bytes())?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct ForecastArgs {
    /// Workload config: its source gives the latest window, `capacity` and `deploy` the advice.
    #[arg(long)]
    pub config: PathBuf,
    /// Model store holding the promoted model.
    #[arg(long, default_value = "./mttd-store")]
    pub store: String,
    /// Output folder: recommendation.json, configmap.yaml, hpa-patch.yaml (assisted mode),
    /// forecast.prom, and values/ (one value a file, for workflow conditions and metrics).
    #[arg(long)]
    pub out: PathBuf,
    /// "Now" (RFC 3339, Unix seconds, or `latest`: the latest sample's time, for replaying an
    /// export); default the clock. Data older than `max_staleness` before it is stale.
    #[arg(long)]
    pub now: Option<String>,
    /// The replicas running now (for the scale-down guardrails); default the previous
    /// recommendation's.
    #[arg(long)]
    pub current_replicas: Option<u32>,
    /// The previous recommendation (the observation window's memory); default OUT/recommendation.json.
    #[arg(long)]
    pub state: Option<PathBuf>,
}

pub const RECOMMENDATION_FILE: &str = "recommendation.json";

impl ForecastArgs {
    pub fn recommend(&self) -> anyhow::Result<crate::forecast::Recommendation> {
        use crate::forecast::{self, Recommendation};
        let config = WorkloadConfig::load(&self.config)?;
        let given = match self.now.as_deref() {
            Some("latest") | None => None,
            Some(text) => Some(parse_time(text).map_err(|e| anyhow::anyhow!("--now: {e}, or `latest`"))?),
        };
        // One clock reading: the window a Prometheus source reads ends where "now" is.
        let end = given.unwrap_or_else(|| chrono::Utc::now().timestamp());
        // A server that cannot answer is a fallback (metrics missing), not a failed step: the
        // published advice must then say "reactive baseline", not keep the last forecast.
        let (raw, description, source_error) = match source::load(&config, Some(end)) {
            Ok((raw, description)) => (raw, description, None),
            Err(e @ crate::error::Error::Prometheus { .. }) => (
                source::RawSeries::default(),
                source::SourceDescription {
                    kind: "prometheus",
                    location: String::new(),
                    sha256: None,
                    prometheus: None,
                },
                Some(e.to_string()),
            ),
            Err(e) => return Err(e.into()),
        };
        let latest = raw
            .series
            .get(&config.signals.target)
            .and_then(|s| s.last())
            .map(|s| s.0);
        let now = match (self.now.as_deref(), given) {
            (Some("latest"), None) if source_error.is_none() => {
                latest.ok_or_else(|| anyhow::anyhow!("--now latest: the target has no samples"))?
            }
            _ => end,
        };
        let state = self.state.clone().unwrap_or_else(|| self.out.join(RECOMMENDATION_FILE));
        let previous = if state.exists() {
            Some(Recommendation::read(&state)?)
        } else {
            None
        };
        let store = Store::open(&self.store)?;
        let promoted = registry::promoted_model(&store, &config.workload)?;
        let rec = forecast::recommend(forecast::ForecastInput {
            config: &config,
            promoted,
            raw: &raw,
            source: &description,
            now,
            current_replicas: self.current_replicas,
            previous: previous.as_ref(),
            source_error,
        })?;
        let deploy = config.deploy.clone().unwrap_or_default();
        write_atomic(
            &self.out.join("configmap.yaml"),
            forecast::configmap_yaml(&rec).as_bytes(),
        )?;
        let patch = self.out.join("hpa-patch.yaml");
        match forecast::hpa_patch_yaml(&rec, &deploy) {
            Some(yaml) => write_atomic(&patch, yaml.as_bytes())?,
            None if patch.exists() => {
                std::fs::remove_file(&patch).with_context(|| format!("removing {}", patch.display()))?
            }
            None => {}
        }
        write_atomic(
            &self.out.join("forecast.prom"),
            forecast::prometheus_text(&rec).as_bytes(),
        )?;
        for (name, value) in forecast::values(&rec, &deploy) {
            write_atomic(&self.out.join("values").join(name), value.as_bytes())?;
        }
        rec.write(&self.out.join(RECOMMENDATION_FILE))?;
        // The advice is published first; a failed alert then fails the step visibly.
        if let (Some(surge), Some(alert)) = (&rec.surge, &deploy.surge_alert) {
            let alerts = serde_json::Value::Array(vec![crate::alert::surge_alert(
                &rec,
                surge,
                alert,
                chrono::Utc::now().timestamp(),
                config.label.horizon.seconds(),
            )]);
            crate::alert::post(&alert.alertmanager_url, &alerts)?;
            tracing::warn!(
                upper = surge.upper,
                capacity = surge.current_capacity,
                "surge alert posted to {}",
                alert.alertmanager_url
            );
        }
        tracing::info!(replicas = ?rec.replicas, fallback = ?rec.fallback.as_ref().map(|f| f.reason), "recommendation written to {}", self.out.display());
        Ok(rec)
    }
}

impl Step for ForecastArgs {
    const NAME: &'static str = "forecast";
    fn run(&self) -> anyhow::Result<()> {
        self.recommend().map(|_| ())
    }
}
