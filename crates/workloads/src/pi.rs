//! `/pi`: Monte Carlo estimate of π from uniform points in the unit square, in batches of
//! 100,000 as the original did, with `rand_pcg` seeded per request.

use std::time::Instant;

use rand::{RngCore, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use crate::{Bound, DEFAULT_SEED, InvalidParam};

pub const BATCH: u64 = 100_000;
/// Largest accepted `num_samples`: ~30 s of one core here.
pub const MAX_SAMPLES: u64 = 10_000_000_000;
pub const NUM_SAMPLES: Bound<u64> = Bound::new("num_samples", 1, MAX_SAMPLES);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiParams {
    #[serde(default = "default_samples")]
    pub num_samples: u64,
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_samples() -> u64 {
    100_000_000
}

impl Default for PiParams {
    fn default() -> Self {
        Self {
            num_samples: default_samples(),
            seed: None,
        }
    }
}

impl PiParams {
    pub fn validate(&self) -> Result<(), InvalidParam> {
        NUM_SAMPLES.check(self.num_samples)
    }

    /// The allowed values of a payload field, for error messages.
    pub fn allowed(field: &str) -> Option<String> {
        match field {
            "num_samples" => Some(NUM_SAMPLES.allowed()),
            "seed" => Some(crate::SEED_ALLOWED.to_owned()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PiOutcome {
    pub execution_time: f64,
    pub estimated_pi: f64,
    pub actual_pi: f64,
    pub error: f64,
    pub num_samples: u64,
    pub success: bool,
}

/// Counts points inside the quarter circle. Each 64-bit draw gives two 31-bit coordinates; the
/// test `x² + y² < 2^62` is exact in integers, so no float conversion sits in the hot loop.
fn inside(rng: &mut Pcg64Mcg, samples: u64) -> u64 {
    const MASK: u64 = (1 << 31) - 1;
    const RADIUS_SQUARED: u64 = 1 << 62;
    let mut hits = 0;
    for _ in 0..samples {
        let r = rng.next_u64();
        let x = r >> 33;
        let y = r & MASK;
        hits += u64::from(x * x + y * y < RADIUS_SQUARED);
    }
    hits
}

pub fn run(params: &PiParams) -> Result<PiOutcome, InvalidParam> {
    params.validate()?;
    let started = Instant::now();
    let mut rng = Pcg64Mcg::seed_from_u64(params.seed.unwrap_or(DEFAULT_SEED));
    let mut hits = 0;
    let mut remaining = params.num_samples;
    while remaining > 0 {
        let batch = remaining.min(BATCH);
        hits += inside(&mut rng, batch);
        remaining -= batch;
    }
    let estimated_pi = 4.0 * hits as f64 / params.num_samples as f64;
    Ok(PiOutcome {
        execution_time: started.elapsed().as_secs_f64(),
        estimated_pi,
        actual_pi: std::f64::consts::PI,
        error: (estimated_pi - std::f64::consts::PI).abs(),
        num_samples: params.num_samples,
        success: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_is_within_tolerance_for_its_sample_count() {
        for (samples, seed) in [(1_000_000, 1), (10_000_000, 2), (3_000_001, 3)] {
            let out = run(&PiParams {
                num_samples: samples,
                seed: Some(seed),
            })
            .unwrap();
            // Standard error of 4·p̂ is 4·sqrt(p(1-p)/n) ≈ 1.64/sqrt(n); allow 5 sigma.
            let tolerance = 5.0 * 1.642 / (samples as f64).sqrt();
            assert!(
                out.error < tolerance,
                "n={samples}: error {} ≥ {tolerance}",
                out.error
            );
            assert_eq!(out.num_samples, samples);
        }
    }

    #[test]
    fn same_seed_same_estimate_other_seed_other_estimate() {
        let a = run(&PiParams {
            num_samples: 200_000,
            seed: Some(7),
        })
        .unwrap();
        let b = run(&PiParams {
            num_samples: 200_000,
            seed: Some(7),
        })
        .unwrap();
        let c = run(&PiParams {
            num_samples: 200_000,
            seed: Some(8),
        })
        .unwrap();
        assert_eq!(a.estimated_pi, b.estimated_pi);
        assert_ne!(a.estimated_pi, c.estimated_pi);
    }

    #[test]
    fn rejects_zero_and_absurd_sample_counts() {
        for n in [0, MAX_SAMPLES + 1] {
            let err = PiParams {
                num_samples: n,
                seed: None,
            }
            .validate()
            .unwrap_err();
            assert_eq!(err.field, "num_samples");
            assert_eq!(err.allowed, format!("1..={MAX_SAMPLES}"));
        }
    }
}
