//! The deployment boundary: put one workload server (`cl-target`) up per pod size, hand out its
//! addresses and request records, notice when it dies (and whether the memory limit killed it),
//! restart it, and tear it down. [`Backend`] is the boundary; [`LocalBackend`] implements it with
//! child processes in cgroups on this host.
//!
//! Invariant: every process and cgroup a backend creates is torn down on every path — explicit
//! [`Deployed::shutdown`], [`Deployed::restart`], a failed start-up, or drop — and a target
//! deployed with limits runs inside its cgroup from its first instruction.

mod error;
mod host;
pub mod http;
mod local;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::DeployError;
pub use local::{LocalBackend, LocalOptions};

/// A pod size: the limits one target runs under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSize {
    /// Short name (`small`, `medium`, `large`), used in instance names, cgroup names and files.
    pub name: String,
    /// CPU limit in thousandths of a core (100 = "100m").
    pub cpu_millicores: u32,
    pub memory_bytes: u64,
}

impl PodSize {
    pub fn new(name: impl Into<String>, cpu_millicores: u32, memory_bytes: u64) -> Self {
        Self {
            name: name.into(),
            cpu_millicores,
            memory_bytes,
        }
    }

    /// Checks that the name can appear in a cgroup or file name and that the limits are real.
    pub fn validate(&self) -> Result<(), DeployError> {
        let invalid = |reason: &str| {
            Err(DeployError::InvalidSize {
                name: self.name.clone(),
                reason: reason.to_owned(),
            })
        };
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return invalid("the name must be 1-64 characters of [A-Za-z0-9_-]");
        }
        if self.cpu_millicores == 0 {
            return invalid("cpu_millicores must be above 0");
        }
        if self.memory_bytes == 0 {
            return invalid("memory_bytes must be above 0");
        }
        Ok(())
    }
}

/// What a backend found out about the host before deploying, for the run's manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preflight {
    /// `"v1"`, `"v2"` or `"none (--no-limits)"`.
    pub cgroup_mode: String,
    pub limits_enforced: bool,
    pub host_cores: usize,
    pub host_memory_bytes: u64,
    /// What the host can still give (`MemAvailable`).
    pub free_memory_bytes: u64,
    /// Sum over the sizes (they run side by side).
    pub requested_cpu_millicores: u32,
    pub requested_memory_bytes: u64,
    /// Conditions that do not stop a run but weaken its measurements.
    pub warnings: Vec<String>,
}

/// How a target ended without being asked to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Exit {
    /// Killed for exceeding its memory limit.
    Oom { signal: i32 },
    /// Died by a signal (or an unexpected status) that was not the memory limit.
    Crashed {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// Returned from main with this status.
    Exited { code: i32 },
}

/// A backend: where targets run (local processes, Kubernetes pods).
pub trait Backend: Send + Sync {
    /// Short name for the manifest (`local`, `kube`).
    fn name(&self) -> &'static str;
    /// Checks the host can run `sizes` side by side; fails when limits cannot be enforced.
    fn preflight(&self, sizes: &[PodSize]) -> Result<Preflight, DeployError>;
    /// Starts one target of `size` and returns once it answers `/health`.
    fn deploy(&self, size: &PodSize) -> Result<Box<dyn Deployed>, DeployError>;
}

/// One deployed target. Dropping it tears it down (best effort); prefer [`Deployed::shutdown`],
/// which reports errors.
pub trait Deployed: Send {
    /// `<size>#<restarts>`: `small#0`, then `small#1` after one restart.
    fn instance(&self) -> &str;
    fn size(&self) -> &PodSize;
    /// `http://127.0.0.1:PORT` of the workload API.
    fn api_url(&self) -> &str;
    /// `http://127.0.0.1:PORT` of the Prometheus endpoint (`/metrics`).
    fn metrics_url(&self) -> &str;
    /// The target's process id, for a sampler outside its budget (local backends only).
    fn pid(&self) -> Option<i32>;
    /// The target's `build_info` line (libtorch, BLAS, FFmpeg, x264, kernel threads, cgroup).
    fn build_info(&self) -> &serde_json::Value;
    /// Wall time from spawn to the first healthy answer of the current instance.
    fn startup_time(&self) -> Duration;
    /// The next `prev_request_history` record, in the order the target wrote them (records of
    /// an instance replaced by [`Deployed::restart`] come first); `None` after `timeout`.
    fn next_record(&mut self, timeout: Duration) -> Option<serde_json::Value>;
    /// Non-blocking: `Some` once the current instance has died (the same answer on every call).
    fn check_exit(&mut self) -> Option<Exit>;
    /// Polls [`Deployed::check_exit`] until the instance has died or `patience` is over.
    fn wait_for_exit(&mut self, patience: Duration) -> Option<Exit> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            if let Some(exit) = self.check_exit() {
                return Some(exit);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// Kills the current instance and starts a fresh one (new cgroup, counters from zero),
    /// waiting until it is healthy. The instance number goes up by one.
    fn restart(&mut self) -> Result<(), DeployError>;
    /// Stops the target gracefully (SIGTERM, then SIGKILL after a grace period) and removes
    /// everything it used.
    fn shutdown(self: Box<Self>) -> Result<(), DeployError>;
}
