//! Samples any process by PID from procfs and its cgroup, and exposes the samples in the
//! Prometheus text format.
//!
//! Invariant: a sample costs tens of microseconds and never walks system-wide tables
//! (`/proc/net/tcp` costs milliseconds): every file is opened once and re-read with `pread`,
//! and connections are counted from the process's own fd links. The observer can therefore sit
//! outside the measured process's CPU budget, or inside it without stealing much of it.
//!
//! Metric names are defined once in [`METRICS`] and used both by [`Exporter`] and by
//! [`Sample::metrics`].

mod error;
mod exporter;
mod metrics;
mod probe;
mod procfs;

pub use error::Error;
pub use exporter::Exporter;
pub use metrics::{METRICS, MetricDef};
pub use probe::{ProcessProbe, Sample};
