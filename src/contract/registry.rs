//! The registry of a workload's model versions and the change-log entries it is derived from.
//! Kept in the store by `crate::store::registry`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::document::{document_kind, wire_enum, ApiVersion};
use super::gate::{ErrorMetric, GatePolicy, LiveShadowPolicy, Verdict};
use super::score::LiveDrift;

document_kind!(ChangeLogEntry, ChangeLogEntryKind, "ChangeLogEntry");
document_kind!(Registry, RegistryKind, "Registry");
document_kind!(ShadowTrials, ShadowTrialsKind, "ShadowTrials");

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum VersionStatus {
        /// Published, waiting for an operator's approval.
        Candidate = "candidate",
        Promoted = "promoted",
        /// Was promoted; a later version took its place.
        Superseded = "superseded",
        Rejected = "rejected",
        RolledBack = "rolled-back",
        /// Passed the gate; forecast live beside the promoted version until the promotion step
        /// promotes or rejects it on live evidence (`gate.live_shadow`).
        Shadow = "shadow",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeLogEntry {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: ChangeLogEntryKind,
    pub workload: String,
    pub sequence: u64,
    /// sha256 of the previous entry's bytes; absent for the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_sha256: Option<String>,
    /// When it was recorded (RFC 3339, UTC).
    pub recorded_at: String,
    /// Who or what triggered it (a CronWorkflow, a webhook, a person).
    pub actor: String,
    pub event: Event,
    /// Who wrote it: an Ed25519 signature of the entry's canonical bytes without this field.
    /// Readers that trust keys (`MTTD_TRUSTED_KEYS`) refuse an entry not signed by a key
    /// trusted for its event (publish: a publisher's; approve, rollback: an approver's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<EntrySignature>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntrySignature {
    /// The signer's public key (hex).
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub key: String,
    /// The signature (hex).
    #[schemars(regex(pattern = r"^[0-9a-f]{128}$"))]
    pub value: String,
}

/// A point of the change log seen from outside the store (the forecast's ConfigMap keeps one):
/// a later log must still have this entry, so a truncation or a rewrite shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogWitness {
    pub sequence: u64,
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Event {
    /// A new version with its documents and the gate's decision.
    Publish {
        version: u32,
        status: VersionStatus,
        decision: Verdict,
        reason: String,
        model_sha256: String,
        dataset_sha256: String,
        /// Every document of the version: file name → sha256.
        documents: BTreeMap<String, String>,
        /// The gate's thresholds.
        policy: GatePolicy,
    },
    /// An operator promoted a version (the human approval path); the entry's actor is who.
    Approve {
        version: u32,
        reason: String,
        /// The version had been rejected by the gate: the operator overrode it (`--force`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        forced: bool,
    },
    /// The promoted pointer moved back to `to`; the version in service before is rolled back.
    Rollback { from: u32, to: u32, reason: String },
    /// A shadow version's live trial ended (the promotion step): promoted in place of the
    /// version in service, or rejected; with the evidence.
    LiveVerdict {
        version: u32,
        /// `promote` or `reject`.
        decision: Verdict,
        reason: String,
        evidence: LiveEvidence,
    },
    /// The live drift rule held for the version in service (the live-verdicts step, once per
    /// version): with `deploy.drift_alert.advisory_on_drift`, assisted mode is advisory for
    /// that version from then on.
    Drift { version: u32, drift: LiveDrift },
}

/// A shadow's live forecasts against the promoted version's, over the same matured forecasts
/// (the runs that logged both, whose target time has an actual).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveEvidence {
    /// The version in service it was compared with (absent when none was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_service: Option<u32>,
    /// The first run that logged a forecast of the shadow (RFC 3339): its trial's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// Matured forecast pairs.
    pub scored: u64,
    /// Target times of the first and last pair (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<super::interval::Interval>,
    /// The metric compared, and each side's value over the pairs (0 without pairs).
    pub metric: ErrorMetric,
    pub shadow_error: f64,
    pub in_service_error: f64,
    /// The live trial's thresholds.
    pub policy: LiveShadowPolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: RegistryKind,
    pub workload: String,
    /// The last change-log entry this index reflects.
    pub head_sequence: u64,
    pub head_sha256: String,
    /// The version in service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<u32>,
    pub versions: Vec<VersionRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionRecord {
    pub version: u32,
    /// `mttd-model:v<N>`.
    pub name: String,
    pub status: VersionStatus,
    pub decision: Verdict,
    pub reason: String,
    pub model_sha256: String,
    pub dataset_sha256: String,
    pub documents: BTreeMap<String, String>,
    pub published_at: String,
    pub published_by: String,
    /// Who approved its promotion, when and why (when an operator did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// How its live trial as a shadow ended (when it had one and it ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_trial: Option<LiveTrial>,
    /// When live drift was recorded for it, by whom, with the figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftMark>,
}

/// Live drift of a version, as the change log records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftMark {
    pub at: String,
    pub by: String,
    pub drift: LiveDrift,
}

/// The end of a shadow's live trial, as the change log records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveTrial {
    pub decision: Verdict,
    pub reason: String,
    pub at: String,
    pub by: String,
    pub evidence: LiveEvidence,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub by: String,
    pub at: String,
    pub reason: String,
    /// Over the gate's rejection (`--force`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
}

/// `trials.json`: the live-verdicts step's judgement of every shadow version of a workload, and
/// of the version in service's live drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowTrials {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: ShadowTrialsKind,
    pub workload: String,
    /// "Now": forecasts whose target time is at or before it are matured.
    pub judged_at: String,
    /// The version in service the shadows were judged against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_service: Option<u32>,
    pub trials: Vec<ShadowTrial>,
    /// The live drift rule on the version in service, when configured and it was scored
    /// (`holds`: recorded in the change log, once per version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<LiveDrift>,
}

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum TrialOutcome {
        /// Not yet decidable: the trial goes on.
        Waiting = "waiting",
        /// Promoted, recorded in the change log.
        Promoted = "promoted",
        /// Rejected, recorded in the change log.
        Rejected = "rejected",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowTrial {
    pub version: u32,
    pub outcome: TrialOutcome,
    pub reason: String,
    pub evidence: LiveEvidence,
}
