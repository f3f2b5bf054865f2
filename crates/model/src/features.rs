//! Features and targets of one request, from the documented dataset schema.
//!
//! The candidate features are a fixed list: the typed payload columns, the size as numbers and
//! one-hot, the function one-hot, and the `.start` state of the gauges known before a request
//! runs (never uptime nor cumulative counters, whose `.start` encodes how long the target has
//! been busy and so leaks the answer). Training keeps the candidates that vary in its rows.

use dataset::{AlignedRequest, PayloadColumns, SizeSpec};
use serde::{Deserialize, Serialize};
use workloads::{Function, Outcome, Payload};

use crate::ModelError;

/// Gauges whose value just before a request is a fair input: memory, threads, recent CPU use.
/// Counters (`*_total`, cumulative `*_seconds`, ctx switches, IO bytes), uptime, start time,
/// high-water marks and the size's fixed limits are deliberately absent.
pub const STATE_GAUGES: [&str; 8] = [
    "process_memory_rss_bytes",
    "process_memory_vms_bytes",
    "process_memory_percent",
    "process_num_threads",
    "process_cpu_percent",
    "process_open_fds",
    "process_connections",
    "cgroup_memory_usage_bytes",
];

/// The payload columns of `requests.parquet` used as features (the seed only picks random
/// numbers, not the amount of work).
pub const PAYLOAD_FEATURES: [&str; 8] = [
    "input",
    "num_samples",
    "epochs",
    "batch_size",
    "num_layers",
    "units",
    "profile",
    "seconds",
];

/// Memory left below the size's limit when the request starts (derived from the limit and
/// `cgroup_memory_usage_bytes.start`).
pub const MEMORY_HEADROOM: &str = "memory_headroom_bytes";

/// What a model predicts for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Wall time of the kernel (`duration_ns` / 1e9).
    DurationSeconds,
    /// CPU time of the whole server process (`process_cpu_ns` / 1e9): nearly size-invariant.
    CpuSeconds,
    /// Peak resident memory of the process during the request.
    PeakRssBytes,
}

impl Target {
    pub const ALL: [Target; 3] = [
        Target::DurationSeconds,
        Target::CpuSeconds,
        Target::PeakRssBytes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::DurationSeconds => "duration_seconds",
            Target::CpuSeconds => "cpu_seconds",
            Target::PeakRssBytes => "peak_rss_bytes",
        }
    }

    /// The measured value, or `None` where the dataset has none.
    pub fn actual(self, request: &AlignedRequest) -> Option<f64> {
        let row = &request.request;
        match self {
            Target::DurationSeconds => Some(row.duration_ns as f64 / 1e9),
            Target::CpuSeconds => row.usage.process_cpu_ns.map(|ns| ns as f64 / 1e9),
            Target::PeakRssBytes => row.usage.peak_rss_bytes.map(|b| b as f64),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The requests a model learns from: finished (`ok`), not warm-ups.
pub fn usable(requests: &[AlignedRequest]) -> Vec<&AlignedRequest> {
    requests
        .iter()
        .filter(|r| !r.request.warmup && r.request.outcome == Outcome::Ok)
        .collect()
}

/// The targets of `rows`, refusing a missing or non-finite value.
pub fn target_values(rows: &[&AlignedRequest], target: Target) -> Result<Vec<f64>, ModelError> {
    rows.iter()
        .map(|r| match target.actual(r) {
            Some(v) if v.is_finite() => Ok(v),
            _ => Err(ModelError::BadTarget {
                target,
                seq: r.request.seq,
            }),
        })
        .collect()
}

/// The payload without its seed, as JSON: requests with equal keys ask for the same work (the
/// seed only picks the random numbers).
pub fn work_key(payload: &Payload) -> String {
    let mut value = serde_json::to_value(payload).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("seed");
    }
    value.to_string()
}

/// What is known about a request before it runs: the only input of every model.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestInput<'a> {
    pub payload: &'a Payload,
    pub size: &'a SizeSpec,
    /// `.start` value of each gauge in [`STATE_GAUGES`] (same order); `None` = unknown.
    pub state: [Option<f64>; STATE_GAUGES.len()],
}

impl<'a> RequestInput<'a> {
    /// The input of a recorded request; the size comes from `sizes` by name.
    pub fn of(request: &'a AlignedRequest, sizes: &'a [SizeSpec]) -> Result<Self, ModelError> {
        let row = &request.request;
        let size = size_named(sizes, &row.size)?;
        let state = STATE_GAUGES.map(|gauge| request.states.get(gauge).and_then(|w| w.start));
        Ok(Self {
            payload: &row.payload,
            size,
            state,
        })
    }
}

pub fn size_named<'a>(sizes: &'a [SizeSpec], name: &str) -> Result<&'a SizeSpec, ModelError> {
    sizes
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| ModelError::UnknownSize(name.to_owned()))
}

/// Every candidate feature's name, in the order [`candidate_values`] fills them.
pub fn candidate_names(sizes: &[SizeSpec]) -> Vec<String> {
    let mut names: Vec<String> = PAYLOAD_FEATURES.iter().map(|&n| n.to_owned()).collect();
    names.push("cpu_millicores".into());
    names.push("memory_bytes".into());
    names.extend(sizes.iter().map(|s| format!("size_{}", s.name)));
    names.extend(Function::ALL.iter().map(|f| format!("function_{f}")));
    names.extend(STATE_GAUGES.iter().map(|g| format!("{g}.start")));
    names.push(MEMORY_HEADROOM.into());
    names
}

/// Every candidate feature's value for one request; NaN where absent (XGBoost's missing value).
pub fn candidate_values(input: &RequestInput<'_>, sizes: &[SizeSpec]) -> Vec<f64> {
    let p = PayloadColumns::of(input.payload);
    let opt = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let mut values = vec![
        opt(p.input.map(|v| v as f64)),
        opt(p.num_samples.map(|v| v as f64)),
        opt(p.epochs.map(f64::from)),
        opt(p.batch_size.map(f64::from)),
        opt(p.num_layers.map(f64::from)),
        opt(p.units.map(f64::from)),
        opt(p.profile.map(f64::from)),
        opt(p.seconds),
        f64::from(input.size.cpu_millicores),
        input.size.memory_bytes as f64,
    ];
    let one_hot = |hit: bool| if hit { 1.0 } else { 0.0 };
    values.extend(sizes.iter().map(|s| one_hot(s.name == input.size.name)));
    let function = input.payload.function();
    values.extend(Function::ALL.iter().map(|&f| one_hot(f == function)));
    values.extend(input.state.iter().map(|&v| opt(v)));
    let usage = STATE_GAUGES
        .iter()
        .position(|&g| g == "cgroup_memory_usage_bytes")
        .and_then(|i| input.state[i]);
    values.push(opt(usage.map(|u| input.size.memory_bytes as f64 - u)));
    values
}

/// Indices of the candidate columns that carry information in `rows`: not all-missing and not
/// one constant value.
pub fn informative_columns(rows: &[Vec<f64>]) -> Vec<usize> {
    let columns = rows.first().map_or(0, Vec::len);
    (0..columns)
        .filter(|&c| {
            let mut seen: Option<f64> = None;
            let mut missing = false;
            let mut varies = false;
            for row in rows {
                let v = row[c];
                if v.is_nan() {
                    missing = true;
                } else if let Some(first) = seen {
                    varies |= v != first;
                } else {
                    seen = Some(v);
                }
            }
            seen.is_some() && (varies || missing)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_and_all_missing_columns_are_dropped() {
        let nan = f64::NAN;
        let rows = vec![vec![1.0, nan, 5.0, 2.0, nan], vec![1.0, nan, 6.0, nan, 3.0]];
        // Column 3 and 4 mix a value with missing: that distinction is information.
        assert_eq!(informative_columns(&rows), vec![2, 3, 4]);
    }

    #[test]
    fn no_cumulative_counter_or_uptime_is_a_feature() {
        for gauge in STATE_GAUGES {
            assert!(!gauge.ends_with("_total") && !gauge.ends_with("_seconds"));
            assert!(!gauge.contains("uptime") && !gauge.contains("start_time"));
        }
    }
}
