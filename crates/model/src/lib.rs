//! Models of a request's execution performance: features from a run's dataset, one XGBoost
//! booster per target (duration, CPU seconds, peak RSS), their honest evaluation, and placement
//! decisions (which pod size to run a request on).
//!
//! Features are built directly from the typed rows `dataset::open_run` returns (no dataframe
//! library): a fixed list of documented columns, never columns picked by name patterns.
//!
//! Architecture invariant: nothing here does network I/O; every random choice derives from a
//! caller-given seed, and training with the same data, options and seed yields the same model
//! bytes.

mod evaluate;
mod features;
mod linear;
mod metrics;
mod multi;
mod place;
mod train;
pub mod xgboost;

use std::path::PathBuf;

pub use evaluate::{
    EvalOptions, Evaluation, HeldOutPrediction, ImportanceEntry, MULTI_OUTPUT_PREDICTOR,
    NoiseFloor, PredictorMetrics, SplitKind, SplitReport, evaluate, held_out_predictions,
};
pub use features::{
    MEMORY_HEADROOM, PAYLOAD_FEATURES, RequestInput, STATE_GAUGES, Target, candidate_names, usable,
};
pub use metrics::{BucketError, DURATION_BUCKETS, Metrics, mape_by_duration_bucket};
pub use multi::MultiOutputModel;
pub use place::{
    DurationSource, GroupScore, HYBRID_SWITCH_SECONDS, Objective, PlaceRequest, PlacementChoice,
    PlacementEvaluation, PlacementScore, REPETITION_MEAN_POLICY, SizeEstimate, answer,
    cost_per_second, evaluate_placement, parse_payload, place,
};
pub use train::{
    BAND_COVERAGE, BAND_FOLDS, DurationBand, FeatureGains, LOG_TARGET_FLOOR, METADATA_FILE,
    MIN_BAND_ROWS, MIN_TRAINING_ROWS, MODEL_FORMAT_VERSION, ModelMetadata, RatioBand, SourceBand,
    TargetTransform, TrainOptions, TrainedModel, cores, train, train_on, train_with_band,
};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Xgboost(#[from] xgboost::XgbError),
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    #[error("{path:?}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path:?}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("request {seq} has no finite {target}")]
    BadTarget { target: Target, seq: u64 },
    #[error("{what} needs at least {needed} rows, found {found}")]
    TooFewRows {
        what: String,
        needed: usize,
        found: usize,
    },
    #[error("no target to train")]
    NoTargets,
    #[error("unknown pod size {0:?}")]
    UnknownSize(String),
    #[error("unknown function {0:?} (expected ml, pi, dense or video)")]
    UnknownFunction(String),
    #[error("invalid payload for {function}: {message}")]
    BadPayload { function: String, message: String },
    #[error("the model does not predict {0}")]
    MissingTarget(Target),
    #[error("model features do not match: {0}")]
    FeatureMismatch(String),
    #[error("{path:?}: model format version {found}, this code reads {expected}")]
    ModelFormat {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("invalid option: {0}")]
    BadOption(String),
    #[error("{field}: {reason}")]
    BadField { field: String, reason: String },
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
