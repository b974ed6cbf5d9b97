//! The dataset the steps share, in memory: one row per grid timestamp with its features and its
//! label, and its Parquet encoding. What the columns mean is in the manifest
//! (`contract::dataset::DatasetManifest`); the step folders it is read from and written to are in
//! `crate::steps`.

use polars::prelude::*;

use crate::error::{Error, Result};

mod footer;
mod in_place;

pub use in_place::Values;

/// Rows in time order: timestamp (Unix seconds), feature columns, label.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub timestamps: Vec<i64>,
    pub columns: Vec<(String, Values)>,
    pub label: Values,
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
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| &**v)
    }

    /// The rows in `range`, all columns.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        Dataset {
            timestamps: self.timestamps[range.clone()].to_vec(),
            columns: self
                .columns
                .iter()
                .map(|(n, v)| (n.clone(), v[range.clone()].to_vec().into()))
                .collect(),
            label: self.label[range].to_vec().into(),
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
    /// the encoder without copying them: a long history is never held twice, as a table and as
    /// bytes ([`write_columns`]).
    pub fn write_parquet(self, out: impl std::io::Write, origin: &str) -> Result<()> {
        let (names, columns): (Vec<String>, Vec<Values>) = self.columns.into_iter().unzip();
        let columns = columns.into_iter().map(Values::into_vec);
        write_columns(self.timestamps, &names, columns, self.label.into_vec(), out, origin)
    }

    pub fn from_parquet(bytes: &[u8], origin: &str) -> Result<Dataset> {
        let df = read_parquet(bytes, origin)?;
        // Each Parquet column is taken (or copied and dropped), so the whole table is never held twice.
        Dataset::from_columns(df.into_columns().into_iter().map(|c| Ok(Read::Decoded(c))), origin)
    }

    /// The dataset from its Parquet columns, taken one at a time (each column's values taken
    /// from polars, or copied and the column dropped, or in place in the file):
    /// `timestamp` (Int64), the features in order, `label`; every value present and finite.
    fn from_columns(columns: impl IntoIterator<Item = Result<Read>>, origin: &str) -> Result<Dataset> {
        let finite = |name: &str, values: Values| -> Result<Values> {
            match values.iter().position(|v| !v.is_finite()) {
                Some(i) => Err(not_finite(origin, i, name)),
                None => Ok(values),
            }
        };
        let floats = |c: Column| -> Result<Values> {
            let name = c.name().clone();
            let ca = c.f64().map_err(|_| {
                Error::invalid(
                    origin,
                    format!("column `{name}`"),
                    format!("has type {}, expected f64", c.dtype()),
                )
            })?;
            if ca.null_count() > 0 {
                return Err(not_finite(
                    origin,
                    ca.iter().position(|v| v.is_none()).unwrap_or(0),
                    &name,
                ));
            }
            let values = owned_values(c.take_materialized_series().take_inner::<Float64Type>());
            finite(&name, values.into())
        };
        let not_seconds = || Error::invalid(origin, "column `timestamp`", "expected Int64 Unix seconds");
        let (mut timestamps, mut label, mut features) = (None, None, Vec::new());
        for c in columns {
            let (name, values) = match c? {
                Read::InPlace(name, _) if name == "timestamp" => return Err(not_seconds()),
                Read::InPlace(name, values) => {
                    let values = finite(&name, values)?;
                    (name, values)
                }
                Read::Decoded(c) if c.name().as_str() == "timestamp" => {
                    let ts = c.i64().map_err(|_| not_seconds())?;
                    timestamps = Some(if ts.null_count() == 0 {
                        owned_values(c.take_materialized_series().take_inner::<Int64Type>())
                    } else {
                        ts.iter().map(|v| v.unwrap_or(i64::MIN)).collect()
                    });
                    continue;
                }
                Read::Decoded(c) => (c.name().to_string(), floats(c)?),
            };
            match name.as_str() {
                "label" => label = Some(values),
                _ => features.push((name, values)),
            }
        }
        Ok(Dataset {
            timestamps: timestamps.ok_or_else(|| Error::invalid(origin, "column `timestamp`", "missing"))?,
            columns: features,
            label: label.ok_or_else(|| Error::invalid(origin, "column `label`", "missing"))?,
        })
    }
}

/// A value of the dataset's file missing or not finite: row `i` (from 0) of column `name`.
fn not_finite(origin: &str, i: usize, name: &str) -> Error {
    Error::invalid(
        origin,
        format!("row {}, column `{name}`", i + 1),
        "missing or not finite",
    )
}

/// A column as read from a dataset's file: decoded by polars, or (a plain column of doubles)
/// used in place from the mapped file ([`in_place`]).
enum Read {
    Decoded(Column),
    InPlace(String, Values),
}

/// Writes a dataset's Parquet encoding to `out` (named `origin` in errors): `timestamp`, the
/// feature columns `names` in order, taken from `columns` one at a time as they are written (each
/// dropped once written: whoever builds them may build the next meanwhile), and `label`. One row
/// group; the columns required (never null); no statistics (every reader here reads whole
/// files) but those that align a plain float column's values in the file ([`in_place`]). Each
/// column's encoding is chosen for what it holds ([`Encoded`]).
pub(crate) fn write_columns(
    timestamps: Vec<i64>,
    names: &[String],
    columns: impl IntoIterator<Item = Vec<f64>, IntoIter: Send>,
    label: Vec<f64>,
    out: impl std::io::Write,
    origin: &str,
) -> Result<()> {
    use polars_arrow::datatypes::{ArrowDataType, Field};
    use polars_parquet::write::{FileWriter, StatisticsOptions, Version, WriteOptions};
    let rows = timestamps.len();
    let float = |name: &str| Field::new(name.into(), ArrowDataType::Float64, false);
    let schema = std::iter::once(Field::new("timestamp".into(), ArrowDataType::Int64, false))
        .chain(names.iter().map(|name| float(name)))
        .chain(std::iter::once(float("label")))
        .collect();
    let options = WriteOptions {
        statistics: StatisticsOptions::empty(),
        version: Version::V1,
        compression: polars_parquet::write::CompressionOptions::Uncompressed,
        data_page_size: None,
    };
    // The Parquet writer turns an I/O error into text: the first one `out` gave is kept, so
    // that a full disk is reported as what it is, naming the file.
    let position = in_place::Position::default();
    let mut out = in_place::Counting {
        inner: KeepingError {
            inner: out,
            error: None,
        },
        position: position.clone(),
    };
    // Behind a lock only because the encoder asks for an iterator it could share between threads.
    let columns = std::sync::Mutex::new(columns.into_iter());
    let missing = std::sync::Mutex::new(None);
    let written = (|| -> PolarsResult<()> {
        let mut writer = FileWriter::try_new(&mut out, schema, options)?;
        if rows > 0 {
            let features = names.iter().map_while(|name| {
                let values = columns.lock().expect("not poisoned").next();
                if values.is_none() {
                    *missing.lock().expect("not poisoned") = Some(name.clone());
                }
                Some(Encoded::floats(name, values?))
            });
            let group = std::iter::once(Encoded::timestamps("timestamp", timestamps))
                .chain(features)
                .chain(std::iter::once(Encoded::floats("label", label)))
                .map(move |column| column.pages(options, &position));
            writer.write(rows as u64, polars_parquet::write::DynIter::new(group))?;
        }
        writer.end(None).map(drop)
    })();
    if let Some(name) = missing.into_inner().expect("not poisoned") {
        return Err(Error::Internal(format!(
            "writing {origin}: no values for column `{name}`"
        )));
    }
    written.map_err(|e| match out.inner.error.take() {
        Some(error) => Error::io(origin, error),
        None => Error::Internal(format!("writing Parquet to {origin}: {e}")),
    })
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

/// A writer that keeps the first I/O error its inner writer gave.
struct KeepingError<W> {
    inner: W,
    error: Option<std::io::Error>,
}

impl<W> KeepingError<W> {
    fn keep<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        result.inspect_err(|e| {
            if self.error.is_none() {
                self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

impl<W: std::io::Write> std::io::Write for KeepingError<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(bytes);
        self.keep(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.keep(result)
    }
}

/// One column of a dataset's Parquet file, with the encoding chosen for it:
/// - timestamps: delta-encoded (a grid's times step evenly: a year of minutes in a few KB);
/// - a float column with few distinct values (at most [`DICTIONARY_VALUES`], and at most a
///   quarter of the rows): a dictionary of its values and, for each row, its value's index,
///   LZ4-compressed — the time-of-day and time-of-week columns, whose weekly period (80 KB of
///   doubles) is beyond LZ4's 64 KB window, so that as plain doubles they did not compress; as
///   indices the period is 17 KB;
/// - any other float column: plain and uncompressed. LZ4 found nothing to take out of measured
///   values and their lags (4.14 MB in, 4.14 MB out, at a year of minutes) and cost the writer
///   and every reader a pass.
///
/// The choice depends only on the values, so the same dataset gives the same bytes.
struct Encoded {
    field: polars_arrow::datatypes::Field,
    array: Box<dyn polars_arrow::array::Array>,
    encoding: polars_parquet::write::Encoding,
    compression: polars_parquet::write::CompressionOptions,
}

/// The most distinct values a float column may have to be written as a dictionary (indices of
/// at most 14 bits; the dictionary at most 128 KiB).
const DICTIONARY_VALUES: usize = 1 << 14;

impl Encoded {
    fn timestamps(name: &str, values: Vec<i64>) -> Encoded {
        use polars_arrow::datatypes::ArrowDataType;
        Encoded {
            field: polars_arrow::datatypes::Field::new(name.into(), ArrowDataType::Int64, false),
            array: Box::new(polars_arrow::array::PrimitiveArray::from_vec(values)),
            encoding: polars_parquet::write::Encoding::DeltaBinaryPacked,
            compression: polars_parquet::write::CompressionOptions::Uncompressed,
        }
    }

    fn floats(name: &str, values: Vec<f64>) -> Encoded {
        use polars_arrow::array::{DictionaryArray, PrimitiveArray};
        use polars_arrow::datatypes::{ArrowDataType, IntegerType};
        use polars_parquet::write::{CompressionOptions, Encoding};
        let field = polars_arrow::datatypes::Field::new(name.into(), ArrowDataType::Float64, false);
        match dictionary(&values) {
            Some((keys, distinct)) => {
                let dtype = ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(ArrowDataType::Float64), false);
                let array = DictionaryArray::try_new(
                    dtype,
                    PrimitiveArray::from_vec(keys),
                    Box::new(PrimitiveArray::from_vec(distinct)),
                )
                .expect("every key indexes the dictionary");
                Encoded {
                    field,
                    array: Box::new(array),
                    encoding: Encoding::RleDictionary,
                    compression: CompressionOptions::Lz4Raw,
                }
            }
            None => Encoded {
                field,
                array: Box::new(PrimitiveArray::from_vec(values)),
                encoding: Encoding::Plain,
                compression: CompressionOptions::Uncompressed,
            },
        }
    }

    /// The column's pages, encoded and compressed as they are written at `position`. A plain
    /// float column is one page, its values 8-byte aligned in the file: a reader may use it in
    /// place ([`in_place`]).
    fn pages(
        self,
        mut options: polars_parquet::write::WriteOptions,
        position: &in_place::Position,
    ) -> PolarsResult<
        polars_parquet::write::DynStreamingIterator<'static, polars_parquet::write::CompressedPage, PolarsError>,
    > {
        use polars_parquet::parquet::error::ParquetError;
        use polars_parquet::parquet::page::Page;
        use polars_parquet::write::FallibleStreamingIterator;
        use polars_parquet::write::{CompressionOptions, Compressor, DynStreamingIterator, Encoding};
        let in_place = self.encoding == Encoding::Plain
            && self.compression == CompressionOptions::Uncompressed
            && *self.field.dtype() == polars_arrow::datatypes::ArrowDataType::Float64;
        if in_place {
            // Pages are cut at this many bytes, counting 9 a row (`row_slice_ranges`).
            options.data_page_size = Some(self.array.len().saturating_mul(9).max(1));
        }
        let type_ = polars_parquet::write::to_parquet_type(&self.field)?;
        let mut leaves = polars_parquet::write::array_to_columns(self.array, type_, options, &[self.encoding])?;
        let position = position.clone();
        let pages = leaves
            .pop()
            .expect("a flat column is one leaf")
            .map(move |page| match page {
                Ok(Page::Data(page)) if in_place => Ok(Page::Data(in_place::align(page, &position))),
                page => page.map_err(ParquetError::from),
            });
        Ok(DynStreamingIterator::new(
            Compressor::new_from_vec(pages, self.compression, Vec::new()).map_err(PolarsError::from),
        ))
    }
}

/// The column as indices into its distinct values (in the order first met), when it has few
/// enough of them ([`Encoded`]); found in one pass that stops as soon as there are too many.
/// Each row first tries the value after the previous row's (a time-of-day or time-of-week column
/// steps through its table: one comparison a row instead of a hash look-up).
fn dictionary(values: &[f64]) -> Option<(Vec<u32>, Vec<f64>)> {
    let limit = DICTIONARY_VALUES.min(values.len() / 4);
    let mut index = polars_utils::aliases::PlHashMap::with_capacity_and_hasher(limit + 1, Default::default());
    // By bits: -0.0 and 0.0 stay what they were.
    let mut distinct: Vec<u64> = Vec::new();
    // Grown as it fills: a column with too many values stops early, having touched little.
    let mut keys = Vec::with_capacity(4 * limit);
    let mut guess = 0;
    for v in values {
        let bits = v.to_bits();
        let key = match distinct.get(guess) {
            Some(&b) if b == bits => guess as u32,
            _ => {
                let next = distinct.len() as u32;
                let key = *index.entry(bits).or_insert(next);
                if key == next {
                    if distinct.len() == limit {
                        return None;
                    }
                    distinct.push(bits);
                }
                key
            }
        };
        keys.push(key);
        guess = key as usize + 1;
    }
    Some((keys, distinct.into_iter().map(f64::from_bits).collect()))
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

/// The dataset, one column at a time. The file is mapped once ([`in_place::map`]): each plain
/// column of doubles the writer laid out for it is used in place from the mapping (no copy, no
/// fresh memory); any other column polars decodes from the file, column by column (polars maps
/// the file for each column and unmaps it after), so what is resident is the dataset decoded so
/// far and the mapping — not the file's bytes and the whole decoded table besides. The footer is
/// checked first, as for bytes ([`read_parquet`]), and the reading runs behind the same panic
/// boundary.
fn decode(mut file: std::fs::File, origin: &str) -> Result<Dataset> {
    footer::check_file(&file).map_err(|why| not_readable(origin, why))?;
    let mapped = in_place::map(&file);
    let file = &mut file;
    guarded(origin, || {
        let polars = |e: PolarsError| not_readable(origin, e);
        let mut reader = ParquetReader::new(&mut *file);
        let metadata = reader.get_metadata().map_err(polars)?.clone();
        let width = reader.schema().map_err(polars)?.len();
        // Only a flat table of one row group: column `i` of the schema is the row group's `i`th.
        let chunks = match (&mapped, metadata.row_groups.as_slice()) {
            (Some(mapped), [group]) if group.parquet_columns().len() == width => {
                Some((mapped, group.parquet_columns(), group.num_rows()))
            }
            _ => None,
        };
        let columns = (0..width).map(|i| {
            if let Some((mapped, chunks, rows)) = chunks {
                if let Some(values) = in_place::plain_doubles(mapped, &chunks[i], rows) {
                    return Ok(Read::InPlace(
                        chunks[i].descriptor().path_in_schema[0].to_string(),
                        values,
                    ));
                }
            }
            let mut reader = ParquetReader::new(&mut *file).with_projection(Some(vec![i]));
            reader.set_metadata(metadata.clone());
            let mut columns = reader.finish().map_err(polars)?.into_columns();
            Ok(Read::Decoded(columns.pop().expect("one column projected")))
        });
        Dataset::from_columns(columns, origin)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A disk with room for so many bytes more.
    pub(crate) struct Full(pub usize);

    impl std::io::Write for Full {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.0 < bytes.len() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device",
                ));
            }
            self.0 -= bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn dataset() -> Dataset {
        Dataset {
            timestamps: vec![0, 60, 120, 180],
            columns: vec![
                ("target".into(), vec![1.0, 2.0, 3.0, 4.0].into()),
                ("cpu".into(), vec![0.5, 0.25, 0.125, 1.0].into()),
            ],
            label: vec![4.0, 5.0, 6.0, 7.0].into(),
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

    /// A dataset's plain float columns are read in place from its file (one page each, the
    /// values 8-byte aligned wherever the columns before them ended); its other columns are
    /// decoded; every value reads back bit for bit, and polars' own reader reads the same file.
    /// A Parquet file polars wrote its own way (pages of 1 MiB, statistics) reads the same,
    /// decoded.
    #[test]
    fn plain_float_columns_are_read_in_place_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for n in [3000, 4001, 4103, 5009, 6011, 7013, 8017, 9029] {
            let few: Vec<f64> = (0..7 + n % 13).map(|k| k as f64 * 0.5).collect();
            let dataset = Dataset {
                timestamps: (0..n as i64).map(|i| 1_700_000_000 + 60 * i).collect(),
                columns: (0..6)
                    .map(|c| {
                        let values: Vec<f64> = match c % 2 {
                            0 => (0..n).map(|i| ((i * (c + 3)) as f64 * 0.37).sin() * 1e3).collect(),
                            _ => (0..n).map(|i| few[(i * (c + 1)) % few.len()]).collect(),
                        };
                        (format!("c{c}"), values.into())
                    })
                    .collect(),
                label: (0..n).map(|i| i as f64 / 7.0).collect(),
            };
            let path = dir.path().join(format!("d{n}.parquet"));
            std::fs::write(&path, dataset.to_parquet().unwrap()).unwrap();
            let (read, _) = read_file(&path).unwrap();
            let read = read.unwrap();
            assert_eq!(read, dataset, "{n} rows");
            for (name, values) in &read.columns {
                let plain = name == "c0" || name == "c2" || name == "c4";
                assert_eq!(values.is_mapped(), plain, "{n} rows, column {name}");
            }
            assert!(read.label.is_mapped(), "{n} rows, label");
            let decoded = Dataset::from_parquet(&std::fs::read(&path).unwrap(), "d.parquet").unwrap();
            assert_eq!(decoded, dataset);
        }

        let mut df = df!("timestamp" => [0i64, 60, 120], "x" => [1.0, 2.5, -3.0], "label" => [1.0, 2.0, 3.0]).unwrap();
        let path = dir.path().join("polars.parquet");
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let (read, _) = read_file(&path).unwrap();
        let read = read.unwrap();
        assert_eq!(&*read.label, [1.0, 2.0, 3.0]);
        assert_eq!(read.column("x").unwrap(), [1.0, 2.5, -3.0]);
    }

    /// A page header damaged in any byte (its statistics, sizes, encoding) gives an error or a
    /// decoded read, never a crash, and never values from outside the column's bytes: the
    /// mapped read trusts nothing the header says that the footer does not bound.
    #[test]
    fn a_damaged_page_header_is_an_error_or_a_read_never_a_crash() {
        let n = 4000;
        let dataset = Dataset {
            timestamps: (0..n as i64).map(|i| 1_700_000_000 + 60 * i).collect(),
            columns: vec![("noise".into(), (0..n).map(|i| (i as f64 * 1.7).sin()).collect())],
            label: (0..n).map(|i| i as f64).collect(),
        };
        let bytes = dataset.to_parquet().unwrap();
        let metadata = polars_parquet::parquet::read::read_metadata(&mut std::io::Cursor::new(&bytes)).unwrap();
        let chunk = &metadata.row_groups[0].parquet_columns()[1];
        let start = chunk.data_page_offset() as usize;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        let mut outcomes = (0, 0);
        for at in start..start + 48 {
            for damage in [0x00, 0xff, bytes[at].wrapping_add(1)] {
                let mut damaged = bytes.clone();
                damaged[at] = damage;
                std::fs::write(&path, &damaged).unwrap();
                match read_file(&path).unwrap().0 {
                    Ok(read) => {
                        assert_eq!(read.rows(), n, "byte {at} set to {damage:#x}");
                        outcomes.0 += 1;
                    }
                    Err(e) => {
                        assert!(e.to_string().starts_with(&path.display().to_string()), "{e}");
                        outcomes.1 += 1;
                    }
                }
            }
        }
        assert!(
            outcomes.0 > 0 && outcomes.1 > 0,
            "some damage is harmless, some is refused: {outcomes:?}"
        );
    }

    /// Each column is written for what it holds — the timestamps delta-encoded, a column of few
    /// distinct values as a dictionary (LZ4), any other plain and uncompressed — and every
    /// column reads back bit for bit (0.0 and -0.0 included); so does a dataset without rows.
    #[test]
    fn each_column_is_encoded_for_what_it_holds_and_reads_back_bit_for_bit() {
        use polars_parquet::parquet::compression::Compression;
        let n = 4000;
        let table: Vec<f64> = (0..100).map(|k| (k as f64 * 0.0628).sin()).collect();
        let dataset = Dataset {
            timestamps: (0..n as i64).map(|i| 1_700_000_000 + 60 * i).collect(),
            columns: vec![
                ("week_sin_1".into(), (0..n).map(|i| table[(i + 7) % 100]).collect()),
                ("noise".into(), (0..n).map(|i| (i as f64 * 1.7).sin() * 1e3).collect()),
                (
                    "zeros".into(),
                    (0..n).map(|i| if i % 3 == 0 { -0.0 } else { 0.0 }).collect(),
                ),
            ],
            label: (0..n).map(|i| i as f64 / 3.0).collect(),
        };
        let bytes = dataset.to_parquet().unwrap();
        let read = Dataset::from_parquet(&bytes, "d.parquet").unwrap();
        let bits = |d: &Dataset| -> Vec<Vec<u64>> {
            let mut columns: Vec<Vec<u64>> = d
                .columns
                .iter()
                .map(|(_, v)| v.iter().map(|x| x.to_bits()).collect())
                .collect();
            columns.push(d.label.iter().map(|x| x.to_bits()).collect());
            columns
        };
        assert_eq!(
            (read.feature_names(), &read.timestamps),
            (dataset.feature_names(), &dataset.timestamps)
        );
        assert_eq!(bits(&read), bits(&dataset));
        let metadata = polars_parquet::parquet::read::read_metadata(&mut std::io::Cursor::new(&bytes)).unwrap();
        let chunks = metadata.row_groups[0].parquet_columns();
        let written: Vec<(bool, Compression)> = chunks
            .iter()
            .map(|c| (c.dictionary_page_offset().is_some(), c.compression()))
            .collect();
        let (plain, dictionary) = ((false, Compression::Uncompressed), (true, Compression::Lz4Raw));
        assert_eq!(written, [plain, dictionary, plain, dictionary, plain]);
        assert!(
            chunks[0].compressed_size() < 200,
            "a grid's timestamps take a few bytes"
        );
        let empty = Dataset {
            timestamps: vec![],
            columns: vec![("a".into(), Vec::new().into())],
            label: Vec::new().into(),
        };
        assert_eq!(
            Dataset::from_parquet(&empty.to_parquet().unwrap(), "e.parquet").unwrap(),
            empty
        );
    }

    /// A write that fails (a full disk) is reported as that I/O error, naming the file.
    #[test]
    fn a_failed_write_is_reported_as_its_io_error_naming_the_file() {
        let why = dataset().write_parquet(Full(64), "out/dataset.parquet").unwrap_err();
        assert!(
            matches!(&why, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull),
            "{why:?}"
        );
        assert!(why.to_string().starts_with("out/dataset.parquet"), "{why}");
    }

    /// Columns fewer than their names are refused, naming the first without values, not written
    /// as a file whose footer and schema disagree.
    #[test]
    fn columns_fewer_than_their_names_are_refused() {
        let names = ["a".to_string(), "b".to_string()];
        let why = write_columns(
            vec![0, 60],
            &names,
            vec![vec![1.0, 2.0]],
            vec![3.0, 4.0],
            Vec::new(),
            "d",
        )
        .unwrap_err()
        .to_string();
        assert!(why.contains("no values for column `b`"), "{why}");
    }

    /// The dictionary is taken only for few distinct values: at most a quarter of the rows, at most
    /// [`DICTIONARY_VALUES`]; the indices follow the values in the order first met.
    #[test]
    fn a_dictionary_is_taken_only_for_few_distinct_values() {
        assert_eq!(
            dictionary(&[2.0, 1.0, 2.0, 2.0, 1.0, 2.0, 1.0, 1.0]),
            Some((vec![0, 1, 0, 0, 1, 0, 1, 1], vec![2.0, 1.0]))
        );
        assert_eq!(
            dictionary(&[1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0]),
            None,
            "3 distinct in 8 rows"
        );
        assert_eq!(
            dictionary(&[1.0, 1.0, 1.0]),
            None,
            "too few rows to pay for a dictionary"
        );
        let many: Vec<f64> = (0..4 * (DICTIONARY_VALUES + 1))
            .map(|i| (i % (DICTIONARY_VALUES + 1)) as f64)
            .collect();
        assert_eq!(dictionary(&many), None);
        let most: Vec<f64> = (0..4 * DICTIONARY_VALUES)
            .map(|i| (i % DICTIONARY_VALUES) as f64)
            .collect();
        assert_eq!(dictionary(&most).map(|(_, d)| d.len()), Some(DICTIONARY_VALUES));
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
        bad.columns[1].1.to_mut()[2] = f64::INFINITY;
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
