//! Measures the two pure-Rust kernels' CPU cost per unit of work, the constants behind
//! `experiment::cost`: `cargo run --release -p experiment --example measure_costs`.
//!
//! Each kernel runs a few times at a size large enough that its fixed cost vanishes; the fastest
//! run is reported, since on a shared machine the slower runs measure the neighbours.

use workloads::InvalidParam;
use workloads::ml::{self, MlParams};
use workloads::pi::{self, PiParams};

const RUNS: usize = 5;
const UNITS_OF_WORK: u64 = 200_000_000;

fn fastest(mut run: impl FnMut() -> Result<f64, InvalidParam>) -> Result<f64, InvalidParam> {
    let mut best = f64::INFINITY;
    for _ in 0..RUNS {
        best = best.min(run()?);
    }
    Ok(best)
}

fn main() -> Result<(), InvalidParam> {
    let ml_params = MlParams {
        input: UNITS_OF_WORK,
        seed: None,
    };
    let ml_seconds = fastest(|| Ok(ml::run(&ml_params)?.execution_time))?;
    let pi_params = PiParams {
        num_samples: UNITS_OF_WORK,
        seed: Some(1),
    };
    let pi_seconds = fastest(|| Ok(pi::run(&pi_params)?.execution_time))?;
    for (name, unit, seconds) in [
        ("ml", "iteration", ml_seconds),
        ("pi", "sample", pi_seconds),
    ] {
        println!(
            "{name}: {:.3} ns per {unit} ({UNITS_OF_WORK} in {seconds:.3} s)",
            seconds / UNITS_OF_WORK as f64 * 1e9
        );
    }
    Ok(())
}
