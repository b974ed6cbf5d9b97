//! Real Prometheus and Alertmanager servers for the tests (Debian's `prometheus` and
//! `prometheus-alertmanager`, which `.ci/run` installs): started on 127.0.0.1 with a free port
//! (`:0`, read back from the server's log), stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The synthetic series: 30 days at 60 s from `START`.
pub const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
pub const MINUTES: i64 = 30 * 1440;
pub const END: i64 = START + (MINUTES - 1) * 60;
/// When `demand{kind="shifted"}` doubles: day 28, 06:00.
pub const SHIFT: i64 = START + 28 * 86_400 + 6 * 3600;

/// Requests in minute `m` (the counter's increment): a daily cycle plus a deterministic wiggle.
pub fn requests_in_minute(m: i64) -> i64 {
    let rate = 100.0 + 50.0 * (m as f64 * std::f64::consts::TAU / 1440.0).sin() + ((m * 7919) % 13) as f64;
    (rate * 60.0).round() as i64
}

/// `http_requests_total{service="api"}` at minute `m` (cumulative, starting at 0).
pub fn requests_total(m: i64) -> i64 {
    static TOTALS: OnceLock<Vec<i64>> = OnceLock::new();
    let totals = TOTALS.get_or_init(|| {
        let mut total = 0;
        (0..MINUTES)
            .map(|m| {
                if m > 0 {
                    total += requests_in_minute(m);
                }
                total
            })
            .collect()
    });
    totals[m as usize]
}

/// `container_cpu_usage{pod="api-<pod>"}` at minute `m`, in thousandths of a core (exact).
pub fn cpu_millis(pod: i64, m: i64) -> i64 {
    500 + pod * 100 + ((m * 31 + pod * 7) % 97)
}

/// `latency_seconds{service="api"}` at minute `m`, in milliseconds; NaN on the minutes
/// [`latency_is_nan`] names.
pub fn latency_millis(m: i64) -> i64 {
    100 + (m % 60)
}

pub fn latency_is_nan(m: i64) -> bool {
    m % 5003 == 17
}

/// The start-up time (creation to Ready, seconds) of the pod that runs on day `d`: 40 s, except
/// 180 s on two days in ten (so its P90 over any ten whole days is 180, its median 40).
pub fn startup_seconds(day: i64) -> i64 {
    if day % 10 >= 8 {
        180
    } else {
        40
    }
}

/// The OpenMetrics text of the synthetic series, timestamps in seconds.
pub fn openmetrics() -> String {
    let mut s = String::with_capacity(10_000_000);
    s.push_str("# TYPE http_requests counter\n");
    for m in 0..MINUTES {
        s.push_str(&format!(
            "http_requests_total{{service=\"api\"}} {} {}\n",
            requests_total(m),
            START + m * 60
        ));
    }
    s.push_str("# TYPE container_cpu_usage gauge\n");
    for pod in 1..=2 {
        for m in 0..MINUTES {
            let v = cpu_millis(pod, m) as f64 / 1000.0;
            s.push_str(&format!(
                "container_cpu_usage{{pod=\"api-{pod}\"}} {v} {}\n",
                START + m * 60
            ));
        }
    }
    s.push_str("# TYPE latency_seconds gauge\n");
    for m in 0..MINUTES {
        let v = if latency_is_nan(m) {
            "NaN".to_string()
        } else {
            (latency_millis(m) as f64 / 1000.0).to_string()
        };
        s.push_str(&format!("latency_seconds{{service=\"api\"}} {v} {}\n", START + m * 60));
    }
    // A demand gauge twice: steady, and shifted to twice its level from SHIFT on (live drift).
    s.push_str("# TYPE demand gauge\n");
    for kind in ["steady", "shifted"] {
        for m in 0..MINUTES {
            let t = START + m * 60;
            let v = requests_in_minute(m) as f64 / 60.0 * if kind == "shifted" && t >= SHIFT { 2.0 } else { 1.0 };
            s.push_str(&format!("demand{{kind=\"{kind}\"}} {v} {t}\n"));
        }
    }
    // kube-state-metrics' pod timestamps: one pod a day (`api-s<d>`), its series ending 10
    // minutes before the next pod's start (longer than Prometheus' 5-minute lookback, so that
    // two pods never overlap in a query).
    for (family, ready) in [("kube_pod_created", false), ("kube_pod_status_ready_time", true)] {
        s.push_str(&format!("# TYPE {family} gauge\n"));
        for day in 0..MINUTES / 1440 {
            let created = START + day * 86_400;
            let value = if ready { created + startup_seconds(day) } else { created };
            for m in day * 1440..(day + 1) * 1440 - 10 {
                s.push_str(&format!(
                    "{family}{{namespace=\"shop\",pod=\"api-s{day}\"}} {value} {}\n",
                    START + m * 60
                ));
            }
        }
    }
    s.push_str("# EOF\n");
    s
}

/// A TSDB backfilled with [`openmetrics`] (`promtool tsdb create-blocks-from openmetrics`), kept
/// in the temp folder under a name that changes with the series, so that it is built once per
/// machine, not once per run; each server gets its own copy.
pub fn backfilled_tsdb() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Bump the version when the synthetic series change.
        let data = std::env::temp_dir().join(format!("mttd-test-tsdb-v3-{START}-{MINUTES}"));
        if data.join("complete").exists() {
            return data;
        }
        let work = tempfile::Builder::new().prefix("mttd-tsdb").tempdir().unwrap();
        let om = work.path().join("series.om");
        std::fs::write(&om, openmetrics()).unwrap();
        let built = work.path().join("data");
        let out = Command::new(binary("promtool"))
            .args(["tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=168h"])
            .arg(&om)
            .arg(&built)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(built.join("complete"), b"").unwrap();
        let _ = std::fs::remove_dir_all(&data); // a leftover without `complete`
        std::fs::rename(&built, &data).unwrap();
        data
    })
}

/// A binary the tests need from a Debian package; fails saying what to install when absent.
pub fn binary(name: &str) -> PathBuf {
    let found = Command::new(name).arg("--version").output().is_ok();
    assert!(
        found,
        "this test needs `{name}` (Debian packages prometheus, prometheus-alertmanager and prometheus-pushgateway; .ci/run installs them)"
    );
    PathBuf::from(name)
}

/// A server process whose log goes to a file, polled for the lines the tests wait for.
pub struct Server {
    child: Option<Child>,
    pub log: PathBuf,
    /// `host:port` it listens on.
    pub address: String,
    /// The server's data and log folder, removed when the server is dropped.
    _dir: tempfile::TempDir,
}

impl Server {
    fn spawn(mut command: Command, dir: tempfile::TempDir, ready_message: &str) -> Server {
        let log = dir.path().join("server.log");
        let child = command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the server starts");
        let mut server = Server {
            child: Some(child),
            log,
            address: String::new(),
            _dir: dir,
        };
        let line = server.wait_for("msg=\"Listening on\"");
        server.address = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("address="))
            .expect("the log names the address")
            .trim_matches('"')
            .to_string();
        server.wait_for(ready_message);
        server
    }

    /// The first log line containing `text` (waits up to 60 s).
    pub fn wait_for(&mut self, text: &str) -> String {
        wait_for_line(&self.log, self.child.as_mut(), text)
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.address)
    }

    /// Kills it at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Duration::from_secs(10));
        }
    }
}

/// The first line of the log file `log` containing `text`, waiting up to 60 s for it; fails if
/// `child` (the process writing it) exits first.
pub fn wait_for_line(log: &Path, mut child: Option<&mut Child>, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let content = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = content.lines().find(|l| l.contains(text)) {
            return line.to_string();
        }
        if let Some(Ok(Some(status))) = child.as_mut().map(|c| c.try_wait()) {
            panic!("the process exited ({status}) before logging `{text}`:\n{content}");
        }
        assert!(Instant::now() < deadline, "no `{text}` in the log:\n{content}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops a server: SIGTERM, then SIGKILL if it has not exited within `grace`.
pub fn terminate(child: &mut Child, grace: Duration) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Prometheus serving a copy of the backfilled TSDB, no scrape targets; `web_config` is the
/// contents of a `--web.config.file` (basic auth, TLS), its relative paths relative to the
/// server's folder, where `files` are written first.
pub fn prometheus(web_config: Option<&str>, files: &[(&str, &[u8])]) -> Server {
    prometheus_with(&[], web_config, files)
}

/// [`prometheus`] with more command-line flags.
pub fn prometheus_with(flags: &[&str], web_config: Option<&str>, files: &[(&str, &[u8])]) -> Server {
    prometheus_configured(
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
        flags,
        web_config,
        files,
    )
}

/// Prometheus on the backfilled TSDB with `config` as its prometheus.yml (scrape jobs).
pub fn prometheus_configured(
    config: &str,
    flags: &[&str],
    web_config: Option<&str>,
    files: &[(&str, &[u8])],
) -> Server {
    let dir = tempfile::Builder::new().prefix("mttd-prometheus").tempdir().unwrap();
    let data = dir.path().join("data");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(backfilled_tsdb())
        .arg(&data)
        .status()
        .unwrap();
    assert!(copied.success());
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let mut command = Command::new(binary("prometheus"));
    command
        .current_dir(dir.path())
        .arg("--config.file=prometheus.yml")
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg("--web.listen-address=127.0.0.1:0")
        .args(flags);
    if let Some(web) = web_config {
        std::fs::write(dir.path().join("web.yml"), web).unwrap();
        command.arg("--web.config.file=web.yml");
    }
    Server::spawn(command, dir, "Server is ready to receive web requests")
}

/// Alertmanager with one null receiver and clustering off.
pub fn alertmanager() -> Server {
    alertmanager_with("route:\n  receiver: \"null\"\nreceivers:\n- name: \"null\"\n", &[])
}

/// Alertmanager with `config` as its configuration, `files` written beside it first.
pub fn alertmanager_with(config: &str, files: &[(&str, &[u8])]) -> Server {
    let dir = tempfile::Builder::new().prefix("mttd-alertmanager").tempdir().unwrap();
    std::fs::write(dir.path().join("am.yml"), config).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let mut command = Command::new(binary("prometheus-alertmanager"));
    command
        .current_dir(dir.path())
        .arg("--config.file=am.yml")
        .arg("--storage.path=data")
        .arg("--web.listen-address=127.0.0.1:0")
        .arg("--cluster.listen-address=");
    Server::spawn(command, dir, "Listening on")
}

/// A Prometheus Pushgateway (Debian's prometheus-pushgateway), its groups kept in memory.
pub fn pushgateway() -> Server {
    let dir = tempfile::Builder::new().prefix("mttd-pushgateway").tempdir().unwrap();
    let mut command = Command::new(binary("prometheus-pushgateway"));
    command.current_dir(dir.path()).arg("--web.listen-address=127.0.0.1:0");
    Server::spawn(command, dir, "TLS is disabled")
}

/// The result of an instant query (`/api/v1/query`, now) on `prometheus`; fails on an error.
pub fn query(prometheus: &Server, promql: &str) -> Vec<serde_json::Value> {
    let encoded: String = url::form_urlencoded::byte_serialize(promql.as_bytes()).collect();
    let (status, body) = http_get(&prometheus.address, &format!("/api/v1/query?query={encoded}"));
    assert_eq!(status, 200, "{promql}: {body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    answer["data"]["result"].as_array().unwrap().clone()
}

/// A plain HTTP/1.0 GET: (status code, body).
pub fn http_get(address: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A CA and a server certificate for 127.0.0.1 signed by it (openssl), in `dir`:
/// ca.crt, server.crt, server.key.
pub fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=mttd test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}
