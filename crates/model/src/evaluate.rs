//! Honest evaluation: seeded random split, k-fold, leave-one-size-out, against baselines and
//! the noise floor of repeated identical requests.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use dataset::{AlignedRequest, Run, SizeSpec};
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::features::{RequestInput, Target, target_values, usable, work_key};
use crate::linear::LinearModel;
use crate::metrics::{BucketError, Metrics, mape_by_duration_bucket, median};
use crate::multi::MultiOutputModel;
use crate::place::{PlacementEvaluation, evaluate_placement};
use crate::train::{MIN_TRAINING_ROWS, TargetTransform, TrainOptions, train_on};

/// The predictor name of the native multi-output booster (log time targets).
pub const MULTI_OUTPUT_PREDICTOR: &str = "xgboost_log_multi_output";

/// The transforms of duration and CPU seconds compared, with their predictor names.
pub(crate) const TIME_TRANSFORMS: [(TargetTransform, &str); 3] = [
    (TargetTransform::Identity, "xgboost"),
    (TargetTransform::Log1p, "xgboost_log1p"),
    (TargetTransform::Log, "xgboost_log"),
];
use crate::{ModelError, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    pub train: TrainOptions,
    /// Seed of the splits and of the placement deadlines.
    pub seed: u64,
    pub test_fraction: f64,
    pub folds: usize,
    /// Also evaluate placement decisions (a split grouped by request).
    pub placement: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            train: TrainOptions::default(),
            seed: 0,
            test_fraction: 0.2,
            folds: 5,
            placement: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SplitKind {
    Random {
        test_fraction: f64,
    },
    Fold {
        index: usize,
        folds: usize,
    },
    /// Trained on the other sizes; `interpolation` when the held-out size's CPU lies between
    /// theirs (medium), extrapolation otherwise.
    LeaveOneSizeOut {
        held_out: String,
        interpolation: bool,
    },
    /// Whole payloads (function + payload without its seed, every size and repetition) held
    /// out: how well the model predicts work it has never seen.
    GroupedByPayload {
        test_fraction: f64,
        /// Distinct payloads held out / in all.
        held_out_payloads: usize,
        payloads: usize,
    },
}

/// One predictor's accuracy on one target of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorMetrics {
    pub target: Target,
    /// `xgboost` (raw targets), `xgboost_log1p`, `xgboost_log` (ln(y + ε)), each also
    /// `…_via_cpu` for duration, `median_function_size` or `linear`.
    pub predictor: String,
    pub metrics: Metrics,
    /// Duration targets only: the requests whose actual duration is at least 1 s.
    pub at_least_1s: Option<Metrics>,
    /// Duration targets only: MAPE per duration bucket.
    pub buckets: Vec<BucketError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitReport {
    pub split: SplitKind,
    pub train_rows: usize,
    pub test_rows: usize,
    pub results: Vec<PredictorMetrics>,
}

impl SplitReport {
    pub fn result(&self, target: Target, predictor: &str) -> Option<&PredictorMetrics> {
        self.results
            .iter()
            .find(|r| r.target == target && r.predictor == predictor)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportanceEntry {
    pub feature: String,
    /// Share of the booster's total average gain, averaged over targets (sums to 1).
    pub gain_share: f64,
}

/// How well a request is predicted by the mean of its repetitions (same size, function and
/// payload; seeds differ between repetitions): no model of those inputs can do better on average.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseFloor {
    pub groups: usize,
    pub duration: Metrics,
    pub duration_at_least_1s: Option<Metrics>,
    pub cpu_seconds: Metrics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub run_id: String,
    pub usable_rows: usize,
    pub options: EvalOptions,
    /// Wall time of one training on every usable row (all targets).
    pub training_seconds: f64,
    pub random_split: SplitReport,
    pub k_fold: Vec<SplitReport>,
    pub leave_one_size_out: Vec<SplitReport>,
    pub grouped_by_payload: SplitReport,
    pub importance: Vec<ImportanceEntry>,
    pub noise_floor: Option<NoiseFloor>,
    pub placement: Option<PlacementEvaluation>,
}

/// The seeded generator of every split and deadline: PCG (rand_pcg, a fixed algorithm, so
/// splits do not change with a dependency upgrade), like every other random choice in the project.
pub(crate) struct SeededRng(rand_pcg::Pcg64);

impl SeededRng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(rand_pcg::Pcg64::seed_from_u64(seed))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Fisher-Yates, written out so the order depends only on the generator's stream.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Test and train items of fold `fold` of `folds`, dealing `order` round-robin: the test part
/// holds every `folds`-th item from position `fold`.
pub(crate) fn fold_split(order: &[usize], folds: usize, fold: usize) -> (Vec<usize>, Vec<usize>) {
    let (mut test, mut train) = (Vec::new(), Vec::new());
    for (position, &item) in order.iter().enumerate() {
        if position % folds == fold {
            test.push(item);
        } else {
            train.push(item);
        }
    }
    (test, train)
}

fn check_options(options: &EvalOptions) -> Result<()> {
    if !(options.test_fraction > 0.0 && options.test_fraction < 1.0) {
        return Err(ModelError::BadOption(format!(
            "test_fraction {} is not in (0, 1)",
            options.test_fraction
        )));
    }
    if options.folds < 2 {
        return Err(ModelError::BadOption(format!(
            "{} folds: need at least 2",
            options.folds
        )));
    }
    Ok(())
}

/// Evaluates the model family on `run`'s usable requests.
pub fn evaluate(run: &Run, options: &EvalOptions) -> Result<Evaluation> {
    check_options(options)?;
    let rows = usable(&run.requests);
    let sizes = &run.manifest.sizes;
    let run_id = &run.manifest.run_id;
    for target in &options.train.targets {
        target_values(&rows, *target)?;
    }

    let started = Instant::now();
    let full = train_on(&rows, sizes, run_id, &options.train)?;
    let training_seconds = started.elapsed().as_secs_f64();
    let importance = average_importance(&full.gain_importance()?);

    let (test, train) = random_split(&rows, options);
    let random_split = evaluate_split(
        &rows,
        &train,
        &test,
        sizes,
        run_id,
        &options.train,
        SplitKind::Random {
            test_fraction: options.test_fraction,
        },
    )?;
    // The folds deal the random split's order round-robin.
    let order: Vec<usize> = test.iter().chain(&train).copied().collect();

    let k_fold = (0..options.folds)
        .map(|fold| {
            let (test, train) = fold_split(&order, options.folds, fold);
            evaluate_split(
                &rows,
                &train,
                &test,
                sizes,
                run_id,
                &options.train,
                SplitKind::Fold {
                    index: fold,
                    folds: options.folds,
                },
            )
        })
        .collect::<Result<Vec<_>>>()?;

    let leave_one_size_out = sizes
        .iter()
        .filter(|size| rows.iter().any(|r| r.request.size == size.name))
        .map(|held_out| {
            let (test, train): (Vec<usize>, Vec<usize>) =
                (0..rows.len()).partition(|&i| rows[i].request.size == held_out.name);
            let others = sizes.iter().filter(|s| s.name != held_out.name);
            let below = others
                .clone()
                .any(|s| s.cpu_millicores < held_out.cpu_millicores);
            let above = others
                .clone()
                .any(|s| s.cpu_millicores > held_out.cpu_millicores);
            evaluate_split(
                &rows,
                &train,
                &test,
                sizes,
                run_id,
                &options.train,
                SplitKind::LeaveOneSizeOut {
                    held_out: held_out.name.clone(),
                    interpolation: below && above,
                },
            )
        })
        .collect::<Result<Vec<_>>>()?;

    let (test, train, grouped_kind) = payload_groups_split(&rows, options);
    let grouped_by_payload = evaluate_split(
        &rows,
        &train,
        &test,
        sizes,
        run_id,
        &options.train,
        grouped_kind,
    )?;

    let placement = if options.placement {
        Some(evaluate_placement(&rows, sizes, run_id, options)?)
    } else {
        None
    };

    Ok(Evaluation {
        run_id: run_id.clone(),
        usable_rows: rows.len(),
        options: options.clone(),
        training_seconds,
        random_split,
        k_fold,
        leave_one_size_out,
        grouped_by_payload,
        importance,
        noise_floor: noise_floor(&rows)?,
        placement,
    })
}

/// Test and train row indices holding out a seeded `test_fraction` of the distinct payloads
/// (rounded, at least one), with every row of a held-out payload in the test set.
fn payload_groups_split(
    rows: &[&AlignedRequest],
    options: &EvalOptions,
) -> (Vec<usize>, Vec<usize>, SplitKind) {
    let keys: Vec<String> = rows.iter().map(|r| work_key(&r.request.payload)).collect();
    let mut payloads: Vec<&String> = keys.iter().collect::<BTreeSet<_>>().into_iter().collect();
    // Its own stream, independent of the random split's and the placement's.
    SeededRng::new(options.seed ^ 0x7061_796c_6f61_6473).shuffle(&mut payloads);
    let held_len = (((payloads.len() as f64) * options.test_fraction).round() as usize).max(1);
    let held: BTreeSet<&String> = payloads.iter().take(held_len).copied().collect();
    let (test, train): (Vec<usize>, Vec<usize>) =
        (0..rows.len()).partition(|&i| held.contains(&keys[i]));
    let kind = SplitKind::GroupedByPayload {
        test_fraction: options.test_fraction,
        held_out_payloads: held.len().min(payloads.len()),
        payloads: payloads.len(),
    };
    (test, train, kind)
}

/// One test row's prediction by one predictor, for plots of actual against predicted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOutPrediction {
    pub target: Target,
    pub predictor: String,
    pub function: String,
    pub size: String,
    pub actual: f64,
    pub predicted: f64,
}

/// Every predictor's predictions of the random split's test rows (the split [`evaluate`]
/// reports as `random_split`, for the same options).
pub fn held_out_predictions(run: &Run, options: &EvalOptions) -> Result<Vec<HeldOutPrediction>> {
    check_options(options)?;
    let rows = usable(&run.requests);
    let (test, train) = random_split(&rows, options);
    let predictions = split_predictions(
        &rows,
        &train,
        &test,
        &run.manifest.sizes,
        &run.manifest.run_id,
        &options.train,
        &SplitKind::Random {
            test_fraction: options.test_fraction,
        },
    )?;
    let mut out = Vec::new();
    for TargetPredictions {
        target,
        actual,
        predictions,
    } in predictions
    {
        for (predictor, predicted) in predictions {
            for ((&i, &actual), predicted) in test.iter().zip(&actual).zip(predicted) {
                out.push(HeldOutPrediction {
                    target,
                    predictor: predictor.clone(),
                    function: rows[i].request.function.name().to_owned(),
                    size: rows[i].request.size.clone(),
                    actual,
                    predicted,
                });
            }
        }
    }
    Ok(out)
}

/// Test and train row indices of the seeded random split.
fn random_split(rows: &[&AlignedRequest], options: &EvalOptions) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    SeededRng::new(options.seed).shuffle(&mut order);
    let test_len = ((rows.len() as f64) * options.test_fraction).round() as usize;
    let (test, train) = order.split_at(test_len);
    (test.to_vec(), train.to_vec())
}

/// One target's actual test values and each predictor's predictions of them.
struct TargetPredictions {
    target: Target,
    actual: Vec<f64>,
    predictions: Vec<(String, Vec<f64>)>,
}

fn evaluate_split(
    rows: &[&AlignedRequest],
    train: &[usize],
    test: &[usize],
    sizes: &[SizeSpec],
    run_id: &str,
    options: &TrainOptions,
    split: SplitKind,
) -> Result<SplitReport> {
    let per_target = split_predictions(rows, train, test, sizes, run_id, options, &split)?;
    let mut results = Vec::new();
    for TargetPredictions {
        target,
        actual,
        predictions,
    } in per_target
    {
        for (predictor, predicted) in predictions {
            results.push(predictor_metrics(target, &predictor, &actual, &predicted));
        }
    }
    Ok(SplitReport {
        split,
        train_rows: train.len(),
        test_rows: test.len(),
        results,
    })
}

/// Trains every predictor on `train` and predicts `test`, per target.
fn split_predictions(
    rows: &[&AlignedRequest],
    train: &[usize],
    test: &[usize],
    sizes: &[SizeSpec],
    run_id: &str,
    options: &TrainOptions,
    split: &SplitKind,
) -> Result<Vec<TargetPredictions>> {
    if test.is_empty() || train.len() < MIN_TRAINING_ROWS {
        return Err(ModelError::TooFewRows {
            what: format!("split {split:?}"),
            needed: MIN_TRAINING_ROWS + 1,
            found: train.len() + test.len(),
        });
    }
    let pick = |indices: &[usize]| indices.iter().map(|&i| rows[i]).collect::<Vec<_>>();
    let (train_rows, test_rows) = (pick(train), pick(test));
    let (train_inputs, test_inputs) = (
        inputs_of(&train_rows, sizes)?,
        inputs_of(&test_rows, sizes)?,
    );

    // Each transform of duration and CPU seconds is its own predictor, whatever `options` sets.
    let time_targets: Vec<Target> = [Target::DurationSeconds, Target::CpuSeconds]
        .into_iter()
        .filter(|t| options.targets.contains(t))
        .collect();
    let mut variants = Vec::new();
    for (transform, name) in TIME_TRANSFORMS {
        let targets = if transform == TargetTransform::Identity {
            options.targets.clone()
        } else if time_targets.is_empty() {
            continue;
        } else {
            time_targets.clone()
        };
        let variant_options = TrainOptions {
            targets,
            ..options.with_time_transform(transform)
        };
        let model = train_on(&train_rows, sizes, run_id, &variant_options)?;
        variants.push((name, model));
    }

    // Native multi-output trees over every target, time targets in log space.
    let multi_output = options
        .multi_output
        .then(|| {
            MultiOutputModel::train(
                &train_rows,
                sizes,
                &options.with_time_transform(TargetTransform::Log),
            )
        })
        .transpose()?;
    let mut per_target = Vec::new();
    for &target in &options.targets {
        let actual = target_values(&test_rows, target)?;
        let mut predictions: Vec<(String, Vec<f64>)> = Vec::new();
        for (name, model) in &variants {
            if model.metadata.targets.contains(&target) {
                predictions.push((name.to_string(), model.predict(target, &test_inputs)?));
            }
        }
        if target == Target::DurationSeconds && options.targets.contains(&Target::CpuSeconds) {
            for (name, model) in &variants {
                predictions.push((
                    format!("{name}_via_cpu"),
                    model.predict_duration_via_cpu(&test_inputs)?,
                ));
            }
        }
        if let Some(multi) = &multi_output {
            predictions.push((
                MULTI_OUTPUT_PREDICTOR.into(),
                multi.predict(target, &test_inputs)?,
            ));
        }
        let train_actual = target_values(&train_rows, target)?;
        if let Some(medians) = group_median_baseline(&train_rows, &train_actual, &test_rows) {
            predictions.push(("median_function_size".into(), medians));
        }
        if let Some(linear) = LinearModel::fit(&train_inputs, &train_actual) {
            predictions.push(("linear".into(), linear.predict(&test_inputs)));
        }
        per_target.push(TargetPredictions {
            target,
            actual,
            predictions,
        });
    }
    Ok(per_target)
}

pub(crate) fn inputs_of<'a>(
    rows: &[&'a AlignedRequest],
    sizes: &'a [SizeSpec],
) -> Result<Vec<RequestInput<'a>>> {
    rows.iter().map(|r| RequestInput::of(r, sizes)).collect()
}

fn predictor_metrics(
    target: Target,
    predictor: &str,
    actual: &[f64],
    predicted: &[f64],
) -> PredictorMetrics {
    let is_duration = target == Target::DurationSeconds;
    let long: (Vec<f64>, Vec<f64>) = actual
        .iter()
        .zip(predicted)
        .filter(|(a, _)| **a >= 1.0)
        .map(|(a, p)| (*a, *p))
        .unzip();
    PredictorMetrics {
        target,
        predictor: predictor.to_owned(),
        metrics: Metrics::of(actual, predicted),
        at_least_1s: (is_duration && !long.0.is_empty()).then(|| Metrics::of(&long.0, &long.1)),
        buckets: if is_duration {
            mape_by_duration_bucket(actual, predicted)
        } else {
            Vec::new()
        },
    }
}

/// Median of the training rows of the same function and size; `None` when some test row's
/// (function, size) never occurs in training (a held-out size has no median to offer).
fn group_median_baseline(
    train: &[&AlignedRequest],
    train_actual: &[f64],
    test: &[&AlignedRequest],
) -> Option<Vec<f64>> {
    let mut groups: BTreeMap<(workloads::Function, &str), Vec<f64>> = BTreeMap::new();
    for (row, &value) in train.iter().zip(train_actual) {
        groups
            .entry((row.request.function, row.request.size.as_str()))
            .or_default()
            .push(value);
    }
    let medians: BTreeMap<_, f64> = groups
        .into_iter()
        .filter_map(|(key, mut values)| Some((key, median(&mut values)?)))
        .collect();
    test.iter()
        .map(|r| {
            medians
                .get(&(r.request.function, r.request.size.as_str()))
                .copied()
        })
        .collect()
}

fn average_importance(per_target: &[(Target, Vec<(String, f64)>)]) -> Vec<ImportanceEntry> {
    let mut shares: BTreeMap<&str, f64> = BTreeMap::new();
    let targets = per_target.len().max(1) as f64;
    for (_, gains) in per_target {
        let total: f64 = gains.iter().map(|(_, g)| g).sum();
        if total <= 0.0 {
            continue;
        }
        for (feature, gain) in gains {
            *shares.entry(feature).or_default() += gain / total / targets;
        }
    }
    let mut entries: Vec<ImportanceEntry> = shares
        .into_iter()
        .map(|(feature, gain_share)| ImportanceEntry {
            feature: feature.to_owned(),
            gain_share,
        })
        .collect();
    entries.sort_by(|a, b| b.gain_share.total_cmp(&a.gain_share));
    entries
}

/// Leave-one-out mean of each request's identical repetitions; `None` without any repetition.
fn noise_floor(rows: &[&AlignedRequest]) -> Result<Option<NoiseFloor>> {
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        groups
            .entry((row.request.size.clone(), work_key(&row.request.payload)))
            .or_default()
            .push(i);
    }
    let durations = target_values(rows, Target::DurationSeconds)?;
    let cpu = target_values(rows, Target::CpuSeconds)?;
    let repeated: Vec<&Vec<usize>> = groups.values().filter(|g| g.len() >= 2).collect();
    if repeated.is_empty() {
        return Ok(None);
    }
    let leave_one_out = |values: &[f64]| {
        let mut pairs = Vec::new();
        for group in &repeated {
            let sum: f64 = group.iter().map(|&i| values[i]).sum();
            for &i in group.iter() {
                pairs.push((values[i], (sum - values[i]) / (group.len() - 1) as f64));
            }
        }
        pairs
    };
    let metrics = |pairs: &[(f64, f64)]| {
        let (a, p): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
        Metrics::of(&a, &p)
    };
    let duration_pairs = leave_one_out(&durations);
    let long: Vec<(f64, f64)> = duration_pairs
        .iter()
        .copied()
        .filter(|(a, _)| *a >= 1.0)
        .collect();
    Ok(Some(NoiseFloor {
        groups: repeated.len(),
        duration: metrics(&duration_pairs),
        duration_at_least_1s: (!long.is_empty()).then(|| metrics(&long)),
        cpu_seconds: metrics(&leave_one_out(&cpu)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_seeded_and_shuffles_a_permutation() {
        let mut a: Vec<u32> = (0..50).collect();
        let mut b = a.clone();
        SeededRng::new(7).shuffle(&mut a);
        SeededRng::new(7).shuffle(&mut b);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(a, sorted);
        let mut c: Vec<u32> = (0..50).collect();
        SeededRng::new(8).shuffle(&mut c);
        assert_ne!(a, c);
        let unit = SeededRng::new(1).unit();
        assert!((0.0..1.0).contains(&unit));
    }

    #[test]
    fn a_payload_held_out_is_held_out_on_every_size_and_repetition() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/reference/sized-sweep");
        let run = dataset::open_run(dir).expect("reference run opens");
        let rows = usable(&run.requests);
        let options = EvalOptions::default();
        let (test, train, kind) = payload_groups_split(&rows, &options);
        assert_eq!(test.len() + train.len(), rows.len());
        let payloads_of = |indices: &[usize]| -> BTreeSet<String> {
            indices
                .iter()
                .map(|&i| work_key(&rows[i].request.payload))
                .collect()
        };
        let (held, trained) = (payloads_of(&test), payloads_of(&train));
        assert!(held.is_disjoint(&trained));
        let SplitKind::GroupedByPayload {
            held_out_payloads,
            payloads,
            ..
        } = kind
        else {
            panic!("unexpected split {kind:?}");
        };
        assert_eq!(
            (held_out_payloads, payloads),
            (held.len(), held.len() + trained.len())
        );
        let expected = (payloads as f64 * options.test_fraction).round() as usize;
        assert_eq!(held_out_payloads, expected.max(1));
        // Seeded: the same seed holds out the same payloads, another seed others.
        assert_eq!(payload_groups_split(&rows, &options).0, test);
        let reseeded = EvalOptions { seed: 1, ..options };
        assert_ne!(payload_groups_split(&rows, &reseeded).0, test);
    }

    #[test]
    fn importance_shares_average_over_targets() {
        let entries = average_importance(&[
            (
                Target::DurationSeconds,
                vec![("a".into(), 3.0), ("b".into(), 1.0)],
            ),
            (Target::CpuSeconds, vec![("b".into(), 2.0)]),
        ]);
        assert_eq!(entries[0].feature, "b");
        assert!((entries[0].gain_share - (0.25 + 1.0) / 2.0).abs() < 1e-12);
        assert!((entries[1].gain_share - 0.75 / 2.0).abs() < 1e-12);
    }
}
