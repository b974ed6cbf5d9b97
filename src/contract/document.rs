//! The machinery every document shares: `apiVersion: mttd/v1`, a `kind`, a JSON Schema generated
//! from its Rust type, validation before use, canonical bytes (sorted keys) so that the same
//! content always hashes the same, and atomic writes so that a failed step never leaves half a
//! document behind.

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

/// Declares a document type's `kind`: a one-value enum that serialises as the `kind` string (so
/// the schema pins it), and the [`Document`] impl whose `KIND` is that same string.
macro_rules! document_kind {
    ($document:ident, $marker:ident, $kind:literal) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
        )]
        pub enum $marker {
            #[default]
            #[serde(rename = $kind)]
            Kind,
        }

        impl $crate::contract::document::Document for $document {
            const KIND: &'static str = $kind;
        }
    };
}
pub(crate) use document_kind;

/// Declares a unit enum whose variants each have one name, written once: the name serde writes
/// (so the schema's) and `as_str` returns (for files, logs and Prometheus labels).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $wire:literal,)+
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// The name in documents and schemas.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_enum;

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
        .map_err(|e| Error::Internal(format!("the schema of {kind} does not compile: {e}")))?;
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
            Err(Error::field(
                origin,
                field,
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
