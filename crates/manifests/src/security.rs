//! The Pod Security "restricted" profile: the settings every container gets, and the lint that
//! checks a pod spec against the profile plus this project's own rules.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, PodSecurityContext, PodSpec, ResourceRequirements, SeccompProfile,
    SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Volume types the restricted profile allows.
const ALLOWED_VOLUME_TYPES: [&str; 8] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Pod-level settings: a fixed non-root user and group for every container, and the runtime's
/// default seccomp profile.
pub(crate) fn pod_security_context(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..Default::default()
    }
}

/// Container-level settings: no privilege escalation, no capabilities, a read-only root
/// filesystem (scratch space comes from emptyDir volumes).
pub(crate) fn container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Default::default()
        }),
        privileged: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..Default::default()
    }
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        ..Default::default()
    }
}

/// Requests equal to limits: the pod is in the Guaranteed QoS class, so what it measures is
/// exactly the budget it was given — the scheduler reserves all of it, no neighbour can take
/// back memory it lent, and the kernel's OOM killer treats it last.
pub(crate) fn guaranteed(cpu: &str, memory: &str) -> ResourceRequirements {
    let amounts: BTreeMap<String, Quantity> = [
        ("cpu".to_owned(), Quantity(cpu.to_owned())),
        ("memory".to_owned(), Quantity(memory.to_owned())),
    ]
    .into();
    ResourceRequirements {
        limits: Some(amounts.clone()),
        requests: Some(amounts),
        ..Default::default()
    }
}

/// One way a pod spec breaks the restricted profile or this project's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The container at fault; `None` for pod-level problems.
    pub container: Option<String>,
    /// What is wrong, naming the field.
    pub rule: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.container {
            Some(container) => write!(f, "container `{container}`: {}", self.rule),
            None => write!(f, "pod: {}", self.rule),
        }
    }
}

/// Checks a pod spec against Pod Security "restricted" (v1.33): no host namespaces, ports or
/// paths, only the allowed volume types, non-root, no privilege escalation, all capabilities
/// dropped (only `NET_BIND_SERVICE` may be added back), seccomp `RuntimeDefault` or
/// `Localhost` — plus this project's rules: a read-only root filesystem and CPU and memory
/// limits on every container. Empty when the spec complies.
pub fn restricted_violations(pod: &PodSpec) -> Vec<Violation> {
    let mut found = Vec::new();
    let mut pod_rule = |rule: String| {
        found.push(Violation {
            container: None,
            rule,
        })
    };
    for (field, value) in [
        ("hostNetwork", pod.host_network),
        ("hostPID", pod.host_pid),
        ("hostIPC", pod.host_ipc),
    ] {
        if value == Some(true) {
            pod_rule(format!("{field} must not be true"));
        }
    }
    for volume in pod.volumes.iter().flatten() {
        let types = volume_types(volume);
        if let Some(bad) = types
            .iter()
            .find(|t| !ALLOWED_VOLUME_TYPES.contains(&t.as_str()))
        {
            pod_rule(format!(
                "volume `{}` is of type {bad}, which the restricted profile forbids",
                volume.name
            ));
        }
    }
    let pod_context = pod.security_context.as_ref();
    if pod_context.and_then(|c| c.run_as_user) == Some(0) {
        pod_rule("securityContext.runAsUser must not be 0".to_owned());
    }
    let containers = pod
        .init_containers
        .iter()
        .flatten()
        .chain(pod.containers.iter());
    for container in containers {
        for rule in container_rules(container, pod_context) {
            found.push(Violation {
                container: Some(container.name.clone()),
                rule,
            });
        }
    }
    found
}

fn container_rules(container: &Container, pod: Option<&PodSecurityContext>) -> Vec<String> {
    let mut rules = Vec::new();
    let own = container.security_context.as_ref();
    let non_root = own
        .and_then(|c| c.run_as_non_root)
        .or(pod.and_then(|p| p.run_as_non_root));
    if non_root != Some(true) {
        rules.push("runAsNonRoot must be true (here or at pod level)".to_owned());
    }
    if own.and_then(|c| c.run_as_user) == Some(0) {
        rules.push("securityContext.runAsUser must not be 0".to_owned());
    }
    if own.and_then(|c| c.privileged) == Some(true) {
        rules.push("securityContext.privileged must not be true".to_owned());
    }
    if own.and_then(|c| c.allow_privilege_escalation) != Some(false) {
        rules.push("securityContext.allowPrivilegeEscalation must be false".to_owned());
    }
    let capabilities = own.and_then(|c| c.capabilities.as_ref());
    let drops_all = capabilities
        .and_then(|c| c.drop.as_ref())
        .is_some_and(|drop| drop.iter().any(|d| d == "ALL"));
    if !drops_all {
        rules.push("securityContext.capabilities.drop must contain ALL".to_owned());
    }
    for added in capabilities
        .and_then(|c| c.add.as_ref())
        .into_iter()
        .flatten()
    {
        if added != "NET_BIND_SERVICE" {
            rules.push(format!(
                "securityContext.capabilities.add must not contain {added}"
            ));
        }
    }
    let seccomp = own
        .and_then(|c| c.seccomp_profile.as_ref())
        .or(pod.and_then(|p| p.seccomp_profile.as_ref()));
    if !seccomp.is_some_and(|s| s.type_ == "RuntimeDefault" || s.type_ == "Localhost") {
        rules.push(
            "seccompProfile.type must be RuntimeDefault or Localhost (here or at pod level)"
                .to_owned(),
        );
    }
    if own.and_then(|c| c.read_only_root_filesystem) != Some(true) {
        rules.push("securityContext.readOnlyRootFilesystem must be true".to_owned());
    }
    let limits = container.resources.as_ref().and_then(|r| r.limits.as_ref());
    for resource in ["cpu", "memory"] {
        if !limits.is_some_and(|l| l.contains_key(resource)) {
            rules.push(format!("resources.limits.{resource} must be set"));
        }
    }
    for port in container.ports.iter().flatten() {
        if port.host_port.is_some_and(|p| p != 0) {
            rules.push(format!(
                "port {} must not set hostPort",
                port.container_port
            ));
        }
    }
    rules
}

/// The source types a volume sets (the API allows exactly one; the lint reports any that is
/// not allowed). Derived from the serialized volume so no type is missed.
fn volume_types(volume: &k8s_openapi::api::core::v1::Volume) -> Vec<String> {
    match serde_json::to_value(volume) {
        Ok(serde_json::Value::Object(fields)) => fields
            .keys()
            .filter(|key| *key != "name")
            .cloned()
            .collect(),
        _ => vec!["unreadable".to_owned()],
    }
}
