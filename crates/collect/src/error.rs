//! One error type for the server's lifecycle and the API client. Upstream failures name the URL
//! and keep "could not reach it", "it did not answer in time", "it answered with an HTTP error"
//! and "it refused the query" apart, so callers can map them to 502, 504 and 4xx answers.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("Prometheus at {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },

    #[error("Prometheus at {url} did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },

    #[error("Prometheus at {url} answered HTTP {status}: {body}")]
    HttpStatus {
        url: String,
        status: u16,
        /// The start of the answer's body.
        body: String,
    },

    /// Prometheus answered `"status":"error"` (a bad selector, a query over its limits, …).
    #[error("Prometheus at {url} refused the request ({error_type}): {error}")]
    Query {
        url: String,
        error_type: String,
        error: String,
    },

    #[error("Prometheus at {url} sent an answer that could not be read: {detail}")]
    Decode { url: String, detail: String },

    #[error("invalid Prometheus base URL {url:?}: {detail}")]
    InvalidUrl { url: String, detail: String },

    #[error("invalid time range: start {start_ns} ns is after end {end_ns} ns")]
    InvalidRange { start_ns: i64, end_ns: i64 },

    #[error("invalid scrape interval {0:?}: Prometheus needs at least 1 ms")]
    InvalidInterval(Duration),

    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },

    #[error("could not start {}: {source}", binary.display())]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("Prometheus exited before it was ready ({status}); log tail:\n{log_tail}")]
    ServerExited {
        status: ExitStatus,
        log_tail: String,
    },

    #[error("Prometheus at {url} was not ready after {waited:?}; log tail:\n{log_tail}")]
    NotReady {
        url: String,
        waited: Duration,
        log_tail: String,
    },

    #[error("targets not all up in Prometheus at {url} after {waited:?}: {detail}")]
    TargetsNotUp {
        url: String,
        waited: Duration,
        detail: String,
    },
}

impl CollectError {
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        CollectError::Io {
            action: action.into(),
            source,
        }
    }
}
