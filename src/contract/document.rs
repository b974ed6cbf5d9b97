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

/// Lower-case hex sha256 of a file's content, read in pieces: the file is never held whole.
pub fn sha256_file(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    sha256_by_position(&file).map_err(|e| Error::io(path, e))
}

/// Starts hashing `file`'s content (from its start, whatever its position) on a thread of its
/// own; join the thread for the lower-case hex sha256. The file may be read meanwhile: the thread
/// reads by position and moves no shared offset.
pub fn sha256_in_background(file: &std::fs::File) -> std::io::Result<std::thread::JoinHandle<std::io::Result<String>>> {
    let file = file.try_clone()?;
    Ok(std::thread::spawn(move || sha256_by_position(&file)))
}

/// Lower-case hex sha256 of `file`'s content from its start, read by position.
fn sha256_by_position(file: &std::fs::File) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    let mut hasher = Sha256::new();
    let mut piece = vec![0; PIECE];
    let mut at = 0;
    loop {
        match file.read_at(&mut piece, at) {
            Ok(0) => return Ok(hex::encode(hasher.finalize())),
            Ok(n) => {
                hasher.update(&piece[..n]);
                at += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A reader or writer that hashes (sha256) every byte that passes through it, so that a file is
/// hashed in the same pass that reads or writes it. The hashing runs on a thread of its own, fed
/// whole pieces of 1 MiB (at most four waiting): on two cores, sha256 of a year of minutes (85 MB
/// of CSV, 63 MB of Parquet) then costs the step next to nothing instead of a sixth of its time.
pub struct Hashing<T> {
    inner: T,
    /// Reading: the piece being served and how far; writing: the bytes not yet written.
    piece: Piece,
    served: usize,
    hasher: Option<(std::sync::mpsc::SyncSender<Piece>, std::thread::JoinHandle<String>)>,
}

const PIECE: usize = 1 << 20;

/// A piece of a file, shared between its reader and the hashing thread.
type Piece = std::sync::Arc<Vec<u8>>;

impl<T> Hashing<T> {
    pub fn new(inner: T) -> Self {
        let (send, receive) = std::sync::mpsc::sync_channel::<Piece>(4);
        let thread = std::thread::spawn(move || {
            let mut hasher = Sha256::new();
            for piece in receive {
                hasher.update(&piece[..]);
            }
            hex::encode(hasher.finalize())
        });
        Hashing {
            inner,
            piece: std::sync::Arc::new(Vec::new()),
            served: 0,
            hasher: Some((send, thread)),
        }
    }

    fn hash(&mut self, piece: Piece) {
        if let Some((send, _)) = &self.hasher {
            send.send(piece).expect("the hashing thread outlives its sender");
        }
    }

    /// Lower-case hex sha256 of every byte read, or written and flushed.
    fn hex(&mut self) -> String {
        let (send, thread) = self.hasher.take().expect("hashed once");
        drop(send);
        thread.join().expect("sha256 does not panic")
    }
}

impl<R: std::io::Read> Hashing<R> {
    /// Lower-case hex sha256 of the bytes read so far.
    pub fn finish_reading(mut self) -> String {
        self.hex()
    }
}

impl<W: std::io::Write> Hashing<W> {
    /// Writes what is pending and gives the lower-case hex sha256 of every byte written.
    pub fn finish_writing(mut self) -> std::io::Result<String> {
        std::io::Write::flush(&mut self)?;
        Ok(self.hex())
    }
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.served == self.piece.len() {
            let mut piece = vec![0; PIECE];
            let mut filled = 0;
            while filled < PIECE {
                match self.inner.read(&mut piece[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            piece.truncate(filled);
            self.piece = std::sync::Arc::new(piece);
            self.served = 0;
            if filled > 0 {
                self.hash(self.piece.clone());
            }
        }
        let n = buf.len().min(self.piece.len() - self.served);
        buf[..n].copy_from_slice(&self.piece[self.served..self.served + n]);
        self.served += n;
        Ok(n)
    }
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.piece.len() >= PIECE {
            self.flush()?;
        }
        let pending = std::sync::Arc::get_mut(&mut self.piece).expect("a pending piece is not shared");
        if pending.capacity() == 0 {
            pending.reserve_exact(PIECE);
        }
        let n = buf.len().min(PIECE - pending.len());
        pending.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.piece.is_empty() {
            self.inner.write_all(&self.piece)?;
            let piece = std::mem::replace(&mut self.piece, std::sync::Arc::new(Vec::new()));
            self.hash(piece);
        }
        self.inner.flush()
    }
}

/// Writes a file so that readers see either nothing or all of it: a temporary sibling, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |out| out.write_all(bytes).map_err(|e| Error::io(path, e)))
}

/// Like [`write_atomic`], with the content written by `write` into a buffered writer (large
/// content is never held whole). If `write` fails, or the file cannot be completed, the temporary
/// file is removed and `path` is left as it was.
pub fn write_atomic_with<T>(path: &Path, write: impl FnOnce(&mut dyn std::io::Write) -> Result<T>) -> Result<T> {
    use std::io::Write;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let written = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut out = std::io::BufWriter::with_capacity(WRITE, AtMost(file));
        let value = write(&mut out)?;
        out.flush().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        Ok(value)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The most bytes handed to the kernel in one write of a file: 64 KiB. A larger write lets the
/// kernel put the file's new bytes in large page-cache folios (one per write, up to 2 MiB), and
/// on a virtual machine whose balloon reports free memory to the host (here from 128 KiB up:
/// `page_reporting_order` 5) such folios come from memory the host has taken back, each first
/// touch of which faults at the host: 64 MiB written a MiB at a time took 156–171 ms here after
/// a large process had exited, 64 KiB at a time 15–17 ms (BENCHMARKS.md, issue 17). Elsewhere it
/// costs a system call every 64 KiB.
const WRITE: usize = 64 << 10;

/// A writer that hands its inner one at most [`WRITE`] bytes a call (`write_all` loops).
struct AtMost<W>(W);

impl<W: std::io::Write> std::io::Write for AtMost<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(&bytes[..bytes.len().min(WRITE)])
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that fails half-way leaves neither the file nor its temporary sibling; one that
    /// succeeds replaces the file whole.
    #[test]
    fn a_failed_streaming_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let failed = write_atomic_with(&path, |out| {
            out.write_all(&[7; 4096]).map_err(|e| Error::io("out.bin", e))?;
            Err::<(), _>(Error::Internal("stopped half-way".into()))
        });
        assert!(failed.is_err());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "nothing left: {left:?}");
        let hex = write_atomic_with(&path, |out| {
            let mut hashing = Hashing::new(out);
            std::io::Write::write_all(&mut hashing, b"abc").map_err(|e| Error::io("out.bin", e))?;
            hashing.finish_writing().map_err(|e| Error::io("out.bin", e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert_eq!(hex, sha256_hex(b"abc"));
        assert_eq!(sha256_file(&path).unwrap(), hex);
    }

    /// However large the writes it is given, the file is handed at most 64 KiB at a time, and
    /// every byte in order.
    #[test]
    fn a_file_is_written_at_most_64_kib_at_a_time() {
        struct Calls(Vec<Vec<u8>>);
        impl std::io::Write for Calls {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.push(bytes.to_vec());
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let bytes: Vec<u8> = (0..(3 << 20) + 5).map(|i| (i % 251) as u8).collect();
        let mut out = std::io::BufWriter::with_capacity(WRITE, AtMost(Calls(Vec::new())));
        for part in [&bytes[..10], &bytes[10..(1 << 20) + 3], &bytes[(1 << 20) + 3..]] {
            std::io::Write::write_all(&mut out, part).unwrap();
        }
        let calls = out.into_inner().map_err(|e| e.into_error()).unwrap().0 .0;
        assert!(
            calls.iter().all(|c| c.len() <= 64 << 10),
            "{:?}",
            calls.iter().map(Vec::len).max()
        );
        assert_eq!(calls.concat(), bytes);
    }
}
