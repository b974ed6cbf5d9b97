//! The workload config, as a step reads it: YAML, the schema, then the checks the schema cannot
//! make. Any input: an error or a config, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mttd::contract::{Document, WorkloadConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = WorkloadConfig::from_bytes(data, "w.yaml") {
        let _ = config.check("w.yaml");
    }
});
