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
    /// Data that parses but cannot support the requested work (too short, too few rows…).
    #[error("{0}")]
    Data(String),
    /// A metrics server that failed or refused a query (after retries, where retrying helps).
    #[error("Prometheus {url}: {problem}")]
    Prometheus { url: String, problem: String },
    #[error("Alertmanager {url}: {problem}")]
    Alertmanager { url: String, problem: String },
    #[error("model store {url}: {problem}")]
    Store { url: String, problem: String },
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

    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
