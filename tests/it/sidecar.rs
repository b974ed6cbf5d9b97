//! mttd-sidecar with real parts: a small app the test starts (Python's threading HTTP server,
//! HTTP/1.1 keep-alive) behind the sidecar program, real HTTP clients, a real Prometheus
//! scraping the sidecar and `mttd extract-features` reading the rate back; the app killed;
//! SIGTERM while requests are in flight.

use crate::common::{self, servers};

use std::io::{BufRead, BufReader, Read, Write};

use serde::Deserialize;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The app: `/orders/<n>` answers `order <n> for <X-Forwarded-For>`, `/slow?ms=<n>` answers
/// after n ms, `/stats` its own counts as JSON (orders served so far), POST answers the body's
/// length, anything else 404.
const APP: &str = r#"
import json, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

orders = 0
lock = threading.Lock()

class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        url = urlparse(self.path)
        global orders
        if url.path == "/stats":
            with lock:
                stats = {"orders": {"served": orders}, "queue": "7", "ready": True}
            self.answer(200, json.dumps(stats).encode())
        elif url.path.startswith("/orders/"):
            with lock:
                orders += 1
            self.answer(200, ("order %s for %s" % (url.path[8:], self.headers.get("X-Forwarded-For"))).encode())
        elif url.path == "/slow":
            time.sleep(int(parse_qs(url.query)["ms"][0]) / 1000)
            self.answer(200, b"slow done")
        else:
            self.answer(404, b"not here")
    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer(200, b"got %d bytes" % len(data))

server = ThreadingHTTPServer(("127.0.0.1", 0), App)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

struct App {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl App {
    fn start() -> App {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("app.py");
        std::fs::write(&script, APP).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts the app");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the app prints its port");
        App { child, port, _dir: dir }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Sidecar {
    child: Option<Child>,
    log: PathBuf,
    /// `127.0.0.1:port` of the proxy and of /metrics.
    proxy: String,
    metrics: String,
    _dir: tempfile::TempDir,
}

impl Sidecar {
    fn start(target_port: u16, extra: &[&str]) -> Sidecar {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sidecar.log");
        let child = Command::new(assert_cmd::cargo::cargo_bin("mttd-sidecar"))
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(["--target-port", &target_port.to_string()])
            .args(["--route", "/orders/{id}", "--route", "/echo", "--route", "/slow"])
            .args(extra)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut sidecar = Sidecar {
            child: Some(child),
            log,
            proxy: String::new(),
            metrics: String::new(),
            _dir: dir,
        };
        let line = sidecar.wait_for("\"listening\"");
        let fields: serde_json::Value = serde_json::from_str(&line).unwrap();
        sidecar.proxy = fields["fields"]["listen"].as_str().unwrap().to_string();
        sidecar.metrics = fields["fields"]["metrics"].as_str().unwrap().to_string();
        sidecar
    }

    fn wait_for(&mut self, text: &str) -> String {
        servers::wait_for_line(&self.log, self.child.as_mut(), text)
    }

    fn scrape(&self) -> String {
        let (status, text) = request(&self.metrics, "GET", "/metrics", b"", "");
        assert_eq!(status, 200);
        text
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One HTTP/1.1 exchange on a new connection (`Connection: close`): (status, body).
fn request(address: &str, method: &str, path: &str, body: &[u8], headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8(response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    (status, body.to_string())
}

/// The value of the sample written exactly `series` (name and labels) in a text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
}

#[test]
fn requests_pass_through_unchanged_and_are_counted_by_method_route_and_status() {
    let app = App::start();
    let sidecar = Sidecar::start(app.port, &[]);
    let mut order_bytes = 0;
    for n in 1..=5 {
        let (status, body) = request(&sidecar.proxy, "GET", &format!("/orders/{n}?expand=1"), b"", "");
        assert_eq!(
            (status, body.as_str()),
            (200, format!("order {n} for 127.0.0.1").as_str())
        );
        order_bytes += body.len();
    }
    // An X-Forwarded-For from an earlier proxy is kept, the client appended.
    let (_, body) = request(&sidecar.proxy, "GET", "/orders/6", b"", "X-Forwarded-For: 10.0.0.9\r\n");
    assert_eq!(body, "order 6 for 10.0.0.9, 127.0.0.1");
    order_bytes += body.len();
    for _ in 0..2 {
        assert_eq!(
            request(&sidecar.proxy, "POST", "/echo", &[7u8; 100], ""),
            (200, "got 100 bytes".into())
        );
    }
    // Paths no template names: counted as `other`, however many there are.
    for n in 0..40 {
        assert_eq!(request(&sidecar.proxy, "GET", &format!("/unknown/{n}"), b"", "").0, 404);
    }

    let text = sidecar.scrape();
    let get_orders = r#"{method="GET",route="/orders/{id}",status="2xx"}"#;
    assert_eq!(
        sample(&text, &format!("http_requests_total{get_orders}")),
        Some(6.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="POST",route="/echo",status="2xx"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, r#"http_requests_total{method="GET",route="other",status="4xx"}"#),
        Some(40.0)
    );
    assert_eq!(
        sample(&text, r#"http_request_body_bytes_total{method="POST",route="/echo"}"#),
        Some(200.0)
    );
    assert_eq!(
        sample(&text, &format!("http_response_body_bytes_total{get_orders}")),
        Some(order_bytes as f64)
    );
    assert_eq!(
        sample(&text, &format!("http_request_duration_seconds_count{get_orders}")),
        Some(6.0)
    );
    let inf = r#"http_request_duration_seconds_bucket{method="GET",route="/orders/{id}",status="2xx",le="+Inf"}"#;
    assert_eq!(sample(&text, inf), Some(6.0), "{text}");
    assert_eq!(sample(&text, "http_requests_in_flight"), Some(0.0));
    // The label's values are the templates and `other`, nothing taken from the paths.
    let routes: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .filter_map(|l| l.split("route=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        routes.into_iter().collect::<Vec<_>>(),
        ["/echo", "/orders/{id}", "other"]
    );

    // OpenMetrics when asked for, through the same registry.
    let (status, open) = request(
        &sidecar.metrics,
        "GET",
        "/metrics",
        b"",
        "Accept: application/openmetrics-text; version=1.0.0\r\n",
    );
    assert_eq!(status, 200);
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(open.contains(&format!("http_requests_total{get_orders} 6")), "{open}");
    assert_eq!(
        request(&sidecar.metrics, "GET", "/healthz", b"", ""),
        (200, "ok\n".into())
    );
}

#[test]
fn a_large_body_streams_through_without_the_sidecar_holding_it() {
    let app = App::start();
    let sidecar = Sidecar::start(app.port, &[]);
    let size = 64 << 20;
    let body = vec![b'x'; size];
    assert_eq!(
        request(&sidecar.proxy, "POST", "/echo", &body, ""),
        (200, format!("got {size} bytes"))
    );
    let text = sidecar.scrape();
    assert_eq!(
        sample(&text, r#"http_request_body_bytes_total{method="POST",route="/echo"}"#),
        Some(size as f64)
    );
    let pid = sidecar.child.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(
        peak_kib < 24 * 1024,
        "peak resident memory {peak_kib} KiB for a 64 MiB body"
    );
}

#[test]
fn an_app_that_is_down_or_slow_gets_the_sidecars_own_502_or_504_counted() {
    let mut app = App::start();
    let sidecar = Sidecar::start(app.port, &["--upstream-timeout", "1s"]);
    let (status, body) = request(&sidecar.proxy, "GET", "/slow?ms=3000", b"", "");
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("sent no answer within 1s"), "{body}");
    assert_eq!(request(&sidecar.proxy, "GET", "/orders/1", b"", "").0, 200);
    app.kill();
    for _ in 0..3 {
        let (status, body) = request(&sidecar.proxy, "GET", "/orders/1", b"", "");
        assert_eq!(status, 502, "{body}");
        assert!(
            body.contains(&format!("the app at http://127.0.0.1:{} did not answer", app.port)),
            "{body}"
        );
    }
    let text = sidecar.scrape();
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="/orders/{id}",status="5xx"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"http_requests_total{method="GET",route="/slow",status="5xx"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"mttd_sidecar_upstream_errors_total{reason="connect"}"#),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, r#"mttd_sidecar_upstream_errors_total{reason="timeout"}"#),
        Some(1.0)
    );
}

#[test]
fn sigterm_refuses_new_connections_and_drains_the_requests_in_flight() {
    let app = App::start();
    let mut sidecar = Sidecar::start(app.port, &[]);
    let proxy = sidecar.proxy.clone();
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let proxy = proxy.clone();
            std::thread::spawn(move || request(&proxy, "GET", "/slow?ms=2000", b"", ""))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sample(&sidecar.scrape(), "http_requests_in_flight") != Some(3.0) {
        assert!(Instant::now() < deadline, "the three requests never got in flight");
        std::thread::sleep(Duration::from_millis(20));
    }
    let child = sidecar.child.as_ref().unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    sidecar.wait_for("draining the requests in flight");
    assert!(
        TcpStream::connect(&proxy).is_err(),
        "a new connection is refused while draining"
    );
    assert_eq!(
        request(&sidecar.metrics, "GET", "/healthz", b"", ""),
        (503, "draining\n".into())
    );
    for request in slow {
        assert_eq!(request.join().unwrap(), (200, "slow done".to_string()));
    }
    let status = sidecar.child.take().unwrap().wait().unwrap();
    assert!(status.success(), "exits 0 once drained: {status}");
    sidecar.wait_for("\"drained\"");
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/sidecar")
}

fn documents(file: &str) -> Vec<(String, serde_json::Value)> {
    let text = std::fs::read_to_string(examples().join(file)).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| {
            let value = serde_json::Value::deserialize(d).unwrap();
            (format!("{file} {}", value["kind"].as_str().unwrap()), value)
        })
        .collect()
}

/// Checks a ServiceMonitor with prometheus-operator's CRD validation (npm
/// @kubernetes-models/prometheus-operator, generated from the operator's CRDs: types, patterns,
/// required fields) and, since those schemas leave objects open, every field of its spec and
/// endpoints against the names that package declares (what kubernetes-validate --strict does for
/// built-in kinds). Prints `ok` or the problems.
const CHECK_SERVICE_MONITOR: &str = r#"
import { readFileSync } from "node:fs";
const [models, file] = process.argv.slice(2);
const { ServiceMonitor } = await import(`file://${models}/monitoring.coreos.com/v1/ServiceMonitor.js`);
const object = JSON.parse(readFileSync(file, "utf8"));
const problems = [];
try { new ServiceMonitor(object).validate(); } catch (e) { problems.push(e.message); }
const fields = (type) => new Set([...readFileSync(`${models}/monitoring.coreos.com/v1/${type}.d.ts`, "utf8")
  .matchAll(/^\s+"(\w+)"\??:/gm)].map((m) => m[1]));
const closed = (value, type, at) => {
  const known = fields(type);
  for (const key of Object.keys(value ?? {})) if (!known.has(key)) problems.push(`${at}.${key}: not a field of ${type}`);
};
closed(object.spec, "ServiceMonitorSpec", "spec");
(object.spec?.endpoints ?? []).forEach((e, i) => closed(e, "Endpoint", `spec.endpoints[${i}]`));
console.log(problems.length ? problems.join("\n") : "ok");
"#;

fn check_service_monitor(object: &serde_json::Value) -> String {
    let models = std::env::var_os("MTTD_PROMETHEUS_OPERATOR_MODELS").map(PathBuf::from);
    let models = models.filter(|m| m.join("monitoring.coreos.com/v1/ServiceMonitor.js").is_file());
    let Some(models) = models else {
        panic!(
            "this test needs prometheus-operator's CRD validation: npm install @kubernetes-models/prometheus-operator \
             and MTTD_PROMETHEUS_OPERATOR_MODELS set to its folder (scripts/test does both)"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("check.mjs"), CHECK_SERVICE_MONITOR).unwrap();
    std::fs::write(dir.path().join("object.json"), object.to_string()).unwrap();
    let out = Command::new("node")
        .arg(dir.path().join("check.mjs"))
        .arg(&models)
        .arg(dir.path().join("object.json"))
        .output()
        .expect("this test needs Node.js (node)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_shipped_kubernetes_objects_validate_and_agree_with_each_other() {
    let deployment = documents("deployment.yaml");
    let service = documents("service.yaml");
    common::assert_valid_kubernetes(&[deployment[0].clone(), service[0].clone()]);
    let monitor = documents("servicemonitor.yaml").remove(0).1;
    assert_eq!(check_service_monitor(&monitor).trim(), "ok");
    // The check can fail: a misspelt field and a malformed interval are refused.
    let mut bad = monitor.clone();
    bad["spec"]["endpoints"][0]["intervl"] = "15s".into();
    bad["spec"]["endpoints"][0]["scrapeTimeout"] = "5 seconds".into();
    let report = check_service_monitor(&bad);
    assert!(
        report.contains("spec.endpoints[0].intervl: not a field of Endpoint"),
        "{report}"
    );
    assert!(report.contains("scrapeTimeout must match pattern"), "{report}");

    // The pieces point at each other: the Service selects the pods and sends `http` to the
    // sidecar's port; the ServiceMonitor selects the Service and scrapes its `metrics` port,
    // the sidecar's /metrics; the sidecar's routes parse.
    let pod = &deployment[0].1["spec"]["template"];
    // The element of the list `list` of `object` named `name`.
    let named = |object: &serde_json::Value, list: &str, name: &str| {
        object[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()
            .clone()
    };
    let sidecar = named(&pod["spec"], "containers", "metrics-sidecar");
    let env = |name: &str| named(&sidecar, "env", name)["value"].as_str().unwrap().to_string();
    let port = |name: &str| named(&sidecar, "ports", name)["containerPort"].as_u64().unwrap();
    assert!(env("MTTD_SIDECAR_LISTEN").ends_with(&format!(":{}", port("http"))));
    assert!(env("MTTD_SIDECAR_METRICS_LISTEN").ends_with(&format!(":{}", port("metrics"))));
    let image = sidecar["image"].as_str().unwrap();
    let target = image.rsplit('/').next().unwrap().split(':').next().unwrap();
    let dockerfile = std::fs::read_to_string(examples().join("../../Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!(
            " AS {target}\nCOPY --from=sidecar-builder /src/target/sidecar/mttd-sidecar "
        )),
        "the image {image} is the Dockerfile target that ships mttd-sidecar"
    );
    let app_port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
        .as_u64()
        .unwrap();
    assert_eq!(env("TARGET_PORT"), app_port.to_string());
    let routes: Vec<String> = env("MTTD_SIDECAR_ROUTES").split(',').map(String::from).collect();
    mttd::sidecar::routes::Routes::parse(&routes).unwrap();
    let service = &service[0].1;
    assert_eq!(service["spec"]["selector"], pod["metadata"]["labels"]);
    let ports = service["spec"]["ports"].as_array().unwrap();
    assert!(ports.iter().any(|p| p["targetPort"] == "http"));
    assert!(ports
        .iter()
        .any(|p| p["name"] == "metrics" && p["targetPort"] == "metrics"));
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        service["metadata"]["labels"]
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
}

#[test]
fn the_apps_own_json_stats_are_exported_on_every_scrape() {
    let mut app = App::start();
    let stats = [
        "--stats-path",
        "/stats",
        "--stat",
        "app_orders=/orders/served:counter",
        "--stat",
        "app_queue=/queue",
        "--stat",
        "app_ready=/ready",
        "--stat",
        "app_absent=/nothing/here",
    ];
    let sidecar = Sidecar::start(app.port, &stats);
    for id in 1..=3 {
        assert_eq!(request(&sidecar.proxy, "GET", &format!("/orders/{id}"), b"", "").0, 200);
    }
    let text = sidecar.scrape();
    assert_eq!(sample(&text, "mttd_sidecar_stats_up"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "app_orders_total"), Some(3.0), "{text}");
    assert!(text.contains("# TYPE app_orders_total counter"), "{text}");
    assert_eq!(sample(&text, "app_queue"), Some(7.0), "{text}");
    assert_eq!(sample(&text, "app_ready"), Some(1.0), "{text}");
    assert!(
        !text.contains("app_absent"),
        "a field the app does not have is left out: {text}"
    );
    // The sidecar's own series are still there, and the stats read is not counted as traffic.
    assert_eq!(
        sample(
            &text,
            "http_requests_total{method=\"GET\",route=\"/orders/{id}\",status=\"2xx\"}"
        ),
        Some(3.0)
    );
    request(&sidecar.proxy, "GET", "/orders/4", b"", "");
    assert_eq!(
        sample(&sidecar.scrape(), "app_orders_total"),
        Some(4.0),
        "read anew at every scrape"
    );

    app.kill();
    let text = sidecar.scrape();
    assert_eq!(sample(&text, "mttd_sidecar_stats_up"), Some(0.0), "{text}");
    assert_eq!(
        sample(&text, "app_orders_total"),
        None,
        "nothing stale once the app is gone: {text}"
    );
}

#[test]
fn rolling_aggregates_are_written_atomically_every_window() {
    let app = App::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shared/aggregates.json");
    let file_arg = file.to_str().unwrap();
    let sidecar = Sidecar::start(app.port, &["--aggregates-file", file_arg, "--aggregates-every", "2s"]);
    let read = || -> serde_json::Value { serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap() };
    // The first, empty window is there before the ports open.
    assert_eq!(read()["total"]["requests"], 0);
    for id in 1..=3 {
        request(&sidecar.proxy, "GET", &format!("/orders/{id}"), b"", "");
    }
    request(&sidecar.proxy, "GET", "/nowhere", b"", "");
    // Within a few windows every request has been in one of them, each counted once.
    let (mut orders, mut other, mut windows) = (0, 0, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    while (orders, other) != (3, 1) && Instant::now() < deadline {
        let written = read();
        if windows.last() != Some(&written["written_at"]) {
            let routes = &written["routes"];
            orders += routes["/orders/{id}"]["requests"].as_u64().unwrap_or(0);
            other += routes["other"]["requests"].as_u64().unwrap_or(0);
            let total = written["total"]["requests"].as_u64().unwrap();
            let seconds = written["window_seconds"].as_f64().unwrap();
            let rate = written["total"]["requests_per_second"].as_f64().unwrap();
            assert!((rate - total as f64 / seconds).abs() < 1e-9, "{written}");
            windows.push(written["written_at"].clone());
        }
        // Polled well within a window, so that none is missed.
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        (orders, other),
        (3, 1),
        "every request in exactly one window ({} read)",
        windows.len()
    );
    let names: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        [std::ffi::OsString::from("aggregates.json")],
        "no temporary file beside it"
    );
    drop(sidecar);

    let output = Command::new(assert_cmd::cargo::cargo_bin("mttd-sidecar"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .args(["--aggregates-file", "/proc/mttd-cannot-be-here/aggregates.json"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/proc/mttd-cannot-be-here"), "{stderr}");
}

#[test]
fn a_stat_without_a_stats_path_or_with_a_bad_name_is_refused() {
    let refused = |extra: &[&str]| {
        let output = Command::new(assert_cmd::cargo::cargo_bin("mttd-sidecar"))
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(extra)
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = refused(&["--stat", "app_queue=/queue"]);
    assert!(
        stderr.contains("--stat (MTTD_SIDECAR_STATS) needs --stats-path"),
        "{stderr}"
    );
    let stderr = refused(&["--stats-path", "/stats", "--stat", "app-queue=/queue"]);
    assert!(
        stderr.contains("--stat `app-queue=/queue`: `app-queue` is not a Prometheus metric name"),
        "{stderr}"
    );
}

#[test]
fn a_bad_route_template_is_refused_naming_the_flag_and_the_template() {
    let output = Command::new(assert_cmd::cargo::cargo_bin("mttd-sidecar"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--route",
            "orders/{id}",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--route (MTTD_SIDECAR_ROUTES): route template `orders/{id}`: must start with `/`"),
        "{stderr}"
    );
}

#[test]
fn prometheus_scrapes_the_sidecar_and_extract_features_reads_the_rate_that_was_sent() {
    let app = App::start();
    let sidecar = Sidecar::start(app.port, &[]);
    // The labels prometheus-operator gives the series through the shipped ServiceMonitor.
    let scrape = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: checkout\n  static_configs:\n  - targets: ['{}']\n    labels: {{namespace: shop, service: checkout}}\n",
        sidecar.metrics
    );
    let prometheus = servers::prometheus_configured(&scrape, &[], None, &[]);
    // 10 requests a second for 20 seconds, paced against the clock.
    let rate = 10;
    let seconds = 20;
    std::thread::sleep(Duration::from_secs(3)); // a few scrapes before the first request
    let started = Instant::now();
    for i in 0..rate * seconds {
        let due = started + Duration::from_millis(i * 1000 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        assert_eq!(request(&sidecar.proxy, "GET", &format!("/orders/{i}"), b"", "").0, 200);
    }
    std::thread::sleep(Duration::from_secs(4)); // the last requests scraped
    let end = chrono::Utc::now().timestamp();

    let dir = tempfile::tempdir().unwrap();
    let series = r#"http_requests_total{job="checkout",route="/orders/{id}",status="2xx"}"#;
    let config = format!(
        r#"apiVersion: mttd/v1
kind: WorkloadConfig
workload: checkout
source:
  prometheus:
    url: {url}
    lookback: 40s
signals:
  target: 'sum(rate({series}[5s]))'
  features:
    sent: 'sum({series})'
resolution: 1s
features:
  lags: [1s]
  rolling_windows: [2s]
  seasonal_lags: []
label:
  horizon: 1s
"#,
        url = prometheus.url("http")
    );
    std::fs::write(dir.path().join("mttd.yaml"), config).unwrap();
    common::mttd()
        .current_dir(dir.path())
        .args([
            "extract-features",
            "--config",
            "mttd.yaml",
            "--out",
            "data",
            "--end",
            &end.to_string(),
        ])
        .assert()
        .success();
    let (data, _) = mttd::steps::read_dataset(&dir.path().join("data")).unwrap();
    let sent = data.column("signal_sent").unwrap();
    let total = sent.iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
    assert_eq!(total, (rate * seconds) as f64, "every request sent is counted once");
    // The rate while the load ran (away from its edges, where the 5 s window straddles them).
    let target = data.column("target").unwrap();
    let first = sent.iter().position(|&v| v > 20.0).unwrap();
    let last = sent.iter().position(|&v| v > (rate * seconds - 20) as f64).unwrap();
    let steady: Vec<f64> = target[first + 5..last]
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    assert!(steady.len() >= 8, "{} steady rows: {target:?}", steady.len());
    let mean = steady.iter().sum::<f64>() / steady.len() as f64;
    assert!(
        (mean - rate as f64).abs() < 0.1 * rate as f64,
        "the extracted rate {mean:.2}/s is the {rate}/s sent: {steady:?}"
    );

    // Every query of the shipped WorkloadConfig answers one finite value from these series.
    let shipped = mttd::contract::workload::WorkloadConfig::load(&examples().join("mttd.yaml")).unwrap();
    let mttd::contract::source::FeatureSignals::Queries(features) = &shipped.signals.features else {
        panic!("the shipped config names its features by PromQL query");
    };
    let queries = features.iter().map(|(n, q)| (n.as_str(), q));
    for (name, query) in std::iter::once(("target", &shipped.signals.target)).chain(queries) {
        let result = servers::query(&prometheus, query);
        assert_eq!(result.len(), 1, "{name} answers one series: {result:?}");
        let value: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
        assert!(value.is_finite(), "{name}: {value}");
        if name == "target" {
            assert!(value > 0.0, "the request rate: {value}");
        }
    }
}
