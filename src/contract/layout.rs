//! Every file and folder a step reads or writes, and every key of the model store: the names the
//! Argo templates, `mttd run` and the store depend on, in one place. A test checks that every
//! path a template names under a step's folder is one of these.

/// A step's output folder: `mttd run` writes `<work dir>/<workload>/<folder>/`, the Argo templates
/// `/work/out/<folder>/` (and read it back as `/work/in/<folder>/`).
pub struct StepFolder {
    pub name: &'static str,
    /// The step that writes it.
    pub step: &'static str,
    /// The files it holds, relative to the folder (`values/replicas`).
    pub files: &'static [&'static str],
}

// extract-features
pub const DATASET_DIR: &str = "dataset";
pub const DATASET_FILE: &str = "dataset.parquet";
pub const DATASET_MANIFEST_FILE: &str = "dataset.manifest.json";

// train
pub const MODEL_DIR: &str = "model";
pub const MODEL_FILE: &str = "model.json";
pub const MODEL_MANIFEST_FILE: &str = "model.manifest.json";

// validate
pub const VALIDATION_DIR: &str = "validation";
pub const VALIDATION_FILE: &str = "validation.json";
pub const REPORT_FILE: &str = "report.md";
pub const PLOT_FILE: &str = "forecast.svg";
/// The holdout's headline numbers alone, for Argo output parameters and template metrics.
pub const MAE_FILE: &str = "mae";
pub const MAPE_FILE: &str = "mape";

// shadow-compare
pub const COMPARISON_DIR: &str = "comparison";
pub const COMPARISON_FILE: &str = "comparison.json";
pub const REPLAY_PLOT_FILE: &str = "replay.svg";

// gate
pub const DECISION_DIR: &str = "decision";
pub const DECISION_FILE: &str = "decision.json";
/// The decision word alone, for an Argo output parameter.
pub const DECISION_WORD_FILE: &str = "decision";

// publish
pub const PUBLISH_DIR: &str = "publish";
/// The version number published, and its status, for Argo output parameters.
pub const PUBLISHED_VERSION_FILE: &str = "version";
pub const PUBLISHED_STATUS_FILE: &str = "status";

// forecast
pub const FORECAST_DIR: &str = "forecast";
pub const RECOMMENDATION_FILE: &str = "recommendation.json";
pub const CONFIGMAP_FILE: &str = "configmap.yaml";
pub const HPA_PATCH_FILE: &str = "hpa-patch.yaml";
pub const PROMETHEUS_TEXT_FILE: &str = "forecast.prom";
/// One value a file, for workflow conditions and metrics: `values/<name>`.
pub const VALUES_DIR: &str = "values";
pub const VALUE_REPLICAS: &str = "replicas";
pub const VALUE_POINT: &str = "point";
pub const VALUE_UPPER: &str = "upper";
pub const VALUE_FALLBACK: &str = "fallback";
pub const VALUE_PATCH_HPA: &str = "patch-hpa";
pub const VALUE_MODEL_VERSION: &str = "model-version";
/// The decision record: what set the replicas (a `SetBy` code, or `none`), and what the HPA
/// alone recommends (or `none`).
pub const VALUE_SET_BY: &str = "set-by";
pub const VALUE_REACTIVE_REPLICAS: &str = "reactive-replicas";
/// The adaptive interval's live coverage so far (1 − missed / scored), or `none`.
pub const VALUE_LIVE_COVERAGE: &str = "live-coverage";
/// The surge alert's outcome: `posted`, `failed` or `none`.
pub const VALUE_ALERT: &str = "alert";
/// The floor metric's push to the Pushgateway (assisted mode, floor-metric actuation):
/// `pushed`, `failed` or `none`.
pub const VALUE_FLOOR_PUSH: &str = "floor-push";
/// The drift alert's outcome: `posted`, `failed` or `none`.
pub const VALUE_DRIFT_ALERT: &str = "drift-alert";
/// The score step's live drift rule: `true`, `false`, or `none` (no rule, or nothing scored).
pub const VALUE_DRIFT: &str = "drift";
/// The score step: the version in service's live MAE, interval coverage and forecasts scored
/// over the last day (`none` when none of its forecasts has matured).
pub const VALUE_LIVE_MAE: &str = "live-mae";
pub const VALUE_LIVE_INTERVAL_COVERAGE: &str = "live-interval-coverage";
pub const VALUE_LIVE_SCORED: &str = "live-scored";
/// The prediction log's outcome: `logged`, `failed` or `none` (`deploy.prediction_log: false`).
pub const VALUE_PREDICTION_LOG: &str = "prediction-log";

/// The score step's folder: the live score and its Prometheus text.
pub const SCORE_DIR: &str = "score";
pub const SCORE_FILE: &str = "score.json";
pub const SCORE_PROMETHEUS_FILE: &str = "score.prom";

/// The live-verdicts step's folder: every shadow's trial and the live drift rule
/// (trials.json), the run's outcome word (`values/outcome`: `promoted`, `rejected`, `waiting`
/// or `none` — the most consequential) and `values/drift` (`recorded` or `none`).
pub const LIVE_VERDICTS_DIR: &str = "live-verdicts";
pub const TRIALS_FILE: &str = "trials.json";
pub const VALUE_OUTCOME: &str = "outcome";

pub const FLEET_DIR: &str = "fleet";
/// The fleet forecast's folder: one `<workload>/` each (as the forecast step writes it), the
/// run's summary and every advice ConfigMap as one List.
pub const FLEET_FILE: &str = "fleet.json";
pub const FLEET_CONFIGMAPS_FILE: &str = "configmaps.yaml";
/// The shard's run as one ConfigMap `mttd-fleet-advice-<K>-of-<N>` (one object, which an Argo
/// resource step can apply; Argo's executor refuses a List).
pub const FLEET_ADVICE_FILE: &str = "advice.yaml";
/// The fleet run's counts, one a file: workloads with a forecast acted on, fallen back, failed.
pub const VALUE_RECOMMENDATIONS: &str = "recommendations";
pub const VALUE_FALLBACKS: &str = "fallbacks";
pub const VALUE_FAILED: &str = "failed";

/// `mttd backtest`'s folder: the document, its Markdown report and its timeline.
pub const BACKTEST_FILE: &str = "backtest.json";
pub const BACKTEST_REPORT_FILE: &str = "report.md";
pub const BACKTEST_PLOT_FILE: &str = "timeline.svg";

/// `mttd run` only: the config's `gate:` policy, written beside the step folders for the gate.
pub const RUN_GATE_POLICY_FILE: &str = "gate-policy.json";

/// Every step folder and what it holds.
pub const STEP_FOLDERS: &[StepFolder] = &[
    StepFolder {
        name: DATASET_DIR,
        step: "extract-features",
        files: &[DATASET_FILE, DATASET_MANIFEST_FILE],
    },
    StepFolder {
        name: MODEL_DIR,
        step: "train",
        files: &[MODEL_FILE, MODEL_MANIFEST_FILE],
    },
    StepFolder {
        name: VALIDATION_DIR,
        step: "validate",
        files: &[VALIDATION_FILE, REPORT_FILE, PLOT_FILE, MAE_FILE, MAPE_FILE],
    },
    StepFolder {
        name: COMPARISON_DIR,
        step: "shadow-compare",
        files: &[COMPARISON_FILE, REPLAY_PLOT_FILE],
    },
    StepFolder {
        name: DECISION_DIR,
        step: "gate",
        files: &[DECISION_FILE, DECISION_WORD_FILE],
    },
    StepFolder {
        name: PUBLISH_DIR,
        step: "publish",
        files: &[PUBLISHED_VERSION_FILE, PUBLISHED_STATUS_FILE],
    },
    StepFolder {
        name: FORECAST_DIR,
        step: "forecast",
        files: &[
            RECOMMENDATION_FILE,
            CONFIGMAP_FILE,
            HPA_PATCH_FILE,
            PROMETHEUS_TEXT_FILE,
            "values/replicas",
            "values/point",
            "values/upper",
            "values/fallback",
            "values/patch-hpa",
            "values/model-version",
            "values/set-by",
            "values/reactive-replicas",
            "values/live-coverage",
            "values/alert",
            "values/floor-push",
            "values/drift-alert",
            "values/prediction-log",
        ],
    },
    StepFolder {
        name: SCORE_DIR,
        step: "score",
        files: &[
            SCORE_FILE,
            SCORE_PROMETHEUS_FILE,
            "values/drift",
            "values/drift-alert",
            "values/model-version",
            "values/live-mae",
            "values/live-interval-coverage",
            "values/live-scored",
        ],
    },
    StepFolder {
        name: LIVE_VERDICTS_DIR,
        step: "live-verdicts",
        files: &[TRIALS_FILE, "values/outcome", "values/drift"],
    },
    StepFolder {
        name: FLEET_DIR,
        step: "fleet-forecast",
        files: &[
            FLEET_FILE,
            FLEET_CONFIGMAPS_FILE,
            FLEET_ADVICE_FILE,
            "values/recommendations",
            "values/fallbacks",
            "values/failed",
        ],
    },
];

/// A forecast value's path under the forecast folder: `values/<name>`.
pub fn value_file(name: &str) -> String {
    format!("{VALUES_DIR}/{name}")
}

/// The documents `mttd registry diff` compares between two versions, in this order.
pub const DIFFED_DOCUMENTS: &[&str] = &[
    DATASET_MANIFEST_FILE,
    MODEL_MANIFEST_FILE,
    VALIDATION_FILE,
    COMPARISON_FILE,
    DECISION_FILE,
];

// The model store, per workload.

/// `<workload>/registry.json`: the index derived from the change log.
pub fn registry_key(workload: &str) -> String {
    format!("{workload}/registry.json")
}

/// `<workload>/changelog/`: the change log's entries.
pub fn changelog_prefix(workload: &str) -> String {
    format!("{workload}/changelog/")
}

/// `<workload>/changelog/<seq, 8 digits>.json`.
pub fn changelog_key(workload: &str, sequence: u64) -> String {
    format!("{}{sequence:08}.json", changelog_prefix(workload))
}

/// `<workload>/models/`: one folder per version.
pub fn models_prefix(workload: &str) -> String {
    format!("{workload}/models/")
}

/// `<workload>/models/v<N>/`.
pub fn version_prefix(workload: &str, version: u32) -> String {
    format!("{}v{version}/", models_prefix(workload))
}

/// `<workload>/models/v<N>/<file>`.
pub fn version_key(workload: &str, version: u32, file: &str) -> String {
    format!("{}{file}", version_prefix(workload, version))
}

/// `<workload>/datasets/`: datasets stored once by content.
pub fn datasets_prefix(workload: &str) -> String {
    format!("{workload}/datasets/")
}

/// `<workload>/datasets/<sha256>.parquet`.
pub fn dataset_key(workload: &str, sha256: &str) -> String {
    format!("{}{sha256}.parquet", datasets_prefix(workload))
}

/// `<workload>/predictions/`: the forecasts' prediction log, one object a forecast.
/// `<workload>/forecast/state.json`: the last recommendation of a workload forecast by a fleet
/// pod whose output folder does not persist (`fleet-forecast --state-in-store`).
pub fn forecast_state_key(workload: &str) -> String {
    format!("{workload}/forecast/state.json")
}

pub fn predictions_prefix(workload: &str) -> String {
    format!("{workload}/predictions/")
}

/// `<workload>/predictions/<YYYY-MM-DD>/<YYYYMMDDTHHMMSSZ>.json` for a forecast made at the
/// Unix time `made_at`: a folder a day, so a day's log is one listing and no object grows.
pub fn prediction_key(workload: &str, made_at: i64) -> String {
    let time = chrono::DateTime::from_timestamp(made_at, 0).unwrap_or_default();
    format!(
        "{}{}/{}.json",
        predictions_prefix(workload),
        time.format("%Y-%m-%d"),
        time.format("%Y%m%dT%H%M%SZ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_files_are_listed_under_the_forecast_folder() {
        let forecast = STEP_FOLDERS.iter().find(|f| f.name == FORECAST_DIR).unwrap();
        for name in [
            VALUE_REPLICAS,
            VALUE_POINT,
            VALUE_UPPER,
            VALUE_FALLBACK,
            VALUE_PATCH_HPA,
            VALUE_MODEL_VERSION,
            VALUE_SET_BY,
            VALUE_REACTIVE_REPLICAS,
            VALUE_LIVE_COVERAGE,
            VALUE_ALERT,
            VALUE_FLOOR_PUSH,
            VALUE_DRIFT_ALERT,
            VALUE_PREDICTION_LOG,
        ] {
            assert!(forecast.files.contains(&value_file(name).as_str()), "{name}");
        }
    }

    #[test]
    fn store_keys() {
        assert_eq!(changelog_key("api", 7), "api/changelog/00000007.json");
        assert_eq!(version_key("api", 3, MODEL_FILE), "api/models/v3/model.json");
        assert_eq!(dataset_key("api", "ab"), "api/datasets/ab.parquet");
        assert_eq!(registry_key("api"), "api/registry.json");
        assert_eq!(
            prediction_key("api", 1_796_025_600 + 16 * 3600 + 5),
            "api/predictions/2026-12-01/20261201T000005Z.json"
        );
    }
}
