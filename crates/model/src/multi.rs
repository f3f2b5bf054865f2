//! XGBoost's native multi-output trees (`multi_strategy = multi_output_tree`): one booster whose
//! leaves hold one value per target, so every split serves all targets at once. The evaluation
//! compares it with the default of one booster per target (`xgboost_log_multi_output`).

use dataset::{AlignedRequest, SizeSpec};

use crate::features::{RequestInput, Target, target_values};
use crate::train::{FeatureMatrix, TargetTransform, TrainOptions, input_matrix, target_position};
use crate::xgboost::{Booster, DMatrix};
use crate::{ModelError, Result};

/// One multi-output booster over `targets`, each learned through its own transform and then
/// standardised: the shared splits minimise the summed squared error, which peak RSS in bytes
/// (variance ~1e14) would otherwise own alone.
pub struct MultiOutputModel {
    booster: Booster,
    targets: Vec<Target>,
    transforms: Vec<TargetTransform>,
    /// Mean and standard deviation of each transformed target's training labels.
    scales: Vec<(f64, f64)>,
    sizes: Vec<SizeSpec>,
    columns: Vec<usize>,
}

impl MultiOutputModel {
    /// Trains on `rows` with `options` (its targets, transforms and hyper-parameters).
    pub fn train(
        rows: &[&AlignedRequest],
        sizes: &[SizeSpec],
        options: &TrainOptions,
    ) -> Result<Self> {
        if options.targets.is_empty() {
            return Err(ModelError::NoTargets);
        }
        let features = FeatureMatrix::of(rows, sizes)?;
        let transforms = options
            .targets
            .iter()
            .map(|&t| options.transform(t))
            .collect::<Result<Vec<_>>>()?;
        let per_target = options
            .targets
            .iter()
            .map(|&t| target_values(rows, t))
            .collect::<Result<Vec<_>>>()?;
        let transformed: Vec<Vec<f64>> = per_target
            .iter()
            .zip(&transforms)
            .map(|(values, t)| values.iter().map(|&v| t.forward(v)).collect())
            .collect();
        let scales: Vec<(f64, f64)> = transformed.iter().map(|v| mean_and_sd(v)).collect();
        let labels: Vec<f32> = (0..rows.len())
            .flat_map(|row| {
                transformed
                    .iter()
                    .zip(&scales)
                    .map(move |(values, (mean, sd))| ((values[row] - mean) / sd) as f32)
            })
            .collect();
        let mut matrix = DMatrix::from_dense(&features.values, rows.len(), features.columns.len())?;
        matrix.set_label_matrix(&labels, options.targets.len())?;
        let mut params = options.params();
        params.push(("multi_strategy", "multi_output_tree".into()));
        let booster = Booster::train(&matrix, &params, &features.feature_names, options.rounds)?;
        Ok(Self {
            booster,
            targets: options.targets.clone(),
            transforms,
            scales,
            sizes: sizes.to_vec(),
            columns: features.columns,
        })
    }

    /// Predictions of `target` for each input.
    pub fn predict(&self, target: Target, inputs: &[RequestInput<'_>]) -> Result<Vec<f64>> {
        let position = target_position(&self.targets, target)?;
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let matrix = input_matrix(inputs, &self.sizes, &self.columns)?;
        let all = self.booster.predict(&matrix)?;
        let (mean, sd) = self.scales[position];
        let transform = self.transforms[position];
        Ok(all
            .chunks_exact(self.targets.len())
            .map(|row| transform.inverse(f64::from(row[position]) * sd + mean))
            .collect())
    }
}

/// Mean and standard deviation (1 for a constant, so it divides safely).
fn mean_and_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let sd = variance.sqrt();
    (mean, if sd > 0.0 { sd } else { 1.0 })
}
