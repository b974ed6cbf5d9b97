//! Who wrote each change-log entry: Ed25519 signatures. A publisher's key signs publish
//! entries, live-trial verdicts and drift, an approver's key signs approvals and rollbacks; readers that are given the public
//! keys they trust refuse any entry not signed by a key trusted for its event — so write access
//! to the store alone can no longer add a version, an approval or a rollback.
//!
//! A signing key is the hex of an Ed25519 PKCS#8 document (`mttd keygen`), the trusted keys a
//! list of `publisher: <hex>` and `approver: <hex>` lines. The programs take them from
//! `MTTD_SIGNING_KEY` and `MTTD_TRUSTED_KEYS` (the text itself, as a Secret or ConfigMap key
//! gives it to a container) or `MTTD_SIGNING_KEY_FILE` and `MTTD_TRUSTED_KEYS_FILE` (paths).

use std::path::Path;

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

use crate::contract::document::{write_atomic, Document};
use crate::contract::registry::{ChangeLogEntry, EntrySignature, Event};
use crate::error::{Error, Result};

/// A signing key.
pub struct Signer {
    pair: Ed25519KeyPair,
}

/// The public keys a reader trusts, by role.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    publishers: Vec<String>,
    approvers: Vec<String>,
}

/// Writes a new signing key to `path` (readable by its owner only) and returns its public key.
pub fn keygen(path: &Path) -> Result<String> {
    let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| Error::Internal("the system's random source failed".into()))?;
    let pair = Ed25519KeyPair::from_pkcs8(document.as_ref())
        .map_err(|e| Error::Internal(format!("a generated key does not load: {e}")))?;
    write_atomic(path, hex::encode(document.as_ref()).as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| Error::io(path, e))?;
    }
    Ok(hex::encode(pair.public_key().as_ref()))
}

impl Signer {
    pub fn from_file(path: &Path) -> Result<Signer> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Signer::from_text(&text, &path.display().to_string())
    }

    /// A key from its text; `origin` names where it came from in errors (never the key).
    pub fn from_text(text: &str, origin: &str) -> Result<Signer> {
        let bytes = hex::decode(text.trim())
            .map_err(|_| Error::invalid(origin, "key", "is not the hex of an Ed25519 key (mttd keygen)"))?;
        let pair = Ed25519KeyPair::from_pkcs8(&bytes)
            .map_err(|e| Error::invalid(origin, "key", format!("is not an Ed25519 PKCS#8 key: {e}")))?;
        Ok(Signer { pair })
    }

    pub fn public_key(&self) -> String {
        hex::encode(self.pair.public_key().as_ref())
    }

    /// Signs `entry` (its canonical bytes without a signature).
    pub fn sign(&self, entry: &mut ChangeLogEntry) {
        entry.signature = None;
        let value = self.pair.sign(&entry.to_bytes());
        entry.signature = Some(EntrySignature {
            key: self.public_key(),
            value: hex::encode(value.as_ref()),
        });
    }
}

impl TrustedKeys {
    pub fn from_file(path: &Path) -> Result<TrustedKeys> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        TrustedKeys::from_text(&text, &path.display().to_string())
    }

    /// The keys from their text; `origin` names where it came from in errors.
    pub fn from_text(text: &str, origin: &str) -> Result<TrustedKeys> {
        let path = origin;
        let mut keys = TrustedKeys::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let (role, key) = line.split_once(':').unwrap_or((line, ""));
            let key = key.trim().to_ascii_lowercase();
            if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::invalid(
                    path,
                    format!("line {}", i + 1),
                    "expected `publisher: <hex public key>` or `approver: <hex public key>`",
                ));
            }
            match role.trim() {
                "publisher" => keys.publishers.push(key),
                "approver" => keys.approvers.push(key),
                other => {
                    return Err(Error::invalid(
                        path,
                        format!("line {}", i + 1),
                        format!("`{other}` is not a role (publisher or approver)"),
                    ))
                }
            }
        }
        Ok(keys)
    }

    /// Checks that `entry` is signed by a key trusted for its event; `origin` names it.
    pub fn check(&self, entry: &ChangeLogEntry, origin: &str) -> Result<()> {
        let (role, trusted) = match entry.event {
            // The live trial's verdict is the pipeline's, as a publication is.
            Event::Publish { .. } | Event::LiveVerdict { .. } | Event::Drift { .. } => ("publisher", &self.publishers),
            Event::Approve { .. } | Event::Rollback { .. } => ("approver", &self.approvers),
        };
        let refuse = |problem: String| Error::Altered {
            url: origin.to_string(),
            problem,
        };
        let Some(signature) = &entry.signature else {
            return Err(refuse(format!("entry {} is not signed", entry.sequence)));
        };
        if !trusted.contains(&signature.key) {
            return Err(refuse(format!(
                "entry {} is signed by {}, which is not a trusted {role} key",
                entry.sequence, signature.key
            )));
        }
        let mut unsigned = entry.clone();
        unsigned.signature = None;
        let (Ok(key), Ok(value)) = (hex::decode(&signature.key), hex::decode(&signature.value)) else {
            return Err(refuse(format!("entry {}: the signature is not hex", entry.sequence)));
        };
        UnparsedPublicKey::new(&ED25519, key)
            .verify(&unsigned.to_bytes(), &value)
            .map_err(|_| {
                refuse(format!(
                    "entry {}: the signature does not match the entry",
                    entry.sequence
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::document::ApiVersion;
    use crate::contract::gate::{ErrorMetric, Verdict};
    use crate::contract::registry::{ChangeLogEntryKind, LiveEvidence};

    fn key(dir: &Path, name: &str) -> (Signer, String) {
        let public = keygen(&dir.join(name)).unwrap();
        (Signer::from_file(&dir.join(name)).unwrap(), public)
    }

    #[test]
    fn a_live_verdict_is_the_pipelines_and_needs_a_publishers_key() {
        let dir = tempfile::TempDir::new().unwrap();
        let (publisher, publisher_key) = key(dir.path(), "p");
        let (approver, approver_key) = key(dir.path(), "a");
        let trusted =
            TrustedKeys::from_text(&format!("publisher: {publisher_key}\napprover: {approver_key}\n"), "t").unwrap();
        let mut entry = ChangeLogEntry {
            api_version: ApiVersion::V1,
            kind: ChangeLogEntryKind::Kind,
            workload: "api".into(),
            sequence: 3,
            previous_sha256: None,
            recorded_at: "2026-01-01T00:00:00Z".into(),
            actor: "argo:promote".into(),
            event: Event::LiveVerdict {
                version: 2,
                decision: Verdict::Promote,
                reason: "better live".into(),
                evidence: LiveEvidence {
                    in_service: Some(1),
                    started: None,
                    scored: 40,
                    span: None,
                    metric: ErrorMetric::Mae,
                    shadow_error: 1.0,
                    in_service_error: 2.0,
                    policy: Default::default(),
                },
            },
            signature: None,
        };
        publisher.sign(&mut entry);
        trusted.check(&entry, "entry").unwrap();
        approver.sign(&mut entry);
        let refused = trusted.check(&entry, "entry").unwrap_err().to_string();
        assert!(refused.contains("not a trusted publisher key"), "{refused}");
    }
}
