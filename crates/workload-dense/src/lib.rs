//! The `/dense` kernel: trains a multi-layer perceptron on real MNIST digits with libtorch (CPU)
//! and scores it on held-out digits.
//!
//! Invariant: a request's result depends only on its parameters and seed (and the thread count
//! it is given): every request is tested on the same fixed 2,000 digits, all shuffling comes from
//! the seed, and libtorch's process-global state (generator, thread count) is held exclusively
//! for the whole request.

mod digits;
mod model;
mod torch_info;

use std::sync::Mutex;
use std::time::Instant;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use workloads::dense::{DenseOutcome, DenseParams, TARGET_ACCURACY};
use workloads::{DEFAULT_SEED, ExecEnv, InvalidParam};

pub use digits::DataError;
pub use torch_info::{TorchInfo, torch_info};

use crate::model::Mlp;

#[derive(Debug, thiserror::Error)]
pub enum DenseError {
    #[error(transparent)]
    Invalid(#[from] InvalidParam),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("libtorch: {0}")]
    Torch(String),
}

impl From<tch::TchError> for DenseError {
    fn from(error: tch::TchError) -> Self {
        DenseError::Torch(error.to_string())
    }
}

/// libtorch's seed and thread count are process-wide: concurrent requests would reseed or
/// re-thread each other mid-training and lose reproducibility.
static LIBTORCH_STATE: Mutex<()> = Mutex::new(());

/// Validates `params`, then loads the digits, trains and tests the model on `env.threads` threads.
pub fn run(params: &DenseParams, env: &ExecEnv) -> Result<DenseOutcome, DenseError> {
    let started = Instant::now();
    params.validate()?;
    let seed = params.seed.unwrap_or(DEFAULT_SEED);

    let digits = digits::decode(digits::EMBEDDED_GZ)?;
    let data_load_time = started.elapsed().as_secs_f64();

    let split = digits::fixed_split(digits.len());
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut sample = digits::sample(split.pool, params.num_samples as usize, &mut rng);

    // Ignore poisoning: the guarded state is reset below before every use.
    let _exclusive = LIBTORCH_STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::set_num_threads(i32::try_from(env.threads.max(1)).unwrap_or(i32::MAX));
    // Bit-cast: libtorch takes the seed as a signed 64-bit value.
    tch::manual_seed(seed as i64);

    let model = Mlp::new(digits.pixels_per_digit(), params.num_layers, params.units)?;
    let mut trainer = model.adam()?;
    let mut validation = None;
    for _ in 0..params.epochs {
        rand::seq::SliceRandom::shuffle(sample.training.as_mut_slice(), &mut rng);
        trainer.epoch(
            &model,
            &digits,
            &sample.training,
            params.batch_size as usize,
        )?;
        validation = Some(model.evaluate(&digits, &sample.validation)?);
    }
    let test = model.evaluate(&digits, &split.test)?;

    Ok(DenseOutcome {
        execution_time: started.elapsed().as_secs_f64(),
        accuracy: test.accuracy,
        loss: test.loss,
        val_accuracy: validation.map_or(0.0, |v| v.accuracy),
        training_samples: count(&sample.training),
        validation_samples: count(&sample.validation),
        test_samples: count(&split.test),
        epochs: params.epochs,
        target_reached: test.accuracy >= TARGET_ACCURACY,
        data_load_time,
        threads: env.threads,
        success: true,
    })
}

/// Index lists are bounded by the embedded data set (10,000 digits).
fn count(indices: &[usize]) -> u32 {
    u32::try_from(indices.len()).unwrap_or(u32::MAX)
}
