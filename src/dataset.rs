//! The dataset the steps share: one row per grid timestamp with its features and its label,
//! stored as Parquet beside a manifest that records its sha256 and how every column was made.

use std::path::Path;

use polars::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::LabelKind;
use crate::contract::{sha256_hex, write_atomic, ApiVersion, Document};
use crate::error::{Error, Result};

pub const DATASET_FILE: &str = "dataset.parquet";
pub const MANIFEST_FILE: &str = "dataset.manifest.json";

/// Rows in time order: timestamp (Unix seconds), feature columns, label.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub timestamps: Vec<i64>,
    pub columns: Vec<(String, Vec<f64>)>,
    pub label: Vec<f64>,
}

impl Dataset {
    pub fn rows(&self) -> usize {
        self.timestamps.len()
    }

    pub fn feature_names(&self) -> Vec<String> {
        self.columns.iter().map(|(n, _)| n.clone()).collect()
    }

    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// The rows in `range`, all columns.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        Dataset {
            timestamps: self.timestamps[range.clone()].to_vec(),
            columns: self
                .columns
                .iter()
                .map(|(n, v)| (n.clone(), v[range.clone()].to_vec()))
                .collect(),
            label: self.label[range].to_vec(),
        }
    }

    /// Index of the first row at or after `t`.
    pub fn first_at_or_after(&self, t: i64) -> usize {
        self.timestamps.partition_point(|&x| x < t)
    }

    /// Parquet bytes: `timestamp` (Int64, Unix seconds), the features in order, `label`.
    pub fn to_parquet(&self) -> Result<Vec<u8>> {
        self.clone().into_parquet()
    }

    /// Parquet bytes, giving the columns to polars without copying them.
    pub fn into_parquet(self) -> Result<Vec<u8>> {
        let rows = self.rows();
        let mut columns = Vec::with_capacity(self.columns.len() + 2);
        columns.push(Column::new("timestamp".into(), self.timestamps));
        for (name, values) in self.columns {
            columns.push(Column::new(name.as_str().into(), values));
        }
        columns.push(Column::new("label".into(), self.label));
        let mut df = DataFrame::new(rows, columns).map_err(|e| Error::Data(format!("building dataset: {e}")))?;
        let mut bytes = Vec::new();
        ParquetWriter::new(&mut bytes)
            .finish(&mut df)
            .map_err(|e| Error::Data(format!("writing Parquet: {e}")))?;
        Ok(bytes)
    }

    pub fn from_parquet(bytes: &[u8], origin: &str) -> Result<Dataset> {
        let df = ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .map_err(|e| Error::invalid(origin, "file", format!("not a readable Parquet file: {e}")))?;
        let floats = |c: &Column| -> Result<Vec<f64>> {
            let ca = c.f64().map_err(|_| {
                Error::invalid(
                    origin,
                    format!("column `{}`", c.name()),
                    format!("has type {}, expected f64", c.dtype()),
                )
            })?;
            ca.iter()
                .enumerate()
                .map(|(i, v)| {
                    v.filter(|v| v.is_finite()).ok_or_else(|| {
                        Error::invalid(
                            origin,
                            format!("row {}, column `{}`", i + 1, c.name()),
                            "missing or not finite",
                        )
                    })
                })
                .collect()
        };
        let ts = df
            .column("timestamp")
            .map_err(|_| Error::invalid(origin, "column `timestamp`", "missing"))?;
        let timestamps: Vec<i64> = ts
            .i64()
            .map_err(|_| Error::invalid(origin, "column `timestamp`", "expected Int64 Unix seconds"))?
            .iter()
            .map(|v| v.unwrap_or(i64::MIN))
            .collect();
        let label = floats(
            df.column("label")
                .map_err(|_| Error::invalid(origin, "column `label`", "missing"))?,
        )?;
        let mut columns = Vec::new();
        // Each Parquet column is dropped once copied, so the whole table is never held twice.
        for c in df.into_columns() {
            let name = c.name().as_str();
            if name != "timestamp" && name != "label" {
                columns.push((name.to_string(), floats(&c)?));
            }
        }
        Ok(Dataset {
            timestamps,
            columns,
            label,
        })
    }
}

crate::document_kind!(DatasetManifestKind, "DatasetManifest");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetManifest {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: DatasetManifestKind,
    pub workload: String,
    /// sha256 of `dataset.parquet`.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub dataset_sha256: String,
    pub rows: u64,
    pub source: SourceRecord,
    /// First and last row timestamps (RFC 3339).
    pub interval: Interval,
    pub resolution: String,
    pub target: String,
    pub signals: Vec<String>,
    pub label: LabelDefinition,
    /// Feature columns in order, with what each one is.
    pub features: Vec<FeatureDefinition>,
    /// Configured features left out, and why.
    pub dropped_features: Vec<FeatureDefinition>,
    pub gaps: GapReport,
}

impl Document for DatasetManifest {
    const KIND: &'static str = "DatasetManifest";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceRecord {
    /// `csv`, `parquet` or `prometheus`.
    pub kind: String,
    /// File path or server URL (never credentials).
    pub location: String,
    /// sha256 of the source file, when the source is a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// What was asked of Prometheus, when the source is Prometheus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusRecord>,
}

/// The queries and window of a Prometheus extraction: with the same `end`, the same queries
/// against the same data give the same dataset bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusRecord {
    /// The target's query.
    pub target_query: String,
    /// Feature name → query.
    pub feature_queries: std::collections::BTreeMap<String, String>,
    /// First and last evaluation time asked for (RFC 3339), both included.
    pub window: Interval,
    /// The `query_range` step.
    pub step: String,
    /// Requests made (chunks × queries), retries not counted.
    pub requests: u64,
    /// Samples returned as NaN or ±Inf, treated as gaps.
    pub non_finite_samples: u64,
    /// Warnings Prometheus returned, each prefixed with the signal it came with.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelDefinition {
    pub kind: LabelKind,
    pub horizon: String,
    pub horizon_steps: u64,
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureDefinition {
    pub name: String,
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GapReport {
    /// Grid intervals between the first and last target sample.
    pub grid_intervals: u64,
    /// Gaps filled forward (no longer than the fill limit).
    pub filled_gaps: u64,
    pub filled_intervals: u64,
    /// Gaps longer than the fill limit, left missing.
    pub unfilled_gaps: u64,
    pub unfilled_intervals: u64,
    /// Grid rows dropped because a feature or the label needed a missing value (this includes
    /// the warm-up at the start and the last horizon at the end).
    pub dropped_rows: u64,
    pub fill_limit: String,
    /// The gaps, in time order (the first 1,000).
    pub list: Vec<Gap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    pub series: String,
    /// First missing grid timestamp.
    pub start: String,
    pub intervals: u64,
    pub filled: bool,
}

/// Writes `dataset.parquet` and `dataset.manifest.json` into `dir`; the manifest's sha256 is set
/// from the bytes written.
pub fn write_dataset(dir: &Path, dataset: Dataset, manifest: &mut DatasetManifest) -> Result<()> {
    manifest.rows = dataset.rows() as u64;
    let bytes = dataset.into_parquet()?;
    manifest.dataset_sha256 = sha256_hex(&bytes);
    write_atomic(&dir.join(DATASET_FILE), &bytes)?;
    manifest.write(&dir.join(MANIFEST_FILE))
}

/// Reads a dataset folder, checking the Parquet's sha256 and columns against its manifest.
pub fn read_dataset(dir: &Path) -> Result<(Dataset, DatasetManifest)> {
    let manifest = DatasetManifest::read(&dir.join(MANIFEST_FILE))?;
    let path = dir.join(DATASET_FILE);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let origin = path.display().to_string();
    let sha = sha256_hex(&bytes);
    if sha != manifest.dataset_sha256 {
        return Err(Error::invalid(
            &origin,
            "sha256",
            format!(
                "is {sha}, but the manifest records {} (file changed or truncated)",
                manifest.dataset_sha256
            ),
        ));
    }
    let dataset = Dataset::from_parquet(&bytes, &origin)?;
    drop(bytes);
    let expected: Vec<String> = manifest.features.iter().map(|f| f.name.clone()).collect();
    if dataset.feature_names() != expected {
        return Err(Error::invalid(
            &origin,
            "columns",
            "do not match the features listed in the manifest",
        ));
    }
    Ok((dataset, manifest))
}
