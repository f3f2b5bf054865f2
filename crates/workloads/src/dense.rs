//! `/dense` parameters and result. The kernel (libtorch) lives in the `workload-dense` crate.

use serde::{Deserialize, Serialize};

use crate::{Bound, InvalidParam};

pub const MAX_NUM_SAMPLES: u32 = 60_000;
pub const MAX_EPOCHS: u32 = 100;
pub const MAX_BATCH_SIZE: u32 = 4_096;
pub const MAX_LAYERS: u32 = 10;
pub const MAX_UNITS: u32 = 2_048;
/// Below this a 20 % validation split leaves nothing to train on.
pub const MIN_NUM_SAMPLES: u32 = 10;
pub const NUM_SAMPLES: Bound<u32> = Bound::new("num_samples", MIN_NUM_SAMPLES, MAX_NUM_SAMPLES);
pub const EPOCHS: Bound<u32> = Bound::new("epochs", 1, MAX_EPOCHS);
pub const BATCH_SIZE: Bound<u32> = Bound::new("batch_size", 1, MAX_BATCH_SIZE);
pub const NUM_LAYERS: Bound<u32> = Bound::new("num_layers", 1, MAX_LAYERS);
pub const UNITS: Bound<u32> = Bound::new("units", 1, MAX_UNITS);
/// Test accuracy at or above which `target_reached` is true (the original's goal).
pub const TARGET_ACCURACY: f64 = 0.90;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseParams {
    /// Training + validation digits requested; the kernel uses at most what its data set holds
    /// (reported as `training_samples` + `validation_samples`).
    #[serde(default = "default_num_samples")]
    pub num_samples: u32,
    #[serde(default = "default_epochs")]
    pub epochs: u32,
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// Hidden layers of `units` ReLU neurons each.
    #[serde(default = "default_num_layers")]
    pub num_layers: u32,
    #[serde(default = "default_units")]
    pub units: u32,
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_num_samples() -> u32 {
    20_000
}
fn default_epochs() -> u32 {
    5
}
fn default_batch_size() -> u32 {
    32
}
fn default_num_layers() -> u32 {
    2
}
fn default_units() -> u32 {
    128
}

impl Default for DenseParams {
    fn default() -> Self {
        Self {
            num_samples: default_num_samples(),
            epochs: default_epochs(),
            batch_size: default_batch_size(),
            num_layers: default_num_layers(),
            units: default_units(),
            seed: None,
        }
    }
}

impl DenseParams {
    pub fn validate(&self) -> Result<(), InvalidParam> {
        NUM_SAMPLES.check(self.num_samples)?;
        EPOCHS.check(self.epochs)?;
        BATCH_SIZE.check(self.batch_size)?;
        NUM_LAYERS.check(self.num_layers)?;
        UNITS.check(self.units)
    }

    /// The allowed values of a payload field, for error messages.
    pub fn allowed(field: &str) -> Option<String> {
        [NUM_SAMPLES, EPOCHS, BATCH_SIZE, NUM_LAYERS, UNITS]
            .iter()
            .find(|bound| bound.field == field)
            .map(Bound::allowed)
            .or_else(|| (field == "seed").then(|| crate::SEED_ALLOWED.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseOutcome {
    /// Wall seconds for the whole request: loading, training and testing.
    pub execution_time: f64,
    /// Accuracy on held-out test digits never seen in training or validation.
    pub accuracy: f64,
    /// Mean cross-entropy on the test digits.
    pub loss: f64,
    /// Validation accuracy after the last epoch.
    pub val_accuracy: f64,
    pub training_samples: u32,
    pub validation_samples: u32,
    pub test_samples: u32,
    pub epochs: u32,
    pub target_reached: bool,
    /// Seconds spent reading and decoding the digits.
    pub data_load_time: f64,
    pub threads: usize,
    pub success: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_originals_and_valid() {
        let p: DenseParams = serde_json::from_str("{}").unwrap();
        assert_eq!(p, DenseParams::default());
        assert_eq!(
            (p.num_samples, p.epochs, p.batch_size, p.num_layers, p.units),
            (20_000, 5, 32, 2, 128)
        );
        p.validate().unwrap();
    }

    #[test]
    fn each_field_is_range_checked() {
        type Spoil = fn(&mut DenseParams);
        let out_of_range: [(&str, Spoil); 10] = [
            ("num_samples", |p| p.num_samples = 9),
            ("num_samples", |p| p.num_samples = 60_001),
            ("epochs", |p| p.epochs = 0),
            ("epochs", |p| p.epochs = 1_000_000_000),
            ("batch_size", |p| p.batch_size = 0),
            ("batch_size", |p| p.batch_size = 4_097),
            ("num_layers", |p| p.num_layers = 0),
            ("num_layers", |p| p.num_layers = 11),
            ("units", |p| p.units = 0),
            ("units", |p| p.units = 2_049),
        ];
        for (field, spoil) in out_of_range {
            let mut params = DenseParams::default();
            spoil(&mut params);
            assert_eq!(params.validate().unwrap_err().field, field);
        }
    }
}
