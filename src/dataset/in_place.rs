//! Float columns used in place from the dataset's file, not decoded into fresh memory.
//!
//! train and validate each read the whole dataset. Decoding a year of minutes copies ≈ 66 MB of
//! doubles into memory the process has just asked for, and on the VMs these steps run on fresh
//! memory is what costs (each page zeroed, and faulted in on the host when the guest had handed
//! it back: BENCHMARKS.md, issue 17). A plain, uncompressed column of doubles written as one
//! page is already the array the model reads; mapped, it is used where it lies, in the page cache
//! the writer left it in.
//!
//! Both sides of that are here:
//! - the writer ([`Position`], [`align`]) writes each plain float column as one page, and pads
//!   the page's header with truthful optional statistics (null count, minimum and maximum) so
//!   that the values start on an 8-byte boundary of the file — still a Parquet file any reader
//!   reads;
//! - the reader ([`plain_doubles`]) takes a column from the mapping only when everything it
//!   relies on holds — one row group, a required DOUBLE column, uncompressed, one PLAIN page
//!   holding every row, its values 8-byte aligned — and otherwise the caller decodes the
//!   column as any Parquet reader would. A file from elsewhere reads the same, only slower.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use polars_parquet::parquet::metadata::ColumnChunkMetadata;
use polars_parquet::parquet::page::{DataPage, DataPageHeader};
use polars_parquet::parquet::schema::types::PhysicalType;
use polars_parquet::parquet::schema::Repetition;
use polars_parquet::parquet::CowBuffer;
use polars_parquet_format::thrift::protocol::{TCompactInputProtocol, TCompactOutputProtocol};
use polars_parquet_format::{Encoding, PageHeader, PageType, Statistics};

/// A column's values: owned, or in place in the mapped file they were read from.
#[derive(Clone)]
pub struct Values(Storage);

#[derive(Clone)]
enum Storage {
    Owned(Vec<f64>),
    /// `len` doubles at byte `start` of the mapping, 8-byte aligned (checked when made).
    Mapped {
        file: Arc<memmap2::Mmap>,
        start: usize,
        len: usize,
    },
}

impl Values {
    /// The values as a vector of their own (copied when they are in place in a file).
    pub fn into_vec(self) -> Vec<f64> {
        match self.0 {
            Storage::Owned(values) => values,
            Storage::Mapped { .. } => self.to_vec(),
        }
    }

    /// The values to change, made a vector of their own first when they are in place in a file.
    pub fn to_mut(&mut self) -> &mut Vec<f64> {
        if let Storage::Mapped { .. } = self.0 {
            self.0 = Storage::Owned(self.to_vec());
        }
        match &mut self.0 {
            Storage::Owned(values) => values,
            Storage::Mapped { .. } => unreachable!("made owned above"),
        }
    }

    /// Whether the values are used in place from a file.
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self.0, Storage::Mapped { .. })
    }
}

impl Deref for Values {
    type Target = [f64];

    fn deref(&self) -> &[f64] {
        match &self.0 {
            Storage::Owned(values) => values,
            // SAFETY: `plain_doubles` made this range only after checking that it lies inside
            // the mapping, starts 8-byte aligned and holds `len` little-endian doubles (the
            // target is little-endian: see there); any bit pattern is a valid f64; the mapping
            // lives as long as this value holds its Arc. The file is one a step reads as its
            // input, written whole elsewhere and renamed into place, never written in place
            // (`contract::document::write_atomic_with`); see `map` for a file cut short by
            // someone else while mapped.
            Storage::Mapped { file, start, len } => unsafe {
                std::slice::from_raw_parts(file.as_ptr().add(*start).cast::<f64>(), *len)
            },
        }
    }
}

impl From<Vec<f64>> for Values {
    fn from(values: Vec<f64>) -> Self {
        Values(Storage::Owned(values))
    }
}

impl FromIterator<f64> for Values {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        Values(Storage::Owned(iter.into_iter().collect()))
    }
}

impl PartialEq for Values {
    fn eq(&self, other: &Values) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// The file mapped read-only, every page faulted in at once (`MAP_POPULATE`: the file was just
/// written or read, so its pages are in the page cache), or `None` when it cannot be mapped (the
/// caller then decodes every column).
///
/// A mapping reads the file as it is at each access: were someone to cut the file short while a
/// step holds it mapped, the step would be killed by SIGBUS rather than report an error. The steps
/// map only their input dataset, which nothing writes in place.
pub fn map(file: &std::fs::File) -> Option<Arc<memmap2::Mmap>> {
    if !cfg!(target_endian = "little") {
        return None;
    }
    // SAFETY: read-only; the file is not modified in place while mapped (above).
    unsafe { memmap2::MmapOptions::new().populate().map(file) }
        .ok()
        .map(Arc::new)
}

/// A column's values in place in `file` (the mapped Parquet file; `chunk`: the column's entry in
/// its footer), when they lie there as an aligned array of every row's double: one row group of `rows` rows,
/// a required DOUBLE column, uncompressed, without a dictionary, one PLAIN data page (V1) with
/// every row. `None` otherwise — the caller decodes the column.
pub fn plain_doubles(file: &Arc<memmap2::Mmap>, chunk: &ColumnChunkMetadata, rows: usize) -> Option<Values> {
    let descriptor = chunk.descriptor();
    let kind = &descriptor.descriptor.primitive_type;
    let flat = descriptor.path_in_schema.len() == 1
        && descriptor.descriptor.max_def_level == 0
        && descriptor.descriptor.max_rep_level == 0
        && kind.physical_type == PhysicalType::Double
        && kind.field_info.repetition == Repetition::Required;
    let plain = chunk.compression() == polars_parquet::parquet::compression::Compression::Uncompressed
        && chunk.dictionary_page_offset().is_none()
        && usize::try_from(chunk.num_values()).ok() == Some(rows);
    if !flat || !plain || rows == 0 {
        return None;
    }
    let start = usize::try_from(chunk.data_page_offset()).ok()?;
    let length = usize::try_from(chunk.compressed_size()).ok()?;
    let bytes = file.get(start..start.checked_add(length)?)?;
    let mut rest = bytes;
    // The header is read with at most the chunk's length to allocate.
    let header = PageHeader::read_from_in_protocol(&mut TCompactInputProtocol::new(&mut rest, length)).ok()?;
    let values_start = start + (length - rest.len());
    let values_len = rows.checked_mul(8)?;
    let page = header.data_page_header.as_ref()?;
    let one_plain_page = header.type_ == PageType::DATA_PAGE
        && page.encoding == Encoding::PLAIN
        && usize::try_from(page.num_values).ok() == Some(rows)
        && usize::try_from(header.compressed_page_size).ok() == Some(values_len)
        && usize::try_from(header.uncompressed_page_size).ok() == Some(values_len)
        && rest.len() == values_len;
    let aligned = (file.as_ptr() as usize + values_start).is_multiple_of(std::mem::align_of::<f64>());
    (one_plain_page && aligned).then(|| {
        Values(Storage::Mapped {
            file: file.clone(),
            start: values_start,
            len: rows,
        })
    })
}

/// Where the writer is in the file: the bytes written so far, counted by a [`Counting`] writer
/// and read by [`align`] when the writer asks for a page — which it writes next, at that offset.
#[derive(Clone, Default)]
pub struct Position(Arc<AtomicU64>);

impl Position {
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A writer counting the bytes that pass into [`Position`].
pub struct Counting<W> {
    pub inner: W,
    pub position: Position,
}

impl<W: std::io::Write> std::io::Write for Counting<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(bytes)?;
        self.position.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The uncompressed PLAIN data page `page` of a column of doubles, its header given the
/// statistics that make the values start 8-byte aligned when the page is written at `at`: the
/// first, in a fixed order, of the truthful choices (none; an empty set; the null count, 0; the
/// minimum and maximum, with or without their "exact" flags, and in their older fields too).
/// Any other page, or a page no choice aligns (none is missing one of the eight remainders;
/// a test checks), is returned as it was.
pub fn align(page: DataPage, at: &Position) -> DataPage {
    let DataPageHeader::V1(mut header) = page.header().clone() else {
        return page;
    };
    if header.encoding != Encoding::PLAIN || header.statistics.is_some() {
        return page;
    }
    // Only a page of values alone (a required column: no levels before them).
    if usize::try_from(header.num_values).ok().and_then(|n| n.checked_mul(8)) != Some(page.buffer().len()) {
        return page;
    }
    let at = at.get();
    let size = i32::try_from(page.buffer().len()).unwrap_or(i32::MAX);
    let Some(statistics) = choices(page.buffer()).find(|statistics| {
        header.statistics = statistics.clone();
        (at + header_length(&header, size)).is_multiple_of(8)
    }) else {
        return page;
    };
    header.statistics = statistics;
    let mut page = page;
    let buffer = std::mem::take(page.buffer_mut());
    DataPage::new(
        DataPageHeader::V1(header),
        CowBuffer::Owned(buffer),
        page.descriptor,
        page.num_rows.unwrap_or(0),
    )
}

/// The length of the header the Parquet writer writes before a V1 data page of `size` bytes,
/// uncompressed (`polars_parquet::write::page::assemble_data_page_header`).
fn header_length(page: &polars_parquet_format::DataPageHeader, size: i32) -> u64 {
    let header = PageHeader {
        type_: PageType::DATA_PAGE,
        uncompressed_page_size: size,
        compressed_page_size: size,
        crc: None,
        data_page_header: Some(page.clone()),
        index_page_header: None,
        dictionary_page_header: None,
        data_page_header_v2: None,
    };
    let mut sink = std::io::sink();
    header
        .write_to_out_protocol(&mut TCompactOutputProtocol::new(&mut sink))
        .map_or(0, |n| n as u64)
}

/// The truthful statistics a page of `values` may carry, in the order tried: their encoded
/// lengths step by 1, 2 and 10 bytes, which together reach every remainder modulo 8.
fn choices(values: &[u8]) -> impl Iterator<Item = Option<Statistics>> + '_ {
    // Found only when a choice needs them (three remainders of eight do not).
    let bounds = std::cell::OnceCell::new();
    // Bits: 0 any statistics, 1 null count, 2 min_value/max_value, 3 both exact, 4 max exact
    // only, 5 the older min/max fields.
    (0u32..64).filter_map(move |bits| {
        let has = |b: u32| bits & (1 << b) != 0;
        let valued = has(2) || has(5);
        if (bits != 0 && !has(0)) || (has(3) && has(4)) || ((has(3) || has(4)) && !has(2)) {
            return None;
        }
        let (min, max) = match valued {
            true => {
                let (min, max) = bounds.get_or_init(|| bounds_of(values)).as_ref()?;
                (
                    Some(f64::to_le_bytes(*min).to_vec()),
                    Some(f64::to_le_bytes(*max).to_vec()),
                )
            }
            false => (None, None),
        };
        Some(has(0).then(|| Statistics {
            null_count: has(1).then_some(0),
            distinct_count: None,
            max_value: if has(2) { max.clone() } else { None },
            min_value: if has(2) { min.clone() } else { None },
            is_max_value_exact: (has(3) || has(4)).then_some(true),
            is_min_value_exact: has(3).then_some(true),
            max: if has(5) { max } else { None },
            min: if has(5) { min } else { None },
        }))
    })
}

/// The minimum and maximum of little-endian doubles as Parquet writes them for floating point
/// (a zero minimum as -0.0, a zero maximum as +0.0); none when a value is NaN, or there is none.
/// Four lanes, compared as the processor's min and max instructions compare (vectorised).
fn bounds_of(values: &[u8]) -> Option<(f64, f64)> {
    let (mut lo, mut hi, mut nan) = ([f64::INFINITY; 4], [f64::NEG_INFINITY; 4], false);
    /// One value into a lane's minimum and maximum.
    #[inline(always)]
    fn take(bytes: &[u8], lo: &mut f64, hi: &mut f64, nan: &mut bool) {
        let v = f64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        *nan |= v.is_nan();
        *lo = if v < *lo { v } else { *lo };
        *hi = if v > *hi { v } else { *hi };
    }
    let mut lanes = values.chunks_exact(32);
    for chunk in &mut lanes {
        for j in 0..4 {
            take(&chunk[8 * j..8 * j + 8], &mut lo[j], &mut hi[j], &mut nan);
        }
    }
    for bytes in lanes.remainder().chunks_exact(8) {
        take(bytes, &mut lo[0], &mut hi[0], &mut nan);
    }
    let (min, max) = (
        lo.into_iter().fold(f64::INFINITY, f64::min),
        hi.into_iter().fold(f64::NEG_INFINITY, f64::max),
    );
    (!nan && min <= max).then_some((if min == 0.0 { -0.0 } else { min }, if max == 0.0 { 0.0 } else { max }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_page(values: Vec<f64>) -> DataPage {
        use polars_arrow::array::PrimitiveArray;
        use polars_arrow::datatypes::{ArrowDataType, Field};
        use polars_parquet::parquet::page::Page;
        use polars_parquet::write::{CompressionOptions, Encoding, StatisticsOptions, Version, WriteOptions};
        let field = Field::new("x".into(), ArrowDataType::Float64, false);
        let options = WriteOptions {
            statistics: StatisticsOptions::empty(),
            version: Version::V1,
            compression: CompressionOptions::Uncompressed,
            data_page_size: None,
        };
        let type_ = polars_parquet::write::to_parquet_type(&field).unwrap();
        let array: Box<dyn polars_arrow::array::Array> = Box::new(PrimitiveArray::from_vec(values));
        let mut leaves = polars_parquet::write::array_to_columns(array, type_, options, &[Encoding::Plain]).unwrap();
        match leaves.pop().unwrap().next().unwrap().unwrap() {
            Page::Data(page) => page,
            Page::Dict(_) => panic!("a plain column has no dictionary"),
        }
    }

    fn written_at(page: &DataPage) -> u64 {
        let DataPageHeader::V1(header) = page.header() else {
            panic!("V1")
        };
        header_length(header, page.buffer().len() as i32)
    }

    /// Wherever the page starts, its header can be made to end on an 8-byte boundary — with
    /// zeros among the values (written as -0.0 and +0.0) and without — and the values are left
    /// as they were; statistics that could not be truthful (a NaN) are never offered.
    #[test]
    fn every_start_of_a_page_gets_its_values_aligned() {
        for values in [vec![1.5, -2.0, 0.0, 7.25], vec![3.0; 5], vec![0.0, -0.0]] {
            let page = plain_page(values.clone());
            for at in 0..8 {
                let aligned = align(page.clone(), &Position(Arc::new(AtomicU64::new(at))));
                assert_eq!((at + written_at(&aligned)) % 8, 0, "{values:?} at {at}");
                assert_eq!(aligned.buffer(), page.buffer());
                if let Some(Ok(statistics)) = aligned.statistics() {
                    let statistics = statistics.expect_as_double();
                    let (min, max) = (statistics.min_value, statistics.max_value);
                    assert!(min.is_none_or(|m| values.iter().all(|v| m <= *v)));
                    assert!(max.is_none_or(|m| values.iter().all(|v| m >= *v)));
                    assert_eq!(statistics.null_count.unwrap_or(0), 0);
                }
            }
        }
        let bytes = |values: &[f64]| values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        let with_nan = bytes(&[1.0, f64::NAN, 2.0, 3.0, 4.0, 5.0]);
        let offered: Vec<_> = choices(&with_nan).collect();
        assert!(offered
            .iter()
            .flatten()
            .all(|s| s.max_value.is_none() && s.max.is_none()));
        assert!(offered.len() < choices(&bytes(&[1.0])).count());
        let values = [3.0, -7.5, 0.25, 9.0, -0.0, 4.0, 8.5, -2.0, 11.0];
        assert_eq!(
            bounds_of(&bytes(&values)),
            Some((-7.5, 11.0)),
            "the remainder's lanes too"
        );
        let zeros = bounds_of(&bytes(&[0.0, 0.0, -0.0, 0.0, 0.0])).map(|(a, b)| (a.to_bits(), b.to_bits()));
        assert_eq!(zeros, Some(((-0.0f64).to_bits(), 0.0f64.to_bits())));
    }
}
