//! The contract between the steps: every type that appears in `schemas/` (the workload config and
//! its parts, and every document a step writes), the machinery every document shares, and
//! [`layout`], the name of every file and store key a step uses.
//!
//! This is the bottom layer: it imports nothing of mttd but `error` and `time` (a test checks
//! it). A change here is a change of `schemas/`: regenerate them with `mttd schemas --out schemas`.

pub mod assessment;
pub mod backtest;
pub mod calendar;
pub mod capacity;
pub mod comparison;
pub mod dataset;
pub mod deploy;
pub mod document;
pub mod fleet;
pub mod gate;
pub mod interval;
pub mod layout;
pub mod model;
pub mod registry;
pub mod score;
pub mod source;
pub mod validation;
pub mod workload;

use std::path::Path;

pub use assessment::Assessment;
pub use capacity::{CapacityConfig, HpaConfig, PredictiveConfig};
pub use comparison::{Comparison, ReplayReport};
pub use dataset::{DatasetManifest, LabelKind};
pub use deploy::{DeployConfig, Recommendation};
pub use document::{canonical_json, sha256_file, sha256_hex, validate_against, write_atomic, ApiVersion, Document};
pub use gate::{Decision, GatePolicy, Verdict};
pub use interval::Interval;
pub use model::{Model, ModelConfig, ModelKind, ModelManifest};
pub use registry::{ChangeLogEntry, Registry};
pub use source::SourceConfig;
pub use validation::{Metrics, Validation};
pub use workload::WorkloadConfig;

/// The list of every document kind, for schema generation and its drift test.
pub fn all_schemas() -> Vec<(&'static str, serde_json::Value)> {
    fn entry<D: Document>() -> (&'static str, serde_json::Value) {
        (D::KIND, D::schema())
    }
    vec![
        entry::<WorkloadConfig>(),
        entry::<GatePolicy>(),
        entry::<DatasetManifest>(),
        entry::<Model>(),
        entry::<ModelManifest>(),
        entry::<Validation>(),
        entry::<Comparison>(),
        entry::<Decision>(),
        entry::<Registry>(),
        entry::<ChangeLogEntry>(),
        entry::<Recommendation>(),
        entry::<Assessment>(),
        entry::<score::Score>(),
        entry::<registry::ShadowTrials>(),
        entry::<backtest::Backtest>(),
        entry::<fleet::FleetRun>(),
    ]
}

/// Writes every schema to `dir/<kind>.schema.json`.
pub fn write_schemas(dir: &Path) -> crate::error::Result<()> {
    for (kind, schema) in all_schemas() {
        write_atomic(&dir.join(format!("{kind}.schema.json")), &canonical_json(&schema))?;
    }
    Ok(())
}
