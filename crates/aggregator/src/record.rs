//! The records the API serves: one per request (`/history`), one per target (`/endpoints`), one
//! per run (`/runs`), and a page of them.

use std::collections::BTreeMap;

use dataset::{AlignedRequest, Manifest, MetricWindow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One request, joined with the metric state around it. The first six keys are the original
/// aggregation API's; the rest are new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryRecord {
    /// Target instance that served the request, e.g. `small#0`.
    pub pod: String,
    /// `host:port` of the target's API, when known.
    pub ip: Option<String>,
    /// Length of the kernel's run, ns (monotonic).
    pub exec_duration_ns: i64,
    /// The payload as sent (without the function tag).
    pub input: serde_json::Value,
    /// `ml`, `pi`, `dense` or `video`.
    pub function: String,
    /// Per metric, the state around the request.
    pub states: BTreeMap<String, State>,
    /// The run the record belongs to (`live` for the live source).
    pub run_id: String,
    pub experiment: String,
    /// Position in the run's schedule (live: in the target's life).
    pub seq: u64,
    /// Pod size name.
    pub size: String,
    /// CPU limit of the size, millicores.
    pub cpu_millicores: Option<u32>,
    /// Memory limit of the size, bytes.
    pub memory_bytes: Option<u64>,
    pub warmup: bool,
    /// HTTP status of the answer; null when none arrived.
    pub status: Option<u16>,
    /// `ok`, `invalid`, `rejected`, `error`, `timeout`, `oom`, `crashed`.
    pub outcome: String,
    pub error: Option<String>,
    /// Realtime ns when the kernel started.
    pub start_ns: i64,
    /// Realtime ns when the kernel finished.
    pub end_ns: i64,
    pub queued_ns: Option<i64>,
    /// The server's exact per-request usage (`thread_cpu_ns`, `cgroup_cpu_ns`, …).
    pub usage: BTreeMap<String, Option<u64>>,
}

/// One metric around one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct State {
    /// Last sample at or before the start.
    pub start: Option<f64>,
    /// First sample at or after the end.
    pub end: Option<f64>,
    /// Mean of the samples inside the request.
    pub mean: Option<f64>,
    /// Maximum of those samples.
    pub max: Option<f64>,
    /// Number of those samples.
    pub count: u32,
    /// With `samples=true`: the raw samples inside the request, `[ts_ns, value]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<Vec<(i64, f64)>>,
}

impl From<&MetricWindow> for State {
    fn from(window: &MetricWindow) -> Self {
        State {
            start: window.start,
            end: window.end,
            mean: window.mean,
            max: window.max,
            count: window.count,
            samples: None,
        }
    }
}

impl HistoryRecord {
    /// The record of an aligned request of a run.
    pub fn of(aligned: &AlignedRequest, experiment: &str, ip: Option<String>) -> HistoryRecord {
        let request = &aligned.request;
        HistoryRecord {
            pod: request.target.clone(),
            ip,
            exec_duration_ns: request.duration_ns,
            input: request.payload.body(),
            function: request.function.name().to_owned(),
            states: aligned
                .states
                .iter()
                .map(|(metric, window)| (metric.clone(), State::from(window)))
                .collect(),
            run_id: request.run_id.clone(),
            experiment: experiment.to_owned(),
            seq: request.seq,
            size: request.size.clone(),
            cpu_millicores: Some(request.cpu_millicores),
            memory_bytes: Some(request.memory_bytes),
            warmup: request.warmup,
            status: request.http_status,
            outcome: request.outcome.as_str().to_owned(),
            error: request.error.clone(),
            start_ns: request.start_ns,
            end_ns: request.end_ns,
            queued_ns: request.queued_ns,
            usage: workloads::Usage::COLUMNS
                .iter()
                .zip(request.usage.to_array())
                .map(|(name, value)| ((*name).to_owned(), value))
                .collect(),
        }
    }
}

/// A target, with the labels it ran under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Endpoint {
    /// Target instance, e.g. `small#0` (live: Prometheus's `instance` label).
    pub pod: String,
    pub size: Option<String>,
    /// `host:port` of the target's API (live: the scrape address), when known.
    pub address: Option<String>,
    pub cpu_millicores: Option<u32>,
    pub memory_bytes: Option<u64>,
    /// The run it served in (live: the target's `run_id` label, null for static targets).
    pub run_id: Option<String>,
    /// Live only: Prometheus's health of the target (`up`, `down`, `unknown`).
    pub health: Option<String>,
    /// Every other label known for the target.
    pub labels: BTreeMap<String, String>,
}

/// A run directory under the data root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunSummary {
    /// Path of the run directory relative to the data root: the `run` filter's value.
    pub run_id: String,
    pub experiment: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub seed: u64,
    /// `probe` or `prometheus`.
    pub collector: String,
    /// Requests per outcome, plus `total`, `ok`, `failed`, `warmup`.
    pub counts: BTreeMap<String, u64>,
    /// Pod size names.
    pub sizes: Vec<String>,
}

impl RunSummary {
    pub fn of(run_id: String, manifest: &Manifest) -> RunSummary {
        RunSummary {
            run_id,
            experiment: manifest.experiment.clone(),
            started_at: manifest.started_at.clone(),
            finished_at: manifest.finished_at.clone(),
            seed: manifest.seed,
            collector: serde_json::to_value(manifest.collector)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            counts: manifest.counts.clone(),
            sizes: manifest.sizes.iter().map(|s| s.name.clone()).collect(),
        }
    }
}

/// One page of `/history` in JSON: the records and the cursor of the next page (null on the
/// last page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Page<T> {
    pub records: Vec<T>,
    pub next_cursor: Option<String>,
}
