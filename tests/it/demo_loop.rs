//! The whole loop: `mttd run --demo` twice gives v1 and v2 with their own decisions, every
//! document valid against its schema; the step programs, called one by one as Argo calls them,
//! give the same bytes; the same inputs always give the same bytes.

use crate::common;

use common::*;
use predicates::str::contains;

#[test]
fn demo_twice_leaves_v1_and_v2_with_valid_documents() {
    let dir = assert_fs::TempDir::new().unwrap();
    mttd()
        .current_dir(dir.path())
        .args(["run", "--demo"])
        .assert()
        .success()
        .stdout(contains("mttd-model:v1"))
        .stdout(contains("decision        promote"))
        .stdout(contains("control seasonal-naive"))
        .stdout(contains(
            "recommendation  11 replicas (advisory, model v1) for 2026-02-04T00:14:00Z",
        ));
    mttd()
        .current_dir(dir.path())
        .args(["run", "--demo"])
        .assert()
        .success()
        .stdout(contains("mttd-model:v2"))
        .stdout(contains("control v1 (elastic-net)"));

    let store = dir.path().join("mttd-store/demo-api");
    let registry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("registry.json")).unwrap()).unwrap();
    let versions = registry["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["status"], "promoted");
    assert_eq!(
        versions[1]["decision"], "reject",
        "the same data again cannot beat v1 by the margin"
    );
    assert_eq!(registry["promoted"], 1);
    assert!(store.join("changelog/00000002.json").is_file());
    for file in json_files(dir.path()) {
        assert_valid_document(&file);
    }
    let report = std::fs::read_to_string(store.join("models/v1/report.md")).unwrap();
    assert!(report.contains("forecast.svg") && report.contains("| elastic-net |"));
    // The report says how the model sees the level, on what evidence, and how its interval
    // follows the level — as the model document and its manifest record them.
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("models/v1/model.json")).unwrap()).unwrap();
    let scale = if model["relative"].is_object() {
        "Relative to the level"
    } else {
        "In the target's units"
    };
    assert!(report.contains("## The model") && report.contains(scale), "{report}");
    assert!(
        report.contains("Chosen on the calibration window's MAE (absolute "),
        "{report}"
    );
    assert!(report.contains("wider and narrower with the square root"), "{report}");
    let svg = std::fs::read_to_string(store.join("models/v1/forecast.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<path").count() == 3);
}

#[test]
fn step_programs_give_the_same_bytes_as_mttd_run() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    mttd()
        .current_dir(root)
        .args(["run", "--demo", "--store", "s1"])
        .assert()
        .success();
    let config = root.join("mttd-out/demo/mttd.yaml");
    let out = root.join("steps");
    let p = |s: &str| out.join(s).display().to_string();
    let config = config.display().to_string();
    step("extract-features")
        .args(["--config", &config, "--out", &p("dataset")])
        .assert()
        .success();
    step("train")
        .args(["--config", &config, "--dataset", &p("dataset"), "--out", &p("model")])
        .assert()
        .success();
    step("validate")
        .args([
            "--dataset",
            &p("dataset"),
            "--model",
            &p("model"),
            "--out",
            &p("validation"),
        ])
        .assert()
        .success();
    let store = root.join("s2").display().to_string();
    step("shadow-compare")
        .args([
            "--config",
            &config,
            "--dataset",
            &p("dataset"),
            "--model",
            &p("model"),
            "--store",
            &store,
            "--out",
            &p("comparison"),
        ])
        .assert()
        .success();
    // The demo config's gate section, as a policy file of its own.
    let policy = root.join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: mttd/v1\nkind: GatePolicy\nunder_provisioning_baseline: reactive\n",
    )
    .unwrap();
    step("gate")
        .args(["--policy", policy.to_str().unwrap()])
        .args([
            "--validation",
            &p("validation"),
            "--comparison",
            &p("comparison"),
            "--model",
            &p("model"),
            "--out",
            &p("decision"),
        ])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(out.join("decision/decision")).unwrap(),
        "promote"
    );
    step("publish")
        .args([
            "--store",
            &store,
            "--dataset",
            &p("dataset"),
            "--model",
            &p("model"),
            "--validation",
            &p("validation"),
        ])
        .args([
            "--comparison",
            &p("comparison"),
            "--decision",
            &p("decision"),
            "--triggered-by",
            "test",
        ])
        .assert()
        .success();
    let run = root.join("mttd-out/demo-api");
    for file in [
        "dataset/dataset.parquet",
        "dataset/dataset.manifest.json",
        "model/model.json",
        "model/model.manifest.json",
        "validation/validation.json",
        "validation/report.md",
        "validation/forecast.svg",
        "comparison/comparison.json",
        "decision/decision.json",
    ] {
        let a = std::fs::read(run.join(file)).unwrap();
        let b = std::fs::read(out.join(file)).unwrap();
        assert!(a == b, "{file} differs between mttd run and the step programs");
    }
    // The unknown flag is refused by the step's own parser.
    step("train")
        .args(["--config", &config, "--datset", "x", "--out", "y"])
        .assert()
        .failure()
        .stderr(contains("--datset"));
}

#[test]
fn a_promoted_model_changed_in_the_store_is_refused() {
    let dir = assert_fs::TempDir::new().unwrap();
    mttd()
        .current_dir(dir.path())
        .args(["run", "--demo"])
        .assert()
        .success();
    let model = dir.path().join("mttd-store/demo-api/models/v1/model.json");
    let text = std::fs::read_to_string(&model)
        .unwrap()
        .replacen("\"intercept\": ", "\"intercept\": 1", 1);
    std::fs::write(&model, text).unwrap();
    mttd()
        .current_dir(dir.path())
        .args(["run", "--demo"])
        .assert()
        .failure()
        .stderr(contains("demo-api/models/v1/model.json hashes to"))
        .stderr(contains("altered"));
    assert!(!dir.path().join("mttd-store/demo-api/models/v2").exists());
}

#[test]
fn assess_gives_a_verdict_with_its_figures_and_reasons() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    std::fs::write(root.join("data.csv"), small_csv(6)).unwrap();
    let capacity = "capacity:\n  per_replica: 10\n  min_replicas: 2\n  max_replicas: 40\n";
    std::fs::write(root.join("w.yaml"), small_config("fc", "data.csv", capacity)).unwrap();
    let out = mttd()
        .current_dir(root)
        .args(["assess", "--config", "w.yaml", "--out", "assessment.json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let path = root.join("assessment.json");
    assert_valid_document(&path);
    let assessment: mttd::contract::Assessment = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // Six days: a daily period, three of them at least, so the shape is measured.
    assert_eq!(assessment.figures.shape.period, "1d");
    assert!(assessment.figures.shape.seasonality_strength.is_some());
    assert!(assessment.figures.replay.is_some(), "capacity: gives a replay");
    assert_eq!(mttd::assess::verdict(&assessment.figures).0, assessment.verdict);
    let stdout = String::from_utf8(out).unwrap();
    assert!(
        stdout.starts_with(&format!("fc: {}\n", assessment.verdict.as_str())),
        "{stdout}"
    );
    assert!(stdout.contains("skill over last-value"), "{stdout}");
    // The same inputs, the same bytes.
    let first = std::fs::read(&path).unwrap();
    mttd()
        .current_dir(root)
        .args(["assess", "--config", "w.yaml", "--out", "again.json"])
        .assert()
        .success();
    assert_eq!(std::fs::read(root.join("again.json")).unwrap(), first);
}

#[test]
fn calendar_holidays_are_a_feature_of_the_forecast_time() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    std::fs::write(root.join("data.csv"), small_csv(6)).unwrap();
    let calendar = "label:\n  horizon: 15m\ncalendar:\n  holidays:\n  - {date: 2026-01-07, name: orthodox christmas}\n";
    std::fs::write(root.join("w.yaml"), small_config("fc", "data.csv", calendar)).unwrap();
    mttd()
        .current_dir(root)
        .args(["extract-features", "--config", "w.yaml", "--out", "dataset"])
        .assert()
        .success();
    let bytes = std::fs::read(root.join("dataset/dataset.parquet")).unwrap();
    let data = mttd::dataset::Dataset::from_parquet(&bytes, "dataset.parquet").unwrap();
    let holiday = data.column("calendar_holiday").expect("the holiday column");
    let day = mttd::time::parse_timestamp("2026-01-07T00:00:00Z").unwrap() / 86_400;
    let mut ones = 0;
    for (t, v) in data.timestamps.iter().zip(holiday) {
        let on_holiday = (t + 900).div_euclid(86_400) == day;
        assert_eq!(*v, f64::from(u8::from(on_holiday)), "at {t}");
        ones += usize::from(on_holiday);
    }
    assert!(ones >= 1000, "a whole day of rows: {ones}");
    // Without a calendar, no such column: a config without one behaves as before.
    std::fs::write(root.join("plain.yaml"), small_config("fc", "data.csv", "")).unwrap();
    mttd()
        .current_dir(root)
        .args(["extract-features", "--config", "plain.yaml", "--out", "plain"])
        .assert()
        .success();
    let manifest = std::fs::read_to_string(root.join("plain/dataset.manifest.json")).unwrap();
    assert!(!manifest.contains("calendar_holiday"));

    // The replay's plot marks the calendar's events and holidays in its window (the last day).
    let marked = format!(
        "capacity:\n  per_replica: 10\n{calendar}  events:\n  - {{name: launch, start: 2026-01-10T12:00:00Z, end: 2026-01-10T18:00:00Z, uplift: 0.5}}\n"
    );
    std::fs::write(root.join("marked.yaml"), small_config("fc", "data.csv", &marked)).unwrap();
    mttd()
        .current_dir(root)
        .args(["run", "--config", "marked.yaml", "--store", "store"])
        .assert()
        .success();
    let svg = std::fs::read_to_string(root.join("mttd-out/fc/comparison/replay.svg")).unwrap();
    assert!(
        svg.contains("launch starts") && svg.contains("launch ends"),
        "the event marked"
    );
    assert!(
        !svg.contains("orthodox christmas"),
        "a holiday outside the plot is not drawn"
    );
}
