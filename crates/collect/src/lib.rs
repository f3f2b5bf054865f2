//! Prometheus as a metric source: start and stop a Prometheus server that scrapes the workload
//! servers, and read what it scraped back through its HTTP API as [`dataset::SampleRow`]s.
//!
//! Invariant: rows carry the real scrape timestamps of raw samples (never step-aligned
//! evaluations), each sample once, named by the target's own `size` and `instance` labels.

mod client;
mod error;
mod server;
mod wait;

pub use client::{
    ActiveTarget, DEFAULT_RAW_WINDOW, PrometheusClient, RangeSeries, TargetHealth, metric_names,
};
pub use error::CollectError;
pub use server::{JOB_NAME, PrometheusServer, ScrapeTarget, ServerOptions};
pub use wait::wait_for_scrapes;

/// The process and cgroup gauges of every target the harness's server scrapes.
pub const DEFAULT_SELECTOR: &str = r#"{__name__=~"process_.+|cgroup_.+",job="computelocator"}"#;

#[cfg(test)]
mod tests {
    #[test]
    fn default_selector_names_the_job_the_server_scrapes() {
        assert!(super::DEFAULT_SELECTOR.contains(&format!("job=\"{}\"", super::JOB_NAME)));
    }
}
