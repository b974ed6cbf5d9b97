//! mttd's Argo templates, run by the local executor (`executor.rs`, Argo's semantics) with the
//! real step programs: every branch of the retrain DAG (promote, reject, needs-approval then
//! approved), the forecast with no model (a fallback through every metric `when`) and with a
//! model in assisted mode (the HPA patched in the workload's namespace, by the identity granted
//! there). Plus what a platform engineer's install commands need: kustomize's `images:` rewrites
//! the templates' images, and every file to apply is a Kubernetes object.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::executor::{Cluster, Phase, Workflow};
use super::{documents, govaluate, root, workflow_templates};

const WORKLOAD: &str = "demo-api";
const NAMESPACE: &str = "shop";

/// The demo workload's export and config, as the templates mount them.
struct Demo {
    csv: String,
    config: String,
}

fn demo(dir: &Path) -> Demo {
    mttd::demo::write(dir, 30, 7).unwrap();
    Demo {
        csv: std::fs::read_to_string(dir.join("workload.csv")).unwrap(),
        config: std::fs::read_to_string(dir.join("mttd.yaml")).unwrap(),
    }
}

/// A cluster with mttd's RBAC installed, a default artifact repository holding the workload's
/// metrics export, and its config ConfigMap (`config` with the source at `source_path`).
fn cluster(dir: &Path, demo: &Demo, policy: &str, source_path: &str, deploy: &str) -> Cluster {
    let mut c = Cluster::new(dir);
    let templates: Vec<Value> = documents()
        .into_iter()
        .filter(|(f, _)| f.starts_with("templates/") || f.starts_with("examples/"))
        .map(|(_, d)| d)
        .collect();
    c.install_rbac("argo", &templates);
    let repository = dir.join("artifact-repository");
    std::fs::create_dir_all(repository.join(format!("mttd/{WORKLOAD}"))).unwrap();
    std::fs::write(repository.join(format!("mttd/{WORKLOAD}/metrics.csv")), &demo.csv).unwrap();
    c.artifact_repository = Some(repository);
    let config = demo
        .config
        .replace("path: workload.csv", &format!("path: {source_path}"))
        + deploy;
    let mut data = BTreeMap::from([
        ("config.yaml".to_string(), config),
        (
            "policy.yaml".to_string(),
            format!("apiVersion: mttd/v1\nkind: GatePolicy\n{policy}"),
        ),
    ]);
    if source_path == "metrics.csv" {
        // The forecast reads the export from its config folder here (a cluster would read
        // Prometheus): a test-only shortcut, the export is far larger than a ConfigMap may be.
        data.insert("metrics.csv".into(), demo.csv.clone());
    }
    c.configmaps
        .insert(("argo".into(), format!("mttd-config-{WORKLOAD}")), data);
    c
}

fn store_url(dir: &Path) -> String {
    format!("file://{}", dir.join("store").display())
}

fn retrain(c: &mut Cluster, dir: &Path) -> Workflow {
    let template = &workflow_templates()["mttd-retrain"];
    let store = store_url(dir);
    c.submit(
        template,
        &[("workload", WORKLOAD), ("store", &store), ("triggered-by", "test")],
    )
    .unwrap()
}

/// The forecast WorkflowTemplate submitted for the workload's HPA in `NAMESPACE`.
fn forecast(c: &mut Cluster, dir: &Path) -> Workflow {
    let template = &workflow_templates()["mttd-forecast"];
    let store = store_url(dir);
    c.submit(
        template,
        &[("workload", WORKLOAD), ("namespace", NAMESPACE), ("store", &store)],
    )
    .unwrap()
}

fn registry(dir: &Path) -> mttd::contract::Registry {
    let store = mttd::store::Store::open(&store_url(dir)).unwrap();
    mttd::store::registry::registry(&store, WORKLOAD).unwrap()
}

fn metric<'a>(wf: &'a Workflow, name: &str) -> Vec<&'a BTreeMap<String, String>> {
    wf.metrics
        .iter()
        .filter(|m| m.name == name)
        .map(|m| &m.labels)
        .collect()
}

const REACTIVE: &str = "under_provisioning_baseline: reactive\n";

/// The workload's HPA in its namespace (minReplicas `min`), and the example Role there granting
/// mttd-forecast that HPA (the example's is `api`; this workload's is `demo-api`).
fn with_hpa(c: &mut Cluster, min: u32) {
    let hpa = json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": WORKLOAD, "namespace": NAMESPACE},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": WORKLOAD},
                 "minReplicas": min, "maxReplicas": 40,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
    });
    c.objects.insert(hpa_key(), hpa);
    for (_, d) in c.rbac.iter_mut() {
        if d["metadata"]["name"] == "mttd-forecast-api" && d["kind"] == "Role" {
            d["rules"][0]["resourceNames"] = json!([WORKLOAD]);
        }
    }
}

fn hpa_key() -> (String, String, String) {
    ("HorizontalPodAutoscaler".into(), NAMESPACE.into(), WORKLOAD.into())
}

#[test]
fn a_retrain_that_the_gate_promotes_is_published_and_forecast_in_assisted_mode() {
    let dir = tempfile::TempDir::new().unwrap();
    let demo = demo(dir.path());
    let mut c = cluster(dir.path(), &demo, REACTIVE, "/work/input/metrics.csv", "");
    let wf = retrain(&mut c, dir.path());
    assert_eq!(wf.phase(), "Succeeded", "{}", wf.summary());
    assert_eq!(wf.node("gate").outputs["decision"], "promote");
    assert_eq!(wf.phase_of("approval"), Some(Phase::Skipped), "{}", wf.summary());
    assert_eq!(wf.phase_of("publish"), Some(Phase::Succeeded));
    assert_eq!(wf.node("publish").outputs["version"], "1");
    assert_eq!(wf.phase_of("record-approval"), Some(Phase::Skipped));
    assert_eq!(registry(dir.path()).promoted, Some(1));
    assert!(wf.metric_errors.is_empty(), "{:?}", wf.metric_errors);
    assert_eq!(metric(&wf, "mttd_gate_decisions_total")[0]["decision"], "promote");
    assert_eq!(metric(&wf, "mttd_validation_mae").len(), 1);

    // The forecast of the model just promoted, in assisted mode, for an HPA in `shop`.
    let deploy = "deploy:\n  mode: assisted\n  actuation: min-replicas-patch\n  max_staleness: 1000d\n";
    let mut c2 = cluster(dir.path(), &demo, REACTIVE, "metrics.csv", deploy);
    with_hpa(&mut c2, 2);
    let f = forecast(&mut c2, dir.path());
    assert_eq!(f.phase(), "Succeeded", "{}", f.summary());
    let outputs = &f.node("forecast").outputs;
    assert_eq!(outputs["fallback"], "none", "{outputs:?}");
    assert_eq!(outputs["patch-hpa"], "true");
    assert_eq!(f.phase_of("raise-hpa-floor"), Some(Phase::Succeeded), "{}", f.summary());
    assert_eq!(f.node("raise-hpa-floor").service_account, "mttd-forecast");
    assert_eq!(
        f.node("forecast").service_account,
        "mttd",
        "the forecast container has no API rights"
    );
    let floor = &c2.objects[&hpa_key()];
    assert_eq!(floor["spec"]["minReplicas"].to_string(), outputs["replicas"]);
    assert_eq!(floor["spec"]["maxReplicas"], 40, "a merge patch keeps the rest");
    assert!(c2.objects.contains_key(&(
        "ConfigMap".to_string(),
        "argo".to_string(),
        format!("mttd-forecast-{WORKLOAD}")
    )));
    assert!(f.metric_errors.is_empty(), "{:?}", f.metric_errors);
    let replicas = metric(&f, "mttd_recommended_replicas");
    assert_eq!(replicas.len(), 1);
    assert_eq!(replicas[0]["model_version"], "1");
    // The decision record's counter, by what set the replicas (a bounded code).
    let decisions = metric(&f, "mttd_forecast_decisions_total");
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["set_by"], outputs["set-by"]);
    assert_ne!(outputs["set-by"], "none");
    assert_eq!(metric(&f, "mttd_reactive_replicas").len(), 1);

    // Without the Role in the workload's namespace, the patch is forbidden there.
    c2.rbac.retain(|(ns, _)| ns != NAMESPACE);
    let f = forecast(&mut c2, dir.path());
    assert_eq!(f.phase_of("raise-hpa-floor"), Some(Phase::Failed), "{}", f.summary());
    assert!(f.node("raise-hpa-floor").message.contains("forbidden"));
}

#[test]
fn a_rejected_candidate_is_not_published_and_the_workflow_succeeds() {
    let dir = tempfile::TempDir::new().unwrap();
    let demo = demo(dir.path());
    let policy = format!("{REACTIVE}min_training_rows: 100000000\n");
    let mut c = cluster(dir.path(), &demo, &policy, "/work/input/metrics.csv", "");
    let wf = retrain(&mut c, dir.path());
    assert_eq!(wf.phase(), "Succeeded", "{}", wf.summary());
    assert_eq!(wf.node("gate").outputs["decision"], "reject");
    for skipped in ["approval", "publish", "record-approval"] {
        assert_eq!(
            wf.phase_of(skipped),
            Some(Phase::Skipped),
            "{skipped}: {}",
            wf.summary()
        );
    }
    assert!(registry(dir.path()).versions.is_empty(), "nothing published");
    assert_eq!(metric(&wf, "mttd_gate_decisions_total")[0]["decision"], "reject");
}

#[test]
fn a_candidate_that_needs_approval_waits_then_is_published_and_the_approver_recorded() {
    let dir = tempfile::TempDir::new().unwrap();
    let demo = demo(dir.path());
    let policy = format!("{REACTIVE}require_approval: true\n");
    let mut c = cluster(dir.path(), &demo, &policy, "/work/input/metrics.csv", "");
    // The change log's keys as an install provides them: the publisher's and the approver's
    // Secrets, and the trusted public keys' ConfigMap.
    let key = |name: &str| {
        let path = dir.path().join(name);
        let public = mttd::store::signing::keygen(&path).unwrap();
        (std::fs::read_to_string(&path).unwrap(), public)
    };
    let ((publisher, publisher_public), (approver, approver_public)) = (key("publisher.key"), key("approver.key"));
    let trusted = format!("publisher: {publisher_public}\napprover: {approver_public}\n");
    for (secret, text) in [("mttd-publisher-key", &publisher), ("mttd-approver-key", &approver)] {
        c.secrets.insert(
            ("argo".into(), secret.into()),
            BTreeMap::from([("key".to_string(), text.clone())]),
        );
    }
    c.configmaps.insert(
        ("argo".into(), "mttd-trusted-keys".into()),
        BTreeMap::from([("trusted-keys".to_string(), trusted.clone())]),
    );
    let mut wf = retrain(&mut c, dir.path());
    assert_eq!(wf.phase(), "Running", "{}", wf.summary());
    assert_eq!(wf.phase_of("approval"), Some(Phase::Suspended));
    assert_eq!(wf.phase_of("publish"), None, "publish waits for the approval");
    // `argo resume` without `argo node set` first is refused: approved-by has no value.
    let refused = c.resume(&mut wf, "approval", &[]).unwrap_err();
    assert!(refused.contains("approved-by"), "{refused}");
    c.resume(
        &mut wf,
        "approval",
        &[("approved-by", "alice"), ("reason", "replay reviewed")],
    )
    .unwrap();
    assert_eq!(wf.phase(), "Succeeded", "{}", wf.summary());
    assert_eq!(wf.phase_of("publish"), Some(Phase::Succeeded));
    assert_eq!(
        wf.phase_of("record-approval"),
        Some(Phase::Succeeded),
        "{}",
        wf.summary()
    );
    let r = registry(dir.path());
    assert_eq!(r.promoted, Some(1));
    let approval = r.versions[0].approval.as_ref().expect("the approval is on record");
    assert_eq!(
        (approval.by.as_str(), approval.reason.as_str()),
        ("alice", "replay reviewed")
    );
    // Each entry signed by the key of its role; a reader that trusts them reads the log.
    let store = mttd::store::Store::open(&store_url(dir.path()))
        .unwrap()
        .with_trust(mttd::store::signing::TrustedKeys::from_text(&trusted, "trusted").unwrap());
    let log = mttd::store::registry::read_log(&store, WORKLOAD).unwrap();
    let signers: Vec<String> = log
        .iter()
        .map(|(e, _)| e.signature.as_ref().unwrap().key.clone())
        .collect();
    assert_eq!(signers, [publisher_public, approver_public]);
}

#[test]
fn a_forecast_without_a_model_falls_back_and_every_metric_when_evaluates() {
    let dir = tempfile::TempDir::new().unwrap();
    let demo = demo(dir.path());
    let deploy = "deploy:\n  mode: assisted\n  actuation: min-replicas-patch\n  max_staleness: 1000d\n";
    let mut c = cluster(dir.path(), &demo, REACTIVE, "metrics.csv", deploy);
    with_hpa(&mut c, 10);
    let f = forecast(&mut c, dir.path());
    assert_eq!(f.phase(), "Succeeded", "{}", f.summary());
    assert_eq!(f.node("forecast").outputs["fallback"], "no-promoted-model");
    assert_eq!(f.phase_of("publish-advice"), Some(Phase::Succeeded), "{}", f.summary());
    // Assisted mode on a fallback: the HPA gets its operator's floor back (2, raised to 10 before).
    assert_eq!(f.phase_of("raise-hpa-floor"), Some(Phase::Succeeded), "{}", f.summary());
    assert_eq!(c.objects[&hpa_key()]["spec"]["minReplicas"], 2);
    assert!(f.metric_errors.is_empty(), "{:?}", f.metric_errors);
    assert!(metric(&f, "mttd_recommended_replicas").is_empty());
    assert_eq!(
        metric(&f, "mttd_forecast_runs_total")[0]["fallback"],
        "no-promoted-model"
    );
    assert_eq!(metric(&f, "mttd_forecast_decisions_total")[0]["set_by"], "fallback");
}

/// The shadow promotion step as its WorkflowTemplate runs it: here with no shadow to judge (the
/// trials themselves: tests/it/shadow.rs, on the same program).
#[test]
fn a_promotion_run_without_shadows_changes_nothing_and_counts_its_outcome() {
    let dir = tempfile::TempDir::new().unwrap();
    let demo = demo(dir.path());
    let mut c = cluster(dir.path(), &demo, REACTIVE, "metrics.csv", "");
    let store = store_url(dir.path());
    let wf = c
        .submit(
            &workflow_templates()["mttd-live-verdicts"],
            &[("workload", WORKLOAD), ("store", &store), ("triggered-by", "test")],
        )
        .unwrap();
    assert_eq!(wf.phase(), "Succeeded", "{}", wf.summary());
    assert_eq!(wf.node("live-verdicts").outputs["outcome"], "none");
    let trials: Value = serde_json::from_str(&wf.node("live-verdicts").outputs["trials"]).unwrap();
    assert_eq!(trials["trials"], serde_json::json!([]));
    assert!(wf.metric_errors.is_empty(), "{:?}", wf.metric_errors);
    let counted = metric(&wf, "mttd_live_verdicts_total");
    assert_eq!(
        (counted[0]["outcome"].as_str(), counted[0]["drift"].as_str()),
        ("none", "none")
    );
    assert_eq!(wf.node("live-verdicts").outputs["drift"], "none");
    assert_eq!(registry(dir.path()).head_sequence, 0, "nothing written");
}

/// The fleet template: the configs in mttd-fleet-configs split over `shards` pods (a DAG task
/// looping `withSequence`), each pod forecasting its shard, each workload alone, the state kept
/// in the store, the outcomes counted per shard in its metrics, each shard's advice applied as
/// one ConfigMap.
#[test]
fn a_fleet_run_forecasts_each_shard_in_a_pod_and_counts_each_outcome() {
    let dir = tempfile::TempDir::new().unwrap();
    let demo = demo(dir.path());
    let mut c = cluster(dir.path(), &demo, REACTIVE, "/work/input/metrics.csv", "");
    let wf = retrain(&mut c, dir.path());
    assert_eq!(wf.phase(), "Succeeded", "{}", wf.summary());
    assert_eq!(registry(dir.path()).promoted, Some(1));
    let config = demo.config.replace("path: workload.csv", "path: metrics.csv") + "deploy:\n  max_staleness: 1000d\n";
    c.configmaps.insert(
        ("argo".into(), "mttd-fleet-configs".into()),
        BTreeMap::from([
            (format!("{WORKLOAD}.yaml"), config),
            ("metrics.csv".to_string(), demo.csv.clone()),
            (
                "zz-broken.yaml".to_string(),
                "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: zz\n".to_string(),
            ),
        ]),
    );
    let store = store_url(dir.path());
    let wf = c
        .submit(
            &workflow_templates()["mttd-fleet-forecast"],
            &[("store", &store), ("shards", "2")],
        )
        .unwrap();
    assert_eq!(wf.phase(), "Succeeded", "{}", wf.summary());
    // In name order the workload's config is shard 0's, the broken one shard 1's.
    assert_eq!(
        counts_of(&wf, "fleet-forecast(0:0)"),
        ("1".into(), "0".into(), "0".into())
    );
    assert_eq!(
        counts_of(&wf, "fleet-forecast(1:1)"),
        ("0".into(), "0".into(), "1".into())
    );
    assert!(wf.metric_errors.is_empty(), "{:?}", wf.metric_errors);
    let gauges = metric(&wf, "mttd_fleet_workloads");
    assert_eq!(gauges.len(), 6, "three outcomes per shard");
    for shard in ["0/2", "1/2"] {
        assert_eq!(gauges.iter().filter(|g| g["shard"] == shard).count(), 3, "{gauges:?}");
    }
    assert!(
        dir.path()
            .join(format!("store/{WORKLOAD}/forecast/state.json"))
            .exists(),
        "the state in the store"
    );
    // Each shard's advice applied as one ConfigMap by the publish-advice resource step, from the
    // pod's advice.yaml through the artifact repository.
    for (index, failed) in [(0, 0), (1, 1)] {
        let node = wf.node(&format!("publish-advice({index}:{index})"));
        assert_eq!(node.phase, Phase::Succeeded, "{}", node.message);
        assert_eq!(node.service_account, "mttd-forecast");
        let advice = advice_of(&c, &format!("{index}-of-2"));
        let run: Value = serde_json::from_str(advice["data"]["fleet.json"].as_str().unwrap()).unwrap();
        assert_eq!(run["shard"], format!("{index}/2"));
        assert_eq!(run["workloads"], 1);
        assert_eq!(advice["data"]["failed"], failed.to_string());
    }
    assert!(advice_of(&c, "0-of-2")["data"]["fleet.json"]
        .as_str()
        .unwrap()
        .contains(WORKLOAD));
    // One shard by default: one pod, all the configs.
    let wf = c
        .submit(&workflow_templates()["mttd-fleet-forecast"], &[("store", &store)])
        .unwrap();
    assert_eq!(wf.phase(), "Succeeded", "{}", wf.summary());
    assert_eq!(
        counts_of(&wf, "fleet-forecast(0:0)"),
        ("1".into(), "0".into(), "1".into())
    );
    assert!(wf.phase_of("fleet-forecast(1:1)").is_none());
    assert_eq!(advice_of(&c, "0-of-1")["data"]["recommendations"], "1");
}

/// The advice ConfigMap `mttd-fleet-advice-<shard>` in the workflow's namespace.
fn advice_of<'a>(c: &'a Cluster, shard: &str) -> &'a Value {
    let key = (
        "ConfigMap".to_string(),
        "argo".to_string(),
        format!("mttd-fleet-advice-{shard}"),
    );
    c.objects.get(&key).unwrap_or_else(|| panic!("no {key:?}"))
}

/// A fleet pod's outcome counts: recommendations, fallbacks, failed.
fn counts_of(wf: &Workflow, node: &str) -> (String, String, String) {
    let o = &wf.node(node).outputs;
    (
        o["recommendations"].clone(),
        o["fallbacks"].clone(),
        o["failed"].clone(),
    )
}

/// The retrain fan-out: one child Workflow of mttd-retrain per listed workload (a resource step
/// looping `withParam`), each run to its end and judged by its phase; a workload that cannot be
/// retrained fails alone and does not stop the next (`failFast: false`), and the parent fails.
#[test]
fn a_retrain_fan_out_runs_one_child_workflow_per_workload() {
    let dir = tempfile::TempDir::new().unwrap();
    let demo = demo(dir.path());
    let mut c = cluster(dir.path(), &demo, REACTIVE, "/work/input/metrics.csv", "");
    // Installed as an install would patch it: the model store is the install's.
    let mut installed = workflow_templates();
    for p in installed.get_mut("mttd-retrain").unwrap()["spec"]["arguments"]["parameters"]
        .as_array_mut()
        .unwrap()
    {
        if p["name"] == "store" {
            p["value"] = Value::String(store_url(dir.path()));
        }
    }
    c.workflow_templates = installed.clone();
    let workloads = format!(r#"["ghost", "{WORKLOAD}"]"#);
    let wf = c
        .submit(&installed["mttd-retrain-fleet"], &[("workloads", &workloads)])
        .unwrap();
    assert_eq!(wf.phase(), "Failed", "{}", wf.summary());
    assert_eq!(wf.phase_of("retrain"), Some(Phase::Failed));
    let ghost = wf.node("retrain(0:ghost)");
    assert_eq!(ghost.phase, Phase::Failed, "{}", ghost.message);
    assert!(ghost.message.contains("failure condition met"), "{}", ghost.message);
    let ours = wf.node(&format!("retrain(1:{WORKLOAD})"));
    assert_eq!(ours.phase, Phase::Succeeded, "{}", ours.message);
    assert_eq!(ours.service_account, "mttd-retrain-fleet");
    // The children: the ghost's config volume cannot mount; the workload's retrain published.
    assert_eq!(c.children.len(), 2);
    assert!(
        c.children[0].summary().contains("mttd-config-ghost"),
        "{}",
        c.children[0].summary()
    );
    assert_eq!(c.children[1].phase(), "Succeeded", "{}", c.children[1].summary());
    assert_eq!(c.children[1].parameters["workload"], WORKLOAD);
    assert_eq!(registry(dir.path()).promoted, Some(1));
}

#[test]
fn without_an_artifact_repository_a_retrain_cannot_start() {
    let dir = tempfile::TempDir::new().unwrap();
    let demo = demo(dir.path());
    let mut c = cluster(dir.path(), &demo, REACTIVE, "/work/input/metrics.csv", "");
    c.artifact_repository = None;
    let wf = retrain(&mut c, dir.path());
    assert_eq!(wf.phase(), "Error", "{}", wf.summary());
    assert!(wf
        .node("extract-features")
        .message
        .contains("artifact storage is not configured"));
}

/// The words a step can write into the output parameters that `when`s compare.
fn emitted_words() -> BTreeMap<&'static str, Vec<String>> {
    let enum_of = |schema: &str, def: &str| -> Vec<String> {
        let s: Value =
            serde_json::from_slice(&std::fs::read(root().join(format!("schemas/{schema}.schema.json"))).unwrap())
                .unwrap();
        let d = &s["$defs"][def];
        let values: Vec<String> = match d["enum"].as_array() {
            Some(e) => e.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
            // Documented variants are a `const` each, the others an `enum` together.
            None => d["oneOf"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|v| match v["const"].as_str() {
                    Some(c) => vec![c.to_string()],
                    None => v["enum"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e.as_str().unwrap().to_string())
                        .collect(),
                })
                .collect(),
        };
        assert!(!values.is_empty(), "{schema} {def}");
        values
    };
    let mut fallbacks = enum_of("Recommendation", "FallbackReason");
    fallbacks.extend(["none".to_string(), "step-failed".to_string()]);
    BTreeMap::from([
        ("decision", enum_of("Decision", "Verdict")),
        ("fallback", fallbacks),
        ("patch-hpa", vec!["true".into(), "false".into()]),
        // A replica count, or `none` (values/reactive-replicas).
        ("reactive-replicas", vec!["none".into(), "3".into()]),
        ("live-coverage", vec!["none".into(), "0.8".into()]),
        // The score step's day of the version in service (values/live-*), or `none`.
        ("live-mae", vec!["none".into(), "12.5".into()]),
        ("live-interval-coverage", vec!["none".into(), "0.8".into()]),
    ])
}

#[test]
fn every_when_evaluates_for_every_word_the_steps_emit() {
    let words = emitted_words();
    let mut checked = 0;
    for (name, wt) in workflow_templates() {
        let text = serde_json::to_string(&wt).unwrap();
        let mut whens: Vec<String> = Vec::new();
        for t in wt["spec"]["templates"].as_array().unwrap() {
            for task in t["dag"]["tasks"].as_array().into_iter().flatten() {
                whens.extend(task["when"].as_str().map(String::from));
            }
            for m in t["metrics"]["prometheus"].as_array().into_iter().flatten() {
                whens.extend(m["when"].as_str().map(String::from));
            }
        }
        // Every `when` in the template is one of those collected (a template may have none).
        assert_eq!(whens.is_empty(), !text.contains("\"when\""), "{name}");
        for when in whens {
            // Every combination of the words its references can take.
            let refs: Vec<String> = super::placeholders(&when);
            let mut cases: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
            for r in &refs {
                let last = r.rsplit('.').next().unwrap();
                let values = match (r.as_str(), words.get(last)) {
                    ("status", _) => vec!["Succeeded".to_string(), "Failed".to_string()],
                    (_, Some(v)) => v.clone(),
                    (other, None) => panic!("{name}: `{when}` compares {other}, whose words are not known"),
                };
                cases = cases
                    .into_iter()
                    .flat_map(|c| {
                        values.iter().map(move |v| {
                            let mut c = c.clone();
                            c.insert(r.clone(), v.clone());
                            c
                        })
                    })
                    .collect();
            }
            for vars in cases {
                let substituted = super::executor::substitute(&when, &vars).unwrap();
                if let Err(e) = govaluate::evaluate(&substituted) {
                    panic!("{name}: `{when}` with {vars:?} is an error on Argo: {e}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "{checked}");
}

#[test]
fn kustomize_images_rewrite_every_template_image() {
    let dir = tempfile::TempDir::new().unwrap();
    let base = dir.path().join("base");
    std::fs::create_dir_all(&base).unwrap();
    for entry in std::fs::read_dir(root().join("templates")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, base.join(p.file_name().unwrap())).unwrap();
    }
    let overlay = dir.path().join("overlay");
    std::fs::create_dir_all(&overlay).unwrap();
    let images: String = [
        "extract-features",
        "train",
        "validate",
        "shadow-compare",
        "gate",
        "publish",
        "forecast",
        "score",
        "live-verdicts",
        "fleet-forecast",
        "mttd",
    ]
        .iter()
        .map(|i| format!("  - name: registry.example.com/mttd/{i}\n    newName: registry.corp.example/mttd/{i}\n    newTag: \"1.2.3\"\n"))
        .collect();
    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!("resources: [../base]\nimages:\n{images}"),
    )
    .unwrap();
    let out = std::process::Command::new("kubectl")
        .args(["kustomize"])
        .arg(&overlay)
        .output()
        .expect("this test needs kubectl (with its kustomize)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rendered = String::from_utf8(out.stdout).unwrap();
    let mut seen = 0;
    for doc in serde_yaml_ng::Deserializer::from_str(&rendered) {
        let d: Value = serde::Deserialize::deserialize(doc).unwrap();
        for t in d["spec"]["templates"].as_array().into_iter().flatten() {
            if let Some(image) = t["container"]["image"].as_str() {
                assert!(
                    image.starts_with("registry.corp.example/mttd/") && image.ends_with(":1.2.3"),
                    "{}/{}: {image} was not rewritten by `images:`",
                    d["metadata"]["name"],
                    t["name"]
                );
                seen += 1;
            }
        }
    }
    assert!(seen >= 8, "{seen} container images rendered");
}

#[test]
fn every_file_to_apply_is_a_named_kubernetes_object() {
    // `kubectl apply -k templates/` and `kubectl apply -n argo -f workflows/` (README).
    for (file, doc) in documents() {
        let transformer_config = file == "templates/kustomizeconfig.yaml";
        if !(file.starts_with("templates/") || file.starts_with("workflows/"))
            || doc["kind"] == "Kustomization"
            || transformer_config
        {
            continue;
        }
        assert!(
            doc["apiVersion"].is_string() && doc["kind"].is_string(),
            "{file}: not a Kubernetes object"
        );
        assert!(
            doc["metadata"]["name"].is_string() && doc["metadata"]["generateName"].is_null(),
            "{file}: `kubectl apply` needs metadata.name (it refuses generateName)"
        );
    }
    let workflows: Vec<_> = std::fs::read_dir(root().join("workflows")).unwrap().collect();
    assert_eq!(
        workflows.len(),
        documents().iter().filter(|(f, _)| f.starts_with("workflows/")).count(),
        "one object per file in workflows/"
    );
}

#[test]
fn the_readme_says_what_an_install_needs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for needed in [
        "Argo Workflows 3.6",
        "artifact repository",
        "templateReferencing: Secure",
        "argo_workflows_",
        "kustomizeconfig.yaml",
        "-n argo",
        "executor",
    ] {
        assert!(readme.contains(needed), "README.md says nothing of `{needed}`");
    }
}
