//! `/metrics`: the process and cgroup gauges (sampled from procfs at scrape time, so a scrape
//! always sees fresh values and nothing samples in the background), request counters and the
//! build facts, in Prometheus text format.

use std::collections::HashMap;
use std::sync::Mutex;

use probe::{Exporter, ProcessProbe};
use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts};

use crate::build_info::BuildInfo;
use crate::request_log::Outcome;

pub struct Metrics {
    exporter: Exporter,
    probe: Mutex<Option<ProcessProbe>>,
    requests: IntCounterVec,
    durations: HistogramVec,
    pub pending: IntGauge,
}

#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(String);

fn err(e: impl std::fmt::Display) -> MetricsError {
    MetricsError(e.to_string())
}

impl Metrics {
    pub fn new(
        const_labels: HashMap<String, String>,
        cgroups: Option<&cgroup::Hierarchy>,
        build: &BuildInfo,
    ) -> Result<Self, MetricsError> {
        let exporter = Exporter::new(const_labels).map_err(err)?;
        let pid = std::process::id() as i32;
        let probe = ProcessProbe::open(pid, cgroups)
            .map_err(|e| tracing::warn!("no process metrics: {e}"))
            .ok();
        let cmdline = std::env::args().collect::<Vec<_>>().join(" ");
        exporter.set_info(pid, "cl-target", &cmdline);

        let registry = exporter.registry();
        let requests = IntCounterVec::new(
            Opts::new(
                "cl_target_requests_total",
                "Requests answered, by endpoint and outcome.",
            ),
            &["endpoint", "outcome"],
        )
        .map_err(err)?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "cl_target_request_duration_seconds",
                "Kernel run time of successful requests.",
            )
            .buckets(prometheus::exponential_buckets(0.001, 4.0, 10).map_err(err)?),
            &["endpoint"],
        )
        .map_err(err)?;
        let pending = IntGauge::new("cl_target_pending_requests", "Requests running or queued.")
            .map_err(err)?;
        let labels = build.labels();
        let names: Vec<&str> = labels.iter().map(|(k, _)| *k).collect();
        let build_gauge = GaugeVec::new(
            Opts::new(
                "cl_target_build_info",
                "Versions of the native libraries in use.",
            ),
            &names,
        )
        .map_err(err)?;
        let values: Vec<&str> = labels.iter().map(|(_, v)| v.as_str()).collect();
        build_gauge.with_label_values(&values).set(1.0);
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(durations.clone()),
            Box::new(pending.clone()),
            Box::new(build_gauge),
        ] {
            registry.register(collector).map_err(err)?;
        }
        Ok(Self {
            exporter,
            probe: Mutex::new(probe),
            requests,
            durations,
            pending,
        })
    }

    pub fn record(&self, endpoint: &str, outcome: Outcome, duration_ns: Option<u64>) {
        self.requests
            .with_label_values(&[endpoint, outcome.as_str()])
            .inc();
        if let Some(ns) = duration_ns {
            self.durations
                .with_label_values(&[endpoint])
                .observe(ns as f64 / 1e9);
        }
    }

    /// Samples the process now and renders everything.
    pub fn render(&self) -> Result<String, MetricsError> {
        if let Some(probe) = self
            .probe
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            match probe.sample() {
                Ok(sample) => self.exporter.update(&sample),
                Err(e) => tracing::warn!("process sample failed: {e}"),
            }
        }
        self.exporter.encode().map_err(err)
    }
}
