//! The forecast step: a recommendation from the promoted model under guardrails, every fallback
//! with its reason, the ConfigMap, the HPA patch in assisted mode, the Prometheus text.

mod common;

use std::path::Path;

use common::*;
use predicates::str::contains;

const LOOSE_GATE: &str = "gate:\n  min_improvement: 0\n  coverage_tolerance: 1\n  under_provisioning_baseline: reactive\n  oscillation_tolerance: 100\n  replica_minutes_increase: 100\n";
const CAPACITY: &str = "capacity:\n  per_replica: 10\n  min_replicas: 2\n  max_replicas: 40\n";

/// A promoted model of workload `fc` in `root/store`, trained on 6 days of `data.csv`.
fn promoted(root: &Path) {
    std::fs::write(root.join("data.csv"), small_csv(6)).unwrap();
    std::fs::write(
        root.join("w.yaml"),
        small_config("fc", "data.csv", &format!("{CAPACITY}{LOOSE_GATE}")),
    )
    .unwrap();
    mttd()
        .current_dir(root)
        .args(["run", "--config", "w.yaml", "--store", "store"])
        .assert()
        .success()
        .stdout(contains("decision        promote"))
        .stdout(contains("recommendation  "));
}

fn forecast(root: &Path, config: &str, extra: &[&str]) -> serde_json::Value {
    let out = root.join("out");
    let _ = std::fs::remove_dir_all(&out);
    step("forecast")
        .current_dir(root)
        .args(["--config", config, "--store", "store", "--out", "out"])
        .args(extra)
        .assert()
        .success();
    let path = out.join("recommendation.json");
    assert_valid_document(&path);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn fallback(rec: &serde_json::Value) -> &str {
    rec["fallback"]["reason"].as_str().unwrap_or("none")
}

#[test]
fn no_promoted_model_falls_back() {
    let dir = assert_fs::TempDir::new().unwrap();
    std::fs::write(dir.path().join("data.csv"), small_csv(6)).unwrap();
    std::fs::write(dir.path().join("w.yaml"), small_config("fc", "data.csv", CAPACITY)).unwrap();
    let rec = forecast(dir.path(), "w.yaml", &["--now", "latest"]);
    assert_eq!(fallback(&rec), "no-promoted-model");
    assert!(rec.get("replicas").is_none(), "nothing beyond the HPA is recommended");
}

#[test]
fn recommendation_and_each_fallback() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    promoted(root);

    // Fresh data: a recommendation within [min, max], for the upper bound.
    let rec = forecast(root, "w.yaml", &["--now", "latest"]);
    assert_eq!(fallback(&rec), "none");
    let upper = rec["forecast"]["upper"].as_f64().unwrap();
    assert_eq!(rec["needed_replicas"].as_u64().unwrap(), (upper / 10.0).ceil() as u64);
    let replicas = rec["replicas"].as_u64().unwrap();
    assert!((2..=40).contains(&replicas));
    assert!(
        !root.join("out/hpa-patch.yaml").exists(),
        "advisory mode changes nothing"
    );
    let prom = std::fs::read_to_string(root.join("out/forecast.prom")).unwrap();
    assert!(prom.contains(&format!(
        "mttd_recommended_replicas{{workload=\"fc\",mode=\"advisory\"}} {replicas}\n"
    )));
    let cm: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join("out/configmap.yaml")).unwrap()).unwrap();
    assert_eq!(
        (cm["apiVersion"].as_str(), cm["kind"].as_str()),
        (Some("v1"), Some("ConfigMap"))
    );
    assert_eq!(cm["metadata"]["name"], "mttd-forecast-fc");
    assert!(
        cm["data"].as_object().unwrap().values().all(|v| v.is_string()),
        "ConfigMap data values are strings"
    );
    let embedded: serde_json::Value =
        serde_json::from_str(cm["data"]["recommendation.json"].as_str().unwrap()).unwrap();
    assert_eq!(embedded, rec);

    // Stale metrics.
    let rec = forecast(root, "w.yaml", &["--now", "2027-01-01T00:00:00Z"]);
    assert_eq!(fallback(&rec), "metrics-stale");

    // The latest minutes of a signal missing: the feature window is incomplete.
    let csv: String = small_csv(6)
        .lines()
        .filter(|l| !(l.contains(",cpu,") && l >= &"2026-01-10T23:50"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(root.join("late.csv"), csv).unwrap();
    std::fs::write(root.join("late.yaml"), small_config("fc", "late.csv", CAPACITY)).unwrap();
    assert_eq!(
        fallback(&forecast(root, "late.yaml", &["--now", "latest"])),
        "feature-window-incomplete"
    );

    // The model needs a signal this config does not provide.
    let no_signal = std::fs::read_to_string(root.join("w.yaml"))
        .unwrap()
        .replace("  features: [cpu]\n", "");
    std::fs::write(root.join("nosignal.yaml"), no_signal).unwrap();
    assert_eq!(
        fallback(&forecast(root, "nosignal.yaml", &["--now", "latest"])),
        "feature-mismatch"
    );

    // An interval wider than allowed.
    let narrow = format!(
        "{}deploy:\n  max_relative_interval_width: 0.0001\n",
        std::fs::read_to_string(root.join("w.yaml")).unwrap()
    );
    std::fs::write(root.join("narrow.yaml"), narrow).unwrap();
    let rec = forecast(root, "narrow.yaml", &["--now", "latest"]);
    assert_eq!(fallback(&rec), "interval-too-wide");
    assert!(rec["forecast"].is_object(), "the forecast is shown, not acted on");
    assert!(rec.get("replicas").is_none());
}

#[test]
fn assisted_mode_patches_the_hpa_floor_within_the_guardrails() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    promoted(root);
    let assisted = format!(
        "{}deploy:\n  mode: assisted\n  max_scale_down_step: 2\n  hpa_name: api\n",
        std::fs::read_to_string(root.join("w.yaml")).unwrap()
    );
    std::fs::write(root.join("assisted.yaml"), assisted).unwrap();
    // 39 replicas run now and the forecast needs far fewer: at most 2 fewer are recommended.
    let rec = forecast(root, "assisted.yaml", &["--now", "latest", "--current-replicas", "39"]);
    assert_eq!(rec["replicas"], 37);
    assert!(rec["guardrails"][0].as_str().unwrap().contains("max scale-down step 2"));
    let patch: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join("out/hpa-patch.yaml")).unwrap()).unwrap();
    assert_eq!(patch["apiVersion"], "autoscaling/v2");
    assert_eq!(patch["kind"], "HorizontalPodAutoscaler");
    assert_eq!(patch["metadata"]["name"], "api");
    assert_eq!(patch["spec"]["minReplicas"], 37);
    assert!(
        patch["spec"]["minReplicas"].is_u64(),
        "an integer, as the Kubernetes API requires"
    );
}
