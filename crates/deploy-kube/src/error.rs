use std::io;

use deploy::DeployError;

/// Everything that can go wrong between this process and the Kubernetes API server.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// No usable kubeconfig or in-cluster service account.
    #[error("cannot load the Kubernetes client configuration ({what}): {reason}")]
    Config { what: String, reason: String },
    /// The API server did not answer at all.
    #[error(
        "the Kubernetes API server at {url} does not answer ({source}); check the kubeconfig \
         context, the cluster and the network"
    )]
    Unreachable { url: String, source: kube::Error },
    #[error(
        "namespace {namespace:?} does not exist: create it (`kubectl create namespace \
         {namespace}`) or pass another with --namespace"
    )]
    NoNamespace { namespace: String },
    /// SelfSubjectAccessReview said no for at least one permission the backend needs.
    #[error(
        "missing RBAC permission in namespace {namespace:?}: cannot {}; grant them to this \
         identity (a Role bound to its ServiceAccount or user)",
        missing.join(", cannot ")
    )]
    Forbidden {
        namespace: String,
        /// `verb resource` pairs, e.g. `create apps/deployments`, `get pods/log`.
        missing: Vec<String>,
    },
    /// A size's pod cannot fit the namespace's quota or limit ranges, or any node.
    #[error("size {size:?} cannot be deployed: {reason}")]
    DoesNotFit { size: String, reason: String },
    /// The object builder produced something the backend cannot apply.
    #[error("invalid {what}: {reason}")]
    InvalidObject { what: String, reason: String },
    /// A run id or size name that is not a valid label value.
    #[error(
        "{what} {value:?} is not a valid Kubernetes label value (1-63 characters of \
             [A-Za-z0-9_.-], starting and ending with a letter or digit)"
    )]
    InvalidLabel { what: &'static str, value: String },
    /// An API call failed.
    #[error("cannot {op}: {source}")]
    Api { op: String, source: kube::Error },
    /// The Deployment did not become ready in time, or its pod failed.
    #[error(
        "{instance}: deployment {deployment} did not roll out: {reason}{}",
        list_suffix("events", events)
    )]
    Rollout {
        instance: String,
        deployment: String,
        /// Names the stuck pod and why it is stuck.
        reason: String,
        /// The stuck pod's events (or the Deployment's conditions), oldest first.
        events: Vec<String>,
        /// The target container's last log lines, if it ran at all.
        log_tail: String,
    },
    /// The pod is ready but the target does not answer through the chosen route.
    #[error("{instance}: pod {pod} is ready but {url}/health does not answer: {problem}")]
    Unhealthy {
        instance: String,
        pod: String,
        url: String,
        problem: String,
    },
    /// A local listener or the runtime could not be set up.
    #[error("cannot {op}: {source}")]
    Local { op: String, source: io::Error },
    /// Objects of the run still exist after the teardown timeout.
    #[error("teardown of {selector} timed out; still present: {}", remaining.join(", "))]
    TeardownTimeout {
        selector: String,
        remaining: Vec<String>,
    },
}

fn list_suffix(title: &str, items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("\n{title}:\n  {}", items.join("\n  "))
    }
}

impl KubeError {
    pub(crate) fn api(op: impl Into<String>, source: kube::Error) -> Self {
        KubeError::Api {
            op: op.into(),
            source,
        }
    }

    pub(crate) fn local(op: impl Into<String>, source: io::Error) -> Self {
        KubeError::Local {
            op: op.into(),
            source,
        }
    }

    /// The nearest I/O kind, so callers that only see [`DeployError::Io`] can still branch.
    fn io_kind(&self) -> io::ErrorKind {
        match self {
            KubeError::Unreachable { .. } => io::ErrorKind::ConnectionRefused,
            KubeError::Forbidden { .. } => io::ErrorKind::PermissionDenied,
            KubeError::NoNamespace { .. } => io::ErrorKind::NotFound,
            KubeError::InvalidObject { .. } | KubeError::InvalidLabel { .. } => {
                io::ErrorKind::InvalidInput
            }
            KubeError::TeardownTimeout { .. } => io::ErrorKind::TimedOut,
            KubeError::Local { source, .. } => source.kind(),
            _ => io::ErrorKind::Other,
        }
    }
}

/// `deploy::DeployError` has no Kubernetes variant, so each error goes to the closest one:
/// a pod that did not come up is a [`DeployError::Startup`], a size that cannot fit is a
/// [`DeployError::InvalidSize`], and the rest are [`DeployError::Io`] whose source is the
/// [`KubeError`] itself (reachable with `io::Error::get_ref` + `downcast_ref`).
impl From<KubeError> for DeployError {
    fn from(err: KubeError) -> Self {
        match err {
            KubeError::Rollout {
                instance,
                deployment,
                reason,
                events,
                log_tail,
            } => DeployError::Startup {
                instance,
                reason: format!(
                    "deployment {deployment} did not roll out: {reason}{}",
                    list_suffix("events", &events)
                ),
                stderr_tail: log_tail,
            },
            KubeError::Unhealthy {
                instance,
                pod,
                url,
                problem,
            } => DeployError::Startup {
                instance,
                reason: format!("pod {pod} is ready but {url}/health does not answer: {problem}"),
                stderr_tail: String::new(),
            },
            KubeError::DoesNotFit { size, reason } => {
                DeployError::InvalidSize { name: size, reason }
            }
            other => DeployError::Io {
                op: "use the Kubernetes cluster".into(),
                source: io::Error::new(other.io_kind(), other),
            },
        }
    }
}

/// The [`KubeError`] inside a [`DeployError`] made by the conversion above, if there is one.
pub fn kube_error(err: &DeployError) -> Option<&KubeError> {
    match err {
        DeployError::Io { source, .. } => source.get_ref()?.downcast_ref::<KubeError>(),
        _ => None,
    }
}
