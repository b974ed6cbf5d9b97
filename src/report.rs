//! Reports for people: Markdown with an SVG plot of forecast, interval and actual. The SVG is
//! written by hand (a few paths and labels): deterministic bytes, no font or graphics library.

use std::fmt::Write;

use crate::contract::rfc3339;
use crate::evaluation::{HoldoutSeries, Metrics, Validation};

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 360.0;
const MARGIN: f64 = 50.0;
/// The plot shows the last two days of 1-minute data at most.
const MAX_POINTS: usize = 2880;

/// SVG of the holdout: the interval as a band, the forecast and the actual as lines.
pub fn forecast_svg(series: &HoldoutSeries, title: &str) -> String {
    let n = series.timestamps.len();
    let from = n.saturating_sub(MAX_POINTS);
    let ts = &series.timestamps[from..];
    let actual = &series.actual[from..];
    let preds = &series.predictions[from..];
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for (a, p) in actual.iter().zip(preds) {
        lo = lo.min(*a).min(p.lower);
        hi = hi.max(*a).max(p.upper);
    }
    if hi.is_nan() || hi <= lo {
        hi = lo + 1.0;
    }
    let (t0, t1) = (
        ts.first().copied().unwrap_or(0),
        ts.last()
            .copied()
            .unwrap_or(1)
            .max(ts.first().copied().unwrap_or(0) + 1),
    );
    let x = |t: i64| MARGIN + (t - t0) as f64 / (t1 - t0) as f64 * (WIDTH - 2.0 * MARGIN);
    let y = |v: f64| HEIGHT - MARGIN - (v - lo) / (hi - lo) * (HEIGHT - 2.0 * MARGIN);
    let line = |values: &mut dyn Iterator<Item = (i64, f64)>| {
        let mut d = String::new();
        for (i, (t, v)) in values.enumerate() {
            let _ = write!(d, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, x(t), y(v));
        }
        d
    };
    let mut band = line(&mut ts.iter().copied().zip(preds.iter().map(|p| p.upper)));
    let lower: Vec<(i64, f64)> = ts.iter().copied().zip(preds.iter().map(|p| p.lower)).rev().collect();
    for (t, v) in lower {
        let _ = write!(band, " L{:.1},{:.1}", x(t), y(v));
    }
    band.push_str(" Z");
    let forecast = line(&mut ts.iter().copied().zip(preds.iter().map(|p| p.point)));
    let actual_line = line(&mut ts.iter().copied().zip(actual.iter().copied()));
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{MARGIN}" y="20" font-size="14">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<path d="{band}" fill="#9ecae1" fill-opacity="0.5" stroke="none"/>"##
    );
    let _ = writeln!(
        svg,
        r##"<path d="{actual_line}" fill="none" stroke="#252525" stroke-width="1"/>"##
    );
    let _ = writeln!(
        svg,
        r##"<path d="{forecast}" fill="none" stroke="#e6550d" stroke-width="1"/>"##
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{MARGIN}" y1="{b}" x2="{r}" y2="{b}" stroke="#636363"/><line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{b}" stroke="#636363"/>"##,
        b = HEIGHT - MARGIN,
        r = WIDTH - MARGIN
    );
    let _ = writeln!(
        svg,
        r#"<text x="{MARGIN}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">{}</text>"#,
        HEIGHT - MARGIN + 18.0,
        rfc3339(t0),
        WIDTH - MARGIN,
        HEIGHT - MARGIN + 18.0,
        rfc3339(t1)
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="end">{hi:.3}</text><text x="{}" y="{}" text-anchor="end">{lo:.3}</text>"#,
        MARGIN - 4.0,
        MARGIN + 4.0,
        MARGIN - 4.0,
        HEIGHT - MARGIN
    );
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="20" text-anchor="end"><tspan fill="#252525">actual</tspan>  <tspan fill="#e6550d">forecast</tspan>  <tspan fill="#3182bd">interval</tspan></text>"##,
        WIDTH - MARGIN
    );
    svg.push_str("</svg>\n");
    svg
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
        v.algorithm.name(),
        v.model_sha256,
        v.dataset_sha256,
        v.horizon,
        v.interval_level * 100.0,
        v.holdout.interval.start,
        v.holdout.interval.end
    );
    md.push_str(HEADER);
    md.push_str(&row(v.algorithm.name(), &v.holdout.model));
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
