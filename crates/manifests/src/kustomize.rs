//! The kustomize layout: `base/` (the shared stack, one file per component plus
//! `kustomization.yaml`), the `kind` and `minikube` overlays, whose JSON patches are also
//! applied here so tests can validate what each overlay produces without kustomize, and the
//! opt-in `components/static-targets` (a kustomize Component holding long-running targets).

use std::path::{Path, PathBuf};

use experiment::Spec;
use serde_json::{Value, json};

use crate::error::ManifestError;
use crate::names::AGGREGATOR;
use crate::options::RenderOptions;
use crate::stack::{components, static_targets};
use crate::yaml::value_to_yaml;

/// A file of the kustomize tree: its path relative to the tree's root, and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub path: String,
    pub contents: String,
}

/// A kustomize JSON 6902 patch of one object of the base.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub kind: &'static str,
    pub name: &'static str,
    /// The operations (`add`, `replace`, `remove`), as a JSON array.
    pub operations: Value,
}

/// An overlay over the base: a directory name and its patches.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    pub name: &'static str,
    pub patches: Vec<Patch>,
}

/// The node port the kind overlay gives the aggregator; a kind cluster maps it to the host with
/// `extraPortMappings` (see k8s/README.md).
pub const KIND_AGGREGATOR_NODE_PORT: i32 = 30500;

/// What a local cluster needs beyond the base: the aggregator's API reachable from the host
/// through a NodePort, and its NetworkPolicy opened to any source on that port (NodePort
/// traffic arrives from the node, not from a pod). kind fixes the port, because the cluster's
/// `extraPortMappings` must name it; minikube lets the cluster pick one and reports it with
/// `minikube service`.
pub fn overlays() -> Vec<Overlay> {
    let open_aggregator_policy = Patch {
        kind: "NetworkPolicy",
        name: AGGREGATOR,
        operations: json!([{"op": "remove", "path": "/spec/ingress/0/from"}]),
    };
    let node_port = |fixed: Option<i32>| {
        let mut operations = vec![json!({"op": "add", "path": "/spec/type", "value": "NodePort"})];
        if let Some(port) = fixed {
            operations.push(json!({"op": "add", "path": "/spec/ports/0/nodePort", "value": port}));
        }
        Patch {
            kind: "Service",
            name: AGGREGATOR,
            operations: Value::Array(operations),
        }
    };
    vec![
        Overlay {
            name: "kind",
            patches: vec![
                node_port(Some(KIND_AGGREGATOR_NODE_PORT)),
                open_aggregator_policy.clone(),
            ],
        },
        Overlay {
            name: "minikube",
            patches: vec![node_port(None), open_aggregator_policy],
        },
    ]
}

impl Overlay {
    /// Applies the patches to objects given as JSON (as [`crate::Object::to_json`] gives them),
    /// as kustomize would. A patch whose object or path does not exist is an error.
    pub fn apply(&self, objects: &mut [Value]) -> Result<(), ManifestError> {
        for patch in &self.patches {
            let object = objects
                .iter_mut()
                .find(|o| o["kind"] == patch.kind && o["metadata"]["name"] == patch.name)
                .ok_or_else(|| self.error(patch, "no such object in the base".to_owned()))?;
            for operation in patch.operations.as_array().into_iter().flatten() {
                apply_operation(object, operation).map_err(|reason| self.error(patch, reason))?;
            }
        }
        Ok(())
    }

    fn error(&self, patch: &Patch, reason: String) -> ManifestError {
        ManifestError::Overlay {
            overlay: self.name,
            target: format!("{} {}", patch.kind, patch.name),
            reason,
        }
    }
}

/// One JSON-patch operation (RFC 6902 `add`, `replace`, `remove`).
fn apply_operation(object: &mut Value, operation: &Value) -> Result<(), String> {
    let op = operation["op"].as_str().unwrap_or_default();
    let path = operation["path"].as_str().unwrap_or_default();
    let (parent_path, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("`{path}` is not a JSON pointer"))?;
    let parent = object
        .pointer_mut(parent_path)
        .ok_or_else(|| format!("{op} {path}: {parent_path} does not exist"))?;
    let value = operation.get("value").cloned();
    match (op, parent, value) {
        ("add" | "replace", Value::Object(map), Some(value)) => {
            if op == "replace" && !map.contains_key(last) {
                return Err(format!("replace {path}: nothing to replace"));
            }
            map.insert(last.to_owned(), value);
        }
        ("remove", Value::Object(map), None) => {
            map.remove(last)
                .ok_or_else(|| format!("remove {path}: nothing to remove"))?;
        }
        ("remove", Value::Array(items), None) => {
            let index: usize = last
                .parse()
                .ok()
                .filter(|&i| i < items.len())
                .ok_or_else(|| format!("remove {path}: no such element"))?;
            items.remove(index);
        }
        _ => return Err(format!("{op} {path}: unsupported operation here")),
    }
    Ok(())
}

/// Where [`render_kustomize`] puts the static targets: a kustomize Component, added to a
/// kustomization with `components: [<path to k8s>/components/static-targets]`.
pub const STATIC_TARGETS_COMPONENT: &str = "components/static-targets";

/// A `Kustomization`, or with `component` a `Component` (which only takes effect where a
/// kustomization lists it under `components`).
fn kustomization(resources: Vec<String>, patches: &[Patch], component: bool) -> String {
    let (api_version, kind) = if component {
        ("kustomize.config.k8s.io/v1alpha1", "Component")
    } else {
        ("kustomize.config.k8s.io/v1beta1", "Kustomization")
    };
    let mut document = json!({
        "apiVersion": api_version,
        "kind": kind,
        "resources": resources,
    });
    if !patches.is_empty() {
        document["patches"] = patches
            .iter()
            .map(|patch| {
                json!({
                    "target": {"kind": patch.kind, "name": patch.name},
                    "patch": value_to_yaml(&patch.operations),
                })
            })
            .collect();
    }
    value_to_yaml(&document)
}

/// Every file of the kustomize tree for `spec`: `base/<component>.yaml`,
/// `base/kustomization.yaml`, `overlays/<name>/kustomization.yaml`, and
/// `components/static-targets/{targets,kustomization}.yaml`.
pub fn render_kustomize(
    spec: &Spec,
    opts: &RenderOptions,
) -> Result<Vec<GeneratedFile>, ManifestError> {
    let mut files = Vec::new();
    let mut resources = Vec::new();
    for component in components(spec, opts)? {
        files.push(GeneratedFile {
            path: format!("base/{}", component.file),
            contents: crate::to_yaml(&component.objects)?,
        });
        resources.push(component.file.to_owned());
    }
    files.push(GeneratedFile {
        path: "base/kustomization.yaml".to_owned(),
        contents: kustomization(resources, &[], false),
    });
    for overlay in overlays() {
        files.push(GeneratedFile {
            path: format!("overlays/{}/kustomization.yaml", overlay.name),
            contents: kustomization(vec!["../../base".to_owned()], &overlay.patches, false),
        });
    }
    let targets = static_targets(spec, opts)?;
    files.push(GeneratedFile {
        path: format!("{STATIC_TARGETS_COMPONENT}/{}", targets.file),
        contents: crate::to_yaml(&targets.objects)?,
    });
    files.push(GeneratedFile {
        path: format!("{STATIC_TARGETS_COMPONENT}/kustomization.yaml"),
        contents: kustomization(vec![targets.file.to_owned()], &[], true),
    });
    Ok(files)
}

/// Writes [`render_kustomize`]'s files under `dir` (creating directories) and returns their
/// paths. This is `computelocator k8s render`.
pub fn write_kustomize(
    dir: &Path,
    spec: &Spec,
    opts: &RenderOptions,
) -> Result<Vec<PathBuf>, ManifestError> {
    let files = render_kustomize(spec, opts)?;
    let mut written = Vec::with_capacity(files.len());
    for file in files {
        let path = dir.join(&file.path);
        let write_error = |source| ManifestError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_error)?;
        }
        std::fs::write(&path, &file.contents).map_err(write_error)?;
        written.push(path);
    }
    Ok(written)
}
