//! The library's one error type. Every variant carries what a person needs to act: the file or
//! store, the field or row, the value and what was expected.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A document, config or data file that is not what it must be.
    #[error("{file}: {field}: {problem}")]
    Invalid {
        file: String,
        field: String,
        problem: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Data that parses but cannot support the requested work.
    #[error("{0}")]
    Data(String),
    /// Too little data for the work: too few rows to split, fit or calibrate, no complete row.
    #[error("{0}")]
    TooShort(String),
    /// Documents that must belong together do not: a model and the dataset it was trained on,
    /// a validation, comparison or decision and the model it is about.
    #[error("{0}")]
    Lineage(String),
    /// A version (or the promoted one) that the registry does not have.
    #[error("{0}")]
    NotFound(String),
    /// A bug in mttd, not in its input.
    #[error("internal error: {0}")]
    Internal(String),
    /// A metrics server that failed or refused a query (after retries, where retrying helps).
    #[error("Prometheus {url}: {problem}")]
    Prometheus { url: String, problem: String },
    #[error("Alertmanager {url}: {problem}")]
    Alertmanager { url: String, problem: String },
    #[error("Pushgateway {url}: {problem}")]
    Pushgateway { url: String, problem: String },
    /// The store cannot be read or written (unreachable, refusing, missing objects).
    #[error("model store {url}: {problem}")]
    Store { url: String, problem: String },
    /// What the store holds fails its integrity checks: a document whose bytes changed, a
    /// change log that names a version it does not have.
    #[error("model store {url}: {problem}")]
    Altered { url: String, problem: String },
    #[error("model fit failed: {0}")]
    Fit(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(file: impl AsRef<Path>, field: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Invalid {
            file: file.as_ref().display().to_string(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// A problem with one field of a document: `file: field `/a/b`: problem`. `pointer` is the
    /// field's JSON pointer, as the schema check reports it.
    pub fn field(file: impl AsRef<Path>, pointer: impl AsRef<str>, problem: impl Into<String>) -> Self {
        Error::invalid(file, format!("field `{}`", pointer.as_ref()), problem)
    }

    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// Text from elsewhere, for an error line: at most `max` characters, control characters
/// escaped (no terminal escape sequences reach a log).
pub fn shown(text: &str, max: usize) -> String {
    let cut: String = text.trim().chars().take(max).collect();
    let escaped = cut.escape_debug().to_string();
    if text.trim().chars().count() > max {
        format!("{escaped}…")
    } else {
        escaped
    }
}
