//! Live shadow canaries (`gate.live_shadow`): a candidate that passes the gate while a version is
//! in service is published as a `shadow`; every forecast run forecasts it beside the promoted
//! version (logged, never acted on); `mttd live-verdicts` promotes it once its live error
//! beats the promoted version's over the same matured forecasts, and rejects one that loses —
//! each verdict in the change log with its evidence.

use crate::common;

use std::path::Path;

use common::*;

const WORKLOAD: &str = "sh";
/// Six days of history before the live part.
const START: i64 = 1_767_571_200;
const T0: i64 = START + 6 * 86_400;
const LOOSE: &str = "  coverage_tolerance: 1\n  under_provisioning_baseline: reactive\n  oscillation_tolerance: 100\n  replica_minutes_increase: 100\n";
const CAPACITY: &str = "capacity:\n  per_replica: 10\n  min_replicas: 2\n  max_replicas: 40\n";
const LIVE: &str = "  live_shadow:\n    min_duration: 2h\n    min_scored: 20\n    min_improvement: 0.05\n";

/// The export as it stood at `upto`: the daily pattern of `small_csv`, or after T0 a flat level
/// when `flat` (a workload whose daily shape stopped: what the last value forecasts best).
fn export(root: &Path, upto: i64, flat: bool) {
    let cut = mttd::time::rfc3339(upto);
    let live = mttd::time::rfc3339(T0);
    let text: String = small_csv(8)
        .lines()
        .filter(|l| l.starts_with("timestamp") || l[..20] <= cut[..])
        .map(|l| {
            if flat && !l.starts_with("timestamp") && l[..20] > live[..] {
                let value = if l.contains(",rps,") { "150.000" } else { "1.5000" };
                let (head, _) = l.rsplit_once(',').unwrap();
                format!("{head},{value}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(root.join("data.csv"), text).unwrap();
}

fn run(root: &Path, config: &str, extra: &str) -> String {
    std::fs::write(
        root.join(config),
        small_config(WORKLOAD, "data.csv", &format!("{CAPACITY}{extra}")),
    )
    .unwrap();
    let out = mttd()
        .current_dir(root)
        .args(["run", "--config", config, "--store", "store"])
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

fn registry(root: &Path) -> serde_json::Value {
    let out = mttd()
        .current_dir(root)
        .args(["registry", "--store", "store", "--workload", WORKLOAD, "show", "v2"])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn status(root: &Path, version: u32) -> String {
    let log = mttd::store::registry::registry(
        &mttd::store::Store::open(&format!("file://{}", root.join("store").display())).unwrap(),
        WORKLOAD,
    )
    .unwrap();
    log.versions
        .iter()
        .find(|v| v.version == version)
        .map(|v| v.status.as_str().to_string())
        .unwrap()
}

/// v1, a last-value model, in service (promoted by the gate, or by an operator over it), and
/// v2, an elastic net the gate passes against it, published as its shadow.
fn a_shadow_of_a_weaker_model(root: &Path) {
    export(root, T0, false);
    let first = run(
        root,
        "v1.yaml",
        &format!("model:\n  kind: last-value\ngate:\n  min_improvement: 0\n{LOOSE}"),
    );
    if !first.contains("decision        promote") {
        mttd()
            .current_dir(root)
            .args(["registry", "--store", "store", "--workload", WORKLOAD, "approve", "v1"])
            .args([
                "--approved-by",
                "sre@example.com",
                "--reason",
                "the baseline in service",
                "--force",
            ])
            .assert()
            .success();
    }
    assert_eq!(status(root, 1), "promoted");
    let second = run(root, "w.yaml", &format!("gate:\n  min_improvement: 0\n{LOOSE}{LIVE}"));
    assert!(second.contains("decision        shadow"), "{second}");
    assert_eq!(status(root, 2), "shadow");
    assert_eq!(status(root, 1), "promoted", "a shadow changes nothing in service");
}

/// A forecast at the export's latest sample, into a fresh `out` (no state).
fn forecast_now(root: &Path) -> serde_json::Value {
    let _ = std::fs::remove_dir_all(root.join("out"));
    step("forecast")
        .current_dir(root)
        .args([
            "--config", "w.yaml", "--store", "store", "--out", "out", "--now", "latest",
        ])
        .assert()
        .success();
    let path = root.join("out/recommendation.json");
    assert_valid_document(&path);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A forecast every 5 minutes for 3 hours after T0, each on the export as it stood then.
fn live_forecasts(root: &Path, flat: bool) -> Vec<serde_json::Value> {
    (1..=36)
        .map(|k| {
            export(root, T0 + k * 300, flat);
            forecast_now(root)
        })
        .collect()
}

fn live_verdicts(root: &Path) -> (serde_json::Value, String) {
    let _ = std::fs::remove_dir_all(root.join("trials"));
    mttd()
        .current_dir(root)
        .args([
            "live-verdicts",
            "--config",
            "w.yaml",
            "--store",
            "store",
            "--out",
            "trials",
            "--now",
            "latest",
        ])
        .args(["--triggered-by", "argo:mttd-forecast-sh"])
        .assert()
        .success();
    assert_valid_document(&root.join("trials/trials.json"));
    let trials = serde_json::from_slice(&std::fs::read(root.join("trials/trials.json")).unwrap()).unwrap();
    (
        trials,
        std::fs::read_to_string(root.join("trials/values/outcome")).unwrap(),
    )
}

/// The evidence recomputed here from the logged recommendations and the export: the MAE of
/// each side over the runs whose two forecasts have both matured.
fn mae_of_pairs(recs: &[serde_json::Value], flat: bool, now: i64) -> (usize, f64, f64) {
    let parse = |t: &serde_json::Value| mttd::time::parse_timestamp(t.as_str().unwrap()).unwrap();
    let actual = |t: i64| {
        let m = ((t - START) / 60) as usize;
        if flat && t > T0 {
            150.0
        } else {
            let rps = 100.0 + 50.0 * (m as f64 * std::f64::consts::TAU / 1440.0).sin() + ((m * 7919) % 13) as f64;
            format!("{rps:.3}").parse::<f64>().unwrap()
        }
    };
    let (mut n, mut shadow, mut served) = (0, 0.0, 0.0);
    for rec in recs {
        let mine = &rec["forecast"];
        let theirs = &rec["shadows"][0]["forecast"];
        let (a, b) = (parse(&mine["target_time"]), parse(&theirs["target_time"]));
        if a <= now && b <= now {
            n += 1;
            served += (mine["point"].as_f64().unwrap() - actual(a)).abs();
            shadow += (theirs["point"].as_f64().unwrap() - actual(b)).abs();
        }
    }
    (n, shadow / n as f64, served / n as f64)
}

fn log_length(root: &Path) -> usize {
    json_files(&root.join("store").join(WORKLOAD).join("changelog")).len()
}

#[test]
fn a_shadow_that_beats_the_version_in_service_live_is_promoted_with_its_evidence() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    a_shadow_of_a_weaker_model(root);
    let recs = live_forecasts(root, false);
    for rec in &recs {
        // The promoted version advises; the shadow's forecast is logged beside it, same inputs.
        assert_eq!(rec["model_version"], 1, "{rec}");
        assert_eq!(rec["shadows"][0]["model_version"], 2, "{rec}");
        assert_eq!(
            rec["shadows"][0]["forecast"]["target_time"],
            rec["forecast"]["target_time"]
        );
    }
    let logged = json_files(&root.join("store").join(WORKLOAD).join("predictions"));
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(logged.last().unwrap()).unwrap()).unwrap();
    assert_eq!(
        kept["shadows"][0]["model_version"], 2,
        "the prediction log keeps the shadow's forecast"
    );

    // Early: not enough matured forecasts over 2h yet — waiting, nothing recorded.
    let entries = log_length(root);
    export(root, T0 + 60 * 60, false);
    let (early, outcome) = live_verdicts(root);
    assert_eq!(outcome, "waiting", "{early}");
    assert_eq!(log_length(root), entries);
    assert_eq!(status(root, 2), "shadow");

    // After 3 hours: 33 pairs matured over 2h40m, the elastic net far better than last value.
    let now = T0 + 36 * 300;
    export(root, now, false);
    let (trials, outcome) = live_verdicts(root);
    assert_eq!(outcome, "promoted", "{trials}");
    let trial = &trials["trials"][0];
    println!("promoted: {}", trial["reason"]);
    let (n, shadow_mae, served_mae) = mae_of_pairs(&recs, false, now);
    assert_eq!(trial["evidence"]["scored"], n as u64, "{trial}");
    assert_eq!(n, 33);
    assert!(
        (trial["evidence"]["shadow_error"].as_f64().unwrap() - shadow_mae).abs() < 1e-9,
        "{trial}"
    );
    assert!(
        (trial["evidence"]["in_service_error"].as_f64().unwrap() - served_mae).abs() < 1e-9,
        "{trial}"
    );
    assert!(shadow_mae < served_mae * 0.95, "{shadow_mae} vs {served_mae}");
    assert_eq!(trial["evidence"]["in_service"], 1);

    // The change log says so: v2 promoted on live evidence, v1 superseded, the chain intact.
    assert_eq!(log_length(root), entries + 1);
    assert_eq!(
        (status(root, 1).as_str(), status(root, 2).as_str()),
        ("superseded", "promoted")
    );
    let record = registry(root);
    assert_eq!(record["live_trial"]["decision"], "promote", "{record}");
    assert_eq!(record["live_trial"]["by"], "argo:mttd-forecast-sh");
    assert_eq!(record["live_trial"]["evidence"], trial["evidence"]);
    mttd()
        .current_dir(root)
        .args(["registry", "--store", "store", "--workload", WORKLOAD, "verify"])
        .assert()
        .success();
    // The next forecast is v2's, with no shadow; a second run of the step has nothing to judge.
    let next = forecast_now(root);
    assert_eq!(next["model_version"], 2);
    assert!(next.get("shadows").is_none(), "{next}");
    let (again, outcome) = live_verdicts(root);
    assert_eq!(outcome, "none", "{again}");
    assert_eq!(log_length(root), entries + 1);
}

#[test]
fn a_shadow_that_loses_live_is_rejected_and_the_version_in_service_stays() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    a_shadow_of_a_weaker_model(root);
    // The daily shape stops after T0: the last value is now the better forecast.
    let recs = live_forecasts(root, true);
    let now = T0 + 36 * 300;
    let (trials, outcome) = live_verdicts(root);
    assert_eq!(outcome, "rejected", "{trials}");
    println!("rejected: {}", trials["trials"][0]["reason"]);
    let (n, shadow_mae, served_mae) = mae_of_pairs(&recs, true, now);
    let evidence = &trials["trials"][0]["evidence"];
    assert_eq!(evidence["scored"], n as u64);
    assert!(
        (evidence["shadow_error"].as_f64().unwrap() - shadow_mae).abs() < 1e-9,
        "{evidence}"
    );
    assert!(shadow_mae > served_mae * 0.95, "{shadow_mae} vs {served_mae}");
    assert!(
        trials["trials"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not better by 5.0%"),
        "{trials}"
    );
    assert_eq!(
        (status(root, 1).as_str(), status(root, 2).as_str()),
        ("promoted", "rejected")
    );
    assert_eq!(registry(root)["live_trial"]["decision"], "reject");
    // No longer forecast beside v1.
    let next = forecast_now(root);
    assert_eq!(next["model_version"], 1);
    assert!(next.get("shadows").is_none(), "{next}");
}
