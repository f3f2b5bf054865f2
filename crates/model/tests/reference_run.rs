//! Training, persistence, evaluation and placement on the committed real `sized-sweep` run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use dataset::Run;
use model::{
    DurationSource, EvalOptions, Evaluation, ModelError, Objective, RequestInput, SplitKind,
    Target, TrainOptions, TrainedModel, evaluate, parse_payload, place, train, usable,
};

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/reference/sized-sweep")
}

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| dataset::open_run(reference_dir()).expect("reference run opens"))
}

fn options(seed: u64) -> TrainOptions {
    TrainOptions {
        seed,
        ..TrainOptions::default()
    }
}

fn evaluation() -> &'static Evaluation {
    static EVALUATION: OnceLock<Evaluation> = OnceLock::new();
    EVALUATION.get_or_init(|| {
        let options = EvalOptions {
            train: options(7),
            seed: 7,
            ..EvalOptions::default()
        };
        evaluate(run(), &options).expect("evaluation runs")
    })
}

#[test]
fn same_data_and_seed_give_identical_model_bytes() {
    let (a, b) = (
        train(run(), &options(3)).unwrap(),
        train(run(), &options(3)).unwrap(),
    );
    for target in Target::ALL {
        let bytes = a.model_bytes(target).unwrap();
        assert!(bytes.len() > 1000, "a real model for {target}");
        assert_eq!(bytes, b.model_bytes(target).unwrap(), "{target}");
    }
}

#[test]
fn features_exclude_counters_uptime_and_constant_columns() {
    let model = train(run(), &options(1)).unwrap();
    let names = &model.metadata.feature_names;
    for name in names {
        assert!(
            !name.contains("_total") && !name.contains("uptime") && !name.contains("start_time"),
            "{name}"
        );
    }
    for expected in ["cpu_millicores", "function_dense", "input", "seconds"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    // Every request of the run is ok; warm-ups are left out.
    assert_eq!(
        model.metadata.training_rows,
        run().requests.iter().filter(|r| !r.request.warmup).count()
    );
}

#[test]
fn a_saved_model_loads_and_predicts_identically() {
    let model = train(run(), &options(5)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let loaded = TrainedModel::load(dir.path()).unwrap();
    // JSON floats may come back one ulp off; everything that shapes predictions must match.
    let (a, b) = (&loaded.metadata, &model.metadata);
    assert_eq!(
        (&a.feature_names, &a.targets, &a.options, &a.training_run_id),
        (&b.feature_names, &b.targets, &b.options, &b.training_run_id)
    );
    let rows = usable(&run().requests);
    let inputs: Vec<RequestInput> = rows
        .iter()
        .map(|r| RequestInput::of(r, &run().manifest.sizes).unwrap())
        .collect();
    for target in Target::ALL {
        assert_eq!(
            loaded.predict(target, &inputs).unwrap(),
            model.predict(target, &inputs).unwrap()
        );
    }
}

#[test]
fn a_model_whose_features_do_not_match_its_metadata_is_refused() {
    let model = train(run(), &options(5)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let path = dir.path().join(model::METADATA_FILE);
    let mut metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let features = metadata["feature_names"].as_array_mut().unwrap();
    features.pop();
    std::fs::write(&path, serde_json::to_vec(&metadata).unwrap()).unwrap();
    assert!(matches!(
        TrainedModel::load(dir.path()),
        Err(ModelError::FeatureMismatch(_))
    ));

    metadata["feature_names"][0] = "uptime".into();
    std::fs::write(&path, serde_json::to_vec(&metadata).unwrap()).unwrap();
    assert!(matches!(
        TrainedModel::load(dir.path()),
        Err(ModelError::FeatureMismatch(_))
    ));
}

#[test]
fn bad_training_input_is_a_typed_error() {
    let mut few = run().clone();
    few.requests.truncate(5);
    assert!(matches!(
        train(&few, &options(0)),
        Err(ModelError::TooFewRows { found, .. }) if found <= 5
    ));

    let mut missing = run().clone();
    let victim = missing
        .requests
        .iter_mut()
        .find(|r| !r.request.warmup)
        .unwrap();
    victim.request.usage.process_cpu_ns = None;
    let seq = victim.request.seq;
    assert!(matches!(
        train(&missing, &options(0)),
        Err(ModelError::BadTarget { target: Target::CpuSeconds, seq: s }) if s == seq
    ));

    let mut unknown_size = run().clone();
    unknown_size.manifest.sizes.pop();
    assert!(matches!(
        train(&unknown_size, &options(0)),
        Err(ModelError::UnknownSize(_))
    ));
}

#[test]
fn xgboost_beats_the_baselines_on_the_random_split() {
    let split = &evaluation().random_split;
    for target in Target::ALL {
        let mae = |predictor: &str| split.result(target, predictor).unwrap().metrics.mae;
        assert!(mae("xgboost") < mae("median_function_size"), "{target}");
        assert!(mae("xgboost") < mae("linear"), "{target}");
    }
    assert_eq!(split.train_rows + split.test_rows, evaluation().usable_rows);
}

#[test]
fn leave_one_size_out_marks_only_the_middle_size_as_interpolation() {
    let kinds: Vec<(String, bool)> = evaluation()
        .leave_one_size_out
        .iter()
        .map(|report| match &report.split {
            SplitKind::LeaveOneSizeOut {
                held_out,
                interpolation,
            } => (held_out.clone(), *interpolation),
            other => panic!("unexpected split {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("small".to_owned(), false),
            ("medium".to_owned(), true),
            ("large".to_owned(), false)
        ]
    );
    for report in &evaluation().leave_one_size_out {
        // A held-out size has no (function, size) median to predict from.
        assert!(
            report
                .result(Target::DurationSeconds, "median_function_size")
                .is_none()
        );
        assert!(
            report
                .result(Target::DurationSeconds, "xgboost_via_cpu")
                .is_some()
        );
    }
}

#[test]
fn the_evaluation_is_one_json_document() {
    let evaluation = evaluation();
    let json = serde_json::to_string_pretty(evaluation).unwrap();
    let back: Evaluation = serde_json::from_str(&json).unwrap();
    assert_eq!(back.random_split.split, evaluation.random_split.split);
    assert_eq!(
        back.random_split.results.len(),
        evaluation.random_split.results.len()
    );
    assert_eq!(evaluation.k_fold.len(), 5);
    let shares: f64 = evaluation.importance.iter().map(|e| e.gain_share).sum();
    assert!((shares - 1.0).abs() < 1e-6);
    let placement = evaluation.placement.as_ref().unwrap();
    assert!(placement.decisions > 0);
    // Every complete (payload, repetition) group is decided once, by the fold holding it out.
    assert!(placement.decisions > 100, "{}", placement.decisions);
    assert!(placement.decisions * run().manifest.sizes.len() <= evaluation.usable_rows);
    for size in &run().manifest.sizes {
        let baseline = placement
            .scores
            .iter()
            .find(|s| s.predictor == format!("always_{}", size.name))
            .unwrap_or_else(|| panic!("an always_{} baseline", size.name));
        assert_eq!(baseline.source, None);
    }
    let ceiling = placement
        .scores
        .iter()
        .find(|s| s.predictor == model::REPETITION_MEAN_POLICY)
        .expect("the repetition-mean ceiling");
    assert_eq!(ceiling.source, None);
    // Knowing each request's expected duration beats always taking the largest size.
    let always_large = placement
        .scores
        .iter()
        .find(|s| s.predictor == "always_large")
        .unwrap();
    assert!(ceiling.optimal_share > always_large.optimal_share);
    for score in &placement.scores {
        assert!((0.0..=1.0).contains(&score.optimal_share));
        assert!(score.mean_regret >= 0.0);
        assert_eq!(score.regrets.len(), placement.decisions);
        let mean = score.regrets.iter().sum::<f64>() / placement.decisions as f64;
        assert!((mean - score.mean_regret).abs() < 1e-9);
        for breakdown in [&score.by_duration_bucket, &score.by_function] {
            let decisions: usize = breakdown.iter().map(|g| g.decisions).sum();
            assert_eq!(decisions, placement.decisions);
            // The overall share is the decision-weighted mean of the groups'.
            let weighted: f64 = breakdown
                .iter()
                .filter_map(|g| Some(g.optimal_share? * g.decisions as f64))
                .sum();
            assert!((weighted / placement.decisions as f64 - score.optimal_share).abs() < 1e-9);
        }
    }
    let grouped = &evaluation.grouped_by_payload;
    assert_eq!(
        grouped.train_rows + grouped.test_rows,
        evaluation.usable_rows
    );
    assert!(matches!(
        back.grouped_by_payload.split,
        SplitKind::GroupedByPayload { held_out_payloads, payloads, .. }
            if held_out_payloads > 0 && held_out_payloads < payloads
    ));
    assert!(
        grouped
            .result(Target::DurationSeconds, "xgboost_log1p_via_cpu")
            .is_some()
    );
    let floor = evaluation.noise_floor.as_ref().unwrap();
    assert!(floor.groups > 0);
}

#[test]
fn held_out_predictions_are_the_random_splits_test_rows() {
    let options = EvalOptions {
        train: options(7),
        seed: 7,
        placement: false,
        ..EvalOptions::default()
    };
    let predictions = model::held_out_predictions(run(), &options).unwrap();
    let test_rows = evaluation().random_split.test_rows;
    let of = |target: Target, predictor: &str| {
        predictions
            .iter()
            .filter(|p| p.target == target && p.predictor == predictor)
            .collect::<Vec<_>>()
    };
    let direct = of(Target::DurationSeconds, "xgboost_log");
    assert_eq!(direct.len(), test_rows);
    // The same rows, in the same order, for every predictor of a target.
    let via_cpu = of(Target::DurationSeconds, "xgboost_log_via_cpu");
    let actual = |ps: &[&model::HeldOutPrediction]| ps.iter().map(|p| p.actual).collect::<Vec<_>>();
    assert_eq!(actual(&direct), actual(&via_cpu));
    assert!(direct.iter().all(|p| p.predicted >= 0.0 && p.actual > 0.0));
    let sizes: std::collections::BTreeSet<&str> = direct.iter().map(|p| p.size.as_str()).collect();
    assert_eq!(sizes.len(), run().manifest.sizes.len());
    // The metrics reported for the split are these predictions' metrics.
    let (a, p): (Vec<f64>, Vec<f64>) = direct.iter().map(|p| (p.actual, p.predicted)).unzip();
    let reported = evaluation()
        .random_split
        .result(Target::DurationSeconds, "xgboost_log")
        .unwrap();
    assert_eq!(model::Metrics::of(&a, &p), reported.metrics);
}

#[test]
fn placement_picks_a_known_size_and_the_fastest_for_time() {
    let model = train(run(), &options(2)).unwrap();
    let payload = parse_payload("dense", &serde_json::json!({"epochs": 2})).unwrap();
    let none = BTreeMap::new();
    let fastest = place(
        &model,
        &payload,
        &none,
        None,
        Objective::Time,
        DurationSource::Direct,
    )
    .unwrap();
    let best = fastest
        .estimates
        .iter()
        .min_by(|a, b| {
            a.predicted_duration_seconds
                .total_cmp(&b.predicted_duration_seconds)
        })
        .unwrap();
    assert_eq!(fastest.chosen, best.size);
    let generous = best.predicted_duration_seconds * 100.0;
    let cheap = place(
        &model,
        &payload,
        &none,
        Some(generous),
        Objective::Cost,
        DurationSource::ViaCpu,
    )
    .unwrap();
    assert!(cheap.predicted_to_meet_deadline);
    let cheapest = cheap
        .estimates
        .iter()
        .min_by(|a, b| a.predicted_cost.total_cmp(&b.predicted_cost))
        .unwrap();
    assert_eq!(cheap.chosen, cheapest.size);

    let unknown_state = BTreeMap::from([(
        "small".to_owned(),
        BTreeMap::from([("process_uptime_seconds".to_owned(), 1.0)]),
    )]);
    assert!(matches!(
        place(
            &model,
            &payload,
            &unknown_state,
            None,
            Objective::Time,
            DurationSource::Direct
        ),
        Err(ModelError::BadOption(_))
    ));
}

#[test]
fn no_prediction_is_negative_and_every_transform_is_scored() {
    let model = train(run(), &options(2)).unwrap();
    let rows = usable(&run().requests);
    let inputs = rows
        .iter()
        .map(|r| RequestInput::of(r, &run().manifest.sizes))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    for target in Target::ALL {
        let predicted = model.predict(target, &inputs).unwrap();
        assert!(predicted.iter().all(|&p| p >= 0.0), "{target}");
    }
    let via_cpu = model.predict_duration_via_cpu(&inputs).unwrap();
    assert!(via_cpu.iter().all(|&p| p >= 0.0));

    let evaluation = evaluation();
    for predictor in ["xgboost_log", "xgboost_log_via_cpu"] {
        let result = evaluation
            .random_split
            .result(Target::DurationSeconds, predictor)
            .unwrap_or_else(|| panic!("{predictor} in the random split"));
        assert!(result.metrics.mape.is_some_and(|m| m.is_finite()));
    }
    let placement = evaluation.placement.as_ref().unwrap();
    let predictors: Vec<&str> = placement
        .scores
        .iter()
        .map(|s| s.predictor.as_str())
        .collect();
    assert!(
        predictors.contains(&"xgboost_log_via_cpu"),
        "{predictors:?}"
    );
}

#[test]
fn native_multi_output_trees_predict_every_target_deterministically() {
    let rows = usable(&run().requests);
    let sizes = &run().manifest.sizes;
    let options = options(5);
    let a = model::MultiOutputModel::train(&rows, sizes, &options).unwrap();
    let b = model::MultiOutputModel::train(&rows, sizes, &options).unwrap();
    let inputs: Vec<RequestInput> = rows
        .iter()
        .take(50)
        .map(|r| RequestInput::of(r, sizes).unwrap())
        .collect();
    for target in Target::ALL {
        let predicted = a.predict(target, &inputs).unwrap();
        assert_eq!(predicted, b.predict(target, &inputs).unwrap(), "{target}");
        assert_eq!(predicted.len(), inputs.len());
        // Learned, not constant: the predictions follow the rows' targets.
        let actual: Vec<f64> = rows
            .iter()
            .take(50)
            .map(|r| target.actual(r).unwrap())
            .collect();
        let fit = model::Metrics::of(&actual, &predicted);
        assert!(fit.r2.is_some_and(|r2| r2 > 0.5), "{target}: {fit:?}");
    }
    // The option adds the predictor to every split of an evaluation.
    let evaluation = evaluate(
        run(),
        &EvalOptions {
            train: TrainOptions {
                multi_output: true,
                ..options
            },
            placement: false,
            ..EvalOptions::default()
        },
    )
    .unwrap();
    for target in Target::ALL {
        let result = evaluation
            .random_split
            .result(target, model::MULTI_OUTPUT_PREDICTOR)
            .unwrap_or_else(|| panic!("{target}"));
        assert!(result.metrics.mape.is_some_and(f64::is_finite), "{target}");
    }
}

#[test]
fn duration_bands_cover_about_their_share_of_unseen_requests() {
    let rows = usable(&run().requests);
    let sizes = &run().manifest.sizes;
    let (mut train_rows, mut test_rows) = (Vec::new(), Vec::new());
    for (i, &row) in rows.iter().enumerate() {
        if i % 4 == 0 {
            test_rows.push(row);
        } else {
            train_rows.push(row);
        }
    }
    let model = model::train_with_band(&train_rows, sizes, "t", &options(2)).unwrap();
    let band = model.metadata.duration_band.as_ref().expect("a band");
    assert_eq!(
        (band.folds, band.coverage),
        (model::BAND_FOLDS, model::BAND_COVERAGE)
    );
    let inputs: Vec<RequestInput> = test_rows
        .iter()
        .map(|r| RequestInput::of(r, sizes).unwrap())
        .collect();
    for source in [DurationSource::Direct, DurationSource::ViaCpu] {
        let predicted = match source {
            DurationSource::Direct => model.predict(Target::DurationSeconds, &inputs).unwrap(),
            _ => model.predict_duration_via_cpu(&inputs).unwrap(),
        };
        let band = band.get(source).expect("a band per source");
        let covered = test_rows
            .iter()
            .zip(&predicted)
            .filter(|(r, p)| {
                let (low, high) = band.around(**p);
                let actual = r.request.duration_ns as f64 / 1e9;
                low <= actual && actual <= high
            })
            .count() as f64
            / test_rows.len() as f64;
        // Measured out of fold on the training rows, an 80 % band holds roughly 80 % of
        // requests it never saw: far from 0 % or 100 %.
        assert!((0.65..=0.95).contains(&covered), "{source:?}: {covered}");
    }
}
