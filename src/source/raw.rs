//! What every source gives: samples per series, and what the dataset manifest records about
//! where they came from.

use std::collections::BTreeMap;

use crate::contract::source::PrometheusRecord;

/// Samples per series, sorted by time, timestamps in Unix seconds.
#[derive(Debug, Clone, Default)]
pub struct RawSeries {
    /// Where the data came from (file path or URL), for errors and manifests.
    pub origin: String,
    pub series: BTreeMap<String, Vec<(i64, f64)>>,
}

/// What the manifest records about the source.
#[derive(Debug, Clone)]
pub struct SourceDescription {
    pub kind: &'static str,
    pub location: String,
    /// sha256 of a source file.
    pub sha256: Option<String>,
    pub prometheus: Option<PrometheusRecord>,
}
