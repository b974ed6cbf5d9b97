//! The same dataset and config give byte-identical dataset, model and validation.

use crate::common;

use common::*;

#[test]
fn same_inputs_same_bytes() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    std::fs::write(root.join("data.csv"), small_csv(6)).unwrap();
    std::fs::write(root.join("w.yaml"), small_config("det", "data.csv", "")).unwrap();
    let config = root.join("w.yaml").display().to_string();
    for run in ["a", "b"] {
        let p = |s: &str| root.join(run).join(s).display().to_string();
        mttd()
            .args(["extract-features", "--config", &config, "--out", &p("data")])
            .assert()
            .success();
        mttd()
            .args([
                "train",
                "--config",
                &config,
                "--dataset",
                &p("data"),
                "--out",
                &p("model"),
            ])
            .assert()
            .success();
        mttd()
            .args([
                "validate",
                "--dataset",
                &p("data"),
                "--model",
                &p("model"),
                "--out",
                &p("v"),
            ])
            .assert()
            .success();
    }
    for file in [
        "data/dataset.parquet",
        "data/dataset.manifest.json",
        "model/model.json",
        "model/model.manifest.json",
        "v/validation.json",
        "v/report.md",
    ] {
        assert!(
            std::fs::read(root.join("a").join(file)).unwrap() == std::fs::read(root.join("b").join(file)).unwrap(),
            "{file} differs between two runs on the same inputs"
        );
    }
}
