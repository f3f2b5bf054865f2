//! Training one booster per target, and the trained model's files: `metadata.json` plus one
//! XGBoost JSON model per target.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dataset::{AlignedRequest, Run, SizeSpec};
use serde::{Deserialize, Serialize};

use crate::features::{
    RequestInput, Target, candidate_names, candidate_values, informative_columns, target_values,
    usable,
};
use crate::metrics::{Metrics, median};
use crate::xgboost::{Booster, DMatrix};
use crate::{ModelError, Result};

/// Version of the model directory's layout (`metadata.json` and the per-target files).
pub const MODEL_FORMAT_VERSION: u32 = 1;
pub const METADATA_FILE: &str = "metadata.json";
/// Fewer usable rows than this cannot train anything meaningful.
pub const MIN_TRAINING_ROWS: usize = 10;

/// Hyper-parameters and choices of a training. The defaults are the original's (100 trees,
/// depth 5, learning rate 0.1) with one thread, so the same data and seed give the same model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub targets: Vec<Target>,
    /// Targets learned as ln(1 + y) and predicted back with exp(·) − 1: for values spanning
    /// orders of magnitude, so relative errors weigh alike.
    pub log1p_targets: BTreeSet<Target>,
    pub rounds: u32,
    pub max_depth: u32,
    pub eta: f64,
    pub seed: u64,
    pub nthread: u32,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            targets: Target::ALL.to_vec(),
            log1p_targets: BTreeSet::new(),
            rounds: 100,
            max_depth: 5,
            eta: 0.1,
            seed: 0,
            nthread: 1,
        }
    }
}

impl TrainOptions {
    fn params(&self) -> Vec<(&'static str, String)> {
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

/// Trains on every usable request (ok, not warm-up) of `run`.
pub fn train(run: &Run, options: &TrainOptions) -> Result<TrainedModel> {
    train_on(
        &usable(&run.requests),
        &run.manifest.sizes,
        &run.manifest.run_id,
        options,
    )
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
    let candidates = rows
        .iter()
        .map(|r| Ok(candidate_values(&RequestInput::of(r, sizes)?, sizes)))
        .collect::<Result<Vec<_>>>()?;
    let columns = informative_columns(&candidates);
    let all_names = candidate_names(sizes);
    let feature_names: Vec<String> = columns.iter().map(|&c| all_names[c].clone()).collect();
    let matrix_values = select(&candidates, &columns);

    let mut boosters = Vec::new();
    let mut training_metrics = Vec::new();
    for &target in &options.targets {
        let actual = target_values(rows, target)?;
        let log = options.log1p_targets.contains(&target);
        let labels: Vec<f32> = actual
            .iter()
            .map(|&y| (if log { y.ln_1p() } else { y }) as f32)
            .collect();
        let mut matrix = DMatrix::from_dense(&matrix_values, rows.len(), columns.len())?;
        matrix.set_labels(&labels)?;
        let booster = Booster::train(&matrix, &options.params(), &feature_names, options.rounds)?;
        let fitted = unlog(&booster.predict(&matrix)?, log);
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
        },
        boosters,
        columns,
    })
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

fn unlog(predicted: &[f32], log: bool) -> Vec<f64> {
    predicted
        .iter()
        .map(|&p| {
            let p = f64::from(p);
            if log { p.exp_m1() } else { p }
        })
        .collect()
}

fn model_file(target: Target) -> String {
    format!("{}.json", target.name())
}

impl TrainedModel {
    /// Predictions of `target` for each input.
    pub fn predict(&self, target: Target, inputs: &[RequestInput<'_>]) -> Result<Vec<f64>> {
        let position = self
            .metadata
            .targets
            .iter()
            .position(|&t| t == target)
            .ok_or(ModelError::MissingTarget(target))?;
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let sizes = &self.metadata.sizes;
        let candidates = inputs
            .iter()
            .map(|input| {
                // A size the model never saw has no one-hot column: refuse it.
                crate::features::size_named(sizes, &input.size.name)?;
                Ok(candidate_values(input, sizes))
            })
            .collect::<Result<Vec<_>>>()?;
        let matrix = DMatrix::from_dense(
            &select(&candidates, &self.columns),
            inputs.len(),
            self.columns.len(),
        )?;
        let log = self.metadata.options.log1p_targets.contains(&target);
        Ok(unlog(&self.boosters[position].predict(&matrix)?, log))
    }

    /// Duration derived from predicted CPU time: cpu_seconds / cores + the training overhead.
    /// Size-invariant work divided by the quota extrapolates across sizes where trees cannot.
    pub fn predict_duration_via_cpu(&self, inputs: &[RequestInput<'_>]) -> Result<Vec<f64>> {
        let cpu = self.predict(Target::CpuSeconds, inputs)?;
        Ok(cpu
            .iter()
            .zip(inputs)
            .map(|(c, input)| c / cores(input.size) + self.metadata.duration_overhead_seconds)
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
        let position = self
            .metadata
            .targets
            .iter()
            .position(|&t| t == target)
            .ok_or(ModelError::MissingTarget(target))?;
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
        let metadata: ModelMetadata =
            serde_json::from_slice(&text).map_err(ModelError::json(&path))?;
        if metadata.format_version != MODEL_FORMAT_VERSION {
            return Err(ModelError::ModelFormat {
                path,
                found: metadata.format_version,
                expected: MODEL_FORMAT_VERSION,
            });
        }
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
