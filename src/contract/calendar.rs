//! The workload's calendar (`calendar:` of the config): holidays, a feature of the forecast
//! time, and declared events — launches, campaigns, sales — with an expected uplift and a
//! replica window that the forecast step and the replay apply to the floor. Used by
//! `crate::features` and `crate::policy`.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::time::parse_timestamp;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarConfig {
    /// Days (UTC) that are holidays where the workload's users are: the feature
    /// `calendar_holiday` is 1 when the forecast time falls on one. Supply your countries' or
    /// sites' holidays; the model learns their effect from the ones in its training data.
    pub holidays: Vec<Holiday>,
    /// Declared events, in force from `start` to `end`.
    pub events: Vec<DeclaredEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub date: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// An event the forecast cannot know from history. At a forecast whose target time falls in
/// [start, end): the forecast (point and interval) is multiplied by 1 + `uplift`, then the floor
/// is kept within [`min_replicas`, `max_replicas`] (within the capacity's own bounds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclaredEvent {
    pub name: String,
    /// RFC 3339.
    pub start: String,
    /// RFC 3339, after `start`.
    pub end: String,
    /// Expected change of demand, a fraction: 0.5 is +50%, -0.3 is −30%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1.0, max = 100.0))]
    pub uplift: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<u32>,
}

impl CalendarConfig {
    /// Its days and events as plot markers: (Unix time, label) — a holiday at its midnight
    /// (UTC), an event at its start and its end.
    pub fn markers(&self) -> Vec<(i64, String)> {
        let mut markers: Vec<(i64, String)> = self
            .holidays
            .iter()
            .filter_map(|h| {
                let day = chrono::NaiveDate::parse_from_str(&h.date, "%Y-%m-%d").ok()?;
                Some((
                    day.and_hms_opt(0, 0, 0)?.and_utc().timestamp(),
                    format!("holiday: {}", h.name),
                ))
            })
            .collect();
        for e in &self.events {
            if let (Some(start), Some(end)) = (parse_timestamp(&e.start), parse_timestamp(&e.end)) {
                markers.push((start, format!("{} starts", e.name)));
                markers.push((end, format!("{} ends", e.name)));
            }
        }
        markers.sort();
        markers
    }

    /// Checks what the schema cannot; `origin` names the config file.
    pub fn check(&self, origin: &str) -> Result<()> {
        for (i, h) in self.holidays.iter().enumerate() {
            if chrono::NaiveDate::parse_from_str(&h.date, "%Y-%m-%d").is_err() {
                return Err(Error::field(
                    origin,
                    format!("/calendar/holidays/{i}/date"),
                    format!("`{}` is not a date (YYYY-MM-DD)", h.date),
                ));
            }
        }
        for (i, e) in self.events.iter().enumerate() {
            let field = |name: &str| format!("/calendar/events/{i}/{name}");
            let time = |text: &str, name: &str| {
                parse_timestamp(text)
                    .ok_or_else(|| Error::field(origin, field(name), format!("`{text}` is not an RFC 3339 time")))
            };
            let (start, end) = (time(&e.start, "start")?, time(&e.end, "end")?);
            if end <= start {
                return Err(Error::field(
                    origin,
                    field("end"),
                    format!("{} is not after start {}", e.end, e.start),
                ));
            }
            if let (Some(lo), Some(hi)) = (e.min_replicas, e.max_replicas) {
                if lo > hi {
                    return Err(Error::field(
                        origin,
                        field("min_replicas"),
                        format!("{lo} is more than max_replicas {hi}"),
                    ));
                }
            }
            if e.uplift.is_some_and(|u| !u.is_finite() || u < -1.0) {
                return Err(Error::field(origin, field("uplift"), "must be a number ≥ -1"));
            }
        }
        Ok(())
    }

    /// The holidays as UTC day numbers (Unix days).
    pub fn holiday_days(&self) -> BTreeSet<i64> {
        self.holidays
            .iter()
            .filter_map(|h| chrono::NaiveDate::parse_from_str(&h.date, "%Y-%m-%d").ok())
            .map(|d| {
                d.and_hms_opt(0, 0, 0)
                    .expect("midnight")
                    .and_utc()
                    .timestamp()
                    .div_euclid(86_400)
            })
            .collect()
    }

    /// The events in force at `t` (Unix seconds).
    pub fn events_at(&self, t: i64) -> Vec<&DeclaredEvent> {
        self.events
            .iter()
            .filter(|e| {
                matches!((parse_timestamp(&e.start), parse_timestamp(&e.end)), (Some(s), Some(end)) if s <= t && t < end)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar(yaml: &str) -> CalendarConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn events_are_in_force_from_start_to_end_and_holidays_are_days() {
        let c = calendar(
            "holidays:\n- {date: 2026-12-25, name: christmas}\nevents:\n- {name: sale, start: 2026-11-27T00:00:00Z, end: 2026-11-28T00:00:00Z, uplift: 0.5}\n",
        );
        c.check("w.yaml").unwrap();
        let t = parse_timestamp("2026-11-27T00:00:00Z").unwrap();
        assert_eq!(c.events_at(t).len(), 1);
        assert_eq!(c.events_at(t + 86_399).len(), 1);
        assert!(c.events_at(t + 86_400).is_empty(), "end excluded");
        assert!(c.events_at(t - 1).is_empty());
        let christmas = parse_timestamp("2026-12-25T13:00:00Z").unwrap().div_euclid(86_400);
        assert_eq!(c.holiday_days().into_iter().collect::<Vec<_>>(), vec![christmas]);
    }

    #[test]
    fn bad_dates_windows_and_uplifts_name_the_field() {
        let error = |yaml: &str| calendar(yaml).check("w.yaml").unwrap_err().to_string();
        assert!(error("holidays:\n- {date: 2026-02-30}\n").contains("/calendar/holidays/0/date"));
        let window = "events:\n- {name: a, start: 2026-01-02T00:00:00Z, end: 2026-01-01T00:00:00Z}\n";
        assert!(error(window).contains("/calendar/events/0/end"));
        let bounds = "events:\n- {name: a, start: 2026-01-01T00:00:00Z, end: 2026-01-02T00:00:00Z, min_replicas: 9, max_replicas: 3}\n";
        assert!(error(bounds).contains("/calendar/events/0/min_replicas"));
        let uplift = "events:\n- {name: a, start: 2026-01-01T00:00:00Z, end: 2026-01-02T00:00:00Z, uplift: -2}\n";
        assert!(error(uplift).contains("/calendar/events/0/uplift"));
    }
}
