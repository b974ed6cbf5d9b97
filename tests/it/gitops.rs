//! GitOps-safe assisted mode: the forecast step pushes its floor to a real Pushgateway, a real
//! Prometheus scrapes it with the shipped scrape job, and the shipped KEDA and prometheus-adapter
//! queries read the floor while it is fresh and drop it once it is stale or withdrawn; the
//! shipped objects are checked against KEDA's CRD schema, the Kubernetes API and the adapter's
//! documented configuration fields.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, servers};
use crate::forecast::{fallback, forecast, promoted};

fn gitops(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops").join(file)
}

fn yaml(file: &str) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(gitops(file)).unwrap()).unwrap()
}

/// Every document of a multi-document file of examples/gitops.
fn documents(file: &str) -> Vec<Value> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(gitops(file)).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

/// The balloon ScaledObject's query, as shipped.
fn balloon_query() -> String {
    let docs = documents("balloon.yaml");
    let scaled = docs.iter().find(|d| d["kind"] == "ScaledObject").unwrap();
    scaled["spec"]["triggers"][0]["metadata"]["query"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The KEDA trigger's query, as shipped.
fn keda_query() -> String {
    let scaled = yaml("keda-scaledobject.yaml");
    let trigger = scaled["spec"]["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "prometheus")
        .expect("a prometheus trigger")
        .clone();
    trigger["metadata"]["query"].as_str().unwrap().to_string()
}

/// The adapter's external rule, as shipped (the config file inside the ConfigMap).
fn adapter_rule() -> Value {
    let configmap = yaml("prometheus-adapter-config.yaml");
    let config: Value = serde_yaml_ng::from_str(configmap["data"]["config.yaml"].as_str().unwrap()).unwrap();
    config["externalRules"][0].clone()
}

/// The adapter's query for the shipped HPA's External metric: its templates filled in as the
/// adapter does (`<<.Series>>` the metric, `<<.LabelMatchers>>` the HPA's selector).
fn adapter_query() -> String {
    let hpa = yaml("hpa-external-floor.yaml");
    let external = &hpa["spec"]["metrics"][1]["external"]["metric"];
    let matchers: Vec<String> = external["selector"]["matchLabels"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap()))
        .collect();
    adapter_rule()["metricsQuery"]
        .as_str()
        .unwrap()
        .replace("<<.Series>>", external["name"].as_str().unwrap())
        .replace("<<.LabelMatchers>>", &matchers.join(","))
}

/// The single value of a query, or None when it returns nothing.
fn value(prometheus: &servers::Server, promql: &str) -> Option<f64> {
    let result = servers::query(prometheus, promql);
    assert!(result.len() <= 1, "{promql}: one series at most: {result:?}");
    result.first().map(|s| s["value"][1].as_str().unwrap().parse().unwrap())
}

/// Waits (up to 30 s, Prometheus scraping every second) until the query answers `expected`.
fn eventually(prometheus: &servers::Server, promql: &str, expected: Option<f64>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = value(prometheus, promql);
        if got == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{promql}: {got:?}, expected {expected:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_pushed_floor_is_read_while_fresh_and_dropped_when_stale_or_withdrawn() {
    let gateway = servers::pushgateway();
    // The shipped scrape job, pointed at the test's Pushgateway every second.
    let scrape = std::fs::read_to_string(gitops("prometheus-scrape-pushgateway.yaml"))
        .unwrap()
        .replace("pushgateway.monitoring.svc:9091", &gateway.address)
        .replace("scrape_interval: 15s", "scrape_interval: 1s");
    let prometheus = servers::prometheus_configured(&scrape, &[], None, &[]);

    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    promoted(root);
    // The shipped objects are for the workload `api`; this one is `fc`.
    let (keda, adapter, balloon) = (
        keda_query().replace("workload=\"api\"", "workload=\"fc\""),
        adapter_query().replace("workload=\"api\"", "workload=\"fc\""),
        balloon_query().replace("workload=\"api\"", "workload=\"fc\""),
    );
    let base = std::fs::read_to_string(root.join("w.yaml")).unwrap();
    let assisted = |max_staleness: &str| {
        format!(
            "{base}deploy:\n  mode: assisted\n  max_staleness: {max_staleness}\n  pushgateway:\n    url: {}\n  headroom:\n    max_replicas: 10\n",
            gateway.url("http")
        )
    };
    std::fs::write(root.join("pushed.yaml"), assisted("1000d")).unwrap();
    std::fs::write(root.join("strict.yaml"), assisted("5m")).unwrap();
    let pushed = |root: &Path| std::fs::read_to_string(root.join("out/values/floor-push")).unwrap();
    let wall_clock = |offset: i64| (chrono::Utc::now().timestamp() + offset).to_string();

    // A forecast made now: its floor is read by both queries.
    let rec = forecast(root, "pushed.yaml", &["--now", &wall_clock(0)]);
    assert_eq!(fallback(&rec), "none");
    let floor = rec["replicas"].as_f64().unwrap();
    assert_eq!(pushed(root), "pushed");
    assert!(
        !root.join("out/hpa-patch.yaml").exists(),
        "the HPA object is not patched"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("out/values/patch-hpa")).unwrap(),
        "false"
    );
    eventually(&prometheus, &keda, Some(floor));
    eventually(&prometheus, &adapter, Some(floor));
    // With 2 replicas running, the balloon holds room for the rest of the upper bound.
    let rec = forecast(
        root,
        "pushed.yaml",
        &["--now", &wall_clock(0), "--current-replicas", "2"],
    );
    let headroom = &rec["headroom"];
    let upper = headroom["upper_replicas"].as_u64().unwrap();
    assert_eq!(headroom["running_replicas"], 2);
    assert_eq!(headroom["balloon_replicas"].as_u64(), Some((upper - 2).min(10)));
    assert!(upper > 2, "the test's forecast asks for more than 2: {rec}");
    eventually(&prometheus, &balloon, headroom["balloon_replicas"].as_f64());
    // The pushed group, as Prometheus has it: the grouping key's labels on the floor.
    let series = servers::query(&prometheus, "mttd_floor_replicas");
    assert_eq!(series[0]["metric"]["job"], "mttd-forecast");
    assert_eq!(series[0]["metric"]["workload"], "fc");

    // A fallback (the data is years old for a 5m staleness limit) withdraws the floor at once,
    // though its timestamp is fresh: KEDA reads nothing, the adapter 0.
    let rec = forecast(root, "strict.yaml", &["--now", &wall_clock(0)]);
    assert_eq!(fallback(&rec), "metrics-stale");
    assert_eq!(pushed(root), "pushed");
    eventually(&prometheus, &keda, None);
    eventually(&prometheus, &adapter, Some(0.0));
    assert_eq!(
        rec["headroom"]["balloon_replicas"], 0,
        "no trusted forecast, no balloon"
    );
    eventually(&prometheus, &balloon, Some(0.0));

    // Fresh again, then a floor from a forecast made 20 minutes ago: older than the queries'
    // 900 s, it is dropped.
    forecast(root, "pushed.yaml", &["--now", &wall_clock(0)]);
    eventually(&prometheus, &keda, Some(floor));
    let made = wall_clock(-1200);
    let rec = forecast(root, "pushed.yaml", &["--now", &made]);
    assert_eq!(rec["replicas"].as_f64(), Some(floor));
    eventually(&prometheus, "mttd_floor_timestamp_seconds", made.parse().ok());
    eventually(&prometheus, &keda, None);
    eventually(&prometheus, &adapter, Some(0.0));
    eventually(&prometheus, &balloon, None);
    eventually(&prometheus, "mttd_floor_replicas", Some(floor));
}

#[test]
fn a_pushgateway_that_cannot_be_reached_leaves_the_recommendation_out_and_says_so() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    promoted(root);
    let config = format!(
        "{}deploy:\n  mode: assisted\n  max_staleness: 1000d\n  pushgateway:\n    url: http://127.0.0.1:1\n",
        std::fs::read_to_string(root.join("w.yaml")).unwrap()
    );
    std::fs::write(root.join("down.yaml"), config).unwrap();
    let rec = forecast(root, "down.yaml", &["--now", "latest"]);
    assert_eq!(fallback(&rec), "none");
    assert!(rec["replicas"].is_u64());
    assert_eq!(
        std::fs::read_to_string(root.join("out/values/floor-push")).unwrap(),
        "failed"
    );
}

#[test]
fn assisted_mode_without_a_pushgateway_names_the_field_and_the_way_out() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    std::fs::write(root.join("data.csv"), common::small_csv(6)).unwrap();
    let config = common::small_config("fc", "data.csv", "deploy:\n  mode: assisted\n");
    std::fs::write(root.join("w.yaml"), config).unwrap();
    common::step("forecast")
        .current_dir(root)
        .args(["--config", "w.yaml", "--out", "out"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("w.yaml: field `/deploy/pushgateway`"))
        .stderr(predicates::str::contains("actuation: min-replicas-patch"));
    assert!(!root.join("out").exists());
}

#[test]
fn the_shipped_objects_validate_and_agree_with_each_other() {
    // The ScaledObject against KEDA's own CRD schema, unknown fields refused.
    let schema_path = common::shared_dir().join("keda/scaledobject.strict.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&schema_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (KEDA's schema is in ../shared/keda; set MTTD_SHARED)",
            schema_path.display()
        )
    }))
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let scaled = yaml("keda-scaledobject.yaml");
    let errors: Vec<String> = validator.iter_errors(&scaled).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "keda-scaledobject.yaml: {errors:?}");
    // The schema does refuse a misspelled field.
    let mut misspelled = scaled.clone();
    misspelled["spec"]["triggers"][1]["metricTyp"] = "AverageValue".into();
    assert!(!validator.is_valid(&misspelled));

    // The HPA and the adapter's ConfigMap against the Kubernetes API, strictly.
    // The balloon's ScaledObject too.
    let balloon = documents("balloon.yaml");
    let balloon_scaled = balloon.iter().find(|d| d["kind"] == "ScaledObject").unwrap();
    let errors: Vec<String> = validator.iter_errors(balloon_scaled).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "balloon.yaml: {errors:?}");
    // The HPA, the adapter's ConfigMap, the balloon's PriorityClass and Deployment against the
    // Kubernetes API, strictly.
    let mut objects = vec![
        ("hpa-external-floor".to_string(), yaml("hpa-external-floor.yaml")),
        (
            "prometheus-adapter-config".to_string(),
            yaml("prometheus-adapter-config.yaml"),
        ),
    ];
    for doc in balloon.iter().filter(|d| d["kind"] != "ScaledObject") {
        objects.push((format!("balloon-{}", doc["kind"].as_str().unwrap()), doc.clone()));
    }
    assert_eq!(objects.len(), 4);
    common::assert_valid_kubernetes(&objects);
    // The balloon's pods yield to any real pod, and never preempt one themselves.
    let class = balloon.iter().find(|d| d["kind"] == "PriorityClass").unwrap();
    assert!(class["value"].as_i64().unwrap() < 0);
    assert_eq!(class["preemptionPolicy"], "Never");
    let deployment = balloon.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["priorityClassName"],
        class["metadata"]["name"]
    );
    assert!(deployment["spec"].get("replicas").is_none(), "KEDA owns the count");
    assert_eq!(
        balloon_scaled["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );

    // The adapter's rule uses only the fields its documentation names (docs/config.md,
    // docs/externalmetrics.md), and serves the metric the HPA asks for.
    let rule = adapter_rule();
    let documented = ["seriesQuery", "seriesFilters", "resources", "name", "metricsQuery"];
    for key in rule.as_object().unwrap().keys() {
        assert!(documented.contains(&key.as_str()), "adapter rule field {key}");
    }
    for key in rule["resources"].as_object().unwrap().keys() {
        assert!(
            ["overrides", "template", "namespaced"].contains(&key.as_str()),
            "resources.{key}"
        );
    }
    for key in rule["name"].as_object().unwrap().keys() {
        assert!(["matches", "as"].contains(&key.as_str()), "name.{key}");
    }
    let hpa = yaml("hpa-external-floor.yaml");
    let external = &hpa["spec"]["metrics"][1]["external"];
    assert_eq!(external["metric"]["name"], rule["name"]["as"]);
    assert_eq!(
        external["target"],
        serde_json::json!({"type": "AverageValue", "averageValue": "1"})
    );
    assert!(rule["seriesQuery"]
        .as_str()
        .unwrap()
        .starts_with(mttd::floor_metric::FLOOR_METRIC));
    // Both consumers drop the floor at the same age, and read the metrics mttd pushes.
    for query in [keda_query(), adapter_query(), balloon_query()] {
        assert!(query.contains("< 900"), "{query}");
        assert!(query.contains(mttd::floor_metric::FLOOR_TIMESTAMP_METRIC), "{query}");
    }
    let trigger = &scaled["spec"]["triggers"][1];
    assert_eq!(trigger["metricType"], "AverageValue");
    assert_eq!(trigger["metadata"]["threshold"], "1");
}

#[test]
fn the_dashboard_is_a_valid_configmap_and_every_query_runs_on_prometheus() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/grafana/dashboard.yaml");
    let configmap: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        configmap["metadata"]["labels"]["grafana_dashboard"], "1",
        "the sidecar's label"
    );
    common::assert_valid_kubernetes(&[("dashboard".into(), configmap.clone())]);
    let dashboard: Value = serde_json::from_str(configmap["data"]["mttd.json"].as_str().unwrap()).unwrap();
    let demand = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "demand")
        .unwrap()["query"]
        .as_str()
        .unwrap()
        .to_string();
    let templates = [
        "templates/forecast.yaml",
        "templates/retrain.yaml",
        "templates/live-verdicts.yaml",
    ]
    .map(|f| std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(f)).unwrap())
    .join("\n");
    let prometheus = servers::prometheus(None, &[]);
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            // Grafana's variables as it fills them in, then the query as Prometheus runs it.
            let filled = expr
                .replace("${demand}", &demand)
                .replace("$workload", "api")
                .replace("$__range", "1d");
            servers::query(&prometheus, &filled);
            queries += 1;
            // Every metric it reads is one mttd exports: a template's metric (Argo adds the
            // prefix) or one the forecast step pushes.
            for (i, _) in expr.match_indices("argo_workflows_") {
                let name: String = expr[i + "argo_workflows_".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    templates.contains(&format!("name: {name}\n")),
                    "{name} is no template's metric"
                );
            }
            for (i, _) in expr
                .match_indices("mttd_")
                .filter(|(i, _)| !expr[..*i].ends_with("argo_workflows_"))
            {
                let name: String = expr[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                use mttd::floor_metric::{FLOOR_METRIC, FLOOR_TIMESTAMP_METRIC, HEADROOM_METRIC};
                assert!(
                    [FLOOR_METRIC, FLOOR_TIMESTAMP_METRIC, HEADROOM_METRIC].contains(&name.as_str()),
                    "{name} is not pushed by the forecast step"
                );
            }
        }
    }
    assert!(queries >= 10, "{queries}");
}
