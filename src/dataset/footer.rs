//! A structural check of a Parquet file's footer before polars reads it.
//!
//! polars-parquet 0.55 decodes the footer by field id, trusting each known field to have the
//! type the Parquet format gives it, and sizes its vectors from the Thrift list headers before it
//! reads the elements (`Vec::with_capacity(list.size)`). So a 1 KB file whose footer declares a
//! list of billions of elements — or a field of another type where a list belongs — makes it
//! allocate hundreds of GB, and a failed allocation aborts the process: no panic boundary can
//! catch it (found by fuzzing, `fuzz/regressions/parquet_source/`).
//!
//! This walks the footer as polars will, without building anything, and refuses it unless every
//! field the format defines has the format's type, and every list and binary fits in the bytes
//! that remain (each list element takes at least one byte). What polars then sizes is bounded by
//! the footer's length.
//!
//! Followed: Thrift's compact protocol (`doc/specs/thrift-compact-protocol.md` in apache/thrift:
//! field headers with a delta or a zigzag id, ULEB128 varints, list headers with a size nibble,
//! 15 meaning the size follows as a varint) and the field types of `parquet.thrift`
//! (apache/parquet-format) for the structures polars reads.

/// Deeper than any Parquet footer nests; polars' own skipping stops at 64 too.
const MAX_DEPTH: usize = 64;

/// A Thrift type as `parquet.thrift` declares a field.
#[derive(Clone, Copy)]
enum Type {
    Bool,
    Byte,
    I16,
    I32,
    I64,
    Double,
    Binary,
    /// A list of this element type; `None` where the field is unknown and the list header says.
    List(Option<&'static Type>),
    /// A structure (or union) with these known fields; others are skipped by their own type.
    Struct(&'static [(i16, Type)]),
}

const EMPTY: Type = Type::Struct(&[]);
const TIME_UNIT: Type = Type::Struct(&[(1, EMPTY), (2, EMPTY), (3, EMPTY)]);
const LOGICAL_TYPE: Type = Type::Struct(&[
    (1, EMPTY),
    (2, EMPTY),
    (3, EMPTY),
    (4, EMPTY),
    (5, Type::Struct(&[(1, Type::I32), (2, Type::I32)])),
    (6, EMPTY),
    (7, Type::Struct(&[(1, Type::Bool), (2, TIME_UNIT)])),
    (8, Type::Struct(&[(1, Type::Bool), (2, TIME_UNIT)])),
    (10, Type::Struct(&[(1, Type::Byte), (2, Type::Bool)])),
    (11, EMPTY),
    (12, EMPTY),
    (13, EMPTY),
    (14, EMPTY),
    (15, EMPTY),
]);
const SCHEMA_ELEMENT: Type = Type::Struct(&[
    (1, Type::I32),
    (2, Type::I32),
    (3, Type::I32),
    (4, Type::Binary),
    (5, Type::I32),
    (6, Type::I32),
    (7, Type::I32),
    (8, Type::I32),
    (9, Type::I32),
    (10, LOGICAL_TYPE),
]);
const STATISTICS: Type = Type::Struct(&[
    (1, Type::Binary),
    (2, Type::Binary),
    (3, Type::I64),
    (4, Type::I64),
    (5, Type::Binary),
    (6, Type::Binary),
    (7, Type::Bool),
    (8, Type::Bool),
]);
const KEY_VALUE: Type = Type::Struct(&[(1, Type::Binary), (2, Type::Binary)]);
const COLUMN_META_DATA: Type = Type::Struct(&[
    (1, Type::I32),
    (2, Type::List(Some(&Type::I32))),
    (3, Type::List(Some(&Type::Binary))),
    (4, Type::I32),
    (5, Type::I64),
    (6, Type::I64),
    (7, Type::I64),
    (8, Type::List(Some(&KEY_VALUE))),
    (9, Type::I64),
    (10, Type::I64),
    (11, Type::I64),
    (12, STATISTICS),
    (14, Type::I64),
    (15, Type::I32),
]);
const COLUMN_CHUNK: Type = Type::Struct(&[
    (1, Type::Binary),
    (2, Type::I64),
    (3, COLUMN_META_DATA),
    (4, Type::I64),
    (5, Type::I32),
    (6, Type::I64),
    (7, Type::I32),
]);
const SORTING_COLUMN: Type = Type::Struct(&[(1, Type::I32), (2, Type::Bool), (3, Type::Bool)]);
const ROW_GROUP: Type = Type::Struct(&[
    (1, Type::List(Some(&COLUMN_CHUNK))),
    (2, Type::I64),
    (3, Type::I64),
    (4, Type::List(Some(&SORTING_COLUMN))),
    (5, Type::I64),
    (6, Type::I64),
    (7, Type::I16),
]);
const FILE_META_DATA: &[(i16, Type)] = &[
    (1, Type::I32),
    (2, Type::List(Some(&SCHEMA_ELEMENT))),
    (3, Type::I64),
    (4, Type::List(Some(&ROW_GROUP))),
    (5, Type::List(Some(&KEY_VALUE))),
    (6, Type::Binary),
    (7, Type::List(Some(&Type::Struct(&[(1, EMPTY), (2, EMPTY)])))),
];

/// Checks `bytes` (a whole Parquet file) and says why its footer cannot be read safely.
pub fn check(bytes: &[u8]) -> Result<(), String> {
    check_with(bytes.len() as u64, |at, n| {
        Ok(bytes[at as usize..at as usize + n].to_vec())
    })
}

/// Checks the footer of a Parquet file on disk, reading only its first bytes and its footer.
pub fn check_file(file: &std::fs::File) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let len = file
        .metadata()
        .map_err(|e| format!("its size cannot be read ({e})"))?
        .len();
    check_with(len, |at, n| {
        let mut buf = vec![0; n];
        file.read_exact_at(&mut buf, at)
            .map_err(|e| format!("{n} bytes at {at} cannot be read ({e})"))?;
        Ok(buf)
    })
}

/// The check, on a file of `len` bytes whose parts `read(at, n)` gives.
fn check_with(len: u64, read: impl Fn(u64, usize) -> Result<Vec<u8>, String>) -> Result<(), String> {
    const MAGIC: &[u8] = b"PAR1";
    if len < 12 || read(0, 4)? != MAGIC || read(len - 4, 4)? != MAGIC {
        return Err("it does not start and end with PAR1".into());
    }
    let length_at = len - 8;
    let declared = u32::from_le_bytes(read(length_at, 4)?.try_into().expect("4 bytes")) as u64;
    if declared > length_at - 4 {
        return Err(format!(
            "its footer declares {declared} bytes, more than the {} the file has",
            length_at - 4
        ));
    }
    let footer = read(length_at - declared, declared as usize)?;
    let mut walker = Walker { bytes: &footer, at: 0 };
    walker
        .structure(FILE_META_DATA, 0)
        .map_err(|why| format!("its footer is malformed at byte {} of {declared}: {why}", walker.at))
}

struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Walker<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.at).ok_or("it ends inside a value")?;
        self.at += 1;
        Ok(b)
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.remaining() as u64 {
            return Err(format!("a value of {n} bytes where {} remain", self.remaining()));
        }
        self.at += n as usize;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift.min(63);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than 10 bytes".into())
    }

    fn structure(&mut self, fields: &'static [(i16, Type)], depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("structures nested deeper than {MAX_DEPTH}"));
        }
        let mut last_id = 0i16;
        loop {
            let header = self.byte()?;
            let code = header & 0x0f;
            if code == 0 {
                return Ok(()); // stop
            }
            let id = match header >> 4 {
                0 => {
                    let zigzag = self.varint()?;
                    ((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64)) as i16
                }
                delta => last_id.checked_add(i16::from(delta)).ok_or("a field id beyond 32767")?,
            };
            last_id = id;
            let declared = declared(code)?;
            match fields.iter().find(|(known, _)| *known == id) {
                Some((_, expected)) if !matches(*expected, code) => {
                    return Err(format!(
                        "field {id} has type code {code}, not the format's {}",
                        name(*expected)
                    ));
                }
                Some((_, expected)) => self.field(*expected, depth)?,
                None => self.field(declared, depth)?,
            }
        }
    }

    /// A field's value: a boolean field's value is in its header.
    fn field(&mut self, kind: Type, depth: usize) -> Result<(), String> {
        match kind {
            Type::Bool => Ok(()),
            other => self.value(other, depth),
        }
    }

    fn value(&mut self, kind: Type, depth: usize) -> Result<(), String> {
        match kind {
            Type::Bool | Type::Byte => self.skip(1),
            Type::I16 | Type::I32 | Type::I64 => self.varint().map(drop),
            Type::Double => self.skip(8),
            Type::Binary => {
                let length = self.varint()?;
                self.skip(length)
            }
            Type::List(element) => {
                let header = self.byte()?;
                let count = match header >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                if count == 0 {
                    return Ok(());
                }
                let code = header & 0x0f;
                let element = match element {
                    Some(expected) if !matches(*expected, code) => {
                        return Err(format!("a list of type code {code}, not of {}", name(*expected)));
                    }
                    Some(expected) => *expected,
                    None => declared(code)?,
                };
                if is_bool(element) {
                    // polars skips a boolean element without reading its byte; no list in the
                    // format holds booleans, so one here is refused rather than read two ways.
                    return Err("a list of booleans".into());
                }
                if count > self.remaining() as u64 {
                    return Err(format!("a list of {count} elements in {} bytes", self.remaining()));
                }
                for _ in 0..count {
                    self.value(element, depth + 1)?;
                }
                Ok(())
            }
            Type::Struct(fields) => self.structure(fields, depth + 1),
        }
    }
}

fn is_bool(kind: Type) -> bool {
    matches!(kind, Type::Bool)
}

/// Whether a header's type code is `kind`'s in the compact protocol (a boolean: 1 true, 2 false).
fn matches(kind: Type, code: u8) -> bool {
    code == match kind {
        Type::Bool if code == 2 => 2,
        Type::Bool => 1,
        Type::Byte => 3,
        Type::I16 => 4,
        Type::I32 => 5,
        Type::I64 => 6,
        Type::Double => 7,
        Type::Binary => 8,
        Type::List(_) => 9,
        Type::Struct(_) => 12,
    }
}

/// The type a field or list header declares, for what the format does not name.
fn declared(code: u8) -> Result<Type, String> {
    Ok(match code {
        1 | 2 => Type::Bool,
        3 => Type::Byte,
        4 => Type::I16,
        5 => Type::I32,
        6 => Type::I64,
        7 => Type::Double,
        8 => Type::Binary,
        9 => Type::List(None),
        12 => EMPTY,
        other => return Err(format!("type code {other}, which no Parquet footer holds")),
    })
}

fn name(kind: Type) -> &'static str {
    match kind {
        Type::Bool => "bool",
        Type::Byte => "byte",
        Type::I16 => "i16",
        Type::I32 => "i32",
        Type::I64 => "i64",
        Type::Double => "double",
        Type::Binary => "binary",
        Type::List(_) => "list",
        Type::Struct(_) => "struct",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file around `footer`: magic, footer, its length, magic.
    fn file(footer: &[u8]) -> Vec<u8> {
        let mut bytes = b"PAR1".to_vec();
        bytes.extend_from_slice(footer);
        bytes.extend_from_slice(&(footer.len() as u32).to_le_bytes());
        bytes.extend_from_slice(b"PAR1");
        bytes
    }

    #[test]
    fn a_footer_mttd_writes_passes() {
        let dataset = crate::dataset::Dataset {
            timestamps: vec![0, 60, 120],
            columns: vec![("cpu".into(), vec![1.0, 2.0, 3.0].into())],
            label: vec![4.0, 5.0, 6.0].into(),
        };
        check(&dataset.to_parquet().unwrap()).unwrap();
    }

    #[test]
    fn a_list_longer_than_its_footer_is_refused() {
        // field 2 (the schema), a list (9) of structures (12) whose size (15: a varint follows)
        // is 2^31 - 1.
        let footer = [0x29, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
        let why = check(&file(&footer)).unwrap_err();
        assert!(why.contains("a list of 2147483647 elements in 1 bytes"), "{why}");
    }

    #[test]
    fn a_known_field_of_another_type_is_refused() {
        // field 1 (version, an i32) declared as a list: polars would read it as an i32 and
        // misread everything after; field 2 (the schema) declared as an i64.
        let why = check(&file(&[0x19, 0x00, 0x00])).unwrap_err();
        assert!(why.contains("field 1 has type code 9, not the format's i32"), "{why}");
        let why = check(&file(&[0x26, 0x02, 0x00])).unwrap_err();
        assert!(why.contains("field 2 has type code 6, not the format's list"), "{why}");
        // the schema as a list of i32s rather than of structures
        let why = check(&file(&[0x29, 0x15, 0x02, 0x00])).unwrap_err();
        assert!(why.contains("a list of type code 5, not of struct"), "{why}");
    }

    #[test]
    fn unknown_fields_of_every_type_are_skipped() {
        // version 1; then unknown fields from id 20 (a full zigzag id): an i32, a binary "ab",
        // a list of two i64s, a structure holding a double and a true field, a byte; stop.
        let footer = [
            0x15, 0x02, 0x05, 0x28, 0x04, 0x18, 0x02, b'a', b'b', 0x19, 0x26, 0x02, 0x04, 0x1c, 0x17, 0, 0, 0, 0, 0, 0,
            0xf0, 0x3f, 0x11, 0x00, 0x13, 0x07, 0x00,
        ];
        check(&file(&footer)).unwrap();
    }

    #[test]
    fn truncations_and_bad_lengths_are_refused() {
        assert!(check(b"PAR1PAR1").is_err());
        assert!(check(&file(&[0x15])).unwrap_err().contains("ends inside a value"));
        assert!(check(&file(&[0x68, 0x05, b'a', 0x00]))
            .unwrap_err()
            .contains("a value of 5 bytes"));
        assert!(check(&file(&[0x89, 0x31, 1, 1, 1, 0x00]))
            .unwrap_err()
            .contains("a list of booleans"));
        let mut lying = file(&[0x00]);
        let at = lying.len() - 8;
        lying[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(check(&lying).unwrap_err().contains("declares 1000 bytes"));
        let deep: Vec<u8> = std::iter::repeat_n(0x9c, 100).collect();
        assert!(check(&file(&deep)).unwrap_err().contains("nested deeper"));
    }
}
