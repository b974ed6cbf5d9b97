//! Reports for people: Markdown with an SVG plot of forecast, interval and actual. The SVG is
//! written by hand (paths, gridlines, ticks at whole hours or days, round value ticks, the unit,
//! labels): deterministic bytes, no font or graphics library.

use std::fmt::Write;

use crate::contract::validation::{Metrics, Validation};
use crate::evaluate::HoldoutSeries;
use crate::time::rfc3339;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 360.0;
const MARGIN: f64 = 56.0;
/// The plot shows the last two days of 1-minute data at most.
const MAX_POINTS: usize = 2880;

/// A line chart over time: optional band, lines, a time axis with ticks at whole hours or days
/// (UTC), a value axis with round ticks, gridlines, the value's unit, a legend.
struct Chart<'a> {
    title: &'a str,
    /// What the values measure, written along the value axis.
    unit: &'a str,
    x: &'a [i64],
    band: Option<(Vec<f64>, Vec<f64>, &'a str)>,
    lines: Vec<(&'a str, &'a str, Vec<f64>)>,
    /// Events: a dashed vertical line at each time, labelled (staggered so that labels of
    /// nearby events do not overlap).
    markers: &'a [(i64, String)],
}

impl Chart<'_> {
    fn render(&self) -> String {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let all = self
            .lines
            .iter()
            .map(|l| &l.2)
            .chain(self.band.iter().flat_map(|b| [&b.0, &b.1]));
        for values in all {
            for v in values {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
        }
        if hi.is_nan() || hi <= lo {
            hi = lo + 1.0;
        }
        // Round the value range out to the ticks.
        let step = nice_step((hi - lo) / 5.0);
        let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
        let t0 = self.x.first().copied().unwrap_or(0);
        let t1 = self.x.last().copied().unwrap_or(1).max(t0 + 1);
        let px = |t: i64| MARGIN + (t - t0) as f64 / (t1 - t0) as f64 * (WIDTH - 2.0 * MARGIN);
        let py = |v: f64| HEIGHT - MARGIN - (v - lo) / (hi - lo) * (HEIGHT - 2.0 * MARGIN);
        let path = |values: &mut dyn Iterator<Item = (i64, f64)>| {
            let mut d = String::new();
            for (i, (t, v)) in values.enumerate() {
                let _ = write!(d, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, px(t), py(v));
            }
            d
        };
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{MARGIN}" y="20" font-size="14">{}</text>"#,
            escape(self.title)
        );
        let mut legend = String::new();
        if let Some((lower, upper, label)) = &self.band {
            let mut d = path(&mut self.x.iter().copied().zip(upper.iter().copied()));
            for (t, v) in self.x.iter().zip(lower).rev() {
                let _ = write!(d, " L{:.1},{:.1}", px(*t), py(*v));
            }
            d.push_str(" Z");
            let _ = writeln!(
                svg,
                r##"<path d="{d}" fill="#9ecae1" fill-opacity="0.5" stroke="none"/>"##
            );
            let _ = write!(legend, r##"<tspan fill="#3182bd">{}</tspan>  "##, escape(label));
        }
        for (label, color, values) in &self.lines {
            let d = path(&mut self.x.iter().copied().zip(values.iter().copied()));
            let _ = writeln!(svg, r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1"/>"#);
            let _ = write!(legend, r#"<tspan fill="{color}">{}</tspan>  "#, escape(label));
        }
        let (b, r) = (HEIGHT - MARGIN, WIDTH - MARGIN);
        for (k, (t, label)) in self.markers.iter().filter(|m| m.0 >= t0 && m.0 <= t1).enumerate() {
            let x = px(*t);
            let y = MARGIN + 12.0 + (k % 4) as f64 * 12.0;
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{MARGIN}" x2="{x:.1}" y2="{b}" stroke="#fd8d3c" stroke-dasharray="3,3"/><text x="{:.1}" y="{y:.1}" font-size="10" fill="#d94801">{}</text>"##,
                x + 2.0,
                escape(label)
            );
        }
        // Gridlines and labels: values, then times.
        let mut v = lo;
        while v <= hi + step / 2.0 {
            let y = py(v);
            let _ = writeln!(
                svg,
                r##"<line x1="{MARGIN}" y1="{y:.1}" x2="{r}" y2="{y:.1}" stroke="#e0e0e0"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                MARGIN - 4.0,
                y + 4.0,
                tick_label(v, step)
            );
            v += step;
        }
        for (t, label) in time_ticks(t0, t1) {
            let x = px(t);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{MARGIN}" x2="{x:.1}" y2="{b}" stroke="#e0e0e0"/><text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"##,
                b + 16.0
            );
        }
        let _ = writeln!(
            svg,
            r##"<line x1="{MARGIN}" y1="{b}" x2="{r}" y2="{b}" stroke="#636363"/><line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{b}" stroke="#636363"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{MARGIN}" y="{}">{} to {} (UTC)</text>"#,
            b + 34.0,
            rfc3339(t0),
            rfc3339(t1)
        );
        let _ = writeln!(
            svg,
            r#"<text transform="translate(14,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            HEIGHT / 2.0,
            escape(self.unit)
        );
        let _ = writeln!(
            svg,
            r#"<text x="{r}" y="20" text-anchor="end">{}</text>"#,
            legend.trim_end()
        );
        svg.push_str("</svg>\n");
        svg
    }
}

/// SVG of the holdout: the interval as a band, the forecast and the actual as lines; `unit` is
/// what the target measures.
pub fn forecast_svg(series: &HoldoutSeries, title: &str, unit: &str) -> String {
    let from = series.timestamps.len().saturating_sub(MAX_POINTS);
    let preds = &series.predictions[from..];
    Chart {
        title,
        unit,
        x: &series.timestamps[from..],
        band: Some((
            preds.iter().map(|p| p.lower).collect(),
            preds.iter().map(|p| p.upper).collect(),
            "interval",
        )),
        markers: &[],
        lines: vec![
            ("actual", "#252525", series.actual[from..].to_vec()),
            ("forecast", "#e6550d", preds.iter().map(|p| p.point).collect()),
        ],
    }
    .render()
}

/// SVG of the replay: demand and the serving capacity of each policy, once per data interval
/// (the last two days of the window at most); `unit` is what the target (the demand) measures;
/// `markers` (the calendar's holidays and declared events) are drawn where they fall.
pub fn replay_svg(traces: &crate::replay::ReplayTraces, title: &str, unit: &str, markers: &[(i64, String)]) -> String {
    let per_row = traces.ticks_per_row.max(1);
    let rows = traces.reactive.demand.len() / per_row;
    let from = rows.saturating_sub(MAX_POINTS);
    let x: Vec<i64> = (from..rows)
        .map(|r| traces.start + (r as i64) * traces.row_seconds)
        .collect();
    // The last tick of each interval: what served at its end.
    let sample = |values: &dyn Fn(usize) -> f64| -> Vec<f64> {
        (from..rows).map(|r| values(r * per_row + per_row - 1)).collect()
    };
    let capacity = |t: &crate::replay::Trace| sample(&|i| t.serving[i] as f64 * traces.per_replica);
    Chart {
        title,
        unit,
        x: &x,
        band: None,
        markers,
        lines: vec![
            ("demand", "#252525", sample(&|i| traces.reactive.demand[i])),
            ("reactive HPA capacity", "#de2d26", capacity(&traces.reactive)),
            ("control capacity", "#756bb1", capacity(&traces.control)),
            ("candidate capacity", "#31a354", capacity(&traces.candidate)),
        ],
    }
    .render()
}

/// SVG of a backtest over its whole stretch: demand and the capacity the reactive HPA and mttd
/// served with (per bucket of rows: the peak demand, the least capacity, so that a short
/// saturation still shows at a month's scale), with the retrains, live trials and drift marked.
pub fn backtest_svg(run: &crate::backtest::BacktestRun, title: &str, unit: &str) -> String {
    let per_row = (run.row_seconds / run.reactive.tick_seconds).max(1) as usize;
    let rows = run.reactive.demand.len() / per_row;
    let bucket = rows.div_ceil(MAX_POINTS).max(1);
    let buckets = rows.div_ceil(bucket);
    let ticks = |b: usize| (b * bucket * per_row)..((b + 1) * bucket * per_row).min(run.reactive.demand.len());
    let x: Vec<i64> = (0..buckets)
        .map(|b| run.start + (b * bucket) as i64 * run.row_seconds)
        .collect();
    let peak = |values: &[f64]| -> Vec<f64> {
        (0..buckets)
            .map(|b| values[ticks(b)].iter().copied().fold(f64::NEG_INFINITY, f64::max))
            .collect()
    };
    let least = |t: &crate::replay::Trace| -> Vec<f64> {
        (0..buckets)
            .map(|b| t.serving[ticks(b)].iter().copied().min().unwrap_or(0) as f64 * run.per_replica)
            .collect()
    };
    Chart {
        title,
        unit,
        x: &x,
        band: None,
        markers: &run.events,
        lines: vec![
            ("demand (peak)", "#252525", peak(&run.reactive.demand)),
            ("reactive HPA capacity", "#de2d26", least(&run.reactive)),
            ("mttd capacity", "#31a354", least(&run.mttd)),
        ],
    }
    .render()
}

/// What the loop did in a backtest, in one line.
pub fn backtest_loop(s: &crate::contract::backtest::BacktestSummary) -> String {
    format!(
        "{} retrains: {} promoted, {} shadow, {} rejected; live trials: {} promoted, {} rejected; {} drift events",
        s.retrains, s.promotions, s.shadows, s.rejections, s.shadows_promoted, s.shadows_rejected, s.drift_events
    )
}

/// The backtest's report: the summary, the replay against the reactive HPA, each version's live
/// error, and every retrain, trial and drift event.
pub fn backtest_markdown(d: &crate::contract::backtest::Backtest, plot_file: &str) -> String {
    let s = &d.summary;
    let (r, m) = (&d.replay.reactive, &d.replay.mttd);
    let mut md = format!(
        "# Backtest: {} from {} to {}

Retrains every {}, a forecast every {} ({} ticks), horizon {}.

![demand, reactive and mttd capacity, events]({plot_file})

## The autoscaler

| | saturated min | above target min | replica-min | scale actions | oscillations | saturations covered |
|---|---|---|---|---|---|---|
",
        d.workload, d.window.start, d.window.end, d.retrain_every, d.cadence, d.ticks, d.horizon
    );
    for (name, x) in [("reactive HPA", r), ("mttd", m)] {
        let _ = writeln!(
            md,
            "| {name} | {:.1} | {:.1} | {:.0} | {} | {} | {}/{} |",
            x.saturated_minutes,
            x.above_target_minutes,
            x.replica_minutes,
            x.scale_actions,
            x.oscillations,
            x.saturations_covered,
            d.replay.reactive_saturation_episodes
        );
    }
    let _ = write!(
        md,
        "
Saturated minutes saved {:.1}, replica-minutes added {:.0}; {} ticks without a floor. The interval as served covered {:.1}% of {} matured forecasts.

## The loop

{}. Fallbacks by reason: {}.

",
        s.saturated_minutes_saved,
        s.replica_minutes_added,
        d.replay.ticks_without_floor,
        d.replay.interval_coverage * 100.0,
        d.replay.forecasts_scored,
        backtest_loop(s),
        if d.fallbacks.is_empty() {
            "none".to_string()
        } else {
            d.fallbacks
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    md.push_str(
        "## Live error per version (matured forecasts, calibrated interval)

| version | role | scored | MAE | MAPE | coverage | mean width |
|---|---|---|---|---|---|---|
",
    );
    for v in &d.versions {
        let _ = writeln!(
            md,
            "| v{} | {} | {} | {:.4} | {:.2}% | {:.1}% | {:.4} |",
            v.version,
            v.role,
            v.scored,
            v.mae,
            v.mape * 100.0,
            v.coverage * 100.0,
            v.mean_interval_width
        );
    }
    md.push_str(
        "
## Events

| at | what | version | decision | why |
|---|---|---|---|---|
",
    );
    // One table row an event: when, what, which version, what was decided, why.
    let row = |at: &str, what: &str, version: String, decision: &str, why: String| {
        (
            at.to_string(),
            format!("| {at} | {what} | {version} | {decision} | {} |", why.replace('|', "/")),
        )
    };
    let mut events: Vec<(String, String)> = Vec::new();
    for x in &d.retrains {
        events.push(row(
            &x.at,
            &format!("retrain ({})", x.trigger),
            x.version.map_or("—".into(), |v| format!("v{v}")),
            x.decision.map_or("—", |d| d.as_str()),
            x.reason.clone(),
        ));
    }
    for x in &d.trials {
        events.push(row(
            &x.at,
            "live trial",
            format!("v{}", x.version),
            x.decision.as_str(),
            x.reason.clone(),
        ));
    }
    for x in &d.drift {
        events.push(row(
            &x.at,
            "drift",
            format!("v{}", x.version),
            "retrain",
            format!(
                "live MAE {:.4} = {:.2}× the validation MAE {:.4}",
                x.live_mae, x.ratio, x.validation_mae
            ),
        ));
    }
    events.sort();
    for (_, line) in events {
        md.push_str(&line);
        md.push('\n');
    }
    md
}

/// A round step (1, 2, 2.5 or 5 × a power of ten) of at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * power)
}

/// Ticks at whole hours or days (UTC) between `t0` and `t1`, at most about ten: the label is the
/// hour (`06:00`), or the date at midnight and for steps of a day or more (`Jan 02`).
fn time_ticks(t0: i64, t1: i64) -> Vec<(i64, String)> {
    const HOUR: i64 = 3600;
    let span = (t1 - t0).max(1);
    let step = [1, 2, 3, 6, 12, 24, 48, 7 * 24, 14 * 24, 28 * 24]
        .iter()
        .map(|h| h * HOUR)
        .find(|s| span / s <= 10)
        .unwrap_or(span.max(HOUR));
    let first = t0.div_euclid(step) * step + if t0.rem_euclid(step) == 0 { 0 } else { step };
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= t1)
        .map(|t| {
            let at = chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
            let label = if step >= 24 * HOUR || t.rem_euclid(24 * HOUR) == 0 {
                at.format("%b %d").to_string()
            } else {
                at.format("%H:%M").to_string()
            };
            (t, label)
        })
        .collect()
}

/// A value tick's label with as many decimals as its step needs (0 for 50, 1 for 2.5 × 10⁻¹…).
fn tick_label(v: f64, step: f64) -> String {
    let mut decimals = 0usize;
    while decimals < 9
        && ((step * 10f64.powi(decimals as i32)).round() - step * 10f64.powi(decimals as i32)).abs() > 1e-6
    {
        decimals += 1;
    }
    // -0 is 0.
    format!("{:.*}", decimals, if v.abs() < step * 1e-9 { 0.0 } else { v })
}

/// The value axis' label for a target: its series name, or "target" for a long query.
pub fn unit_of(target: &str) -> String {
    if target.chars().count() <= 40 {
        target.to_string()
    } else {
        "target (the config's query)".into()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn row(name: &str, m: &Metrics) -> String {
    format!(
        "| {name} | {:.4} | {:.2}% | {:.4} | {:.4} | {:.1}% | {:.4} |\n",
        m.mae,
        m.mape * 100.0,
        m.rmse,
        m.peak_weighted_mae,
        m.coverage * 100.0,
        m.mean_interval_width
    )
}

const HEADER: &str =
    "| | MAE | MAPE | RMSE | peak-weighted MAE | coverage | mean interval width |\n|---|---|---|---|---|---|---|\n";

/// What the report says of the model's scale and interval: how it sees the level (and on what
/// evidence it chose so) and how its interval follows the level.
fn model_section(model: &crate::contract::Model, manifest: &crate::contract::ModelManifest) -> String {
    let mut md = String::from(
        "## The model

",
    );
    match &model.relative {
        Some(r) => {
            let _ = write!(
                md,
                "Relative to the level: {} features divided by `{}` before the fit, the forecast multiplied back.",
                r.divided.len(),
                r.by
            );
        }
        None => md.push_str("In the target's units (absolute)."),
    }
    if let Some(selection) = &manifest.selection {
        let scores: Vec<String> = selection
            .candidates
            .iter()
            .map(|c| format!("{} {:.4}", c.scale.as_str(), c.calibration_mae))
            .collect();
        let _ = write!(
            md,
            " Chosen on the calibration window's MAE ({}); fitted on {} rows, {} … {}.",
            scores.join(", "),
            selection.fitted_rows,
            selection.fitted_on.start,
            selection.fitted_on.end
        );
    }
    match &model.interval.scaled_by {
        Some(s) => {
            let _ = writeln!(
                md,
                " The {:.0}% interval is ±{:.4} where `{}` is {:.4} (its calibration-window mean), wider and narrower with the square root of it.\n",
                model.interval.level * 100.0,
                model.interval.half_width,
                s.by,
                s.reference
            );
        }
        None => {
            let _ = writeln!(
                md,
                " The {:.0}% interval is ±{:.4} throughout.\n",
                model.interval.level * 100.0,
                model.interval.half_width
            );
        }
    }
    md
}

/// The validation report.
pub fn validation_markdown(
    v: &Validation,
    model: &crate::contract::Model,
    manifest: &crate::contract::ModelManifest,
    plot_file: &str,
) -> String {
    let mut md = format!(
        "# Validation: {} ({})\n\nModel sha256 `{}`, dataset sha256 `{}`, horizon {}, interval level {:.0}%.\n\n## Holdout {} … {}\n\n",
        v.workload,
        v.algorithm.as_str(),
        v.model_sha256,
        v.dataset_sha256,
        v.horizon,
        v.interval_level * 100.0,
        v.holdout.interval.start,
        v.holdout.interval.end
    );
    md.push_str(HEADER);
    md.push_str(&row(v.algorithm.as_str(), &v.holdout.model));
    md.push_str(&row("last-value", &v.holdout.last_value));
    if let Some(s) = &v.holdout.seasonal_naive {
        md.push_str(&row("seasonal-naive", s));
    }
    let _ = write!(
        md,
        "\n![forecast, interval and actual over the holdout]({plot_file})\n\n"
    );
    md.push_str(&model_section(model, manifest));
    if !v.folds.is_empty() {
        md.push_str("## Rolling-origin folds\n\n| fold | trained until | tested on | MAE | MAPE | RMSE | coverage |\n|---|---|---|---|---|---|---|\n");
        for f in &v.folds {
            let _ = writeln!(
                md,
                "| {} | {} | {} … {} | {:.4} | {:.2}% | {:.4} | {:.1}% |",
                f.fold,
                f.train.end,
                f.test.start,
                f.test.end,
                f.metrics.mae,
                f.metrics.mape * 100.0,
                f.metrics.rmse,
                f.metrics.coverage * 100.0
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_carry_the_decimals_their_step_needs() {
        assert_eq!(tick_label(400.0, 100.0), "400");
        assert_eq!(tick_label(0.0, 100.0), "0");
        assert_eq!(tick_label(0.75, 0.25), "0.75");
        assert_eq!(tick_label(7.5, 2.5), "7.5");
        assert_eq!(tick_label(-1e-17, 0.5), "0.0");
    }

    #[test]
    fn value_steps_are_round() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(2.2), 2.5);
        assert_eq!(nice_step(37.0), 50.0);
        assert_eq!(nice_step(100.0), 100.0);
        assert_eq!(nice_step(0.0), 1.0);
    }

    #[test]
    fn time_ticks_fall_on_whole_hours_or_days() {
        let t0 = 1_767_225_600 + 90 * 60; // 2026-01-01T01:30:00Z
        let two_days = time_ticks(t0, t0 + 2 * 86_400);
        assert!(two_days.len() <= 10 && two_days.len() >= 4, "{two_days:?}");
        assert!(two_days.iter().all(|(t, _)| t % (6 * 3600) == 0), "{two_days:?}");
        assert_eq!(two_days[0].1, "06:00");
        assert!(
            two_days.iter().any(|(_, l)| l == "Jan 02"),
            "midnight shows the date: {two_days:?}"
        );
        let month = time_ticks(t0, t0 + 30 * 86_400);
        assert!(
            month.len() <= 10 && month.iter().all(|(t, _)| t % 86_400 == 0),
            "{month:?}"
        );
        assert!(month.iter().all(|(_, l)| l.starts_with("Jan") || l.starts_with("Feb")));
    }
}
