//! The steps as Argo calls them, one module per step: the same name as its program in `steps/`,
//! its Dockerfile target and its Argo template. Each holds the step's arguments (defined once,
//! for both `mttd <step>` and `mttd-<step>`) and its run: read and validate the inputs, call the
//! domain modules, write the outputs atomically under the names in `contract::layout`, and
//! return what was written. Inputs and outputs are folders so Argo can pass them as artifacts.

pub mod extract_features;
pub mod fleet_forecast;
pub mod forecast;
pub mod gate;
pub mod live_verdicts;
pub mod publish;
pub mod score;
pub mod shadow_compare;
pub mod train;
pub mod validate;

use std::path::{Path, PathBuf};

use crate::contract::dataset::DatasetManifest;
use crate::contract::document::{sha256_hex, write_atomic_with, Document, Hashing};
use crate::contract::layout::{DATASET_FILE, DATASET_MANIFEST_FILE, MODEL_FILE, MODEL_MANIFEST_FILE};
use crate::contract::model::{Model, ModelManifest};
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::evaluate;
use crate::features::Table;

/// A step program: its name, what it does with its arguments, and what it returns.
pub trait Step: clap::Args {
    /// The step's name: its program is `mttd-<NAME>`, its subcommand `mttd <NAME>`.
    const NAME: &'static str;
    /// What the run produced (also written to the output folder).
    type Output;
    fn run(&self) -> anyhow::Result<Self::Output>;
}

/// The arguments of a step that works on the live workload (forecast, score): its config, the
/// model store, and "now".
#[derive(Debug, Clone, clap::Args)]
pub struct Live {
    /// Workload config: its source gives the latest window (and, to the forecast, `capacity`
    /// and `deploy` the advice).
    #[arg(long)]
    pub config: PathBuf,
    /// Model store (the promoted model, the prediction log).
    #[arg(long, default_value = "./mttd-store")]
    pub store: String,
    /// "Now" (RFC 3339, Unix seconds, or `latest`: the latest sample's time, for replaying an
    /// export); default the clock.
    #[arg(long)]
    pub now: Option<String>,
}

impl Live {
    /// Where the source's window ends: the time given, else the clock (read once, here).
    pub fn end(&self) -> anyhow::Result<i64> {
        match self.now.as_deref() {
            Some("latest") | None => Ok(chrono::Utc::now().timestamp()),
            Some(text) => parse_time(text).map_err(|e| anyhow::anyhow!("--now: {e}, or `latest`")),
        }
    }

    /// "Now": `end`, or with `latest` the latest sample's time when there is one.
    pub fn resolve(&self, end: i64, latest: Option<i64>) -> i64 {
        match (self.now.as_deref(), latest) {
            (Some("latest"), Some(latest)) => latest,
            _ => end,
        }
    }
}

/// A side effect's outcome word: `done` when it worked (logged with where it went), `failed` when
/// not (said on stderr and in the log).
pub(crate) fn side_effect(
    what: &str,
    done: &'static str,
    target: &str,
    result: crate::error::Result<()>,
) -> &'static str {
    match result {
        Ok(()) => {
            tracing::info!("{what} {done} to {target}");
            done
        }
        Err(e) => {
            tracing::error!("{what} could not be {done}: {e}");
            eprintln!("warning: {what} could not be {done}: {e}");
            "failed"
        }
    }
}

/// A command-line time: RFC 3339 or Unix seconds, between 1970 and 2200.
pub fn parse_time(text: &str) -> std::result::Result<i64, String> {
    let t = crate::time::parse_timestamp(text)
        .ok_or_else(|| format!("`{text}` is not an RFC 3339 timestamp (2026-01-31T00:00:00Z) or Unix seconds"))?;
    if !crate::time::PLAUSIBLE.contains(&t) {
        return Err(format!("`{text}` is not between 1970 and 2200"));
    }
    Ok(t)
}

/// Writes `dataset.parquet` and `dataset.manifest.json` into `dir`; the manifest's sha256 is set
/// from the bytes written, hashed as they are written (the encoding is never held whole).
pub fn write_dataset(dir: &Path, dataset: Table, manifest: &mut DatasetManifest) -> Result<()> {
    manifest.rows = dataset.rows() as u64;
    let path = dir.join(DATASET_FILE);
    manifest.dataset_sha256 = write_atomic_with(&path, |out| {
        let mut hashing = Hashing::new(out);
        dataset.write_parquet(&mut hashing, &path.display().to_string())?;
        hashing.finish_writing().map_err(|e| Error::io(&path, e))
    })?;
    manifest.write(&dir.join(DATASET_MANIFEST_FILE))
}

/// Reads a dataset folder, checking the Parquet's sha256 and columns against its manifest.
pub fn read_dataset(dir: &Path) -> Result<(Dataset, DatasetManifest)> {
    let manifest = DatasetManifest::read(&dir.join(DATASET_MANIFEST_FILE))?;
    let path = dir.join(DATASET_FILE);
    let (decoded, sha256) = crate::dataset::read_file(&path)?;
    let sha256 = sha256?;
    let origin = path.display().to_string();
    if sha256 != manifest.dataset_sha256 {
        return Err(Error::invalid(
            &origin,
            "sha256",
            format!(
                "is {sha256}, but the manifest records {} (file changed or truncated)",
                manifest.dataset_sha256
            ),
        ));
    }
    check_manifest(&manifest, &dir.join(DATASET_MANIFEST_FILE))?;
    let dataset = decoded?;
    if dataset.rows() as u64 != manifest.rows {
        return Err(Error::invalid(
            &origin,
            "rows",
            format!("{} rows, but the manifest records {}", dataset.rows(), manifest.rows),
        ));
    }
    let expected: Vec<String> = manifest.features.iter().map(|f| f.name.clone()).collect();
    if dataset.feature_names() != expected {
        return Err(Error::invalid(
            &origin,
            "columns",
            "do not match the features listed in the manifest",
        ));
    }
    Ok((dataset, manifest))
}

/// What a dataset manifest's schema cannot say: a positive resolution, a horizon that is that
/// many steps, an interval in order. (Steps divide by the one and allocate by the other.)
fn check_manifest(manifest: &DatasetManifest, path: &Path) -> Result<()> {
    use crate::time::{parse_timestamp, HumanDuration};
    let field = |f: &str, problem: String| Error::field(path, f, problem);
    let resolution = HumanDuration::parse(&manifest.resolution).map_err(|e| field("/resolution", e))?;
    if resolution.seconds() <= 0 {
        return Err(field("/resolution", "must be longer than 0s".into()));
    }
    let horizon = HumanDuration::parse(&manifest.label.horizon).map_err(|e| field("/label/horizon", e))?;
    if horizon.seconds() <= 0 || manifest.label.horizon_steps as i64 * resolution.seconds() != horizon.seconds() {
        return Err(field(
            "/label/horizon_steps",
            format!(
                "{} steps of {} is not the horizon {}",
                manifest.label.horizon_steps, manifest.resolution, manifest.label.horizon
            ),
        ));
    }
    let start = parse_timestamp(&manifest.interval.start).filter(|t| crate::time::PLAUSIBLE.contains(t));
    let end = parse_timestamp(&manifest.interval.end).filter(|t| crate::time::PLAUSIBLE.contains(t));
    match (start, end) {
        (Some(a), Some(b)) if a <= b => Ok(()),
        _ => Err(field(
            "/interval",
            format!(
                "{} … {} is not an interval of times in order",
                manifest.interval.start, manifest.interval.end
            ),
        )),
    }
}

/// Reads a model folder: model.json and its manifest, checked against each other.
pub fn read_model(dir: &Path) -> anyhow::Result<(Model, ModelManifest)> {
    let path = dir.join(MODEL_FILE);
    let model = Model::read(&path)?;
    model.check(&path.display().to_string())?;
    let manifest = ModelManifest::read(&dir.join(MODEL_MANIFEST_FILE))?;
    if sha256_hex(&model.to_bytes()) != manifest.model_sha256 {
        return Err(Error::Lineage(format!(
            "{}: sha256 does not match {} (the model was changed)",
            path.display(),
            MODEL_MANIFEST_FILE
        ))
        .into());
    }
    Ok((model, manifest))
}

/// A candidate model with the dataset it was trained on, checked to belong together.
pub struct Candidate {
    pub data: Dataset,
    pub data_manifest: DatasetManifest,
    pub model: Model,
    pub model_manifest: ModelManifest,
    /// The model manifest's path, for errors.
    pub origin: String,
}

/// Reads a dataset folder and a model folder and checks that the model was trained on it.
pub fn read_candidate(dataset_dir: &Path, model_dir: &Path) -> anyhow::Result<Candidate> {
    let (data, data_manifest) = read_dataset(dataset_dir)?;
    let (model, model_manifest) = read_model(model_dir)?;
    let origin = model_dir.join(MODEL_MANIFEST_FILE).display().to_string();
    evaluate::check_lineage(&model_manifest, &data_manifest, &origin)?;
    Ok(Candidate {
        data,
        data_manifest,
        model,
        model_manifest,
        origin,
    })
}
