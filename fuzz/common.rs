// Shared by the file-source targets: the export written where a config names it, then read
// and turned into features as extract-features does.
use mttd::contract::{Document, WorkloadConfig};

pub fn through_the_file_source(data: &[u8], extension: &str) {
    // libfuzzer-sys's panic hook aborts on every panic, even one mttd catches (polars' Parquet
    // reader panics on some files; mttd reads it behind a panic boundary and reports an
    // error). A quiet hook lets caught panics unwind; a panic that escapes mttd still ends in
    // libfuzzer-sys's own catch, which aborts: a crash, as it should be.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let dir = std::env::temp_dir().join(format!("mttd-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let export = dir.join(format!("export.{extension}"));
    if std::fs::write(&export, data).is_err() {
        return;
    }
    let yaml = format!(
        "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: fuzz\nsource:\n  file:\n    path: {}\nsignals:\n  target: rps\n  features: [cpu]\nfeatures:\n  lags: [5m]\n  rolling_windows: [10m]\n  seasonal_lags: [1d]\nlabel:\n  horizon: 5m\n",
        export.display()
    );
    let config = WorkloadConfig::from_bytes(yaml.as_bytes(), "w.yaml").expect("the fuzz config is valid");
    if let Ok((raw, source)) = mttd::source::load(&config, None) {
        let _ = mttd::features::extract(&config, &raw, &source);
    }
}
