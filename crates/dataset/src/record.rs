//! The two kinds of rows a run produces: one per request, one per metric sample.

use serde::{Deserialize, Serialize};
use workloads::{Function, Payload};

/// How a request ended. The first four are the server's verdict; the last three are the
/// harness's, for requests the server could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// The payload was refused (4xx) before any work.
    Invalid,
    /// The server's queue was full (503).
    Rejected,
    /// The kernel failed or panicked (500), or the answer was unusable.
    Error,
    /// No answer within the harness's deadline.
    Timeout,
    /// The target was killed by the kernel's OOM killer while running this request.
    Oom,
    /// The target died otherwise (signal, exit) while running this request.
    Crashed,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::Invalid,
        Outcome::Rejected,
        Outcome::Error,
        Outcome::Timeout,
        Outcome::Oom,
        Outcome::Crashed,
    ];

    /// The name used in JSON, Parquet and the manifest's counts.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Invalid => "invalid",
            Outcome::Rejected => "rejected",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::Oom => "oom",
            Outcome::Crashed => "crashed",
        }
    }

    pub fn from_name(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one request used, as the workload server measured it on the request's own thread and
/// cgroup. Counters are deltas over the request. Every field is `None` when the server produced
/// no record for the request (timeout, crash) or could not read that counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestUsage {
    /// CPU of the worker thread (CLOCK_THREAD_CPUTIME_ID), ns.
    pub thread_cpu_ns: Option<u64>,
    /// CPU of the whole server process, all threads (CLOCK_PROCESS_CPUTIME_ID), ns.
    pub process_cpu_ns: Option<u64>,
    /// CPU charged to the target's cgroup, ns.
    pub cgroup_cpu_ns: Option<u64>,
    /// Peak resident memory of the process during the request, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Peak memory of the cgroup during the request (page cache included), bytes.
    pub cgroup_memory_peak_bytes: Option<u64>,
    pub ctx_switches_voluntary: Option<u64>,
    pub ctx_switches_involuntary: Option<u64>,
    pub io_read_bytes: Option<u64>,
    pub io_write_bytes: Option<u64>,
    /// CFS periods that elapsed while the cgroup was runnable.
    pub cgroup_periods: Option<u64>,
    /// Of those, periods in which the cgroup hit its quota.
    pub cgroup_throttled_periods: Option<u64>,
    /// Time the cgroup spent throttled, ns.
    pub cgroup_throttled_ns: Option<u64>,
}

impl RequestUsage {
    /// Field names, in the order of [`to_array`](Self::to_array); also the Parquet column names.
    pub const COLUMNS: [&'static str; 12] = [
        "thread_cpu_ns",
        "process_cpu_ns",
        "cgroup_cpu_ns",
        "peak_rss_bytes",
        "cgroup_memory_peak_bytes",
        "ctx_switches_voluntary",
        "ctx_switches_involuntary",
        "io_read_bytes",
        "io_write_bytes",
        "cgroup_periods",
        "cgroup_throttled_periods",
        "cgroup_throttled_ns",
    ];

    pub fn to_array(&self) -> [Option<u64>; 12] {
        [
            self.thread_cpu_ns,
            self.process_cpu_ns,
            self.cgroup_cpu_ns,
            self.peak_rss_bytes,
            self.cgroup_memory_peak_bytes,
            self.ctx_switches_voluntary,
            self.ctx_switches_involuntary,
            self.io_read_bytes,
            self.io_write_bytes,
            self.cgroup_periods,
            self.cgroup_throttled_periods,
            self.cgroup_throttled_ns,
        ]
    }

    pub fn from_array(values: [Option<u64>; 12]) -> Self {
        let [
            thread_cpu_ns,
            process_cpu_ns,
            cgroup_cpu_ns,
            peak_rss_bytes,
            cgroup_memory_peak_bytes,
            ctx_switches_voluntary,
            ctx_switches_involuntary,
            io_read_bytes,
            io_write_bytes,
            cgroup_periods,
            cgroup_throttled_periods,
            cgroup_throttled_ns,
        ] = values;
        Self {
            thread_cpu_ns,
            process_cpu_ns,
            cgroup_cpu_ns,
            peak_rss_bytes,
            cgroup_memory_peak_bytes,
            ctx_switches_voluntary,
            ctx_switches_involuntary,
            io_read_bytes,
            io_write_bytes,
            cgroup_periods,
            cgroup_throttled_periods,
            cgroup_throttled_ns,
        }
    }
}

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
    pub usage: RequestUsage,
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
    fn usage_columns_are_its_serde_names_in_array_order() {
        let mut values = [None; 12];
        for (i, value) in values.iter_mut().enumerate() {
            *value = Some(i as u64 + 100);
        }
        let usage = RequestUsage::from_array(values);
        assert_eq!(usage.to_array(), values);
        let json = serde_json::to_value(usage).unwrap();
        for (i, name) in RequestUsage::COLUMNS.iter().enumerate() {
            assert_eq!(json[name], serde_json::json!(i as u64 + 100), "{name}");
        }
        assert_eq!(json.as_object().unwrap().len(), RequestUsage::COLUMNS.len());
    }

    #[test]
    fn outcome_names_match_serde() {
        for outcome in Outcome::ALL {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
            assert_eq!(Outcome::from_name(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Outcome::from_name("fine"), None);
    }

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
