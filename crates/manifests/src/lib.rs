//! The Kubernetes objects of a ComputeLocator deployment, built as typed k8s-openapi values.
//!
//! This crate's one job: turn an experiment spec into the objects that run it on a cluster — a
//! Deployment and Service per pod size (the workload server plus its `cl-observer` sidecar),
//! Prometheus, Loki and Grafana Alloy, `cl-aggregator`, the harness Job, ServiceAccounts with
//! namespaced least-privilege RBAC and NetworkPolicies — and write them as YAML or as a kustomize
//! tree: a base with the shared stack, `kind` and `minikube` overlays, and the per-size targets
//! as the opt-in `static-targets` component (the harness Job deploys each run's own targets).
//! The Kubernetes backend server-side-applies the same values ([`target_objects`] per size and
//! run), so the targets committed under `k8s/` are exactly what the backend creates.
//!
//! Invariants:
//! - Output is a pure function of the spec and [`RenderOptions`]: fixed object order, keys
//!   sorted, no timestamps; rendering twice gives the same bytes.
//! - Every pod template meets the Pod Security "restricted" profile plus this project's own
//!   rules (read-only root filesystem, limits on every container), as [`restricted_violations`]
//!   checks; every container's requests equal its limits (Guaranteed QoS).
//! - Images are `computelocator/{target,aggregator,harness}:<crate version>` and pinned upstream
//!   tags, never `latest`, pulled `IfNotPresent`.

mod configs;
mod error;
mod kustomize;
mod object;
mod options;
mod security;
mod stack;
mod target;
mod yaml;

pub mod names;

pub use error::ManifestError;
pub use kustomize::{
    GeneratedFile, KIND_AGGREGATOR_NODE_PORT, Overlay, Patch, STATIC_TARGETS_COMPONENT, overlays,
    render_kustomize, write_kustomize,
};
pub use object::Object;
pub use options::RenderOptions;
pub use security::{Violation, restricted_violations};
pub use stack::{Component, components, stack, static_targets};
pub use target::{TargetObjects, target_objects};
pub use yaml::to_yaml;
