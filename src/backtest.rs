//! `mttd backtest`: the whole loop over a stretch of history as if it were live. Through the
//! same functions the steps run — extract, train, validate, shadow-compare, gate, publish into a
//! model store (in memory), the live trials of shadows (`crate::shadow`), the live score and its
//! drift rule (`crate::score`) — on a schedule of retrains, with a forecast of the version in
//! service (and of each shadow) at every cadence tick from the samples visible then, and the HPA
//! replay of the deployed policy over the whole stretch beside the reactive HPA.
//!
//! What it simplifies, and why it does not change the figures: the features of every tick come
//! from one feature table of the whole history (each feature is computed from the past only —
//! lags, trailing windows, calendar terms of the target time — so the value at a tick is the
//! value the forecast step computes from the samples up to it); the floors are set by the replay
//! from those forecasts with the one policy the forecast step runs (`crate::policy`).

use std::collections::{BTreeMap, HashMap};

use crate::compare::{self, ReplaySetup};
use crate::contract::backtest::{
    Backtest, BacktestDrift, BacktestKind, BacktestReplay, BacktestRetrain, BacktestSummary, BacktestTrial,
    BacktestVersion,
};
use crate::contract::deploy::{
    FallbackReason, ForecastValue, Mode, Recommendation, RecommendationKind, ShadowForecast,
};
use crate::contract::document::{sha256_hex, ApiVersion, Document};
use crate::contract::gate::Verdict;
use crate::contract::interval::Interval;
use crate::contract::layout::{
    COMPARISON_FILE, DATASET_MANIFEST_FILE, DECISION_FILE, MODEL_FILE, MODEL_MANIFEST_FILE, VALIDATION_FILE,
};
use crate::contract::registry::{LiveTrial, VersionStatus};
use crate::contract::workload::WorkloadConfig;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::evaluate::metrics;
use crate::model::Prediction;
use crate::policy::Forecast;
use crate::replay::{self, Forecasts, Trace};
use crate::shadow::{self, Trial};
use crate::source::{RawSeries, SourceDescription};
use crate::store::{registry, Store};
use crate::time::{rfc3339, HumanDuration};
use crate::{evaluate, features, gate, score, train};

/// Who the backtest's change-log entries are by.
const ACTOR: &str = "mttd-backtest";

/// The stretch and the schedule (Unix seconds).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub from: i64,
    pub to: i64,
    pub retrain_every: i64,
}

/// The backtest's document, and what its timeline plot shows.
pub struct BacktestRun {
    pub document: Backtest,
    pub start: i64,
    pub row_seconds: i64,
    pub per_replica: f64,
    pub reactive: Trace,
    pub mttd: Trace,
    /// Retrains, trials and drift, for markers: (time, label).
    pub events: Vec<(i64, String)>,
    /// The prediction log as the forecast step would have written it (the parts the score and
    /// the live trials read), one a tick with a forecast.
    pub log: Vec<Recommendation>,
}

/// A version's forecasts at the ticks (target time, prediction).
#[derive(Default)]
struct Tally {
    role: &'static str,
    made: Vec<(i64, Prediction)>,
}

struct Loop<'a> {
    config: &'a WorkloadConfig,
    raw: &'a RawSeries,
    source: &'a SourceDescription,
    store: Store,
    /// The whole history's feature rows; each version's predictions over them.
    table: Dataset,
    predictions: HashMap<u32, Vec<Prediction>>,
    promoted: Option<u32>,
    /// The shadows forecast beside it (the newest, as the forecast step takes them) and when
    /// each was published.
    shadows: Vec<(u32, i64)>,
    /// When each version went into service (for the replay), in order.
    in_service: Vec<(i64, u32)>,
    doc: Backtest,
    events: Vec<(i64, String)>,
    /// The versions live drift was recorded for, and when.
    drifted: Vec<(u32, i64)>,
}

impl Loop<'_> {
    /// One retrain at `at` on the samples up to it: what the retrain DAG does, then publish into
    /// the store when the gate says promote or shadow (an approval nobody gives here waits).
    fn retrain(&mut self, at: i64, trigger: &str) -> Result<()> {
        let cut = RawSeries {
            origin: self.raw.origin.clone(),
            series: self
                .raw
                .series
                .iter()
                .map(|(name, samples)| {
                    let n = samples.partition_point(|s| s.0 <= at);
                    (name.clone(), samples[..n].to_vec())
                })
                .collect(),
        };
        let record = |version: Option<u32>, decision: Option<Verdict>, reason: String| BacktestRetrain {
            at: rfc3339(at),
            trigger: trigger.to_string(),
            version,
            decision,
            reason,
        };
        let published = match self.publish(&cut, at) {
            Ok(p) => p,
            Err(e) => {
                self.doc.retrains.push(record(None, None, e.to_string()));
                return Ok(());
            }
        };
        let (version, decision, reason) = published;
        self.doc.retrains.push(record(version, Some(decision), reason));
        let label = format!("retrain: {}", decision.as_str());
        self.events.push((at, label));
        if version.is_some() {
            self.refresh(at)?;
        }
        Ok(())
    }

    /// The retrain's steps on `cut`; the version published (none on reject or needs-approval).
    fn publish(&mut self, cut: &RawSeries, at: i64) -> Result<(Option<u32>, Verdict, String)> {
        let config = self.config;
        let origin = format!("backtest at {}", rfc3339(at));
        let (data, mut meta) = features::extract(config, cut, self.source)?;
        let parquet = data.to_parquet()?;
        meta.rows = data.rows() as u64;
        meta.dataset_sha256 = sha256_hex(&parquet);
        let (model, manifest) = train::train(config, &data, &meta)?;
        let (validation, _) = evaluate::validate(&model, &manifest, &data, &meta, &origin)?;
        let promoted = registry::promoted_model(&self.store, &config.workload)?;
        let (comparison, _) = compare::shadow_compare(
            &model,
            &manifest,
            promoted,
            ReplaySetup::of(config),
            &data,
            &meta,
            &origin,
        )?;
        let promotions = registry::promotions(&self.store, &config.workload)?;
        let decision = gate::decide(&config.gate, &validation, &comparison, &manifest, Some(promotions))?;
        let verdict = decision.decision;
        let reason = decision.reason.clone();
        if !matches!(verdict, Verdict::Promote | Verdict::Shadow) {
            return Ok((None, verdict, reason));
        }
        let documents = BTreeMap::from([
            (MODEL_FILE.to_string(), model.to_bytes()),
            (MODEL_MANIFEST_FILE.to_string(), manifest.to_bytes()),
            (DATASET_MANIFEST_FILE.to_string(), meta.to_bytes()),
            (VALIDATION_FILE.to_string(), validation.to_bytes()),
            (COMPARISON_FILE.to_string(), comparison.to_bytes()),
            (DECISION_FILE.to_string(), decision.to_bytes()),
        ]);
        let publication = registry::Publication {
            workload: config.workload.clone(),
            documents,
            dataset: parquet,
            dataset_sha256: meta.dataset_sha256.clone(),
            decision,
            actor: ACTOR.into(),
            recorded_at: rfc3339(at),
        };
        let (version, _) = registry::publish(&self.store, &publication)?;
        self.predictions.insert(version, model.predict(&self.table)?);
        Ok((Some(version), verdict, reason))
    }

    /// Reads the registry after a change: the version in service from `at`, and the shadows.
    fn refresh(&mut self, at: i64) -> Result<()> {
        let registry = registry::registry(&self.store, &self.config.workload)?;
        if registry.promoted != self.promoted {
            if let Some(v) = registry.promoted {
                self.in_service.push((at, v));
            }
            self.promoted = registry.promoted;
        }
        let mut shadows: Vec<(u32, i64)> = registry
            .versions
            .iter()
            .filter(|v| v.status == VersionStatus::Shadow)
            .map(|v| (v.version, crate::time::parse_timestamp(&v.published_at).unwrap_or(at)))
            .collect();
        shadows.sort_by_key(|s| std::cmp::Reverse(s.0));
        shadows.truncate(registry::MAX_SHADOWS);
        self.shadows = shadows;
        Ok(())
    }
}

/// A forecast as the prediction log keeps it (the parts the score and the trials read).
fn logged(
    workload: &str,
    made: i64,
    version: Option<u32>,
    horizon: &str,
    forecast: Option<ForecastValue>,
) -> Recommendation {
    Recommendation {
        api_version: ApiVersion::V1,
        kind: RecommendationKind::Kind,
        workload: workload.to_string(),
        generated_at: rfc3339(made),
        mode: Mode::Advisory,
        model_version: version,
        inputs: None,
        horizon: horizon.to_string(),
        forecast,
        replicas: None,
        needed_replicas: None,
        guardrails: Vec::new(),
        fallback: None,
        history: Vec::new(),
        operator_floor: None,
        log_witness: None,
        surge: None,
        decision: None,
        headroom: None,
        interval_tracking: None,
        shadows: Vec::new(),
        demoted: None,
    }
}

fn value(target_time: i64, p: &Prediction) -> ForecastValue {
    ForecastValue {
        target_time: rfc3339(target_time),
        point: p.point,
        lower: p.lower,
        upper: p.upper,
    }
}

/// Runs the loop over `schedule` on `raw` (the whole history the source gave).
pub fn backtest(
    config: &WorkloadConfig,
    raw: &RawSeries,
    source: &SourceDescription,
    schedule: Schedule,
) -> Result<BacktestRun> {
    let capacity = config.capacity.as_ref().ok_or_else(|| {
        Error::Data(format!(
            "workload {}: a backtest replays the autoscaler and needs `capacity:` in the config",
            config.workload
        ))
    })?;
    if schedule.to <= schedule.from || schedule.retrain_every <= 0 {
        return Err(Error::Data(format!(
            "the backtest window {} to {} is empty",
            rfc3339(schedule.from),
            rfc3339(schedule.to)
        )));
    }
    let step = config.resolution.seconds();
    let policy = &capacity.predictive;
    let cadence = policy.cadence.seconds().max(1);
    let metric_delay = policy.metric_delay.seconds().max(0);
    let deploy = config.deploy.clone().unwrap_or_default();
    let horizon = config.label.horizon();
    let h = config.steps(&horizon);
    let target = raw.series.get(&config.signals.target).map(Vec::as_slice).unwrap_or(&[]);
    let table = features::extract_unlabelled(config, raw, source)?;
    let live = config.gate.live_shadow.clone().unwrap_or_default();
    let drift_rule = deploy.drift_alert.clone().filter(|d| d.live_mae_ratio.is_some());
    let advisory_on_drift = drift_rule.as_ref().is_some_and(|d| d.advisory_on_drift);
    let mut run = Loop {
        config,
        raw,
        source,
        store: Store::open_with("memory://", Vec::<(String, String)>::new())?,
        table,
        predictions: HashMap::new(),
        promoted: None,
        shadows: Vec::new(),
        in_service: Vec::new(),
        doc: Backtest {
            api_version: ApiVersion::V1,
            kind: BacktestKind::Kind,
            workload: config.workload.clone(),
            window: Interval {
                start: rfc3339(schedule.from),
                end: rfc3339(schedule.to),
            },
            retrain_every: HumanDuration::from_seconds(schedule.retrain_every).to_string(),
            cadence: policy.cadence.to_string(),
            horizon: horizon.to_string(),
            retrains: Vec::new(),
            trials: Vec::new(),
            drift: Vec::new(),
            ticks: 0,
            fallbacks: BTreeMap::new(),
            versions: Vec::new(),
            replay: BacktestReplay {
                reactive_saturation_episodes: 0,
                reactive: Default::default(),
                mttd: Default::default(),
                ticks_without_floor: 0,
                forecasts_scored: 0,
                interval_coverage: 0.0,
            },
            summary: Default::default(),
        },
        events: Vec::new(),
        drifted: Vec::new(),
    };
    let mut log: Vec<Recommendation> = Vec::new();
    let mut made: Vec<i64> = Vec::new();
    let mut tallies: BTreeMap<u32, Tally> = BTreeMap::new();
    let mut next_retrain = schedule.from;
    let mut drift_pending = false;
    let mut validated: HashMap<u32, f64> = HashMap::new();
    let first_tick =
        schedule.from.div_euclid(cadence) * cadence + if schedule.from % cadence == 0 { 0 } else { cadence };
    let mut tick = first_tick;
    while tick < schedule.to {
        // Retrains: on the schedule, and at once when drift held.
        let trigger = if drift_pending {
            Some("drift")
        } else if tick >= next_retrain {
            Some("schedule")
        } else {
            None
        };
        if let Some(trigger) = trigger {
            run.retrain(tick, trigger)?;
            drift_pending = false;
            while next_retrain <= tick {
                next_retrain += schedule.retrain_every;
            }
        }
        // The forecast at this tick: from the samples visible (metric_delay old).
        run.doc.ticks += 1;
        let visible = target.partition_point(|s| s.0 <= tick - metric_delay);
        let fallback = |reason: FallbackReason| reason.as_str().to_string();
        let row = match visible.checked_sub(1).map(|i| target[i].0) {
            None => Err(fallback(FallbackReason::MetricsStale)),
            Some(last) if tick - last > deploy.max_staleness.seconds() => Err(fallback(FallbackReason::MetricsStale)),
            Some(last) => {
                let slot = last.div_euclid(step) * step;
                run.table
                    .timestamps
                    .binary_search(&slot)
                    .map(|row| (row, slot + horizon.seconds()))
                    .map_err(|_| fallback(FallbackReason::FeatureWindowIncomplete))
            }
        };
        let shadows = run.shadows.clone();
        match (row, run.promoted) {
            (Ok((row, target_time)), promoted) => {
                let of = |v: u32| run.predictions.get(&v).map(|p| p[row]);
                let mut rec = logged(
                    &config.workload,
                    tick,
                    promoted,
                    &horizon.to_string(),
                    promoted.and_then(of).map(|p| value(target_time, &p)),
                );
                if promoted.is_none() {
                    *run.doc
                        .fallbacks
                        .entry(fallback(FallbackReason::NoPromotedModel))
                        .or_default() += 1;
                }
                for (v, role) in promoted
                    .iter()
                    .map(|v| (*v, "promoted"))
                    .chain(shadows.iter().map(|s| (s.0, "shadow")))
                {
                    if let Some(p) = of(v) {
                        let tally = tallies.entry(v).or_default();
                        tally.role = if tally.role == "promoted" { "promoted" } else { role };
                        tally.made.push((target_time, p));
                        if role == "shadow" {
                            rec.shadows.push(ShadowForecast {
                                model_version: v,
                                forecast: Some(value(target_time, &p)),
                                failed: None,
                            });
                        }
                    }
                }
                log.push(rec);
                made.push(tick);
            }
            (Err(reason), _) => {
                *run.doc.fallbacks.entry(reason).or_default() += 1;
            }
        }
        // Hourly: the live trials, and the live drift rule on the version in service.
        if tick % 3600 == 0 {
            let since = |seconds: i64| made.partition_point(|m| *m < tick - seconds);
            if !shadows.is_empty() {
                let recent = &log[since(live.max_duration.seconds())..];
                let mut winner: Option<(u32, f64, LiveTrial)> = None;
                for (version, published) in &shadows {
                    let evidence = shadow::evidence(recent, target, *version, run.promoted, &live, tick);
                    if let Trial::End(decision, reason) = shadow::judge(&evidence, *published, tick) {
                        let error = evidence.shadow_error;
                        let trial = LiveTrial {
                            decision,
                            reason,
                            at: rfc3339(tick),
                            by: ACTOR.into(),
                            evidence,
                        };
                        if decision == Verdict::Reject {
                            registry::record_live_verdict(&run.store, &config.workload, *version, &trial)?;
                            run.events.push((tick, format!("v{version} rejected live")));
                            run.doc.trials.push(BacktestTrial {
                                at: trial.at.clone(),
                                version: *version,
                                decision,
                                reason: trial.reason.clone(),
                            });
                        } else if winner.as_ref().is_none_or(|w| error < w.1) {
                            winner = Some((*version, error, trial));
                        }
                    }
                }
                if let Some((version, _, trial)) = winner {
                    registry::record_live_verdict(&run.store, &config.workload, version, &trial)?;
                    run.events.push((tick, format!("v{version} promoted live")));
                    run.doc.trials.push(BacktestTrial {
                        at: trial.at.clone(),
                        version,
                        decision: trial.decision,
                        reason: trial.reason,
                    });
                }
                run.refresh(tick)?;
            }
            if let (Some(rule), Some(version)) = (&drift_rule, run.promoted) {
                let window = score::WINDOWS
                    .iter()
                    .find(|w| w.0 == rule.live_window)
                    .map_or(86_400, |w| w.1);
                let recent = &log[since(window + horizon.seconds())..];
                let scored = score::score(&config.workload, recent, target, Some(capacity.per_replica), tick);
                let validation_mae = match validated.get(&version) {
                    Some(mae) => *mae,
                    None => *validated
                        .entry(version)
                        .or_insert(validation_mae(&run.store, &config.workload, version)?),
                };
                let drift = score::live_drift(&scored, version, validation_mae, rule);
                if let Some(drift) = drift.filter(|d| d.holds && !run.drifted.iter().any(|x| x.0 == version)) {
                    // As the live-verdicts step records it; with advisory_on_drift the floors of
                    // this version's forecasts are not acted on from now.
                    registry::record_drift(&run.store, &config.workload, &drift, ACTOR, &rfc3339(tick))?;
                    run.drifted.push((version, tick));
                    run.events.push((tick, format!("drift v{version}")));
                    run.doc.drift.push(BacktestDrift {
                        at: rfc3339(tick),
                        version,
                        live_mae: drift.live_mae,
                        validation_mae,
                        ratio: drift.ratio,
                    });
                    drift_pending = true;
                }
            }
        }
        tick += cadence;
    }
    // The live error of each version's matured forecasts.
    let actual_at = |t: i64| score::actual_at(target, t);
    for (version, tally) in &tallies {
        let (predictions, actuals): (Vec<Prediction>, Vec<f64>) = tally
            .made
            .iter()
            .filter(|(t, _)| *t <= schedule.to)
            .filter_map(|(t, p)| Some((*p, actual_at(*t)?)))
            .unzip();
        if predictions.is_empty() {
            continue;
        }
        let m = metrics(&predictions, &actuals);
        run.doc.versions.push(BacktestVersion {
            version: *version,
            role: tally.role.to_string(),
            scored: m.rows,
            mae: m.mae,
            mape: m.mape,
            coverage: m.coverage,
            mean_interval_width: m.mean_interval_width,
        });
    }
    // The replay: demand on the grid from the window's start; at each row, the forecast of the
    // version in service when it was made (the row's time + the metric delay, the tick it is
    // read at), indexed by target row.
    let start = schedule.from.div_euclid(step) * step;
    let rows = ((schedule.to - start) / step).max(1) as usize;
    let mut demand = Vec::with_capacity(rows);
    let mut last = target.first().map_or(0.0, |s| s.1);
    let mut i = target.partition_point(|s| s.0 < start);
    for r in 0..rows {
        let t = start + r as i64 * step;
        while i < target.len() && target[i].0 <= t {
            if target[i].0 == t {
                last = target[i].1;
            }
            i += 1;
        }
        demand.push(last);
    }
    let in_service_at = |t: i64| {
        let k = run.in_service.partition_point(|s| s.0 <= t);
        k.checked_sub(1).map(|k| run.in_service[k].1)
    };
    let by_target: Vec<Option<Forecast>> = (0..rows + h)
        .map(|g| {
            let made_from = start + (g as i64 - h as i64) * step;
            let row = run.table.timestamps.binary_search(&made_from).ok()?;
            let version = in_service_at(made_from + metric_delay)?;
            // Advisory on drift: the advice of a drifted version is not acted on.
            let demoted = run
                .drifted
                .iter()
                .any(|(v, at)| *v == version && *at <= made_from + metric_delay);
            if demoted && advisory_on_drift {
                return None;
            }
            let p = &run.predictions.get(&version)?[row];
            Some(Forecast {
                point: p.point,
                lower: p.lower,
                upper: p.upper,
            })
        })
        .collect();
    let level = config.model.interval_level;
    let forecasts = Forecasts {
        by_target: &by_target,
        horizon_rows: h,
        calendar: config.calendar.as_ref(),
        level,
    };
    let actuation = deploy.actuation;
    let (episodes, (reactive, reactive_trace), (mttd, mttd_trace)) =
        replay::against_reactive(&demand, start, step, capacity, actuation, &forecasts);
    let without_floor = mttd_trace.floors.iter().filter(|f| f.replicas.is_none()).count() as u64;
    let covered: Vec<bool> = mttd_trace
        .floors
        .iter()
        .filter_map(|f| {
            let forecast = f.forecast?;
            let actual =
                actual_at(start + f.target_row * step).filter(|_| start + f.target_row * step <= schedule.to)?;
            Some(actual >= forecast.lower && actual <= forecast.upper)
        })
        .collect();
    let verdicts = |d: Verdict| run.doc.retrains.iter().filter(|r| r.decision == Some(d)).count() as u64;
    let trials = |d: Verdict| run.doc.trials.iter().filter(|t| t.decision == d).count() as u64;
    run.doc.summary = BacktestSummary {
        retrains: run.doc.retrains.len() as u64,
        promotions: verdicts(Verdict::Promote),
        shadows: verdicts(Verdict::Shadow),
        rejections: verdicts(Verdict::Reject),
        shadows_promoted: trials(Verdict::Promote),
        shadows_rejected: trials(Verdict::Reject),
        drift_events: run.doc.drift.len() as u64,
        saturated_minutes_saved: reactive.saturated_minutes - mttd.saturated_minutes,
        replica_minutes_added: mttd.replica_minutes - reactive.replica_minutes,
    };
    run.doc.replay = BacktestReplay {
        reactive_saturation_episodes: episodes,
        reactive,
        mttd,
        ticks_without_floor: without_floor,
        forecasts_scored: covered.len() as u64,
        interval_coverage: covered.iter().filter(|c| **c).count() as f64 / covered.len().max(1) as f64,
    };
    run.events.sort();
    Ok(BacktestRun {
        document: run.doc,
        start,
        row_seconds: step,
        per_replica: capacity.per_replica,
        reactive: reactive_trace,
        mttd: mttd_trace,
        events: run.events,
        log,
    })
}

/// The holdout MAE `version` was validated with (its validation.json in the store).
fn validation_mae(store: &Store, workload: &str, version: u32) -> Result<f64> {
    let registry = registry::registry(store, workload)?;
    let record = registry
        .versions
        .iter()
        .find(|v| v.version == version)
        .ok_or_else(|| Error::NotFound(format!("{workload} v{version}")))?;
    let bytes = registry::load_document(store, workload, record, VALIDATION_FILE)?;
    Ok(
        crate::contract::validation::Validation::from_bytes(&bytes, VALIDATION_FILE)?
            .holdout
            .model
            .mae,
    )
}
