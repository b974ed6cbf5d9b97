//! The file source: a long-format export `timestamp,series,value` as CSV or Parquet, timestamps
//! RFC 3339 or Unix seconds. Every row is checked; the first bad one is reported by row number.

use std::collections::{BTreeMap, HashMap};
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

/// A sample as read: its time, value and row.
type Sample = (i64, f64, usize);

/// Gathers rows, checking each, and reports the first bad one with its row number.
struct Collector<'a> {
    origin: String,
    wanted: &'a [&'a str],
    /// Every series met, in the order met: its name and, when wanted, its samples.
    series: Vec<(String, Option<Vec<Sample>>)>,
    index: HashMap<String, usize>,
    /// The series expected next: the one that followed the last row's series last time (a long
    /// export lists its series in the same order at every timestamp, so most rows find theirs
    /// with one comparison).
    next: Vec<usize>,
    last: Option<usize>,
    /// The last timestamp text parsed and its value: long files repeat each timestamp once per
    /// series, so most rows are answered from here.
    last_timestamp: (String, Option<i64>),
}

impl<'a> Collector<'a> {
    fn new(path: &Path, wanted: &'a [&'a str]) -> Self {
        Collector {
            origin: path.display().to_string(),
            wanted,
            series: Vec::new(),
            index: HashMap::new(),
            next: Vec::new(),
            last: None,
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
        let i = self.series_index(series);
        if let Some(samples) = &mut self.series[i].1 {
            samples.push((timestamp, value, row));
        }
        Ok(())
    }

    /// The index of `series` among those met, adding it when new.
    fn series_index(&mut self, series: &str) -> usize {
        let guess = self.last.map(|last| self.next[last]);
        let i = match guess.filter(|&g| self.series[g].0 == series) {
            Some(g) => g,
            None => match self.index.get(series) {
                Some(&i) => i,
                None => {
                    let i = self.series.len();
                    let samples = self.wanted.contains(&series).then(Vec::new);
                    self.series.push((series.to_string(), samples));
                    self.index.insert(series.to_string(), i);
                    self.next.push(i);
                    i
                }
            },
        };
        if let Some(last) = self.last {
            self.next[last] = i;
        }
        self.last = Some(i);
        i
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
        // Series present in the file but not wanted are listed by `source::load` when the
        // target is missing; keep their names visible.
        let mut wanted = Vec::new();
        for (name, samples) in self.series {
            match samples {
                Some(samples) => wanted.push((name, samples)),
                None => {
                    out.insert(name, Vec::new());
                }
            }
        }
        // In name order, as the report of a duplicate always was.
        wanted.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, mut samples) in wanted {
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
        Ok(RawSeries {
            origin: self.origin,
            series: out,
        })
    }
}

fn read_csv(input: impl std::io::Read + Send, collector: &mut Collector) -> Result<()> {
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
    // Two stages on two threads, in order: this one's reader splits the text into records, a
    // batch at a time; the caller's thread checks and gathers them. Batches go back to the
    // reader to be filled again.
    let (full, filled) = std::sync::mpsc::sync_channel::<Result<(Vec<csv::StringRecord>, usize)>>(2);
    let (empty, emptied) = std::sync::mpsc::sync_channel::<Vec<csv::StringRecord>>(4);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut row = 1usize; // the header is row 1
            loop {
                let mut batch = emptied
                    .try_recv()
                    .unwrap_or_else(|_| vec![csv::StringRecord::new(); RECORDS_A_BATCH]);
                let mut len = 0;
                let mut failed = None;
                while len < RECORDS_A_BATCH {
                    match reader.read_record(&mut batch[len]) {
                        Ok(true) => len += 1,
                        Ok(false) => break,
                        Err(e) => {
                            let row = row + len + 1;
                            failed = Some(Error::invalid(
                                &origin,
                                format!("row {row}"),
                                format!("not readable CSV: {e}"),
                            ));
                            break;
                        }
                    }
                }
                row += len;
                let last = len < RECORDS_A_BATCH;
                // A receiver gone has met a bad row and stopped: so does this reader.
                if full.send(Ok((batch, len))).is_err() || last {
                    if let Some(e) = failed {
                        let _ = full.send(Err(e));
                    }
                    return;
                }
            }
        });
        let mut row = 1usize;
        for batch in filled {
            let (batch, len) = batch?;
            for record in &batch[..len] {
                row += 1;
                let field = |i: usize| record.get(i).unwrap_or("");
                let ts_text = field(ti);
                let value_text = field(vi).trim();
                let series = field(si).trim();
                let timestamp = collector.timestamp(ts_text);
                collector.push(
                    row,
                    timestamp,
                    ts_text,
                    series,
                    value_text.parse::<f64>().ok(),
                    value_text,
                )?;
            }
            let _ = empty.send(batch);
        }
        Ok(())
    })
}

/// Records a CSV reader hands over at a time.
const RECORDS_A_BATCH: usize = 4096;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A long export: `rows` rows of one series a minute, the row numbered `bad` (the header is
    /// row 1) replaced by `line`.
    fn export(rows: usize, bad: usize, line: &str) -> Vec<u8> {
        let mut csv = String::from("timestamp,series,value\n");
        for row in 2..rows + 2 {
            match row == bad {
                true => csv.push_str(line),
                false => csv.push_str(&format!("{},rps,{}", 1_767_225_600 + row * 60, row)),
            }
            csv.push('\n');
        }
        csv.into_bytes()
    }

    fn read(csv: &[u8]) -> Result<RawSeries> {
        let mut collector = Collector::new(Path::new("d.csv"), &["rps"]);
        read_csv(csv, &mut collector)?;
        collector.finish()
    }

    /// Rows are handed over in batches: every row is read once, in order, and a bad row far
    /// past the first batch is reported with its own row number, whether its value is bad or
    /// the CSV itself (an earlier bad value in the same batch coming first).
    #[test]
    fn rows_past_the_first_batch_keep_their_numbers() {
        let rows = 3 * RECORDS_A_BATCH + 17;
        let raw = read(&export(rows, 0, "")).unwrap();
        let samples = &raw.series["rps"];
        assert_eq!(samples.len(), rows);
        assert!(samples.iter().enumerate().all(|(i, s)| s.1 == (i + 2) as f64));
        let bad = 2 * RECORDS_A_BATCH + 5;
        let why = read(&export(rows, bad, "2026-01-01T00:00:00Z,rps,lots"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            why,
            format!("d.csv: row {bad}, column `value`: `lots` is not a finite number")
        );
        let why = read(&export(rows, bad, "2026-01-01T00:00:00Z,rps"))
            .unwrap_err()
            .to_string();
        assert!(why.starts_with(&format!("d.csv: row {bad}: not readable CSV")), "{why}");
        let mut both = export(rows, bad, "2026-01-01T00:00:00Z,rps");
        let earlier = format!("{},rps,{}\n", 1_767_225_600 + (bad - 3) * 60, bad - 3);
        let at = String::from_utf8(both.clone()).unwrap().find(&earlier).unwrap();
        both.splice(
            at..at + earlier.len(),
            b"2026-01-01T00:00:00Z,rps,NaN\n".iter().copied(),
        );
        let why = read(&both).unwrap_err().to_string();
        assert!(
            why.starts_with(&format!("d.csv: row {}, column `value`", bad - 3)),
            "{why}"
        );
    }
}
