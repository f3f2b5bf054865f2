//! The two kinds of rows a run produces: one per request, one per metric sample.

use serde::{Deserialize, Serialize};
use workloads::{Function, Outcome, Payload, Usage};

/// One request of a run: what was asked, of which target, how it ended, when, and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRow {
    pub run_id: String,
    /// Position in the run's schedule, from 0; unique within a run (the resume key).
    pub seq: u64,
    /// Pod size name, e.g. `small`.
    pub size: String,
    /// Target instance, e.g. `small#0`; the number grows each time the size's server restarts.
    pub target: String,
    pub cpu_millicores: u32,
    pub memory_bytes: u64,
    pub function: Function,
    /// Which repetition of this (size, function, payload) in the schedule, from 0.
    pub repetition: u32,
    /// A warm-up request: run but meant to be excluded from models.
    pub warmup: bool,
    /// The parameters sent, seed included.
    pub payload: Payload,
    /// `None` when no HTTP answer arrived.
    pub http_status: Option<u16>,
    pub outcome: Outcome,
    pub error: Option<String>,
    /// CLOCK_REALTIME ns when the server's kernel started (for requests the server never logged:
    /// when the harness sent it).
    pub start_ns: i64,
    /// CLOCK_REALTIME ns when the kernel finished (or when the harness gave up / got the answer).
    pub end_ns: i64,
    /// CLOCK_MONOTONIC length of the kernel's run (or of the harness's wait), ns.
    pub duration_ns: i64,
    /// Time the request waited in the server's queue, ns; `None` without a server record.
    pub queued_ns: Option<i64>,
    /// CLOCK_REALTIME ns when the harness sent the request.
    pub client_start_ns: i64,
    /// CLOCK_REALTIME ns when the harness had the answer (or gave up).
    pub client_end_ns: i64,
    pub usage: Usage,
    /// The workload's JSON answer (accuracy, estimated_pi, output_size, …).
    pub response: Option<serde_json::Value>,
}

/// The payload's fields as typed columns: `None` where the function has no such field.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PayloadColumns {
    pub input: Option<u64>,
    pub num_samples: Option<u64>,
    pub epochs: Option<u32>,
    pub batch_size: Option<u32>,
    pub num_layers: Option<u32>,
    pub units: Option<u32>,
    pub profile: Option<u8>,
    pub seconds: Option<f64>,
    pub seed: Option<u64>,
}

impl PayloadColumns {
    pub fn of(payload: &Payload) -> Self {
        let seed = payload.seed();
        match payload {
            Payload::Ml(p) => Self {
                input: Some(p.input),
                seed,
                ..Self::default()
            },
            Payload::Pi(p) => Self {
                num_samples: Some(p.num_samples),
                seed,
                ..Self::default()
            },
            Payload::Dense(p) => Self {
                num_samples: Some(u64::from(p.num_samples)),
                epochs: Some(p.epochs),
                batch_size: Some(p.batch_size),
                num_layers: Some(p.num_layers),
                units: Some(p.units),
                seed,
                ..Self::default()
            },
            Payload::Video(p) => Self {
                profile: Some(p.profile),
                seconds: Some(p.seconds),
                seed,
                ..Self::default()
            },
        }
    }
}

/// One metric sample of one target instance (long format: one value per row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    /// CLOCK_REALTIME ns when the sample was taken.
    pub ts_ns: i64,
    pub size: String,
    pub target: String,
    /// Opaque metric name, e.g. `process_cpu_percent`.
    pub metric: String,
    pub value: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_columns_are_null_where_the_function_lacks_the_field() {
        let video = PayloadColumns::of(&Payload::Video(workloads::video::VideoParams {
            profile: 2,
            seconds: 1.5,
            seed: Some(9),
        }));
        assert_eq!(
            (video.profile, video.seconds, video.seed),
            (Some(2), Some(1.5), Some(9))
        );
        assert_eq!(
            (video.input, video.num_samples, video.epochs),
            (None, None, None)
        );
        let dense = PayloadColumns::of(&Payload::Dense(Default::default()));
        assert_eq!(dense.num_samples, Some(20_000));
        assert_eq!((dense.seed, dense.profile), (None, None));
    }
}
