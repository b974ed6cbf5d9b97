//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The project's `shared/` folder (real traces, Argo schemas): `MTTD_SHARED`, or `../shared`
/// beside the repository. A test that needs it fails saying so when it is absent.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("MTTD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("data/traces").is_dir(),
        "this test needs the shared folder with data/traces/ (the real workload traces); it is not at {}. \
         Set MTTD_SHARED to its path.",
        dir.display()
    );
    dir
}

pub fn mttd() -> Command {
    Command::cargo_bin("mttd").expect("the mttd binary is built")
}

pub fn step(name: &str) -> Command {
    Command::cargo_bin(format!("mttd-{name}")).expect("the step binary is built")
}

/// Validates a JSON document against the committed schema of its `kind`; panics naming the
/// file and the problem.
pub fn assert_valid_document(path: &Path) {
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let kind = value["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("{} has no kind", path.display()));
    assert_eq!(value["apiVersion"], "mttd/v1", "{}", path.display());
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/{kind}.schema.json"));
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{} is not a valid {kind}: {errors:?}",
        path.display()
    );
}

/// Every `.json` file under `dir`, sorted.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A small long-format CSV: `days` of 1-minute `rps` (daily cycle) and `cpu`.
pub fn small_csv(days: usize) -> String {
    let start = 1_767_571_200i64;
    let mut s = String::from("timestamp,series,value\n");
    for m in 0..days * 1440 {
        let t = start + m as i64 * 60;
        let ts = chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ");
        let rps = 100.0 + 50.0 * (m as f64 * std::f64::consts::TAU / 1440.0).sin() + ((m * 7919) % 13) as f64;
        s.push_str(&format!("{ts},rps,{rps:.3}\n{ts},cpu,{:.4}\n", rps * 0.01));
    }
    s
}

pub fn small_config(workload: &str, data_file: &str, extra: &str) -> String {
    format!(
        "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: {workload}\nsource:\n  file:\n    path: {data_file}\nsignals:\n  target: rps\n  features: [cpu]\nsplit:\n  shadow_window: 1d\n{extra}"
    )
}
