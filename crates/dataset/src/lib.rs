//! The run dataset: what one experiment run leaves behind, and the only code that writes or
//! reads it.
//!
//! A run directory holds `manifest.json` (provenance and counts), `requests.parquet` (one row per
//! request, each joined with the metric state around it) and `samples.parquet` (every raw 1 Hz
//! sample). While a run is in progress its rows go to two append-only journals
//! ([`Journal`], [`SampleJournal`]) so that a crash loses at most the row being written and a
//! resumed run knows which requests are done. [`align`] is the single place where metric samples
//! meet request records: it joins them by target *instance* and time window.
//!
//! Architecture invariant: this crate does no network I/O and starts no processes; every file it
//! writes appears atomically (temp file, fsync, rename, fsync of the directory) or is an
//! append-only journal fsync'd per append, and every reader checks [`SCHEMA_VERSION`].

mod align;
mod atomic;
mod error;
mod journal;
mod manifest;
mod parquet_io;
mod record;
mod requests_file;
mod run;
mod samples_file;

pub use align::{AlignedRequest, MetricWindow, align};
pub use error::DatasetError;
pub use journal::{Journal, SampleJournal, completed_seqs};
pub use manifest::{Collector, Host, Manifest, SizeSpec, outcome_counts, rfc3339_utc};
pub use record::{PayloadColumns, RequestRow, SampleRow};
pub use requests_file::{read_requests, write_requests};
pub use run::{
    MANIFEST_FILE, REQUESTS_FILE, REQUESTS_JOURNAL, Run, SAMPLES_FILE, SAMPLES_JOURNAL, open_run,
    write_run,
};
pub use samples_file::{read_samples, write_samples};
pub use workloads::{Outcome, Usage};

/// Version of the dataset layout: the manifest's `schema_version` and the Parquet files'
/// `computelocator.schema_version` key. Bumped on any change a reader of the previous version
/// would misread (a column renamed, retyped or given a new meaning); readers refuse other versions.
pub const SCHEMA_VERSION: u32 = 1;

/// The Parquet key-value metadata key that carries [`SCHEMA_VERSION`].
pub const SCHEMA_VERSION_KEY: &str = "computelocator.schema_version";

pub type Result<T, E = DatasetError> = std::result::Result<T, E>;
