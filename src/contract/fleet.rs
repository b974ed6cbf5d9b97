//! `fleet.json`: one fleet-forecast run — every workload's outcome, so that one broken workload
//! shows beside the others instead of failing them. Made by `crate::steps::fleet_forecast`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::document::{document_kind, ApiVersion};

document_kind!(FleetRun, FleetRunKind, "FleetRun");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetRun {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: FleetRunKind,
    /// This run's shard (`K/N`) of the configs, in name order.
    pub shard: String,
    pub workloads: u64,
    /// Workloads with a forecast acted on (no fallback).
    pub recommendations: u64,
    /// Workloads that fell back, by reason (each still published its advice).
    pub fallbacks: BTreeMap<String, u64>,
    /// Configs that could not be used (nothing published for them), with why.
    pub failed: Vec<FleetFailure>,
    /// One line per workload, in config order.
    pub outcomes: Vec<FleetOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetOutcome {
    pub config: String,
    pub workload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Wall time of this workload's forecast, milliseconds.
    pub millis: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetFailure {
    pub config: String,
    pub error: String,
}
