//! The Argo packaging, checked for everything a cluster would reject (there is no cluster here):
//! every Argo resource validates against Argo's own strict JSON Schema (shared/argo), every
//! container's arguments are accepted by that step's own parser, every DAG reference resolves,
//! the kustomization lists every file, every image is a Dockerfile target, every container is
//! locked down, and the Role grants only what the steps use.

mod executor;
mod govaluate;
mod runs;

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every YAML document in `templates/`, `workflows/` and `examples/` (not its subfolders), with
/// its file name.
pub fn documents() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for dir in ["templates", "workflows", "examples"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let name = format!("{dir}/{}", file.file_name().unwrap().to_string_lossy());
            for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                let value = Value::deserialize(doc).unwrap_or_else(|e| panic!("{name}: not YAML: {e}"));
                if !value.is_null() {
                    out.push((name.clone(), value));
                }
            }
        }
    }
    out
}

pub fn argo_schema(kind: &str) -> jsonschema::Validator {
    let path = common::shared_dir().join("argo/workflows-v4.1.2.strict.schema.json");
    let full: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let schema = serde_json::json!({
        "$schema": full["$schema"],
        "$ref": format!("#/definitions/io.argoproj.workflow.v1alpha1.{kind}"),
        "definitions": full["definitions"],
    });
    jsonschema::validator_for(&schema).unwrap()
}

const ARGO_KINDS: [&str; 4] = ["WorkflowTemplate", "CronWorkflow", "Workflow", "WorkflowEventBinding"];

fn schema_errors(validators: &BTreeMap<String, jsonschema::Validator>, doc: &Value) -> Vec<String> {
    let kind = doc["kind"].as_str().unwrap();
    validators[kind]
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn validators() -> BTreeMap<String, jsonschema::Validator> {
    ARGO_KINDS.iter().map(|k| (k.to_string(), argo_schema(k))).collect()
}

#[test]
fn every_argo_resource_validates_against_the_strict_schema() {
    let validators = validators();
    let mut seen = BTreeSet::new();
    for (file, doc) in documents() {
        let Some(kind) = doc["kind"].as_str() else { continue };
        if ARGO_KINDS.contains(&kind) {
            let errors = schema_errors(&validators, &doc);
            assert!(errors.is_empty(), "{file} ({kind}) is not valid Argo: {errors:#?}");
            seen.insert(kind.to_string());
        }
    }
    assert_eq!(seen.len(), ARGO_KINDS.len(), "one of each Argo kind: {seen:?}");
}

#[test]
fn the_strict_schema_catches_a_misspelled_field() {
    let validators = validators();
    let (_, template) = documents()
        .into_iter()
        .find(|(_, d)| d["kind"] == "WorkflowTemplate")
        .unwrap();
    let text = serde_json::to_string(&template)
        .unwrap()
        .replacen("\"container\":", "\"contaner\":", 1);
    let broken: Value = serde_json::from_str(&text).unwrap();
    assert!(!schema_errors(&validators, &broken).is_empty());
}

/// Every template of the WorkflowTemplate, by name.
/// Every WorkflowTemplate, by name.
pub fn workflow_templates() -> BTreeMap<String, Value> {
    documents()
        .into_iter()
        .filter(|(_, d)| d["kind"] == "WorkflowTemplate")
        .map(|(_, d)| (d["metadata"]["name"].as_str().unwrap().to_string(), d))
        .collect()
}

/// The templates of one WorkflowTemplate, by name.
fn templates_of(wt: &Value) -> BTreeMap<String, Value> {
    wt["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

/// Every template of every WorkflowTemplate, named `workflow-template/template`.
fn templates() -> BTreeMap<String, Value> {
    workflow_templates()
        .iter()
        .flat_map(|(wt_name, wt)| {
            templates_of(wt)
                .into_iter()
                .map(move |(n, t)| (format!("{wt_name}/{n}"), t))
        })
        .collect()
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|a| a.iter().map(|x| x["name"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// `{{…}}` placeholders in a string.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(a) = rest.find("{{") {
        let b = rest[a..].find("}}").expect("closed placeholder") + a;
        out.push(rest[a + 2..b].trim().to_string());
        rest = &rest[b + 2..];
    }
    out
}

fn replace_placeholders(text: &str) -> String {
    let mut s = text.to_string();
    for p in placeholders(text) {
        // A value of the parameter's kind: a version, a shard, a count, else a word.
        let value = match p.rsplit('.').next() {
            Some("version") => "3",
            Some("shard") => "1/4",
            Some("concurrency") => "8",
            _ => "sample",
        };
        s = s.replace(&format!("{{{{{p}}}}}"), value);
    }
    s
}

fn containers() -> Vec<(String, Value)> {
    templates()
        .into_iter()
        .filter(|(_, t)| t.get("container").is_some())
        .map(|(n, t)| (n, t["container"].clone()))
        .collect()
}

#[test]
fn every_container_command_line_is_accepted_by_its_step() {
    use mttd::cli::parse_step;
    use mttd::steps::{
        extract_features, fleet_forecast, forecast, gate, live_verdicts, publish, score, shadow_compare, train,
        validate,
    };
    for (name, c) in containers() {
        let command: Vec<String> = c["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let args: Vec<String> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| replace_placeholders(v.as_str().unwrap()))
            .collect();
        let argv: Vec<String> = command.iter().cloned().chain(args).collect();
        let program = command[0].trim_start_matches('/');
        let result = match program {
            "mttd-extract-features" => parse_step::<extract_features::Args, _, _>(&argv).map(|_| ()),
            "mttd-train" => parse_step::<train::Args, _, _>(&argv).map(|_| ()),
            "mttd-validate" => parse_step::<validate::Args, _, _>(&argv).map(|_| ()),
            "mttd-shadow-compare" => parse_step::<shadow_compare::Args, _, _>(&argv).map(|_| ()),
            "mttd-gate" => parse_step::<gate::Args, _, _>(&argv).map(|_| ()),
            "mttd-publish" => parse_step::<publish::Args, _, _>(&argv).map(|_| ()),
            "mttd-forecast" => parse_step::<forecast::Args, _, _>(&argv).map(|_| ()),
            "mttd-score" => parse_step::<score::Args, _, _>(&argv).map(|_| ()),
            "mttd-fleet-forecast" => parse_step::<fleet_forecast::Args, _, _>(&argv).map(|_| ()),
            "mttd-live-verdicts" => parse_step::<live_verdicts::Args, _, _>(&argv).map(|_| ()),
            "mttd" => <mttd::cli::Cli as clap::Parser>::try_parse_from(&argv).map(|_| ()),
            other => panic!("template {name}: unknown program {other}"),
        };
        if let Err(e) = result {
            panic!("template {name}: {argv:?} is refused by {program}: {e}");
        }
    }
}

#[test]
fn every_dag_reference_resolves() {
    let wts = workflow_templates();
    assert!(
        wts.contains_key("mttd-retrain") && wts.contains_key("mttd-forecast"),
        "{:?}",
        wts.keys()
    );
    let mut used = BTreeSet::new();
    for wt in wts.values() {
        dag_references_resolve(wt);
    }
    for (file, doc) in documents() {
        let spec = match doc["kind"].as_str() {
            Some("CronWorkflow") => &doc["spec"]["workflowSpec"],
            Some("Workflow") => &doc["spec"],
            Some("WorkflowEventBinding") => &doc["spec"]["submit"],
            _ => continue,
        };
        let name = spec["workflowTemplateRef"]["name"].as_str().unwrap_or_default();
        let wt = wts
            .get(name)
            .unwrap_or_else(|| panic!("{file}: no WorkflowTemplate {name}"));
        used.insert(name.to_string());
        // Workflows that use a template give only parameters it declares, and every one without a default.
        let declared = names(&wt["spec"]["arguments"]["parameters"]);
        let required: BTreeSet<String> = wt["spec"]["arguments"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p.get("value").is_none())
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        let given = names(&spec["arguments"]["parameters"]);
        assert!(given.is_subset(&declared), "{file}: {given:?}");
        assert!(
            required.is_subset(&given),
            "{file} misses {:?}",
            required.difference(&given).collect::<Vec<_>>()
        );
    }
    assert_eq!(
        used.len(),
        wts.len(),
        "every WorkflowTemplate is used by a workflow in workflows/"
    );
}

fn dag_references_resolve(wt: &Value) {
    let templates = templates_of(wt);
    let workflow_parameters = names(&wt["spec"]["arguments"]["parameters"]);
    let dag = &templates[wt["spec"]["entrypoint"].as_str().unwrap()]["dag"]["tasks"];
    let tasks: BTreeMap<String, Value> = dag
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
        .collect();
    for (task_name, task) in &tasks {
        let template = &templates[task["template"]
            .as_str()
            .unwrap_or_else(|| panic!("{task_name}: no template"))];
        let given = names(&task["arguments"]["artifacts"]);
        let wanted = names(&template["inputs"]["artifacts"]);
        for artifact in template["inputs"]["artifacts"].as_array().into_iter().flatten() {
            let has_source = artifact.get("s3").is_some() || artifact["optional"] == true;
            let name = artifact["name"].as_str().unwrap();
            assert!(
                has_source || given.contains(name),
                "task {task_name}: input artifact {name} is not given"
            );
        }
        assert!(
            given.is_subset(&wanted),
            "task {task_name} passes artifacts {given:?}, its template takes {wanted:?}"
        );
        let given_params = names(&task["arguments"]["parameters"]);
        assert_eq!(
            given_params,
            names(&template["inputs"]["parameters"]),
            "task {task_name}: parameters"
        );
        if let Some(depends) = task["depends"].as_str() {
            for word in depends.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '.')) {
                let dep = word.split('.').next().unwrap();
                if !dep.is_empty() {
                    assert!(tasks.contains_key(dep), "task {task_name} depends on unknown {dep}");
                }
            }
        }
        let text = serde_json::to_string(task).unwrap();
        for p in placeholders(&text) {
            let parts: Vec<&str> = p.split('.').collect();
            match parts.as_slice() {
                ["tasks", other, "outputs", kind, name] => {
                    let t = &templates[tasks[*other]["template"].as_str().unwrap()];
                    assert!(
                        names(&t["outputs"][*kind]).contains(*name),
                        "task {task_name}: {p}: no such output"
                    );
                }
                ["workflow", "parameters", name] => assert!(workflow_parameters.contains(*name), "{p}"),
                // A loop's item, in a task that loops.
                ["item"] if task["withSequence"].is_object() || task["withParam"].is_string() => {}
                _ => panic!("task {task_name}: unexpected reference {p}"),
            }
        }
    }
    for (name, template) in &templates {
        let inputs = names(&template["inputs"]["parameters"]);
        let outputs = names(&template["outputs"]["parameters"]);
        let mut body = template.clone();
        if let Some(dag) = body.get_mut("dag") {
            *dag = Value::Null;
        }
        for p in placeholders(&serde_json::to_string(&body).unwrap()) {
            let parts: Vec<&str> = p.split('.').collect();
            match parts.as_slice() {
                ["inputs", "parameters", n] => assert!(inputs.contains(*n), "template {name}: {p}"),
                ["outputs", "parameters", n] => assert!(outputs.contains(*n), "template {name}: {p}"),
                ["workflow", "parameters", n] => assert!(workflow_parameters.contains(*n), "template {name}: {p}"),
                ["workflow", "name"] => {}
                // The node's phase, a documented metric variable.
                ["status"] if template["metrics"].is_object() => {}
                _ => panic!("template {name}: unexpected reference {p}"),
            }
        }
    }
}

#[test]
fn the_kustomization_lists_every_template_file() {
    let k: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root().join("templates/kustomization.yaml")).unwrap())
            .unwrap();
    let listed: BTreeSet<String> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(root().join("templates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|f| f != "kustomization.yaml" && f != "kustomizeconfig.yaml")
        .collect();
    assert_eq!(listed, files);
}

#[test]
fn every_image_is_a_dockerfile_target_that_ships_its_program() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    for (name, c) in containers() {
        let image = c["image"].as_str().unwrap();
        let target = image.rsplit('/').next().unwrap().split(':').next().unwrap();
        assert!(
            dockerfile.contains(&format!(" AS {target}\n")),
            "template {name}: image {image}: no Dockerfile target {target}"
        );
        let program = c["command"][0].as_str().unwrap();
        let section = dockerfile
            .split(&format!(" AS {target}\n"))
            .nth(1)
            .unwrap()
            .split("\nFROM")
            .next()
            .unwrap();
        assert!(
            section.contains(&format!("ENTRYPOINT [\"{program}\"]")),
            "target {target} does not run {program}"
        );
        let binary = program.trim_start_matches('/');
        assert!(
            Path::new(&root().join("Cargo.toml")).exists()
                && std::fs::read_to_string(root().join("Cargo.toml"))
                    .unwrap()
                    .contains(&format!("name = \"{binary}\"")),
            "{binary} is not a binary of the package"
        );
    }
}

#[test]
fn every_container_is_locked_down() {
    for (name, c) in containers() {
        let sc = &c["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{name}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
        assert!(
            sc["capabilities"]["drop"]
                .as_array()
                .unwrap()
                .contains(&Value::from("ALL")),
            "{name}"
        );
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{name}");
        for what in ["requests", "limits"] {
            assert!(
                c["resources"][what]["cpu"].is_string() && c["resources"][what]["memory"].is_string(),
                "{name}: {what}"
            );
        }
        let line: Vec<&str> = c["command"]
            .as_array()
            .unwrap()
            .iter()
            .chain(c["args"].as_array().unwrap())
            .map(|v| v.as_str().unwrap())
            .collect();
        let shells = ["sh", "bash", "ash", "dash", "zsh"];
        let program = line[0].rsplit('/').next().unwrap();
        assert!(
            !shells.contains(&program) && !line.contains(&"-c"),
            "{name}: no shell: {line:?}"
        );
        // Credentials come from a Secret (secretKeyRef or envFrom), never from a value or a parameter.
        for env in c["env"].as_array().into_iter().flatten() {
            let var = env["name"].as_str().unwrap();
            // (Public keys are not secrets: the trusted keys come from a ConfigMap.)
            let public = var == "MTTD_TRUSTED_KEYS" && env["valueFrom"]["configMapKeyRef"]["name"].is_string();
            if !public && ["KEY", "SECRET", "TOKEN", "PASSWORD"].iter().any(|w| var.contains(w)) {
                assert!(env.get("value").is_none(), "{name}: {var} has a value");
                assert!(
                    env["valueFrom"]["secretKeyRef"]["name"].is_string(),
                    "{name}: {var} not from a Secret"
                );
            }
        }
        assert!(
            !serde_json::to_string(&c["args"])
                .unwrap()
                .to_lowercase()
                .contains("secret"),
            "{name}"
        );
    }
}

#[test]
fn every_resource_is_labelled() {
    for (file, doc) in documents() {
        if doc.get("kind").is_none() || doc["kind"] == "Kustomization" {
            continue;
        }
        assert_eq!(
            doc["metadata"]["labels"]["app.kubernetes.io/name"], "mttd",
            "{file}: {}",
            doc["kind"]
        );
        assert!(
            doc["metadata"]["labels"]["app.kubernetes.io/component"].is_string(),
            "{file}"
        );
    }
}

#[test]
fn the_role_grants_only_what_the_steps_use() {
    let roles: Vec<Value> = documents()
        .into_iter()
        .filter(|(_, d)| d["kind"] == "Role")
        .map(|(_, d)| d)
        .collect();
    let role = |name: &str| roles.iter().find(|r| r["metadata"]["name"] == name).unwrap();
    let steps = role("mttd");
    assert_eq!(
        steps["rules"],
        serde_json::json!([{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}])
    );
    // The forecast's resource steps: apply the advice ConfigMaps here; nothing more.
    let forecast = role("mttd-forecast");
    assert_eq!(
        forecast["rules"],
        serde_json::json!([
            {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "patch"]},
        ])
    );
    // In a workload's namespace: get and merge-patch that workload's HPA alone.
    let workload = role("mttd-forecast-api");
    assert_eq!(
        workload["rules"],
        serde_json::json!([
            {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "resourceNames": ["api"], "verbs": ["get", "patch"]},
        ])
    );
    // The retrain fan-out's resource steps: create the child Workflows and watch them.
    let fleet = role("mttd-retrain-fleet");
    assert_eq!(
        fleet["rules"],
        serde_json::json!([
            {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
            {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create", "get", "list", "watch"]},
        ])
    );
    let resource_actions: BTreeSet<String> = templates()
        .values()
        .filter_map(|t| t["resource"]["action"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        resource_actions,
        ["apply", "create", "patch"].iter().map(|s| s.to_string()).collect()
    );
    for role in &roles {
        for rule in role["rules"].as_array().unwrap() {
            for verb in rule["verbs"].as_array().unwrap() {
                assert!(!["*", "delete", "deletecollection", "escalate", "bind", "impersonate"]
                    .contains(&verb.as_str().unwrap()));
            }
            assert!(!rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "secrets" || r == "*"));
        }
    }
}

#[test]
fn every_kubernetes_object_validates_strictly_against_the_kubernetes_api() {
    let objects: Vec<(String, Value)> = documents()
        .into_iter()
        .filter(|(_, d)| {
            d["kind"].is_string() && !ARGO_KINDS.contains(&d["kind"].as_str().unwrap()) && d["kind"] != "Kustomization"
        })
        .collect();
    let kinds: BTreeSet<&str> = objects.iter().map(|(_, d)| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["ConfigMap", "Role", "RoleBinding", "Secret", "ServiceAccount"]
            .into_iter()
            .collect(),
        "the non-Argo objects"
    );
    common::assert_valid_kubernetes(&objects);
}

#[test]
fn the_alertmanager_receiver_passes_amtool() {
    let out = std::process::Command::new("amtool")
        .arg("check-config")
        .arg(root().join("examples/alertmanager/receiver.yaml"))
        .output()
        .expect("this test needs amtool (Debian prometheus-alertmanager; .ci/run installs it)");
    assert!(
        out.status.success(),
        "amtool check-config: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_example_config_map_holds_a_valid_workload_config_and_policy() {
    let (_, cm) = documents()
        .into_iter()
        .find(|(_, d)| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "mttd-config-api")
        .unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    for key in ["config.yaml", "policy.yaml"] {
        std::fs::write(dir.path().join(key), cm["data"][key].as_str().unwrap()).unwrap();
    }
    let config = mttd::contract::WorkloadConfig::load(&dir.path().join("config.yaml")).unwrap();
    assert!(matches!(config.source, mttd::contract::SourceConfig::Prometheus(_)));
    assert!(config.deploy.unwrap().surge_alert.is_some());
    <mttd::contract::GatePolicy as mttd::contract::Document>::read(&dir.path().join("policy.yaml")).unwrap();
}

/// The steps that only read the model store get read-only credentials; only publish,
/// record-approval and live-verdicts (each writes the change log) get the Secret that may write (review: security-and-robustness M3).
#[test]
fn only_the_steps_that_write_the_store_get_write_credentials() {
    let mut writers = BTreeSet::new();
    for (name, template) in templates() {
        let text = serde_json::to_string(&template["container"]).unwrap();
        let readonly = text.contains("\"mttd-store-readonly\"");
        let writes = text.contains("\"mttd-store-credentials\"");
        assert!(!(readonly && writes), "{name} has both");
        if writes {
            writers.insert(name.split('/').nth(1).unwrap().to_string());
        }
        let reads = ["shadow-compare", "gate", "forecast"]
            .iter()
            .any(|s| name.ends_with(&format!("/{s}")));
        if reads {
            assert!(readonly, "{name} reads the store: the read-only Secret");
        }
    }
    assert_eq!(
        writers,
        ["live-verdicts", "publish", "record-approval"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}
