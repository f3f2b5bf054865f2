//! What the integration tests share: the workspace, the built-in spec, a run's options, and
//! the rendered objects' pods and embedded configurations read back.

#![allow(dead_code)] // each test binary uses its own part

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use experiment::Spec;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use manifests::{Object, RenderOptions};

pub const RUN_ID: &str = "20240601T120000Z-ab12";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn sized_sweep() -> Spec {
    experiment::load("sized-sweep", &workspace())
        .expect("the built-in sized-sweep spec")
        .spec
}

pub fn run_options() -> RenderOptions {
    RenderOptions {
        run_id: Some(RUN_ID.to_owned()),
        ..RenderOptions::default()
    }
}

/// The shared stack of the committed base.
pub fn base_stack() -> Vec<Object> {
    manifests::stack(&sized_sweep(), &RenderOptions::default()).unwrap()
}

/// The objects of kind `kind` named `name`.
pub fn find<'a>(objects: &'a [Object], kind: &str, name: &str) -> &'a Object {
    objects
        .iter()
        .find(|o| o.kind() == kind && o.name() == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// A file of a rendered ConfigMap.
pub fn config_file(objects: &[Object], config_map: &str, file: &str) -> String {
    let Object::ConfigMap(map) = find(objects, "ConfigMap", config_map) else {
        unreachable!("find returns a ConfigMap")
    };
    map.data.as_ref().unwrap()[file].clone()
}

/// YAML read back by an independent parser (not the crate's writer).
pub fn parse_yaml(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The pod template of a target Deployment.
pub fn pod_template(deployment: &Deployment) -> &PodTemplateSpec {
    &deployment.spec.as_ref().unwrap().template
}

/// A pod template's labels.
pub fn pod_labels(deployment: &Deployment) -> BTreeMap<String, String> {
    pod_template(deployment)
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

/// `selector` (equality terms `k=v`, comma-separated, as in a Prometheus or Alloy discovery
/// selector) holds for `labels`.
pub fn selector_matches(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    selector.split(',').all(|term| {
        let (key, value) = term.split_once('=').expect("an equality term");
        labels.get(key.trim()).map(String::as_str) == Some(value.trim())
    })
}

/// Every label of `subset` is in `labels` with the same value (a Kubernetes `matchLabels`).
pub fn labels_select(subset: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    subset.iter().all(|(k, v)| labels.get(k) == Some(v))
}
