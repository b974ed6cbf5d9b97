//! Assisted mode's GitOps-safe actuation: the floor the forecast asks for, published as a metric
//! the autoscaler reads beside its own — never a change to the HPA object that Git owns.
//!
//! Each forecast replaces its group on a Prometheus Pushgateway (`PUT
//! /metrics/job/<job>/workload/<workload>`, the Pushgateway's documented API) with the floor
//! ([`FLOOR_METRIC`], absent on a fallback) and the time the forecast was made
//! ([`FLOOR_TIMESTAMP_METRIC`]), and the balloon's size when node headroom is configured
//! ([`HEADROOM_METRIC`]). Prometheus scrapes the Pushgateway (`honor_labels: true`); the
//! queries in `examples/gitops/` keep the floor only while that time is recent, so a forecast
//! that stops running hands the workload back to the reactive metric by itself. The KEDA trigger
//! or the External metric (`AverageValue: 1`) turns the floor into replicas, and the HPA takes the
//! maximum over its metrics: the replay models exactly that ([`crate::replay`]).

use crate::contract::deploy::{PushgatewayConfig, Recommendation};
use crate::error::{Error, Result};

/// The replica floor, a gauge without labels beyond the grouping key's.
pub const FLOOR_METRIC: &str = "mttd_floor_replicas";
/// When the forecast was made (Unix seconds).
pub const FLOOR_TIMESTAMP_METRIC: &str = "mttd_floor_timestamp_seconds";
/// The balloon's size (`deploy.headroom`), for a KEDA ScaledObject on the balloon Deployment.
pub const HEADROOM_METRIC: &str = "mttd_headroom_replicas";

/// The group's text (Prometheus text format 0.0.4) for a recommendation made at `made_at`.
pub fn group_text(rec: &Recommendation, made_at: i64) -> String {
    let mut text = format!(
        "# HELP {FLOOR_TIMESTAMP_METRIC} When the forecast behind the floor was made (Unix seconds); readers drop an older floor.\n\
         # TYPE {FLOOR_TIMESTAMP_METRIC} gauge\n{FLOOR_TIMESTAMP_METRIC} {made_at}\n"
    );
    if let Some(headroom) = &rec.headroom {
        text.push_str(&format!(
            "# HELP {HEADROOM_METRIC} Balloon pods to hold node room for the forecast's surge beyond the running replicas (0 on a fallback).\n\
             # TYPE {HEADROOM_METRIC} gauge\n{HEADROOM_METRIC} {}\n",
            headroom.balloon_replicas
        ));
    }
    if let Some(floor) = rec.acted_floor() {
        text.push_str(&format!(
            "# HELP {FLOOR_METRIC} The replica floor the forecast asks for, under the HPA's own recommendation; absent on a fallback.\n\
             # TYPE {FLOOR_METRIC} gauge\n{FLOOR_METRIC} {floor}\n"
        ));
    }
    text
}

/// The group's URL on the Pushgateway.
pub fn group_url(config: &PushgatewayConfig, workload: &str) -> String {
    format!(
        "{}/metrics/job/{}/workload/{workload}",
        config.url.trim_end_matches('/'),
        config.job
    )
}

/// Replaces the workload's group with `rec`'s floor (retrying connection errors and 5xx).
pub fn push(config: &PushgatewayConfig, rec: &Recommendation, made_at: i64) -> Result<()> {
    let body = group_text(rec, made_at).into_bytes();
    crate::http::send_with_retry(
        reqwest::Method::PUT,
        &group_url(config, &rec.workload),
        "text/plain; version=0.0.4",
        body,
    )
    .map_err(|problem| Error::Pushgateway {
        url: config.url.clone(),
        problem,
    })
}
