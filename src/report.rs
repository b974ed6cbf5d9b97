//! Reports for people: Markdown with an SVG plot of forecast, interval and actual. The SVG is
//! written by hand (a few paths and labels): deterministic bytes, no font or graphics library.

use std::fmt::Write;

use crate::contract::validation::{Metrics, Validation};
use crate::evaluate::HoldoutSeries;
use crate::time::rfc3339;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 360.0;
const MARGIN: f64 = 56.0;
/// The plot shows the last two days of 1-minute data at most.
const MAX_POINTS: usize = 2880;

/// A line chart over time: optional band, lines, axes with the range, a legend.
struct Chart<'a> {
    title: &'a str,
    x: &'a [i64],
    band: Option<(Vec<f64>, Vec<f64>, &'a str)>,
    lines: Vec<(&'a str, &'a str, Vec<f64>)>,
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
        let _ = writeln!(
            svg,
            r##"<line x1="{MARGIN}" y1="{b}" x2="{r}" y2="{b}" stroke="#636363"/><line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{b}" stroke="#636363"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{MARGIN}" y="{}">{}</text><text x="{r}" y="{}" text-anchor="end">{}</text>"#,
            b + 18.0,
            rfc3339(t0),
            b + 18.0,
            rfc3339(t1)
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{b}" text-anchor="end">{}</text>"#,
            MARGIN - 4.0,
            MARGIN + 4.0,
            axis_number(hi),
            MARGIN - 4.0,
            axis_number(lo)
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

/// SVG of the holdout: the interval as a band, the forecast and the actual as lines.
pub fn forecast_svg(series: &HoldoutSeries, title: &str) -> String {
    let from = series.timestamps.len().saturating_sub(MAX_POINTS);
    let preds = &series.predictions[from..];
    Chart {
        title,
        x: &series.timestamps[from..],
        band: Some((
            preds.iter().map(|p| p.lower).collect(),
            preds.iter().map(|p| p.upper).collect(),
            "interval",
        )),
        lines: vec![
            ("actual", "#252525", series.actual[from..].to_vec()),
            ("forecast", "#e6550d", preds.iter().map(|p| p.point).collect()),
        ],
    }
    .render()
}

/// SVG of the replay: demand and the serving capacity of each policy, once per data interval.
pub fn replay_svg(traces: &crate::replay::ReplayTraces, title: &str) -> String {
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
        x: &x,
        band: None,
        lines: vec![
            ("demand", "#252525", sample(&|i| traces.reactive.demand[i])),
            ("reactive HPA capacity", "#de2d26", capacity(&traces.reactive)),
            ("control capacity", "#756bb1", capacity(&traces.control)),
            ("candidate capacity", "#31a354", capacity(&traces.candidate)),
        ],
    }
    .render()
}

/// A number short enough for the axis: about four significant digits.
fn axis_number(v: f64) -> String {
    match v.abs() {
        a if a >= 1000.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.3}"),
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

/// The validation report.
pub fn validation_markdown(v: &Validation, plot_file: &str) -> String {
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
