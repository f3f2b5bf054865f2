//! `/ml`: the original's CPU-stress loop, `a = (a + a) % 1_000_000` for `input` iterations.

use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{Bound, InvalidParam};

/// Largest accepted `input`: about 20 s of one full core, 200 s on a 100m pod.
pub const MAX_INPUT: u64 = 10_000_000_000;
pub const INPUT: Bound<u64> = Bound::new("input", 0, MAX_INPUT);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlParams {
    /// Loop iterations.
    #[serde(default = "default_input")]
    pub input: u64,
    /// Accepted for uniformity with the other workloads; the loop has no randomness.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_input() -> u64 {
    10_000_000
}

impl Default for MlParams {
    fn default() -> Self {
        Self {
            input: default_input(),
            seed: None,
        }
    }
}

impl MlParams {
    pub fn validate(&self) -> Result<(), InvalidParam> {
        INPUT.check(self.input)
    }

    /// The allowed values of a payload field, for error messages.
    pub fn allowed(field: &str) -> Option<String> {
        match field {
            "input" => Some(INPUT.allowed()),
            "seed" => Some(crate::SEED_ALLOWED.to_owned()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlOutcome {
    /// The original's answer, kept for its clients.
    pub data: String,
    pub execution_time: f64,
    pub iterations: u64,
    /// Final value of `a`, so the loop's work is observable.
    pub result: u64,
    pub success: bool,
}

/// Runs the loop. `black_box` on every step keeps the optimiser from folding it (the sequence is
/// 0 forever from a = 0, and periodic otherwise).
pub fn run(params: &MlParams) -> Result<MlOutcome, InvalidParam> {
    params.validate()?;
    let started = Instant::now();
    let mut a: u64 = 1;
    for _ in 0..params.input {
        a = black_box((black_box(a) + a) % 1_000_000);
    }
    Ok(MlOutcome {
        data: "endpoint OK\n".to_owned(),
        execution_time: started.elapsed().as_secs_f64(),
        iterations: params.input,
        result: a,
        success: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_computes_the_doubling_sequence() {
        // 1, 2, 4, ..., 2^19 = 524288, then 1048576 % 1e6 = 48576.
        let out = run(&MlParams {
            input: 20,
            seed: None,
        })
        .unwrap();
        assert_eq!(out.result, 48_576);
        assert_eq!(out.iterations, 20);
        assert_eq!(out.data, "endpoint OK\n");
    }

    #[test]
    fn work_scales_with_input() {
        let small = run(&MlParams {
            input: 100_000,
            seed: None,
        })
        .unwrap()
        .execution_time;
        let large = run(&MlParams {
            input: 20_000_000,
            seed: None,
        })
        .unwrap()
        .execution_time;
        // 200x the iterations must take clearly longer: the loop was not folded away.
        assert!(large > small * 10.0, "small {small}s, large {large}s");
    }

    #[test]
    fn rejects_absurd_input() {
        let err = MlParams {
            input: MAX_INPUT + 1,
            seed: None,
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.field, "input");
    }
}
