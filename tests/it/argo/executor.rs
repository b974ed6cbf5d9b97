//! A local executor for mttd's Argo templates, for the tests only: it runs the real step
//! programs as Argo would run the templates, so that what only a controller evaluates — `when`,
//! `depends`, parameter references, artifacts between pods, output parameters, suspend and
//! resume, resource steps, template metrics — is exercised here. It follows Argo's documented
//! semantics (argo-workflows v4.1, docs and controller source), only for what these templates use:
//!
//! - parameters: `workflow.name`, `workflow.namespace`, `workflow.parameters.*` (a default may
//!   refer to other globals: substituted twice, as `SubstituteParams` does), `inputs.parameters.*`,
//!   `tasks.T.outputs.parameters.P`, `status` in metrics; an unresolved reference is an error;
//!   `{{=…}}` expression tags are refused (not evaluated here);
//! - `when`: substituted, then govaluate (`govaluate.rs`); an error errors the node;
//! - DAG `depends`: `T` means `T.Succeeded || T.Skipped || T.Daemoned`; `.Succeeded .Failed
//!   .Errored .Skipped .Omitted`, `&& || !` and parentheses; a task whose `depends` is false is
//!   Omitted; a task runs when every task it names is complete;
//! - containers: the step program named by `command` runs with `args` substituted, in a mount
//!   namespace of its own (`unshare`, so the tests run as root, as CI does) where each of the
//!   template's volumes is a fresh folder of the pod bind-mounted at its `mountPath`; artifact and
//!   parameter paths must be on a mounted volume (root file systems are read-only);
//!   configMap volumes are the cluster's ConfigMaps (a missing one fails the mount unless
//!   `optional`); input artifacts are copied from the producer's output; a key-only output
//!   artifact is also stored at its key of the repository (`archive` is not simulated); a
//!   resource step's `manifestFrom` reads its input artifact; a key-only artifact
//!   and every output artifact need an artifact repository (without one: Argo's "artifact
//!   storage is not configured"); output parameters come from `valueFrom.path` or `default`;
//! - `retryStrategy`: `Always`/`OnFailure` retry a failed exit up to `limit`; `OnError` does not;
//! - suspend: the workflow waits; `resume` supplies `valueFrom.supplied` outputs as
//!   `argo node set` does, and refuses a resume that leaves one unset without a default;
//! - resource templates: the manifest is checked with `kubernetes-validate --strict`; `apply`
//!   creates or merges, `patch` with `mergeStrategy: merge` merge-patches (RFC 7386) an existing
//!   object (NotFound otherwise), in the manifest's namespace or the workflow's; the step's
//!   ServiceAccount (template-level, else the workflow's) must be granted the verbs by a Role
//!   bound in that namespace (RBAC rules with `resourceNames`);
//! - metrics: each `when` evaluated, labels and value substituted after the node completes (with
//!   the node's `inputs.parameters.*`, `outputs.parameters.*` and `status`); an error is recorded
//!   as Argo's MetricsError condition;
//! - loops: a DAG task with `withSequence` (`count`, or `start`/`end`, counting down when end <
//!   start; the items are the numbers as strings, `expandSequence`) runs once per item with
//!   `{{item}}` substituted, each child node named `task(i:item)` (`generateNodeName`); the
//!   task's own node is their group: Error if a child errored, else Failed if one failed, else
//!   Succeeded. `withParam` (a JSON list of strings or numbers, after substitution) loops the
//!   same way. Children run one after another here, so any `parallelism` limit holds; with a
//!   limit and `failFast` (a DAG's default), no child starts after one has failed, as the
//!   controller schedules no new task then. A `format`, object items and the aggregated outputs
//!   of a loop are not simulated;
//! - resource `create` of a `Workflow` (the "workflow of workflows" pattern): RBAC `create` and
//!   `get` on workflows.argoproj.io, the manifest checked against Argo's strict schema, its
//!   `generateName` given a suffix, the `workflowTemplateRef` looked up among the installed
//!   WorkflowTemplates and run to its end as a child workflow with the manifest's arguments;
//!   then `successCondition` / `failureCondition` (label-selector requirements: `==`, `=`,
//!   `!=`, `in (…)`, `notin (…)`, joined by commas) are evaluated on its `status.phase`. The
//!   owner reference is not simulated.
//!
//! What it does not show — scheduling, images, the artifact repository's own behaviour, the
//! Argo Server and its events — only a cluster can (README, "Run it on Argo").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::govaluate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Succeeded,
    Failed,
    Error,
    Skipped,
    Omitted,
    /// A suspend node waiting for `resume`.
    Suspended,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub phase: Phase,
    pub message: String,
    pub outputs: BTreeMap<String, String>,
    /// Output artifact name → the folder or file it holds.
    pub artifacts: BTreeMap<String, PathBuf>,
    pub attempts: u32,
    pub service_account: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: String,
}

/// What the executor simulates of a cluster: ConfigMaps (as volumes), other objects (for
/// resource steps), RBAC, an artifact repository (a folder) or none.
pub struct Cluster {
    pub root: PathBuf,
    pub namespace: String,
    /// (namespace, name) → data.
    pub configmaps: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// (namespace, name) → data, for `secretKeyRef` (the executor's environment otherwise
    /// simulates no Secret: the store is a folder).
    pub secrets: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// (kind, namespace, name) → object.
    pub objects: BTreeMap<(String, String, String), Value>,
    /// Roles and RoleBindings, with their namespaces.
    pub rbac: Vec<(String, Value)>,
    pub artifact_repository: Option<PathBuf>,
    /// The installed WorkflowTemplates, by name (for child workflows).
    pub workflow_templates: BTreeMap<String, Value>,
    /// The child workflows resource steps created, in order.
    pub children: Vec<Workflow>,
    pods: u32,
}

pub struct Workflow {
    pub name: String,
    pub template: Value,
    pub parameters: BTreeMap<String, String>,
    pub nodes: BTreeMap<String, Node>,
    pub metrics: Vec<Metric>,
    pub metric_errors: Vec<String>,
}

impl Workflow {
    /// The workflow's phase as the controller would assess it.
    pub fn phase(&self) -> &'static str {
        let phases: Vec<Phase> = self.nodes.values().map(|n| n.phase).collect();
        if phases.contains(&Phase::Error) {
            "Error"
        } else if phases.contains(&Phase::Failed) {
            "Failed"
        } else if phases.contains(&Phase::Suspended) {
            "Running"
        } else {
            "Succeeded"
        }
    }

    pub fn node(&self, task: &str) -> &Node {
        self.nodes
            .get(task)
            .unwrap_or_else(|| panic!("no node {task}: {:?}", self.nodes.keys()))
    }

    pub fn phase_of(&self, task: &str) -> Option<Phase> {
        self.nodes.get(task).map(|n| n.phase)
    }

    /// One line per node, for assertion messages.
    pub fn summary(&self) -> String {
        self.nodes
            .iter()
            .map(|(k, n)| format!("{k}: {:?} {}", n.phase, n.message))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Replaces every `{{name}}` with its value; unresolved names are an error (Argo's
/// `allowUnresolved=false`), expression tags are refused.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(a) = rest.find("{{") {
        let b = rest[a..]
            .find("}}")
            .ok_or_else(|| format!("unclosed `{{{{` in `{text}`"))?
            + a;
        let name = rest[a + 2..b].trim();
        if name.starts_with('=') {
            return Err(format!(
                "expression tag `{{{{{name}}}}}` is not evaluated by this executor"
            ));
        }
        let value = vars
            .get(name)
            .ok_or_else(|| format!("failed to resolve {{{{{name}}}}}"))?;
        out.push_str(&rest[..a]);
        out.push_str(value);
        rest = &rest[b + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `depends`: `T`, `T.Result`, `&& || !`, parentheses.
fn depends(expression: &str, nodes: &BTreeMap<String, Node>) -> Result<bool, String> {
    // Rewrite to a govaluate expression over the results, then evaluate it there.
    let mut rewritten = String::new();
    let chars: Vec<char> = expression.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "-_.".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let (task, result) = match word.split_once('.') {
                Some((t, r)) => (t.to_string(), Some(r.to_string())),
                None => (word.clone(), None),
            };
            let phase = nodes.get(&task).map(|n| n.phase);
            let is = |p: Phase| phase == Some(p);
            let value = match result.as_deref() {
                None => is(Phase::Succeeded) || is(Phase::Skipped),
                Some("Succeeded") => is(Phase::Succeeded),
                Some("Failed") => is(Phase::Failed),
                Some("Errored") => is(Phase::Error),
                Some("Skipped") => is(Phase::Skipped),
                Some("Omitted") => is(Phase::Omitted),
                Some("Daemoned") => false,
                Some(other) => return Err(format!("unknown task result `{other}` in depends `{expression}`")),
            };
            rewritten.push_str(if value { "true" } else { "false" });
        } else {
            rewritten.push(c);
            i += 1;
        }
    }
    govaluate::evaluate(&rewritten)
}

/// The task names a `depends` refers to.
fn depends_on(expression: &str) -> Vec<String> {
    expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .filter(|w| !w.is_empty())
        .map(|w| w.split('.').next().unwrap().to_string())
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

impl Cluster {
    pub fn new(root: &Path) -> Cluster {
        Cluster {
            root: root.to_path_buf(),
            namespace: "argo".into(),
            configmaps: BTreeMap::new(),
            secrets: BTreeMap::new(),
            objects: BTreeMap::new(),
            rbac: Vec::new(),
            artifact_repository: None,
            workflow_templates: BTreeMap::new(),
            children: Vec::new(),
            pods: 0,
        }
    }

    /// Installs Roles and RoleBindings (from any list of documents; others are ignored) into
    /// `namespace` unless they name their own.
    pub fn install_rbac(&mut self, namespace: &str, documents: &[Value]) {
        for d in documents {
            if matches!(d["kind"].as_str(), Some("Role") | Some("RoleBinding")) {
                let ns = d["metadata"]["namespace"].as_str().unwrap_or(namespace).to_string();
                self.rbac.push((ns, d.clone()));
            }
        }
    }

    /// Whether `service_account` (of the workflow's namespace) may `verb` the object.
    pub fn can(
        &self,
        service_account: &str,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> bool {
        let roles: Vec<&Value> = self
            .rbac
            .iter()
            .filter(|(ns, d)| ns == namespace && d["kind"] == "Role")
            .map(|(_, d)| d)
            .collect();
        self.rbac
            .iter()
            .filter(|(ns, d)| ns == namespace && d["kind"] == "RoleBinding")
            .filter(|(ns, b)| {
                b["subjects"].as_array().into_iter().flatten().any(|s| {
                    s["kind"] == "ServiceAccount"
                        && s["name"] == service_account
                        && s["namespace"].as_str().unwrap_or(ns) == self.namespace
                })
            })
            .filter_map(|(_, b)| roles.iter().find(|r| r["metadata"]["name"] == b["roleRef"]["name"]))
            .flat_map(|r| r["rules"].as_array().cloned().unwrap_or_default())
            .any(|rule| {
                let has = |key: &str, want: &str| {
                    rule[key]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|v| v == want || v == "*"))
                };
                has("apiGroups", group)
                    && has("resources", resource)
                    && has("verbs", verb)
                    && rule["resourceNames"]
                        .as_array()
                        .is_none_or(|names| names.iter().any(|n| n == name))
            })
    }

    /// Submits a WorkflowTemplate with `arguments` and runs it until it ends or suspends.
    pub fn submit(&mut self, template: &Value, arguments: &[(&str, &str)]) -> Result<Workflow, String> {
        self.pods += 1;
        let name = format!("{}-{}", template["metadata"]["name"].as_str().unwrap(), self.pods);
        let mut given: BTreeMap<String, String> =
            arguments.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut parameters = BTreeMap::new();
        for p in template["spec"]["arguments"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let key = p["name"].as_str().unwrap().to_string();
            let value = given
                .remove(&key)
                .or_else(|| p["value"].as_str().map(String::from))
                .ok_or_else(|| format!("parameter {key} is required"))?;
            parameters.insert(key, value);
        }
        if let Some(extra) = given.keys().next() {
            return Err(format!("{extra} is not a parameter of {name}"));
        }
        let mut workflow = Workflow {
            name,
            template: template.clone(),
            parameters,
            nodes: BTreeMap::new(),
            metrics: Vec::new(),
            metric_errors: Vec::new(),
        };
        // Globals: a default may refer to other globals; Argo substitutes twice.
        for _ in 0..2 {
            let globals = self.globals(&workflow);
            for (k, v) in workflow.parameters.clone() {
                if let Ok(s) = substitute(&v, &globals) {
                    workflow.parameters.insert(k, s);
                }
            }
        }
        let globals = self.globals(&workflow);
        for v in workflow.parameters.values() {
            substitute(v, &globals)?;
        }
        self.run(&mut workflow)?;
        Ok(workflow)
    }

    fn globals(&self, workflow: &Workflow) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        vars.insert("workflow.name".to_string(), workflow.name.clone());
        vars.insert("workflow.namespace".to_string(), self.namespace.clone());
        for (k, v) in &workflow.parameters {
            vars.insert(format!("workflow.parameters.{k}"), v.clone());
        }
        vars
    }

    /// Resumes a suspended node, supplying its output parameters as `argo node set` does.
    pub fn resume(&mut self, workflow: &mut Workflow, task: &str, supplied: &[(&str, &str)]) -> Result<(), String> {
        let template_name = workflow.template["spec"]["templates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["dag"].is_object())
            .unwrap()["dag"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == task)
            .ok_or_else(|| format!("no task {task}"))?["template"]
            .as_str()
            .unwrap()
            .to_string();
        let template = template_named(&workflow.template, &template_name);
        let node = workflow
            .nodes
            .get_mut(task)
            .ok_or_else(|| format!("{task} has not run"))?;
        if node.phase != Phase::Suspended {
            return Err(format!("{task} is not suspended"));
        }
        for p in template["outputs"]["parameters"].as_array().into_iter().flatten() {
            let key = p["name"].as_str().unwrap();
            if p["valueFrom"]["supplied"].is_null() {
                continue;
            }
            match supplied.iter().find(|(k, _)| *k == key) {
                Some((_, v)) => {
                    node.outputs.insert(key.to_string(), v.to_string());
                }
                None => match p["valueFrom"]["default"].as_str() {
                    Some(d) => {
                        node.outputs.insert(key.to_string(), d.to_string());
                    }
                    None => {
                        return Err(format!(
                            "raw output parameter '{key}' has not been set and does not have a default value"
                        ))
                    }
                },
            }
        }
        node.phase = Phase::Succeeded;
        self.run(workflow)
    }

    fn run(&mut self, workflow: &mut Workflow) -> Result<(), String> {
        let spec = workflow.template["spec"].clone();
        let entry = template_named(&workflow.template, spec["entrypoint"].as_str().unwrap());
        let tasks = entry["dag"]["tasks"]
            .as_array()
            .cloned()
            .ok_or("the entrypoint is not a DAG")?;
        loop {
            let mut progressed = false;
            for task in &tasks {
                let name = task["name"].as_str().unwrap().to_string();
                if workflow.nodes.contains_key(&name) {
                    continue;
                }
                let expression = task["depends"].as_str().unwrap_or("");
                let parents = depends_on(expression);
                let complete = |p: &String| workflow.nodes.get(p).is_some_and(|n| n.phase != Phase::Suspended);
                if !parents.iter().all(complete) {
                    continue;
                }
                progressed = true;
                let node = if !expression.is_empty() && !depends(expression, &workflow.nodes)? {
                    simple(Phase::Omitted, "omitted: depends condition not met")
                } else if task["withSequence"].is_object() || task["withParam"].is_string() {
                    self.run_loop(workflow, &entry, task, &name)
                } else {
                    self.run_task(workflow, task, None)
                };
                workflow.nodes.insert(name, node);
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    fn task_vars(&self, workflow: &Workflow) -> BTreeMap<String, String> {
        let mut vars = self.globals(workflow);
        for (task, node) in &workflow.nodes {
            for (k, v) in &node.outputs {
                vars.insert(format!("tasks.{task}.outputs.parameters.{k}"), v.clone());
            }
            vars.insert(format!("tasks.{task}.status"), format!("{:?}", node.phase));
        }
        vars
    }

    /// A task with `withSequence` or `withParam`: one child node per item, then the group's.
    fn run_loop(&mut self, workflow: &mut Workflow, dag: &Value, task: &Value, name: &str) -> Node {
        let vars = self.task_vars(workflow);
        let items = if task["withSequence"].is_object() {
            substitute_value(&task["withSequence"], &vars)
                .and_then(|s| sequence(&s))
                .map_err(|e| format!("withSequence: {e}"))
        } else {
            substitute(task["withParam"].as_str().unwrap(), &vars)
                .and_then(|p| param_items(&p))
                .map_err(|e| format!("withParam: {e}"))
        };
        let items = match items {
            Ok(items) => items,
            Err(e) => return simple(Phase::Error, &e),
        };
        let stop_after_failure = dag["parallelism"].is_number() && dag["failFast"] != false;
        let mut phases = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if stop_after_failure && phases.iter().any(|p| matches!(p, Phase::Failed | Phase::Error)) {
                break;
            }
            let child = self.run_task(workflow, task, Some(item));
            phases.push(child.phase);
            workflow.nodes.insert(format!("{name}({i}:{item})"), child);
        }
        let phase = if phases.contains(&Phase::Error) {
            Phase::Error
        } else if phases.contains(&Phase::Failed) {
            Phase::Failed
        } else {
            Phase::Succeeded
        };
        simple(phase, &format!("{} children", items.len()))
    }

    fn run_task(&mut self, workflow: &mut Workflow, task: &Value, item: Option<&str>) -> Node {
        let mut vars = self.task_vars(workflow);
        if let Some(item) = item {
            vars.insert("item".into(), item.to_string());
        }
        if let Some(when) = task["when"].as_str() {
            let evaluated = substitute(when, &vars).and_then(|w| govaluate::evaluate(&w));
            match evaluated {
                Err(e) => return simple(Phase::Error, &format!("when `{when}`: {e}")),
                Ok(false) => return simple(Phase::Skipped, &format!("when '{when}' evaluated false")),
                Ok(true) => {}
            }
        }
        let template = template_named(&workflow.template, task["template"].as_str().unwrap());
        let mut inputs = BTreeMap::new();
        for p in task["arguments"]["parameters"].as_array().into_iter().flatten() {
            match substitute(p["value"].as_str().unwrap_or(""), &vars) {
                Ok(v) => {
                    inputs.insert(p["name"].as_str().unwrap().to_string(), v);
                }
                Err(e) => return simple(Phase::Error, &e),
            }
        }
        let mut artifacts = BTreeMap::new();
        for a in task["arguments"]["artifacts"].as_array().into_iter().flatten() {
            let from = a["from"].as_str().unwrap();
            let reference = from.trim_start_matches("{{").trim_end_matches("}}");
            let parts: Vec<&str> = reference.split('.').collect();
            let path = match parts.as_slice() {
                ["tasks", t, "outputs", "artifacts", art] => {
                    workflow.nodes.get(*t).and_then(|n| n.artifacts.get(*art)).cloned()
                }
                _ => None,
            };
            match path {
                Some(p) => {
                    artifacts.insert(a["name"].as_str().unwrap().to_string(), p);
                }
                None => return simple(Phase::Error, &format!("unable to resolve artifact {from}")),
            }
        }
        let service_account = template["serviceAccountName"]
            .as_str()
            .or(workflow.template["spec"]["serviceAccountName"].as_str())
            .unwrap_or("default")
            .to_string();
        let limit = template["retryStrategy"]["limit"].as_u64().unwrap_or(0) as u32;
        let policy = template["retryStrategy"]["retryPolicy"]
            .as_str()
            .unwrap_or("OnFailure")
            .to_string();
        let mut attempt = 0;
        let mut node = loop {
            attempt += 1;
            let mut node = if template["suspend"].is_object() {
                simple(Phase::Suspended, "waiting for an operator")
            } else if template["container"].is_object() {
                self.run_container(workflow, &template, &inputs, &artifacts)
            } else if template["resource"].is_object() {
                self.run_resource(workflow, &template, &inputs, &artifacts, &service_account)
            } else {
                simple(Phase::Error, "unsupported template type")
            };
            node.attempts = attempt;
            let retry = match node.phase {
                Phase::Failed => policy == "Always" || policy == "OnFailure",
                Phase::Error => policy == "Always" || policy == "OnError",
                _ => false,
            };
            if !retry || attempt > limit {
                break node;
            }
        };
        node.service_account = service_account;
        if node.phase != Phase::Suspended {
            self.metrics(workflow, &template, &inputs, &node);
        }
        node
    }

    fn metrics(&self, workflow: &mut Workflow, template: &Value, inputs: &BTreeMap<String, String>, node: &Node) {
        let mut vars = self.globals(workflow);
        for (k, v) in inputs {
            vars.insert(format!("inputs.parameters.{k}"), v.clone());
        }
        for (k, v) in &node.outputs {
            vars.insert(format!("outputs.parameters.{k}"), v.clone());
        }
        vars.insert("status".into(), format!("{:?}", node.phase));
        for m in template["metrics"]["prometheus"].as_array().into_iter().flatten() {
            let name = m["name"].as_str().unwrap().to_string();
            if let Some(when) = m["when"].as_str() {
                match substitute(when, &vars).and_then(|w| govaluate::evaluate(&w)) {
                    Err(e) => {
                        workflow.metric_errors.push(format!("{name}: when `{when}`: {e}"));
                        continue;
                    }
                    Ok(false) => continue,
                    Ok(true) => {}
                }
            }
            let mut labels = BTreeMap::new();
            let mut failed = None;
            for l in m["labels"].as_array().into_iter().flatten() {
                match substitute(l["value"].as_str().unwrap(), &vars) {
                    Ok(v) => {
                        labels.insert(l["key"].as_str().unwrap().to_string(), v);
                    }
                    Err(e) => failed = Some(e),
                }
            }
            let value_text = m["gauge"]["value"]
                .as_str()
                .or(m["counter"]["value"].as_str())
                .unwrap_or("");
            let value = substitute(value_text, &vars);
            match (failed, value) {
                (None, Ok(value)) => workflow.metrics.push(Metric { name, labels, value }),
                (Some(e), _) | (None, Err(e)) => workflow.metric_errors.push(format!("{name}: {e}")),
            }
        }
    }

    fn configmap_folder(&mut self, namespace: &str, name: &str) -> Option<PathBuf> {
        let data = self.configmaps.get(&(namespace.to_string(), name.to_string()))?;
        self.pods += 1;
        let dir = self.root.join(format!("configmaps/{name}-{}", self.pods));
        std::fs::create_dir_all(&dir).unwrap();
        for (k, v) in data {
            std::fs::write(dir.join(k), v).unwrap();
        }
        Some(dir)
    }

    fn run_container(
        &mut self,
        workflow: &Workflow,
        template: &Value,
        inputs: &BTreeMap<String, String>,
        artifacts: &BTreeMap<String, PathBuf>,
    ) -> Node {
        match self.try_container(workflow, template, inputs, artifacts) {
            Ok(node) => node,
            Err(e) => simple(Phase::Error, &e),
        }
    }

    fn try_container(
        &mut self,
        workflow: &Workflow,
        template: &Value,
        inputs: &BTreeMap<String, String>,
        artifacts: &BTreeMap<String, PathBuf>,
    ) -> Result<Node, String> {
        self.pods += 1;
        let pod = self
            .root
            .join(format!("pods/{}-{}", template["name"].as_str().unwrap(), self.pods));
        std::fs::create_dir_all(&pod).unwrap();
        let mut vars = self.globals(workflow);
        for (k, v) in inputs {
            vars.insert(format!("inputs.parameters.{k}"), v.clone());
        }
        for p in template["inputs"]["parameters"].as_array().into_iter().flatten() {
            let key = format!("inputs.parameters.{}", p["name"].as_str().unwrap());
            if let std::collections::btree_map::Entry::Vacant(slot) = vars.entry(key) {
                match p["value"].as_str() {
                    Some(v) => {
                        slot.insert(v.to_string());
                    }
                    None => return Err(format!("inputs.parameters.{} was not supplied", p["name"])),
                }
            }
        }
        // Volumes: the template's and the workflow's, by name.
        let mut volumes: BTreeMap<String, Value> = BTreeMap::new();
        for v in workflow.template["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(template["volumes"].as_array().into_iter().flatten())
        {
            volumes.insert(v["name"].as_str().unwrap().to_string(), v.clone());
        }
        let container = &template["container"];
        let mut mounts: Vec<(String, PathBuf)> = Vec::new();
        for m in container["volumeMounts"].as_array().into_iter().flatten() {
            let name = m["name"].as_str().unwrap();
            let volume = volumes.get(name).ok_or_else(|| format!("volume {name} not found"))?;
            let local = if volume["emptyDir"].is_object() {
                let d = pod.join(name);
                std::fs::create_dir_all(&d).unwrap();
                d
            } else if volume["configMap"].is_object() {
                let cm = substitute(volume["configMap"]["name"].as_str().unwrap(), &vars)?;
                match self.configmap_folder(&self.namespace.clone(), &cm) {
                    Some(d) => d,
                    None if volume["configMap"]["optional"] == true => {
                        let d = pod.join(name);
                        std::fs::create_dir_all(&d).unwrap();
                        d
                    }
                    None => return Err(format!("FailedMount: configmap \"{cm}\" not found")),
                }
            } else {
                return Err(format!("volume {name}: only emptyDir and configMap are simulated"));
            };
            mounts.push((m["mountPath"].as_str().unwrap().to_string(), local));
        }
        mounts.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        let local = |path: &str| -> Result<PathBuf, String> {
            mounts
                .iter()
                .find(|(m, _)| path == m || path.starts_with(&format!("{m}/")))
                .map(|(m, d)| d.join(path[m.len()..].trim_start_matches('/')))
                .ok_or_else(|| format!("{path} is not on a mounted volume (the root file system is read-only)"))
        };
        // Input artifacts.
        for a in template["inputs"]["artifacts"].as_array().into_iter().flatten() {
            let name = a["name"].as_str().unwrap();
            let to = local(a["path"].as_str().unwrap())?;
            if let Some(from) = artifacts.get(name) {
                copy_tree(from, &to);
            } else if let Some(key) = a["s3"]["key"].as_str() {
                let repository = self.artifact_repository.clone().ok_or(
                    "artifact storage is not configured; see https://argo-workflows.readthedocs.io/en/latest/configure-artifact-repository/",
                )?;
                let key = substitute(key, &vars)?;
                let from = repository.join(&key);
                if from.exists() {
                    copy_tree(&from, &to);
                } else if a["optional"] != true {
                    return Err(format!("input artifact {name}: key {key} not found"));
                }
            } else if a["optional"] != true {
                return Err(format!("input artifact {name} was not supplied"));
            }
        }
        // The program and its arguments, in a mount namespace of its own where each volume is
        // mounted at its mountPath (bind mounts of this pod's folders), so the program sees the
        // paths the template names — in its arguments and in the files it reads.
        let command: Vec<String> = container["command"]
            .as_array()
            .ok_or("a container without command")?
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        let program = command[0].trim_start_matches('/');
        let binary = assert_cmd::cargo::cargo_bin(program);
        let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let bin = pod.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let mut script = String::from("set -e\n");
        script.push_str(&format!(
            "mount --bind {} {}\n",
            quote(&binary.parent().unwrap().display().to_string()),
            quote(&bin.display().to_string())
        ));
        let mut by_depth = mounts.clone();
        by_depth.sort_by_key(|(p, _)| p.len());
        for (mount_path, folder) in &by_depth {
            // The mount point, as the container runtime would make it.
            std::fs::create_dir_all(mount_path).map_err(|e| format!("mount point {mount_path}: {e}"))?;
            script.push_str(&format!(
                "mount --bind {} {}\n",
                quote(&folder.display().to_string()),
                quote(mount_path)
            ));
        }
        script.push_str(&format!("exec {}", quote(&bin.join(program).display().to_string())));
        for a in command[1..]
            .iter()
            .map(|s| Value::String(s.clone()))
            .chain(container["args"].as_array().cloned().unwrap_or_default())
        {
            script.push(' ');
            script.push_str(&quote(&substitute(a.as_str().unwrap(), &vars)?));
        }
        script.push('\n');
        std::fs::write(pod.join("pod.sh"), &script).unwrap();
        // Environment from ConfigMap and Secret keys (absent and optional: not set, as the
        // kubelet does); the S3 credentials' Secrets are not simulated.
        let mut env: Vec<(String, String)> = Vec::new();
        for e in container["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap().to_string();
            if let Some(v) = e["value"].as_str() {
                env.push((name, substitute(v, &vars)?));
                continue;
            }
            let (source, reference) = match (&e["valueFrom"]["configMapKeyRef"], &e["valueFrom"]["secretKeyRef"]) {
                (r, _) if r.is_object() => (&self.configmaps, r),
                (_, r) if r.is_object() => (&self.secrets, r),
                _ => continue,
            };
            let key = (self.namespace.clone(), reference["name"].as_str().unwrap().to_string());
            match source
                .get(&key)
                .and_then(|data| data.get(reference["key"].as_str().unwrap()))
            {
                Some(value) => env.push((name, value.clone())),
                None if reference["optional"] == true => {}
                None => return Err(format!("CreateContainerConfigError: {} {:?} not found", name, key.1)),
            }
        }
        let output = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "/bin/sh"])
            .arg(pod.join("pod.sh"))
            .current_dir(&pod)
            .env("MTTD_LOG", "warn")
            .envs(env)
            .output()
            .map_err(|e| format!("unshare: {e} (this executor needs util-linux's unshare)"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("unshare failed") || stderr.contains("mount: ") && stderr.contains("permission denied") {
            return Err(format!(
                "this executor runs each pod in a mount namespace of its own: run the tests as root ({stderr})"
            ));
        }
        if !output.status.success() {
            return Ok(simple(
                Phase::Failed,
                &format!("{program} exited {:?}: {}", output.status.code(), stderr.trim()),
            ));
        }
        // Outputs: parameters from files (or their default), artifacts to the repository.
        let mut node = simple(Phase::Succeeded, "");
        for p in template["outputs"]["parameters"].as_array().into_iter().flatten() {
            let key = p["name"].as_str().unwrap().to_string();
            let path = local(p["valueFrom"]["path"].as_str().unwrap())?;
            let value = match std::fs::read_to_string(&path) {
                Ok(v) => v.trim_end_matches('\n').to_string(),
                Err(_) => match p["valueFrom"]["default"].as_str() {
                    Some(d) => d.to_string(),
                    None => return Err(format!("output parameter {key}: {} not found", path.display())),
                },
            };
            node.outputs.insert(key, value);
        }
        for a in template["outputs"]["artifacts"].as_array().into_iter().flatten() {
            if self.artifact_repository.is_none() {
                return Err("artifact storage is not configured; outputs cannot be saved".into());
            }
            let path = local(a["path"].as_str().unwrap())?;
            if !path.exists() && a["optional"] != true {
                return Err(format!("output artifact {}: {} not found", a["name"], path.display()));
            }
            // A key-only output goes to that key of the repository, where a key-only input
            // (in this workflow or another) finds it.
            if let (Some(key), Some(repository), true) = (
                a["s3"]["key"].as_str(),
                self.artifact_repository.as_ref(),
                path.exists(),
            ) {
                let to = repository.join(substitute(key, &vars)?);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                copy_tree(&path, &to);
            }
            node.artifacts.insert(a["name"].as_str().unwrap().to_string(), path);
        }
        Ok(node)
    }

    fn run_resource(
        &mut self,
        workflow: &Workflow,
        template: &Value,
        inputs: &BTreeMap<String, String>,
        artifacts: &BTreeMap<String, PathBuf>,
        service_account: &str,
    ) -> Node {
        let mut vars = self.globals(workflow);
        for (k, v) in inputs {
            vars.insert(format!("inputs.parameters.{k}"), v.clone());
        }
        let resource = &template["resource"];
        let manifest = match resource["manifestFrom"]["artifact"]["name"].as_str() {
            Some(name) => self.manifest_from(template, name, artifacts, &vars),
            None => substitute(resource["manifest"].as_str().unwrap(), &vars),
        };
        let manifest = match manifest {
            Ok(m) => m,
            Err(e) => return simple(Phase::Error, &e),
        };
        let object: Value = match serde_yaml_ng::from_str(&manifest) {
            Ok(o) => o,
            Err(e) => return simple(Phase::Failed, &format!("the manifest is not YAML: {e}")),
        };
        let kind = object["kind"].as_str().unwrap_or("").to_string();
        let name = object["metadata"]["name"].as_str().unwrap_or("").to_string();
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or(&self.namespace)
            .to_string();
        if kind == "Workflow" && resource["action"] == "create" {
            return self.create_workflow(template, object, &namespace, service_account);
        }
        let (group, plural) = match kind.as_str() {
            "ConfigMap" => ("", "configmaps"),
            "HorizontalPodAutoscaler" => ("autoscaling", "horizontalpodautoscalers"),
            other => return simple(Phase::Failed, &format!("kind {other} is not simulated")),
        };
        let forbidden = |verb: &str| {
            simple(
                Phase::Failed,
                &format!(
                    "{plural} \"{name}\" is forbidden: User \"system:serviceaccount:{}:{service_account}\" cannot {verb} resource \"{plural}\" in the namespace \"{namespace}\"",
                    self.namespace
                ),
            )
        };
        let key = (kind.clone(), namespace.clone(), name.clone());
        match resource["action"].as_str() {
            Some("apply") => {
                crate::common::assert_valid_kubernetes(&[(format!("{}-manifest", template["name"]), object.clone())]);
                if !self.can(service_account, "get", group, plural, &namespace, &name) {
                    return forbidden("get");
                }
                let verb = if self.objects.contains_key(&key) {
                    "patch"
                } else {
                    "create"
                };
                if !self.can(service_account, verb, group, plural, &namespace, &name) {
                    return forbidden(verb);
                }
                let mut object = object;
                object["metadata"]["namespace"] = Value::String(namespace.clone());
                self.objects.insert(key, object);
                simple(Phase::Succeeded, &format!("{kind} {namespace}/{name} applied"))
            }
            Some("patch") if resource["mergeStrategy"] == "merge" => {
                for verb in ["get", "patch"] {
                    if !self.can(service_account, verb, group, plural, &namespace, &name) {
                        return forbidden(verb);
                    }
                }
                let Some(current) = self.objects.get_mut(&key) else {
                    return simple(
                        Phase::Failed,
                        &format!("{plural} \"{name}\" not found in namespace \"{namespace}\""),
                    );
                };
                merge_patch(current, &object);
                let patched = current.clone();
                crate::common::assert_valid_kubernetes(&[(format!("{name}-patched"), patched)]);
                simple(Phase::Succeeded, &format!("{kind} {namespace}/{name} patched"))
            }
            other => simple(Phase::Error, &format!("resource action {other:?} is not simulated")),
        }
    }
}

/// Every string of a JSON value substituted.
fn substitute_value(value: &Value, vars: &BTreeMap<String, String>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(substitute(s, vars)?),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), substitute_value(v, vars)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// The items of a `withSequence` (Argo's `expandSequence`, without `format`).
fn sequence(spec: &Value) -> Result<Vec<String>, String> {
    if spec.get("format").is_some() {
        return Err("format is not simulated".into());
    }
    let number = |key: &str| -> Result<Option<i64>, String> {
        match &spec[key] {
            Value::Null => Ok(None),
            Value::String(s) => s.parse().map(Some).map_err(|e| format!("{key} {s:?}: {e}")),
            Value::Number(n) => n.as_i64().map(Some).ok_or(format!("{key}: not an integer")),
            other => Err(format!("{key}: {other}")),
        }
    };
    let start = number("start")?.unwrap_or(0);
    let end = match (number("end")?, number("count")?) {
        (Some(end), _) => end,
        (None, Some(0)) => return Ok(Vec::new()),
        (None, Some(count)) => start + count - 1,
        (None, None) => return Err("neither end nor count was specified in withSequence".into()),
    };
    Ok(if start <= end {
        (start..=end).map(|i| i.to_string()).collect()
    } else {
        (end..=start).rev().map(|i| i.to_string()).collect()
    })
}

impl Cluster {
    /// A resource step's `manifestFrom` artifact: the input artifact `name`, from the task that
    /// produced it or, key-only, from the artifact repository (as the executor stages it).
    fn manifest_from(
        &self,
        template: &Value,
        name: &str,
        artifacts: &BTreeMap<String, PathBuf>,
        vars: &BTreeMap<String, String>,
    ) -> Result<String, String> {
        let input = template["inputs"]["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["name"] == name)
            .ok_or_else(|| format!("manifestFrom: no input artifact {name}"))?;
        let path = match (artifacts.get(name), input["s3"]["key"].as_str()) {
            (Some(path), _) => path.clone(),
            (None, Some(key)) => self
                .artifact_repository
                .as_ref()
                .ok_or("artifact storage is not configured")?
                .join(substitute(key, vars)?),
            (None, None) => return Err(format!("input artifact {name} was not supplied")),
        };
        std::fs::read_to_string(&path).map_err(|e| format!("input artifact {name}: {}: {e}", path.display()))
    }

    /// A resource step's `create` of a Workflow: the child runs to its end, then the step's
    /// success and failure conditions are evaluated on its phase.
    fn create_workflow(
        &mut self,
        template: &Value,
        mut manifest: Value,
        namespace: &str,
        service_account: &str,
    ) -> Node {
        self.pods += 1;
        let name = match manifest["metadata"]["generateName"].as_str() {
            Some(prefix) => format!("{prefix}{:05}", self.pods),
            None => manifest["metadata"]["name"].as_str().unwrap_or("").to_string(),
        };
        manifest["metadata"]["name"] = Value::String(name.clone());
        for verb in ["create", "get"] {
            if !self.can(service_account, verb, "argoproj.io", "workflows", namespace, &name) {
                return simple(
                    Phase::Failed,
                    &format!(
                        "workflows.argoproj.io \"{name}\" is forbidden: User \"system:serviceaccount:{}:{service_account}\" cannot {verb} resource \"workflows\" in API group \"argoproj.io\" in the namespace \"{namespace}\"",
                        self.namespace
                    ),
                );
            }
        }
        let errors: Vec<String> = super::argo_schema("Workflow")
            .iter_errors(&manifest)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "the child Workflow is not valid Argo: {errors:#?}");
        let reference = manifest["spec"]["workflowTemplateRef"]["name"].as_str().unwrap_or("");
        let Some(child_template) = self.workflow_templates.get(reference).cloned() else {
            return simple(
                Phase::Failed,
                &format!("workflowtemplates.argoproj.io \"{reference}\" not found"),
            );
        };
        let arguments: Vec<(String, String)> = manifest["spec"]["arguments"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["value"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let arguments: Vec<(&str, &str)> = arguments.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let child = match self.submit(&child_template, &arguments) {
            Ok(child) => child,
            Err(e) => return simple(Phase::Failed, &format!("workflow {name}: {e}")),
        };
        let phase = child.phase();
        self.children.push(child);
        let status = serde_json::json!({"status": {"phase": phase}});
        let holds = |field: &str| -> Result<Option<bool>, String> {
            template["resource"][field]
                .as_str()
                .map(|c| selector_matches(c, &status))
                .transpose()
        };
        match (holds("failureCondition"), holds("successCondition")) {
            (Err(e), _) | (_, Err(e)) => simple(Phase::Error, &e),
            (Ok(Some(true)), _) => simple(
                Phase::Failed,
                &format!("workflow {name} {phase}: failure condition met"),
            ),
            (_, Ok(Some(true)) | Ok(None)) => simple(Phase::Succeeded, &format!("workflow {name} {phase}")),
            _ => simple(
                Phase::Error,
                &format!("workflow {name} is {phase}: neither condition holds (the controller would keep waiting)"),
            ),
        }
    }
}

/// The items of a `withParam`: a JSON list of strings or numbers.
fn param_items(text: &str) -> Result<Vec<String>, String> {
    let list: Vec<Value> = serde_json::from_str(text).map_err(|e| format!("{text:?} is not a JSON list: {e}"))?;
    list.into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(format!("item {other} is not simulated (strings and numbers only)")),
        })
        .collect()
}

/// Whether `object` satisfies a resource template's condition: label-selector requirements
/// joined by commas, each `path == v`, `path = v`, `path != v`, `path in (a, b)` or `path notin
/// (a, b)`, the path a dotted JSON path.
fn selector_matches(condition: &str, object: &Value) -> Result<bool, String> {
    let mut requirements = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in condition.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                requirements.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    requirements.push(current);
    for requirement in requirements {
        let r = requirement.trim();
        let value_at = |path: &str| {
            path.split('.')
                .try_fold(object, |v, key| v.get(key))
                .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
        };
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| format!("`{r}`: expected a parenthesised list"))?;
            Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let holds = if let Some((path, value)) = r.split_once("!=") {
            value_at(path.trim()).as_deref() != Some(value.trim())
        } else if let Some((path, value)) = r.split_once("==").or_else(|| r.split_once('=')) {
            value_at(path.trim()).as_deref() == Some(value.trim())
        } else if let Some((path, rest)) = r.split_once(" notin ") {
            let values = set(rest)?;
            !value_at(path.trim()).is_some_and(|v| values.contains(&v))
        } else if let Some((path, rest)) = r.split_once(" in ") {
            let values = set(rest)?;
            value_at(path.trim()).is_some_and(|v| values.contains(&v))
        } else {
            return Err(format!("condition `{r}` is not a requirement this executor reads"));
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

fn simple(phase: Phase, message: &str) -> Node {
    Node {
        phase,
        message: message.to_string(),
        outputs: BTreeMap::new(),
        artifacts: BTreeMap::new(),
        attempts: 0,
        service_account: String::new(),
    }
}

fn template_named(workflow_template: &Value, name: &str) -> Value {
    workflow_template["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no template {name}"))
        .clone()
}

/// Resource conditions as Kubernetes label selectors read them; `withParam` items.
#[test]
fn conditions_read_as_label_selectors() {
    let status = |phase: &str| serde_json::json!({"status": {"phase": phase}});
    assert!(selector_matches("status.phase == Succeeded", &status("Succeeded")).unwrap());
    assert!(!selector_matches("status.phase == Succeeded", &status("Failed")).unwrap());
    assert!(selector_matches("status.phase in (Failed, Error)", &status("Error")).unwrap());
    assert!(!selector_matches("status.phase in (Failed, Error)", &status("Succeeded")).unwrap());
    assert!(selector_matches("status.phase notin (Failed, Error)", &status("Succeeded")).unwrap());
    assert!(selector_matches("status.phase != Failed, status.phase = Succeeded", &status("Succeeded")).unwrap());
    assert!(selector_matches("status.phase ~ x", &status("Succeeded")).is_err());
    assert_eq!(param_items(r#"["api", 7]"#).unwrap(), ["api", "7"]);
    assert!(param_items(r#"[{"a": 1}]"#).is_err());
    assert!(param_items("api").is_err());
}

/// `withSequence` as Argo's `expandSequence` (workflow/controller/operator.go) expands it.
#[test]
fn sequences_expand_as_argo_does() {
    let expand = |spec: Value| sequence(&spec);
    assert_eq!(expand(serde_json::json!({"count": "3"})).unwrap(), ["0", "1", "2"]);
    assert_eq!(
        expand(serde_json::json!({"start": "100", "end": "102"})).unwrap(),
        ["100", "101", "102"]
    );
    assert_eq!(
        expand(serde_json::json!({"start": "5", "end": "3"})).unwrap(),
        ["5", "4", "3"]
    );
    assert_eq!(
        expand(serde_json::json!({"start": "2", "count": "2"})).unwrap(),
        ["2", "3"]
    );
    assert!(expand(serde_json::json!({"count": "0"})).unwrap().is_empty());
    assert!(expand(serde_json::json!({"start": "1"})).is_err());
    assert!(expand(serde_json::json!({"count": "two"})).is_err());
}
