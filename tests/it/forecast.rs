//! The forecast step: a recommendation from the promoted model under guardrails, every fallback
//! with its reason, the ConfigMap, the HPA patch in assisted mode, the Prometheus text.

use crate::common;

use std::path::Path;

use common::*;
use predicates::str::contains;

const LOOSE_GATE: &str = "gate:\n  min_improvement: 0\n  coverage_tolerance: 1\n  under_provisioning_baseline: reactive\n  oscillation_tolerance: 100\n  replica_minutes_increase: 100\n";
const CAPACITY: &str = "capacity:\n  per_replica: 10\n  min_replicas: 2\n  max_replicas: 40\n";

/// A promoted model of workload `fc` in `root/store`, trained on 6 days of `data.csv`.
pub(crate) fn promoted(root: &Path) {
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

/// A forecast into a fresh `root/out` (no state), its recommendation checked and read.
pub(crate) fn forecast(root: &Path, config: &str, extra: &[&str]) -> serde_json::Value {
    let _ = std::fs::remove_dir_all(root.join("out"));
    forecast_with(root, config, "store", extra)
}

pub(crate) fn fallback(rec: &serde_json::Value) -> &str {
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
    assert_valid_kubernetes(&[("configmap.yaml".into(), cm)]);
    let values = |name: &str| std::fs::read_to_string(root.join("out/values").join(name)).unwrap();
    assert_eq!(values("replicas"), replicas.to_string());
    assert_eq!(values("upper").parse::<f64>().unwrap(), upper);
    assert_eq!(
        (values("fallback").as_str(), values("patch-hpa").as_str()),
        ("none", "false")
    );

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
    let narrow = std::fs::read_to_string(root.join("w.yaml")).unwrap().replace(
        "  max_replicas: 40\n",
        "  max_replicas: 40\n  predictive:\n    max_relative_interval_width: 0.0001\n",
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
        "{}deploy:\n  mode: assisted\n  actuation: min-replicas-patch\n  hpa_name: api\n",
        std::fs::read_to_string(root.join("w.yaml")).unwrap().replace(
            "  max_replicas: 40\n",
            "  max_replicas: 40\n  predictive:\n    max_scale_down_step: 2\n"
        )
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
    // Merged (JSON merge patch, as kubectl patch --type merge) onto a complete HPA, the result
    // is a valid HorizontalPodAutoscaler.
    let mut hpa = serde_json::json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "minReplicas": 2,
            "maxReplicas": 40,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
        },
    });
    merge_patch(&mut hpa, &patch);
    assert_eq!(hpa["spec"]["minReplicas"], 37);
    assert_eq!(hpa["spec"]["maxReplicas"], 40);
    assert_valid_kubernetes(&[("hpa-patched".into(), hpa)]);
    assert_eq!(
        std::fs::read_to_string(root.join("out/values/patch-hpa")).unwrap(),
        "true"
    );

    // On a fallback, assisted mode gives the HPA its operator's floor back (min_replicas: 2).
    let stale = forecast(root, "assisted.yaml", &["--now", "2030-01-01T00:00:00Z"]);
    assert_eq!(fallback(&stale), "metrics-stale");
    assert_eq!(stale["operator_floor"], 2);
    let patch: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join("out/hpa-patch.yaml")).unwrap()).unwrap();
    assert_eq!(patch["spec"]["minReplicas"], 2, "the operator's floor restored");
}

#[test]
fn the_adaptive_interval_scores_a_forecast_once_its_time_has_passed() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    promoted(root);
    let adaptive = std::fs::read_to_string(root.join("w.yaml")).unwrap().replace(
        "  max_replicas: 40\n",
        "  max_replicas: 40\n  predictive:\n    adaptive_interval:\n      rate: 0.5\n",
    );
    // The export as it was 30 minutes before its end, then whole.
    let csv = small_csv(6);
    std::fs::write(root.join("adaptive.yaml"), &adaptive).unwrap();
    let first = forecast_30_minutes_before_the_end(root, &adaptive);
    let t = &first["interval_tracking"];
    assert_eq!(
        (t["scored"].as_u64(), t["pending"].as_array().unwrap().len()),
        (Some(0), 1)
    );
    let calibrated =
        (first["forecast"]["upper"].as_f64().unwrap() - first["forecast"]["lower"].as_f64().unwrap()) / 2.0;
    assert_eq!(
        t["half_width"].as_f64(),
        Some(calibrated),
        "the first run starts from the model's"
    );
    // 30 minutes on, the first forecast's target (15 minutes after its data) has passed.
    let second = forecast(root, "adaptive.yaml", &["--now", "latest", "--state", "state.json"]);
    let t = &second["interval_tracking"];
    assert_eq!(t["scored"], 1, "{t}");
    let pending = &first["interval_tracking"]["pending"][0];
    let target = mttd::time::parse_timestamp(pending["target_time"].as_str().unwrap()).unwrap();
    let actual: f64 = csv
        .lines()
        .find(|l| l.starts_with(&mttd::time::rfc3339(target)) && l.contains(",rps,"))
        .unwrap()
        .rsplit(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let missed = (actual - pending["point"].as_f64().unwrap()).abs() > pending["half_width"].as_f64().unwrap();
    assert_eq!(t["missed"].as_u64(), Some(u64::from(missed)));
    // The ratio to the calibrated half-width is tracked (the calibrated one follows the level,
    // so it is this forecast's, recorded beside it).
    let expected = mttd::policy::track_interval(1.0, missed, 0.8, 0.5) * t["calibrated_half_width"].as_f64().unwrap();
    assert!(
        (t["half_width"].as_f64().unwrap() - expected).abs() < 1e-9,
        "{t} vs {expected}"
    );
    let width = second["forecast"]["upper"].as_f64().unwrap() - second["forecast"]["lower"].as_f64().unwrap();
    assert!(
        (width / 2.0 - expected).abs() < 1e-9,
        "the forecast uses the tracked half-width"
    );
    let coverage = std::fs::read_to_string(root.join("out/values/live-coverage")).unwrap();
    assert_eq!(coverage, if missed { "0" } else { "1" });
    let prom = std::fs::read_to_string(root.join("out/forecast.prom")).unwrap();
    assert!(
        prom.contains("mttd_interval_scored{workload=\"fc\",outcome=\"all\"} 1\n"),
        "{prom}"
    );
}

#[test]
fn a_forecast_too_wide_to_act_on_is_still_scored_so_the_interval_can_narrow_again() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    promoted(root);
    let distrusted = std::fs::read_to_string(root.join("w.yaml")).unwrap().replace(
        "  max_replicas: 40\n",
        "  max_replicas: 40\n  predictive:\n    max_relative_interval_width: 0.0001\n    adaptive_interval:\n      rate: 0.5\n",
    );
    std::fs::write(root.join("later.yaml"), &distrusted).unwrap();
    let first = forecast_30_minutes_before_the_end(root, &distrusted);
    assert_eq!(fallback(&first), "interval-too-wide");
    assert_eq!(first["interval_tracking"]["pending"].as_array().unwrap().len(), 1);
    let second = forecast(root, "later.yaml", &["--now", "latest", "--state", "state.json"]);
    assert_eq!(fallback(&second), "interval-too-wide");
    assert_eq!(second["interval_tracking"]["scored"], 1, "{second}");
}

/// A forecast with `config` (whose export is `data.csv`) on the export as it was 30 minutes
/// before its end (`earlier.csv`); its recommendation is kept as `state.json` for the next run.
fn forecast_30_minutes_before_the_end(root: &Path, config: &str) -> serde_json::Value {
    let csv = small_csv(6);
    let lines: Vec<&str> = csv.lines().collect();
    std::fs::write(root.join("earlier.csv"), lines[..lines.len() - 60].join("\n") + "\n").unwrap();
    std::fs::write(root.join("earlier.yaml"), config.replace("data.csv", "earlier.csv")).unwrap();
    let first = forecast(root, "earlier.yaml", &["--now", "latest"]);
    std::fs::copy(root.join("out/recommendation.json"), root.join("state.json")).unwrap();
    first
}

/// Drift set off on purpose: a promoted model (in `root`) with the adaptive interval at rate
/// 10 (and `adaptive` under it) and `drift` under `deploy:`; a forecast on the export as it was
/// 30 minutes before its end,
/// then one on the whole export whose actual at the first forecast's target time is 1000 above
/// what happened. Returns the config text and the second recommendation.
fn drift_set_off(root: &Path, adaptive: &str, drift: &str) -> (String, serde_json::Value) {
    promoted(root);
    let config = format!(
        "{}deploy:\n  max_staleness: 1000d\n{drift}",
        std::fs::read_to_string(root.join("w.yaml")).unwrap().replace(
            "  max_replicas: 40\n",
            &format!("  max_replicas: 40\n  predictive:\n    max_relative_interval_width: 1000\n    adaptive_interval:\n      rate: 10\n{adaptive}"),
        )
    );
    let first = forecast_30_minutes_before_the_end(root, &config);
    assert_eq!(
        std::fs::read_to_string(root.join("out/values/drift-alert")).unwrap(),
        "none"
    );
    let target = first["interval_tracking"]["pending"][0]["target_time"]
        .as_str()
        .unwrap()
        .to_string();
    let shifted: String = small_csv(6)
        .lines()
        .map(|l| match l.strip_prefix(&format!("{target},rps,")) {
            Some(v) => format!("{target},rps,{}\n", v.parse::<f64>().unwrap() + 1000.0),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(root.join("drifted.csv"), shifted).unwrap();
    std::fs::write(root.join("drifted.yaml"), config.replace("data.csv", "drifted.csv")).unwrap();
    let second = forecast(root, "drifted.yaml", &["--now", "latest", "--state", "state.json"]);
    (config, second)
}

#[test]
fn a_drifted_model_falls_back_while_its_interval_is_beyond_the_limit() {
    let dir = assert_fs::TempDir::new().unwrap();
    let (_, second) = drift_set_off(dir.path(), "      max_width_ratio: 2\n", "");
    assert_eq!(fallback(&second), "drifted", "{second}");
    assert!(second.get("replicas").is_none(), "no floor from a drifted model");
    // Still made, and remembered to be scored: the interval can narrow again.
    assert!(second["forecast"]["point"].is_number());
    assert_eq!(second["interval_tracking"]["pending"].as_array().unwrap().len(), 1);
    let detail = second["fallback"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("9.00× the calibrated") && detail.contains("(limit 2×)"),
        "{detail}"
    );
}

#[test]
fn a_drifted_workload_raises_mttd_forecast_drift_in_a_real_alertmanager() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    let am = servers::alertmanager();
    let drift = format!(
        "  drift_alert:\n    alertmanager_url: {}\n    max_width_ratio: 2\n    runbook_url: https://runbooks.example/mttd-drift\n",
        am.url("http")
    );
    let (config, second) = drift_set_off(root, "", &drift);
    let t = &second["interval_tracking"];
    assert_eq!((t["scored"].as_u64(), t["missed"].as_u64()), (Some(1), Some(1)), "{t}");
    // 1 + 10 × 0.8 = 9 times the calibrated half-width, beyond the 2 allowed.
    let ratio = t["half_width"].as_f64().unwrap() / t["calibrated_half_width"].as_f64().unwrap();
    assert!((ratio - 9.0).abs() < 1e-9, "{ratio}");
    assert_eq!(
        std::fs::read_to_string(root.join("out/values/drift-alert")).unwrap(),
        "posted"
    );
    let alert = alert_named(&am, "MttdForecastDrift");
    assert_eq!(alert["labels"]["workload"], "fc");
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "https://runbooks.example/mttd-drift"
    );
    assert_eq!(alert["annotations"]["live_coverage"], "0.000");

    // A drift alert needs the adaptive interval it measures drift by.
    let without = config.replace("    adaptive_interval:\n      rate: 10\n", "");
    std::fs::write(root.join("without.yaml"), without).unwrap();
    step("forecast")
        .current_dir(root)
        .args(["--config", "without.yaml", "--store", "store", "--out", "x"])
        .assert()
        .failure()
        .stderr(contains("without.yaml: field `/deploy/drift_alert`"));
}

/// Accepts HTTP requests on 127.0.0.1, answers 200, and sends each request's text.
fn recording_listener() -> (std::net::SocketAddr, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 8192];
            // Read the head, then as much body as Content-Length says.
            loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = send.send(String::from_utf8_lossy(&request).to_string());
        }
    });
    (address, receive)
}

#[test]
fn a_drift_alert_reaches_the_argo_events_endpoint_through_the_shipped_receiver() {
    // The shipped Alertmanager receiver, pointed at a listener that records what Argo's events
    // endpoint would receive (plain http here: no TLS file to verify; and a 1 s group wait
    // instead of Alertmanager's default 30 s).
    let (listener, received) = recording_listener();
    let receiver =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/alertmanager/receiver.yaml"))
            .unwrap()
            .replace("https://argo-server.argo:2746", &format!("http://{listener}"))
            .replace("/etc/alertmanager/secrets/mttd-webhook/token", "token")
            .replace(
                "          tls_config:\n            ca_file: /etc/alertmanager/secrets/mttd-webhook/ca.crt\n",
                "",
            )
            .replace(
                "      group_by: [workload]\n",
                "      group_by: [workload]\n      group_wait: 1s\n",
            );
    let am = servers::alertmanager_with(&receiver, &[("token", b"webhook-token")]);
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    // Drift set off, the alert labelled for the retrain route.
    let drift = format!(
        "  drift_alert:\n    alertmanager_url: {}\n    runbook_url: https://runbooks.example/mttd-drift\n    labels:\n      mttd_retrain: \"true\"\n",
        am.url("http")
    );
    drift_set_off(root, "", &drift);
    assert_eq!(
        std::fs::read_to_string(root.join("out/values/drift-alert")).unwrap(),
        "posted"
    );
    let request = received
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("Alertmanager notified the events endpoint");
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    // What the WorkflowEventBinding mttd-retrain-alert reads: the discriminator in the path, a
    // firing status, the workload among the common labels, the group key; the bearer token.
    assert!(
        head.starts_with("POST /api/v1/events/argo/mttd-retrain-alert "),
        "{head}"
    );
    assert!(head.contains("Authorization: Bearer webhook-token"), "{head}");
    let payload: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(payload["status"], "firing");
    assert_eq!(payload["commonLabels"]["workload"], "fc");
    assert_eq!(payload["commonLabels"]["alertname"], "MttdForecastDrift");
    assert!(payload["groupKey"].is_string());
    let binding =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/retrain-alert-binding.yaml"))
            .unwrap();
    for read in [
        "discriminator == \"mttd-retrain-alert\"",
        "payload.status == \"firing\"",
        "payload.commonLabels.workload",
        "payload.groupKey",
    ] {
        assert!(binding.contains(read), "the binding reads {read}");
    }
}

/// The latest `rps` sample of `root/data.csv` (what the HPA's metric sees last).
fn latest_demand(root: &Path) -> f64 {
    let csv = std::fs::read_to_string(root.join("data.csv")).unwrap();
    let last = csv.lines().rfind(|l| l.contains(",rps,")).unwrap();
    last.rsplit(',').next().unwrap().parse().unwrap()
}

#[test]
fn the_decision_record_says_what_the_hpa_alone_would_do_and_what_set_the_count() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    promoted(root);
    let demand = latest_demand(root);
    // Without the running count, the HPA's own count is the one the demand settles at
    // (per_replica 10, within [2, 40]).
    let reactive = ((demand / 10.0).ceil() as u64).clamp(2, 40);
    let rec = forecast(root, "w.yaml", &["--now", "latest"]);
    let d = &rec["decision"];
    assert_eq!(d["demand"].as_f64(), Some(demand));
    assert_eq!(d["reactive_replicas"].as_u64(), Some(reactive));
    let floor = rec["replicas"].as_u64().unwrap();
    let upper = rec["forecast"]["upper"].as_f64().unwrap();
    let point = rec["forecast"]["point"].as_f64().unwrap();
    assert_eq!(d["upper_replicas"].as_u64(), Some((upper / 10.0).ceil() as u64));
    assert_eq!(
        d["point_replicas"].as_u64(),
        Some((point / 10.0).ceil().max(0.0) as u64)
    );
    assert_eq!(d["final_replicas"].as_u64(), Some(floor.max(reactive)));
    assert_eq!(d["changed_outcome"].as_bool(), Some(floor > reactive));
    let expected_set_by = if floor > reactive { "forecast" } else { "reactive" };
    assert_eq!(d["set_by"], expected_set_by);
    let values = |name: &str| std::fs::read_to_string(root.join("out/values").join(name)).unwrap();
    assert_eq!(values("set-by"), expected_set_by);
    assert_eq!(values("reactive-replicas"), reactive.to_string());
    let prom = std::fs::read_to_string(root.join("out/forecast.prom")).unwrap();
    assert!(prom.contains(&format!(
        "mttd_decision_replicas{{workload=\"fc\",kind=\"reactive\"}} {reactive}\n"
    )));
    assert!(prom.contains(&format!(
        "mttd_decision_set_by{{workload=\"fc\",set_by=\"{expected_set_by}\"}} 1\n"
    )));

    // 39 replicas run and the floor may drop by 2 at a time: the step holds the floor at 37,
    // far above what the HPA alone asks for, so the guardrail set the count.
    let stepped = std::fs::read_to_string(root.join("w.yaml")).unwrap().replace(
        "  max_replicas: 40\n",
        "  max_replicas: 40\n  predictive:\n    max_scale_down_step: 2\n",
    );
    std::fs::write(root.join("stepped.yaml"), stepped).unwrap();
    let rec = forecast(root, "stepped.yaml", &["--now", "latest", "--current-replicas", "39"]);
    let d = &rec["decision"];
    assert_eq!(rec["replicas"], 37);
    // The HPA's algorithm at 39 replicas: ceil(39 × demand / (39 × 10)), outside the tolerance.
    assert_eq!(d["reactive_replicas"].as_u64(), Some(reactive));
    assert_eq!(
        (d["final_replicas"].as_u64(), d["set_by"].as_str()),
        (Some(37), Some("max-scale-down-step"))
    );
    assert_eq!(d["changed_outcome"], true);

    // A fallback: the HPA decides alone.
    let rec = forecast(root, "w.yaml", &["--now", "2027-01-01T00:00:00Z"]);
    assert_eq!(fallback(&rec), "metrics-stale");
    let d = &rec["decision"];
    assert_eq!(
        (d["set_by"].as_str(), d["final_replicas"].as_u64()),
        (Some("fallback"), Some(reactive))
    );
    assert_eq!(d["changed_outcome"], false);
    assert_eq!(values("set-by"), "fallback");
}

#[test]
fn a_predicted_surge_is_posted_to_a_real_alertmanager() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    promoted(root);
    let mut am = servers::alertmanager();
    let with_alert = |url: &str| {
        format!(
            "{}deploy:\n  surge_alert:\n    alertmanager_url: {url}\n    factor: 1.5\n    runbook_url: https://runbooks.example/mttd-surge\n    labels:\n      team: platform\n",
            std::fs::read_to_string(root.join("w.yaml")).unwrap()
        )
    };
    std::fs::write(root.join("alert.yaml"), with_alert(&am.url("http"))).unwrap();

    // Plenty of replicas running: no surge, nothing posted.
    let rec = forecast(root, "alert.yaml", &["--now", "latest", "--current-replicas", "40"]);
    assert!(rec.get("surge").is_none(), "{rec}");
    let (status, body) = servers::http_get(&am.address, "/api/v2/alerts");
    assert_eq!((status, body.trim()), (200, "[]"));

    // One replica (10 units) against an upper bound well above 15: the alert is there.
    let rec = forecast(root, "alert.yaml", &["--now", "latest", "--current-replicas", "1"]);
    let upper = rec["forecast"]["upper"].as_f64().unwrap();
    assert!(upper > 15.0);
    assert_eq!(rec["surge"]["current_capacity"], 10.0);
    let (status, body) = servers::http_get(&am.address, "/api/v2/alerts");
    assert_eq!(status, 200);
    let alerts: serde_json::Value = serde_json::from_str(&body).unwrap();
    let alert = &alerts.as_array().unwrap()[0];
    assert_eq!(alert["labels"]["alertname"], "MttdForecastSurge");
    assert_eq!(alert["labels"]["workload"], "fc");
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["labels"]["team"], "platform");
    assert_eq!(alert["status"]["state"], "active");
    let notes = &alert["annotations"];
    assert_eq!(notes["runbook_url"], "https://runbooks.example/mttd-surge");
    assert_eq!(notes["model_version"], "v1");
    assert_eq!(notes["horizon"], "15m");
    assert_eq!(notes["forecast_upper"].as_str().unwrap().parse::<f64>().unwrap(), upper);
    assert!(notes["summary"].as_str().unwrap().contains("fc"));

    // Alertmanager down: the advice is written, the step succeeds (a failed alert never keeps
    // the floor from being raised), and says so: on stderr and in values/alert.
    am.kill();
    let out = root.join("out");
    let _ = std::fs::remove_dir_all(&out);
    step("forecast")
        .current_dir(root)
        .args(["--config", "alert.yaml", "--store", "store", "--out", "out"])
        .args(["--now", "latest", "--current-replicas", "1"])
        .assert()
        .success()
        .stderr(contains("surge alert could not be posted"))
        .stderr(contains("gave up after 3 attempts"));
    assert_valid_document(&out.join("recommendation.json"));
    assert_eq!(std::fs::read_to_string(out.join("values/alert")).unwrap(), "failed");
}

/// Every failure after the config is read publishes a fallback with its reason, exit 0, and
/// the next run recovers (review: security-and-robustness M1, M2, M3).
#[test]
fn every_failure_after_the_config_is_a_fallback() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    promoted(root);
    let ok = forecast(root, "w.yaml", &["--now", "latest"]);
    assert_eq!(fallback(&ok), "none");

    // The state is not a recommendation: state-invalid; the fallback it writes is the next
    // run's state, and that run forecasts again.
    std::fs::write(root.join("out/recommendation.json"), "{not json").unwrap();
    let rec = forecast_with(root, "w.yaml", "store", &["--now", "latest"]);
    assert_eq!(fallback(&rec), "state-invalid");
    let rec = forecast_with(root, "w.yaml", "store", &["--now", "latest"]);
    assert_eq!(fallback(&rec), "none", "recovered");

    // The store cannot be opened (a file where its folder should be): store-unavailable.
    std::fs::write(root.join("not-a-folder"), "x").unwrap();
    let rec = forecast_with(root, "w.yaml", "not-a-folder", &["--now", "latest"]);
    assert_eq!(fallback(&rec), "store-unavailable");

    // A stray object under changelog/ is skipped: the forecast is made.
    std::fs::write(root.join("store/fc/changelog/notes.txt"), "hello").unwrap();
    assert_eq!(fallback(&forecast(root, "w.yaml", &["--now", "latest"])), "none");

    // A well-formed entry appended by someone with write access, promoting a version that was
    // never published: model-rejected (it used to panic).
    let forged_path = forge_entry(
        &root.join("store/fc/changelog"),
        "fc",
        serde_json::json!({"type": "rollback", "from": 1, "to": 99, "reason": "x"}),
    );
    let rec = forecast(root, "w.yaml", &["--now", "latest"]);
    assert_eq!(fallback(&rec), "model-rejected", "{rec}");
    std::fs::remove_file(&forged_path).unwrap();

    // The promoted model's bytes changed in the store: model-rejected.
    let model = root.join("store/fc/models/v1/model.json");
    let original = std::fs::read(&model).unwrap();
    let mut changed = original.clone();
    let at = changed.len() / 2;
    changed[at] ^= 1;
    std::fs::write(&model, &changed).unwrap();
    let rec = forecast(root, "w.yaml", &["--now", "latest"]);
    assert_eq!(fallback(&rec), "model-rejected");
    assert!(rec["fallback"]["detail"].as_str().unwrap().contains("altered"), "{rec}");
    std::fs::write(&model, &original).unwrap();

    // Inputs that overflow the model: forecast-invalid, and the state stays readable (no
    // NaN written as null), so the next run on clean data forecasts again.
    let csv = std::fs::read_to_string(root.join("data.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    let n = lines.len();
    let huge: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i + 40 >= n && l.contains(",rps,") {
                let ts = l.split(',').next().unwrap();
                format!("{ts},rps,1.7e308\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(root.join("huge.csv"), huge).unwrap();
    let w = std::fs::read_to_string(root.join("w.yaml"))
        .unwrap()
        .replace("data.csv", "huge.csv");
    std::fs::write(root.join("huge.yaml"), w).unwrap();
    let rec = forecast(root, "huge.yaml", &["--now", "latest"]);
    assert_eq!(fallback(&rec), "forecast-invalid", "{rec}");
    assert!(rec.get("replicas").is_none());
    assert_eq!(fallback(&forecast(root, "w.yaml", &["--now", "latest"])), "none");
}

/// A forecast into `root/out` as it is (its recommendation.json is the state), with `store`.
fn forecast_with(root: &Path, config: &str, store: &str, extra: &[&str]) -> serde_json::Value {
    let out = root.join("out");
    step("forecast")
        .current_dir(root)
        .args(["--config", config, "--store", store, "--out", "out"])
        .args(extra)
        .assert()
        .success();
    let path = out.join("recommendation.json");
    assert_valid_document(&path);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

#[test]
fn every_forecast_is_logged_in_the_store_once_and_never_rewritten() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    promoted(root);
    let outcome = || std::fs::read_to_string(root.join("out/values/prediction-log")).unwrap();
    let first = forecast(root, "w.yaml", &["--now", "latest"]);
    assert_eq!(outcome(), "logged");
    let made_at = chrono::DateTime::parse_from_rfc3339(first["generated_at"].as_str().unwrap()).unwrap();
    let earlier = (made_at - chrono::Duration::minutes(10)).to_rfc3339();
    let second = forecast(root, "w.yaml", &["--now", &earlier]);
    assert_eq!(outcome(), "logged");

    let store = mttd::store::Store::open(root.join("store").to_str().unwrap()).unwrap();
    let logged = mttd::store::predictions::read_all(&store, "fc").unwrap();
    assert_eq!(logged.len(), 2, "one object a forecast");
    // Oldest first, each what its forecast published.
    for (prediction, rec) in logged.iter().zip([&second, &first]) {
        let prediction = serde_json::to_value(prediction).unwrap();
        for field in [
            "generated_at",
            "model_version",
            "forecast",
            "replicas",
            "operator_floor",
            "decision",
        ] {
            assert_eq!(prediction[field], rec[field], "{field}");
        }
        assert_eq!(
            prediction["history"],
            serde_json::json!([]),
            "the step's memory is not logged"
        );
        assert!(prediction.get("interval_tracking").is_none());
    }
    let files = json_files(&root.join("store/fc/predictions"));
    assert_eq!(files.len(), 2);
    for file in &files {
        assert_valid_document(file);
    }

    // The same forecast again is already logged; a different one for the same second is
    // refused, the object left as it was, and the advice still published.
    forecast(root, "w.yaml", &["--now", "latest"]);
    assert_eq!(outcome(), "logged");
    let key = files.iter().max().unwrap();
    let mut tampered: serde_json::Value = serde_json::from_slice(&std::fs::read(key).unwrap()).unwrap();
    tampered["replicas"] = 99.into();
    let tampered = serde_json::to_vec(&tampered).unwrap();
    std::fs::write(key, &tampered).unwrap();
    let rec = forecast(root, "w.yaml", &["--now", "latest"]);
    assert_eq!(outcome(), "failed");
    assert_eq!(rec["replicas"], first["replicas"]);
    assert_eq!(std::fs::read(key).unwrap(), tampered, "never rewritten");

    // Turned off: nothing logged.
    let config = std::fs::read_to_string(root.join("w.yaml")).unwrap();
    std::fs::write(
        root.join("off.yaml"),
        format!("{config}deploy:\n  prediction_log: false\n"),
    )
    .unwrap();
    forecast(
        root,
        "off.yaml",
        &["--now", &(made_at - chrono::Duration::minutes(20)).to_rfc3339()],
    );
    assert_eq!(outcome(), "none");
    assert_eq!(json_files(&root.join("store/fc/predictions")).len(), 2);
}

#[test]
fn the_score_step_joins_matured_predictions_with_what_then_happened() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    promoted(root);
    let parse = |t: &serde_json::Value| mttd::time::parse_timestamp(t.as_str().unwrap()).unwrap();
    let full = small_csv(6);
    let newest = forecast(root, "w.yaml", &["--now", "latest"]);
    let latest = parse(&newest["generated_at"]);
    // A forecast every 10 minutes over the 3 hours before the export's end, each on the export
    // as it stood then (a file source is read whole).
    let mut recs = vec![newest];
    for k in 1..=18 {
        let cut = mttd::time::rfc3339(latest - k * 600);
        let then: String = full
            .lines()
            .filter(|l| l.starts_with("timestamp") || l[..20] <= cut[..])
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(root.join("data.csv"), then).unwrap();
        recs.push(forecast(root, "w.yaml", &["--now", "latest"]));
    }
    std::fs::write(root.join("data.csv"), &full).unwrap();
    // A prediction made long before the windows: not read at all.
    let old_day = root.join("store/fc/predictions/2025-11-01");
    std::fs::create_dir_all(&old_day).unwrap();
    let any = json_files(&root.join("store/fc/predictions"))[0].clone();
    std::fs::copy(any, old_day.join("20251101T000000Z.json")).unwrap();
    mttd()
        .current_dir(root)
        .args([
            "score", "--config", "w.yaml", "--store", "store", "--out", "score", "--now", "latest",
        ])
        .assert()
        .success();
    assert_valid_document(&root.join("score/score.json"));
    let score: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("score/score.json")).unwrap()).unwrap();
    assert_eq!(score["logged"], 19);

    // The same figures computed here from the export itself.
    let actual: std::collections::BTreeMap<i64, f64> = small_csv(6)
        .lines()
        .skip(1)
        .filter(|l| l.contains(",rps,"))
        .map(|l| {
            let mut f = l.split(',');
            let t = mttd::time::parse_timestamp(f.next().unwrap()).unwrap();
            (t, f.nth(1).unwrap().parse().unwrap())
        })
        .collect();
    for (window, seconds) in [("1h", 3600), ("1d", 86_400)] {
        let matured: Vec<&serde_json::Value> = recs
            .iter()
            .filter(|r| {
                let target = parse(&r["forecast"]["target_time"]);
                target <= latest && target > latest - seconds
            })
            .collect();
        let errors: Vec<(f64, bool)> = matured
            .iter()
            .map(|r| {
                let f = &r["forecast"];
                let y = actual[&parse(&f["target_time"])];
                let (lower, upper) = (f["lower"].as_f64().unwrap(), f["upper"].as_f64().unwrap());
                (f["point"].as_f64().unwrap() - y, (lower..=upper).contains(&y))
            })
            .collect();
        let n = errors.len() as f64;
        let entry = score["windows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["window"] == window)
            .unwrap();
        let version = &entry["versions"][0];
        assert_eq!(version["model_version"], 1, "{score}");
        assert_eq!(version["scored"].as_u64().unwrap() as usize, matured.len(), "{window}");
        assert!(!matured.is_empty());
        let mae = errors.iter().map(|e| e.0.abs()).sum::<f64>() / n;
        let bias = errors.iter().map(|e| e.0).sum::<f64>() / n;
        let coverage = errors.iter().filter(|e| e.1).count() as f64 / n;
        assert!(
            (version["mae"].as_f64().unwrap() - mae).abs() < 1e-9,
            "{window}: {version}"
        );
        assert!((version["bias"].as_f64().unwrap() - bias).abs() < 1e-9);
        assert!((version["coverage"].as_f64().unwrap() - coverage).abs() < 1e-12);
        let raised = matured
            .iter()
            .filter(|r| r["decision"]["changed_outcome"] == true)
            .count();
        assert_eq!(version["raised"].as_u64().unwrap() as usize, raised);
        assert_eq!(
            version["useful"].as_u64().unwrap() + version["unneeded"].as_u64().unwrap(),
            raised as u64
        );
    }
    // Those whose target time is still ahead are not scored.
    let matured = recs
        .iter()
        .filter(|r| parse(&r["forecast"]["target_time"]) <= latest)
        .count();
    assert!(matured < recs.len());
    let prom = std::fs::read_to_string(root.join("score/score.prom")).unwrap();
    let line = format!("mttd_live_scored{{workload=\"fc\",model_version=\"1\",window=\"1d\"}} {matured}\n");
    assert!(prom.contains(&line), "{prom}");
    assert!(prom.contains("mttd_live_mae{workload=\"fc\",model_version=\"1\",window=\"1h\"} "));

    // The live drift rule: the live MAE of the version in service against its validation MAE.
    let am = servers::alertmanager();
    let config = std::fs::read_to_string(root.join("w.yaml")).unwrap().replace(
        "  max_replicas: 40\n",
        "  max_replicas: 40\n  predictive:\n    adaptive_interval:\n      rate: 0.5\n",
    );
    let rule = |ratio: f64| {
        format!(
            "{config}deploy:\n  drift_alert:\n    alertmanager_url: {}\n    runbook_url: https://runbooks.example/mttd-drift\n    live_mae_ratio: {ratio}\n    live_window: 1d\n    min_scored: 5\n",
            am.url("http")
        )
    };
    let validation: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("store/fc/models/v1/validation.json")).unwrap()).unwrap();
    let validation_mae = validation["holdout"]["model"]["mae"].as_f64().unwrap();
    let day = &score["windows"][1]["versions"][0];
    let live_mae = day["mae"].as_f64().unwrap();
    // The workflow's metrics: the version in service over the last day.
    let value = |name: &str| std::fs::read_to_string(root.join("score/values").join(name)).unwrap();
    assert_eq!(value("model-version"), "1");
    assert_eq!(value("live-mae").parse::<f64>().unwrap(), live_mae);
    assert_eq!(value("live-scored"), day["scored"].to_string());
    assert_eq!(value("drift"), "none", "no live rule configured");
    let score_with = |ratio: f64| {
        std::fs::write(root.join("drift.yaml"), rule(ratio)).unwrap();
        mttd()
            .current_dir(root)
            .args([
                "score",
                "--config",
                "drift.yaml",
                "--store",
                "store",
                "--out",
                "drift",
                "--now",
                "latest",
            ])
            .assert()
            .success();
        let score: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("drift/score.json")).unwrap()).unwrap();
        let value = |name: &str| std::fs::read_to_string(root.join("drift/values").join(name)).unwrap();
        (score["drift"].clone(), value("drift"), value("drift-alert"))
    };
    let limit = live_mae / validation_mae;
    let (drift, held, posted) = score_with(limit * 1.01);
    assert_eq!((held.as_str(), posted.as_str()), ("false", "none"), "{drift}");
    assert!((drift["ratio"].as_f64().unwrap() - limit).abs() < 1e-9, "{drift}");
    assert_eq!(drift["validation_mae"].as_f64().unwrap(), validation_mae);
    assert_eq!(drift["model_version"], 1);
    let (drift, held, posted) = score_with(limit * 0.99);
    assert_eq!((held.as_str(), posted.as_str()), ("true", "posted"), "{drift}");
    let alert = alert_named(&am, "MttdForecastDrift");
    assert_eq!(alert["labels"]["workload"], "fc");
    assert_eq!(alert["annotations"]["model_version"], "v1");
    assert_eq!(alert["annotations"]["validation_mae"], validation_mae.to_string());
}

/// The alert named `name` that Alertmanager `am` holds (fails when there is none).
fn alert_named(am: &servers::Server, name: &str) -> serde_json::Value {
    let (status, body) = servers::http_get(&am.address, "/api/v2/alerts");
    assert_eq!(status, 200, "{body}");
    let alerts: serde_json::Value = serde_json::from_str(&body).unwrap();
    alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} alert in {body}"))
}
