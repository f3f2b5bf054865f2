//! The CPU cost model behind `--dry-run`: how long a schedule will take, per size.
//!
//! All constants were measured on the project's 2-core Debian 12 machine, one core, release
//! builds, and live here together:
//! - ml, pi: `cargo run --release -p experiment --example measure_costs` (fastest of 5 runs of
//!   2·10⁸ iterations / samples): 4.39 ns per ml iteration, 2.10 ns per pi sample.
//! - dense: `workload-dense`'s `measure` example (1 thread): 0.11–0.14 s per epoch of 6,400
//!   training digits (plus 1,600 validated) for 784-128-128-10 with Adam at batch 32, and
//!   ~0.15 s of loading, set-up and testing; the default request (5 epochs) ≈ 0.8 CPU-s. An
//!   epoch scales with training digits × weights per digit; batch size is not modelled.
//! - video: `workload-video`'s `encode_clip` example (1 thread) under `/usr/bin/time`: a 4 s
//!   clip (100 frames) takes 4.0 / 8.0 / 14.6 CPU-s at profile 0 / 1 / 2, linear in frames;
//!   short clips showed ~0.1 s more, the encoder's set-up and flush.
//!
//! Wall time of a request on a size is its CPU time at the size's quota (the kernels run one
//! busy thread, so quotas above one core do not speed them up) plus a fixed per-request overhead
//! for HTTP, scheduling and the quota's period phase.

use workloads::Payload;
use workloads::dense::DenseParams;
use workloads::video::VideoParams;

use crate::schedule::Schedule;
use crate::spec::Spec;

/// CPU seconds per `/ml` loop iteration.
pub const ML_SECONDS_PER_ITERATION: f64 = 4.39e-9;
/// CPU seconds per `/pi` sample.
pub const PI_SECONDS_PER_SAMPLE: f64 = 2.10e-9;
/// CPU seconds of a `/dense` request besides its epochs: loading digits, set-up, testing.
pub const DENSE_FIXED_SECONDS: f64 = 0.15;
/// CPU seconds of one epoch at the reference shape below.
pub const DENSE_REFERENCE_EPOCH_SECONDS: f64 = 0.13;
/// Training digits, hidden layers and units of the reference epoch (the defaults).
pub const DENSE_REFERENCE: (f64, u32, u32) = (6_400.0, 2, 128);
/// Digits the dense kernel's training pool holds; larger `num_samples` are capped to it.
pub const DENSE_POOL_DIGITS: f64 = 8_000.0;
/// Share of the sampled digits used for training (the rest validates).
pub const DENSE_TRAINING_SHARE: f64 = 0.8;
/// CPU seconds to encode a 4 s (100 frame) clip, per profile.
pub const VIDEO_SECONDS_PER_100_FRAMES: [f64; 3] = [4.0, 8.0, 14.6];
/// CPU seconds of a `/video` request besides its frames.
pub const VIDEO_FIXED_SECONDS: f64 = 0.1;
/// Wall seconds every request costs on top of its CPU time.
pub const REQUEST_OVERHEAD_SECONDS: f64 = 0.05;

/// Weights an MLP of `layers` × `units` hidden neurons has per digit (784 inputs, 10 outputs).
fn dense_weights(layers: u32, units: u32) -> f64 {
    let units = f64::from(units);
    784.0 * units + f64::from(layers.saturating_sub(1)) * units * units + 10.0 * units
}

fn dense_cpu_seconds(params: &DenseParams) -> f64 {
    let (reference_digits, reference_layers, reference_units) = DENSE_REFERENCE;
    let training = f64::from(params.num_samples).min(DENSE_POOL_DIGITS) * DENSE_TRAINING_SHARE;
    let per_epoch = DENSE_REFERENCE_EPOCH_SECONDS
        * (training / reference_digits)
        * (dense_weights(params.num_layers, params.units)
            / dense_weights(reference_layers, reference_units));
    DENSE_FIXED_SECONDS + f64::from(params.epochs) * per_epoch
}

fn video_cpu_seconds(params: &VideoParams) -> f64 {
    let per_100_frames = VIDEO_SECONDS_PER_100_FRAMES
        .get(usize::from(params.profile))
        .copied()
        .unwrap_or(VIDEO_SECONDS_PER_100_FRAMES[2]);
    VIDEO_FIXED_SECONDS + per_100_frames * f64::from(params.frames()) / 100.0
}

/// Predicted CPU seconds of one request, on one core.
pub fn cpu_seconds(payload: &Payload) -> f64 {
    match payload {
        Payload::Ml(p) => p.input as f64 * ML_SECONDS_PER_ITERATION,
        Payload::Pi(p) => p.num_samples as f64 * PI_SECONDS_PER_SAMPLE,
        Payload::Dense(p) => dense_cpu_seconds(p),
        Payload::Video(p) => video_cpu_seconds(p),
    }
}

/// What one size of a schedule is predicted to take.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SizePrediction {
    pub size: String,
    pub requests: usize,
    /// CPU seconds of all its requests (warm-ups included), on one core.
    pub cpu_seconds: f64,
    /// Wall seconds to run them one after another at the size's CPU quota.
    pub wall_seconds: f64,
}

/// Predicts each size's CPU and wall time for `schedule` (expanded from `spec`).
pub fn predict(spec: &Spec, schedule: &Schedule) -> Vec<SizePrediction> {
    schedule
        .sizes
        .iter()
        .map(|size| {
            let cores = spec
                .sizes
                .iter()
                .find(|s| s.name == size.size)
                .map_or(1.0, |s| s.cores().min(1.0));
            let cpu: f64 = size
                .requests
                .iter()
                .map(|request| cpu_seconds(&request.payload))
                .sum();
            SizePrediction {
                size: size.size.clone(),
                requests: size.requests.len(),
                cpu_seconds: cpu,
                wall_seconds: cpu / cores + REQUEST_OVERHEAD_SECONDS * size.requests.len() as f64,
            }
        })
        .collect()
}

/// Predicted wall seconds of the whole run: the slowest size when sizes run concurrently, the
/// sum otherwise.
pub fn predicted_run_wall_seconds(spec: &Spec, predictions: &[SizePrediction]) -> f64 {
    let walls = predictions.iter().map(|p| p.wall_seconds);
    if spec.concurrent_sizes {
        walls.fold(0.0, f64::max)
    } else {
        walls.sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workloads::ml::MlParams;

    #[test]
    fn dense_defaults_cost_what_was_measured() {
        // Fixed part + 5 epochs at the reference shape (20,000 digits capped to 8,000).
        let cost = cpu_seconds(&Payload::Dense(DenseParams::default()));
        let expected = DENSE_FIXED_SECONDS + 5.0 * DENSE_REFERENCE_EPOCH_SECONDS;
        assert!((cost - expected).abs() < 1e-9, "{cost}");
        let half = cpu_seconds(&Payload::Dense(DenseParams {
            num_samples: 4_000,
            ..Default::default()
        }));
        assert!((half - DENSE_FIXED_SECONDS - (expected - DENSE_FIXED_SECONDS) / 2.0).abs() < 1e-9);
        let wider = cpu_seconds(&Payload::Dense(DenseParams {
            units: 256,
            ..Default::default()
        }));
        assert!(wider > 2.0 * (cost - DENSE_FIXED_SECONDS), "{wider}");
    }

    #[test]
    fn video_scales_with_frames_and_profile() {
        let clip = |profile, seconds| {
            cpu_seconds(&Payload::Video(VideoParams {
                profile,
                seconds,
                seed: None,
            }))
        };
        assert!((clip(1, 4.0) - (8.0 + VIDEO_FIXED_SECONDS)).abs() < 1e-9);
        assert!(clip(2, 0.2) > clip(1, 0.2) && clip(1, 0.2) > clip(0, 0.2));
        let frames_only = |seconds| clip(0, seconds) - VIDEO_FIXED_SECONDS;
        assert!((frames_only(2.0) * 2.0 - frames_only(4.0)).abs() < 1e-9);
    }

    #[test]
    fn ml_is_linear_in_input() {
        let ml = |input| cpu_seconds(&Payload::Ml(MlParams { input, seed: None }));
        assert_eq!(ml(0), 0.0);
        assert!((ml(2_000_000) - 2.0 * ml(1_000_000)).abs() < 1e-12);
    }
}
