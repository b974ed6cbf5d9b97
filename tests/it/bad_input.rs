//! Bad input is refused with one clear line naming the file and the row or field, a non-zero
//! exit, and nothing written to the store.

use crate::common;

use std::path::Path;

use common::*;
use predicates::prelude::*;

/// Runs the loop on `data` (file name, bytes) with `config_extra`; expects failure with
/// every one of `expected` in stderr and no trace of the workload in the store.
fn refused(data_name: &str, data: &[u8], config: Option<&str>, expected: &[&str]) {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    std::fs::write(root.join(data_name), data).unwrap();
    let config_text = config
        .map(str::to_string)
        .unwrap_or_else(|| small_config("bad", data_name, ""));
    std::fs::write(root.join("w.yaml"), config_text).unwrap();
    let mut assert = mttd()
        .current_dir(root)
        .args(["run", "--config", "w.yaml", "--store", "store"])
        .assert()
        .failure();
    for e in expected {
        assert = assert.stderr(predicate::str::contains(*e));
    }
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "one error line: {stderr}");
    assert!(
        !Path::new(&root.join("store/bad")).exists(),
        "nothing may reach the store"
    );
    assert!(
        !root.join("mttd-out/bad/model").exists(),
        "no model is trained on refused input"
    );
}

fn with_row(row_after_header: &str) -> Vec<u8> {
    let csv = small_csv(5);
    let (header, rest) = csv.split_once('\n').unwrap();
    format!("{header}\n{row_after_header}\n{rest}").into_bytes()
}

#[test]
fn non_numeric_value() {
    refused(
        "d.csv",
        &with_row("2026-01-05T00:00:00Z,rps,lots"),
        None,
        &["d.csv: row 2, column `value`: `lots` is not a finite number"],
    );
}

#[test]
fn nan_value() {
    refused(
        "d.csv",
        &with_row("2026-01-05T00:00:00Z,rps,NaN"),
        None,
        &["d.csv: row 2, column `value`"],
    );
}

/// One "never" sentinel, or one millisecond timestamp among seconds, used to make the grid span
/// millennia and abort the process allocating it (review: security-and-robustness H2).
#[test]
fn a_sentinel_or_millisecond_timestamp_is_refused_before_any_allocation() {
    let csv = small_csv(5);
    for (row, shown) in [
        ("9999-12-31T23:59:00Z,rps,3", "9999-12-31T23:59:00Z"),
        ("1767571200000,rps,3", "1767571200000"),
    ] {
        let data = format!("{}{row}\n", csv);
        let rows = data.lines().count();
        refused(
            "d.csv",
            data.as_bytes(),
            None,
            &[
                &format!("d.csv: row {rows}, column `timestamp`: `{shown}` is outside"),
                "a sentinel, or milliseconds among seconds?",
            ],
        );
    }
}

/// A forecast over such an export falls back (metrics-missing) instead of aborting.
#[test]
fn a_sentinel_timestamp_in_a_forecast_is_a_fallback() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    let data = format!("{}9999-12-31T23:59:00Z,rps,3\n", small_csv(5));
    std::fs::write(root.join("d.csv"), data).unwrap();
    std::fs::write(
        root.join("w.yaml"),
        small_config("bad", "d.csv", "capacity:\n  per_replica: 10\n"),
    )
    .unwrap();
    step("forecast")
        .current_dir(root)
        .args(["--config", "w.yaml", "--store", "store", "--out", "out"])
        .assert()
        .success();
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("out/recommendation.json")).unwrap()).unwrap();
    assert_eq!(rec["fallback"]["reason"], "metrics-missing");
    assert!(rec["fallback"]["detail"].as_str().unwrap().contains("outside"));
}

#[test]
fn unparsable_timestamp() {
    refused(
        "d.csv",
        &with_row("05/01/2026 10:00,rps,3"),
        None,
        &["d.csv: row 2, column `timestamp`: `05/01/2026 10:00` is not an RFC 3339 timestamp or whole Unix seconds"],
    );
}

#[test]
fn duplicate_timestamps() {
    refused(
        "d.csv",
        &with_row("2026-01-05T00:00:00Z,rps,3"),
        None,
        &[
            "d.csv: row ",
            "duplicate timestamp 2026-01-05T00:00:00Z for series `rps`",
        ],
    );
}

#[test]
fn target_series_missing() {
    let csv = small_csv(5).replace(",rps,", ",requests,");
    refused(
        "d.csv",
        csv.as_bytes(),
        None,
        &["d.csv: column `series`: series `rps` named in the config is not in the data (found: cpu, requests)"],
    );
}

#[test]
fn horizon_longer_than_the_data() {
    let csv: String = small_csv(1).lines().take(21).map(|l| format!("{l}\n")).collect();
    refused(
        "d.csv",
        csv.as_bytes(),
        Some(&small_config("bad", "d.csv", "label:\n  horizon: 15m\n")),
        &["the horizon 15m is longer than the data"],
    );
}

#[test]
fn data_too_short_for_the_split() {
    refused("d.csv", small_csv(1).as_bytes(), None, &["too short"]);
}

#[test]
fn config_field_of_the_wrong_type() {
    refused(
        "d.csv",
        small_csv(5).as_bytes(),
        Some(&small_config("bad", "d.csv", "resolution: 5\n")),
        &["w.yaml: field `/resolution`", "string"],
    );
}

#[test]
fn misspelled_config_field() {
    refused(
        "d.csv",
        small_csv(5).as_bytes(),
        Some(&small_config("bad", "d.csv", "label:\n  horizn: 15m\n")),
        &["w.yaml: field `/label`", "horizn"],
    );
}

#[test]
fn duration_not_a_multiple_of_the_resolution() {
    refused(
        "d.csv",
        small_csv(5).as_bytes(),
        Some(&small_config(
            "bad",
            "d.csv",
            "resolution: 2m\nlabel:\n  horizon: 15m\n",
        )),
        &["w.yaml: field `/label/horizon`: 15m is not a whole number of the resolution 2m"],
    );
}

#[test]
fn truncated_parquet_source() {
    use polars::prelude::*;
    let n = 5 * 1440;
    let mut df = DataFrame::new(
        n,
        vec![
            Column::new(
                "timestamp".into(),
                (0..n as i64).map(|m| 1_767_571_200 + m * 60).collect::<Vec<_>>(),
            ),
            Column::new("series".into(), vec!["rps"; n]),
            Column::new(
                "value".into(),
                (0..n).map(|m| 100.0 + (m % 60) as f64).collect::<Vec<_>>(),
            ),
        ],
    )
    .unwrap();
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut df).unwrap();
    let config = "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: bad\nsource:\n  file:\n    path: d.parquet\nsignals:\n  target: rps\nsplit:\n  shadow_window: 1d\n";
    // The whole file works; the same file cut in half is refused.
    let dir = assert_fs::TempDir::new().unwrap();
    std::fs::write(dir.path().join("d.parquet"), &bytes).unwrap();
    std::fs::write(dir.path().join("w.yaml"), config).unwrap();
    mttd()
        .current_dir(dir.path())
        .args(["run", "--config", "w.yaml", "--store", "store"])
        .assert()
        .success();
    refused(
        "d.parquet",
        &bytes[..bytes.len() / 2],
        Some(config),
        &["d.parquet: file: not a readable Parquet file"],
    );
}

/// A folder with `d.csv` (5 days), `w.yaml` and `data/`, the dataset extract-features made.
fn extracted() -> assert_fs::TempDir {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    std::fs::write(root.join("d.csv"), small_csv(5)).unwrap();
    std::fs::write(root.join("w.yaml"), small_config("bad", "d.csv", "")).unwrap();
    mttd()
        .current_dir(root)
        .args(["extract-features", "--config", "w.yaml", "--out", "data"])
        .assert()
        .success();
    dir
}

#[test]
fn truncated_dataset_between_steps() {
    let dir = extracted();
    let root = dir.path();
    let parquet = root.join("data/dataset.parquet");
    let bytes = std::fs::read(&parquet).unwrap();
    std::fs::write(&parquet, &bytes[..bytes.len() - 100]).unwrap();
    mttd()
        .current_dir(root)
        .args(["train", "--config", "w.yaml", "--dataset", "data", "--out", "model"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("data/dataset.parquet: sha256: is "))
        .stderr(predicate::str::contains("file changed or truncated"));
    assert!(!root.join("model").exists());
}

/// A dataset manifest is read as untrusted input: a zero resolution (a division by zero in
/// shadow-compare) or a horizon that is not its steps is refused with the field named
/// (review: security-and-robustness L3).
#[test]
fn a_manifest_that_cannot_be_right_is_refused() {
    let dir = extracted();
    let root = dir.path();
    let manifest = root.join("data/dataset.manifest.json");
    let original = std::fs::read_to_string(&manifest).unwrap();
    for (from, to, field) in [
        (
            "\"resolution\": \"1m\"",
            "\"resolution\": \"0s\"",
            "field `/resolution`",
        ),
        (
            "\"horizon_steps\": 15",
            "\"horizon_steps\": 1500000",
            "field `/label/horizon_steps`",
        ),
    ] {
        assert!(original.contains(from), "{from}");
        std::fs::write(&manifest, original.replace(from, to)).unwrap();
        mttd()
            .current_dir(root)
            .args(["train", "--config", "w.yaml", "--dataset", "data", "--out", "model"])
            .assert()
            .failure()
            .stderr(predicate::str::contains("dataset.manifest.json: "))
            .stderr(predicate::str::contains(field));
    }
}

/// publish recomputes the gate's decision from the validation, the comparison and the
/// decision's own policy: a decision.json edited to say more than the gate did is refused
/// (review: security-and-robustness M3, "publish trusts decision.json as given").
#[test]
fn publish_refuses_a_decision_the_gate_did_not_make() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    mttd()
        .current_dir(root)
        .args(["run", "--demo", "--store", "first"])
        .assert()
        .success();
    let run = root.join("mttd-out/demo-api");
    let decision = run.join("decision/decision.json");
    let text = std::fs::read_to_string(&decision).unwrap();
    assert!(text.contains("\"decision\": \"promote\""), "{text}");
    std::fs::write(
        &decision,
        text.replace("\"decision\": \"promote\"", "\"decision\": \"reject\""),
    )
    .unwrap();
    let folder = |name: &str| run.join(name).display().to_string();
    mttd()
        .current_dir(root)
        .args(["publish", "--store", "second"])
        .args(["--dataset", &folder("dataset"), "--model", &folder("model")])
        .args([
            "--validation",
            &folder("validation"),
            "--comparison",
            &folder("comparison"),
        ])
        .args(["--decision", &folder("decision")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not follow from the validation"))
        .stderr(predicate::str::contains("the gate decides `promote`"));
    assert!(!root.join("second/demo-api").exists(), "nothing published");
}

/// Every crash the fuzz targets found is refused with a clear error here (FUZZING.md): a
/// Parquet export that made polars' reader panic ("thrift bool field").
#[test]
fn parquet_files_found_by_fuzzing_are_refused_not_a_crash() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/parquet_source");
    let mut found = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let config = small_config("bad", "d.parquet", "");
        refused(
            "d.parquet",
            &bytes,
            Some(&config),
            &["d.parquet: file: not a readable Parquet file"],
        );
        found += 1;
    }
    assert!(found > 0, "the regressions are in fuzz/regressions/parquet_source");
}

/// A backtest it cannot run says why in one line and writes nothing: no capacity to replay, an
/// empty window.
#[test]
fn a_backtest_without_capacity_or_with_an_empty_window_is_refused_and_writes_nothing() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    std::fs::write(root.join("d.csv"), small_csv(3)).unwrap();
    std::fs::write(root.join("w.yaml"), small_config("bt", "d.csv", "")).unwrap();
    mttd()
        .current_dir(root)
        .args(["backtest", "--config", "w.yaml", "--out", "bt"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("needs `capacity:`"));
    std::fs::write(
        root.join("w.yaml"),
        small_config("bt", "d.csv", "capacity:\n  per_replica: 10\n"),
    )
    .unwrap();
    mttd()
        .current_dir(root)
        .args(["backtest", "--config", "w.yaml", "--out", "bt", "--history", "30d"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is empty"));
    assert!(!root.join("bt").exists(), "nothing written");
}
