//! The file source: a long-format export `timestamp,series,value` as CSV or Parquet, timestamps
//! RFC 3339 or Unix seconds. Every row is checked; the first bad one is reported by row number.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use super::raw::{RawSeries, SourceDescription};
use crate::contract::document::{sha256_hex, Hashing};
use crate::contract::source::{FileFormat, FileSourceConfig};
use crate::error::{Error, Result};
use crate::time::{parse_timestamp, rfc3339};

/// Reads the export; a relative path is taken from `base_dir` (the config file's folder).
pub fn load(config: &FileSourceConfig, base_dir: &Path, wanted: &[&str]) -> Result<(RawSeries, SourceDescription)> {
    let path = &base_dir.join(&config.path);
    let format = match config.format {
        Some(f) => f,
        None => match path.extension().and_then(|e| e.to_str()) {
            Some("parquet") | Some("pq") => FileFormat::Parquet,
            _ => FileFormat::Csv,
        },
    };
    let mut collector = Collector::new(path, wanted);
    let sha256 = match format {
        // Read in pieces and hashed as it is read: a year of minutes is never held whole.
        FileFormat::Csv => {
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let mut hashing = Hashing::new(file);
            read_csv(&mut hashing, &mut collector)?;
            hashing.finish_reading()
        }
        // polars panics on some malformed files, in reading and in converting columns (found
        // by fuzzing): the whole Parquet path runs behind a panic boundary.
        FileFormat::Parquet => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let origin = collector.origin.clone();
            crate::dataset::guarded(&origin, || read_parquet(&bytes, &mut collector))?;
            sha256_hex(&bytes)
        }
    };
    let description = SourceDescription {
        kind: match format {
            FileFormat::Csv => "csv",
            FileFormat::Parquet => "parquet",
        },
        location: config.path.display().to_string(),
        sha256: Some(sha256),
        prometheus: None,
    };
    Ok((collector.finish()?, description))
}

/// Gathers rows, checking each, and reports the first bad one with its row number.
struct Collector<'a> {
    origin: String,
    wanted: &'a [&'a str],
    series: BTreeMap<String, Vec<(i64, f64, usize)>>,
    seen: BTreeMap<String, ()>,
    /// The last timestamp text parsed and its value: long files repeat each timestamp once per
    /// series, so most rows are answered from here.
    last_timestamp: (String, Option<i64>),
}

impl<'a> Collector<'a> {
    fn new(path: &Path, wanted: &'a [&'a str]) -> Self {
        Collector {
            origin: path.display().to_string(),
            wanted,
            series: BTreeMap::new(),
            seen: BTreeMap::new(),
            last_timestamp: (String::new(), None),
        }
    }

    fn push(
        &mut self,
        row: usize,
        timestamp: Option<i64>,
        ts_text: &str,
        series: &str,
        value: Option<f64>,
        value_text: &str,
    ) -> Result<()> {
        let timestamp = timestamp.ok_or_else(|| {
            Error::invalid(
                &self.origin,
                format!("row {row}, column `timestamp`"),
                format!("`{ts_text}` is not an RFC 3339 timestamp or whole Unix seconds"),
            )
        })?;
        if !crate::time::PLAUSIBLE.contains(&timestamp) {
            // A "never" sentinel (9999-12-31) or one millisecond timestamp among seconds would
            // make the grid span millennia.
            return Err(Error::invalid(
                &self.origin,
                format!("row {row}, column `timestamp`"),
                format!(
                    "`{}` is outside {} … {} (a sentinel, or milliseconds among seconds?)",
                    crate::error::shown(ts_text, 64),
                    crate::time::rfc3339(*crate::time::PLAUSIBLE.start()),
                    crate::time::rfc3339(*crate::time::PLAUSIBLE.end())
                ),
            ));
        }
        let value = match value {
            Some(v) if v.is_finite() => v,
            _ => {
                return Err(Error::invalid(
                    &self.origin,
                    format!("row {row}, column `value`"),
                    format!("`{value_text}` is not a finite number"),
                ))
            }
        };
        if !self.seen.contains_key(series) {
            self.seen.insert(series.to_string(), ());
        }
        if self.wanted.contains(&series) {
            match self.series.get_mut(series) {
                Some(samples) => samples.push((timestamp, value, row)),
                None => {
                    self.series.insert(series.to_string(), vec![(timestamp, value, row)]);
                }
            }
        }
        Ok(())
    }

    /// Parses a timestamp text, reusing the previous answer when the text repeats.
    fn timestamp(&mut self, text: &str) -> Option<i64> {
        if self.last_timestamp.0 != text {
            self.last_timestamp = (text.to_string(), parse_timestamp(text));
        }
        self.last_timestamp.1
    }

    fn finish(self) -> Result<RawSeries> {
        let mut out = BTreeMap::new();
        for (name, mut samples) in self.series {
            samples.sort_by_key(|s| (s.0, s.2));
            for pair in samples.windows(2) {
                if pair[0].0 == pair[1].0 {
                    return Err(Error::invalid(
                        &self.origin,
                        format!("row {}, column `timestamp`", pair[1].2),
                        format!(
                            "duplicate timestamp {} for series `{name}` (first at row {})",
                            rfc3339(pair[1].0),
                            pair[0].2
                        ),
                    ));
                }
            }
            out.insert(name, samples.into_iter().map(|(t, v, _)| (t, v)).collect());
        }
        // Series present in the file but not wanted are listed by `source::load` when the
        // target is missing; keep their names visible.
        for name in self.seen.keys() {
            out.entry(name.clone()).or_insert_with(Vec::new);
        }
        Ok(RawSeries {
            origin: self.origin,
            series: out,
        })
    }
}

fn read_csv(input: impl std::io::Read, collector: &mut Collector) -> Result<()> {
    let origin = collector.origin.clone();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(1 << 16)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| Error::invalid(&origin, "header", format!("not readable CSV: {e}")))?
        .clone();
    let column = |name: &str| -> Result<usize> {
        headers.iter().position(|h| h.trim() == name).ok_or_else(|| {
            Error::invalid(
                &origin,
                "header",
                format!(
                    "no `{name}` column (expected long format `timestamp,series,value`, found `{}`)",
                    headers.iter().collect::<Vec<_>>().join(",")
                ),
            )
        })
    };
    let (ti, si, vi) = (column("timestamp")?, column("series")?, column("value")?);
    let mut record = csv::StringRecord::new();
    let mut row = 1usize; // the header is row 1
    loop {
        row += 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(Error::invalid(
                    &origin,
                    format!("row {row}"),
                    format!("not readable CSV: {e}"),
                ))
            }
        }
        let field = |i: usize| record.get(i).unwrap_or("");
        let ts_text = field(ti);
        let value_text = field(vi).trim();
        let timestamp = collector.timestamp(ts_text);
        collector.push(
            row,
            timestamp,
            ts_text,
            field(si).trim(),
            value_text.parse::<f64>().ok(),
            value_text,
        )?;
    }
    Ok(())
}

fn read_parquet(bytes: &[u8], collector: &mut Collector) -> Result<()> {
    let origin = collector.origin.clone();
    let df = crate::dataset::read_parquet(bytes, &origin)?;
    let get = |name: &str| -> Result<&Column> {
        df.column(name).map_err(|_| {
            Error::invalid(
                &origin,
                format!("column `{name}`"),
                "missing (expected long format `timestamp,series,value`)",
            )
        })
    };
    let (ts, series, value) = (get("timestamp")?, get("series")?, get("value")?);
    let timestamps: Vec<(Option<i64>, String)> = match ts.dtype() {
        DataType::String => ts
            .str()
            .expect("string column")
            .iter()
            .map(|s| (s.and_then(parse_timestamp), s.unwrap_or("null").to_string()))
            .collect(),
        DataType::Int64 | DataType::Int32 | DataType::UInt32 | DataType::UInt64 => {
            let c = ts
                .cast(&DataType::Int64)
                .map_err(|e| Error::invalid(&origin, "column `timestamp`", e.to_string()))?;
            c.i64()
                .expect("int column")
                .iter()
                .map(|v| (v, v.map(|v| v.to_string()).unwrap_or("null".into())))
                .collect()
        }
        other => {
            return Err(Error::invalid(
                &origin,
                "column `timestamp`",
                format!("has type {other}, expected RFC 3339 strings or integer Unix seconds"),
            ))
        }
    };
    let series = series.str().map_err(|_| {
        Error::invalid(
            &origin,
            "column `series`",
            format!("has type {}, expected strings", series.dtype()),
        )
    })?;
    let value = value.cast(&DataType::Float64).map_err(|_| {
        Error::invalid(
            &origin,
            "column `value`",
            format!("has type {}, expected numbers", value.dtype()),
        )
    })?;
    let value = value.f64().expect("float column");
    for (i, ((ts, ts_text), (s, v))) in timestamps.iter().zip(series.iter().zip(value.iter())).enumerate() {
        let v_text = v.map(|v| v.to_string()).unwrap_or_else(|| "null".into());
        collector.push(i + 1, *ts, ts_text, s.unwrap_or(""), v, &v_text)?;
    }
    Ok(())
}
