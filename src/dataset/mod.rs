//! The dataset the steps share, in memory: one row per grid timestamp with its features and its
//! label, and its Parquet encoding. What the columns mean is in the manifest
//! (`contract::dataset::DatasetManifest`); the step folders it is read from and written to are in
//! `crate::steps`.

use polars::prelude::*;

use crate::error::{Error, Result};

mod footer;

/// Rows in time order: timestamp (Unix seconds), feature columns, label.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub timestamps: Vec<i64>,
    pub columns: Vec<(String, Vec<f64>)>,
    pub label: Vec<f64>,
}

/// Reads Parquet bytes into a table. A malformed file is an error, never a crash: polars'
/// Parquet reader panics on some (found by fuzzing: `fuzz/regressions/parquet_source/`), so the
/// read runs behind a panic boundary; on others it would allocate what the footer declares and
/// abort, so the footer is checked first (`footer`).
pub fn read_parquet(bytes: &[u8], origin: &str) -> Result<DataFrame> {
    let not_readable = |why: String| Error::invalid(origin, "file", format!("not a readable Parquet file: {why}"));
    footer::check(bytes).map_err(not_readable)?;
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ParquetReader::new(std::io::Cursor::new(bytes)).finish()
    }));
    match read {
        Ok(Ok(df)) => Ok(df),
        Ok(Err(e)) => Err(not_readable(e.to_string())),
        Err(panic) => Err(not_readable(panic_text(&panic))),
    }
}

/// What a caught panic of the Parquet reader said, for the error line.
pub(crate) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    let why = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    format!("the Parquet reader failed ({})", crate::error::shown(&why, 200))
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
        let mut df =
            DataFrame::new(rows, columns).map_err(|e| Error::Internal(format!("building the dataset table: {e}")))?;
        let mut bytes = Vec::new();
        // A row group of at most polars' default size, and no larger than the table: a table
        // smaller than the row group would otherwise go through polars' chunk accumulation,
        // whose empty-series step initialises an 8 MB shared zero buffer (memset, ~2,000 page
        // faults: a third of a small extract-features run). The bytes are the same either way.
        // zstd at level 2 (polars' default is zstd's 3): the same size within 0.3% on a month of
        // minutes, 10% less time; no column statistics (every reader here reads whole files).
        ParquetWriter::new(&mut bytes)
            .with_row_group_size(Some(rows.clamp(1, 512 * 512)))
            .with_compression(ParquetCompression::Zstd(Some(
                polars_utils::compression::ZstdLevel::try_new(2).expect("2 is a zstd level"),
            )))
            .with_statistics(StatisticsOptions::empty())
            .finish(&mut df)
            .map_err(|e| Error::Internal(format!("writing Parquet: {e}")))?;
        Ok(bytes)
    }

    pub fn from_parquet(bytes: &[u8], origin: &str) -> Result<Dataset> {
        let df = read_parquet(bytes, origin)?;
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
