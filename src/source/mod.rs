//! Sources of raw metrics. Each source turns its input into [`RawSeries`]: per series name, the
//! samples in time order, checked (finite numbers, parseable timestamps, no duplicates).

pub mod file;
pub mod prometheus;
mod raw;

use crate::contract::source::SourceConfig;
use crate::contract::workload::WorkloadConfig;
use crate::error::{Error, Result};
pub use raw::{RawSeries, SourceDescription};

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

/// The workload's measured pod start-up time over the lookback ending at `end` (a Prometheus
/// source with `startup_query`; None otherwise).
pub fn measure_startup(config: &WorkloadConfig, end: i64) -> Result<Option<crate::contract::source::StartupRecord>> {
    match &config.source {
        SourceConfig::Prometheus(prometheus) => prometheus::measure_startup(prometheus, config, end),
        SourceConfig::File(_) => Ok(None),
    }
}
