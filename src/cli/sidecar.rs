//! The `mttd-sidecar` program's command line: every setting is a flag or an environment
//! variable (a container's `env:`), `TARGET_PORT` as the runbook names it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::sidecar::{aggregates::AggregatesConfig, routes::Routes, stats::StatsConfig, SidecarConfig};
use crate::time::HumanDuration;

#[derive(Debug, Parser)]
#[command(
    name = "mttd-sidecar",
    version,
    about = "A reverse proxy in front of an app that cannot be instrumented: forwards every request to 127.0.0.1:TARGET_PORT and serves what it saw on /metrics for Prometheus"
)]
pub struct SidecarArgs {
    /// Where the proxy listens (the Service's targetPort).
    #[arg(long, env = "MTTD_SIDECAR_LISTEN", default_value = "0.0.0.0:8081")]
    pub listen: SocketAddr,
    /// The app's port on the pod's loopback.
    #[arg(long, env = "TARGET_PORT", default_value_t = 8080)]
    pub target_port: u16,
    /// The app's host (the pod's loopback unless the app listens elsewhere).
    #[arg(long, env = "MTTD_SIDECAR_TARGET_HOST", default_value = "127.0.0.1")]
    pub target_host: String,
    /// Where /metrics and /healthz are served.
    #[arg(long, env = "MTTD_SIDECAR_METRICS_LISTEN", default_value = "0.0.0.0:9102")]
    pub metrics_listen: SocketAddr,
    /// Route templates, the `route` label's only values besides `other`: `/orders/{id}`,
    /// `/static/*` (repeat the flag; comma-separated in the environment). First match wins.
    #[arg(long = "route", env = "MTTD_SIDECAR_ROUTES", value_delimiter = ',')]
    pub routes: Vec<String>,
    /// Connections served at once (more wait in the listen backlog): bounds memory, at most
    /// 128 KiB of buffers a connection (64 KiB each way; bodies are streamed).
    #[arg(long, env = "MTTD_SIDECAR_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Time to connect to the app before answering 502.
    #[arg(long, env = "MTTD_SIDECAR_CONNECT_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub connect_timeout: Duration,
    /// Time the app has to send its response head before the sidecar answers 504.
    #[arg(long, env = "MTTD_SIDECAR_UPSTREAM_TIMEOUT", default_value = "60s", value_parser = duration)]
    pub upstream_timeout: Duration,
    /// After SIGTERM, time the requests in flight get to finish (keep it under the pod's
    /// terminationGracePeriodSeconds).
    #[arg(long, env = "MTTD_SIDECAR_DRAIN_TIMEOUT", default_value = "25s", value_parser = duration)]
    pub drain_timeout: Duration,
    /// Event loops serving the proxy (like nginx's worker processes); default the CPUs the
    /// process may use (its cgroup's CPU limit included).
    #[arg(long, env = "MTTD_SIDECAR_THREADS")]
    pub threads: Option<usize>,
    /// The app's own stats as JSON (a path on the app, `/stats`): read on every scrape, the
    /// fields given by --stat exported beside the sidecar's series.
    #[arg(long, env = "MTTD_SIDECAR_STATS_PATH")]
    pub stats_path: Option<String>,
    /// A field of the stats document to export: `NAME=/json/pointer` (a gauge) or
    /// `NAME=/json/pointer:counter` (repeat the flag; comma-separated in the environment).
    #[arg(long = "stat", env = "MTTD_SIDECAR_STATS", value_delimiter = ',')]
    pub stats: Vec<String>,
    /// Write rolling aggregates (requests, rate, 5xx, bytes, in all and by route; in flight) to
    /// this JSON file every --aggregates-every, atomically: for an app that reads recent load
    /// from a shared emptyDir.
    #[arg(long, env = "MTTD_SIDECAR_AGGREGATES_FILE")]
    pub aggregates_file: Option<PathBuf>,
    /// The aggregates' window (at least 1s).
    #[arg(long, env = "MTTD_SIDECAR_AGGREGATES_EVERY", default_value = "10s", value_parser = duration)]
    pub aggregates_every: Duration,
}

fn duration(text: &str) -> Result<Duration, String> {
    let parsed = HumanDuration::parse(text).map_err(|e| e.to_string())?;
    Ok(Duration::from_secs(parsed.seconds().max(0) as u64))
}

impl SidecarArgs {
    pub fn config(&self) -> Result<SidecarConfig, String> {
        if self.max_connections == 0 {
            return Err("--max-connections (MTTD_SIDECAR_MAX_CONNECTIONS) must be at least 1".into());
        }
        let routes = Routes::parse(&self.routes).map_err(|e| format!("--route (MTTD_SIDECAR_ROUTES): {e}"))?;
        let stats = match &self.stats_path {
            Some(path) => Some(StatsConfig::parse(path, &self.stats)?),
            None if !self.stats.is_empty() => return Err(
                "--stat (MTTD_SIDECAR_STATS) needs --stats-path (MTTD_SIDECAR_STATS_PATH): where the app serves them"
                    .into(),
            ),
            None => None,
        };
        if self.aggregates_every < Duration::from_secs(1) {
            return Err("--aggregates-every (MTTD_SIDECAR_AGGREGATES_EVERY) must be at least 1s".into());
        }
        let aggregates = self.aggregates_file.clone().map(|path| AggregatesConfig {
            path,
            every: self.aggregates_every,
        });
        Ok(SidecarConfig {
            listen: self.listen,
            target: format!("{}:{}", self.target_host, self.target_port),
            metrics_listen: self.metrics_listen,
            routes,
            max_connections: self.max_connections,
            connect_timeout: self.connect_timeout,
            upstream_timeout: self.upstream_timeout,
            drain_timeout: self.drain_timeout,
            threads: self
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1),
            stats,
            aggregates,
        })
    }
}

/// SIGTERM (the kubelet) or SIGINT (a terminal).
pub async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
