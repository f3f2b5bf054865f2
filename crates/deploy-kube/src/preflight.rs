//! Before anything is applied: the API server answers, the namespace exists, this identity may
//! do what deploys need, and every size's pod fits the namespace's limit ranges and quotas
//! (side by side) and some node's allocatable resources.

use std::collections::BTreeMap;

use deploy::{PodSize, Preflight};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, Node, ResourceQuota};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};

use crate::quantity::{bytes, millicores, show_bytes, show_millicores};
use crate::{KubeError, RunLabels, Shared};

/// One permission the backend needs: `verb` on `resource` (with `group` and `subresource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: &'static str,
}

impl Permission {
    const fn new(verb: &'static str, group: &'static str, resource: &'static str) -> Self {
        Self {
            verb,
            group,
            resource,
            subresource: "",
        }
    }

    const fn sub(verb: &'static str, resource: &'static str, subresource: &'static str) -> Self {
        Self {
            verb,
            group: "",
            resource,
            subresource,
        }
    }

    /// `create apps/deployments`, `get pods/log`.
    pub fn describe(&self) -> String {
        let group = if self.group.is_empty() {
            String::new()
        } else {
            format!("{}/", self.group)
        };
        let sub = if self.subresource.is_empty() {
            String::new()
        } else {
            format!("/{}", self.subresource)
        };
        format!("{} {group}{}{sub}", self.verb, self.resource)
    }
}

/// What deploy, restart and teardown do: server-side apply (create + patch), status reads,
/// deletes by label, the log and port-forward subresources (the latter only when the route is
/// port-forward).
pub const REQUIRED: &[Permission] = &[
    Permission::new("create", "apps", "deployments"),
    Permission::new("patch", "apps", "deployments"),
    Permission::new("get", "apps", "deployments"),
    Permission::new("list", "apps", "deployments"),
    Permission::new("delete", "apps", "deployments"),
    Permission::new("create", "", "services"),
    Permission::new("patch", "", "services"),
    Permission::new("list", "", "services"),
    Permission::new("delete", "", "services"),
    Permission::new("get", "", "pods"),
    Permission::new("list", "", "pods"),
    Permission::new("watch", "", "pods"),
    Permission::new("delete", "", "pods"),
    Permission::sub("get", "pods", "log"),
    Permission::sub("create", "pods", "portforward"),
];

/// A pod's resources, summed over its containers (a request defaults to its limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PodResources {
    request_cpu: u64,
    request_memory: u64,
    limit_cpu: Option<u64>,
    limit_memory: Option<u64>,
}

pub async fn run(shared: &Shared, sizes: &[PodSize]) -> Result<Preflight, KubeError> {
    let client = &shared.client;
    let namespace = &shared.options.namespace;
    let mut warnings = Vec::new();
    client
        .apiserver_version()
        .await
        .map_err(|source| KubeError::Unreachable {
            url: shared.cluster_url.clone(),
            source,
        })?;
    check_namespace(client, namespace, &mut warnings).await?;
    let needed = REQUIRED
        .iter()
        .filter(|p| shared.port_forwards || p.subresource != "portforward");
    check_permissions(client, namespace, needed).await?;

    let mut pods = Vec::with_capacity(sizes.len());
    for size in sizes {
        let labels = RunLabels::new(&shared.options.run_id, &size.name);
        let (deployment, _) = (shared.options.builder)(size, &labels);
        pods.push((size, pod_resources(&deployment, &size.name)?));
    }
    let limit_ranges: Api<LimitRange> = Api::namespaced(client.clone(), namespace);
    let limit_ranges = limit_ranges
        .list(&ListParams::default())
        .await
        .map_err(|e| KubeError::api(format!("list limit ranges in {namespace}"), e))?;
    for (size, pod) in &pods {
        check_limit_ranges(&limit_ranges.items, &size.name, pod)?;
    }
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), namespace);
    let quotas = quotas
        .list(&ListParams::default())
        .await
        .map_err(|e| KubeError::api(format!("list resource quotas in {namespace}"), e))?;
    let quota_memory_left = check_quotas(&quotas.items, &pods)?;

    let nodes: Api<Node> = Api::all(client.clone());
    let (host_cores, host_memory_bytes) = match nodes.list(&ListParams::default()).await {
        Ok(nodes) => check_nodes(&nodes.items, &pods)?,
        Err(kube::Error::Api(status)) if status.code == 403 => {
            warnings.push(format!(
                "cannot list nodes ({}), so whether each size fits a node is not checked",
                status.message
            ));
            (0, 0)
        }
        Err(e) => return Err(KubeError::api("list nodes", e)),
    };
    Ok(Preflight {
        cgroup_mode: "kubernetes (the kubelet enforces the limits)".to_owned(),
        limits_enforced: true,
        host_cores,
        host_memory_bytes,
        free_memory_bytes: quota_memory_left.unwrap_or(host_memory_bytes),
        requested_cpu_millicores: sizes.iter().map(|s| s.cpu_millicores).sum(),
        requested_memory_bytes: sizes.iter().map(|s| s.memory_bytes).sum(),
        warnings,
    })
}

/// Reading a namespace is cluster-scoped; an identity with only namespaced RBAC may not, and
/// then existence is left to the first apply.
async fn check_namespace(
    client: &Client,
    namespace: &str,
    warnings: &mut Vec<String>,
) -> Result<(), KubeError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.get_opt(namespace).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(KubeError::NoNamespace {
            namespace: namespace.to_owned(),
        }),
        Err(kube::Error::Api(status)) if status.code == 403 => {
            warnings.push(format!(
                "cannot read namespace {namespace:?} ({}); assuming it exists",
                status.message
            ));
            Ok(())
        }
        Err(e) => Err(KubeError::api(format!("read namespace {namespace}"), e)),
    }
}

async fn check_permissions(
    client: &Client,
    namespace: &str,
    needed: impl Iterator<Item = &Permission>,
) -> Result<(), KubeError> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut missing = Vec::new();
    for permission in needed {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_owned()),
                    verb: Some(permission.verb.to_owned()),
                    group: Some(permission.group.to_owned()),
                    resource: Some(permission.resource.to_owned()),
                    subresource: (!permission.subresource.is_empty())
                        .then(|| permission.subresource.to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = reviews
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| {
                KubeError::api(
                    format!("ask whether this identity may {}", permission.describe()),
                    e,
                )
            })?;
        if !answer.status.is_some_and(|s| s.allowed) {
            missing.push(permission.describe());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(KubeError::Forbidden {
            namespace: namespace.to_owned(),
            missing,
        })
    }
}

fn pod_resources(deployment: &Deployment, size: &str) -> Result<PodResources, KubeError> {
    let invalid = |reason: String| KubeError::InvalidObject {
        what: format!("deployment for size {size}"),
        reason,
    };
    let containers = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or(&[]);
    if containers.is_empty() {
        return Err(invalid("its pod template has no containers".into()));
    }
    let mut pod = PodResources {
        limit_cpu: Some(0),
        limit_memory: Some(0),
        ..Default::default()
    };
    for container in containers {
        let resources = container.resources.as_ref();
        let read = |map: Option<&BTreeMap<String, Quantity>>,
                    key: &str,
                    parse: fn(&Quantity) -> Option<u64>|
         -> Result<Option<u64>, KubeError> {
            match map.and_then(|m| m.get(key)) {
                None => Ok(None),
                Some(q) => parse(q).map(Some).ok_or_else(|| {
                    invalid(format!(
                        "container {}: {key} {:?} does not parse",
                        container.name, q.0
                    ))
                }),
            }
        };
        let limits = resources.and_then(|r| r.limits.as_ref());
        let requests = resources.and_then(|r| r.requests.as_ref());
        let limit_cpu = read(limits, "cpu", millicores)?;
        let limit_memory = read(limits, "memory", bytes)?;
        pod.request_cpu += read(requests, "cpu", millicores)?
            .or(limit_cpu)
            .unwrap_or(0);
        pod.request_memory += read(requests, "memory", bytes)?
            .or(limit_memory)
            .unwrap_or(0);
        // One container without a limit leaves the pod unlimited.
        pod.limit_cpu = pod.limit_cpu.zip(limit_cpu).map(|(a, b)| a + b);
        pod.limit_memory = pod.limit_memory.zip(limit_memory).map(|(a, b)| a + b);
    }
    Ok(pod)
}

/// How a quantity parses, which part of a pod it limits, and how to show it.
type Parse = fn(&Quantity) -> Option<u64>;
type Pick = fn(&PodResources) -> u64;
type Show = fn(u64) -> String;

/// Limit ranges of type `Pod` cap the sum over a pod's containers: the pod's limits must stay
/// under their `max`. (Per-container maxima are the manifests' business.)
fn check_limit_ranges(
    ranges: &[LimitRange],
    size: &str,
    pod: &PodResources,
) -> Result<(), KubeError> {
    for range in ranges {
        let name = range.metadata.name.as_deref().unwrap_or("<unnamed>");
        let items = range
            .spec
            .as_ref()
            .map(|s| s.limits.as_slice())
            .unwrap_or(&[]);
        for item in items.iter().filter(|i| i.type_ == "Pod") {
            let max = item.max.as_ref();
            let checks: [(&str, Option<u64>, Option<u64>, Show); 2] = [
                (
                    "cpu",
                    max.and_then(|m| m.get("cpu")).and_then(millicores),
                    pod.limit_cpu,
                    show_millicores,
                ),
                (
                    "memory",
                    max.and_then(|m| m.get("memory")).and_then(bytes),
                    pod.limit_memory,
                    show_bytes,
                ),
            ];
            for (resource, max, wanted, show) in checks {
                if let (Some(max), Some(wanted)) = (max, wanted)
                    && wanted > max
                {
                    return Err(KubeError::DoesNotFit {
                        size: size.to_owned(),
                        reason: format!(
                            "its pod's {resource} limit {} is above the maximum {} of limit \
                             range {name}",
                            show(wanted),
                            show(max)
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Adds the sizes one by one (they run side by side) and names the first that no longer fits
/// a quota's `hard - used`. Returns the memory left under the tightest memory quota.
fn check_quotas(
    quotas: &[ResourceQuota],
    pods: &[(&PodSize, PodResources)],
) -> Result<Option<u64>, KubeError> {
    let mut tightest_memory: Option<u64> = None;
    for quota in quotas {
        let name = quota.metadata.name.as_deref().unwrap_or("<unnamed>");
        let status = quota.status.as_ref();
        let hard = status
            .and_then(|s| s.hard.as_ref())
            .or(quota.spec.as_ref().and_then(|s| s.hard.as_ref()));
        let used = status.and_then(|s| s.used.as_ref());
        let keys: [(&str, Parse, Pick, Show); 6] = [
            (
                "limits.cpu",
                millicores,
                |p| p.limit_cpu.unwrap_or(u64::MAX),
                show_millicores,
            ),
            (
                "limits.memory",
                bytes,
                |p| p.limit_memory.unwrap_or(u64::MAX),
                show_bytes,
            ),
            (
                "requests.cpu",
                millicores,
                |p| p.request_cpu,
                show_millicores,
            ),
            ("requests.memory", bytes, |p| p.request_memory, show_bytes),
            ("cpu", millicores, |p| p.request_cpu, show_millicores),
            ("memory", bytes, |p| p.request_memory, show_bytes),
        ];
        for (key, parse, pick, show) in keys {
            let Some(hard) = hard.and_then(|h| h.get(key)).and_then(parse) else {
                continue;
            };
            let used = used.and_then(|u| u.get(key)).and_then(parse).unwrap_or(0);
            let left = hard.saturating_sub(used);
            if key.ends_with("memory") {
                tightest_memory = Some(tightest_memory.map_or(left, |t| t.min(left)));
            }
            let mut total: u64 = 0;
            for (i, (size, pod)) in pods.iter().enumerate() {
                total = total.saturating_add(pick(pod));
                if total > left {
                    let beside = if i == 0 {
                        String::new()
                    } else {
                        let others: Vec<&str> =
                            pods[..i].iter().map(|(s, _)| s.name.as_str()).collect();
                        format!(" beside {}", others.join(", "))
                    };
                    let needed = if total == u64::MAX {
                        "an unlimited amount (a container has no limit)".to_owned()
                    } else {
                        show(total)
                    };
                    return Err(KubeError::DoesNotFit {
                        size: size.name.clone(),
                        reason: format!(
                            "its pod{beside} needs {key} {needed}, but resource quota {name} \
                             has {} left ({} of {} used)",
                            show(left),
                            show(used),
                            show(hard)
                        ),
                    });
                }
            }
        }
    }
    Ok(tightest_memory)
}

/// Each size's requests must fit one schedulable node's allocatable resources. Returns the
/// largest node's cores and memory.
fn check_nodes(
    nodes: &[Node],
    pods: &[(&PodSize, PodResources)],
) -> Result<(usize, u64), KubeError> {
    let allocatable: Vec<(u64, u64)> = nodes
        .iter()
        .filter(|n| {
            !n.spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false)
        })
        .filter_map(|n| {
            let a = n.status.as_ref()?.allocatable.as_ref()?;
            Some((millicores(a.get("cpu")?)?, bytes(a.get("memory")?)?))
        })
        .collect();
    let largest_cpu = allocatable.iter().map(|a| a.0).max().unwrap_or(0);
    let largest_memory = allocatable.iter().map(|a| a.1).max().unwrap_or(0);
    for (size, pod) in pods {
        let fits = allocatable
            .iter()
            .any(|&(cpu, memory)| pod.request_cpu <= cpu && pod.request_memory <= memory);
        if !fits {
            return Err(KubeError::DoesNotFit {
                size: size.name.clone(),
                reason: format!(
                    "its pod requests {} CPU and {} memory, but no schedulable node has that \
                     much allocatable (largest: {} CPU, {} memory, over {} node(s))",
                    show_millicores(pod.request_cpu),
                    show_bytes(pod.request_memory),
                    show_millicores(largest_cpu),
                    show_bytes(largest_memory),
                    allocatable.len()
                ),
            });
        }
    }
    Ok(((largest_cpu / 1000) as usize, largest_memory))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn quota(hard: serde_json::Value, used: serde_json::Value) -> ResourceQuota {
        serde_json::from_value(json!({
            "metadata": {"name": "compute"},
            "status": {"hard": hard, "used": used},
        }))
        .unwrap()
    }

    fn pod(cpu: u64, memory: u64) -> PodResources {
        PodResources {
            request_cpu: cpu,
            request_memory: memory,
            limit_cpu: Some(cpu),
            limit_memory: Some(memory),
        }
    }

    #[test]
    fn the_first_size_that_overflows_the_quota_is_named() {
        let (small, large) = (
            PodSize::new("small", 100, 1 << 30),
            PodSize::new("large", 500, 4 << 30),
        );
        let pods = [(&small, pod(100, 1 << 30)), (&large, pod(500, 4 << 30))];
        let q = quota(
            json!({"limits.memory": "6Gi"}),
            json!({"limits.memory": "2Gi"}),
        );
        let err = check_quotas(&[q], &pods).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, KubeError::DoesNotFit { size, .. } if size == "large"),
            "{text}"
        );
        assert!(
            text.contains("limits.memory 5Gi") && text.contains("4Gi left"),
            "{text}"
        );
        let roomy = quota(
            json!({"limits.memory": "8Gi"}),
            json!({"limits.memory": "0"}),
        );
        assert_eq!(check_quotas(&[roomy], &pods).unwrap(), Some(8 << 30));
    }

    #[test]
    fn a_size_larger_than_every_node_is_named() {
        let large = PodSize::new("large", 500, 4 << 30);
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "kind-control-plane"},
            "status": {"allocatable": {"cpu": "2", "memory": "3Gi"}},
        }))
        .unwrap();
        let err =
            check_nodes(std::slice::from_ref(&node), &[(&large, pod(500, 4 << 30))]).unwrap_err();
        assert!(err.to_string().contains("\"large\""), "{err}");
        let small = PodSize::new("small", 100, 1 << 30);
        assert_eq!(
            check_nodes(&[node], &[(&small, pod(100, 1 << 30))]).unwrap(),
            (2, 3 << 30)
        );
    }

    #[test]
    fn permissions_read_as_verb_and_resource() {
        let described: Vec<String> = REQUIRED.iter().map(Permission::describe).collect();
        assert!(described.contains(&"create apps/deployments".to_owned()));
        assert!(described.contains(&"get pods/log".to_owned()));
        assert!(described.contains(&"create pods/portforward".to_owned()));
    }
}
