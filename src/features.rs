//! Feature extraction: raw series → a regular grid (short gaps filled forward, long gaps left
//! missing and counted) → one row per grid timestamp with lags, rolling statistics, seasonal
//! lags at the forecast time, calendar terms, the other signals, and the label.
//!
//! The work is index arithmetic on a regular grid, done in plain loops: each value's definition
//! is exact (a rolling window is valid only when all its points are present), and it avoids
//! polars' rolling/dynamic-window features, which add minutes to every build. polars writes the
//! result as Parquet (see `dataset`).
//!
//! Calendar terms are Fourier pairs (sin/cos of hour-of-day, harmonics 1–3, and of
//! day-of-week, harmonics 1–2) of the *forecast* time: 10 smooth columns instead of 31 one-hot
//! ones, no jump at midnight, and a linear model can still shape a daily and weekly profile.

use std::f64::consts::TAU;
use std::sync::Arc;

use crate::contract::capacity::SettingSource;
use crate::contract::dataset::{DatasetManifest, FeatureDefinition, Gap, GapReport, LabelDefinition, LabelKind};
use crate::contract::interval::Interval;
use crate::contract::source::SourceRecord;
use crate::contract::workload::WorkloadConfig;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::source::{RawSeries, SourceDescription};
use crate::time::rfc3339;

const MAX_LISTED_GAPS: usize = 1000;
/// The largest grid a dataset may have: 19 years of 1-minute rows.
const MAX_GRID_ROWS: usize = 10_000_000;

/// One series on the grid; NaN where missing after filling. Every sample is finite and an average
/// of finite samples is finite or infinite, never NaN, so NaN means missing and nothing else:
/// half the memory of `Option<f64>` for a year of minutes.
struct GridSeries {
    values: Vec<f64>,
}

/// A grid value, `None` where missing.
fn present(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

/// Puts samples on the grid (slot = floor(t / step) · step; several in one slot are averaged),
/// fills gaps no longer than `fill_limit_steps` with the last value, and reports the gaps.
fn to_grid(
    samples: &[(i64, f64)],
    start: i64,
    step: i64,
    n: usize,
    fill_limit_steps: usize,
    name: &str,
    gaps: &mut Vec<Gap>,
) -> GridSeries {
    let mut sums = vec![0.0; n];
    let mut counts = vec![0u32; n];
    for &(t, v) in samples {
        let slot = t.div_euclid(step) * step;
        if slot < start {
            continue;
        }
        let i = ((slot - start) / step) as usize;
        if i < n {
            sums[i] += v;
            counts[i] += 1;
        }
    }
    let mut values = sums;
    for (v, &c) in values.iter_mut().zip(&counts) {
        *v = if c > 0 { *v / c as f64 } else { f64::NAN };
    }
    drop(counts);
    let mut i = 0;
    while i < n {
        if !values[i].is_nan() {
            i += 1;
            continue;
        }
        let gap_start = i;
        while i < n && values[i].is_nan() {
            i += 1;
        }
        let len = i - gap_start;
        // A gap before the first sample of this series cannot be filled forward.
        let filled = gap_start > 0 && len <= fill_limit_steps && i < n;
        if filled {
            let last = values[gap_start - 1];
            for v in &mut values[gap_start..i] {
                *v = last;
            }
        }
        gaps.push(Gap {
            series: name.to_string(),
            start: rfc3339(start + gap_start as i64 * step),
            intervals: len as u64,
            filled,
        });
    }
    GridSeries { values }
}

/// A feature: its name, definition and values. Values are found on demand, kind by kind in
/// plain loops, so only the kept rows are ever materialised.
struct Feature {
    name: String,
    definition: String,
    values: Values,
}

/// How a feature's value at a grid index is found.
enum Values {
    /// The target `back` steps before index i + `ahead`: missing before the grid or where the
    /// target is missing. Holds the target's grid, which is freed with its last reader.
    Shifted { y: Arc<[f64]>, back: usize, ahead: usize },
    /// A statistic of the target's trailing window of `w` grid points ending at each index,
    /// computed as the column is built (never held for the whole grid); missing where the
    /// window misses a point. Holds the target's grid, as `Shifted` does.
    Rolling {
        y: Arc<[f64]>,
        w: usize,
        statistic: Statistic,
    },
    /// A series on the grid, NaN where missing.
    Grid(Vec<f64>),
    /// One value a position in a period: index i is at position (`base` + i) mod the table's
    /// length. Never missing.
    Periodic { table: Vec<f64>, base: usize },
    /// Computed at each index, never missing.
    Always(Box<dyn Fn(usize) -> f64 + Send>),
}

impl Values {
    /// Clears `complete[i]` where this feature is missing at index i.
    fn mark_missing(&self, complete: &mut [bool]) {
        match self {
            Values::Shifted { y, back, ahead } => {
                for (i, c) in complete.iter_mut().enumerate() {
                    *c &= (i + ahead).checked_sub(*back).is_some_and(|j| !y[j].is_nan());
                }
            }
            Values::Rolling { y, w, .. } => {
                for (c, window) in complete.iter_mut().zip(Windows::new(y, *w)) {
                    *c &= window.is_some();
                }
            }
            Values::Grid(values) => {
                for (c, v) in complete.iter_mut().zip(values) {
                    *c &= !v.is_nan();
                }
            }
            Values::Periodic { .. } | Values::Always(_) => {}
        }
    }

    /// The values at `rows` (increasing indices, at each of which the feature is present).
    fn column(&self, rows: &[u32]) -> Vec<f64> {
        let rows = rows.iter().map(|&i| i as usize);
        match self {
            Values::Shifted { y, back, ahead } => rows.map(|i| y[i + ahead - back]).collect(),
            Values::Rolling { y, w, statistic } => {
                let (mut windows, mut at) = (Windows::new(y, *w), 0);
                rows.map(|i| {
                    let window = windows.nth(i - at).flatten();
                    at = i + 1;
                    window.map_or(f64::NAN, |(mean, std)| match statistic {
                        Statistic::Mean => mean,
                        Statistic::Std => std,
                    })
                })
                .collect()
            }
            Values::Grid(values) => rows.map(|i| values[i]).collect(),
            Values::Periodic { table, base } => {
                // The position moves with the index: one remainder a gap, not one a row.
                let (len, mut at, mut position) = (table.len(), 0, base % table.len());
                rows.map(|i| {
                    position += i - at;
                    if position >= len {
                        position %= len;
                    }
                    at = i;
                    table[position]
                })
                .collect()
            }
            Values::Always(f) => rows.map(f).collect(),
        }
    }
}

/// Builds the dataset and its manifest (sha256 and row count are set when written).
pub fn extract(
    config: &WorkloadConfig,
    raw: &RawSeries,
    source: &SourceDescription,
) -> Result<(Dataset, DatasetManifest)> {
    extract_rows(config, on_grid(config, raw)?, source, true).map(|(table, manifest)| (table.into_dataset(), manifest))
}

/// [`extract`], dropping the raw samples once they are on the grid, and leaving the feature
/// columns to be built as they are written ([`Table`]): a year of minutes is then never held as
/// samples, grid and feature columns at once.
pub fn extract_owned(
    config: &WorkloadConfig,
    raw: RawSeries,
    source: &SourceDescription,
) -> Result<(Table, DatasetManifest)> {
    let grid = on_grid(config, &raw)?;
    drop(raw);
    extract_rows(config, grid, source, true)
}

/// The rows whose features are complete, labelled or not: the latest ones have no label yet,
/// and they are what a forecast is made from. Labels are NaN where unknown.
pub(crate) fn extract_unlabelled(
    config: &WorkloadConfig,
    raw: &RawSeries,
    source: &SourceDescription,
) -> Result<Dataset> {
    extract_rows(config, on_grid(config, raw)?, source, false).map(|(table, _)| table.into_dataset())
}

/// The target and the signals on one grid, from the target's first to its last sample, and
/// the gaps met.
struct Grid {
    origin: String,
    start: i64,
    end: i64,
    n: usize,
    target: Vec<f64>,
    signals: Vec<(String, Vec<f64>)>,
    gaps: Vec<Gap>,
}

fn on_grid(config: &WorkloadConfig, raw: &RawSeries) -> Result<Grid> {
    let step = config.resolution.seconds();
    let target = &config.signals.target;
    let target_samples = &raw.series[target];
    if target_samples.is_empty() {
        return Err(Error::invalid(
            &raw.origin,
            "column `series`",
            format!("series `{target}` has no samples"),
        ));
    }
    let start = target_samples.first().map(|s| s.0.div_euclid(step) * step).unwrap_or(0);
    let end = target_samples.last().map(|s| s.0.div_euclid(step) * step).unwrap_or(0);
    // Bounded before anything is allocated: one grid row per step between the first and the
    // last sample.
    let n = end
        .checked_sub(start)
        .map(|span| span / step)
        .filter(|&rows| rows < MAX_GRID_ROWS as i64)
        .ok_or_else(|| {
            Error::invalid(
                &raw.origin,
                "column `timestamp`",
                format!(
                    "{target} spans {} to {}: more than {MAX_GRID_ROWS} grid steps of {} (a stray timestamp?)",
                    rfc3339(start),
                    rfc3339(end),
                    config.resolution
                ),
            )
        })? as usize
        + 1;
    let fill_steps = config.steps(&config.features.fill_limit);
    let horizon = config.label.horizon();
    let h = config.steps(&horizon);
    if h >= n {
        return Err(Error::field(
            &raw.origin,
            "/label/horizon",
            format!(
                "the horizon {} is longer than the data ({} grid steps of {} from {} to {})",
                horizon,
                n,
                config.resolution,
                rfc3339(start),
                rfc3339(end)
            ),
        ));
    }

    let mut gaps = Vec::new();
    let y_grid = to_grid(target_samples, start, step, n, fill_steps, target, &mut gaps).values;
    let mut signals = Vec::new();
    for name in config.signals.features.names() {
        signals.push((
            name.clone(),
            to_grid(&raw.series[&name], start, step, n, fill_steps, &name, &mut gaps).values,
        ));
    }
    Ok(Grid {
        origin: raw.origin.clone(),
        start,
        end,
        n,
        target: y_grid,
        signals,
        gaps,
    })
}

fn extract_rows(
    config: &WorkloadConfig,
    grid: Grid,
    source: &SourceDescription,
    require_label: bool,
) -> Result<(Table, DatasetManifest)> {
    let Grid {
        origin,
        start,
        end,
        n,
        target: y_grid,
        signals,
        mut gaps,
    } = grid;
    let step = config.resolution.seconds();
    let target = &config.signals.target;
    let horizon = config.label.horizon();
    let h = config.steps(&horizon);
    // Shared by the features that read the target; freed when the last of them is dropped.
    let y: Arc<[f64]> = y_grid.into();
    let shifted = |back: usize, ahead: usize| Values::Shifted {
        y: y.clone(),
        back,
        ahead,
    };

    let mut features: Vec<Feature> = Vec::new();
    let mut dropped: Vec<FeatureDefinition> = Vec::new();
    features.push(Feature {
        name: "target".into(),
        definition: format!("{target} at t"),
        values: shifted(0, 0),
    });
    for lag in &config.features.lags {
        let k = config.steps(lag);
        features.push(Feature {
            name: format!("target_lag_{lag}"),
            definition: format!("{target} at t - {lag}"),
            values: shifted(k, 0),
        });
    }
    for window in &config.features.rolling_windows {
        let w = config.steps(window);
        let rolling = |statistic| Values::Rolling {
            y: y.clone(),
            w,
            statistic,
        };
        features.push(Feature {
            name: format!("target_mean_{window}"),
            definition: format!("mean of {target} over (t - {window}, t]"),
            values: rolling(Statistic::Mean),
        });
        features.push(Feature {
            name: format!("target_std_{window}"),
            definition: format!("sample standard deviation of {target} over (t - {window}, t]"),
            values: rolling(Statistic::Std),
        });
    }
    for lag in &config.features.seasonal_lags {
        let k = config.steps(lag);
        let name = format!("target_seasonal_{lag}");
        if k <= h {
            return Err(Error::field(
                &config.origin,
                "/features/seasonal_lags",
                format!(
                    "{lag} is not longer than the horizon {}: it would look into the future",
                    horizon
                ),
            ));
        }
        if (k as f64) > n as f64 / 3.0 {
            dropped.push(FeatureDefinition {
                name,
                definition: format!(
                    "left out: needs at least 3 × {lag} of history, the data has {} grid steps",
                    n
                ),
            });
            continue;
        }
        features.push(Feature {
            name,
            definition: format!("{target} at t + horizon - {lag} (same time, {lag} before the forecast time)"),
            values: shifted(k, h),
        });
        // With the value {lag} before *now*, the model can learn the seasonal change over the
        // horizon (what happened next, {lag} ago) and add it to the current level.
        features.push(Feature {
            name: format!("target_seasonal_{lag}_now"),
            definition: format!("{target} at t - {lag} (same time, {lag} before now)"),
            values: shifted(k, 0),
        });
    }
    let forecast_time = move |i: usize| start + (i + h) as i64 * step;
    for (period, period_name, harmonics) in [(86_400i64, "hour", 3u32), (604_800, "week", 2)] {
        for k in 1..=harmonics {
            // Unix time 0 was a Thursday: shift so that the weekly phase starts on Monday 00:00.
            let offset = if period == 604_800 { 3 * 86_400 } else { 0 };
            let angle = move |r: i64| TAU * k as f64 * r as f64 / period as f64;
            let phase = move |i: usize| (forecast_time(i) + offset).rem_euclid(period);
            // The grid's times of day (week) repeat: when the step divides the period, each
            // value is computed once per position in the period, then looked up.
            let periodic = move |f: fn(f64) -> f64| match period % step == 0 {
                true => Values::Periodic {
                    table: (0..period / step).map(|j| f(angle(j * step))).collect(),
                    base: (phase(0) / step) as usize,
                },
                false => Values::Always(Box::new(move |i| f(angle(phase(i))))),
            };
            let what = if period_name == "hour" {
                "time of day"
            } else {
                "time of week (Monday 00:00 UTC = 0)"
            };
            features.push(Feature {
                name: format!("{period_name}_sin_{k}"),
                definition: format!("sin(2π·{k}·{what}) of the forecast time t + horizon"),
                values: periodic(f64::sin),
            });
            features.push(Feature {
                name: format!("{period_name}_cos_{k}"),
                definition: format!("cos(2π·{k}·{what}) of the forecast time t + horizon"),
                values: periodic(f64::cos),
            });
        }
    }
    // Holidays, when the calendar names any: 1 when the forecast time falls on one (UTC day).
    if let Some(calendar) = config.calendar.as_ref().filter(|c| !c.holidays.is_empty()) {
        let days = calendar.holiday_days();
        features.push(Feature {
            name: "calendar_holiday".into(),
            definition: format!(
                "1 when the forecast time t + horizon falls on one of the calendar's {} holidays (UTC), else 0",
                days.len()
            ),
            values: Values::Always(Box::new(move |i| {
                f64::from(u8::from(days.contains(&forecast_time(i).div_euclid(86_400))))
            })),
        });
    }
    for (name, values) in signals {
        features.push(Feature {
            definition: format!("{name} at t"),
            name: format!("signal_{name}"),
            values: Values::Grid(values),
        });
    }
    // NaN where unknown, as on the grid.
    let (label_grid, label_definition): (Vec<f64>, String) = match config.label.kind {
        LabelKind::At => (
            (0..n).map(|i| if i + h < n { y[i + h] } else { f64::NAN }).collect(),
            format!("{target} at t + {horizon}"),
        ),
        LabelKind::Peak => (
            (0..n)
                .map(|i| {
                    if i + h >= n {
                        return f64::NAN;
                    }
                    y[i + 1..=i + h]
                        .iter()
                        .try_fold(f64::NEG_INFINITY, |m, &v| present(v).map(|v| m.max(v)))
                        .unwrap_or(f64::NAN)
                })
                .collect(),
            format!("max of {target} over (t, t + {horizon}]"),
        ),
    };

    drop(y);

    // Keep the rows where every feature and the label are present (grid rows fit in 32 bits).
    let mut complete: Vec<bool> = label_grid.iter().map(|v| !require_label || !v.is_nan()).collect();
    for f in &features {
        f.values.mark_missing(&mut complete);
    }
    let keep: Vec<u32> = (0..n as u32).filter(|&i| complete[i as usize]).collect();
    drop(complete);
    if keep.is_empty() {
        return Err(Error::TooShort(format!(
            "{}: no complete rows: every grid row misses a feature or its label (data spans {} to {}; check gaps and the longest lag)",
            origin,
            rfc3339(start),
            rfc3339(end)
        )));
    }
    let definitions: Vec<FeatureDefinition> = features
        .iter()
        .map(|f| FeatureDefinition {
            name: f.name.clone(),
            definition: f.definition.clone(),
        })
        .collect();
    let label: Vec<f64> = keep.iter().map(|&i| label_grid[i as usize]).collect();
    drop(label_grid);
    let timestamps: Vec<i64> = keep.iter().map(|&i| start + i as i64 * step).collect();
    let table = Table {
        timestamps,
        features,
        keep,
        label,
    };

    gaps.sort_by(|a, b| (&a.start, &a.series).cmp(&(&b.start, &b.series)));
    let count = |filled: bool| gaps.iter().filter(|g| g.filled == filled).count() as u64;
    let intervals = |filled: bool| {
        gaps.iter()
            .filter(|g| g.filled == filled)
            .map(|g| g.intervals)
            .sum::<u64>()
    };
    let gap_report = GapReport {
        grid_intervals: n as u64,
        filled_gaps: count(true),
        filled_intervals: intervals(true),
        unfilled_gaps: count(false),
        unfilled_intervals: intervals(false),
        dropped_rows: (n - table.rows()) as u64,
        fill_limit: config.features.fill_limit.to_string(),
        list: gaps.into_iter().take(MAX_LISTED_GAPS).collect(),
    };
    let manifest = DatasetManifest {
        api_version: Default::default(),
        kind: Default::default(),
        workload: config.workload.clone(),
        dataset_sha256: String::new(),
        rows: table.rows() as u64,
        source: SourceRecord {
            kind: source.kind.to_string(),
            location: source.location.clone(),
            sha256: source.sha256.clone(),
            prometheus: source.prometheus.clone(),
        },
        interval: Interval {
            start: rfc3339(table.timestamps[0]),
            end: rfc3339(*table.timestamps.last().expect("non-empty")),
        },
        resolution: config.resolution.to_string(),
        target: target.clone(),
        signals: config.signals.features.names(),
        label: LabelDefinition {
            kind: config.label.kind,
            horizon: horizon.to_string(),
            horizon_steps: h as u64,
            horizon_source: if config.label.horizon.is_some() {
                SettingSource::Config
            } else {
                SettingSource::Default
            },
            definition: label_definition,
        },
        features: definitions,
        dropped_features: dropped,
        gaps: gap_report,
    };
    Ok((table, manifest))
}

/// A dataset whose feature columns are not built yet: its rows' times and labels, and each
/// feature's way to find its values at the kept grid rows. Built one column at a time, each
/// feature dropped once its column is built: a rolling window's statistics, the target's grid
/// (with its last reader) and each signal's grid are freed as the columns fill, so the grids and
/// the whole table are never held together.
pub struct Table {
    timestamps: Vec<i64>,
    features: Vec<Feature>,
    /// The grid rows kept (every feature and, when required, the label present).
    keep: Vec<u32>,
    label: Vec<f64>,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.timestamps.len()
    }

    /// The dataset, every column built.
    pub fn into_dataset(self) -> Dataset {
        let keep = self.keep;
        Dataset {
            timestamps: self.timestamps,
            columns: self
                .features
                .into_iter()
                .map(|f| {
                    let values = f.values.column(&keep);
                    (f.name, values.into())
                })
                .collect(),
            label: self.label.into(),
        }
    }

    /// Writes the dataset's Parquet encoding to `out` (named `origin` in errors), the same bytes
    /// as [`Dataset::write_parquet`] of [`Table::into_dataset`]: the columns are built on a
    /// thread of their own, one ahead of the writer, which drops each once written — the
    /// building and the writing share the two cores, and at most three columns are held.
    pub fn write_parquet(self, out: impl std::io::Write, origin: &str) -> Result<()> {
        let Table {
            timestamps,
            features,
            keep,
            label,
        } = self;
        let names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
        std::thread::scope(|scope| {
            let (built, columns) = std::sync::mpsc::sync_channel(1);
            let keep = &keep;
            scope.spawn(move || {
                for feature in features {
                    // The writer gone (it failed) stops the building.
                    if built.send(feature.values.column(keep)).is_err() {
                        return;
                    }
                }
            });
            crate::dataset::write_columns(timestamps, &names, columns, label, out, origin)
        })
    }
}

/// Which statistic of a trailing window a rolling feature is.
#[derive(Clone, Copy)]
enum Statistic {
    Mean,
    Std,
}

/// The mean and sample standard deviation over the trailing `w` grid points ending at each
/// index, index by index; `None` unless all `w` points are present. Sums are running sums taken
/// around a reference value (so that large levels do not cancel away the variance), differenced
/// `w` steps apart: the last `w` of them are all that is kept. A window of huge values can
/// overflow to NaN, which must reach the model (and fail the forecast as invalid) rather than
/// pass for a gap: hence `Option`, not NaN, for missing.
struct Windows<'a> {
    y: &'a [f64],
    w: usize,
    reference: f64,
    /// The index whose window comes next (its last point).
    i: usize,
    /// The sums (deviations, their squares, missing points) of the points before each of the
    /// last `w` indices i + 1 - w … i, the one before index j written at step j - 1 into slot
    /// (j - 1) mod `w` (all zero before the first point): the sums before index `i` are in slot
    /// (i - 1) mod `w`, which for i = 0 is slot w - 1, still zero.
    ring: Vec<(f64, f64, u32)>,
}

impl<'a> Windows<'a> {
    fn new(y: &'a [f64], w: usize) -> Self {
        Windows {
            y,
            w,
            reference: y.iter().copied().find(|v| !v.is_nan()).unwrap_or(0.0),
            i: 0,
            ring: vec![(0.0, 0.0, 0); w],
        }
    }
}

impl Iterator for Windows<'_> {
    type Item = Option<(f64, f64)>;

    fn next(&mut self) -> Option<Self::Item> {
        let (i, w) = (self.i, self.w);
        let v = *self.y.get(i)?;
        let d = present(v).map(|v| v - self.reference).unwrap_or(0.0);
        let (sum, sum_sq, missing) = self.ring[(i + w - 1) % w];
        let after = (sum + d, sum_sq + d * d, missing + u32::from(v.is_nan()));
        // The sums before index i + 1 - w (written at step i - w), replaced by those before
        // index i + 1.
        let before = std::mem::replace(&mut self.ring[i % w], after);
        self.i += 1;
        if i + 1 < w || after.2 - before.2 > 0 {
            return Some(None);
        }
        let s = after.0 - before.0;
        let m = s / w as f64;
        let var = ((after.1 - before.1) - s * m) / (w as f64 - 1.0);
        Some(Some((m + self.reference, var.max(0.0).sqrt())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table written as its columns are built gives the bytes of the whole dataset built
    /// first; a write that fails (a full disk) stops the building and is reported as that error.
    #[test]
    fn a_table_written_as_it_is_built_gives_the_dataset_s_bytes() {
        use crate::contract::document::Document;
        let config = WorkloadConfig::from_bytes(
            b"apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: w\nsource:\n  file:\n    path: x.csv\nsignals:\n  target: rps\n  features: [cpu]\nresolution: 1m\n",
            "w.yaml",
        )
        .unwrap();
        let minutes: Vec<i64> = (0..3 * 1440)
            .filter(|m| m % 97 != 5)
            .map(|m| 1_767_225_600 + m * 60)
            .collect();
        let series = |f: fn(f64) -> f64| minutes.iter().map(|&t| (t, f(t as f64 / 3600.0))).collect::<Vec<_>>();
        let raw = RawSeries {
            origin: "x.csv".into(),
            series: [
                ("rps".to_string(), series(|h| 100.0 + 40.0 * h.sin())),
                ("cpu".to_string(), series(|h| 2.0 + h.cos())),
            ]
            .into(),
        };
        let source = SourceDescription {
            kind: "csv",
            location: "x.csv".into(),
            sha256: None,
            prometheus: None,
        };
        let table = || {
            extract_rows(&config, on_grid(&config, &raw).unwrap(), &source, true)
                .unwrap()
                .0
        };
        let mut written = Vec::new();
        table().write_parquet(&mut written, "d.parquet").unwrap();
        let dataset = table().into_dataset();
        assert!(dataset.rows() > 1000 && dataset.columns.len() > 10);
        assert_eq!(written, dataset.into_parquet().unwrap());
        let why = table()
            .write_parquet(crate::dataset::tests::Full(200_000), "out/d.parquet")
            .unwrap_err();
        assert!(
            matches!(&why, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull),
            "{why:?}"
        );
    }

    /// A periodic feature's column follows its position in the period across gaps in the rows,
    /// as a remainder per row would.
    #[test]
    fn a_periodic_column_keeps_its_position_across_gaps() {
        let table: Vec<f64> = (0..5).map(f64::from).collect();
        let rows = [0u32, 1, 2, 7, 8, 20, 23, 1000];
        let column = Values::Periodic { table, base: 13 }.column(&rows);
        let expected: Vec<f64> = rows.iter().map(|&i| ((13 + i) % 5) as f64).collect();
        assert_eq!(column, expected);
    }

    #[test]
    fn rolling_matches_direct_computation_and_skips_windows_with_gaps() {
        let y = vec![1.0, 2.0, 4.0, f64::NAN, 5.0, 7.0, 9.0];
        let (mean, std): (Vec<_>, Vec<_>) = Windows::new(&y, 3).map(|w| (w.map(|w| w.0), w.map(|w| w.1))).unzip();
        assert_eq!(mean[0], None);
        assert!((mean[2].unwrap() - 7.0 / 3.0).abs() < 1e-12);
        let m = 7.0 / 3.0;
        let var = ((1.0f64 - m).powi(2) + (2.0f64 - m).powi(2) + (4.0f64 - m).powi(2)) / 2.0;
        assert!((std[2].unwrap() - var.sqrt()).abs() < 1e-12);
        assert_eq!((mean[3], std[3]), (None, None));
        assert_eq!(mean[5], None);
        assert!((mean[6].unwrap() - 7.0).abs() < 1e-12);
        // Past the first laps of the kept sums, with gaps of every length: each window against
        // its own direct computation.
        let y: Vec<f64> = (0..500)
            .map(|i| match i % 37 {
                3 | 20..=22 => f64::NAN,
                _ => 1e6 + ((i * 7919) % 101) as f64,
            })
            .collect();
        for w in [2, 5, 37, 60] {
            for (i, window) in Windows::new(&y, w).enumerate() {
                let points = &y[(i + 1).saturating_sub(w)..=i];
                if i + 1 < w || points.iter().any(|v| v.is_nan()) {
                    assert_eq!(window, None, "w {w}, index {i}");
                    continue;
                }
                let m = points.iter().sum::<f64>() / w as f64;
                let var = points.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (w as f64 - 1.0);
                let (mean, std) = window.unwrap_or_else(|| panic!("w {w}, index {i}: no window"));
                assert!(
                    (mean - m).abs() < 1e-6 && (std - var.sqrt()).abs() < 1e-6,
                    "w {w}, index {i}"
                );
            }
        }
    }

    #[test]
    fn short_gaps_are_filled_and_long_gaps_are_not() {
        let samples: Vec<(i64, f64)> = [0, 60, 180, 240, 600].iter().map(|&t| (t, t as f64)).collect();
        let mut gaps = Vec::new();
        let g = to_grid(&samples, 0, 60, 11, 1, "x", &mut gaps).values;
        assert_eq!(g[2], 60.0);
        assert!(g[5].is_nan());
        assert!(g[9].is_nan());
        assert_eq!(g[10], 600.0);
        assert_eq!(gaps.len(), 2);
        assert!(gaps[0].filled && !gaps[1].filled);
        assert_eq!(gaps[1].intervals, 5);
    }
}
