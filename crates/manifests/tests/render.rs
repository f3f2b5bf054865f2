//! The rendered objects of the built-in `sized-sweep` spec: snapshots of every object, the
//! committed `k8s/` tree, the restricted-profile lint, Guaranteed QoS, run-scoped targets, bad
//! input, and schema validation with the pinned `kubernetes-validate` (scripts/validate-k8s).

use std::path::{Path, PathBuf};
use std::process::Command;

use experiment::{Memory, SizeSpec, Spec};
use manifests::{ManifestError, Object, RenderOptions, restricted_violations};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sized_sweep() -> Spec {
    experiment::load("sized-sweep", &workspace())
        .expect("the built-in sized-sweep spec")
        .spec
}

fn base_stack() -> Vec<Object> {
    manifests::stack(&sized_sweep(), &RenderOptions::default()).unwrap()
}

fn run_options() -> RenderOptions {
    RenderOptions {
        run_id: Some("20240601T120000Z-ab12".to_owned()),
        ..RenderOptions::default()
    }
}

#[test]
fn every_object_matches_its_snapshot() {
    for component in manifests::components(&sized_sweep(), &RenderOptions::default()).unwrap() {
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
    assert!(files.len() >= 12, "{}", files.len());
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
        let objects = manifests::stack(&sized_sweep(), &options).unwrap();
        let pods: Vec<&Object> = objects.iter().filter(|o| o.pod_spec().is_some()).collect();
        // 3 targets + Prometheus, Loki, Alloy, aggregator + the harness Job.
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

    let mut objects = base_stack();
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
    for object in base_stack() {
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
    let name = "target-small-20240601t120000z-ab12";
    assert_eq!(objects.deployment.metadata.name.as_deref(), Some(name));
    assert_eq!(objects.service.metadata.name.as_deref(), Some(name));
    let selector = objects.service.spec.unwrap().selector.unwrap();
    assert_eq!(selector["run-id"], "20240601T120000Z-ab12");
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
