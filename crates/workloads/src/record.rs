//! The per-request record types shared by the workload server (which writes them into its
//! request log) and the dataset (which stores them): how a request ended and what it used.

use serde::{Deserialize, Serialize};

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
/// cgroup. Counters are deltas over the request. A field is `None` when the server produced no
/// record for the request (timeout, crash) or could not read that counter (e.g. no cgroup).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
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

impl Usage {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_columns_are_its_serde_names_in_array_order() {
        let mut values = [None; 12];
        for (i, value) in values.iter_mut().enumerate() {
            *value = Some(i as u64 + 100);
        }
        let usage = Usage::from_array(values);
        assert_eq!(usage.to_array(), values);
        let json = serde_json::to_value(usage).unwrap();
        for (i, name) in Usage::COLUMNS.iter().enumerate() {
            assert_eq!(json[name], serde_json::json!(i as u64 + 100), "{name}");
        }
        assert_eq!(json.as_object().unwrap().len(), Usage::COLUMNS.len());
    }

    #[test]
    fn outcome_names_match_serde() {
        for outcome in Outcome::ALL {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
            assert_eq!(Outcome::from_name(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Outcome::from_name("fine"), None);
    }
}
