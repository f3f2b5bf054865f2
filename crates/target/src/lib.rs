//! `cl-target`: the workload server. It runs the four benchmark kernels behind an HTTP API, one
//! request at a time by default (the measurement model of the original), logs one JSON line per
//! request with exact resource use, and exposes its own process and cgroup metrics on a separate
//! port for Prometheus.
//!
//! The HTTP handlers are thin: parsing and validation live in [`api`], execution and per-request
//! accounting in [`executor`] and [`usage`], the log format in [`request_log`], metrics in
//! [`metrics`]. Tests call these directly.
//!
//! Architecture invariant: kernels never run on the async runtime; they run on the executor's own
//! threads, so a busy or panicking kernel cannot stall `/health` or `/metrics`.

pub mod api;
pub mod build_info;
pub mod executor;
pub mod metrics;
pub mod request_log;
pub mod server;
pub mod usage;
