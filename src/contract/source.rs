//! Where a workload's metrics come from (the `source:` and `signals:` of the config) and what a
//! dataset manifest records about the source it was read from. Used by `source/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::interval::Interval;
use crate::time::{dur, HumanDuration};

/// Where the metrics come from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SourceConfig {
    /// A long-format export: columns `timestamp,series,value` (CSV or Parquet).
    File(FileSourceConfig),
    /// A Prometheus server's `query_range` API: the target and every feature is a PromQL query.
    Prometheus(Box<PrometheusSourceConfig>),
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSourceConfig {
    /// Base URL of the server (or of a path-prefixed proxy in front of it), e.g.
    /// `http://prometheus.monitoring:9090`. Recorded in the manifest; never put credentials here.
    #[schemars(regex(pattern = r"^https?://[^@/]+(/.*)?$"))]
    pub url: String,
    /// Query resolution (`step` of `query_range`); default the config's `resolution`, which it
    /// must divide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<HumanDuration>,
    /// How far back from `end` the extraction reads.
    pub lookback: HumanDuration,
    /// Measured lead time: a query answering one series, the seconds a new pod of the workload
    /// takes from creation to Ready (with kube-state-metrics, e.g.
    /// `max(kube_pod_status_ready_time{namespace="shop",pod=~"api-.*"} - kube_pod_created{namespace="shop",pod=~"api-.*"})`).
    /// extract-features records its P50 and P90 over the lookback in the dataset manifest; the
    /// replay then uses the P90 as `capacity.startup_delay` unless the config sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_query: Option<String>,
    /// A file holding a bearer token (e.g. a mounted ServiceAccount token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// HTTP basic auth, the password read from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuthConfig>,
    /// PEM file of the CA that signed the server's certificate (for `https://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1, max = 64))]
    pub concurrency: u32,
    /// Points per series per request; Prometheus refuses more than 11,000.
    #[serde(default = "default_chunk_points")]
    #[schemars(range(min = 2, max = 11000))]
    pub chunk_points: u32,
    /// Time limit of one request.
    #[serde(default = "default_request_timeout")]
    pub timeout: HumanDuration,
    /// Retries of a request after a connection error, a timeout, 429 or 5xx (exponential
    /// backoff from 250 ms, with jitter). A 4xx other than 429 is never retried.
    #[serde(default = "default_retries")]
    #[schemars(range(max = 20))]
    pub retries: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    pub username: String,
    pub password_file: PathBuf,
}

fn default_concurrency() -> u32 {
    4
}
fn default_chunk_points() -> u32 {
    10_000
}
fn default_request_timeout() -> HumanDuration {
    dur("30s")
}
fn default_retries() -> u32 {
    4
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Path of the export; a relative path is relative to the config file's folder.
    pub path: PathBuf,
    /// `csv` or `parquet`; taken from the file extension when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FileFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Csv,
    Parquet,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalsConfig {
    /// The series to forecast (e.g. requests per second): a series name in a file source, a
    /// PromQL query returning one series for Prometheus.
    pub target: String,
    /// Other series used as features at the time of the forecast: a list of series names in a
    /// file source, `name: PromQL query` for Prometheus.
    #[serde(default)]
    pub features: FeatureSignals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FeatureSignals {
    /// Series names of a file source.
    Names(Vec<String>),
    /// Feature name → PromQL query returning one series (names: lower-case letters, digits, `_`).
    Queries(BTreeMap<String, String>),
}

impl Default for FeatureSignals {
    fn default() -> Self {
        FeatureSignals::Names(Vec::new())
    }
}

impl FeatureSignals {
    /// The feature signals' names, in order (queries: by name).
    pub fn names(&self) -> Vec<String> {
        match self {
            FeatureSignals::Names(names) => names.clone(),
            FeatureSignals::Queries(queries) => queries.keys().cloned().collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceRecord {
    /// `csv`, `parquet` or `prometheus`.
    pub kind: String,
    /// File path or server URL (never credentials).
    pub location: String,
    /// sha256 of the source file, when the source is a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// What was asked of Prometheus, when the source is Prometheus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusRecord>,
}

/// The queries and window of a Prometheus extraction: with the same `end`, the same queries
/// against the same data give the same dataset bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusRecord {
    /// The target's query.
    pub target_query: String,
    /// Feature name → query.
    pub feature_queries: BTreeMap<String, String>,
    /// First and last evaluation time asked for (RFC 3339), both included.
    pub window: Interval,
    /// The `query_range` step.
    pub step: String,
    /// Requests made (chunks × queries), retries not counted.
    pub requests: u64,
    /// Samples returned as NaN or ±Inf, treated as gaps.
    pub non_finite_samples: u64,
    /// Warnings Prometheus returned, each prefixed with the signal it came with.
    pub warnings: Vec<String>,
    /// The pods' start-up time measured with `startup_query`, when it is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<StartupRecord>,
}

/// The start-up time of the workload's pods over the lookback: the samples of `startup_query`
/// (negative ones dropped), their median and 90th percentile (nearest rank).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartupRecord {
    pub query: String,
    pub samples: u64,
    pub p50_seconds: f64,
    pub p90_seconds: f64,
}
