//! Rolling aggregates for per-request prediction inputs: every `--aggregates-every` the sidecar
//! writes what the last window saw — requests, their rate, 5xx answers and response bytes, in all
//! and by route, and the requests in flight — as one JSON document to a file the app can read
//! (on an `emptyDir` both containers mount). Written atomically (a temporary sibling, then a
//! rename): a reader sees the previous document or the new one, never half of one. Nothing else
//! is kept: the window is the difference of two readings of the sidecar's own counters.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::metrics::{Metrics, RouteTotals};
use crate::error::Result;

/// The document's format version.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct AggregatesConfig {
    pub path: PathBuf,
    pub every: Duration,
}

/// One window, in all or for one route.
#[derive(Debug, Serialize, PartialEq)]
pub struct Window {
    pub requests: u64,
    pub requests_per_second: f64,
    /// Answered 5xx (the app's, or the sidecar's own 502/504).
    pub errors: u64,
    pub response_bytes: u64,
}

impl Window {
    fn of(totals: &RouteTotals, seconds: f64) -> Window {
        Window {
            requests: totals.requests,
            requests_per_second: if seconds > 0.0 {
                totals.requests as f64 / seconds
            } else {
                0.0
            },
            errors: totals.errors,
            response_bytes: totals.response_bytes,
        }
    }
}

/// The document.
#[derive(Debug, Serialize, PartialEq)]
pub struct Aggregates {
    pub version: u32,
    /// When the window ended (RFC 3339, UTC).
    pub written_at: String,
    pub window_seconds: f64,
    pub in_flight: i64,
    pub total: Window,
    /// By route label (the configured templates and `other`): only routes seen since the
    /// sidecar started.
    pub routes: BTreeMap<&'static str, Window>,
}

/// Readings of the counters, one window apart.
pub struct Roller {
    metrics: Arc<Metrics>,
    config: AggregatesConfig,
    previous: (Instant, Vec<RouteTotals>),
}

impl Roller {
    pub fn new(metrics: Arc<Metrics>, config: AggregatesConfig) -> Roller {
        let previous = (Instant::now(), metrics.by_route());
        Roller {
            metrics,
            config,
            previous,
        }
    }

    /// The window since the last reading (which this one replaces).
    pub fn roll(&mut self) -> Aggregates {
        let (now, totals) = (Instant::now(), self.metrics.by_route());
        let seconds = now.duration_since(self.previous.0).as_secs_f64();
        let mut all = RouteTotals::default();
        let mut routes = BTreeMap::new();
        for ((label, after), before) in self.metrics.routes().iter().zip(&totals).zip(&self.previous.1) {
            let window = after.since(before);
            all.requests += window.requests;
            all.errors += window.errors;
            all.response_bytes += window.response_bytes;
            if after.requests > 0 {
                routes.insert(*label, Window::of(&window, seconds));
            }
        }
        self.previous = (now, totals);
        Aggregates {
            version: VERSION,
            written_at: crate::time::now_rfc3339(),
            window_seconds: seconds,
            in_flight: self.metrics.in_flight(),
            total: Window::of(&all, seconds),
            routes,
        }
    }

    /// Rolls a window and writes it (atomically).
    pub fn write(&mut self) -> Result<()> {
        let document = self.roll();
        let mut bytes = serde_json::to_vec_pretty(&document).expect("the aggregates serialise");
        bytes.push(b'\n');
        crate::contract::document::write_atomic(&self.config.path, &bytes)
    }

    pub fn every(&self) -> Duration {
        self.config.every
    }
}

/// Writes a window every `roller.every()`, forever; a failed write is logged and retried at the
/// next window (the proxy goes on). The document is a few hundred bytes, written in the event
/// loop: a moment's work every window.
pub async fn run(mut roller: Roller) {
    let mut ticks = tokio::time::interval(roller.every());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if let Err(error) = roller.write() {
            tracing::warn!(%error, "the aggregates file could not be written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_the_difference_of_two_readings() {
        let metrics = Arc::new(Metrics::new(vec!["/orders/{id}", "/cart", "other"]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared/aggregates.json");
        let mut roller = Roller::new(
            metrics.clone(),
            AggregatesConfig {
                path: path.clone(),
                every: Duration::from_secs(10),
            },
        );
        let answer = |route: usize, status: u16, bytes: usize| {
            let mut exchange = metrics.start(0, route);
            exchange.answered(status);
            exchange.sent(bytes);
        };
        answer(0, 200, 100);
        answer(0, 502, 10);
        let _open = metrics.start(0, 1); // in flight while the window is written
        roller.write().unwrap();
        let first: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(first["version"], 1);
        assert_eq!(first["in_flight"], 1);
        assert_eq!(first["total"]["requests"], 2);
        assert_eq!(first["total"]["errors"], 1);
        assert_eq!(first["routes"]["/orders/{id}"]["response_bytes"], 110);
        assert!(
            first["routes"].get("/cart").is_none(),
            "nothing answered on /cart yet: {first}"
        );
        assert!(first["total"]["requests_per_second"].as_f64().unwrap() > 0.0);

        answer(2, 200, 5);
        let second = roller.roll();
        assert_eq!(second.total.requests, 1, "only what came after the last window");
        assert_eq!(second.routes["other"].requests, 1);
        assert_eq!(second.routes["/orders/{id}"].requests, 0);
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left beside it");
    }
}
