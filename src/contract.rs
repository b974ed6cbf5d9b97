//! The contract every document the steps exchange follows: `apiVersion: mttd/v1`, a `kind`, a
//! JSON Schema generated from its Rust type, validation before use, canonical bytes (sorted keys)
//! so that the same content always hashes the same, and atomic writes so that a failed step
//! never leaves half a document behind.

use std::path::Path;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The one API version of mttd's documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum ApiVersion {
    #[default]
    #[serde(rename = "mttd/v1")]
    V1,
}

/// Declares a one-value enum that serialises as a document's `kind` string, so the schema pins it.
#[macro_export]
macro_rules! document_kind {
    ($marker:ident, $kind:literal) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
        )]
        pub enum $marker {
            #[default]
            #[serde(rename = $kind)]
            Kind,
        }
    };
}

/// A versioned, schema'd document.
pub trait Document: Serialize + DeserializeOwned + JsonSchema {
    /// The `kind` value, also the schema's file name: `schemas/<KIND>.schema.json`.
    const KIND: &'static str;

    /// The JSON Schema generated from the type.
    fn schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Self)).expect("a schema serialises")
    }

    /// Validates `value` against the schema, then converts it; `origin` names the file in errors.
    fn from_value(value: serde_json::Value, origin: &str) -> Result<Self> {
        validate_against(&Self::schema(), &value, origin, Self::KIND)?;
        serde_json::from_value(value).map_err(|e| Error::invalid(origin, Self::KIND, e.to_string()))
    }

    /// Reads a JSON (or, for `.yaml`/`.yml` files, YAML) document and validates it.
    fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Parses bytes (JSON, or YAML when `origin` ends in .yaml/.yml) and validates them.
    fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        let value: serde_json::Value = if origin.ends_with(".yaml") || origin.ends_with(".yml") {
            serde_yaml_ng::from_slice(bytes).map_err(|e| {
                let at = e
                    .location()
                    .map(|l| format!("line {}, column {}", l.line(), l.column()))
                    .unwrap_or_else(|| "document".into());
                Error::invalid(origin, at, format!("not valid YAML: {e}"))
            })?
        } else {
            serde_json::from_slice(bytes).map_err(|e| {
                Error::invalid(
                    origin,
                    format!("line {}, column {}", e.line(), e.column()),
                    format!("not valid JSON: {e}"),
                )
            })?
        };
        Self::from_value(value, origin)
    }

    /// Canonical bytes: pretty JSON with sorted keys and a final newline.
    fn to_bytes(&self) -> Vec<u8> {
        canonical_json(self)
    }

    /// Writes the canonical bytes atomically (temporary name, then rename).
    fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes())
    }
}

/// Pretty JSON with object keys sorted (serde_json's map is ordered), newline-terminated.
pub fn canonical_json<T: Serialize + ?Sized>(doc: &T) -> Vec<u8> {
    let value = serde_json::to_value(doc).expect("documents serialise");
    let mut bytes = serde_json::to_vec_pretty(&value).expect("values serialise");
    bytes.push(b'\n');
    bytes
}

/// Validates `value` against `schema`; the error names every failing field (JSON pointer).
pub fn validate_against(schema: &serde_json::Value, value: &serde_json::Value, origin: &str, kind: &str) -> Result<()> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| Error::Data(format!("internal: schema of {kind} does not compile: {e}")))?;
    let problems: Vec<(String, String)> = validator
        .iter_errors(value)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            (at, e.to_string())
        })
        .collect();
    match problems.first() {
        None => Ok(()),
        Some((field, problem)) => {
            let more = if problems.len() > 1 {
                format!(" (and {} more problem(s))", problems.len() - 1)
            } else {
                String::new()
            };
            Err(Error::invalid(
                origin,
                format!("field `{field}`"),
                format!("{problem}{more} (expected a {kind} document)"),
            ))
        }
    }
}

/// Lower-case hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lower-case hex sha256 of a file's content.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(sha256_hex(&bytes))
}

/// Writes a file so that readers see either nothing or all of it: a temporary sibling, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// RFC 3339 (UTC, seconds) of a Unix time.
pub fn rfc3339(unix_seconds: i64) -> String {
    chrono::DateTime::from_timestamp(unix_seconds, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| unix_seconds.to_string())
}

/// Parses an RFC 3339 timestamp or whole Unix seconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some(t) = parse_utc_seconds(text.as_bytes()) {
        return Some(t);
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(seconds);
    }
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && seconds.fract() == 0.0 {
            return Some(seconds as i64);
        }
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp())
}

/// The common exact form `YYYY-MM-DDTHH:MM:SSZ`, parsed without a general parser (exports
/// hold millions of them); anything else returns `None` and goes to chrono.
fn parse_utc_seconds(b: &[u8]) -> Option<i64> {
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter()
            .try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as i64))
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if d < 1 || d > days_in_month || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The list of every document kind, for schema generation and its drift test.
pub fn all_schemas() -> Vec<(&'static str, serde_json::Value)> {
    use crate::*;
    vec![
        (config::WorkloadConfig::KIND, config::WorkloadConfig::schema()),
        (policy::gate::GatePolicy::KIND, policy::gate::GatePolicy::schema()),
        (dataset::DatasetManifest::KIND, dataset::DatasetManifest::schema()),
        (model::Model::KIND, model::Model::schema()),
        (model::ModelManifest::KIND, model::ModelManifest::schema()),
        (evaluation::Validation::KIND, evaluation::Validation::schema()),
        (compare::Comparison::KIND, compare::Comparison::schema()),
        (policy::gate::Decision::KIND, policy::gate::Decision::schema()),
        (store::registry::Registry::KIND, store::registry::Registry::schema()),
        (
            store::registry::ChangeLogEntry::KIND,
            store::registry::ChangeLogEntry::schema(),
        ),
        (forecast::Recommendation::KIND, forecast::Recommendation::schema()),
    ]
}

/// Writes every schema to `dir/<kind>.schema.json`.
pub fn write_schemas(dir: &Path) -> Result<()> {
    for (kind, schema) in all_schemas() {
        write_atomic(&dir.join(format!("{kind}.schema.json")), &canonical_json(&schema))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_timestamps_agree_with_chrono() {
        for text in [
            "1970-01-01T00:00:00Z",
            "1995-07-01T04:00:00Z",
            "2000-02-29T23:59:59Z",
            "2026-12-31T12:34:56Z",
            "1900-03-01T00:00:00Z",
        ] {
            let chrono = chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp();
            assert_eq!(parse_utc_seconds(text.as_bytes()), Some(chrono), "{text}");
        }
        assert_eq!(parse_utc_seconds(b"2026-02-30T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2026-01-05T01:00:00+01:00"), Some(1_767_571_200));
        assert_eq!(parse_timestamp("1767571200"), Some(1_767_571_200));
    }
}
