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
    footer::check(bytes).map_err(|why| not_readable(origin, why))?;
    guarded(origin, || {
        ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .map_err(|e| not_readable(origin, e))
    })
}

/// A Parquet file that polars cannot read, and why, naming the file.
pub(crate) fn not_readable(origin: &str, why: impl std::fmt::Display) -> Error {
    Error::invalid(origin, "file", format!("not a readable Parquet file: {why}"))
}

/// `read` behind the panic boundary every polars read needs (polars panics on some malformed
/// files, found by fuzzing): a panic becomes a [`not_readable`] error.
pub(crate) fn guarded<T>(origin: &str, read: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
        .unwrap_or_else(|panic| Err(not_readable(origin, panic_text(&panic))))
}

/// What a caught panic of the Parquet reader said, for the error line.
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
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

    /// The rows in `range`, borrowed: what a prediction or a score reads, without a copy.
    pub fn view(&self, range: std::ops::Range<usize>) -> Rows<'_> {
        assert!(
            range.start <= range.end && range.end <= self.rows(),
            "rows {range:?} of {}",
            self.rows()
        );
        Rows {
            data: self,
            start: range.start,
            end: range.end,
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
        let mut bytes = Vec::new();
        self.write_parquet(&mut bytes, "the dataset in memory")?;
        Ok(bytes)
    }

    /// Writes the Parquet encoding to `out` (named `origin` in errors), giving the columns to
    /// polars without copying them: a long history is never held twice, as a table and as bytes.
    pub fn write_parquet(self, out: impl std::io::Write, origin: &str) -> Result<()> {
        let rows = self.rows();
        let mut columns = Vec::with_capacity(self.columns.len() + 2);
        // `from_vec` takes each column's buffer as it is (`Column::new` would copy it).
        columns.push(Int64Chunked::from_vec("timestamp".into(), self.timestamps).into_column());
        for (name, values) in self.columns {
            columns.push(Float64Chunked::from_vec(name.as_str().into(), values).into_column());
        }
        columns.push(Float64Chunked::from_vec("label".into(), self.label).into_column());
        let mut df =
            DataFrame::new(rows, columns).map_err(|e| Error::Internal(format!("building the dataset table: {e}")))?;
        // A row group of at most polars' default size, and no larger than the table: a table
        // smaller than the row group would otherwise go through polars' chunk accumulation,
        // whose empty-series step initialises an 8 MB shared zero buffer (memset, ~2,000 page
        // faults: a third of a small extract-features run). The bytes are the same either way.
        // LZ4 (Parquet's LZ4_RAW): a dataset is written once and read whole by train and by
        // validate, and LZ4 decodes in two thirds of zstd's time — on a year of minutes each read
        // 35 ms less, the write 17 ms less, for a file a third larger (83 MB, zstd's level 2 63 MB,
        // none 111 MB: then the hash of the larger file bounds the read). No column statistics
        // (every reader here reads whole files).
        ParquetWriter::new(out)
            .with_row_group_size(Some(rows.clamp(1, 512 * 512)))
            .with_compression(ParquetCompression::Lz4Raw)
            .with_statistics(StatisticsOptions::empty())
            .finish(&mut df)
            .map_err(|e| match e {
                PolarsError::IO { error, .. } => {
                    Error::io(origin, std::io::Error::new(error.kind(), error.to_string()))
                }
                e => Error::Internal(format!("writing Parquet to {origin}: {e}")),
            })?;
        Ok(())
    }

    pub fn from_parquet(bytes: &[u8], origin: &str) -> Result<Dataset> {
        let df = read_parquet(bytes, origin)?;
        // Each Parquet column is taken (or copied and dropped), so the whole table is never held twice.
        Dataset::from_columns(df.into_columns().into_iter().map(Ok), origin)
    }

    /// The dataset from its Parquet columns, taken one at a time (each column's values taken
    /// from polars, or copied and the column dropped):
    /// `timestamp` (Int64), the features in order, `label`; every value present and finite.
    fn from_columns(columns: impl IntoIterator<Item = Result<Column>>, origin: &str) -> Result<Dataset> {
        let floats = |c: Column| -> Result<Vec<f64>> {
            let name = c.name().clone();
            let bad = |i: usize| {
                Error::invalid(
                    origin,
                    format!("row {}, column `{name}`", i + 1),
                    "missing or not finite",
                )
            };
            let ca = c.f64().map_err(|_| {
                Error::invalid(
                    origin,
                    format!("column `{name}`"),
                    format!("has type {}, expected f64", c.dtype()),
                )
            })?;
            if ca.null_count() > 0 {
                return Err(bad(ca.iter().position(|v| v.is_none()).unwrap_or(0)));
            }
            let values = owned_values(c.take_materialized_series().take_inner::<Float64Type>());
            match values.iter().position(|v| !v.is_finite()) {
                Some(i) => Err(bad(i)),
                None => Ok(values),
            }
        };
        let (mut timestamps, mut label, mut features) = (None, None, Vec::new());
        for c in columns {
            let c = c?;
            match c.name().as_str() {
                "timestamp" => {
                    let ts = c
                        .i64()
                        .map_err(|_| Error::invalid(origin, "column `timestamp`", "expected Int64 Unix seconds"))?;
                    timestamps = Some(if ts.null_count() == 0 {
                        owned_values(c.take_materialized_series().take_inner::<Int64Type>())
                    } else {
                        ts.iter().map(|v| v.unwrap_or(i64::MIN)).collect()
                    });
                }
                "label" => label = Some(floats(c)?),
                _ => features.push((c.name().to_string(), floats(c)?)),
            }
        }
        Ok(Dataset {
            timestamps: timestamps.ok_or_else(|| Error::invalid(origin, "column `timestamp`", "missing"))?,
            columns: features,
            label: label.ok_or_else(|| Error::invalid(origin, "column `label`", "missing"))?,
        })
    }
}

/// A column's values without nulls, taken from polars as they were decoded when polars holds
/// them alone in one piece (a year of minutes is then neither copied nor faulted in twice), else
/// copied.
fn owned_values<T: PolarsNumericType>(ca: ChunkedArray<T>) -> Vec<T::Native> {
    if ca.chunks().len() == 1 {
        let array = ca.downcast_into_iter().next().expect("one chunk");
        let (_, values, _) = array.into_inner();
        return values.into_mut().either(|shared| shared.to_vec(), |owned| owned);
    }
    // Copied slice by slice, sized once (a year of minutes grown by doubling would leave freed
    // halves behind).
    let mut values = Vec::with_capacity(ca.len());
    for chunk in ca.downcast_iter() {
        values.extend_from_slice(chunk.values());
    }
    values
}

/// Some consecutive rows of a [`Dataset`], borrowed (and copied as freely as a reference).
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    data: &'a Dataset,
    start: usize,
    end: usize,
}

impl<'a> Rows<'a> {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn column(&self, name: &str) -> Option<&'a [f64]> {
        self.data.column(name).map(|c| &c[self.start..self.end])
    }

    pub fn label(&self) -> &'a [f64] {
        &self.data.label[self.start..self.end]
    }

    pub fn timestamps(&self) -> &'a [i64] {
        &self.data.timestamps[self.start..self.end]
    }
}

impl<'a> From<&'a Dataset> for Rows<'a> {
    fn from(data: &'a Dataset) -> Self {
        data.view(0..data.rows())
    }
}

/// A dataset's Parquet file, hashed on a thread of its own while it is decoded from the file
/// column by column (never held whole): the dataset, and the file's lower-case hex sha256 —
/// which a caller checks first: a file that is not the one recorded is that, whatever its
/// decoding said.
pub fn read_file(path: &std::path::Path) -> Result<(Result<Dataset>, Result<String>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let sha256 = crate::contract::document::sha256_in_background(&file).map_err(|e| Error::io(path, e))?;
    let origin = path.display().to_string();
    let dataset = decode(file, &origin);
    let sha256 = sha256
        .join()
        .expect("sha256 does not panic")
        .map_err(|e| Error::io(path, e));
    Ok((dataset, sha256))
}

/// The dataset, one column at a time: polars maps the file for each column and unmaps it
/// after, so what is resident is the dataset decoded so far and one column's pages — not the
/// file's bytes and the whole decoded table besides. The footer is checked first, as for
/// bytes ([`read_parquet`]), and the reading runs behind the same panic boundary.
fn decode(mut file: std::fs::File, origin: &str) -> Result<Dataset> {
    footer::check_file(&file).map_err(|why| not_readable(origin, why))?;
    let file = &mut file;
    guarded(origin, || {
        let polars = |e: PolarsError| not_readable(origin, e);
        let mut reader = ParquetReader::new(&mut *file);
        let metadata = reader.get_metadata().map_err(polars)?.clone();
        let width = reader.schema().map_err(polars)?.len();
        let columns = (0..width).map(|i| {
            let mut reader = ParquetReader::new(&mut *file).with_projection(Some(vec![i]));
            reader.set_metadata(metadata.clone());
            let mut columns = reader.finish().map_err(polars)?.into_columns();
            Ok(columns.pop().expect("one column projected"))
        });
        Dataset::from_columns(columns, origin)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset() -> Dataset {
        Dataset {
            timestamps: vec![0, 60, 120, 180],
            columns: vec![
                ("target".into(), vec![1.0, 2.0, 3.0, 4.0]),
                ("cpu".into(), vec![0.5, 0.25, 0.125, 1.0]),
            ],
            label: vec![4.0, 5.0, 6.0, 7.0],
        }
    }

    /// Written to a file (hashed as written), read back from it column by column: the same
    /// dataset, the same sha256 as the bytes in memory.
    #[test]
    fn a_dataset_file_reads_back_column_by_column_with_its_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dataset.parquet");
        let written = crate::contract::document::write_atomic_with(&path, |out| {
            let mut hashing = crate::contract::document::Hashing::new(out);
            dataset().write_parquet(&mut hashing, "test")?;
            hashing.finish_writing().map_err(|e| Error::io("test", e))
        })
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes, dataset().into_parquet().unwrap(), "the same bytes as in memory");
        assert_eq!(written, crate::contract::sha256_hex(&bytes));
        let (decoded, sha256) = read_file(&path).unwrap();
        assert_eq!(sha256.unwrap(), written);
        assert_eq!(decoded.unwrap(), dataset());
    }

    /// A column's values are taken from polars when it holds them alone in one piece (the same
    /// buffer, no copy), and copied when they are shared or in pieces: the same values either way.
    #[test]
    fn column_values_are_taken_when_polars_holds_them_alone() {
        let alone = Float64Chunked::from_vec("a".into(), vec![1.0, 2.0, 3.0]);
        let buffer = alone.cont_slice().unwrap().as_ptr();
        let taken = owned_values(alone);
        assert_eq!((taken.as_slice(), taken.as_ptr()), ([1.0, 2.0, 3.0].as_slice(), buffer));
        let shared = Float64Chunked::from_vec("b".into(), vec![4.0, 5.0]);
        let other = shared.clone();
        let copied = owned_values(shared);
        assert_eq!(copied, [4.0, 5.0]);
        assert_ne!(copied.as_ptr(), other.cont_slice().unwrap().as_ptr());
        let mut pieces = Int64Chunked::from_vec("c".into(), vec![6, 7]);
        pieces.append(&Int64Chunked::from_vec("c".into(), vec![8])).unwrap();
        assert_eq!(pieces.chunks().len(), 2);
        assert_eq!(owned_values(pieces), [6, 7, 8]);
    }

    /// A value that is not finite is refused with its row and column, in memory and from a file.
    #[test]
    fn a_value_that_is_not_finite_is_refused_with_its_row_and_column() {
        let mut bad = dataset();
        bad.columns[1].1[2] = f64::INFINITY;
        let why = Dataset::from_parquet(&bad.to_parquet().unwrap(), "d.parquet")
            .unwrap_err()
            .to_string();
        assert_eq!(why, "d.parquet: row 3, column `cpu`: missing or not finite");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dataset.parquet");
        std::fs::write(&path, bad.to_parquet().unwrap()).unwrap();
        let why = read_file(&path).unwrap().0.unwrap_err().to_string();
        assert!(why.ends_with("row 3, column `cpu`: missing or not finite"), "{why}");
    }

    /// A file whose footer would make polars allocate without bound is refused before polars
    /// reads it, naming the file: the footer check reads the file's head and tail from disk.
    #[test]
    fn a_malformed_dataset_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dataset.parquet");
        // field 2 (the schema), a list of structures whose size is 2^31 - 1, in 8 bytes.
        let footer = [0x29, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
        let mut bytes = b"PAR1".to_vec();
        bytes.extend_from_slice(&footer);
        bytes.extend_from_slice(&(footer.len() as u32).to_le_bytes());
        bytes.extend_from_slice(b"PAR1");
        std::fs::write(&path, &bytes).unwrap();
        let why = read_file(&path).unwrap().0.unwrap_err().to_string();
        assert!(
            why.starts_with(&format!("{}: file: not a readable Parquet file", path.display())),
            "{why}"
        );
        assert!(why.contains("a list of 2147483647 elements"), "{why}");
        // And one cut short: no footer at all.
        std::fs::write(&path, &dataset().into_parquet().unwrap()[..100]).unwrap();
        let why = read_file(&path).unwrap().0.unwrap_err().to_string();
        assert!(why.contains("does not start and end with PAR1"), "{why}");
    }
}
