//! `cl-observer`: the outside sampler of a Kubernetes target pod.
//!
//! This crate's one job: find the workload server's process in the pod's shared process namespace
//! (by executable name, `cl-target`), sample it with [`probe::ProcessProbe`] from this sidecar's
//! own CPU budget, and serve the samples as Prometheus text (`/metrics`) with a `/health` check.
//! It is the Kubernetes counterpart of the harness's local sampler and adds no metric of the
//! target's own: names come from [`probe::METRICS`].
//!
//! Invariant: the observer never measures a process it merely guessed at. A sample belongs to
//! the process found by name, and once that process exits (a restart, an OOM kill) its probe
//! fails instead of reading a new process under a reused PID; the observer then looks the target
//! up again and starts a fresh exporter, so no series mixes two processes.

mod find;
mod http;
mod observer;

pub use find::{FindError, find_process};
pub use http::{router, serve};
pub use observer::{Observer, ObserverError, Status};
