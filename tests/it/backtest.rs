//! `mttd backtest`: the whole loop over a stretch of history as if it were live — retrains on a
//! schedule through the gate into a model store, a forecast every cadence tick, the live drift
//! rule setting off a retrain, the HPA replay of the deployed policy beside the reactive HPA —
//! and its forecasts are the forecast step's.

use crate::common;

use std::path::Path;

use common::*;

const START: i64 = 1_767_571_200;
const DAY: i64 = 86_400;
const LOOSE: &str = "gate:\n  min_improvement: 0\n  coverage_tolerance: 1\n  under_provisioning_baseline: reactive\n  oscillation_tolerance: 100\n  replica_minutes_increase: 100\n";
const CAPACITY: &str = "capacity:\n  per_replica: 20\n  min_replicas: 2\n  max_replicas: 80\n";

/// `days` of the daily pattern of `small_csv`, its level doubled from `shift` on (Unix time).
fn export(days: usize, shift: Option<i64>) -> String {
    small_csv(days)
        .lines()
        .map(|l| {
            let mut fields = l.split(',');
            let (Some(t), Some(series), Some(v)) = (fields.next(), fields.next(), fields.next()) else {
                return format!("{l}\n");
            };
            match (mttd::time::parse_timestamp(t), v.parse::<f64>(), shift) {
                (Some(at), Ok(v), Some(shift)) if at >= shift => format!("{t},{series},{:.4}\n", v * 2.0),
                _ => format!("{l}\n"),
            }
        })
        .collect()
}

fn write_config(root: &Path, capacity: &str, extra: &str) {
    std::fs::write(
        root.join("w.yaml"),
        small_config("bt", "data.csv", &format!("{CAPACITY}{capacity}{LOOSE}{extra}")),
    )
    .unwrap();
}

#[test]
fn a_level_shift_sets_off_drift_and_a_retrain_and_the_replay_judges_the_deployed_policy() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    let shift = START + 8 * DAY + 6 * 3600;
    std::fs::write(root.join("data.csv"), export(10, Some(shift))).unwrap();
    write_config(
        root,
        "  predictive:\n    adaptive_interval:\n      rate: 0.05\n",
        "deploy:\n  max_staleness: 1000d\n  drift_alert:\n    alertmanager_url: http://127.0.0.1:9/\n    runbook_url: https://runbooks.example/drift\n    live_mae_ratio: 2\n    live_window: 1h\n    min_scored: 6\n",
    );
    let from = mttd::time::rfc3339(START + 6 * DAY);
    let out = mttd()
        .current_dir(root)
        .args(["backtest", "--config", "w.yaml", "--from", &from, "--out", "bt"])
        .assert()
        .success();
    let printed = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(printed.contains("report: bt/report.md"), "{printed}");
    assert_valid_document(&root.join("bt/backtest.json"));
    let d: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("bt/backtest.json")).unwrap()).unwrap();
    let parse = |v: &serde_json::Value| mttd::time::parse_timestamp(v.as_str().unwrap()).unwrap();
    // Four days from day 6, a tick every 5 minutes (the last sample closes the window).
    let to = START + 10 * DAY - 60;
    assert_eq!(
        d["ticks"].as_i64().unwrap(),
        (to - (START + 6 * DAY) + 299) / 300,
        "{}",
        d["ticks"]
    );
    let retrains = d["retrains"].as_array().unwrap();
    assert_eq!(retrains[0]["trigger"], "schedule");
    assert_eq!(parse(&retrains[0]["at"]), START + 6 * DAY);
    assert_eq!(retrains[0]["decision"], "promote", "{}", retrains[0]);
    // Before the shift the model in service holds; after it its live error jumps: drift, once
    // per version, and a retrain at the next tick.
    let drift = d["drift"].as_array().unwrap();
    assert!(!drift.is_empty(), "{d}");
    let first = &drift[0];
    assert!(parse(&first["at"]) > shift, "{first}");
    assert!(first["ratio"].as_f64().unwrap() > 2.0);
    let after: Vec<&serde_json::Value> = retrains.iter().filter(|r| r["trigger"] == "drift").collect();
    assert!(!after.is_empty(), "{retrains:?}");
    assert_eq!(
        parse(&after[0]["at"]),
        parse(&first["at"]) + 300,
        "the retrain follows at the next tick"
    );
    let versions: Vec<u64> = drift.iter().map(|x| x["version"].as_u64().unwrap()).collect();
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "one drift event a version");
    assert_eq!(d["summary"]["drift_events"], drift.len());
    // The replay: both policies over the same demand.
    let (reactive, mttd_) = (&d["replay"]["reactive"], &d["replay"]["mttd"]);
    assert!(reactive["replica_minutes"].as_f64().unwrap() > 0.0);
    assert!(mttd_["replica_minutes"].as_f64().unwrap() > 0.0);
    assert!(
        (d["summary"]["saturated_minutes_saved"].as_f64().unwrap()
            - (reactive["saturated_minutes"].as_f64().unwrap() - mttd_["saturated_minutes"].as_f64().unwrap()))
        .abs()
            < 1e-9
    );
    let scored: u64 = d["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["scored"].as_u64().unwrap())
        .sum();
    assert!(scored > 1000, "{}", d["versions"]);
    let report = std::fs::read_to_string(root.join("bt/report.md")).unwrap();
    assert!(
        report.contains("| drift |") && report.contains("retrain (drift)"),
        "{report}"
    );
    let svg = std::fs::read_to_string(root.join("bt/timeline.svg")).unwrap();
    assert!(
        svg.contains("drift v") && svg.contains("stroke-dasharray"),
        "event markers"
    );
    assert!(svg.contains("mttd capacity") && svg.contains("reactive HPA capacity"));

    // Advisory on drift: from the drift on, the drifted version's floors are not acted on.
    let config = std::fs::read_to_string(root.join("w.yaml")).unwrap();
    std::fs::write(root.join("w.yaml"), format!("{config}    advisory_on_drift: true\n")).unwrap();
    mttd()
        .current_dir(root)
        .args(["backtest", "--config", "w.yaml", "--from", &from, "--out", "advisory"])
        .assert()
        .success();
    let advisory: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("advisory/backtest.json")).unwrap()).unwrap();
    assert_eq!(advisory["drift"], d["drift"]);
    let without = |d: &serde_json::Value| d["replay"]["ticks_without_floor"].as_u64().unwrap();
    assert!(
        without(&advisory) > without(&d),
        "{} vs {}",
        without(&advisory),
        without(&d)
    );
    std::fs::write(root.join("w.yaml"), config).unwrap();

    // Without the shift: no drift, no drift retrain.
    std::fs::write(root.join("data.csv"), export(10, None)).unwrap();
    mttd()
        .current_dir(root)
        .args(["backtest", "--config", "w.yaml", "--from", &from, "--out", "steady"])
        .assert()
        .success();
    let steady: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("steady/backtest.json")).unwrap()).unwrap();
    assert_eq!(steady["drift"], serde_json::json!([]), "{}", steady["drift"]);
    assert!(steady["retrains"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["trigger"] == "schedule"));
}

/// The backtest's forecast at a tick is the forecast step's at that tick, on the export as it
/// stood then, from the model a retrain made at the window's start.
#[test]
fn a_backtest_forecast_is_the_forecast_step_s() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    let full = export(8, None);
    std::fs::write(root.join("data.csv"), &full).unwrap();
    write_config(root, "", "deploy:\n  max_staleness: 1000d\n");
    let config = mttd::contract::WorkloadConfig::load(&root.join("w.yaml")).unwrap();
    let (raw, source) = mttd::source::load(&config, None).unwrap();
    let from = START + 6 * DAY;
    let schedule = mttd::backtest::Schedule {
        from,
        to: START + 8 * DAY - 60,
        retrain_every: 100 * DAY,
    };
    let run = mttd::backtest::backtest(&config, &raw, &source, schedule).unwrap();
    assert_eq!(run.document.retrains.len(), 1);
    // The same retrain by `mttd run` on the export cut at the window's start.
    let upto = |t: i64| -> String {
        let cut = mttd::time::rfc3339(t);
        full.lines()
            .filter(|l| l.starts_with("timestamp") || l[..20] <= cut[..])
            .map(|l| format!("{l}\n"))
            .collect()
    };
    std::fs::write(root.join("data.csv"), upto(from)).unwrap();
    mttd()
        .current_dir(root)
        .args(["run", "--config", "w.yaml", "--store", "store"])
        .assert()
        .success();
    for made in [from + 3600, from + DAY + 7 * 3600 + 1800] {
        let logged = run
            .log
            .iter()
            .find(|r| mttd::time::parse_timestamp(&r.generated_at) == Some(made))
            .unwrap();
        // The forecast step at `made` sees the samples a metric delay (1m) old.
        std::fs::write(root.join("data.csv"), upto(made - 60)).unwrap();
        let _ = std::fs::remove_dir_all(root.join("out"));
        step("forecast")
            .current_dir(root)
            .args(["--config", "w.yaml", "--store", "store", "--out", "out"])
            .args(["--now", &mttd::time::rfc3339(made)])
            .assert()
            .success();
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("out/recommendation.json")).unwrap()).unwrap();
        let mine = logged.forecast.as_ref().unwrap();
        assert_eq!(rec["forecast"]["target_time"], mine.target_time.as_str(), "{rec}");
        let point = rec["forecast"]["point"].as_f64().unwrap();
        assert!(
            (point - mine.point).abs() <= 1e-9 * point.abs().max(1.0),
            "{point} vs {}",
            mine.point
        );
        assert_eq!(rec["model_version"], 1);
    }
}
