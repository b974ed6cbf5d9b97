//! The registry of a workload's model versions, kept as a tamper-evident change log.
//!
//! The change log is the source of truth: entry `<workload>/changelog/<seq>.json` is created
//! create-if-absent at the next sequence number and holds the sha256 of the entry before it, so
//! two publishers can never both take a number, and the chain shows any edit. `registry.json` is
//! a cache derived from the log (rewritten after every entry, rebuilt from the log when read).
//! This works on every backend, including the local filesystem, which supports
//! create-if-absent but not update-if-unchanged.
//!
//! Publishing writes a version's documents first (its `model.json` claims the version number,
//! create-if-absent), then the change-log entry that makes it visible: a publisher that dies in
//! between leaves an orphan folder that no reader ever sees as a version.

use std::collections::BTreeMap;

use super::{Created, Store};
use crate::contract::document::{canonical_json, sha256_hex, ApiVersion, Document};
use crate::contract::gate::{Decision, Verdict};
use crate::contract::layout::{self, changelog_key, version_key, MODEL_FILE};
use crate::contract::model::Model;
use crate::contract::registry::{
    Approval, ChangeLogEntry, ChangeLogEntryKind, DriftMark, Event, LiveTrial, LogWitness, Registry, RegistryKind,
    VersionRecord, VersionStatus,
};
use crate::contract::score::LiveDrift;
use crate::error::{Error, Result};
use crate::model::PromotedModel;

/// Points the registry at `version`, marking the one in service before it superseded.
fn promote(versions: &mut [VersionRecord], promoted: &mut Option<u32>, version: u32) {
    if let Some(previous) = promoted.filter(|p| *p != version) {
        if let Some(v) = versions.iter_mut().find(|v| v.version == previous) {
            v.status = VersionStatus::Superseded;
        }
    }
    if let Some(v) = versions.iter_mut().find(|v| v.version == version) {
        v.status = VersionStatus::Promoted;
    }
    *promoted = Some(version);
}

/// Reads the whole change log in order and checks its chain.
pub fn read_log(store: &Store, workload: &str) -> Result<Vec<(ChangeLogEntry, String)>> {
    let mut entries: Vec<(ChangeLogEntry, String)> = Vec::new();
    for key in store.list(&layout::changelog_prefix(workload))? {
        // Only entries are read: anything else under changelog/ (a stray upload, an editor's
        // backup) is skipped, said in the logs, and never breaks the readers.
        let name = key.rsplit('/').next().unwrap_or_default();
        let is_entry = name.len() == 13 && name.ends_with(".json") && name[..8].bytes().all(|b| b.is_ascii_digit());
        if !is_entry {
            tracing::warn!("{}/{key} is not a change-log entry: skipped", store.url());
            continue;
        }
        let bytes = store.get(&key)?.ok_or_else(|| Error::Store {
            url: store.url().into(),
            problem: format!("{key} was listed but is gone"),
        })?;
        let origin = format!("{}/{key}", store.url());
        let entry = ChangeLogEntry::from_bytes(&bytes, &origin)?;
        if let Some(trust) = store.trust() {
            trust.check(&entry, &origin)?;
        }
        let expected_sequence = entries.len() as u64 + 1;
        if entry.sequence != expected_sequence || key != changelog_key(workload, expected_sequence) {
            return Err(Error::field(
                &origin,
                "/sequence",
                format!("expected entry {expected_sequence} of the change log here"),
            ));
        }
        let previous = entries.last().map(|(_, sha)| sha.clone());
        if entry.previous_sha256 != previous {
            return Err(Error::field(
                &origin,
                "/previous_sha256",
                format!(
                    "is {:?} but the previous entry hashes to {:?}: the change log was altered",
                    entry.previous_sha256, previous
                ),
            ));
        }
        entries.push((entry, sha256_hex(&bytes)));
    }
    Ok(entries)
}

/// The registry as the change log defines it.
pub fn derive_registry(workload: &str, log: &[(ChangeLogEntry, String)]) -> Registry {
    let mut versions: Vec<VersionRecord> = Vec::new();
    let mut promoted = None;
    for (entry, _) in log {
        match &entry.event {
            Event::Publish {
                version,
                status,
                decision,
                reason,
                model_sha256,
                dataset_sha256,
                documents,
                ..
            } => {
                versions.push(VersionRecord {
                    version: *version,
                    name: format!("mttd-model:v{version}"),
                    status: *status,
                    decision: *decision,
                    reason: reason.clone(),
                    model_sha256: model_sha256.clone(),
                    dataset_sha256: dataset_sha256.clone(),
                    documents: documents.clone(),
                    published_at: entry.recorded_at.clone(),
                    published_by: entry.actor.clone(),
                    approval: None,
                    live_trial: None,
                    drift: None,
                });
                if *status == VersionStatus::Promoted {
                    promote(&mut versions, &mut promoted, *version);
                }
            }
            Event::Rollback { from, to, .. } => {
                promote(&mut versions, &mut promoted, *to);
                if let Some(v) = versions.iter_mut().find(|v| v.version == *from) {
                    v.status = VersionStatus::RolledBack;
                }
            }
            Event::LiveVerdict {
                version,
                decision,
                reason,
                evidence,
            } => {
                if *decision == Verdict::Promote {
                    promote(&mut versions, &mut promoted, *version);
                }
                if let Some(v) = versions.iter_mut().find(|v| v.version == *version) {
                    if *decision != Verdict::Promote {
                        v.status = VersionStatus::Rejected;
                    }
                    v.live_trial = Some(LiveTrial {
                        decision: *decision,
                        reason: reason.clone(),
                        at: entry.recorded_at.clone(),
                        by: entry.actor.clone(),
                        evidence: evidence.clone(),
                    });
                }
            }
            Event::Drift { version, drift } => {
                if let Some(v) = versions.iter_mut().find(|v| v.version == *version) {
                    v.drift = Some(DriftMark {
                        at: entry.recorded_at.clone(),
                        by: entry.actor.clone(),
                        drift: drift.clone(),
                    });
                }
            }
            Event::Approve {
                version,
                reason,
                forced,
            } => {
                promote(&mut versions, &mut promoted, *version);
                if let Some(v) = versions.iter_mut().find(|v| v.version == *version) {
                    v.approval = Some(Approval {
                        by: entry.actor.clone(),
                        at: entry.recorded_at.clone(),
                        reason: reason.clone(),
                        forced: *forced,
                    });
                }
            }
        }
    }
    Registry {
        api_version: ApiVersion::V1,
        kind: RegistryKind::Kind,
        workload: workload.to_string(),
        head_sequence: log.last().map(|(e, _)| e.sequence).unwrap_or(0),
        head_sha256: log.last().map(|(_, s)| s.clone()).unwrap_or_default(),
        promoted,
        versions,
    }
}

/// The current registry of a workload (from the change log).
pub fn registry(store: &Store, workload: &str) -> Result<Registry> {
    Ok(derive_registry(workload, &read_log(store, workload)?))
}

/// How many versions of a workload have ever been promoted.
pub fn promotions(store: &Store, workload: &str) -> Result<u32> {
    Ok(registry(store, workload)?
        .versions
        .iter()
        .filter(|v| {
            matches!(
                v.status,
                VersionStatus::Promoted | VersionStatus::Superseded | VersionStatus::RolledBack
            )
        })
        .count() as u32)
}

/// Loads a version's document, refusing it when its bytes do not match the recorded sha256.
pub fn load_document(store: &Store, workload: &str, record: &VersionRecord, file: &str) -> Result<Vec<u8>> {
    let key = version_key(workload, record.version, file);
    let expected = record.documents.get(file).ok_or_else(|| Error::Altered {
        url: store.url().into(),
        problem: format!("{} has no document {file}", record.name),
    })?;
    let bytes = store.get(&key)?.ok_or_else(|| Error::Altered {
        url: store.url().into(),
        problem: format!("{key} is missing"),
    })?;
    let sha = sha256_hex(&bytes);
    if &sha != expected {
        return Err(Error::Altered {
            url: store.url().into(),
            problem: format!("{key} hashes to {sha}, but the change log records {expected}: it was altered"),
        });
    }
    Ok(bytes)
}

/// The change log's last entry, after checking that the log still has the entry `witness`
/// (seen earlier from outside the store) unchanged: a log truncated or rewritten since is
/// refused. `None` for an empty log.
pub fn witnessed(store: &Store, workload: &str, witness: Option<&LogWitness>) -> Result<Option<LogWitness>> {
    witnessed_in(store, workload, &read_log(store, workload)?, witness)
}

/// [`witnessed`] on a change log already read.
fn witnessed_in(
    store: &Store,
    workload: &str,
    log: &[(ChangeLogEntry, String)],
    witness: Option<&LogWitness>,
) -> Result<Option<LogWitness>> {
    if let Some(w) = witness {
        let seen = usize::try_from(w.sequence)
            .ok()
            .and_then(|s| s.checked_sub(1))
            .and_then(|i| log.get(i))
            .map(|(_, sha)| sha);
        if seen != Some(&w.sha256) {
            return Err(Error::Altered {
                url: store.url().into(),
                problem: format!(
                    "the change log of {workload} no longer has entry {} ({}) seen before: it was truncated or rewritten",
                    w.sequence, w.sha256
                ),
            });
        }
    }
    Ok(log.last().map(|(entry, sha)| LogWitness {
        sequence: entry.sequence,
        sha256: sha.clone(),
    }))
}

/// The promoted model of a workload, verified, or `None` when none is promoted.
pub fn promoted_model(store: &Store, workload: &str) -> Result<Option<PromotedModel>> {
    promoted_in(store, workload, &registry(store, workload)?)
}

/// At most this many shadow versions, the newest, are forecast beside the promoted one; an
/// older one waits unforecast until its trial ends (`max_duration`).
pub const MAX_SHADOWS: usize = 3;

/// What the forecast step serves: the promoted model, the shadow versions' (each verified
/// alone: one that fails to load says why and keeps nothing else from forecasting) and the
/// change log's head.
pub struct Served {
    pub promoted: Option<PromotedModel>,
    /// The live drift the change log records for the promoted version.
    pub promoted_drift: Option<DriftMark>,
    pub shadows: Vec<(u32, std::result::Result<PromotedModel, String>)>,
    pub head: Option<LogWitness>,
}

/// The models to forecast with and the change log's head, from one read of the log, once the
/// log is shown to still hold the entry `seen` by the last forecast (see [`witnessed`]): what
/// the forecast step needs at every tick.
pub fn served_models(store: &Store, workload: &str, seen: Option<&LogWitness>) -> Result<Served> {
    let log = read_log(store, workload)?;
    let head = witnessed_in(store, workload, &log, seen)?;
    let registry = derive_registry(workload, &log);
    let promoted = promoted_in(store, workload, &registry)?;
    let mut shadows: Vec<&VersionRecord> = registry
        .versions
        .iter()
        .filter(|v| v.status == VersionStatus::Shadow)
        .collect();
    shadows.sort_by_key(|v| std::cmp::Reverse(v.version));
    let shadows = shadows
        .into_iter()
        .take(MAX_SHADOWS)
        .map(|record| {
            (
                record.version,
                load_model(store, workload, record).map_err(|e| e.to_string()),
            )
        })
        .collect();
    let promoted_drift = registry
        .versions
        .iter()
        .find(|v| Some(v.version) == registry.promoted)
        .and_then(|v| v.drift.clone());
    Ok(Served {
        promoted,
        promoted_drift,
        shadows,
        head,
    })
}

/// [`promoted_model`] in a registry already derived.
fn promoted_in(store: &Store, workload: &str, registry: &Registry) -> Result<Option<PromotedModel>> {
    let Some(version) = registry.promoted else {
        return Ok(None);
    };
    let record = registry
        .versions
        .iter()
        .find(|v| v.version == version)
        .ok_or_else(|| Error::Altered {
            url: store.url().into(),
            problem: format!("the change log promotes v{version} of {workload}, which it never published"),
        })?;
    load_model(store, workload, record).map(Some)
}

/// A version's model, its bytes checked against the change log and its contents checked.
fn load_model(store: &Store, workload: &str, record: &VersionRecord) -> Result<PromotedModel> {
    let key = version_key(workload, record.version, MODEL_FILE);
    let bytes = load_document(store, workload, record, MODEL_FILE)?;
    let model = Model::from_bytes(&bytes, &format!("{}/{key}", store.url()))?;
    model.check(&key)?;
    Ok(PromotedModel {
        version: record.version,
        model,
    })
}

/// What publish needs: the version's documents (file name → bytes, `model.json` among them)
/// and the dataset Parquet, stored once by content.
#[derive(Debug, Clone)]
pub struct Publication {
    pub workload: String,
    pub documents: BTreeMap<String, Vec<u8>>,
    pub dataset: Vec<u8>,
    pub dataset_sha256: String,
    pub decision: Decision,
    pub actor: String,
    pub recorded_at: String,
}

/// How many times a publisher re-reads and retries when another one took its number.
const MAX_ATTEMPTS: u32 = 1000;

/// The first half of publishing: stores the dataset, claims the next free version number with
/// `model.json` (create-if-absent) and writes the version's other documents. Nothing is visible
/// until the change-log entry exists; a publisher that stops here leaves an orphan for `gc`.
pub fn write_documents(store: &Store, publication: &Publication) -> Result<(u32, BTreeMap<String, String>)> {
    let w = &publication.workload;
    let model_bytes = publication
        .documents
        .get(MODEL_FILE)
        .ok_or_else(|| Error::Internal("a publication without model.json".into()))?;
    store.put_new(
        &layout::dataset_key(w, &publication.dataset_sha256),
        &publication.dataset,
    )?;
    let log = read_log(store, w)?;
    let mut version = derive_registry(w, &log)
        .versions
        .iter()
        .map(|v| v.version)
        .max()
        .unwrap_or(0)
        + 1;
    let mut attempts = 0;
    while store.put_new(&version_key(w, version, MODEL_FILE), model_bytes)? == Created::AlreadyExists {
        version += 1;
        attempts += 1;
        if attempts > MAX_ATTEMPTS {
            return Err(Error::Store {
                url: store.url().into(),
                problem: "could not claim a version number".into(),
            });
        }
    }
    let mut documents = BTreeMap::new();
    for (name, bytes) in &publication.documents {
        if name != MODEL_FILE && store.put_new(&version_key(w, version, name), bytes)? == Created::AlreadyExists {
            return Err(Error::Store {
                url: store.url().into(),
                problem: format!(
                    "{} already exists although this publisher claimed v{version}",
                    version_key(w, version, name)
                ),
            });
        }
        documents.insert(name.clone(), sha256_hex(bytes));
    }
    Ok((version, documents))
}

/// Publishes a version (documents first, then the change-log entry that makes it visible);
/// returns its number and the registry after it.
///
/// Idempotent: when a version with exactly these documents (the same sha256 of each) is
/// already in the registry — a publish retried after its entry was written, as Argo retries a
/// step whose pod failed late — that version is returned and nothing is written.
pub fn publish(store: &Store, publication: &Publication) -> Result<(u32, Registry)> {
    let shas: BTreeMap<String, String> = publication
        .documents
        .iter()
        .map(|(name, bytes)| (name.clone(), sha256_hex(bytes)))
        .collect();
    let registry = derive_registry(&publication.workload, &read_log(store, &publication.workload)?);
    if let Some(done) = registry.versions.iter().find(|v| v.documents == shas) {
        return Ok((done.version, registry));
    }
    let (version, documents) = write_documents(store, publication)?;
    let decision = &publication.decision;
    let status = match decision.decision {
        Verdict::Promote => VersionStatus::Promoted,
        Verdict::Reject => VersionStatus::Rejected,
        Verdict::NeedsApproval => VersionStatus::Candidate,
        Verdict::Shadow => VersionStatus::Shadow,
    };
    let event = Event::Publish {
        version,
        status,
        decision: decision.decision,
        reason: decision.reason.clone(),
        model_sha256: documents[MODEL_FILE].clone(),
        dataset_sha256: publication.dataset_sha256.clone(),
        documents,
        policy: decision.policy.clone(),
    };
    let log = read_log(store, &publication.workload)?;
    let registry = append(
        store,
        &publication.workload,
        &publication.actor,
        &publication.recorded_at,
        event,
        log,
    )?;
    Ok((version, registry))
}

/// Appends an entry at the next sequence number (create-if-absent; when another writer took
/// it, re-reads the log and retries), refreshes the `registry.json` cache, returns the registry.
fn append(
    store: &Store,
    workload: &str,
    actor: &str,
    recorded_at: &str,
    event: Event,
    mut log: Vec<(ChangeLogEntry, String)>,
) -> Result<Registry> {
    for _ in 0..MAX_ATTEMPTS {
        let mut entry = ChangeLogEntry {
            api_version: ApiVersion::V1,
            kind: ChangeLogEntryKind::Kind,
            workload: workload.to_string(),
            sequence: log.len() as u64 + 1,
            previous_sha256: log.last().map(|(_, s)| s.clone()),
            recorded_at: recorded_at.to_string(),
            actor: actor.to_string(),
            event: event.clone(),
            signature: None,
        };
        if let Some(signer) = store.signer() {
            signer.sign(&mut entry);
        }
        let bytes = entry.to_bytes();
        if store.put_new(&changelog_key(workload, entry.sequence), &bytes)? == Created::Yes {
            log.push((entry, sha256_hex(&bytes)));
            let registry = derive_registry(workload, &log);
            // A stale cache is harmless: readers derive the registry from the log.
            store.put(&layout::registry_key(workload), &canonical_json(&registry))?;
            return Ok(registry);
        }
        log = read_log(store, workload)?;
    }
    Err(Error::Store {
        url: store.url().into(),
        problem: "could not append to the change log".into(),
    })
}

/// An operator's promotion of `version` (who, why), recorded in the change log.
pub fn approve(
    store: &Store,
    workload: &str,
    version: u32,
    approved_by: &str,
    reason: &str,
    recorded_at: &str,
    force: bool,
) -> Result<Registry> {
    let log = read_log(store, workload)?;
    let registry = derive_registry(workload, &log);
    let record = registry.versions.iter().find(|v| v.version == version).ok_or_else(|| {
        Error::NotFound(format!(
            "{workload} has no version v{version} (versions: {})",
            registry.versions.len()
        ))
    })?;
    if registry.promoted == Some(version) {
        // Retry-safe: the same operator's approval of the version in service, already recorded.
        let recorded = log.iter().rev().find_map(|(entry, _)| match &entry.event {
            Event::Approve {
                version: v, reason: r, ..
            } if *v == version => Some((entry.actor.as_str(), r.as_str())),
            _ => None,
        });
        if recorded == Some((approved_by, reason)) {
            return Ok(registry);
        }
        return Err(Error::Data(format!(
            "{workload} v{version} is already the promoted version"
        )));
    }
    // The gate rejected it: an operator may still put it in service, but says so.
    if record.status == VersionStatus::Rejected && !force {
        return Err(Error::Data(format!(
            "{workload} v{version} was rejected by the gate ({}): approving it needs --force, and the change log records it",
            record.reason
        )));
    }
    // The version's model must still be the one published before it goes into service.
    load_document(store, workload, record, MODEL_FILE)?;
    let event = Event::Approve {
        version,
        reason: reason.to_string(),
        forced: force && record.status == VersionStatus::Rejected,
    };
    append(store, workload, approved_by, recorded_at, event, log)
}

/// Ends the live trial of the shadow `version` as `trial` says — promote (it takes the place of
/// the version in service) or reject, why, the evidence, who and when — in the change log.
/// Retry-safe: the same verdict already recorded for it is returned as it is.
pub fn record_live_verdict(store: &Store, workload: &str, version: u32, trial: &LiveTrial) -> Result<Registry> {
    let log = read_log(store, workload)?;
    let registry = derive_registry(workload, &log);
    let record = registry
        .versions
        .iter()
        .find(|v| v.version == version)
        .ok_or_else(|| Error::NotFound(format!("{workload} has no version v{version}")))?;
    if let Some(done) = &record.live_trial {
        if (done.decision, &done.reason, &done.evidence) == (trial.decision, &trial.reason, &trial.evidence) {
            return Ok(registry);
        }
    }
    if record.status != VersionStatus::Shadow {
        return Err(Error::Data(format!(
            "{workload} v{version} is {}, not a shadow: it has no live trial to end",
            record.status.as_str()
        )));
    }
    if !matches!(trial.decision, Verdict::Promote | Verdict::Reject) {
        return Err(Error::Internal(format!(
            "a live trial ends in promote or reject, not {}",
            trial.decision.as_str()
        )));
    }
    if trial.decision == Verdict::Promote {
        // The version's model must still be the one published before it goes into service.
        load_document(store, workload, record, MODEL_FILE)?;
    }
    let event = Event::LiveVerdict {
        version,
        decision: trial.decision,
        reason: trial.reason.clone(),
        evidence: trial.evidence.clone(),
    };
    append(store, workload, &trial.by, &trial.at, event, log)
}

/// Records live drift of `version` (the version in service) in the change log — once: a version
/// already marked is left as it is (and its mark returned in the registry).
pub fn record_drift(
    store: &Store,
    workload: &str,
    drift: &LiveDrift,
    actor: &str,
    recorded_at: &str,
) -> Result<Registry> {
    let log = read_log(store, workload)?;
    let registry = derive_registry(workload, &log);
    let version = drift.model_version;
    let record = registry
        .versions
        .iter()
        .find(|v| v.version == version)
        .ok_or_else(|| Error::NotFound(format!("{workload} has no version v{version}")))?;
    if record.drift.is_some() {
        return Ok(registry);
    }
    let event = Event::Drift {
        version,
        drift: drift.clone(),
    };
    append(store, workload, actor, recorded_at, event, log)
}

/// Moves the promoted pointer back to `to`, or to the most recent version promoted before the
/// current one; the one in service becomes rolled-back. Recorded with who and why.
pub fn rollback(
    store: &Store,
    workload: &str,
    to: Option<u32>,
    actor: &str,
    reason: &str,
    recorded_at: &str,
) -> Result<Registry> {
    let log = read_log(store, workload)?;
    let registry = derive_registry(workload, &log);
    let from = registry
        .promoted
        .ok_or_else(|| Error::NotFound(format!("{workload} has no promoted version to roll back")))?;
    let to = match to {
        Some(v) => v,
        None => registry
            .versions
            .iter()
            .rev()
            .find(|v| v.version != from && v.status == VersionStatus::Superseded)
            .map(|v| v.version)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "{workload} has no earlier promoted version to roll back to (name one with --to)"
                ))
            })?,
    };
    if to == from {
        return Err(Error::Data(format!("{workload} v{to} is already the promoted version")));
    }
    let record = registry
        .versions
        .iter()
        .find(|v| v.version == to)
        .ok_or_else(|| Error::NotFound(format!("{workload} has no version v{to}")))?;
    // Never roll back onto a model whose bytes changed.
    load_document(store, workload, record, MODEL_FILE)?;
    let event = Event::Rollback {
        from,
        to,
        reason: reason.to_string(),
    };
    append(store, workload, actor, recorded_at, event, log)
}

/// Deletes what no change-log entry refers to — version folders left by publishers that
/// stopped before their entry, datasets no version uses — when older than `min_age_seconds`
/// (so a publisher still at work is left alone). Returns the keys deleted.
pub fn gc(store: &Store, workload: &str, min_age_seconds: i64) -> Result<Vec<String>> {
    let registry = registry(store, workload)?;
    let now = chrono::Utc::now();
    let old_enough = |t: &chrono::DateTime<chrono::Utc>| (now - *t).num_seconds() >= min_age_seconds;
    let mut deleted = Vec::new();
    for (key, written) in store.list_with_time(&layout::models_prefix(workload))? {
        let version = key
            .strip_prefix(&format!("{}v", layout::models_prefix(workload)))
            .and_then(|rest| rest.split('/').next())
            .and_then(|v| v.parse::<u32>().ok());
        let known = version.is_some_and(|v| registry.versions.iter().any(|r| r.version == v));
        if !known && old_enough(&written) {
            store.delete(&key)?;
            deleted.push(key);
        }
    }
    for (key, written) in store.list_with_time(&layout::datasets_prefix(workload))? {
        let used = registry
            .versions
            .iter()
            .any(|v| key.ends_with(&format!("/{}.parquet", v.dataset_sha256)));
        if !used && old_enough(&written) {
            store.delete(&key)?;
            deleted.push(key);
        }
    }
    Ok(deleted)
}

/// What differs between two versions: data interval, features, config, metrics, decision — each
/// differing field of their manifests, validation and decision as `document field: a → b`.
pub fn diff(store: &Store, workload: &str, a: u32, b: u32) -> Result<Vec<String>> {
    let registry = registry(store, workload)?;
    let find = |v: u32| {
        registry
            .versions
            .iter()
            .find(|r| r.version == v)
            .ok_or_else(|| Error::NotFound(format!("{workload} has no version v{v}")))
    };
    let (ra, rb) = (find(a)?, find(b)?);
    let mut lines = Vec::new();
    for &file in layout::DIFFED_DOCUMENTS {
        let load = |r: &VersionRecord| -> Result<serde_json::Value> {
            if !r.documents.contains_key(file) {
                return Ok(serde_json::Value::Null);
            }
            serde_json::from_slice(&load_document(store, workload, r, file)?)
                .map_err(|e| Error::Data(format!("{file}: {e}")))
        };
        let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
        flatten("", &load(ra)?, &mut fa);
        flatten("", &load(rb)?, &mut fb);
        let keys: std::collections::BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
        for key in keys {
            let (va, vb) = (fa.get(key), fb.get(key));
            if va != vb && !key.ends_with("sha256") {
                let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "—".into());
                lines.push(format!("{file} {key}: {} → {}", show(va), show(vb)));
            }
        }
    }
    Ok(lines)
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}/{k}"), v, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}/{i}"), v, out);
            }
        }
        serde_json::Value::Null => {}
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// Walks the change log (its chain) and every document of every version (its sha256);
/// returns what does not match, empty when all is well.
pub fn verify(store: &Store, workload: &str) -> Result<Vec<String>> {
    let log = match read_log(store, workload) {
        Ok(log) => log,
        Err(e) => return Ok(vec![e.to_string()]),
    };
    let mut problems = Vec::new();
    // Each event names versions that exist when it is recorded.
    let mut published = std::collections::BTreeSet::new();
    for (entry, _) in &log {
        let named: Vec<u32> = match &entry.event {
            Event::Publish { version, .. } => {
                if !published.insert(*version) {
                    problems.push(format!("entry {}: v{version} is published twice", entry.sequence));
                }
                Vec::new()
            }
            Event::Approve { version, .. } | Event::LiveVerdict { version, .. } | Event::Drift { version, .. } => {
                vec![*version]
            }
            Event::Rollback { from, to, .. } => vec![*from, *to],
        };
        for v in named.into_iter().filter(|v| !published.contains(v)) {
            problems.push(format!(
                "entry {}: names v{v}, which was never published",
                entry.sequence
            ));
        }
    }
    let registry = derive_registry(workload, &log);
    for record in &registry.versions {
        for file in record.documents.keys() {
            if let Err(e) = load_document(store, workload, record, file) {
                problems.push(e.to_string());
            }
        }
        // The dataset, stored once by content: its bytes must still hash to its name.
        let key = layout::dataset_key(workload, &record.dataset_sha256);
        match store.get(&key)? {
            None => problems.push(format!("{key} is missing")),
            Some(bytes) if sha256_hex(&bytes) != record.dataset_sha256 => {
                problems.push(format!("{key} does not hash to its name: it was altered"))
            }
            Some(_) => {}
        }
    }
    Ok(problems)
}
