//! Training one booster per target, and the trained model's files: `metadata.json` plus one
//! XGBoost JSON model per target.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::place::DurationSource;
use dataset::{AlignedRequest, Run, SizeSpec};
use serde::{Deserialize, Serialize};

use crate::evaluate::{SeededRng, fold_split, inputs_of};
use crate::features::{
    RequestInput, Target, candidate_names, candidate_values, informative_columns, target_values,
    usable,
};
use crate::metrics::{DURATION_BUCKETS, Metrics, median, quantile};
use crate::xgboost::{Booster, DMatrix};
use crate::{ModelError, Result};

/// Version of the model directory's layout (`metadata.json` and the per-target files).
/// Version 2 added `log_targets` to the training options.
pub const MODEL_FORMAT_VERSION: u32 = 2;
pub const METADATA_FILE: &str = "metadata.json";
/// Fewer usable rows than this cannot train anything meaningful.
pub const MIN_TRAINING_ROWS: usize = 10;
/// The floor ε of the log transform, in the target's unit: 1 µs for durations and CPU seconds
/// (below the timers' useful resolution), one byte for memory. It keeps ln(y + ε) finite at
/// y = 0 while leaving relative errors of every measurable value weighed alike.
pub const LOG_TARGET_FLOOR: f64 = 1e-6;

/// How a target's values are mapped to the labels a booster learns with squared error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetTransform {
    /// Raw values: every unit of absolute error weighs alike.
    Identity,
    /// ln(1 + y): relative above 1, but ≈ y (absolute) below 1.
    Log1p,
    /// ln(y + ε) with ε = [`LOG_TARGET_FLOOR`]: relative errors weigh alike down to ε.
    Log,
}

impl TargetTransform {
    /// The label learned for a value; negative values count as 0.
    pub fn forward(self, value: f64) -> f64 {
        let value = value.max(0.0);
        match self {
            TargetTransform::Identity => value,
            TargetTransform::Log1p => value.ln_1p(),
            TargetTransform::Log => (value + LOG_TARGET_FLOOR).ln(),
        }
    }

    /// The value of a predicted label, never negative: every prediction passes through here.
    pub fn inverse(self, label: f64) -> f64 {
        let value = match self {
            TargetTransform::Identity => label,
            TargetTransform::Log1p => label.exp_m1(),
            TargetTransform::Log => label.exp() - LOG_TARGET_FLOOR,
        };
        value.max(0.0)
    }
}

/// Hyper-parameters and choices of a training. The defaults are the original's (100 trees,
/// depth 5, learning rate 0.1) with one thread, so the same data and seed give the same model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub targets: Vec<Target>,
    /// Targets learned as ln(1 + y) and predicted back with exp(·) − 1 (relative only above 1).
    pub log1p_targets: BTreeSet<Target>,
    /// Targets learned as ln(y + ε) and predicted back with exp(·) − ε (see
    /// [`LOG_TARGET_FLOOR`]): for values spanning orders of magnitude, so relative errors weigh
    /// alike. The default for duration and CPU seconds, which span 2 µs … 40 s, where squared
    /// error on raw seconds swamps every short request.
    pub log_targets: BTreeSet<Target>,
    pub rounds: u32,
    pub max_depth: u32,
    pub eta: f64,
    pub seed: u64,
    pub nthread: u32,
    /// Evaluations also score XGBoost's native multi-output trees (one booster for every
    /// target, as `xgboost_log_multi_output`) beside the per-target boosters.
    #[serde(default)]
    pub multi_output: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            targets: Target::ALL.to_vec(),
            log1p_targets: BTreeSet::new(),
            log_targets: [Target::DurationSeconds, Target::CpuSeconds].into(),
            rounds: 100,
            max_depth: 5,
            eta: 0.1,
            seed: 0,
            nthread: 1,
            multi_output: false,
        }
    }
}

impl TrainOptions {
    /// How `target` is learned; an error when it is named in both transform sets.
    pub fn transform(&self, target: Target) -> Result<TargetTransform> {
        match (
            self.log1p_targets.contains(&target),
            self.log_targets.contains(&target),
        ) {
            (true, true) => Err(ModelError::BadOption(format!(
                "{target} is in both log1p_targets and log_targets"
            ))),
            (true, false) => Ok(TargetTransform::Log1p),
            (false, true) => Ok(TargetTransform::Log),
            (false, false) => Ok(TargetTransform::Identity),
        }
    }

    /// These options with duration and CPU seconds learned through `transform` and every other
    /// target raw.
    pub fn with_time_transform(&self, transform: TargetTransform) -> Self {
        let time: BTreeSet<Target> = [Target::DurationSeconds, Target::CpuSeconds].into();
        let (log1p_targets, log_targets) = match transform {
            TargetTransform::Identity => (BTreeSet::new(), BTreeSet::new()),
            TargetTransform::Log1p => (time, BTreeSet::new()),
            TargetTransform::Log => (BTreeSet::new(), time),
        };
        Self {
            log1p_targets,
            log_targets,
            ..self.clone()
        }
    }

    pub(crate) fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("objective", "reg:squarederror".into()),
            ("tree_method", "hist".into()),
            ("max_depth", self.max_depth.to_string()),
            ("eta", self.eta.to_string()),
            ("seed", self.seed.to_string()),
            ("nthread", self.nthread.to_string()),
            ("verbosity", "0".into()),
        ]
    }
}

/// Everything about a model except its trees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub format_version: u32,
    /// Dataset schema version of the training run.
    pub schema_version: u32,
    pub training_run_id: String,
    pub xgboost_version: String,
    /// The sizes known at training time (their one-hot columns, prices for placement).
    pub sizes: Vec<SizeSpec>,
    /// The input columns, in order: the informative subset of the candidate features.
    pub feature_names: Vec<String>,
    pub targets: Vec<Target>,
    pub options: TrainOptions,
    pub training_rows: usize,
    /// Median of duration − cpu_seconds / cores over the training rows: the part of a request's
    /// wall time the CPU quota does not explain, used to derive duration from CPU time.
    pub duration_overhead_seconds: f64,
    /// In-sample accuracy per target (an honest estimate comes from `evaluate`).
    pub training_metrics: Vec<(Target, Metrics)>,
    /// Out-of-fold uncertainty of the duration predictions; `None` for models trained inside an
    /// evaluation, or on too few rows.
    #[serde(default)]
    pub duration_band: Option<DurationBand>,
}

/// Average gain per feature name.
pub type FeatureGains = Vec<(String, f64)>;

/// Boosters, one per target, with their metadata.
pub struct TrainedModel {
    pub metadata: ModelMetadata,
    boosters: Vec<Booster>,
    /// Candidate feature positions of `metadata.feature_names`.
    columns: Vec<usize>,
}

impl std::fmt::Debug for TrainedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainedModel")
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

/// Folds of the out-of-fold predictions a [`DurationBand`] is measured on.
pub const BAND_FOLDS: usize = 5;
/// Share of unseen requests a [`DurationBand`] held: its edges are the (1 ∓ this) / 2 quantiles.
pub const BAND_COVERAGE: f64 = 0.8;

/// The spread of actual / predicted duration on requests the model had not seen: a prediction
/// `p` has the band `[(p + ε) · low − ε, (p + ε) · high − ε]` (ε = [`LOG_TARGET_FLOOR`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatioBand {
    pub low: f64,
    pub high: f64,
}

impl RatioBand {
    /// The band around one prediction (seconds, never negative).
    pub fn around(self, predicted: f64) -> (f64, f64) {
        let scale =
            |ratio: f64| ((predicted + LOG_TARGET_FLOOR) * ratio - LOG_TARGET_FLOOR).max(0.0);
        (scale(self.low), scale(self.high))
    }

    fn of(actual: &[f64], predicted: &[f64]) -> Option<Self> {
        let mut log_ratios: Vec<f64> = actual
            .iter()
            .zip(predicted)
            .map(|(a, p)| ((a + LOG_TARGET_FLOOR) / (p + LOG_TARGET_FLOOR)).ln())
            .collect();
        let tail = (1.0 - BAND_COVERAGE) / 2.0;
        Some(Self {
            low: quantile(&mut log_ratios, tail)?.exp(),
            high: quantile(&mut log_ratios, 1.0 - tail)?.exp(),
        })
    }
}

/// The band of one duration prediction: relative errors grow as durations shrink (a 20 ms
/// burst on a 100m quota takes 20-110 ms), so the band is measured per bucket of the predicted
/// duration (see [`DURATION_BUCKETS`]), with the overall band for buckets with too few rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceBand {
    pub overall: RatioBand,
    /// `(bucket name, band)` for the buckets with at least [`MIN_BAND_ROWS`] predictions.
    pub by_predicted_bucket: Vec<(String, RatioBand)>,
}

impl SourceBand {
    fn of(actual: &[f64], predicted: &[f64]) -> Option<Self> {
        let by_predicted_bucket = DURATION_BUCKETS
            .iter()
            .filter_map(|&(name, low, high)| {
                let (a, p): (Vec<f64>, Vec<f64>) = actual
                    .iter()
                    .zip(predicted)
                    .filter(|(_, p)| **p >= low && **p < high)
                    .map(|(a, p)| (*a, *p))
                    .unzip();
                (a.len() >= MIN_BAND_ROWS)
                    .then(|| RatioBand::of(&a, &p))
                    .flatten()
                    .map(|band| (name.to_owned(), band))
            })
            .collect();
        Some(Self {
            overall: RatioBand::of(actual, predicted)?,
            by_predicted_bucket,
        })
    }

    /// `[low, high]` seconds around `predicted`.
    pub fn around(&self, predicted: f64) -> (f64, f64) {
        let bucket = DURATION_BUCKETS
            .iter()
            .find(|(_, low, high)| predicted >= *low && predicted < *high)
            .map(|(name, _, _)| *name);
        self.by_predicted_bucket
            .iter()
            .find(|(name, _)| Some(name.as_str()) == bucket)
            .map_or(self.overall, |(_, band)| *band)
            .around(predicted)
    }
}

/// Uncertainty of the duration predictions, measured by [`BAND_FOLDS`]-fold cross-validation
/// on the training rows (seeded by the training seed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DurationBand {
    pub coverage: f64,
    pub folds: usize,
    /// Around the duration booster's predictions (`None` without a duration target).
    pub direct: Option<SourceBand>,
    /// Around durations derived from CPU seconds (`None` without a CPU-seconds target).
    pub via_cpu: Option<SourceBand>,
}

impl DurationBand {
    pub fn get(&self, source: DurationSource) -> Option<&SourceBand> {
        match source {
            DurationSource::Direct => self.direct.as_ref(),
            DurationSource::ViaCpu => self.via_cpu.as_ref(),
            // Measured per underlying source: see `DurationSource::band_source`.
            DurationSource::Hybrid => None,
        }
    }
}

/// Fewest out-of-fold predictions a duration bucket needs for a band of its own.
pub const MIN_BAND_ROWS: usize = 20;

/// Trains on every usable request (ok, not warm-up) of `run`, and measures the duration
/// predictions' uncertainty band out of fold.
pub fn train(run: &Run, options: &TrainOptions) -> Result<TrainedModel> {
    let rows = usable(&run.requests);
    train_with_band(&rows, &run.manifest.sizes, &run.manifest.run_id, options)
}

/// [`train_on`] plus the out-of-fold [`DurationBand`].
pub fn train_with_band(
    rows: &[&AlignedRequest],
    sizes: &[SizeSpec],
    run_id: &str,
    options: &TrainOptions,
) -> Result<TrainedModel> {
    let mut model = train_on(rows, sizes, run_id, options)?;
    model.metadata.duration_band = duration_band(rows, sizes, run_id, options)?;
    Ok(model)
}

/// `None` when the rows are too few for every fold to train.
fn duration_band(
    rows: &[&AlignedRequest],
    sizes: &[SizeSpec],
    run_id: &str,
    options: &TrainOptions,
) -> Result<Option<DurationBand>> {
    if rows.len() - rows.len().div_ceil(BAND_FOLDS) < MIN_TRAINING_ROWS {
        return Ok(None);
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    // Its own stream: the band's folds need not match any evaluation split.
    SeededRng::new(options.seed ^ 0x6261_6e64).shuffle(&mut order);
    let (has_direct, has_cpu) = (
        options.targets.contains(&Target::DurationSeconds),
        options.targets.contains(&Target::CpuSeconds),
    );
    let (mut actual, mut direct, mut via_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for fold in 0..BAND_FOLDS {
        let (test, train) = fold_split(&order, BAND_FOLDS, fold);
        let pick = |part: Vec<usize>| -> Vec<&AlignedRequest> {
            part.into_iter().map(|i| rows[i]).collect()
        };
        let (test, train) = (pick(test), pick(train));
        let model = train_on(&train, sizes, run_id, options)?;
        let inputs = inputs_of(&test, sizes)?;
        actual.extend(target_values(&test, Target::DurationSeconds)?);
        if has_direct {
            direct.extend(model.predict(Target::DurationSeconds, &inputs)?);
        }
        if has_cpu {
            via_cpu.extend(model.predict_duration_via_cpu(&inputs)?);
        }
    }
    Ok(Some(DurationBand {
        coverage: BAND_COVERAGE,
        folds: BAND_FOLDS,
        direct: has_direct
            .then(|| SourceBand::of(&actual, &direct))
            .flatten(),
        via_cpu: has_cpu.then(|| SourceBand::of(&actual, &via_cpu)).flatten(),
    }))
}

/// Trains on the given rows; `sizes` must name every row's size.
pub fn train_on(
    rows: &[&AlignedRequest],
    sizes: &[SizeSpec],
    run_id: &str,
    options: &TrainOptions,
) -> Result<TrainedModel> {
    if rows.len() < MIN_TRAINING_ROWS {
        return Err(ModelError::TooFewRows {
            what: "training".into(),
            needed: MIN_TRAINING_ROWS,
            found: rows.len(),
        });
    }
    if options.targets.is_empty() {
        return Err(ModelError::NoTargets);
    }
    let FeatureMatrix {
        columns,
        feature_names,
        values: matrix_values,
    } = FeatureMatrix::of(rows, sizes)?;

    let mut boosters = Vec::new();
    let mut training_metrics = Vec::new();
    for &target in &options.targets {
        let actual = target_values(rows, target)?;
        let transform = options.transform(target)?;
        let labels: Vec<f32> = actual
            .iter()
            .map(|&y| transform.forward(y) as f32)
            .collect();
        let mut matrix = DMatrix::from_dense(&matrix_values, rows.len(), columns.len())?;
        matrix.set_labels(&labels)?;
        let booster = Booster::train(&matrix, &options.params(), &feature_names, options.rounds)?;
        let fitted = untransform(&booster.predict(&matrix)?, transform);
        training_metrics.push((target, Metrics::of(&actual, &fitted)));
        boosters.push(booster);
    }

    let mut overheads = rows
        .iter()
        .map(|r| {
            let size = crate::features::size_named(sizes, &r.request.size)?;
            let cpu = target_values(&[r], Target::CpuSeconds)?[0];
            Ok(r.request.duration_ns as f64 / 1e9 - cpu / cores(size))
        })
        .collect::<Result<Vec<f64>>>()?;

    Ok(TrainedModel {
        metadata: ModelMetadata {
            format_version: MODEL_FORMAT_VERSION,
            schema_version: dataset::SCHEMA_VERSION,
            training_run_id: run_id.to_owned(),
            xgboost_version: crate::xgboost::library_version(),
            sizes: sizes.to_vec(),
            feature_names,
            targets: options.targets.clone(),
            options: options.clone(),
            training_rows: rows.len(),
            duration_overhead_seconds: median(&mut overheads).unwrap_or(0.0),
            training_metrics,
            duration_band: None,
        },
        boosters,
        columns,
    })
}

/// The informative candidate features of some rows, as a dense matrix.
pub(crate) struct FeatureMatrix {
    /// Candidate feature positions kept.
    pub(crate) columns: Vec<usize>,
    pub(crate) feature_names: Vec<String>,
    /// rows × columns, row-major.
    pub(crate) values: Vec<f32>,
}

impl FeatureMatrix {
    pub(crate) fn of(rows: &[&AlignedRequest], sizes: &[SizeSpec]) -> Result<Self> {
        let candidates = rows
            .iter()
            .map(|r| Ok(candidate_values(&RequestInput::of(r, sizes)?, sizes)))
            .collect::<Result<Vec<_>>>()?;
        let columns = informative_columns(&candidates);
        let all_names = candidate_names(sizes);
        Ok(Self {
            feature_names: columns.iter().map(|&c| all_names[c].clone()).collect(),
            values: select(&candidates, &columns),
            columns,
        })
    }
}

/// The matrix of `inputs` over a trained model's `columns`; a size the model never saw has no
/// one-hot column and is refused.
pub(crate) fn input_matrix(
    inputs: &[RequestInput<'_>],
    sizes: &[SizeSpec],
    columns: &[usize],
) -> Result<DMatrix> {
    let candidates = inputs
        .iter()
        .map(|input| {
            crate::features::size_named(sizes, &input.size.name)?;
            Ok(candidate_values(input, sizes))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DMatrix::from_dense(
        &select(&candidates, columns),
        inputs.len(),
        columns.len(),
    )?)
}

/// Where `target` sits among a model's `targets`.
pub(crate) fn target_position(targets: &[Target], target: Target) -> Result<usize> {
    targets
        .iter()
        .position(|&t| t == target)
        .ok_or(ModelError::MissingTarget(target))
}

/// A size's CPU limit in cores.
pub fn cores(size: &SizeSpec) -> f64 {
    f64::from(size.cpu_millicores) / 1000.0
}

fn select(candidates: &[Vec<f64>], columns: &[usize]) -> Vec<f32> {
    candidates
        .iter()
        .flat_map(|row| columns.iter().map(|&c| row[c] as f32))
        .collect()
}

pub(crate) fn untransform(predicted: &[f32], transform: TargetTransform) -> Vec<f64> {
    predicted
        .iter()
        .map(|&p| transform.inverse(f64::from(p)))
        .collect()
}

fn model_file(target: Target) -> String {
    format!("{}.json", target.name())
}

impl TrainedModel {
    /// Predictions of `target` for each input.
    pub fn predict(&self, target: Target, inputs: &[RequestInput<'_>]) -> Result<Vec<f64>> {
        let position = target_position(&self.metadata.targets, target)?;
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let matrix = input_matrix(inputs, &self.metadata.sizes, &self.columns)?;
        let transform = self.metadata.options.transform(target)?;
        Ok(untransform(
            &self.boosters[position].predict(&matrix)?,
            transform,
        ))
    }

    /// Duration derived from predicted CPU time: cpu_seconds / cores + the training overhead,
    /// never negative (the overhead may be). Size-invariant work divided by the quota
    /// extrapolates across sizes where trees cannot.
    pub fn predict_duration_via_cpu(&self, inputs: &[RequestInput<'_>]) -> Result<Vec<f64>> {
        let cpu = self.predict(Target::CpuSeconds, inputs)?;
        Ok(cpu
            .iter()
            .zip(inputs)
            .map(|(c, input)| {
                (c / cores(input.size) + self.metadata.duration_overhead_seconds).max(0.0)
            })
            .collect())
    }

    /// Average gain per used feature, for each target's booster.
    pub fn gain_importance(&self) -> Result<Vec<(Target, FeatureGains)>> {
        self.metadata
            .targets
            .iter()
            .zip(&self.boosters)
            .map(|(&t, b)| Ok((t, b.gain_importance()?)))
            .collect()
    }

    /// The XGBoost JSON bytes of one target's booster.
    pub fn model_bytes(&self, target: Target) -> Result<Vec<u8>> {
        let position = target_position(&self.metadata.targets, target)?;
        Ok(self.boosters[position].save_json()?)
    }

    /// Writes `metadata.json` and `<target>.json` per target into `dir` (created if needed).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(ModelError::io(dir))?;
        for &target in &self.metadata.targets {
            let path = dir.join(model_file(target));
            std::fs::write(&path, self.model_bytes(target)?).map_err(ModelError::io(&path))?;
        }
        let path = dir.join(METADATA_FILE);
        let text = serde_json::to_vec_pretty(&self.metadata).map_err(ModelError::json(&path))?;
        std::fs::write(&path, text).map_err(ModelError::io(&path))
    }

    /// Reads a model directory, checking its format version and that every booster takes
    /// exactly the features the metadata names, in the candidate order this code builds.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let path = dir.join(METADATA_FILE);
        let text = std::fs::read(&path).map_err(ModelError::io(&path))?;
        // The version first: an older layout would otherwise fail as a confusing JSON error.
        #[derive(Deserialize)]
        struct Versioned {
            format_version: u32,
        }
        let versioned: Versioned =
            serde_json::from_slice(&text).map_err(ModelError::json(&path))?;
        if versioned.format_version != MODEL_FORMAT_VERSION {
            return Err(ModelError::ModelFormat {
                path,
                found: versioned.format_version,
                expected: MODEL_FORMAT_VERSION,
            });
        }
        let metadata: ModelMetadata =
            serde_json::from_slice(&text).map_err(ModelError::json(&path))?;
        let all_names = candidate_names(&metadata.sizes);
        let columns = metadata
            .feature_names
            .iter()
            .map(|name| {
                all_names.iter().position(|n| n == name).ok_or_else(|| {
                    ModelError::FeatureMismatch(format!("unknown feature {name:?} in {path:?}"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if columns.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ModelError::FeatureMismatch(format!(
                "features in {path:?} are not in candidate order"
            )));
        }
        let boosters = metadata
            .targets
            .iter()
            .map(|&target| {
                let path = dir.join(model_file(target));
                let bytes = std::fs::read(&path).map_err(ModelError::io(&path))?;
                let booster = Booster::load_json(&bytes)?;
                let found = booster.num_features()?;
                if found != columns.len() {
                    return Err(ModelError::FeatureMismatch(format!(
                        "{path:?} takes {found} features, metadata names {}",
                        columns.len()
                    )));
                }
                Ok(booster)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            metadata,
            boosters,
            columns,
        })
    }
}

impl ModelError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
        move |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn json(path: &Path) -> impl FnOnce(serde_json::Error) -> ModelError + '_ {
        move |source| ModelError::Json {
            path: PathBuf::from(path),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSFORMS: [TargetTransform; 3] = [
        TargetTransform::Identity,
        TargetTransform::Log1p,
        TargetTransform::Log,
    ];

    #[test]
    fn every_transform_round_trips_values_across_orders_of_magnitude() {
        for transform in TRANSFORMS {
            for value in [0.0, 2e-6, 3.7e-4, 0.05, 1.0, 42.0, 2e9] {
                let back = transform.inverse(transform.forward(value));
                assert!(
                    (back - value).abs() <= 1e-9 * value.max(1.0),
                    "{transform:?}: {value} came back as {back}"
                );
            }
        }
    }

    #[test]
    fn the_log_transform_weighs_relative_errors_alike_below_one_second() {
        let log = TargetTransform::Log;
        // Doubling a 10 µs and a 10 s duration moves the label by the same amount.
        let short = log.forward(20e-6) - log.forward(10e-6);
        let long = log.forward(20.0) - log.forward(10.0);
        assert!((short - long).abs() < 0.05, "{short} vs {long}");
        // ln(1 + y) does not: the same doubling of 10 µs barely moves its label.
        let log1p = TargetTransform::Log1p;
        assert!(log1p.forward(20e-6) - log1p.forward(10e-6) < 1e-4);
    }

    #[test]
    fn no_label_predicts_a_negative_value() {
        for transform in TRANSFORMS {
            for label in [-1e6, -30.0, -1.0, -1e-9, f64::MIN] {
                let value = transform.inverse(label);
                assert!(value >= 0.0, "{transform:?}({label}) = {value}");
            }
        }
        // Negative measurements count as zero rather than producing NaN labels.
        assert!(TargetTransform::Log.forward(-1.0).is_finite());
    }

    #[test]
    fn a_target_in_both_transform_sets_is_refused() {
        let options = TrainOptions {
            log1p_targets: [Target::CpuSeconds].into(),
            ..TrainOptions::default()
        };
        assert!(matches!(
            options.transform(Target::CpuSeconds),
            Err(ModelError::BadOption(_))
        ));
        assert_eq!(
            options.transform(Target::PeakRssBytes).unwrap(),
            TargetTransform::Identity
        );
        let log1p = options.with_time_transform(TargetTransform::Log1p);
        assert_eq!(
            log1p.transform(Target::DurationSeconds).unwrap(),
            TargetTransform::Log1p
        );
    }

    #[test]
    fn the_default_learns_time_targets_in_log_space() {
        let options = TrainOptions::default();
        for target in [Target::DurationSeconds, Target::CpuSeconds] {
            assert_eq!(options.transform(target).unwrap(), TargetTransform::Log);
        }
        assert_eq!(
            options.transform(Target::PeakRssBytes).unwrap(),
            TargetTransform::Identity
        );
    }

    #[test]
    fn a_model_of_an_older_format_is_a_version_error() {
        let dir = tempfile::tempdir().unwrap();
        // A version-1 metadata file: no `log_targets`, which a full parse would reject.
        let old = serde_json::json!({"format_version": 1, "targets": ["duration_seconds"]});
        std::fs::write(dir.path().join(METADATA_FILE), old.to_string()).unwrap();
        match TrainedModel::load(dir.path()) {
            Err(ModelError::ModelFormat {
                found, expected, ..
            }) => assert_eq!((found, expected), (1, MODEL_FORMAT_VERSION)),
            other => panic!("expected a format error, got {other:?}"),
        }
    }
}
