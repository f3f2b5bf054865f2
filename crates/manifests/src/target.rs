//! One pod size's target: a Deployment running `cl-target` with the `cl-observer` sidecar, and
//! the Service in front of it.

use std::collections::BTreeMap;

use experiment::{SizeSpec, Spec};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, HTTPGetAction, PodSpec, PodTemplateSpec, Probe,
    Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::error::ManifestError;
use crate::names::{
    APP_LABEL, OBSERVER_CONTAINER, OBSERVER_PORT, RUN_ID_LABEL, SIZE_LABEL, STATIC_TARGET_SET,
    TARGET_APP, TARGET_CONTAINER, TARGET_HTTP_PORT, TARGET_IMAGE, TARGET_METRICS_PORT,
    TARGET_METRICS_PORT_NAME, TARGET_SERVICE_ACCOUNT, TARGET_SET_LABEL, check_dns1035_label,
    target_name,
};
use crate::options::RenderOptions;
use crate::security::{container_security_context, guaranteed, pod_security_context};
use crate::stack::{labels, metadata};

/// The user both containers of a target pod run as. The observer reads the target's
/// `/proc/<pid>/{exe,io,fd}`, which needs ptrace read access: a process of the same user has
/// it without `CAP_SYS_PTRACE` (which the restricted profile forbids).
pub const TARGET_UID: i64 = 10001;

/// The sidecar's own budget, outside the target's: sampling costs tens of microseconds a
/// second, and the HTTP server idles between scrapes.
const OBSERVER_CPU: &str = "50m";
const OBSERVER_MEMORY: &str = "64Mi";
/// `/video` encodes into a temporary file of a few MB; the rest is headroom.
const TARGET_SCRATCH: &str = "256Mi";

/// A size's target objects.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetObjects {
    pub deployment: Deployment,
    pub service: Service,
}

/// The Deployment and Service of one size of `spec`.
///
/// - Labels `app=cl-target`, `size`, and `run-id` when the options name a run, else
///   `target-set=static` (the static targets of `components/static-targets`): the selectors
///   carry the same labels, so a static target's Service never sends traffic to a run's pod of
///   the same size. The pod is annotated `prometheus.io/{scrape,port,path}` for the observer's
///   endpoint; Prometheus also scrapes the `cgroup_*` series of the target's own `/metrics`
///   (port 9000), which the harness's own Prometheus reads in full.
/// - Requests equal limits (Guaranteed QoS) for both containers. The original's requests are
///   not recorded here; equal requests make the measured budget exactly the spec's: the
///   scheduler reserves all of it and the pod is never squeezed below its limits by a busy node.
/// - `shareProcessNamespace` lets the observer sample the target's process from its own CPU
///   budget, as the local backend's sampler does from the harness's process.
/// - One replica, replaced with `Recreate`: two targets of one size never run side by side.
/// - No liveness probe: a target throttled at 100m may answer late while a request runs, and a
///   restart would cut that measurement; the harness's per-request timeouts handle hangs.
pub fn target_objects(
    spec: &Spec,
    size: &SizeSpec,
    opts: &RenderOptions,
) -> Result<TargetObjects, ManifestError> {
    opts.check()?;
    let name = target_name(&size.name, opts.run_id.as_deref());
    check_size(size, &name)?;
    let mut selector = BTreeMap::from([
        (APP_LABEL.to_owned(), TARGET_APP.to_owned()),
        (SIZE_LABEL.to_owned(), size.name.clone()),
    ]);
    let (set_label, set) = match &opts.run_id {
        Some(run_id) => (RUN_ID_LABEL, run_id.as_str()),
        None => (TARGET_SET_LABEL, STATIC_TARGET_SET),
    };
    selector.insert(set_label.to_owned(), set.to_owned());
    let object_labels = labels(&selector);
    let annotations = BTreeMap::from([
        ("prometheus.io/scrape".to_owned(), "true".to_owned()),
        ("prometheus.io/port".to_owned(), OBSERVER_PORT.to_string()),
        ("prometheus.io/path".to_owned(), "/metrics".to_owned()),
    ]);
    let pod = PodSpec {
        share_process_namespace: Some(true),
        service_account_name: Some(TARGET_SERVICE_ACCOUNT.to_owned()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        termination_grace_period_seconds: Some(termination_grace_seconds(spec)),
        security_context: Some(pod_security_context(TARGET_UID)),
        containers: vec![target_container(size, opts), observer_container(spec, opts)],
        volumes: Some(vec![Volume {
            name: "tmp".to_owned(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity(TARGET_SCRATCH.to_owned())),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let deployment = Deployment {
        metadata: metadata(&name, opts, object_labels.clone()),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..Default::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".to_owned()),
                ..Default::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(object_labels.clone()),
                    annotations: Some(annotations),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let service = Service {
        metadata: metadata(&name, opts, object_labels),
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(vec![
                service_port("http", TARGET_HTTP_PORT),
                service_port(TARGET_METRICS_PORT_NAME, TARGET_METRICS_PORT),
                service_port("observer", OBSERVER_PORT),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(TargetObjects {
        deployment,
        service,
    })
}

/// What Kubernetes needs of a size beyond what the spec checks: a name that fits a Service.
fn check_size(size: &SizeSpec, object_name: &str) -> Result<(), ManifestError> {
    let invalid = |reason: String| ManifestError::InvalidSize {
        size: size.name.clone(),
        reason,
    };
    check_dns1035_label(object_name)
        .map_err(|reason| invalid(format!("its object name {reason}")))?;
    if size.cpu_millicores == 0 {
        return Err(invalid("cpu_millicores must be at least 1".to_owned()));
    }
    if experiment::Memory::parse(size.memory.as_str()).is_err() {
        return Err(invalid(format!(
            "memory `{}` is not a Kubernetes quantity",
            size.memory
        )));
    }
    Ok(())
}

/// Long enough for the longest request to finish and be logged after SIGTERM.
fn termination_grace_seconds(spec: &Spec) -> i64 {
    let longest = spec
        .functions
        .iter()
        .map(|function| spec.timeout_s(function))
        .max()
        .unwrap_or(spec.request_timeout_s);
    i64::try_from(longest)
        .unwrap_or(i64::MAX)
        .saturating_add(30)
}

fn target_container(size: &SizeSpec, opts: &RenderOptions) -> Container {
    Container {
        name: TARGET_CONTAINER.to_owned(),
        image: Some(opts.image(TARGET_IMAGE)),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        command: Some(vec!["cl-target".to_owned()]),
        args: Some(vec![
            "--listen".to_owned(),
            format!("0.0.0.0:{TARGET_HTTP_PORT}"),
            "--metrics-listen".to_owned(),
            format!("0.0.0.0:{TARGET_METRICS_PORT}"),
        ]),
        ports: Some(vec![
            container_port("http", TARGET_HTTP_PORT),
            container_port(TARGET_METRICS_PORT_NAME, TARGET_METRICS_PORT),
        ]),
        readiness_probe: Some(http_probe("http", 10)),
        resources: Some(guaranteed(
            &format!("{}m", size.cpu_millicores),
            size.memory.as_str(),
        )),
        security_context: Some(container_security_context()),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".to_owned(),
            mount_path: "/tmp".to_owned(),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

fn observer_container(spec: &Spec, opts: &RenderOptions) -> Container {
    Container {
        name: OBSERVER_CONTAINER.to_owned(),
        // cl-observer ships in the target image: one image per target pod to build and load.
        image: Some(opts.image(TARGET_IMAGE)),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        command: Some(vec!["cl-observer".to_owned()]),
        args: Some(vec![
            "--listen".to_owned(),
            format!("0.0.0.0:{OBSERVER_PORT}"),
            "--target-exe".to_owned(),
            "cl-target".to_owned(),
            "--interval-ms".to_owned(),
            spec.scrape_interval_ms.to_string(),
        ]),
        ports: Some(vec![container_port("observer", OBSERVER_PORT)]),
        readiness_probe: Some(http_probe("observer", 5)),
        resources: Some(guaranteed(OBSERVER_CPU, OBSERVER_MEMORY)),
        security_context: Some(container_security_context()),
        ..Default::default()
    }
}

pub(crate) fn container_port(name: &str, port: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: port,
        protocol: Some("TCP".to_owned()),
        ..Default::default()
    }
}

pub(crate) fn service_port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port,
        target_port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..Default::default()
    }
}

/// `GET /health` on a named port, or `path` given through [`http_probe_at`].
pub(crate) fn http_probe(port_name: &str, period_seconds: i32) -> Probe {
    http_probe_at("/health", port_name, period_seconds)
}

pub(crate) fn http_probe_at(path: &str, port_name: &str, period_seconds: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(port_name.to_owned()),
            ..Default::default()
        }),
        period_seconds: Some(period_seconds),
        timeout_seconds: Some(5),
        failure_threshold: Some(3),
        ..Default::default()
    }
}
