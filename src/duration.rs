//! Durations as people write them in config (`15m`, `14d`), kept as the text they were given so
//! that documents round-trip byte for byte.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
        Ok(HumanDuration {
            text: text.to_string(),
            seconds: n * scale,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(HumanDuration::parse("15m").unwrap().seconds(), 900);
        assert_eq!(HumanDuration::parse("2d").unwrap().seconds(), 172_800);
        assert!(HumanDuration::parse("15").is_err());
        assert!(HumanDuration::parse("m").is_err());
        assert!(HumanDuration::parse("3y").is_err());
    }
}
