//! The committed JSON Schemas are the ones the types generate, and documents are refused with
//! the file, the field and the problem.

use mttd::contract::{all_schemas, canonical_json, Document};

#[test]
fn committed_schemas_match_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    let mut expected: Vec<String> = all_schemas().iter().map(|(k, _)| format!("{k}.schema.json")).collect();
    expected.sort();
    assert_eq!(files, expected, "schemas/ holds exactly one schema per document kind");
    for (kind, schema) in all_schemas() {
        let committed = std::fs::read(dir.join(format!("{kind}.schema.json"))).unwrap();
        assert!(
            committed == canonical_json(&schema),
            "schemas/{kind}.schema.json differs from the type: run `cargo run -- schemas --out schemas`"
        );
    }
}

#[test]
fn a_misspelled_config_field_is_named() {
    let err = mttd::contract::WorkloadConfig::from_bytes(
        b"apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: a\nsource: {file: {path: x.csv}}\nsignals: {target: y}\nlabel: {horizn: 15m}\n",
        "w.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("w.yaml: field `/label`"), "{err}");
    assert!(err.contains("horizn"), "{err}");
}

#[test]
fn a_wrong_kind_is_refused() {
    let err = mttd::contract::Decision::from_bytes(br#"{"apiVersion":"mttd/v1","kind":"Model"}"#, "d.json")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("d.json: field `"), "{err}");
}
