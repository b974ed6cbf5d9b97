//! The Prometheus source against a real Prometheus (Debian's `prometheus`), backfilled with
//! known series by `promtool`: extracted values checked against rates computed here, chunk
//! stitching, determinism, failures (bad query, no series, several series, the server killed
//! mid-extraction) and basic auth + TLS through Prometheus' own `--web.config.file`.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use common::servers::{self, END, START};
use common::*;
use predicates::prelude::*;
use predicates::str::contains;

const TARGET: &str = r#"sum(rate(http_requests_total{service="api"}[5m]))"#;
/// The bcrypt hash of `s3cret-pass` (htpasswd -nbB -C 10 mttd s3cret-pass).
const PASSWORD_HASH: &str = "$2y$10$6/aitAPeJ51DR8J/E2cECuCi4ey6VpAemJTJECQT0p5UVIxrH4TJ.";

/// A workload config reading `url`; `source_extra` goes under `source.prometheus`.
fn config(url: &str, target: &str, source_extra: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: mttd/v1
kind: WorkloadConfig
workload: api
source:
  prometheus:
    url: {url}
    lookback: 30d
{source_extra}signals:
  target: '{target}'
  features:
    cpu_cores: 'sum(container_cpu_usage{{pod=~"api-.*"}})'
    latency_seconds: 'latency_seconds{{service="api"}}'
split:
  shadow_window: 2d
{extra}"#
    )
}

fn extract(dir: &Path, config_text: &str, out: &str) -> assert_cmd::assert::Assert {
    std::fs::write(dir.join(format!("{out}.yaml")), config_text).unwrap();
    mttd()
        .current_dir(dir)
        .args(["extract-features", "--config", &format!("{out}.yaml"), "--out", out])
        .args(["--end", &END.to_string()])
        .assert()
}

/// The rate Prometheus computes for `rate(counter[5m])` at minute `m`: with samples exactly at
/// both ends of the window, (c(t) − c(t − 5m)) / 300.
fn expected_rate(m: i64) -> f64 {
    (servers::requests_total(m) - servers::requests_total(m - 5)) as f64 / 300.0
}

#[test]
fn extracts_the_known_series_exactly_and_stitches_chunks_without_seams() {
    let server = servers::prometheus(None, &[]);
    let dir = assert_fs::TempDir::new().unwrap();
    let url = server.url("http");
    // 30 days at 60 s in chunks of 5,000 points: 9 chunks a signal, boundaries everywhere.
    extract(dir.path(), &config(&url, TARGET, "    chunk_points: 5000\n", ""), "a").success();
    let (data, manifest) = mttd::steps::read_dataset(&dir.path().join("a")).unwrap();
    assert_valid_document(&dir.path().join("a/dataset.manifest.json"));

    let minute = |t: i64| (t - START) / 60;
    let target = data.column("target").unwrap();
    let cpu = data.column("signal_cpu_cores").unwrap();
    let latency = data.column("signal_latency_seconds").unwrap();
    assert!(data.rows() > 20_000, "rows: {}", data.rows());
    for (i, &t) in data.timestamps.iter().enumerate() {
        let m = minute(t);
        assert!(
            (target[i] - expected_rate(m)).abs() < 1e-9,
            "target at {t}: {} vs {}",
            target[i],
            expected_rate(m)
        );
        let cores = (servers::cpu_millis(1, m) + servers::cpu_millis(2, m)) as f64 / 1000.0;
        assert!((cpu[i] - cores).abs() < 1e-9, "cpu at {t}");
        if !servers::latency_is_nan(m) {
            assert!(
                (latency[i] - servers::latency_millis(m) as f64 / 1000.0).abs() < 1e-12,
                "latency at {t}"
            );
        }
        // The label is the target 15 minutes later (the default horizon), from the same data.
        assert!((data.label[i] - expected_rate(m + 15)).abs() < 1e-9, "label at {t}");
    }
    // Every grid step between the first and last row is there (no seam at a chunk boundary
    // dropped or doubled a row), except where a NaN latency left a gap the fill bridged.
    assert_eq!(manifest.gaps.unfilled_gaps, 0, "{:?}", manifest.gaps.list);

    let record = manifest.source.prometheus.as_ref().expect("a Prometheus record");
    assert_eq!(manifest.source.kind, "prometheus");
    assert_eq!(manifest.source.location, url);
    assert_eq!(record.target_query, TARGET);
    assert_eq!(
        record.feature_queries["cpu_cores"],
        r#"sum(container_cpu_usage{pod=~"api-.*"})"#
    );
    assert_eq!(record.window.end, "2026-01-30T23:59:00Z");
    assert_eq!(record.window.start, "2025-12-31T23:59:00Z");
    assert_eq!(record.requests, 27);
    let nans = (0..servers::MINUTES).filter(|&m| servers::latency_is_nan(m)).count() as u64;
    assert_eq!(record.non_finite_samples, nans, "NaN samples are gaps, counted");
    assert!(nans > 0);

    // The same end and another chunking give the same bytes.
    extract(
        dir.path(),
        &config(&url, TARGET, "    chunk_points: 11000\n    concurrency: 1\n", ""),
        "b",
    )
    .success();
    let bytes = |d: &str| std::fs::read(dir.path().join(d).join("dataset.parquet")).unwrap();
    assert_eq!(bytes("a"), bytes("b"), "the dataset does not depend on the chunking");
    extract(dir.path(), &config(&url, TARGET, "    chunk_points: 5000\n", ""), "c").success();
    assert_eq!(bytes("a"), bytes("c"));
    let manifest_text = |d: &str| std::fs::read(dir.path().join(d).join("dataset.manifest.json")).unwrap();
    assert_eq!(manifest_text("a"), manifest_text("c"), "same end, same manifest");
}

#[test]
fn a_bad_query_fails_at_once_with_prometheus_own_error() {
    let server = servers::prometheus(None, &[]);
    let dir = assert_fs::TempDir::new().unwrap();
    let bad = r#"sum(rate(http_requests_total{service="api"}[5m])"#;
    let out = extract(dir.path(), &config(&server.url("http"), bad, "", ""), "out")
        .failure()
        .stderr(contains(bad))
        .stderr(contains("bad_data"))
        .stderr(contains("parse error"));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(!stderr.contains("retrying"), "a 4xx is not retried: {stderr}");
    assert!(!dir.path().join("out").exists(), "nothing is written");
}

#[test]
fn a_server_error_is_retried_with_backoff_then_reported() {
    // Prometheus answers 503 (errorType timeout) to every range query that takes over 1 ms
    // (1 ms is the shortest `--query.timeout` its duration syntax accepts). The plain target
    // query over a warm page cache can finish inside 1 ms (seen once in CI), so the target here
    // is the same rate through a 1 s-resolution subquery: hundreds of thousands of inner steps
    // per chunk, which no retry can finish in 1 ms.
    let server = servers::prometheus_with(&["--query.timeout=1ms"], None, &[]);
    let dir = assert_fs::TempDir::new().unwrap();
    let slow = r#"sum(rate(http_requests_total{service="api"}[5m:1s]))"#;
    let out = extract(
        dir.path(),
        &config(&server.url("http"), slow, "    retries: 2\n", ""),
        "out",
    )
    .failure()
    // Prometheus says its timeout either as 503 or as 422 "context deadline exceeded"
    // (depending on where the deadline passes); both are retried.
    .stderr(contains("503").or(contains(
        "422 Unprocessable Entity: execution: expanding series: context deadline exceeded",
    )))
    .stderr(contains("gave up after 3 attempts"));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("retrying in"), "{stderr}");
    assert!(!dir.path().join("out").exists());
}

#[test]
fn no_series_and_several_series_are_clear_errors() {
    let server = servers::prometheus(None, &[]);
    let dir = assert_fs::TempDir::new().unwrap();
    let url = server.url("http");
    extract(
        dir.path(),
        &config(&url, "sum(rate(nothing_total[5m]))", "", ""),
        "empty",
    )
    .failure()
    .stderr(contains("sum(rate(nothing_total[5m]))"))
    .stderr(contains("returned no samples"));
    extract(dir.path(), &config(&url, "container_cpu_usage", "", ""), "many")
        .failure()
        .stderr(contains("returned 2 series"))
        .stderr(contains(r#"pod="api-1""#))
        .stderr(contains("aggregate it"));
    assert!(!dir.path().join("empty").exists() && !dir.path().join("many").exists());
}

#[test]
fn a_server_killed_mid_extraction_is_retried_then_fails_and_writes_nothing() {
    let mut server = servers::prometheus(None, &[]);
    let dir = assert_fs::TempDir::new().unwrap();
    // Many small chunks fetched one at a time, so that most are still to come at the kill.
    let text = config(
        &server.url("http"),
        TARGET,
        "    chunk_points: 500\n    concurrency: 1\n    retries: 2\n    timeout: 5s\n",
        "",
    );
    std::fs::write(dir.path().join("w.yaml"), text).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mttd"))
        .current_dir(dir.path())
        .args([
            "extract-features",
            "--config",
            "w.yaml",
            "--out",
            "out",
            "--end",
            &END.to_string(),
        ])
        .env("MTTD_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        log.push(line.clone());
        if line.contains("fetched 1/") {
            server.kill();
            break;
        }
    }
    log.extend(lines.map_while(|l| l.ok()));
    let status = child.wait().unwrap();
    let log = log.join("\n");
    assert!(!status.success(), "the extraction must fail:\n{log}");
    assert!(log.contains("retrying"), "retried first:\n{log}");
    assert!(log.contains("gave up after 3 attempts"), "{log}");
    assert!(log.contains("cannot connect"), "{log}");
    assert!(!dir.path().join("out/dataset.parquet").exists());
    assert!(!dir.path().join("out/dataset.manifest.json").exists());
}

#[test]
fn basic_auth_and_tls_through_prometheus_web_config() {
    let certs = tempfile::TempDir::new().unwrap();
    servers::make_certificates(certs.path());
    let read = |name: &str| std::fs::read(certs.path().join(name)).unwrap();
    let (crt, key) = (read("server.crt"), read("server.key"));
    let web = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  mttd: '{PASSWORD_HASH}'\n"
    );
    let server = servers::prometheus(Some(&web), &[("server.crt", &crt), ("server.key", &key)]);
    let url = server.url("https");
    let dir = assert_fs::TempDir::new().unwrap();
    std::fs::write(dir.path().join("ca.crt"), read("ca.crt")).unwrap();
    std::fs::write(dir.path().join("password"), "s3cret-pass\n").unwrap();
    std::fs::write(dir.path().join("wrong-password"), "guess\n").unwrap();
    let auth = |password_file: &str| {
        format!(
            "    tls_ca_file: ca.crt\n    retries: 0\n    basic_auth:\n      username: mttd\n      password_file: {password_file}\n"
        )
    };
    extract(dir.path(), &config(&url, TARGET, &auth("password"), ""), "ok").success();
    let manifest = std::fs::read_to_string(dir.path().join("ok/dataset.manifest.json")).unwrap();
    assert!(manifest.contains(&url));
    assert!(!manifest.contains("s3cret"), "no credentials in the manifest");

    extract(dir.path(), &config(&url, TARGET, &auth("wrong-password"), ""), "wrong")
        .failure()
        .stderr(contains("401"))
        .stderr(contains("basic_auth"));
    // Without credentials, and without the CA (the server's certificate is not trusted).
    extract(
        dir.path(),
        &config(&url, TARGET, "    tls_ca_file: ca.crt\n    retries: 0\n", ""),
        "anonymous",
    )
    .failure()
    .stderr(contains("401"));
    extract(dir.path(), &config(&url, TARGET, "    retries: 0\n", ""), "untrusted")
        .failure()
        .stderr(contains("certificate"));
    for out in ["wrong", "anonymous", "untrusted"] {
        assert!(!dir.path().join(out).exists(), "{out} was written");
    }
}

#[test]
fn the_whole_loop_runs_on_prometheus_and_the_forecast_falls_back_when_it_is_down() {
    let mut server = servers::prometheus(None, &[]);
    let dir = assert_fs::TempDir::new().unwrap();
    let extra = "capacity:\n  per_replica: 20\n  min_replicas: 2\n  max_replicas: 40\ngate:\n  min_improvement: 0\n  coverage_tolerance: 1\n  under_provisioning_baseline: reactive\n  oscillation_tolerance: 100\n  replica_minutes_increase: 100\n";
    // The pods' start-up time, measured (kube-state-metrics' timestamps).
    let startup = "    startup_query: 'max(kube_pod_status_ready_time{namespace=\"shop\"} - kube_pod_created{namespace=\"shop\"})'\n";
    std::fs::write(
        dir.path().join("w.yaml"),
        config(
            &server.url("http"),
            TARGET,
            &format!("    retries: 1\n{startup}"),
            extra,
        ),
    )
    .unwrap();
    mttd()
        .current_dir(dir.path())
        .args([
            "run",
            "--config",
            "w.yaml",
            "--store",
            "store",
            "--end",
            "2026-01-31T00:00:00Z",
        ])
        .assert()
        .success()
        .stdout(contains("decision        promote"))
        .stdout(contains("recommendation  "));
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("mttd-out/api/forecast/recommendation.json")).unwrap())
            .unwrap();
    assert!(rec.get("fallback").is_none(), "{rec}");
    assert_eq!(rec["generated_at"], "2026-01-31T00:00:00Z");
    // The lookback (30 days) holds one pod a day; six days in thirty start in 180 s, the rest in
    // 40 s: the P90 is 180 s, the median 40 s; the replay, with no start-up delay in the config,
    // takes the P90.
    let out = dir.path().join("mttd-out/api");
    let read =
        |file: &str| -> serde_json::Value { serde_json::from_slice(&std::fs::read(out.join(file)).unwrap()).unwrap() };
    let measured = &read("dataset/dataset.manifest.json")["source"]["prometheus"]["startup"];
    assert_eq!(measured["p90_seconds"], 180.0, "{measured}");
    assert_eq!(measured["p50_seconds"], 40.0, "{measured}");
    assert!(measured["samples"].as_u64().unwrap() > 30 * 1400, "{measured}");
    assert_eq!(servers::startup_seconds(8), 180);
    let replay = &read("comparison/comparison.json")["replay"];
    assert_eq!(replay["capacity"]["startup_delay"], "3m");
    assert_eq!(replay["startup_delay_source"], "measured");
    // The config sets no horizon: the forecast looks as far ahead as a floor needs, start-up
    // (180 s) + metric delay (1m) + cadence (5m) = 9m, in the dataset, the model and the
    // recommendation.
    let label = &read("dataset/dataset.manifest.json")["label"];
    assert_eq!(
        (&label["horizon"], &label["horizon_source"]),
        (&serde_json::json!("9m"), &serde_json::json!("measured"))
    );
    assert_eq!(read("model/model.json")["horizon"], "9m");
    assert_eq!(rec["horizon"], "9m");
    let forecast_for = mttd::time::parse_timestamp(rec["forecast"]["target_time"].as_str().unwrap()).unwrap();
    let latest = mttd::time::parse_timestamp(rec["inputs"]["end"].as_str().unwrap()).unwrap();
    assert_eq!(forecast_for - latest.div_euclid(60) * 60, 540, "{rec}");

    // The server gone, the next forecast says so and recommends nothing beyond the HPA.
    server.kill();
    step("forecast")
        .current_dir(dir.path())
        .args([
            "--config",
            "w.yaml",
            "--store",
            "store",
            "--out",
            "out",
            "--now",
            "2026-01-31T00:05:00Z",
        ])
        .assert()
        .success();
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/recommendation.json")).unwrap()).unwrap();
    assert_eq!(rec["fallback"]["reason"], "metrics-missing", "{rec}");
    assert!(
        rec["fallback"]["detail"].as_str().unwrap().contains("cannot connect"),
        "{rec}"
    );
    assert!(rec.get("replicas").is_none());
}

/// Prometheus' own web config has no bearer tokens (it is for a proxy in front of it), so this
/// one test answers `query_range` itself, to see the header mttd sends.
#[test]
fn a_bearer_token_file_is_sent_as_the_authorization_header() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for _ in 0..2 {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let start: i64 = request
                .split("start=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let values: Vec<String> = (0..=60).map(|k| format!("[{},\"{}\"]", start + k * 60, k)).collect();
            let body = format!(
                r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{}]}}]}}}}"#,
                values.join(",")
            );
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            requests.push(request);
        }
        requests
    });
    let dir = assert_fs::TempDir::new().unwrap();
    std::fs::write(dir.path().join("token"), "t0ken-value\n").unwrap();
    let text = format!(
        "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: api\nsource:\n  prometheus:\n    url: http://{address}\n    lookback: 1h\n    bearer_token_file: token\n    concurrency: 1\nsignals:\n  target: up\n  features:\n    other: up2\nfeatures:\n  lags: [5m]\n  rolling_windows: [10m]\n  seasonal_lags: []\nlabel:\n  horizon: 5m\n"
    );
    extract(dir.path(), &text, "out").success();
    let requests = server.join().unwrap();
    for request in &requests {
        assert!(request.starts_with("GET /api/v1/query_range?query="), "{request}");
        assert!(
            request
                .lines()
                .any(|l| l.eq_ignore_ascii_case("authorization: Bearer t0ken-value")),
            "{request}"
        );
    }
    let manifest = std::fs::read_to_string(dir.path().join("out/dataset.manifest.json")).unwrap();
    assert!(!manifest.contains("t0ken"), "no credentials in the manifest");
}

/// A listener that answers every query_range request with `answer(start)`: the response's raw
/// bytes for the chunk starting at `start`. Returns its address.
fn answering(requests: usize, answer: fn(i64) -> String) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..requests {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let start: i64 = request
                .split("start=")
                .nth(1)
                .and_then(|s| s.split('&').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let _ = stream.write_all(answer(start).as_bytes());
        }
    });
    address
}

fn one_signal_config(address: std::net::SocketAddr) -> String {
    format!(
        "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: api\nsource:\n  prometheus:\n    url: http://{address}\n    lookback: 1h\n    concurrency: 1\n    retries: 0\nsignals:\n  target: up\nfeatures:\n  lags: [5m]\n  rolling_windows: [10m]\n  seasonal_lags: []\nlabel:\n  horizon: 5m\n"
    )
}

/// A sample far outside the window asked for (a misbehaving server or proxy) is dropped and
/// counted, never allowed to stretch the grid (review: security-and-robustness H2).
#[test]
fn samples_outside_the_window_asked_for_are_dropped_and_counted() {
    let address = answering(1, |start| {
        let mut values: Vec<String> = (0..=60).map(|k| format!("[{},\"{}\"]", start + k * 60, k)).collect();
        values.push("[253402300740,\"1\"]".into());
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{}]}}]}}}}"#,
            values.join(",")
        );
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
    });
    let dir = assert_fs::TempDir::new().unwrap();
    extract(dir.path(), &one_signal_config(address), "out").success();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/dataset.manifest.json")).unwrap()).unwrap();
    let warnings = manifest["source"]["prometheus"]["warnings"].to_string();
    assert!(warnings.contains("1 sample(s) outside the window"), "{warnings}");
}

/// An answer larger than any chunk can be is refused as it shows, not held in memory
/// (review: security-and-robustness M8).
#[test]
fn an_oversized_answer_is_refused_without_reading_it() {
    let address = answering(1, |_| {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 314572800\r\nConnection: close\r\n\r\n{"
            .into()
    });
    let dir = assert_fs::TempDir::new().unwrap();
    extract(dir.path(), &one_signal_config(address), "out")
        .failure()
        .stderr(contains("the answer is larger than 256 MiB"));
}

/// The live loop on a real Prometheus and Alertmanager: a model trained before a level shift,
/// a forecast every 5 minutes logged to the store, the score step joining the matured ones with
/// what Prometheus then holds — the shifted series' live error sets off `MttdForecastDrift`, the
/// steady one's does not.
#[test]
fn a_level_shift_in_prometheus_is_live_drift_and_a_steady_series_is_not() {
    use servers::SHIFT;
    let prometheus = servers::prometheus(None, &[]);
    let am = servers::alertmanager();
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    let config = |kind: &str| {
        format!(
            "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: {kind}\nsource:\n  prometheus:\n    url: {}\n    lookback: 8d\nsignals:\n  target: 'demand{{kind=\"{kind}\"}}'\nfeatures:\n  seasonal_lags: [1d]\nsplit:\n  shadow_window: 1d\ncapacity:\n  per_replica: 20\n  max_replicas: 100\n  predictive:\n    adaptive_interval: {{rate: 0.05}}\ngate:\n  min_improvement: 0\n  coverage_tolerance: 1\n  under_provisioning_baseline: reactive\n  oscillation_tolerance: 100\n  replica_minutes_increase: 100\ndeploy:\n  mode: assisted\n  actuation: min-replicas-patch\n  drift_alert:\n    alertmanager_url: {}\n    runbook_url: https://runbooks.example/mttd-drift\n    live_mae_ratio: 2\n    live_window: 1h\n    min_scored: 6\n    advisory_on_drift: true\n",
            prometheus.url("http"),
            am.url("http")
        )
    };
    let at = |t: i64| mttd::time::rfc3339(t);
    for kind in ["steady", "shifted"] {
        std::fs::write(root.join(format!("{kind}.yaml")), config(kind)).unwrap();
        let yaml = format!("{kind}.yaml");
        mttd()
            .current_dir(root)
            .args([
                "run",
                "--config",
                &yaml,
                "--store",
                "store",
                "--end",
                &at(SHIFT - 2 * 3600),
            ])
            .assert()
            .success()
            .stdout(contains("decision        promote"));
        let mut t = SHIFT - 3600;
        while t <= SHIFT + 2 * 3600 {
            step("forecast")
                .current_dir(root)
                .args(["--config", &yaml, "--store", "store", "--out", &format!("out-{kind}")])
                .args(["--now", &at(t)])
                .assert()
                .success();
            t += 300;
        }
        mttd()
            .current_dir(root)
            .args([
                "score",
                "--config",
                &yaml,
                "--store",
                "store",
                "--out",
                &format!("score-{kind}"),
            ])
            .args(["--now", &at(SHIFT + 2 * 3600)])
            .assert()
            .success();
    }
    let read = |kind: &str, file: &str| std::fs::read_to_string(root.join(format!("score-{kind}")).join(file)).unwrap();
    let drift = |kind: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&read(kind, "score.json")).unwrap()["drift"].clone()
    };
    let (steady, shifted) = (drift("steady"), drift("shifted"));
    assert_eq!(steady["holds"], false, "{steady}");
    assert!(steady["ratio"].as_f64().unwrap() < 2.0, "{steady}");
    assert!(steady["scored"].as_u64().unwrap() >= 6, "{steady}");
    assert_eq!(shifted["holds"], true, "{shifted}");
    assert!(shifted["ratio"].as_f64().unwrap() > 2.0, "{shifted}");
    assert_eq!(
        (
            read("steady", "values/drift").as_str(),
            read("steady", "values/drift-alert").as_str()
        ),
        ("false", "none")
    );
    assert_eq!(
        (
            read("shifted", "values/drift").as_str(),
            read("shifted", "values/drift-alert").as_str()
        ),
        ("true", "posted")
    );
    // Alertmanager holds the shifted workload's alert, and none of the steady one's.
    let (status, body) = servers::http_get(&am.address, "/api/v2/alerts");
    assert_eq!(status, 200, "{body}");
    let alerts: serde_json::Value = serde_json::from_str(&body).unwrap();
    let of = |workload: &str| {
        alerts
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["alertname"] == "MttdForecastDrift" && a["labels"]["workload"] == workload)
            .count()
    };
    assert_eq!((of("shifted"), of("steady")), (1, 0), "{alerts}");

    // The live-verdicts step records the drift in the change log, once; the next forecast of
    // the shifted workload is advisory (the advice stands, the HPA gets its operator's floor
    // back); the steady one stays assisted.
    let verdicts = |kind: &str| {
        let out = format!("verdicts-{kind}");
        mttd()
            .current_dir(root)
            .args([
                "live-verdicts",
                "--config",
                &format!("{kind}.yaml"),
                "--store",
                "store",
                "--out",
                &out,
            ])
            .args([
                "--now",
                &at(SHIFT + 2 * 3600),
                "--triggered-by",
                "argo:mttd-live-verdicts",
            ])
            .assert()
            .success();
        std::fs::read_to_string(root.join(out).join("values/drift")).unwrap()
    };
    assert_eq!(
        (verdicts("shifted"), verdicts("steady")),
        ("recorded".to_string(), "none".to_string())
    );
    assert_eq!(verdicts("shifted"), "none", "recorded once");
    let log = root.join("store/shifted/changelog");
    let last = json_files(&log).pop().unwrap();
    let entry: serde_json::Value = serde_json::from_slice(&std::fs::read(last).unwrap()).unwrap();
    assert_eq!(entry["event"]["type"], "drift", "{entry}");
    assert_eq!(entry["event"]["drift"]["model_version"], 1);
    assert_eq!(entry["actor"], "argo:mttd-live-verdicts");
    let forecast = |kind: &str| -> serde_json::Value {
        let out = format!("after-{kind}");
        step("forecast")
            .current_dir(root)
            .args(["--config", &format!("{kind}.yaml"), "--store", "store", "--out", &out])
            .args(["--now", &at(SHIFT + 2 * 3600 + 300)])
            .assert()
            .success();
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join(&out).join("recommendation.json")).unwrap()).unwrap();
        let patch = std::fs::read_to_string(root.join(&out).join("hpa-patch.yaml")).unwrap();
        serde_json::json!({"rec": rec, "patch": patch})
    };
    let (shifted, steady) = (forecast("shifted"), forecast("steady"));
    assert_eq!(shifted["rec"]["mode"], "advisory", "{shifted}");
    assert!(
        shifted["rec"]["demoted"].as_str().unwrap().contains("live drift of v1"),
        "{shifted}"
    );
    assert!(shifted["rec"]["replicas"].is_u64(), "the advice stands: {shifted}");
    assert!(
        shifted["patch"].as_str().unwrap().contains("minReplicas: 1"),
        "the operator's floor: {shifted}"
    );
    assert_eq!(steady["rec"]["mode"], "assisted", "{steady}");
    assert!(steady["rec"].get("demoted").is_none());
    let floor = steady["rec"]["replicas"].as_u64().unwrap();
    assert!(
        steady["patch"]
            .as_str()
            .unwrap()
            .contains(&format!("minReplicas: {floor}")),
        "{steady}"
    );
}
