//! Time as mttd's documents and config write it: durations as people write them (`15m`, `14d`),
//! kept as the text they were given so that documents round-trip byte for byte, and instants as
//! RFC 3339 UTC seconds or Unix seconds.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest duration mttd accepts: 10 years.
const MAX_DURATION_SECONDS: i64 = 10 * 365 * 86_400;

/// A whole number of seconds written as `<n><unit>`, unit one of `s`, `m`, `h`, `d`, `w`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HumanDuration {
    text: String,
    seconds: i64,
}

impl HumanDuration {
    pub fn parse(text: &str) -> Result<Self, String> {
        let unit_at = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{text}` has no unit (expected e.g. 15m, 2h, 14d)"))?;
        let (number, unit) = text.split_at(unit_at);
        let n: i64 = number
            .parse()
            .map_err(|_| format!("`{text}` does not start with a whole number"))?;
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return Err(format!("`{text}` has unknown unit `{unit}` (expected s, m, h, d or w)")),
        };
        // Bounded: a longer duration is a typo, and would overflow the arithmetic on times.
        let seconds = n
            .checked_mul(scale)
            .filter(|&s| s <= MAX_DURATION_SECONDS)
            .ok_or_else(|| format!("`{text}` is longer than 10 years"))?;
        Ok(HumanDuration {
            text: text.to_string(),
            seconds,
        })
    }

    /// `seconds` (clamped to 0 ..= 10 years) in the largest unit that divides it: 540 → `9m`.
    pub fn from_seconds(seconds: i64) -> Self {
        let seconds = seconds.clamp(0, MAX_DURATION_SECONDS);
        let (unit, scale) = [("d", 86_400), ("h", 3600), ("m", 60)]
            .into_iter()
            .find(|&(_, scale)| seconds > 0 && seconds % scale == 0)
            .unwrap_or(("s", 1));
        HumanDuration {
            text: format!("{}{unit}", seconds / scale),
            seconds,
        }
    }

    pub fn seconds(&self) -> i64 {
        self.seconds
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        HumanDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(s|m|h|d|w)$",
            "description": "a whole number followed by a unit: s, m, h, d or w (e.g. 15m, 14d)"
        })
    }
}

/// `HumanDuration` literals for defaults in code.
pub fn dur(text: &str) -> HumanDuration {
    HumanDuration::parse(text).expect("a valid duration literal")
}

/// RFC 3339 (UTC, seconds) of a Unix time.
pub fn rfc3339(unix_seconds: i64) -> String {
    chrono::DateTime::from_timestamp(unix_seconds, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| unix_seconds.to_string())
}

/// Parses an RFC 3339 timestamp or whole Unix seconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some(t) = parse_utc_seconds(text.as_bytes()) {
        return Some(t);
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(seconds);
    }
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && seconds.fract() == 0.0 {
            return Some(seconds as i64);
        }
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp())
}

/// The common exact form `YYYY-MM-DDTHH:MM:SSZ`, parsed without a general parser (exports
/// hold millions of them); anything else returns `None` and goes to chrono.
fn parse_utc_seconds(b: &[u8]) -> Option<i64> {
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter()
            .try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as i64))
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if d < 1 || d > days_in_month || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The instants mttd accepts in data (1970-01-01 to 2200-01-01): anything outside is a sentinel
/// (9999-12-31) or a unit error (milliseconds read as seconds land in the year 57,000), and would
/// make a grid span millennia.
pub const PLAUSIBLE: std::ops::RangeInclusive<i64> = 0..=7_258_118_400;

/// The clock's now, as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    rfc3339(chrono::Utc::now().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_seconds_in_the_largest_exact_unit() {
        let text = |s: i64| HumanDuration::from_seconds(s).to_string();
        assert_eq!(
            [text(540), text(181), text(7200), text(86_400), text(0), text(-5)],
            ["9m", "181s", "2h", "1d", "0s", "0s"]
        );
        assert_eq!(HumanDuration::from_seconds(540), HumanDuration::parse("9m").unwrap());
    }

    #[test]
    fn parses_units() {
        assert_eq!(HumanDuration::parse("15m").unwrap().seconds(), 900);
        assert_eq!(HumanDuration::parse("2d").unwrap().seconds(), 172_800);
        assert!(HumanDuration::parse("15").is_err());
        assert!(HumanDuration::parse("m").is_err());
        assert!(HumanDuration::parse("3y").is_err());
        // Overflow and absurd lengths are refused, not wrapped (review: security L1).
        assert!(HumanDuration::parse("153722867280912931m").is_err());
        assert!(HumanDuration::parse("4611686018427387919m").is_err());
        assert!(HumanDuration::parse("3651d").is_err());
        assert_eq!(HumanDuration::parse("3650d").unwrap().seconds(), 315_360_000);
    }

    #[test]
    fn fast_timestamps_agree_with_chrono() {
        for text in [
            "1970-01-01T00:00:00Z",
            "1995-07-01T04:00:00Z",
            "2000-02-29T23:59:59Z",
            "2026-12-31T12:34:56Z",
            "1900-03-01T00:00:00Z",
        ] {
            let chrono = chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp();
            assert_eq!(parse_utc_seconds(text.as_bytes()), Some(chrono), "{text}");
        }
        assert_eq!(parse_utc_seconds(b"2026-02-30T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2026-01-05T01:00:00+01:00"), Some(1_767_571_200));
        assert_eq!(parse_timestamp("1767571200"), Some(1_767_571_200));
    }
}
