//! The rendered objects of the built-in `sized-sweep` spec: snapshots of every object, the
//! committed `k8s/` tree, the restricted-profile lint, Guaranteed QoS, run-scoped and static
//! targets and what selects them, the harness's RBAC against what the kube backend asks, bad
//! input, and schema validation with the pinned `kubernetes-validate` (scripts/validate-k8s).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use experiment::{Memory, SizeSpec};
use manifests::{Component, ManifestError, Object, RenderOptions, restricted_violations};

use common::{
    RUN_ID, base_stack, config_file, find, labels_select, pod_labels, run_options,
    selector_matches, sized_sweep, workspace,
};

fn static_targets(options: &RenderOptions) -> Vec<Object> {
    manifests::static_targets(&sized_sweep(), options)
        .unwrap()
        .objects
}

/// The base's components and the static targets' component, as the tree holds them.
fn every_component() -> Vec<Component> {
    let spec = sized_sweep();
    let options = RenderOptions::default();
    let mut components = manifests::components(&spec, &options).unwrap();
    components.push(manifests::static_targets(&spec, &options).unwrap());
    components
}

#[test]
fn every_object_matches_its_snapshot() {
    for component in every_component() {
        for object in component.objects {
            let name = format!(
                "{}__{}__{}",
                component.file.trim_end_matches(".yaml"),
                object.kind(),
                object.name()
            );
            insta::assert_snapshot!(name, manifests::to_yaml(&[object]).unwrap());
        }
    }
}

#[test]
fn the_committed_k8s_tree_is_up_to_date() {
    let files = manifests::render_kustomize(&sized_sweep(), &RenderOptions::default()).unwrap();
    assert!(files.len() >= 13, "{}", files.len());
    let rendered: BTreeSet<PathBuf> = files.iter().map(|f| PathBuf::from(&f.path)).collect();
    for committed in yaml_files_under(&workspace().join("k8s")) {
        assert!(
            rendered.contains(&committed),
            "k8s/{} is not rendered any more; delete it",
            committed.display()
        );
    }
    for file in files {
        let path = workspace().join("k8s").join(&file.path);
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "k8s/{}: {e}; run `cargo run -p manifests --example render`",
                file.path
            )
        });
        assert!(
            committed == file.contents,
            "k8s/{} is stale; run `cargo run -p manifests --example render`",
            file.path
        );
    }
}

/// The `.yaml` files under `dir`, relative to it.
fn yaml_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                found.push(path.strip_prefix(dir).unwrap().to_owned());
            }
        }
    }
    found
}

#[test]
fn rendering_is_deterministic_and_write_kustomize_writes_what_render_gives() {
    let spec = sized_sweep();
    let options = RenderOptions::default();
    let first = manifests::render_kustomize(&spec, &options).unwrap();
    assert_eq!(first, manifests::render_kustomize(&spec, &options).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let written = manifests::write_kustomize(dir.path(), &spec, &options).unwrap();
    assert_eq!(written.len(), first.len());
    for file in &first {
        let on_disk = std::fs::read_to_string(dir.path().join(&file.path)).unwrap();
        assert_eq!(on_disk, file.contents, "{}", file.path);
    }
}

#[test]
fn every_pod_template_meets_the_restricted_profile() {
    for options in [RenderOptions::default(), run_options()] {
        let mut objects = manifests::stack(&sized_sweep(), &options).unwrap();
        objects.extend(static_targets(&options));
        let pods: Vec<&Object> = objects.iter().filter(|o| o.pod_spec().is_some()).collect();
        // Prometheus, Loki, Alloy, aggregator + the harness Job, and 3 static or run targets.
        assert_eq!(pods.len(), 8);
        for object in pods {
            let violations = restricted_violations(object.pod_spec().unwrap());
            assert!(
                violations.is_empty(),
                "{} {}: {violations:?}",
                object.kind(),
                object.name()
            );
        }
    }
}

#[test]
fn the_lint_names_each_violation_and_its_container() {
    use k8s_openapi::api::core::v1::{HostPathVolumeSource, Volume};

    let mut objects = static_targets(&RenderOptions::default());
    let target = objects
        .iter_mut()
        .find(|o| o.kind() == "Deployment" && o.name() == "target-small")
        .unwrap();
    let pod = target.pod_spec_mut().unwrap();
    pod.host_pid = Some(true);
    pod.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: "host".to_owned(),
        host_path: Some(HostPathVolumeSource {
            path: "/var/log".to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    });
    let observer = &mut pod.containers[1];
    let context = observer.security_context.as_mut().unwrap();
    context.allow_privilege_escalation = None;
    context.read_only_root_filesystem = Some(false);
    context.capabilities.as_mut().unwrap().drop = Some(vec!["NET_RAW".to_owned()]);
    context.capabilities.as_mut().unwrap().add = Some(vec!["SYS_PTRACE".to_owned()]);
    context.seccomp_profile = None;
    observer.resources.as_mut().unwrap().limits = None;
    // The pod-level profile would still cover the observer; the target keeps its own.
    pod.security_context.as_mut().unwrap().seccomp_profile = None;

    let found: Vec<String> = restricted_violations(pod)
        .iter()
        .map(ToString::to_string)
        .collect();
    let expected = [
        "pod: hostPID must not be true",
        "pod: volume `host` is of type hostPath, which the restricted profile forbids",
        "container `observer`: securityContext.allowPrivilegeEscalation must be false",
        "container `observer`: securityContext.capabilities.drop must contain ALL",
        "container `observer`: securityContext.capabilities.add must not contain SYS_PTRACE",
        "container `observer`: seccompProfile.type must be RuntimeDefault or Localhost (here or at pod level)",
        "container `observer`: securityContext.readOnlyRootFilesystem must be true",
        "container `observer`: resources.limits.cpu must be set",
        "container `observer`: resources.limits.memory must be set",
    ];
    assert_eq!(found, expected);
}

#[test]
fn every_container_is_guaranteed_qos_and_pulls_a_pinned_image() {
    for object in base_stack()
        .into_iter()
        .chain(static_targets(&RenderOptions::default()))
    {
        let Some(pod) = object.pod_spec() else {
            continue;
        };
        for container in &pod.containers {
            let at = format!("{} {} / {}", object.kind(), object.name(), container.name);
            let resources = container.resources.as_ref().unwrap();
            assert_eq!(resources.requests, resources.limits, "{at}");
            let image = container.image.as_deref().unwrap();
            let (_, tag) = image.rsplit_once(':').unwrap();
            assert_ne!(tag, "latest", "{at}");
            assert_eq!(
                container.image_pull_policy.as_deref(),
                Some("IfNotPresent"),
                "{at}"
            );
            if image.starts_with("computelocator/") {
                assert_eq!(tag, env!("CARGO_PKG_VERSION"), "{at}");
            }
        }
    }
}

#[test]
fn targets_take_their_limits_from_the_spec() {
    let spec = sized_sweep();
    for size in &spec.sizes {
        let objects = manifests::target_objects(&spec, size, &RenderOptions::default()).unwrap();
        let pod = objects.deployment.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.share_process_namespace, Some(true));
        let limits = pod.containers[0]
            .resources
            .as_ref()
            .unwrap()
            .limits
            .clone()
            .unwrap();
        assert_eq!(limits["cpu"].0, format!("{}m", size.cpu_millicores));
        assert_eq!(limits["memory"].0, size.memory.as_str());
    }
}

#[test]
fn a_run_gets_its_own_names_labels_and_selectors() {
    let spec = sized_sweep();
    let options = run_options();
    let objects = manifests::target_objects(&spec, &spec.sizes[0], &options).unwrap();
    let name = format!("target-small-{}", RUN_ID.to_ascii_lowercase());
    let name = name.as_str();
    assert_eq!(objects.deployment.metadata.name.as_deref(), Some(name));
    assert_eq!(objects.service.metadata.name.as_deref(), Some(name));
    let selector = objects.service.spec.unwrap().selector.unwrap();
    assert_eq!(selector["run-id"], RUN_ID);
    assert!(!selector.contains_key("target-set"), "{selector:?}");
    assert_eq!(selector["size"], "small");
    let deployment = objects.deployment.spec.unwrap();
    assert_eq!(
        deployment.selector.match_labels.unwrap(),
        selector,
        "the Deployment and the Service select the same pods"
    );
    let template_labels = deployment.template.metadata.unwrap().labels.unwrap();
    assert!(
        selector
            .iter()
            .all(|(k, v)| template_labels.get(k) == Some(v))
    );
}

fn size(name: &str) -> SizeSpec {
    SizeSpec {
        name: name.to_owned(),
        cpu_millicores: 100,
        memory: Memory::parse("1Gi").unwrap(),
        price_per_core_second: 0.0,
        price_per_gib_second: 0.0,
    }
}

#[test]
fn a_size_that_cannot_name_a_service_is_refused_naming_it() {
    // A valid DNS label for the spec, but `target-<name>` exceeds a Service name's 63 characters.
    let long = "x".repeat(60);
    let mut spec = sized_sweep();
    spec.sizes.push(size(&long));
    spec.validate().expect("the spec itself accepts the size");
    let err = manifests::stack(&spec, &RenderOptions::default()).unwrap_err();
    assert!(
        matches!(&err, ManifestError::InvalidSize { size, .. } if *size == long),
        "{err}"
    );
    assert!(err.to_string().contains(&long), "{err}");
    assert!(err.to_string().contains("DNS-1035"), "{err}");
}

#[test]
fn an_invalid_spec_size_is_refused_with_its_field() {
    let mut spec = sized_sweep();
    spec.sizes[1] = size("Medium_2");
    let err = manifests::stack(&spec, &RenderOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ManifestError::Spec(_)), "{text}");
    assert!(
        text.contains("sizes[1].name") && text.contains("Medium_2"),
        "{text}"
    );
}

#[test]
fn bad_options_are_refused_naming_the_field() {
    let spec = sized_sweep();
    let cases = [
        (
            RenderOptions {
                namespace: "Compute_Locator".to_owned(),
                ..RenderOptions::default()
            },
            "namespace `Compute_Locator`",
        ),
        (
            RenderOptions {
                image_tag: "latest".to_owned(),
                ..RenderOptions::default()
            },
            "image tag `latest`",
        ),
        (
            RenderOptions {
                run_id: Some("run/1".to_owned()),
                ..RenderOptions::default()
            },
            "run id `run/1`",
        ),
    ];
    for (options, expected) in cases {
        let err = manifests::stack(&spec, &options).unwrap_err();
        assert!(err.to_string().starts_with(expected), "{err}");
        let err = manifests::target_objects(&spec, &spec.sizes[0], &options).unwrap_err();
        assert!(err.to_string().starts_with(expected), "{err}");
    }
}

#[test]
fn another_namespace_reaches_every_object_and_the_discovery_configs() {
    let options = RenderOptions {
        namespace: "experiments".to_owned(),
        ..RenderOptions::default()
    };
    let objects = manifests::stack(&sized_sweep(), &options).unwrap();
    for object in &objects {
        let expected = if object.kind() == "Namespace" {
            object.name()
        } else {
            object.metadata().namespace.as_deref().unwrap()
        };
        assert_eq!(
            expected,
            "experiments",
            "{} {}",
            object.kind(),
            object.name()
        );
    }
    let yaml = manifests::to_yaml(&objects).unwrap();
    assert!(!yaml.contains("namespace: computelocator"));
    assert!(
        yaml.contains("names:\n          - experiments\n"),
        "Prometheus discovers in it"
    );
    assert!(
        yaml.contains("- --namespace\n        - experiments\n"),
        "the harness deploys in it"
    );
    assert!(
        yaml.contains("names = [\"experiments\"]"),
        "Alloy discovers in the namespace"
    );
}

/// Runs scripts/validate-k8s (the pinned kubernetes-validate, strict, Kubernetes 1.33) on paths.
fn validate(paths: &[&Path]) -> std::process::Output {
    Command::new(workspace().join("scripts/validate-k8s"))
        .args(paths)
        .output()
        .expect("running scripts/validate-k8s")
}

#[test]
fn the_committed_tree_and_both_overlays_pass_schema_validation() {
    let dir = tempfile::tempdir().unwrap();
    let base: Vec<serde_json::Value> = base_stack()
        .iter()
        .map(|object| object.to_json().unwrap())
        .collect();
    let mut files = Vec::new();
    for overlay in manifests::overlays() {
        let mut objects = base.clone();
        overlay.apply(&mut objects).unwrap();
        let service = objects
            .iter()
            .find(|o| o["kind"] == "Service" && o["metadata"]["name"] == "aggregator")
            .unwrap();
        assert_eq!(service["spec"]["type"], "NodePort", "{}", overlay.name);
        // Each overlay rendered as kustomize would, as JSON (a YAML subset) for the validator.
        let path = dir.path().join(format!("{}.yaml", overlay.name));
        let stream: Vec<String> = objects.iter().map(|o| o.to_string()).collect();
        std::fs::write(&path, stream.join("\n---\n")).unwrap();
        files.push(path);
    }
    let committed = workspace().join("k8s");
    let mut paths: Vec<&Path> = vec![&committed];
    paths.extend(files.iter().map(PathBuf::as_path));
    let output = validate(&paths);
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn schema_validation_rejects_an_unknown_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut object = base_stack()[0].to_json().unwrap();
    object["spec"] = serde_json::json!({"replicas": 1});
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, object.to_string()).unwrap();
    let output = validate(&[&path]);
    assert!(
        !output.status.success(),
        "a Namespace with spec.replicas passed"
    );
}

#[test]
fn an_overlay_patch_without_its_object_is_an_error() {
    let overlay = &manifests::overlays()[0];
    let mut objects: Vec<serde_json::Value> = Vec::new();
    let err = overlay.apply(&mut objects).unwrap_err();
    assert!(err.to_string().contains("Service aggregator"), "{err}");
}

#[test]
fn the_base_holds_the_shared_stack_and_the_static_targets_are_an_opt_in_component() {
    for object in base_stack() {
        if !matches!(object.kind(), "Deployment" | "Service") {
            continue;
        }
        let labels = object.metadata().labels.clone().unwrap_or_default();
        assert_ne!(
            labels.get("app").map(String::as_str),
            Some("cl-target"),
            "{} {} is a target in the base",
            object.kind(),
            object.name()
        );
    }
    let files = manifests::render_kustomize(&sized_sweep(), &RenderOptions::default()).unwrap();
    let kustomization = |path: &str| {
        let file = files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path}"));
        common::parse_yaml(&file.contents)
    };
    let base = kustomization("base/kustomization.yaml");
    assert_eq!(base["kind"], "Kustomization");
    assert!(
        !base["resources"]
            .as_array()
            .unwrap()
            .contains(&"targets.yaml".into()),
        "{base}"
    );
    for overlay in ["kind", "minikube"] {
        let overlay = kustomization(&format!("overlays/{overlay}/kustomization.yaml"));
        assert_eq!(overlay["resources"], serde_json::json!(["../../base"]));
        assert!(overlay.get("components").is_none(), "opt-in: {overlay}");
    }
    let component = kustomization(&format!(
        "{}/kustomization.yaml",
        manifests::STATIC_TARGETS_COMPONENT
    ));
    assert_eq!(component["apiVersion"], "kustomize.config.k8s.io/v1alpha1");
    assert_eq!(component["kind"], "Component");
    assert_eq!(component["resources"], serde_json::json!(["targets.yaml"]));

    let targets = static_targets(&RenderOptions::default());
    let names: Vec<(&str, &str)> = targets.iter().map(|o| (o.kind(), o.name())).collect();
    let mut expected = Vec::new();
    for size in &sized_sweep().sizes {
        let name = format!("target-{}", size.name);
        expected.push(("Deployment", name.clone()));
        expected.push(("Service", name));
    }
    let expected: Vec<(&str, &str)> = expected.iter().map(|(k, n)| (*k, n.as_str())).collect();
    assert_eq!(names, expected);
}

/// A size's target pod labels and its Service's selector, static or of a run.
fn target_labels_and_service_selector(
    options: &RenderOptions,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let spec = sized_sweep();
    let objects = manifests::target_objects(&spec, &spec.sizes[0], options).unwrap();
    let selector = objects.service.spec.unwrap().selector.unwrap();
    (pod_labels(&objects.deployment), selector)
}

#[test]
fn a_runs_targets_are_selected_like_the_static_ones_but_never_by_a_static_service() {
    let objects = base_stack();
    let alloy = config_file(&objects, "alloy-config", "config.alloy");
    let quoted = |key: &str| -> Vec<String> {
        regex::Regex::new(&format!(r#"(?m)^\s*{key}\s*=\s*\[?"([^"]*)""#))
            .unwrap()
            .captures_iter(&alloy)
            .map(|c| c[1].to_owned())
            .collect()
    };
    let alloy_selectors = quoted("label");
    assert_eq!(alloy_selectors.len(), 1, "{alloy}");
    assert_eq!(quoted("names"), ["computelocator"]);
    let Object::NetworkPolicy(policy) = find(&objects, "NetworkPolicy", "targets") else {
        unreachable!()
    };
    let policy_selects = policy
        .spec
        .as_ref()
        .unwrap()
        .pod_selector
        .clone()
        .unwrap()
        .match_labels
        .unwrap();

    let (static_pod, static_service) =
        target_labels_and_service_selector(&RenderOptions::default());
    let (run_pod, run_service) = target_labels_and_service_selector(&run_options());
    for (what, pod) in [("static", &static_pod), ("run", &run_pod)] {
        assert!(
            selector_matches(&alloy_selectors[0], pod),
            "Alloy misses the {what} target"
        );
        assert!(
            labels_select(&policy_selects, pod),
            "the policy misses the {what} target"
        );
    }
    assert_eq!(run_pod.get("run-id").map(String::as_str), Some(RUN_ID));
    assert_eq!(
        static_pod.get("target-set").map(String::as_str),
        Some("static")
    );
    assert!(labels_select(&static_service, &static_pod));
    assert!(labels_select(&run_service, &run_pod));
    assert!(
        !labels_select(&static_service, &run_pod),
        "the static Service would send traffic to a run's pod"
    );
    assert!(!labels_select(&run_service, &static_pod));
}

#[test]
fn the_targets_admit_the_harness_and_prometheus_on_the_ports_they_read_and_reach_nothing() {
    let objects = base_stack();
    let Object::NetworkPolicy(policy) = find(&objects, "NetworkPolicy", "targets") else {
        unreachable!()
    };
    let spec = policy.spec.as_ref().unwrap();
    assert!(
        spec.policy_types
            .as_ref()
            .unwrap()
            .contains(&"Egress".to_owned())
    );
    assert!(spec.egress.is_none(), "targets reach nothing");
    let mut admitted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in spec.ingress.iter().flatten() {
        let ports: Vec<String> = rule
            .ports
            .iter()
            .flatten()
            .map(|p| format!("{:?}", p.port.as_ref().unwrap()))
            .collect();
        for peer in rule.from.iter().flatten() {
            let app = peer
                .pod_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap()["app"]
                .clone();
            admitted
                .entry(app)
                .or_default()
                .extend(ports.iter().cloned());
        }
    }
    let ports = |ports: &[i32]| -> BTreeSet<String> {
        ports
            .iter()
            .map(|&p| {
                format!(
                    "{:?}",
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p)
                )
            })
            .collect()
    };
    // The harness drives the workload API and its own Prometheus scrapes cl-target's
    // /metrics; the in-cluster Prometheus scrapes the observer and cl-target's cgroup series.
    let expected = BTreeMap::from([
        ("harness".to_owned(), ports(&[8000, 9000])),
        ("prometheus".to_owned(), ports(&[9000, 9100])),
    ]);
    assert_eq!(admitted, expected);
}

/// `(verb, group, resource[/subresource])` of every `Permission::new`/`Permission::sub` in the
/// `REQUIRED` list of crates/deploy-kube/src/preflight.rs: what the kube backend asks the API
/// server it may do before deploying (SelfSubjectAccessReviews).
fn permissions_the_kube_backend_asks_for() -> BTreeSet<(String, String, String)> {
    let path = workspace().join("crates/deploy-kube/src/preflight.rs");
    let source = std::fs::read_to_string(&path).unwrap();
    let start = source
        .find("pub const REQUIRED")
        .expect("the REQUIRED list");
    let list = &source[start..start + source[start..].find("];").unwrap()];
    let plain = regex::Regex::new(r#"Permission::new\("(\w+)", "([\w.]*)", "(\w+)"\)"#).unwrap();
    let sub = regex::Regex::new(r#"Permission::sub\("(\w+)", "(\w+)", "(\w+)"\)"#).unwrap();
    let mut asked: BTreeSet<(String, String, String)> = plain
        .captures_iter(list)
        .map(|c| (c[1].to_owned(), c[2].to_owned(), c[3].to_owned()))
        .collect();
    asked.extend(sub.captures_iter(list).map(|c| {
        (
            c[1].to_owned(),
            String::new(),
            format!("{}/{}", &c[2], &c[3]),
        )
    }));
    let entries = list.matches("Permission::").count();
    assert_eq!(
        asked.len(),
        entries,
        "every entry of {} parsed",
        path.display()
    );
    asked
}

#[test]
fn the_harness_role_grants_exactly_what_the_kube_backend_asks_for() {
    let mut needed = permissions_the_kube_backend_asks_for();
    assert!(needed.len() >= 10, "{needed:?}");
    // The Job runs in the cluster, where the backend reaches targets through Service DNS and
    // leaves port-forward out of its preflight.
    needed.retain(|(_, _, resource)| resource != "pods/portforward");
    // Listed without asking first: limit ranges and quotas (to check the sizes fit), events
    // (to name why a pod is stuck).
    for resource in ["limitranges", "resourcequotas", "events"] {
        needed.insert(("list".to_owned(), String::new(), resource.to_owned()));
    }

    let objects = base_stack();
    let Object::Role(role) = find(&objects, "Role", "harness") else {
        unreachable!()
    };
    let mut granted = BTreeSet::new();
    for rule in role.rules.iter().flatten() {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    granted.insert((verb.clone(), group.clone(), resource.clone()));
                }
            }
        }
        assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());
    }
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, beyond what is needed {extra:?}"
    );
}
