//! The Prometheus source: the target and each feature is a PromQL query, read with `query_range`
//! over the lookback ending at a fixed `end` (rounded down to the step and recorded, so that two
//! runs with the same `end` give the same dataset bytes).
//!
//! A long lookback is cut into chunks of at most `chunk_points` evaluation times (Prometheus
//! refuses more than 11,000 points per series). Chunk k asks for `[start + k·P·step,
//! start + ((k+1)·P − 1)·step]`: consecutive chunks neither overlap nor leave a step out, so the
//! stitched series has every evaluation time once. Requests run concurrently, at most
//! `concurrency` at a time. Connection errors, timeouts (Prometheus' own too, whether it says
//! 503 or 422 "context deadline exceeded"), 429 and 5xx are retried with
//! exponential backoff and jitter; any other 4xx (a bad query, bad credentials) fails at once
//! with Prometheus' own error text and the query named.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde::Deserialize;
use url::Url;

use super::raw::{RawSeries, SourceDescription};
use crate::contract::interval::Interval;
use crate::contract::source::{FeatureSignals, PrometheusRecord, PrometheusSourceConfig, StartupRecord};
use crate::contract::workload::WorkloadConfig;
use crate::error::{Error, Result};
use crate::http;
use crate::time::rfc3339;

/// One query to run: the signal's name (the target's is its query) and its PromQL.
#[derive(Debug, Clone)]
pub struct Signal {
    pub name: String,
    pub query: String,
}

impl Signal {
    /// For errors: the query and what it is for.
    fn describe(&self) -> String {
        if self.name == STARTUP_SIGNAL {
            format!("startup query `{}`", self.query)
        } else if self.name == self.query {
            format!("target query `{}`", self.query)
        } else {
            format!("query `{}` (feature `{}`)", self.query, self.name)
        }
    }
}

/// The window to read: evaluation times `start, start + step, …, end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Window {
    /// The lookback ending at `end` rounded down to the step.
    pub fn ending_at(end: i64, lookback: i64, step: i64) -> Window {
        let end = end.div_euclid(step) * step;
        Window {
            start: end - lookback,
            end,
            step,
        }
    }

    /// Consecutive `(start, end)` pairs of at most `points` evaluation times each, covering the
    /// window exactly once.
    pub fn chunks(&self, points: u32) -> Vec<(i64, i64)> {
        let span = i64::from(points.max(1)) * self.step;
        let mut out = Vec::new();
        let mut s = self.start;
        while s <= self.end {
            let e = (s + span - self.step).min(self.end);
            out.push((s, e));
            s = e + self.step;
        }
        out
    }
}

/// Reads the target and feature queries of a workload from Prometheus.
pub fn load(
    config: &PrometheusSourceConfig,
    workload: &WorkloadConfig,
    end: Option<i64>,
) -> Result<(RawSeries, SourceDescription)> {
    let step = config.step.as_ref().unwrap_or(&workload.resolution).seconds();
    let end = end.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let window = Window::ending_at(end, config.lookback.seconds(), step);
    let queries = match &workload.signals.features {
        FeatureSignals::Queries(q) => q.clone(),
        FeatureSignals::Names(_) => BTreeMap::new(),
    };
    let mut signals = vec![Signal {
        name: workload.signals.target.clone(),
        query: workload.signals.target.clone(),
    }];
    signals.extend(queries.iter().map(|(name, query)| Signal {
        name: name.clone(),
        query: query.clone(),
    }));
    let client = Client::new(config, &workload.base_dir, &workload.origin)?;
    let fetched = client.fetch(&signals, window, config.chunk_points, config.concurrency)?;
    let description = SourceDescription {
        kind: "prometheus",
        location: client.location.clone(),
        sha256: None,
        prometheus: Some(PrometheusRecord {
            target_query: workload.signals.target.clone(),
            feature_queries: queries,
            window: Interval {
                start: rfc3339(window.start),
                end: rfc3339(window.end),
            },
            step: config.step.as_ref().unwrap_or(&workload.resolution).to_string(),
            requests: fetched.requests,
            non_finite_samples: fetched.non_finite,
            warnings: fetched.warnings,
            startup: None,
        }),
    };
    Ok((fetched.raw, description))
}

/// The signal name of `startup_query` (not a feature: it never enters the dataset).
const STARTUP_SIGNAL: &str = "startup_query";

/// The start-up time of the workload's pods, measured over the same lookback as the signals:
/// `startup_query`'s samples, their P50 and P90 (nearest rank). None when it is not configured.
pub fn measure_startup(
    config: &PrometheusSourceConfig,
    workload: &WorkloadConfig,
    end: i64,
) -> Result<Option<StartupRecord>> {
    let Some(query) = &config.startup_query else {
        return Ok(None);
    };
    let step = config.step.as_ref().unwrap_or(&workload.resolution).seconds();
    let window = Window::ending_at(end, config.lookback.seconds(), step);
    let client = Client::new(config, &workload.base_dir, &workload.origin)?;
    let signal = Signal {
        name: STARTUP_SIGNAL.into(),
        query: query.clone(),
    };
    let fetched = client.fetch(
        std::slice::from_ref(&signal),
        window,
        config.chunk_points,
        config.concurrency,
    )?;
    let mut seconds: Vec<f64> = fetched
        .raw
        .series
        .into_values()
        .flatten()
        .map(|(_, v)| v)
        .filter(|v| *v >= 0.0)
        .collect();
    if seconds.is_empty() {
        return Err(client.error(format!(
            "{} answered only negative start-up times; it must give seconds from creation to Ready",
            signal.describe()
        )));
    }
    seconds.sort_by(f64::total_cmp);
    let n = seconds.len();
    let rank = |q: f64| seconds[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    Ok(Some(StartupRecord {
        query: query.clone(),
        samples: n as u64,
        p50_seconds: rank(0.5),
        p90_seconds: rank(0.9),
    }))
}

/// What a fetch returns: the series by signal name, and what the manifest records.
#[derive(Debug)]
pub struct Fetched {
    pub raw: RawSeries,
    pub requests: u64,
    pub non_finite: u64,
    pub warnings: Vec<String>,
}

enum Auth {
    None,
    Bearer(String),
    Basic { username: String, password: String },
}

/// The largest answer read for one chunk: 10,000 points of one series are about 300 KiB, so
/// anything near this is a query that returns far more than it should.
const MAX_BODY_BYTES: usize = 256 << 20;

/// An HTTP client for one Prometheus server, with its credentials.
pub struct Client {
    http: reqwest::Client,
    endpoint: Url,
    auth: Auth,
    retries: u32,
    /// The server URL as configured (never credentials): for errors and the manifest.
    pub location: String,
}

fn read_secret(base_dir: &Path, path: &Path, field: &str) -> Result<String> {
    let path = base_dir.join(path);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::field(
            &path,
            field,
            format!("cannot be read ({e}); it must be a file holding the secret"),
        )
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

impl Client {
    /// Builds the client: credentials and the CA file are read now, so a missing file is an
    /// error before any request. Relative paths are relative to `base_dir`; `origin` names the
    /// config file in errors.
    pub fn new(config: &PrometheusSourceConfig, base_dir: &Path, origin: &str) -> Result<Client> {
        let location = config.url.trim_end_matches('/').to_string();
        let invalid_url = |problem: String| Error::field(origin, "/source/prometheus/url", problem);
        let mut endpoint =
            Url::parse(&format!("{location}/")).map_err(|e| invalid_url(format!("`{location}`: {e}")))?;
        if !endpoint.username().is_empty() || endpoint.password().is_some() {
            return Err(invalid_url(
                "must not carry credentials (use basic_auth with a password_file)".into(),
            ));
        }
        endpoint = endpoint
            .join("api/v1/query_range")
            .map_err(|e| invalid_url(format!("`{location}`: {e}")))?;
        let auth = match (&config.bearer_token_file, &config.basic_auth) {
            (Some(_), Some(_)) => {
                return Err(Error::field(
                    origin,
                    "/source/prometheus",
                    "give bearer_token_file or basic_auth, not both",
                ))
            }
            (Some(file), None) => Auth::Bearer(read_secret(base_dir, file, "/source/prometheus/bearer_token_file")?),
            (None, Some(basic)) => Auth::Basic {
                username: basic.username.clone(),
                password: read_secret(
                    base_dir,
                    &basic.password_file,
                    "/source/prometheus/basic_auth/password_file",
                )?,
            },
            (None, None) => Auth::None,
        };
        // A token or password over plain http is readable by anyone on the path; loopback (a
        // sidecar proxy, a test listener) is the one place that is not a network.
        let loopback = match endpoint.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if !matches!(auth, Auth::None) && endpoint.scheme() == "http" && !loopback {
            return Err(invalid_url(format!(
                "`{location}` is plain http: credentials (bearer_token_file, basic_auth) are sent only over https, or to loopback"
            )));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout.seconds() as u64))
            .connect_timeout(Duration::from_secs(config.timeout.seconds().min(10) as u64));
        if let Some(ca) = &config.tls_ca_file {
            let path = base_dir.join(ca);
            let field = "/source/prometheus/tls_ca_file";
            let pem = std::fs::read(&path).map_err(|e| Error::field(&path, field, format!("cannot be read ({e})")))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::field(&path, field, format!("is not a PEM certificate bundle: {e}")))?;
            if certs.is_empty() {
                return Err(Error::field(&path, field, "holds no PEM certificate"));
            }
            builder = builder.tls_certs_merge(certs);
        } else if endpoint.scheme() == "http" {
            // Plain http needs no trust store, and loading the system's (rustls-platform-verifier
            // parses every root certificate) is a noticeable part of a small extraction. A
            // redirect to https then fails as an unknown issuer: give the https URL instead.
            builder = builder.tls_certs_only([]);
        }
        let http = builder.build().map_err(|e| Error::Prometheus {
            url: location.clone(),
            problem: format!("cannot build an HTTP client: {e}"),
        })?;
        Ok(Client {
            http,
            endpoint,
            auth,
            retries: config.retries,
            location,
        })
    }

    fn error(&self, problem: impl Into<String>) -> Error {
        Error::Prometheus {
            url: self.location.clone(),
            problem: problem.into(),
        }
    }

    /// Fetches every signal over the window, chunked, with at most `concurrency` requests in
    /// flight, and stitches each signal's chunks in time order.
    pub fn fetch(&self, signals: &[Signal], window: Window, chunk_points: u32, concurrency: u32) -> Result<Fetched> {
        let chunks = window.chunks(chunk_points);
        let jobs: Vec<(usize, usize)> = (0..signals.len())
            .flat_map(|s| (0..chunks.len()).map(move |c| (s, c)))
            .collect();
        let total = jobs.len();
        let runtime = http::runtime().map_err(|e| self.error(e))?;
        let results: Vec<Result<(usize, usize, Chunk)>> = runtime.block_on(async {
            let mut done = 0usize;
            let mut out = Vec::with_capacity(total);
            let chunks = &chunks;
            let mut pending = stream::iter(jobs.into_iter().map(|(s, c)| async move {
                let chunk = self.fetch_chunk(&signals[s], chunks[c], window.step).await;
                chunk.map(|chunk| (s, c, chunk))
            }))
            .buffer_unordered(concurrency.max(1) as usize);
            while let Some(result) = pending.next().await {
                let failed = result.is_err();
                if let Ok((s, c, chunk)) = &result {
                    done += 1;
                    tracing::debug!(
                        signal = %signals[*s].name,
                        chunk = c + 1,
                        samples = chunk.samples.len(),
                        "fetched {done}/{total}"
                    );
                }
                out.push(result);
                if failed {
                    break; // the first failure ends the extraction; nothing is written
                }
            }
            out
        });
        let mut per_signal: Vec<Vec<Option<Chunk>>> = signals.iter().map(|_| vec![None; chunks.len()]).collect();
        for result in results {
            let (s, c, chunk) = result?;
            per_signal[s][c] = Some(chunk);
        }
        let mut raw = RawSeries {
            origin: self.location.clone(),
            series: BTreeMap::new(),
        };
        let (mut non_finite, mut warnings, mut out_of_window) = (0u64, Vec::new(), 0u64);
        for (signal, chunks) in signals.iter().zip(per_signal) {
            let mut samples: Vec<(i64, f64)> = Vec::new();
            for chunk in chunks.into_iter().flatten() {
                non_finite += chunk.non_finite;
                for w in chunk.warnings {
                    let w = format!("{}: {w}", signal.name);
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                }
                // Chunks are disjoint and in order; a sample at or before the last one kept, or
                // outside the window, could only come from a server (or a proxy) answering
                // outside what was asked: dropped and counted, never trusted.
                for s in chunk.samples {
                    if s.0 < window.start || s.0 > window.end {
                        out_of_window += 1;
                    } else if samples.last().is_none_or(|last| s.0 > last.0) {
                        samples.push(s);
                    }
                }
            }
            if samples.is_empty() {
                return Err(self.error(format!(
                    "{} returned no samples between {} and {}; check the query in Prometheus' UI",
                    signal.describe(),
                    rfc3339(window.start),
                    rfc3339(window.end)
                )));
            }
            raw.series.insert(signal.name.clone(), samples);
        }
        if out_of_window > 0 {
            warnings.push(format!(
                "{out_of_window} sample(s) outside the window asked for ({} … {}) were dropped",
                rfc3339(window.start),
                rfc3339(window.end)
            ));
        }
        for w in &warnings {
            tracing::warn!("Prometheus warning: {w}");
        }
        Ok(Fetched {
            raw,
            requests: total as u64,
            non_finite,
            warnings,
        })
    }

    /// One `query_range` request, retried where retrying can help.
    async fn fetch_chunk(&self, signal: &Signal, (start, end): (i64, i64), step: i64) -> Result<Chunk> {
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("query", &signal.query)
            .append_pair("start", &start.to_string())
            .append_pair("end", &end.to_string())
            .append_pair("step", &step.to_string());
        let what = || signal.describe();
        let mut attempt = 0u32;
        loop {
            let problem = match self.request(url.clone()).await {
                Attempt::Done(body) => return self.parse(&body, signal),
                Attempt::Refused(problem) => return Err(self.error(format!("{}: {problem}", what()))),
                Attempt::Retry(problem) => problem,
            };
            if attempt >= self.retries {
                return Err(self.error(format!(
                    "{} for {} to {}: gave up after {} attempts: {problem}",
                    what(),
                    rfc3339(start),
                    rfc3339(end),
                    attempt + 1
                )));
            }
            let delay = http::backoff(attempt, start as u64 ^ signal.query.len() as u64);
            tracing::warn!(attempt = attempt + 1, "{}: {problem}; retrying in {delay:?}", what());
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn request(&self, url: Url) -> Attempt {
        let mut request = self.http.get(url);
        request = match &self.auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(http::describe(&e)),
        };
        let status = response.status();
        let body = match http::read_limited(response, MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(http::BodyError::Read(e)) => return Attempt::Retry(format!("reading the answer: {e}")),
            Err(http::BodyError::TooLarge(limit)) => {
                return Attempt::Refused(format!(
                    "the answer is larger than {} MiB: the query returns far more than one series (a missing sum()?), or the chunk is too long (chunk_points)",
                    limit >> 20
                ))
            }
        };
        if status.is_success() {
            return Attempt::Done(body);
        }
        let text = error_text(&body);
        // Prometheus answers its query timeout with 503 (errorType `timeout`) when the engine
        // notices it, but with 422 (errorType `execution`, "expanding series: context deadline
        // exceeded") when the deadline passes while storage expands series (seen with
        // Debian's 2.42): the same transient timeout, so it is retried too.
        let timed_out = status.as_u16() == 422 && text.contains("context deadline exceeded");
        if status.as_u16() == 429 || status.is_server_error() || timed_out {
            Attempt::Retry(format!("HTTP {status}: {text}"))
        } else if status.as_u16() == 401 || status.as_u16() == 403 {
            Attempt::Refused(format!("HTTP {status}: {text} (check bearer_token_file or basic_auth)"))
        } else {
            Attempt::Refused(format!("HTTP {status}: {text}"))
        }
    }

    fn parse(&self, body: &[u8], signal: &Signal) -> Result<Chunk> {
        parse_chunk(body, signal, &self.location)
    }
}

/// Parses one query_range answer for `signal` from the server at `location`.
fn parse_chunk(body: &[u8], signal: &Signal, location: &str) -> Result<Chunk> {
    let error = |problem: String| Error::Prometheus {
        url: location.to_string(),
        problem,
    };
    let what = || signal.describe();
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| error(format!("{}: the answer is not Prometheus' JSON: {e}", what())))?;
    if answer.status != "success" {
        return Err(error(format!(
            "{}: {}: {}",
            what(),
            answer.error_type.unwrap_or_default(),
            answer.error.unwrap_or_default()
        )));
    }
    let data = answer
        .data
        .ok_or_else(|| error(format!("{}: the answer has no `data`", what())))?;
    if data.result_type != "matrix" {
        return Err(error(format!(
            "{}: answered a {}, expected a matrix (a range query of an instant vector)",
            what(),
            data.result_type
        )));
    }
    if data.result.len() > 1 {
        let labels: Vec<String> = data.result.iter().take(3).map(|s| labels(&s.metric)).collect();
        return Err(error(format!(
            "{} returned {} series ({}{}); a signal must be one series: aggregate it, e.g. sum(...)",
            what(),
            data.result.len(),
            labels.join(", "),
            if data.result.len() > 3 { ", …" } else { "" }
        )));
    }
    let mut chunk = Chunk {
        samples: Vec::new(),
        non_finite: 0,
        warnings: answer.warnings,
    };
    if let Some(series) = data.result.into_iter().next() {
        chunk.samples.reserve(series.values.len());
        for (t, v) in series.values {
            let value: f64 = v.parse().map_err(|_| {
                error(format!(
                    "{}: sample value `{}` is not a number",
                    what(),
                    crate::error::shown(v, 64)
                ))
            })?;
            if value.is_finite() {
                chunk.samples.push((t.round() as i64, value));
            } else {
                chunk.non_finite += 1;
            }
        }
    }
    Ok(chunk)
}

/// Parses one query_range answer as the client does, and counts its samples: for the fuzz
/// targets (`fuzz/`), which feed it whatever a server could answer.
pub fn parse_answer(body: &[u8]) -> Result<usize> {
    let signal = Signal {
        name: "fuzz".into(),
        query: "fuzz".into(),
    };
    parse_chunk(body, &signal, "fuzz").map(|c| c.samples.len())
}

/// One chunk of one signal.
#[derive(Debug, Clone)]
struct Chunk {
    samples: Vec<(i64, f64)>,
    non_finite: u64,
    warnings: Vec<String>,
}

enum Attempt {
    Done(Vec<u8>),
    /// Retrying cannot help (a 4xx other than 429).
    Refused(String),
    Retry(String),
}

#[derive(Deserialize)]
struct Answer<'a> {
    status: String,
    #[serde(default, borrow)]
    data: Option<Data<'a>>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(borrow)]
    result: Vec<SeriesJson<'a>>,
}

/// One series; sample values are borrowed from the answer (Prometheus writes them as strings).
#[derive(Deserialize)]
struct SeriesJson<'a> {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default, borrow)]
    values: Vec<(f64, &'a str)>,
}

fn labels(metric: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = metric.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

/// Prometheus' own error text from an error answer, else the body's start.
fn error_text(body: &[u8]) -> String {
    match serde_json::from_slice::<Answer>(body) {
        Ok(Answer {
            error: Some(error),
            error_type,
            ..
        }) => match error_type {
            Some(t) => format!("{t}: {error}"),
            None => error,
        },
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            text.chars().take(300).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        let config: PrometheusSourceConfig =
            serde_json::from_str(r#"{"url": "http://127.0.0.1:9", "lookback": "1d"}"#).unwrap();
        Client::new(&config, Path::new("."), "config.yaml").unwrap()
    }

    #[test]
    fn chunks_cover_the_window_once_within_the_point_limit() {
        for (lookback_steps, points) in [(0i64, 5u32), (4, 5), (5, 5), (43_200, 11_000), (43_199, 10_000), (7, 1)] {
            let w = Window::ending_at(1_700_000_030, lookback_steps * 60, 60);
            let chunks = w.chunks(points);
            let times: Vec<i64> = chunks
                .iter()
                .flat_map(|&(s, e)| (0..).map(move |k| s + k * 60).take_while(move |&t| t <= e))
                .collect();
            let expected: Vec<i64> = (0..=lookback_steps).map(|k| w.start + k * 60).collect();
            assert_eq!(times, expected, "lookback {lookback_steps} steps, {points} points");
            for (s, e) in chunks {
                assert!((e - s) / 60 < i64::from(points), "chunk over the limit");
                assert!((e - s) / 60 <= 11_000);
            }
        }
        assert_eq!(Window::ending_at(1_700_000_030, 600, 60).end, 1_699_999_980);
    }

    #[test]
    fn an_answer_gives_samples_warnings_and_counts_non_finite_values() {
        let signal = Signal {
            name: "cpu".into(),
            query: "sum(cpu)".into(),
        };
        let body = br#"{"status":"success","warnings":["partial answer"],"data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1700000000,"1.5"],[1700000060.0,"NaN"],[1700000120,"+Inf"],[1700000180,"-2"]]}]}}"#;
        let chunk = client().parse(body, &signal).unwrap();
        assert_eq!(chunk.samples, vec![(1_700_000_000, 1.5), (1_700_000_180, -2.0)]);
        assert_eq!(chunk.non_finite, 2);
        assert_eq!(chunk.warnings, vec!["partial answer".to_string()]);
        let empty = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(client().parse(empty, &signal).unwrap().samples.is_empty());
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(client()
            .parse(vector, &signal)
            .unwrap_err()
            .to_string()
            .contains("expected a matrix"));
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        let config: PrometheusSourceConfig =
            serde_json::from_str(r#"{"url": "http://u:p@127.0.0.1:9", "lookback": "1d"}"#).unwrap();
        let e = Client::new(&config, Path::new("."), "config.yaml")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("must not carry credentials"), "{e}");
    }

    #[test]
    fn credentials_go_only_over_https_or_to_loopback() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(dir.path().join("token"), "secret").unwrap();
        let client = |url: &str| {
            let config: PrometheusSourceConfig =
                serde_json::from_value(serde_json::json!({"url": url, "lookback": "1d", "bearer_token_file": "token"}))
                    .unwrap();
            Client::new(&config, dir.path(), "config.yaml").map(|_| ())
        };
        let e = client("http://prometheus.monitoring:9090").unwrap_err().to_string();
        assert!(e.contains("config.yaml") && e.contains("plain http"), "{e}");
        client("https://prometheus.monitoring:9090").unwrap();
        client("http://127.0.0.1:9090").unwrap();
        client("http://localhost:9090").unwrap();
    }

    #[test]
    fn error_text_is_prometheus_own() {
        let body = br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected"}"#;
        assert_eq!(error_text(body), "bad_data: 1:5: parse error: unexpected");
        assert_eq!(error_text(b"Unauthorized\n"), "Unauthorized");
    }
}
