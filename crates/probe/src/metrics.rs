//! The metric names, defined once for the Prometheus exposition and the dataset's samples.

use crate::Sample;

/// One exported metric: its stable name, its help text, and how to read it from a [`Sample`].
pub struct MetricDef {
    pub name: &'static str,
    pub help: &'static str,
    value: fn(&Sample) -> Option<f64>,
}

impl MetricDef {
    /// The metric's value in `sample`, `None` when the sample lacks it (no cgroup, a counter
    /// the cgroup version lacks, unreadable `/proc/<pid>/io`, an unlimited limit).
    pub fn value(&self, sample: &Sample) -> Option<f64> {
        (self.value)(sample)
    }
}

const fn metric(
    name: &'static str,
    help: &'static str,
    value: fn(&Sample) -> Option<f64>,
) -> MetricDef {
    MetricDef { name, help, value }
}

fn cgroup_value(sample: &Sample, field: fn(&cgroup::Counters) -> Option<u64>) -> Option<f64> {
    sample.cgroup.as_ref().and_then(field).map(|v| v as f64)
}

/// Every metric, in exposition order. The first thirteen keep the original service's names.
pub const METRICS: &[MetricDef] = &[
    metric(
        "process_cpu_percent",
        "CPU use since the previous sample, 100 = one core",
        |s| Some(s.cpu_percent),
    ),
    metric("process_cpu_user_seconds", "CPU time in user mode", |s| {
        Some(s.cpu_user_seconds)
    }),
    metric(
        "process_cpu_system_seconds",
        "CPU time in kernel mode",
        |s| Some(s.cpu_system_seconds),
    ),
    metric("process_memory_rss_bytes", "Resident set size", |s| {
        Some(s.memory_rss_bytes as f64)
    }),
    metric("process_memory_vms_bytes", "Virtual memory size", |s| {
        Some(s.memory_vms_bytes as f64)
    }),
    metric(
        "process_memory_percent",
        "RSS as a percentage of the cgroup memory limit, or of MemTotal when lower or unlimited",
        |s| Some(s.memory_percent),
    ),
    metric("process_num_threads", "Number of threads", |s| {
        Some(s.num_threads as f64)
    }),
    metric("process_io_read_bytes", "Bytes read from storage", |s| {
        s.io_read_bytes.map(|v| v as f64)
    }),
    metric("process_io_write_bytes", "Bytes written to storage", |s| {
        s.io_write_bytes.map(|v| v as f64)
    }),
    metric(
        "process_ctx_switches_voluntary",
        "Voluntary context switches, summed over live threads",
        |s| Some(s.ctx_switches_voluntary as f64),
    ),
    metric(
        "process_ctx_switches_involuntary",
        "Involuntary context switches, summed over live threads",
        |s| Some(s.ctx_switches_involuntary as f64),
    ),
    metric("process_connections", "Open socket file descriptors", |s| {
        Some(s.connections as f64)
    }),
    metric(
        "process_uptime_seconds",
        "Seconds since the process started",
        |s| Some(s.uptime_seconds),
    ),
    metric(
        "process_cpu_seconds_total",
        "CPU time, user + system",
        |s| Some(s.cpu_seconds_total),
    ),
    metric("process_open_fds", "Open file descriptors", |s| {
        Some(s.open_fds as f64)
    }),
    metric(
        "process_memory_peak_rss_bytes",
        "Peak resident set size (VmHWM)",
        |s| Some(s.memory_peak_rss_bytes as f64),
    ),
    metric(
        "process_start_time_seconds",
        "Process start time, seconds since the Unix epoch",
        |s| Some(s.start_time_seconds),
    ),
    metric(
        "cgroup_cpu_usage_seconds_total",
        "CPU time of all tasks in the cgroup",
        |s| cgroup_value(s, |c| c.cpu_usage_ns).map(|ns| ns / 1e9),
    ),
    metric(
        "cgroup_cpu_quota_seconds",
        "CPU time allowed per period",
        |s| cgroup_value(s, |c| c.cpu_quota_us).map(|us| us / 1e6),
    ),
    metric(
        "cgroup_cpu_period_seconds",
        "CPU quota enforcement period",
        |s| cgroup_value(s, |c| c.cpu_period_us).map(|us| us / 1e6),
    ),
    metric(
        "cgroup_cpu_quota_cores",
        "CPU limit in cores (quota / period)",
        |s| {
            let c = s.cgroup.as_ref()?;
            Some(c.cpu_quota_us? as f64 / c.cpu_period_us?.max(1) as f64)
        },
    ),
    metric(
        "cgroup_cpu_periods_total",
        "Enforcement periods in which the cgroup had runnable tasks",
        |s| cgroup_value(s, |c| c.nr_periods),
    ),
    metric(
        "cgroup_cpu_throttled_periods_total",
        "Periods in which the cgroup used up its quota",
        |s| cgroup_value(s, |c| c.nr_throttled),
    ),
    metric(
        "cgroup_cpu_throttled_seconds_total",
        "Time the cgroup's tasks were throttled",
        |s| cgroup_value(s, |c| c.throttled_ns).map(|ns| ns / 1e9),
    ),
    metric(
        "cgroup_memory_usage_bytes",
        "Memory charged to the cgroup",
        |s| cgroup_value(s, |c| c.memory_usage_bytes),
    ),
    metric(
        "cgroup_memory_max_usage_bytes",
        "Peak memory charged to the cgroup (since creation or the last reset)",
        |s| cgroup_value(s, |c| c.memory_max_usage_bytes),
    ),
    metric(
        "cgroup_memory_limit_bytes",
        "Memory limit of the cgroup",
        |s| cgroup_value(s, |c| c.memory_limit_bytes),
    ),
    metric(
        "cgroup_memory_failcnt",
        "Times the cgroup's memory usage hit its limit",
        |s| cgroup_value(s, |c| c.memory_failcnt),
    ),
    metric(
        "cgroup_memory_oom_kills_total",
        "Processes of the cgroup killed by the OOM killer",
        |s| cgroup_value(s, |c| c.oom_kill),
    ),
];

impl Sample {
    /// The sample's metrics as (stable name, value), in [`METRICS`] order, leaving out those it
    /// lacks.
    pub fn metrics(&self) -> Vec<(&'static str, f64)> {
        METRICS
            .iter()
            .filter_map(|m| Some((m.name, m.value(self)?)))
            .collect()
    }
}
