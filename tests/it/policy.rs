//! The gate judges what runs: over windows of the shared real traces, calling the forecast
//! step at each cadence tick — with the samples that have arrived by then and its previous
//! recommendation as state, as the CronWorkflow runs it — gives exactly the floors the
//! replay's candidate used at those ticks (property-tested over windows and policies). And the
//! forecast CronWorkflow fires at the configured cadence.

use std::sync::OnceLock;

use proptest::prelude::*;

use crate::common;
use mttd::contract::capacity::{ForecastBound, PredictiveConfig};
use mttd::contract::{CapacityConfig, DatasetManifest, Document, Interval, Model, Recommendation, WorkloadConfig};
use mttd::dataset::Dataset;
use mttd::source::{RawSeries, SourceDescription};
use mttd::time::{dur, rfc3339};

struct Trace {
    config: WorkloadConfig,
    raw: RawSeries,
    source: SourceDescription,
    data: Dataset,
    meta: DatasetManifest,
    model: Model,
    per_replica: f64,
}

/// A trace, its dataset and a model trained on it (once per test binary).
fn trace(file: &str, series: &str, resolution: &str) -> &'static Trace {
    static TRACES: OnceLock<std::sync::Mutex<std::collections::BTreeMap<String, &'static Trace>>> = OnceLock::new();
    let cache = TRACES.get_or_init(Default::default);
    if let Some(t) = cache.lock().unwrap().get(file) {
        return t;
    }
    let path = common::shared_dir().join("data/traces").join(file);
    let yaml = format!(
        "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: trace\nsource:\n  file:\n    path: {}\nsignals:\n  target: {series}\nresolution: {resolution}\nlabel:\n  horizon: 15m\n",
        path.display()
    );
    let config = WorkloadConfig::from_bytes(yaml.as_bytes(), "trace.yaml").unwrap();
    let (raw, source) = mttd::source::load(&config, None).unwrap();
    let (data, mut meta) = mttd::features::extract(&config, &raw, &source).unwrap();
    meta.dataset_sha256 = mttd::contract::sha256_hex(&data.to_parquet().unwrap());
    let (model, _) = mttd::train::train(&config, &data, &meta).unwrap();
    let mut demand: Vec<f64> = data.column("target").unwrap().to_vec();
    demand.sort_by(f64::total_cmp);
    let per_replica = demand[demand.len() / 2] / 5.0;
    let t: &'static Trace = Box::leak(Box::new(Trace {
        config,
        raw,
        source,
        data,
        meta,
        model,
        per_replica,
    }));
    cache.lock().unwrap().insert(file.to_string(), t);
    t
}

/// The raw series as they had arrived by `until` (Unix seconds, inclusive).
fn arrived(raw: &RawSeries, until: i64) -> RawSeries {
    RawSeries {
        origin: raw.origin.clone(),
        series: raw
            .series
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().copied().take_while(|(t, _)| *t <= until).collect()))
            .collect(),
    }
}

fn check_window(t: &Trace, at_fraction: f64, rows: usize, predictive: PredictiveConfig) -> Result<(), TestCaseError> {
    let step = t.config.resolution.seconds();
    let h = t.meta.label.horizon_steps as usize;
    // A window with a row at every minute from h before it to h after it (no gap: where the
    // data has one, both sides fall back — not what this compares).
    let ts = &t.data.timestamps;
    // The forecast step keeps a seasonal lag only with three times its length of data before
    // it (as extract-features does): before that it cannot make the model's features and falls
    // back, while the replay uses the rows of the whole dataset. Windows start after that.
    let seasonal = |lag: &str, days: i64| t.model.features.iter().any(|f| f == lag).then_some(3 * days * 86_400);
    let history = seasonal("target_seasonal_7d", 7)
        .or(seasonal("target_seasonal_1d", 1))
        .unwrap_or(0);
    let earliest = ts.partition_point(|&x| x < ts[0] + history + 3600) + h;
    prop_assume!(earliest + rows + 3 * h < ts.len());
    let mut i = earliest + ((ts.len() - earliest - rows - 3 * h) as f64 * at_fraction) as usize;
    while i + rows + h < ts.len() && ts[i + rows + h] - ts[i - h] != ((rows + 2 * h) as i64) * step {
        i += 1;
    }
    prop_assume!(i + rows + h < ts.len());
    let window = Interval {
        start: rfc3339(ts[i]),
        end: rfc3339(ts[i + rows - 1]),
    };
    let mut capacity: CapacityConfig = serde_yaml_ng::from_str(&format!(
        "per_replica: {}\nmax_replicas: 1000\nstartup_delay: 2m\n",
        t.per_replica
    ))
    .unwrap();
    capacity.predictive = predictive;
    // A declared event over the window's middle third (+50% expected, at least 7 replicas):
    // both sides apply it at the forecasts' target times.
    let calendar: mttd::contract::calendar::CalendarConfig = serde_yaml_ng::from_str(&format!(
        "events:\n- name: launch\n  start: {}\n  end: {}\n  uplift: 0.5\n  min_replicas: 7\n",
        rfc3339(ts[i + rows / 3]),
        rfc3339(ts[i + 2 * rows / 3])
    ))
    .unwrap();
    let inputs = mttd::compare::replay_inputs(&t.data, &t.meta, &window, &t.model).unwrap();
    let trace = mttd::replay::replay(
        &inputs.demand,
        inputs.start,
        inputs.row_seconds,
        &capacity,
        mttd::contract::deploy::Actuation::FloorMetric,
        Some(&inputs.forecasts(Some(&calendar))),
    );
    prop_assert!(!trace.floors.is_empty());
    let mut config = t.config.clone();
    config.capacity = Some(capacity.clone());
    config.calendar = Some(calendar.clone());
    let mut previous: Option<Recommendation> = None;
    for floor in &trace.floors {
        let now = inputs.start + floor.at;
        let raw = arrived(&t.raw, now - capacity.predictive.metric_delay.seconds());
        let rec = mttd::forecast::recommend(mttd::forecast::ForecastInput {
            config: &config,
            promoted: Some(mttd::model::PromotedModel {
                version: 1,
                model: t.model.clone(),
            }),
            raw: &raw,
            source: &t.source,
            now,
            current_replicas: None,
            previous: previous.as_ref(),
            unavailable: None,
            log_witness: None,
            drift: None,
        })
        .unwrap();
        prop_assert_eq!(
            rec.replicas,
            floor.replicas,
            "at {}: the forecast step recommends {:?} ({:?}), the replay's floor was {:?}",
            rfc3339(now),
            rec.replicas,
            rec.fallback,
            floor.replicas
        );
        // The same forecast, its interval tracked alike (the adaptive interval's state rides in
        // the recommendation between runs, in the replay's memory here).
        // (to rounding: the step writes point ± half-width, the replay may keep the model's bounds).
        let shown = rec.forecast.as_ref().map(|f| [f.point, f.lower, f.upper]);
        let replayed = floor.forecast.map(|f| [f.point, f.lower, f.upper]);
        let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-9 * x.abs().max(1.0));
        prop_assert!(
            match (shown, replayed) {
                (Some(a), Some(b)) => close(a, b),
                (a, b) => a.is_none() && b.is_none(),
            },
            "at {}: the forecast step's forecast {:?} and the replay's {:?}",
            rfc3339(now),
            shown,
            replayed
        );
        // Inside the event, a forecast acted on says so, and keeps the event's minimum.
        let target = rec
            .forecast
            .as_ref()
            .and_then(|f| mttd::time::parse_timestamp(&f.target_time));
        if rec.fallback.is_none() && target.is_some_and(|t| !calendar.events_at(t).is_empty()) {
            prop_assert!(
                rec.guardrails.iter().any(|g| g == "event launch: forecast × 1.5"),
                "{:?}",
                rec.guardrails
            );
            prop_assert!(rec.replicas.unwrap() >= 7.min(capacity.max_replicas));
        }
        // The state the next run reads, through its file form (as the ConfigMap carries it).
        previous = Some(Recommendation::from_bytes(&rec.to_bytes(), "recommendation.json").unwrap());
    }
    Ok(())
}

fn policies() -> impl Strategy<Value = PredictiveConfig> {
    (
        any::<bool>(),
        prop::sample::select(vec!["5m", "10m", "15m"]),
        prop::sample::select(vec!["0s", "1m", "2m"]),
        prop::option::of(1u32..4),
        prop::sample::select(vec!["0s", "10m", "30m"]),
        prop::sample::select(vec![0.3, 1.0, 10.0]),
        // The adaptive interval's rate and its drift limit, or none.
        prop::option::of((
            prop::sample::select(vec![0.05, 0.5]),
            prop::option::of(prop::sample::select(vec![1.1, 3.0])),
        )),
    )
        .prop_map(
            |(point, cadence, delay, step, window, width, adaptive)| PredictiveConfig {
                bound: if point {
                    ForecastBound::Point
                } else {
                    ForecastBound::Upper
                },
                cadence: dur(cadence),
                metric_delay: dur(delay),
                max_scale_down_step: step,
                scale_down_observation_window: dur(window),
                max_relative_interval_width: width,
                adaptive_interval: adaptive.map(|(rate, max_width_ratio)| mttd::contract::capacity::AdaptiveInterval {
                    rate,
                    max_width_ratio,
                }),
                ..PredictiveConfig::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_forecast_step_at_each_tick_sets_the_floors_the_replay_judged(
        which in 0usize..4,
        at in 0.0f64..1.0,
        rows in 60usize..150,
        policy in policies(),
    ) {
        let (file, series, resolution) = [
            ("nasa_http.csv", "nasa_http", "1m"),
            ("worldcup98_may.csv", "worldcup98_may", "1m"),
            ("twitter_stream_2021.csv", "twitter_stream", "1m"),
            ("google2019_cpu.csv", "google2019_cpu", "5m"),
        ][which];
        check_window(trace(file, series, resolution), at, rows, policy)?;
    }
}

#[test]
fn the_forecast_cron_fires_at_the_configured_cadence() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cron: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join("workflows/forecast-cron.yaml")).unwrap()).unwrap();
    let schedules = cron["spec"]["schedules"].as_array().unwrap();
    assert_eq!(schedules.len(), 1);
    let minute_field = schedules[0].as_str().unwrap().split(' ').next().unwrap().to_string();
    let every: i64 = minute_field
        .strip_prefix("*/")
        .unwrap_or_else(|| panic!("the schedule's minutes are `*/N`, not {minute_field}"))
        .parse()
        .unwrap();
    // The example config's cadence (the workload the CronWorkflow forecasts).
    let example: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join("templates/config-example.yaml")).unwrap()).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        example["data"]["config.yaml"].as_str().unwrap(),
    )
    .unwrap();
    let config = WorkloadConfig::load(&dir.path().join("config.yaml")).unwrap();
    assert_eq!(
        cron["spec"]["workflowSpec"]["arguments"]["parameters"][0]["value"],
        config.workload
    );
    let cadence = config.capacity.unwrap().predictive.cadence.seconds();
    assert_eq!(
        every * 60,
        cadence,
        "the CronWorkflow fires every {every} min, the policy's cadence is {cadence} s"
    );
    assert_eq!(
        cron["spec"]["timezone"], "UTC",
        "cadence ticks are Unix times divisible by the cadence, as cron fires in UTC"
    );
}
