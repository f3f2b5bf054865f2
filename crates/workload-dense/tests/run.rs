//! End-to-end runs of the kernel on real libtorch, one thread each.

use workload_dense::{DenseError, run};
use workloads::ExecEnv;
use workloads::dense::{DenseParams, TARGET_ACCURACY};

const ONE_THREAD: ExecEnv = ExecEnv { threads: 1 };

fn small(seed: u64) -> DenseParams {
    DenseParams {
        num_samples: 1_000,
        epochs: 2,
        units: 32,
        seed: Some(seed),
        ..Default::default()
    }
}

#[test]
fn default_params_reach_the_target_accuracy_on_held_out_digits() {
    let outcome = run(&DenseParams::default(), &ONE_THREAD).unwrap();
    eprintln!("default params: {outcome:?}");
    assert!(outcome.accuracy >= TARGET_ACCURACY, "{outcome:?}");
    assert!(outcome.target_reached && outcome.success);
    assert!(outcome.val_accuracy >= TARGET_ACCURACY, "{outcome:?}");
    assert!(
        outcome.loss.is_finite() && outcome.loss < 0.5,
        "{outcome:?}"
    );
    assert_eq!(
        (outcome.epochs, outcome.threads, outcome.test_samples),
        (5, 1, 2_000)
    );
    assert!(outcome.data_load_time > 0.0 && outcome.data_load_time < outcome.execution_time);
}

#[test]
fn same_seed_repeats_exactly_and_another_seed_differs() {
    let first = run(&small(7), &ONE_THREAD).unwrap();
    let again = run(&small(7), &ONE_THREAD).unwrap();
    let other = run(&small(8), &ONE_THREAD).unwrap();
    assert_eq!(
        (first.accuracy, first.loss, first.val_accuracy),
        (again.accuracy, again.loss, again.val_accuracy)
    );
    assert_ne!(first.loss, other.loss);
}

#[test]
fn a_small_config_trains_and_its_counts_add_up() {
    let params = DenseParams {
        num_samples: 500,
        epochs: 1,
        units: 16,
        num_layers: 1,
        batch_size: 32,
        seed: Some(3),
    };
    let outcome = run(&params, &ONE_THREAD).unwrap();
    assert_eq!(
        (outcome.training_samples, outcome.validation_samples),
        (400, 100)
    );
    assert_eq!(outcome.test_samples, 2_000);
    // Thirteen Adam steps already lift a 10-class model well above chance (10 %).
    assert!(outcome.accuracy > 0.2, "{outcome:?}");
    assert!((0.0..=1.0).contains(&outcome.val_accuracy));
}

#[test]
fn num_samples_beyond_the_pool_is_capped() {
    let params = DenseParams {
        num_samples: 60_000,
        epochs: 1,
        units: 16,
        num_layers: 1,
        batch_size: 512,
        seed: Some(1),
    };
    let outcome = run(&params, &ONE_THREAD).unwrap();
    assert_eq!(
        (
            outcome.training_samples,
            outcome.validation_samples,
            outcome.test_samples
        ),
        (6_400, 1_600, 2_000)
    );
}

#[test]
fn invalid_params_are_rejected_naming_the_field() {
    // Every field's range is tested with the parameter types (crate `workloads`); here: the
    // kernel validates before it trains.
    let params = DenseParams {
        epochs: 101,
        ..Default::default()
    };
    match run(&params, &ONE_THREAD) {
        Err(DenseError::Invalid(invalid)) => assert_eq!(invalid.field, "epochs"),
        other => panic!("expected Invalid(epochs), got {other:?}"),
    }
}
