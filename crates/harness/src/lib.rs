//! The experiment harness: runs a spec's seeded schedule against one deployed target per pod
//! size, samples each target from outside its cgroup, journals every request as it finishes and
//! writes the run's dataset (`manifest.json`, `requests.parquet`, `samples.parquet`).
//!
//! Architecture invariant: the harness never measures inside a target's budget. Request usage
//! comes from the target's own exact per-request record; metric samples from the outside
//! [`sampler`] (or Prometheus); the two meet only in `dataset::align`.

mod collector;
mod driver;
mod provenance;
mod run;
pub mod sampler;
pub mod summary;

pub use run::{
    BackendChoice, BackendContext, BackendFactory, CollectorChoice, RunOptions, RunResult, run,
};

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(transparent)]
    Deploy(#[from] deploy::DeployError),
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    #[error("sampling a target: {0}")]
    Probe(#[from] probe::Error),
    #[error("collector: {0}")]
    Collector(String),
    #[error("cannot resume {dir}: {reason}")]
    Resume {
        dir: std::path::PathBuf,
        reason: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("interrupted; continue with: computelocator experiment {spec} --resume {dir}")]
    Interrupted {
        spec: String,
        dir: std::path::PathBuf,
    },
}
