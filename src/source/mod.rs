//! Sources of raw metrics. Each source turns its input into [`RawSeries`]: per series name, the
//! samples in time order, checked (finite numbers, parseable timestamps, no duplicates).

pub mod file;
pub mod prometheus;

use std::collections::BTreeMap;

use crate::config::{SourceConfig, WorkloadConfig};
use crate::error::{Error, Result};

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
    pub prometheus: Option<crate::dataset::PrometheusRecord>,
}

/// Reads the workload's source, keeping the target and feature series the config names. A
/// Prometheus source reads the lookback ending at `end` (Unix seconds, rounded down to the
/// step; default now); a file source reads the whole file.
pub fn load(config: &WorkloadConfig, end: Option<i64>) -> Result<(RawSeries, SourceDescription)> {
    let names = config.signals.features.names();
    let wanted: Vec<&str> = std::iter::once(config.signals.target.as_str())
        .chain(names.iter().map(String::as_str))
        .collect();
    let (raw, description) = match &config.source {
        SourceConfig::File(file) => file::load(file, &config.base_dir, &wanted)?,
        SourceConfig::Prometheus(prometheus) => prometheus::load(prometheus, config, end)?,
    };
    for name in &wanted {
        if !raw.series.contains_key(*name) {
            let found: Vec<&str> = raw.series.keys().map(String::as_str).collect();
            return Err(Error::invalid(
                &raw.origin,
                "column `series`",
                format!(
                    "series `{name}` named in the config is not in the data (found: {})",
                    found.join(", ")
                ),
            ));
        }
    }
    Ok((raw, description))
}
