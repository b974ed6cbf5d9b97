//! `mttd fleet-forecast`: many workloads in one process, each forecast as `mttd forecast` makes
//! it, and each alone — a config that cannot be read fails only itself, missing metrics, a
//! tampered model and a workload without a model fall back alone with their reasons.

use crate::common;

use std::path::Path;

use common::*;

const CAPACITY: &str = "capacity:\n  per_replica: 10\n  min_replicas: 2\n  max_replicas: 40\n";
const LOOSE: &str = "gate:\n  min_improvement: 0\n  coverage_tolerance: 1\n  under_provisioning_baseline: reactive\n  oscillation_tolerance: 100\n  replica_minutes_increase: 100\n";

fn config(root: &Path, name: &str, data: &str) {
    std::fs::write(
        root.join("configs").join(format!("{name}.yaml")),
        small_config(
            name,
            data,
            &format!("{CAPACITY}{LOOSE}deploy:\n  max_staleness: 1000d\n"),
        ),
    )
    .unwrap();
}

/// `mttd fleet-forecast` over `configs/` into `out` (as of the export's latest sample unless
/// `extra` says `--now`).
fn fleet(root: &Path, out: &str, extra: &[&str]) {
    let now: &[&str] = if extra.contains(&"--now") {
        &[]
    } else {
        &["--now", "latest"]
    };
    mttd()
        .current_dir(root)
        .args(["fleet-forecast", "--configs", "configs", "--store", "store"])
        .args(now)
        .args(["--out", out])
        .args(extra)
        .assert()
        .success();
}

fn read(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn one_process_forecasts_many_workloads_and_a_broken_one_falls_back_alone() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("configs")).unwrap();
    std::fs::write(root.join("configs/data.csv"), small_csv(6)).unwrap();
    let healthy = ["a", "b", "c", "d"];
    for name in healthy.iter().chain(&["tampered"]) {
        config(root, name, "data.csv");
        mttd()
            .current_dir(root)
            .args(["run", "--config", &format!("configs/{name}.yaml"), "--store", "store"])
            .assert()
            .success();
    }
    // A model changed after publication; metrics that are not there; no model at all; a
    // config that is not one.
    let model = root.join("store/tampered/models/v1/model.json");
    let text = std::fs::read_to_string(&model)
        .unwrap()
        .replacen("\"intercept\":", "\"intercept\": 1e3 + ", 0);
    std::fs::write(&model, text.replace("\"algorithm\"", " \"algorithm\"")).unwrap();
    config(root, "missing", "nothing-here.csv");
    config(root, "unpublished", "data.csv");
    std::fs::write(
        root.join("configs/broken.yaml"),
        "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: broken\nsignalz: {}\n",
    )
    .unwrap();
    // Not a config: ignored.
    std::fs::write(root.join("configs/README"), "configs\n").unwrap();

    fleet(root, "fleet", &["--concurrency", "3"]);
    assert_valid_document(&root.join("fleet/fleet.json"));
    let run = read(&root.join("fleet/fleet.json"));
    assert_eq!(run["workloads"], 8, "{run}");
    assert_eq!(run["recommendations"], 4, "{run}");
    assert_eq!(
        run["fallbacks"],
        serde_json::json!({"metrics-missing": 1, "model-rejected": 1, "no-promoted-model": 1}),
        "{run}"
    );
    let failed = run["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{run}");
    assert!(failed[0]["config"].as_str().unwrap().ends_with("broken.yaml"));
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("\"source\" is a required property"),
        "{run}"
    );
    // Each healthy workload's recommendation is the forecast step's for it.
    for name in healthy {
        let fleet = read(&root.join("fleet").join(name).join("recommendation.json"));
        step("forecast")
            .current_dir(root)
            .args(["--config", &format!("configs/{name}.yaml"), "--store", "store"])
            .args(["--out", &format!("single-{name}"), "--now", "latest"])
            .assert()
            .success();
        let single = read(&root.join(format!("single-{name}/recommendation.json")));
        assert_eq!(fleet, single, "{name}");
        assert!(fleet.get("fallback").is_none(), "{fleet}");
    }
    // Every advice ConfigMap in one List, each a valid object.
    let list: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join("fleet/configmaps.yaml")).unwrap()).unwrap();
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 7);
    assert_valid_kubernetes(
        &items
            .iter()
            .map(|i| (i["metadata"]["name"].as_str().unwrap().to_string(), i.clone()))
            .collect::<Vec<_>>(),
    );

    // A shard: the configs at odd positions in name order (a b broken c d missing tampered unpublished).
    fleet(root, "odd", &["--shard", "1/2"]);
    let odd = read(&root.join("odd/fleet.json"));
    let names: Vec<&str> = odd["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["workload"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b", "c", "missing", "unpublished"], "{odd}");
    // A pod whose output folder does not persist keeps each workload's state in the store:
    // the second run, in a fresh folder, carries the first one's memory.
    let latest = mttd::time::rfc3339(1_767_571_200 + 6 * 86_400 - 60);
    let before = mttd::time::rfc3339(1_767_571_200 + 6 * 86_400 - 60 - 300);
    fleet(root, "pod-1", &["--state-in-store", "--now", &before]);
    fleet(root, "pod-2", &["--state-in-store", "--now", &latest]);
    let (first, second) = (
        read(&root.join("pod-1/a/recommendation.json")),
        read(&root.join("pod-2/a/recommendation.json")),
    );
    assert_eq!(
        read(&root.join("store/a/forecast/state.json")),
        second,
        "the state written back"
    );
    // The observation window's memory: the first run's count, 5 minutes before.
    assert_eq!(first["history"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(second["history"].as_array().unwrap().len(), 2, "{second}");
    assert_eq!(second["history"][0], first["history"][0]);
    let fresh = read(&root.join("fleet/a/recommendation.json"));
    assert_eq!(
        fresh["history"].as_array().unwrap().len(),
        1,
        "without state: only its own"
    );
    mttd()
        .current_dir(root)
        .args(["fleet-forecast", "--configs", "configs", "--out", "x", "--shard", "2/2"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--shard"));
}
