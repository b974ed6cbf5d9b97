//! The model's choices on workloads of known shape: a workload that grows with a daily pattern
//! proportional to its level is learnt relative to its level (`model.scale: auto` picks it on
//! the calibration window, and it beats the absolute fit on the holdout); a relative model's
//! forecast scales with the workload; with `refit`, the final fit reaches the end of the calibration window.

use mttd::contract::model::ScaleMode;
use mttd::contract::{Document, WorkloadConfig};

/// 21 days of minutes: the level triples, the daily pattern is ±60% of the level, and a
/// deterministic ±3% ripple stands in for noise.
fn growing_csv() -> String {
    let n = 21 * 1440;
    let mut csv = String::from("timestamp,series,value\n");
    for t in 0..n {
        let level = 100.0 * (1.0 + 2.0 * t as f64 / n as f64);
        let day = (2.0 * std::f64::consts::PI * t as f64 / 1440.0).sin();
        let ripple = 0.03 * ((t * 7919 % 101) as f64 / 50.0 - 1.0);
        let value = level * (1.0 + 0.6 * day) * (1.0 + ripple);
        csv.push_str(&format!(
            "{},rps,{value:.3}\n",
            mttd::time::rfc3339(1_700_000_000 / 60 * 60 + t * 60)
        ));
    }
    csv
}

fn trained(
    model: &str,
    dir: &std::path::Path,
) -> (
    mttd::contract::Model,
    mttd::contract::ModelManifest,
    f64,
    mttd::dataset::Dataset,
) {
    let yaml = format!(
        "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: grow\nsource:\n  file:\n    path: {}\nsignals:\n  target: rps\nlabel:\n  horizon: 15m\nmodel:\n{model}",
        dir.join("grow.csv").display()
    );
    let config = WorkloadConfig::from_bytes(yaml.as_bytes(), "grow.yaml").unwrap();
    let (raw, description) = mttd::source::load(&config, None).unwrap();
    let (data, mut meta) = mttd::features::extract(&config, &raw, &description).unwrap();
    meta.dataset_sha256 = mttd::contract::sha256_hex(&data.to_parquet().unwrap());
    let (model, manifest) = mttd::train::train(&config, &data, &meta).unwrap();
    let (validation, _) = mttd::evaluate::validate(&model, &manifest, &data, &meta, "grow").unwrap();
    (model, manifest, validation.holdout.model.mae, data)
}

#[test]
fn a_growing_workload_is_learnt_relative_to_its_level() {
    let dir = assert_fs::TempDir::new().unwrap();
    std::fs::write(dir.path().join("grow.csv"), growing_csv()).unwrap();
    let (auto, manifest, auto_mae, data) = trained("  scale: auto\n", dir.path());
    let (_, _, absolute_mae, _) = trained("  scale: absolute\n", dir.path());
    let selection = manifest.selection.as_ref().unwrap();
    println!(
        "growing workload: holdout MAE auto ({:?}) {auto_mae:.3}, absolute {absolute_mae:.3}; {selection:?}",
        selection.chosen
    );
    assert_eq!(selection.chosen, ScaleMode::Relative, "{selection:?}");
    assert_eq!(selection.candidates.len(), 2);
    let relative = auto.relative.as_ref().unwrap();
    assert_eq!(relative.by, "target_mean_60m", "the longest rolling mean");
    assert!(
        relative.divided.contains(&"target".to_string()) && !relative.divided.iter().any(|f| f.starts_with("hour_"))
    );
    assert!(
        auto_mae < 0.8 * absolute_mae,
        "relative {auto_mae} vs absolute {absolute_mae}"
    );
    // The served fit is the fit rows'; with `refit` it reaches the end of the calibration window.
    assert_eq!(selection.fitted_on, manifest.split.fit);
    let (_, refitted, _, _) = trained("  refit: true\n", dir.path());
    let fitted_on = &refitted.selection.as_ref().unwrap().fitted_on;
    assert_eq!(fitted_on.end, refitted.split.calibration.end);
    assert_eq!(fitted_on.start, refitted.split.fit.start);

    // A relative model's forecast scales with the workload: the same rows at 10× the level
    // give 10× the forecast.
    let rows = data.slice(data.rows() - 3000..data.rows() - 2950);
    let mut scaled = rows.clone();
    for (name, column) in scaled.columns.iter_mut() {
        if relative.divided.contains(name) {
            column.to_mut().iter_mut().for_each(|v| *v *= 10.0);
        }
    }
    let (a, b) = (
        auto.predict_points(&rows).unwrap(),
        auto.predict_points(&scaled).unwrap(),
    );
    for (x, y) in a.iter().zip(&b) {
        assert!((10.0 * x - y).abs() <= 1e-9 * y.abs().max(1.0), "{x} → {y}");
    }
}
