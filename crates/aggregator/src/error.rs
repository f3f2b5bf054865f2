//! What can go wrong answering a request, and the HTTP status and JSON body each failure maps to.

use serde::Serialize;

/// A failure of the API, classified so the HTTP layer can choose the status without inspecting
/// messages: the client's fault (4xx), an upstream's (502/504), or the server's own (500).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter is unknown, malformed or out of range.
    #[error("invalid parameter {parameter:?}: {message}")]
    BadParameter {
        parameter: String,
        message: String,
        /// What the parameter accepts, for the client to correct itself.
        allowed: String,
    },

    /// A `run` filter names no run under the data root.
    #[error("unknown run {run:?}")]
    UnknownRun { run: String, allowed: String },

    /// An upstream (Prometheus, Loki) could not be reached, failed, or sent garbage.
    #[error("{upstream} failed: {detail}")]
    Upstream {
        upstream: &'static str,
        detail: String,
    },

    /// An upstream did not answer in time.
    #[error("{upstream} did not answer in time: {detail}")]
    UpstreamTimeout {
        upstream: &'static str,
        detail: String,
    },

    /// The source cannot answer this route as configured (e.g. live history without Loki).
    #[error("{what} is not available: {detail}")]
    NotAvailable { what: &'static str, detail: String },

    /// A run directory under the root could not be read.
    #[error("run {run:?} could not be read: {detail}")]
    UnreadableRun { run: String, detail: String },

    /// A request body beyond the route's limit.
    #[error("the request body exceeds {limit} bytes")]
    BodyTooLarge { limit: usize },

    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// Human-readable explanation.
    pub error: String,
    /// The query parameter at fault, when one is.
    pub parameter: Option<String>,
    /// What that parameter accepts.
    pub allowed: Option<String>,
    /// The upstream at fault (`prometheus`, `loki`), for 502/504.
    pub upstream: Option<String>,
}

impl ApiError {
    pub fn bad(parameter: &str, message: impl Into<String>, allowed: impl Into<String>) -> Self {
        ApiError::BadParameter {
            parameter: parameter.to_owned(),
            message: message.into(),
            allowed: allowed.into(),
        }
    }

    /// The HTTP status this failure is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadParameter { .. } => 400,
            ApiError::UnknownRun { .. } => 404,
            ApiError::Upstream { .. } => 502,
            ApiError::UpstreamTimeout { .. } => 504,
            ApiError::NotAvailable { .. } => 501,
            ApiError::BodyTooLarge { .. } => 413,
            ApiError::UnreadableRun { .. } | ApiError::Internal(_) => 500,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (parameter, allowed, upstream) = match self {
            ApiError::BadParameter {
                parameter, allowed, ..
            } => (Some(parameter.clone()), Some(allowed.clone()), None),
            ApiError::UnknownRun { allowed, .. } => {
                (Some("run".to_owned()), Some(allowed.clone()), None)
            }
            ApiError::Upstream { upstream, .. } | ApiError::UpstreamTimeout { upstream, .. } => {
                (None, None, Some((*upstream).to_owned()))
            }
            ApiError::BodyTooLarge { limit } => (
                Some("body".to_owned()),
                Some(format!("at most {limit} bytes")),
                None,
            ),
            ApiError::NotAvailable { .. }
            | ApiError::UnreadableRun { .. }
            | ApiError::Internal(_) => (None, None, None),
        };
        ErrorBody {
            error: self.to_string(),
            parameter,
            allowed,
            upstream,
        }
    }
}

impl From<collect::CollectError> for ApiError {
    fn from(error: collect::CollectError) -> Self {
        use collect::CollectError as E;
        match error {
            E::Timeout { .. } => ApiError::UpstreamTimeout {
                upstream: "prometheus",
                detail: error.to_string(),
            },
            E::InvalidRange { start_ns, end_ns } => ApiError::bad(
                "from",
                format!("from ({start_ns}) is after to ({end_ns})"),
                "from <= to",
            ),
            other => ApiError::Upstream {
                upstream: "prometheus",
                detail: other.to_string(),
            },
        }
    }
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;
