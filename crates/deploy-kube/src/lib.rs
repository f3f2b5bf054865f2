//! The Kubernetes deployment backend: [`KubeBackend`] implements [`deploy::Backend`] by
//! server-side applying one Deployment and one Service per pod size, waiting for the pod to be
//! ready and `/health` to answer through a [`Connector`] (API-server port-forward, Service DNS in
//! the cluster, or a fixed address), following the target's request records from the pod log
//! API, and reading OOM kills and restarts from the pod status.
//!
//! Invariant: every object this backend applies carries the labels `app`, `size` and `run-id`,
//! and every path out — [`deploy::Deployed::shutdown`], a failed deploy, drop, or
//! [`KubeBackend::delete_run`] — deletes the objects with its run's labels; only with
//! [`KubeOptions::keep`] do the first three leave them in place, and then they say (once, at
//! info) which objects were kept and the `kubectl delete` that removes them.
//!
//! The API is synchronous like the trait it implements: the backend owns a small tokio runtime
//! and blocks on it; relays and log followers run on that runtime.

mod connect;
mod diagnose;
mod error;
mod preflight;
mod quantity;
mod target;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use deploy::{Backend, DeployError, Deployed, PodSize, Preflight};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Client;

pub use connect::{Connector, DirectAddress, Endpoint, PodAddress, PortForward, ServiceDns, relay};
pub use error::{KubeError, kube_error};

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "computelocator";
/// The `app` label value of target objects.
pub const TARGET_APP: &str = "cl-target";
/// The namespace used unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "computelocator";

/// The labels that tie an object to its run and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunLabels {
    pub app: String,
    pub size: String,
    pub run_id: String,
}

impl RunLabels {
    pub fn new(run_id: &str, size: &str) -> Self {
        Self {
            app: TARGET_APP.to_owned(),
            size: size.to_owned(),
            run_id: run_id.to_owned(),
        }
    }

    /// `app`, `size`, `run-id` as a label map.
    pub fn to_map(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("app", &self.app),
            ("size", &self.size),
            ("run-id", &self.run_id),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect()
    }

    /// `app=…,size=…,run-id=…`, for list and delete calls.
    pub fn selector(&self) -> String {
        format!("app={},size={},run-id={}", self.app, self.size, self.run_id)
    }

    /// The `kubectl` command that deletes what the backend would have deleted for this size.
    pub fn delete_command(&self, namespace: &str) -> String {
        format!(
            "kubectl delete deployments,services --namespace {namespace} --selector {}",
            self.selector()
        )
    }
}

/// Builds a size's target Deployment and Service (e.g. `manifests::target_objects`). The
/// backend adds the [`RunLabels`] and the namespace itself, so a builder cannot forget them.
pub type ObjectBuilder = Box<dyn Fn(&PodSize, &RunLabels) -> (Deployment, Service) + Send + Sync>;

/// Where the client configuration comes from.
#[derive(Clone, Debug)]
pub enum ClusterAccess {
    /// `$KUBECONFIG` / `~/.kube/config`, else the in-cluster service account.
    Infer,
    /// A kubeconfig file, optionally a context in it.
    Kubeconfig {
        path: PathBuf,
        context: Option<String>,
    },
    /// A ready configuration (e.g. a URL of a test server).
    Config(Box<kube::Config>),
}

/// How to reach the targets' ports.
#[derive(Clone, Debug)]
pub enum Route {
    /// Service DNS when this process runs in a pod (`KUBERNETES_SERVICE_HOST` is set),
    /// otherwise port-forward through the API server.
    Auto,
    PortForward,
    ServiceDns,
    Custom(Arc<dyn Connector>),
}

/// How the Kubernetes backend runs targets.
pub struct KubeOptions {
    pub namespace: String,
    /// Goes into every object's `run-id` label: unique per run.
    pub run_id: String,
    pub cluster: ClusterAccess,
    pub route: Route,
    pub builder: ObjectBuilder,
    /// From apply to a ready pod that answers `/health` (image pulls and a 100m quota are slow).
    pub rollout_timeout: Duration,
    /// From delete to the objects being gone.
    pub teardown_timeout: Duration,
    /// Between two status reads while waiting, and of each target's pod status.
    pub poll_interval: Duration,
    /// The target's container ports (`cl-target`'s defaults).
    pub api_port: u16,
    pub metrics_port: u16,
    /// The pod's target container (the one whose log and status count); the template's first
    /// container when no container has this name.
    pub target_container: String,
    /// Number of the first instance of each size (`small#<n>`), as in `LocalOptions`.
    pub first_instance: u32,
    /// Leave a size's objects running after shutdown, drop or a failed deploy (to inspect
    /// them); [`KubeBackend::delete_run`] still deletes, being asked to explicitly.
    pub keep: bool,
}

impl KubeOptions {
    /// Defaults: namespace `computelocator`, inferred cluster access, automatic route, 5 min
    /// rollout, 2 min teardown, ports 8000/9000, container `target`, objects deleted.
    pub fn new(run_id: impl Into<String>, builder: ObjectBuilder) -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            run_id: run_id.into(),
            cluster: ClusterAccess::Infer,
            route: Route::Auto,
            builder,
            rollout_timeout: Duration::from_secs(300),
            teardown_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_millis(500),
            api_port: 8000,
            metrics_port: 9000,
            target_container: "target".to_owned(),
            first_instance: 0,
            keep: false,
        }
    }
}

impl fmt::Debug for KubeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeOptions")
            .field("namespace", &self.namespace)
            .field("run_id", &self.run_id)
            .field("cluster", &self.cluster)
            .field("route", &self.route)
            .field("rollout_timeout", &self.rollout_timeout)
            .field("teardown_timeout", &self.teardown_timeout)
            .field("poll_interval", &self.poll_interval)
            .field("api_port", &self.api_port)
            .field("metrics_port", &self.metrics_port)
            .field("target_container", &self.target_container)
            .field("first_instance", &self.first_instance)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

/// What every target of one backend shares.
struct Shared {
    options: KubeOptions,
    runtime: tokio::runtime::Runtime,
    client: Client,
    cluster_url: String,
    connector: Arc<dyn Connector>,
    /// The route is the API server's port-forward, so preflight asks for that permission.
    port_forwards: bool,
}

impl Shared {
    /// Runs `future` to completion on the backend's runtime, also when called from inside
    /// another runtime (there, on a helper thread: blocking a runtime thread would panic).
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|scope| {
                scope
                    .spawn(|| self.runtime.block_on(future))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        } else {
            self.runtime.block_on(future)
        }
    }
}

/// Runs `cl-target` pods in one namespace of a Kubernetes cluster.
pub struct KubeBackend {
    shared: Arc<Shared>,
}

impl fmt::Debug for KubeBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeBackend")
            .field("cluster_url", &self.shared.cluster_url)
            .field("options", &self.shared.options)
            .field("connector", &self.shared.connector)
            .finish()
    }
}

impl KubeBackend {
    /// Loads the client configuration and checks the run id; does not contact the cluster
    /// ([`Backend::preflight`] does).
    pub fn new(options: KubeOptions) -> Result<Self, DeployError> {
        Ok(Self::build(options)?)
    }

    fn build(options: KubeOptions) -> Result<Self, KubeError> {
        check_label_value("run id", &options.run_id)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("deploy-kube")
            .enable_all()
            .build()
            .map_err(|e| KubeError::local("start the Kubernetes client runtime", e))?;
        let config = runtime.block_on(load_config(&options.cluster))?;
        let cluster_url = config.cluster_url.to_string();
        let client = {
            let _inside = runtime.enter();
            Client::try_from(config).map_err(|e| KubeError::Config {
                what: "build the client".into(),
                reason: e.to_string(),
            })?
        };
        let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
        let (connector, port_forwards): (Arc<dyn Connector>, bool) = match &options.route {
            Route::Auto if in_cluster => (
                Arc::new(ServiceDns {
                    cluster_domain: None,
                }),
                false,
            ),
            Route::Auto | Route::PortForward => (Arc::new(PortForward), true),
            Route::ServiceDns => (
                Arc::new(ServiceDns {
                    cluster_domain: None,
                }),
                false,
            ),
            Route::Custom(connector) => (Arc::clone(connector), false),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                options,
                runtime,
                client,
                cluster_url,
                connector,
                port_forwards,
            }),
        })
    }

    /// The API server this backend talks to.
    pub fn cluster_url(&self) -> &str {
        &self.shared.cluster_url
    }

    pub fn options(&self) -> &KubeOptions {
        &self.shared.options
    }

    /// Deletes every Deployment and Service labelled with this run's id (all sizes) and waits
    /// for them and their pods to go: for Ctrl-C, or leftovers of a killed run. Returns how
    /// many objects were deleted.
    pub fn delete_run(&self) -> Result<usize, DeployError> {
        let selector = format!("run-id={}", self.shared.options.run_id);
        Ok(self
            .shared
            .block_on(target::delete_labelled(&self.shared, &selector))?)
    }
}

async fn load_config(access: &ClusterAccess) -> Result<kube::Config, KubeError> {
    let failed = |what: &str, reason: String| KubeError::Config {
        what: what.to_owned(),
        reason,
    };
    match access {
        ClusterAccess::Infer => kube::Config::infer()
            .await
            .map_err(|e| failed("kubeconfig or in-cluster service account", e.to_string())),
        ClusterAccess::Kubeconfig { path, context } => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| failed(&path.display().to_string(), e.to_string()))?;
            let options = kube::config::KubeConfigOptions {
                context: context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| failed(&path.display().to_string(), e.to_string()))
        }
        ClusterAccess::Config(config) => Ok((**config).clone()),
    }
}

/// Label values: at most 63 characters of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
fn check_label_value(what: &'static str, value: &str) -> Result<(), KubeError> {
    let alnum_ends = value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    let valid = !value.is_empty()
        && value.len() <= 63
        && alnum_ends
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(KubeError::InvalidLabel {
            what,
            value: value.to_owned(),
        })
    }
}

impl Backend for KubeBackend {
    fn name(&self) -> &'static str {
        "kube"
    }

    fn preflight(&self, sizes: &[PodSize]) -> Result<Preflight, DeployError> {
        for size in sizes {
            size.validate()?;
            check_label_value("size name", &size.name)?;
        }
        Ok(self.shared.block_on(preflight::run(&self.shared, sizes))?)
    }

    fn deploy(&self, size: &PodSize) -> Result<Box<dyn Deployed>, DeployError> {
        size.validate()?;
        check_label_value("size name", &size.name)?;
        Ok(Box::new(target::KubeTarget::deploy(
            Arc::clone(&self.shared),
            size,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_follow_the_kubernetes_rules() {
        for ok in ["a", "run-2024.01_x", "small", &"x".repeat(63)] {
            check_label_value("run id", ok).unwrap();
        }
        for bad in ["", "-a", "a-", "a/b", "a b", &"x".repeat(64)] {
            assert!(check_label_value("run id", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_selector_names_all_three_labels() {
        let labels = RunLabels::new("r1", "small");
        assert_eq!(labels.selector(), "app=cl-target,size=small,run-id=r1");
        assert_eq!(labels.to_map().len(), 3);
    }

    #[test]
    fn the_delete_command_names_the_namespace_and_the_selector() {
        let command = RunLabels::new("r1", "small").delete_command("lab");
        assert_eq!(
            command,
            "kubectl delete deployments,services --namespace lab --selector \
             app=cl-target,size=small,run-id=r1"
        );
    }
}
