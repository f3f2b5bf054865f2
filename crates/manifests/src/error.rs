use std::path::PathBuf;

/// Why objects could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The spec itself is invalid.
    #[error(transparent)]
    Spec(#[from] experiment::SpecError),
    /// A size cannot become Kubernetes objects (the message names the size and the reason).
    #[error("size `{size}`: {reason}")]
    InvalidSize { size: String, reason: String },
    #[error("namespace `{namespace}`: {reason}")]
    InvalidNamespace { namespace: String, reason: String },
    #[error("run id `{run_id}`: {reason}")]
    InvalidRunId { run_id: String, reason: String },
    #[error("image tag `{tag}`: {reason}")]
    InvalidImageTag { tag: String, reason: String },
    #[error("serializing {kind} {name}: {source}")]
    Serialize {
        kind: &'static str,
        name: String,
        #[source]
        source: serde_json::Error,
    },
    /// An overlay's patch does not fit the base (a missing object or path).
    #[error("overlay {overlay}: {target}: {reason}")]
    Overlay {
        overlay: &'static str,
        target: String,
        reason: String,
    },
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
