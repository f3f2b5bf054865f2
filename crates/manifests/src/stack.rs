//! Everything a spec needs on a cluster, grouped into the files of the kustomize base.

use std::collections::BTreeMap;

use experiment::Spec;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, Namespace,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSpec,
    PodTemplateSpec, Service, ServiceAccount, ServiceSpec, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::configs::{alloy_config, loki_config, prometheus_config};
use crate::error::ManifestError;
use crate::names::*;
use crate::object::Object;
use crate::options::RenderOptions;
use crate::security::{container_security_context, guaranteed, pod_security_context};
use crate::target::{container_port, http_probe, http_probe_at, service_port, target_objects};

/// One file of the kustomize tree and the objects it holds, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// File name inside its directory, e.g. `prometheus.yaml`.
    pub file: &'static str,
    pub objects: Vec<Object>,
}

/// Users the upstream images are built to run as.
const PROMETHEUS_UID: i64 = 65534;
const LOKI_UID: i64 = 10001;
const ALLOY_UID: i64 = 473;
/// The `computelocator/*` images' user (the targets use the same, see `target::TARGET_UID`).
const COMPUTELOCATOR_UID: i64 = crate::target::TARGET_UID;
const ALLOY_HTTP_PORT: i32 = 12345;
const RUNS_DIR: &str = "/data/runs";

/// The shared stack of `spec`'s deployment, in the order it is applied: namespace, accounts
/// and RBAC, Prometheus, Loki, Alloy, the aggregator, the harness Job, and the
/// NetworkPolicies. No targets: the harness Job's kube backend deploys each run's own, and
/// long-running targets are the opt-in [`static_targets`].
pub fn stack(spec: &Spec, opts: &RenderOptions) -> Result<Vec<Object>, ManifestError> {
    Ok(components(spec, opts)?
        .into_iter()
        .flat_map(|component| component.objects)
        .collect())
}

/// [`stack`], grouped into the base's files.
pub fn components(spec: &Spec, opts: &RenderOptions) -> Result<Vec<Component>, ManifestError> {
    spec.validate()?;
    opts.check()?;
    // The harness Job deploys a target of every size: a size that cannot become one is
    // refused here, before anything is applied.
    for size in &spec.sizes {
        target_objects(spec, size, opts)?;
    }
    Ok(vec![
        Component {
            file: "namespace.yaml",
            objects: vec![namespace(opts).into()],
        },
        Component {
            file: "rbac.yaml",
            objects: rbac(opts),
        },
        Component {
            file: "prometheus.yaml",
            objects: prometheus(spec, opts),
        },
        Component {
            file: "loki.yaml",
            objects: loki(opts),
        },
        Component {
            file: "alloy.yaml",
            objects: alloy(opts),
        },
        Component {
            file: "aggregator.yaml",
            objects: aggregator(opts),
        },
        Component {
            file: "harness.yaml",
            objects: harness(spec, opts),
        },
        Component {
            file: "network-policies.yaml",
            objects: network_policies(opts),
        },
    ])
}

/// A long-running Deployment and Service per size of `spec` (`target-<size>`, labelled
/// `target-set=static`), for driving by hand or watching through the live aggregator. Not part
/// of the base: beside the harness Job's per-run targets they would double the CPU and memory
/// the experiment reserves. With `opts.run_id` set these are that run's targets, as the kube
/// backend applies them.
pub fn static_targets(spec: &Spec, opts: &RenderOptions) -> Result<Component, ManifestError> {
    spec.validate()?;
    let mut objects = Vec::with_capacity(2 * spec.sizes.len());
    for size in &spec.sizes {
        let target = target_objects(spec, size, opts)?;
        objects.push(target.deployment.into());
        objects.push(target.service.into());
    }
    Ok(Component {
        file: "targets.yaml",
        objects,
    })
}

/// `extra` plus the `part-of` label every object carries.
pub(crate) fn labels(extra: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut labels = extra.clone();
    labels.insert(PART_OF_LABEL.to_owned(), PART_OF.to_owned());
    labels
}

pub(crate) fn metadata(
    name: &str,
    opts: &RenderOptions,
    labels: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(opts.namespace.clone()),
        labels: Some(labels),
        ..Default::default()
    }
}

fn app_selector(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(APP_LABEL.to_owned(), app.to_owned())])
}

fn app_metadata(name: &str, app: &str, opts: &RenderOptions) -> ObjectMeta {
    metadata(name, opts, labels(&app_selector(app)))
}

/// Pod Security admission enforces "restricted" on the namespace, so a pod that breaks it is
/// refused by the cluster too, not only by this crate's lint.
fn namespace(opts: &RenderOptions) -> Namespace {
    let mut labels = labels(&BTreeMap::new());
    for mode in ["enforce", "audit", "warn"] {
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            "restricted".to_owned(),
        );
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}-version"),
            "v1.33".to_owned(),
        );
    }
    Namespace {
        metadata: ObjectMeta {
            name: Some(opts.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn service_account(name: &str, app: &str, opts: &RenderOptions, uses_api: bool) -> ServiceAccount {
    ServiceAccount {
        metadata: app_metadata(name, app, opts),
        automount_service_account_token: Some(uses_api),
        ..Default::default()
    }
}

fn rule(api_group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    PolicyRule {
        api_groups: Some(vec![api_group.to_owned()]),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        ..Default::default()
    }
}

/// A Role for `name`'s ServiceAccount and the binding that grants it.
fn role_with_binding(
    name: &str,
    app: &str,
    opts: &RenderOptions,
    rules: Vec<PolicyRule>,
) -> [Object; 2] {
    let role = Role {
        metadata: app_metadata(name, app, opts),
        rules: Some(rules),
    };
    let binding = RoleBinding {
        metadata: app_metadata(name, app, opts),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "Role".to_owned(),
            name: name.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: name.to_owned(),
            namespace: Some(opts.namespace.clone()),
            ..Default::default()
        }]),
    };
    [role.into(), binding.into()]
}

/// One ServiceAccount per component; only the three that call the API get a token and a Role,
/// each limited to this namespace and to what it does.
fn rbac(opts: &RenderOptions) -> Vec<Object> {
    const READ: [&str; 3] = ["get", "list", "watch"];
    let mut objects: Vec<Object> = vec![
        service_account(TARGET_SERVICE_ACCOUNT, TARGET_APP, opts, false).into(),
        service_account(PROMETHEUS, PROMETHEUS_APP, opts, true).into(),
        service_account(LOKI, LOKI_APP, opts, false).into(),
        service_account(ALLOY, ALLOY_APP, opts, true).into(),
        service_account(AGGREGATOR, AGGREGATOR_APP, opts, false).into(),
        service_account(HARNESS, HARNESS_APP, opts, true).into(),
    ];
    // Pod discovery (kubernetes_sd_configs, role pod).
    objects.extend(role_with_binding(
        PROMETHEUS,
        PROMETHEUS_APP,
        opts,
        vec![rule("", &["pods"], &READ)],
    ));
    // Pod discovery and log tailing (discovery.kubernetes, loki.source.kubernetes).
    objects.extend(role_with_binding(
        ALLOY,
        ALLOY_APP,
        opts,
        vec![rule("", &["pods", "pods/log"], &READ)],
    ));
    objects.extend(role_with_binding(
        HARNESS,
        HARNESS_APP,
        opts,
        harness_rules(),
    ));
    objects
}

/// Exactly what the kube backend does, and what its preflight asks the API server it may do
/// (deploy-kube's `preflight::REQUIRED`): server-side apply of a run's Deployments and
/// Services (create + patch), reading their status, watching and restarting pods, following
/// the target's log, and deleting the run's objects by label. Besides, it lists limit ranges
/// and resource quotas to check the sizes fit before deploying, and events to name why a pod
/// is stuck. Nothing else: in the cluster the backend reaches targets through Service DNS, so
/// no `pods/portforward`; cluster-scoped reads (namespace, nodes) it may be refused and only
/// warns; SelfSubjectAccessReviews every authenticated identity may create.
fn harness_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            "apps",
            &["deployments"],
            &["get", "list", "create", "patch", "delete"],
        ),
        rule("", &["services"], &["list", "create", "patch", "delete"]),
        rule("", &["pods"], &["get", "list", "watch", "delete"]),
        rule("", &["pods/log"], &["get"]),
        rule("", &["events", "limitranges", "resourcequotas"], &["list"]),
    ]
}

fn config_map(name: &str, app: &str, opts: &RenderOptions, file: &str, text: String) -> ConfigMap {
    ConfigMap {
        metadata: app_metadata(name, app, opts),
        data: Some(BTreeMap::from([(file.to_owned(), text)])),
        ..Default::default()
    }
}

fn empty_dir(name: &str, size_limit: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity(size_limit.to_owned())),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn config_volume(config_map: &str) -> Volume {
    Volume {
        name: "config".to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

/// A container with the restricted settings, `IfNotPresent` pulls and Guaranteed resources.
fn container(name: &str, image: String, (cpu, memory): (&str, &str)) -> Container {
    Container {
        name: name.to_owned(),
        image: Some(image),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        resources: Some(guaranteed(cpu, memory)),
        security_context: Some(container_security_context()),
        ..Default::default()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn pod(service_account: &str, uses_api: bool, uid: i64, containers: Vec<Container>) -> PodSpec {
    PodSpec {
        service_account_name: Some(service_account.to_owned()),
        automount_service_account_token: Some(uses_api),
        enable_service_links: Some(false),
        security_context: Some(pod_security_context(uid)),
        containers,
        ..Default::default()
    }
}

/// A single-replica Deployment of `app`. `Recreate`, because the stores keep their data on an
/// emptyDir that two replicas could not share.
fn deployment(name: &str, app: &str, opts: &RenderOptions, pod: PodSpec) -> Deployment {
    Deployment {
        metadata: app_metadata(name, app, opts),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(app_selector(app)),
                ..Default::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".to_owned()),
                ..Default::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&app_selector(app))),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn service(name: &str, app: &str, opts: &RenderOptions, port_name: &str, port: i32) -> Service {
    Service {
        metadata: app_metadata(name, app, opts),
        spec: Some(ServiceSpec {
            selector: Some(app_selector(app)),
            ports: Some(vec![service_port(port_name, port)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn prometheus(spec: &Spec, opts: &RenderOptions) -> Vec<Object> {
    let config_name = format!("{PROMETHEUS}-config");
    let server = Container {
        args: Some(vec![
            "--config.file=/etc/prometheus/prometheus.yml".to_owned(),
            "--storage.tsdb.path=/prometheus".to_owned(),
            "--storage.tsdb.retention.time=7d".to_owned(),
            format!("--web.listen-address=:{PROMETHEUS_PORT}"),
        ]),
        ports: Some(vec![container_port("http", PROMETHEUS_PORT)]),
        readiness_probe: Some(http_probe_at("/-/ready", "http", 10)),
        volume_mounts: Some(vec![
            mount("config", "/etc/prometheus", true),
            mount("data", "/prometheus", false),
        ]),
        ..container(PROMETHEUS, PROMETHEUS_IMAGE.to_owned(), ("250m", "512Mi"))
    };
    let pod = PodSpec {
        volumes: Some(vec![config_volume(&config_name), empty_dir("data", "2Gi")]),
        ..pod(PROMETHEUS, true, PROMETHEUS_UID, vec![server])
    };
    vec![
        config_map(
            &config_name,
            PROMETHEUS_APP,
            opts,
            "prometheus.yml",
            prometheus_config(&opts.namespace, spec.scrape_interval_ms),
        )
        .into(),
        deployment(PROMETHEUS, PROMETHEUS_APP, opts, pod).into(),
        service(PROMETHEUS, PROMETHEUS_APP, opts, "http", PROMETHEUS_PORT).into(),
    ]
}

fn loki(opts: &RenderOptions) -> Vec<Object> {
    let config_name = format!("{LOKI}-config");
    let server = Container {
        args: Some(strings(&[
            "-config.file=/etc/loki/loki.yaml",
            "-target=all",
        ])),
        ports: Some(vec![container_port("http", LOKI_PORT)]),
        readiness_probe: Some(http_probe_at("/ready", "http", 10)),
        volume_mounts: Some(vec![
            mount("config", "/etc/loki", true),
            mount("data", "/loki", false),
            mount("tmp", "/tmp", false),
        ]),
        ..container(LOKI, LOKI_IMAGE.to_owned(), ("250m", "512Mi"))
    };
    let pod = PodSpec {
        volumes: Some(vec![
            config_volume(&config_name),
            empty_dir("data", "2Gi"),
            empty_dir("tmp", "64Mi"),
        ]),
        ..pod(LOKI, false, LOKI_UID, vec![server])
    };
    vec![
        config_map(&config_name, LOKI_APP, opts, "loki.yaml", loki_config()).into(),
        deployment(LOKI, LOKI_APP, opts, pod).into(),
        service(LOKI, LOKI_APP, opts, "http", LOKI_PORT).into(),
    ]
}

fn alloy(opts: &RenderOptions) -> Vec<Object> {
    let config_name = format!("{ALLOY}-config");
    let agent = Container {
        args: Some(vec![
            "run".to_owned(),
            "/etc/alloy/config.alloy".to_owned(),
            "--storage.path=/var/lib/alloy/data".to_owned(),
            format!("--server.http.listen-addr=0.0.0.0:{ALLOY_HTTP_PORT}"),
            "--disable-reporting".to_owned(),
        ]),
        ports: Some(vec![container_port("http", ALLOY_HTTP_PORT)]),
        readiness_probe: Some(http_probe_at("/-/ready", "http", 10)),
        volume_mounts: Some(vec![
            mount("config", "/etc/alloy", true),
            mount("data", "/var/lib/alloy/data", false),
            mount("tmp", "/tmp", false),
        ]),
        ..container(ALLOY, ALLOY_IMAGE.to_owned(), ("100m", "256Mi"))
    };
    let pod = PodSpec {
        volumes: Some(vec![
            config_volume(&config_name),
            empty_dir("data", "1Gi"),
            empty_dir("tmp", "64Mi"),
        ]),
        ..pod(ALLOY, true, ALLOY_UID, vec![agent])
    };
    vec![
        config_map(
            &config_name,
            ALLOY_APP,
            opts,
            "config.alloy",
            alloy_config(&opts.namespace),
        )
        .into(),
        deployment(ALLOY, ALLOY_APP, opts, pod).into(),
    ]
}

fn aggregator(opts: &RenderOptions) -> Vec<Object> {
    let server = Container {
        command: Some(strings(&["cl-aggregator"])),
        args: Some(vec![
            "--prometheus".to_owned(),
            format!("http://{PROMETHEUS}:{PROMETHEUS_PORT}"),
            "--loki".to_owned(),
            format!("http://{LOKI}:{LOKI_PORT}"),
            "--listen".to_owned(),
            format!("0.0.0.0:{AGGREGATOR_PORT}"),
        ]),
        ports: Some(vec![container_port("http", AGGREGATOR_PORT)]),
        readiness_probe: Some(http_probe("http", 10)),
        ..container(AGGREGATOR, opts.image(AGGREGATOR_IMAGE), ("200m", "256Mi"))
    };
    vec![
        deployment(
            AGGREGATOR,
            AGGREGATOR_APP,
            opts,
            pod(AGGREGATOR, false, COMPUTELOCATOR_UID, vec![server]),
        )
        .into(),
        service(AGGREGATOR, AGGREGATOR_APP, opts, "http", AGGREGATOR_PORT).into(),
    ]
}

/// The harness Job's deadline: twice the cost model's predicted wall time plus ten minutes for
/// rollout, rounded up to a minute (so small cost-model changes leave it alone).
fn harness_deadline_seconds(spec: &Spec) -> i64 {
    let schedule = experiment::schedule(spec);
    let predicted =
        experiment::predicted_run_wall_seconds(spec, &experiment::predict(spec, &schedule));
    let seconds = 2.0 * predicted.max(0.0) + 600.0;
    (seconds / 60.0).ceil() as i64 * 60
}

/// The original's "client gateway": one run of the experiment, driven from inside the cluster
/// with the kube backend, writing its run directory to a volume claim. It never retries: a
/// second attempt would start a second run, and resuming is an explicit `--resume`. The spec is
/// named, so it must be one built into the harness binary (`smoke`, `sized-sweep`, `original`).
fn harness(spec: &Spec, opts: &RenderOptions) -> Vec<Object> {
    let claim = PersistentVolumeClaim {
        metadata: app_metadata(HARNESS_RUNS_CLAIM, HARNESS_APP, opts),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(strings(&["ReadWriteOnce"])),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity("1Gi".to_owned()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let driver = Container {
        command: Some(strings(&["computelocator"])),
        args: Some(vec![
            "experiment".to_owned(),
            spec.name.clone(),
            "--backend".to_owned(),
            "kube".to_owned(),
            "--namespace".to_owned(),
            opts.namespace.clone(),
            "--out".to_owned(),
            RUNS_DIR.to_owned(),
            "--quiet".to_owned(),
        ]),
        env: Some(vec![EnvVar {
            name: "HOME".to_owned(),
            value: Some("/tmp".to_owned()),
            ..Default::default()
        }]),
        working_dir: Some("/data".to_owned()),
        volume_mounts: Some(vec![
            mount("runs", RUNS_DIR, false),
            mount("tmp", "/tmp", false),
        ]),
        ..container(HARNESS, opts.image(HARNESS_IMAGE), ("500m", "512Mi"))
    };
    let pod = PodSpec {
        restart_policy: Some("Never".to_owned()),
        volumes: Some(vec![
            Volume {
                name: "runs".to_owned(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: HARNESS_RUNS_CLAIM.to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            empty_dir("tmp", "256Mi"),
        ]),
        ..pod(HARNESS, true, COMPUTELOCATOR_UID, vec![driver])
    };
    let job = Job {
        metadata: app_metadata(HARNESS, HARNESS_APP, opts),
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(harness_deadline_seconds(spec)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&app_selector(HARNESS_APP))),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![claim.into(), job.into()]
}

fn from_apps(apps: &[&str]) -> Vec<NetworkPolicyPeer> {
    apps.iter()
        .map(|app| NetworkPolicyPeer {
            pod_selector: Some(LabelSelector {
                match_labels: Some(app_selector(app)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect()
}

fn tcp_ports(ports: &[i32]) -> Vec<NetworkPolicyPort> {
    ports
        .iter()
        .map(|&port| NetworkPolicyPort {
            port: Some(IntOrString::Int(port)),
            protocol: Some("TCP".to_owned()),
            ..Default::default()
        })
        .collect()
}

fn ingress(from: Option<Vec<NetworkPolicyPeer>>, ports: &[i32]) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from,
        ports: Some(tcp_ports(ports)),
    }
}

fn policy(
    name: &str,
    opts: &RenderOptions,
    pods: BTreeMap<String, String>,
    ingress: Vec<NetworkPolicyIngressRule>,
    deny_egress: bool,
) -> Object {
    let mut types = vec!["Ingress".to_owned()];
    if deny_egress {
        types.push("Egress".to_owned());
    }
    NetworkPolicy {
        metadata: metadata(name, opts, labels(&BTreeMap::new())),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: (!pods.is_empty()).then_some(pods),
                ..Default::default()
            }),
            ingress: (!ingress.is_empty()).then_some(ingress),
            egress: None,
            policy_types: Some(types),
        }),
    }
    .into()
}

/// Nothing reaches a pod in the namespace unless a policy below lets it: the targets (static or
/// a run's: the policy selects `app=cl-target` only) from the harness (the workload API, and
/// the target's `/metrics` for the Prometheus the harness runs) and from the in-cluster
/// Prometheus (the observer's and the target's metrics), and they reach nothing themselves;
/// the aggregator's API from pods of this namespace; Prometheus and Loki only from their
/// readers and writers. (Port-forwards enter through the kubelet and are not subject to
/// NetworkPolicy.)
fn network_policies(opts: &RenderOptions) -> Vec<Object> {
    vec![
        policy(
            "default-deny-ingress",
            opts,
            BTreeMap::new(),
            Vec::new(),
            false,
        ),
        policy(
            "targets",
            opts,
            app_selector(TARGET_APP),
            vec![
                ingress(
                    Some(from_apps(&[HARNESS_APP])),
                    &[TARGET_HTTP_PORT, TARGET_METRICS_PORT],
                ),
                ingress(
                    Some(from_apps(&[PROMETHEUS_APP])),
                    &[OBSERVER_PORT, TARGET_METRICS_PORT],
                ),
            ],
            true,
        ),
        policy(
            "aggregator",
            opts,
            app_selector(AGGREGATOR_APP),
            vec![ingress(
                Some(vec![NetworkPolicyPeer {
                    pod_selector: Some(LabelSelector::default()),
                    ..Default::default()
                }]),
                &[AGGREGATOR_PORT],
            )],
            false,
        ),
        policy(
            "prometheus",
            opts,
            app_selector(PROMETHEUS_APP),
            vec![ingress(
                Some(from_apps(&[AGGREGATOR_APP, HARNESS_APP])),
                &[PROMETHEUS_PORT],
            )],
            false,
        ),
        policy(
            "loki",
            opts,
            app_selector(LOKI_APP),
            vec![ingress(
                Some(from_apps(&[ALLOY_APP, AGGREGATOR_APP, HARNESS_APP])),
                &[LOKI_PORT],
            )],
            false,
        ),
    ]
}
