//! Every document the store and the step folders hold, read as the steps read them (schema,
//! then serde, then the model's own checks); the recommendation also as the forecast's state.
//! Anyone with write access to the store chooses these bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mttd::contract::{
    ChangeLogEntry, Comparison, DatasetManifest, Decision, Document, Model, ModelManifest, Recommendation, Registry,
    Validation,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Model::from_bytes(data, "model.json") {
        let _ = model.check("model.json");
    }
    let _ = ModelManifest::from_bytes(data, "model.manifest.json");
    let _ = DatasetManifest::from_bytes(data, "dataset.manifest.json");
    let _ = Validation::from_bytes(data, "validation.json");
    let _ = Comparison::from_bytes(data, "comparison.json");
    let _ = Decision::from_bytes(data, "decision.json");
    let _ = ChangeLogEntry::from_bytes(data, "00000001.json");
    let _ = Registry::from_bytes(data, "registry.json");
    let _ = Recommendation::from_bytes(data, "recommendation.json");
});
