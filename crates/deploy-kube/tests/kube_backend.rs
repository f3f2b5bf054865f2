//! The backend's control flow (preflight, apply, rollout wait, failure reports, teardown,
//! restart, OOM detection) against a fake API server: no Kubernetes API server can run on the
//! machines these tests run on (see `fake_api`). Where a deploy must succeed, the pod's ports
//! are a real `cl-target` on loopback, reached through the backend's relay (`DirectAddress`),
//! and the pod log the backend follows is that target's real stdout.

mod fake_api;

use std::time::Duration;

use deploy::{Backend, DeployError, Exit, PodSize};
use deploy_kube::{
    ClusterAccess, KubeBackend, KubeError, KubeOptions, Route, RunLabels, kube_error,
};
use fake_api::{FakeApiServer, PodFate, RealTarget, Recorded};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde_json::json;

const RUN_ID: &str = "run-7";

fn small() -> PodSize {
    PodSize::new("small", 100, 1 << 30)
}

/// A minimal target Deployment and Service, as a manifests builder would make them.
fn objects(size: &PodSize, labels: &RunLabels) -> (Deployment, Service) {
    let name = format!("cl-{}-{}", labels.run_id, size.name);
    let selector = json!({"app": labels.app, "size": labels.size, "run-id": labels.run_id});
    let deployment = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {"containers": [{
                    "name": "target",
                    "image": "computelocator/target:0.1.0",
                    "ports": [{"name": "api", "containerPort": 8000}, {"name": "metrics", "containerPort": 9000}],
                    "resources": {
                        "limits": {"cpu": format!("{}m", size.cpu_millicores), "memory": size.memory_bytes.to_string()},
                    },
                }]},
            },
        },
    }))
    .unwrap();
    let service = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [
            {"name": "api", "port": 80, "targetPort": "api"},
            {"name": "metrics", "port": 9000, "targetPort": 9000},
        ]},
    }))
    .unwrap();
    (deployment, service)
}

fn options(url: &str, route: Route) -> KubeOptions {
    let mut options = KubeOptions::new(RUN_ID, Box::new(objects));
    options.cluster = ClusterAccess::Config(Box::new(kube::Config::new(url.parse().unwrap())));
    options.route = route;
    options.rollout_timeout = Duration::from_secs(2);
    options.teardown_timeout = Duration::from_secs(5);
    options.poll_interval = Duration::from_millis(50);
    options
}

fn with(requests: &[Recorded], method: &str, path_part: &str) -> Vec<Recorded> {
    requests
        .iter()
        .filter(|r| r.method == method && r.path.contains(path_part))
        .cloned()
        .collect()
}

#[test]
fn fake_api_server_deploy_applies_server_side_relays_to_the_target_and_follows_its_log() {
    let fake = FakeApiServer::start(PodFate::Ready);
    let target = RealTarget::start(fake.log_feed());
    let backend = KubeBackend::new(options(&fake.url, target.route())).unwrap();
    let mut deployed = backend.deploy(&small()).unwrap();

    let requests = fake.requests();
    let applies: Vec<Recorded> = requests
        .iter()
        .filter(|r| r.method == "PATCH")
        .cloned()
        .collect();
    assert_eq!(
        applies.len(),
        2,
        "one apply for the deployment, one for the service"
    );
    for apply in &applies {
        assert_eq!(
            apply.content_type, "application/apply-patch+yaml",
            "{apply:?}"
        );
        assert_eq!(
            apply.query.get("fieldManager").map(String::as_str),
            Some("computelocator")
        );
        assert_eq!(apply.query.get("force").map(String::as_str), Some("true"));
        let labels = &apply.body["metadata"]["labels"];
        assert_eq!(
            labels,
            &json!({"app": "cl-target", "size": "small", "run-id": RUN_ID})
        );
        assert_eq!(apply.body["metadata"]["namespace"], "computelocator");
    }
    assert_eq!(applies[0].body["kind"], "Deployment");
    assert_eq!(applies[0].body["apiVersion"], "apps/v1");
    assert_eq!(
        applies[0].body["spec"]["template"]["metadata"]["labels"]["run-id"],
        RUN_ID
    );
    assert_eq!(applies[1].body["kind"], "Service");

    assert_eq!(deployed.instance(), "small#0");
    assert_eq!(deployed.pid(), None);
    assert_eq!(deployed.build_info()["type"], "build_info");
    // The URL is the backend's relay, not the target's own port.
    assert!(
        !deployed
            .api_url()
            .ends_with(&format!(":{}", target.api.port()))
    );
    let metrics = deploy::http::get(
        &format!("{}/metrics", deployed.metrics_url()),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(metrics.status, 200);

    let body = json!({"num_samples": 1000, "seed": 3});
    let answer = deploy::http::post_json(
        &format!("{}/pi", deployed.api_url()),
        &body,
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body_text());
    let record = deployed
        .next_record(Duration::from_secs(10))
        .expect("a request record from the pod log");
    assert_eq!(record["type"], "prev_request_history");
    assert_eq!(record["endpoint"], "/pi");
    assert_eq!(record["status"], 200);
    assert_eq!(deployed.next_record(Duration::from_millis(200)), None);
    assert_eq!(deployed.check_exit(), None);

    deployed.shutdown().unwrap();
    let requests = fake.requests();
    let deletes = with(&requests, "DELETE", "/");
    assert!(
        deletes
            .iter()
            .any(|r| r.path.ends_with("/deployments/cl-run-7-small")),
        "{deletes:?}"
    );
    assert!(
        deletes
            .iter()
            .any(|r| r.path.ends_with("/services/cl-run-7-small")),
        "{deletes:?}"
    );
    let lists = with(&requests, "GET", "/deployments");
    assert!(
        lists
            .iter()
            .any(|r| r.query.get("labelSelector").map(String::as_str)
                == Some("app=cl-target,size=small,run-id=run-7")),
        "shutdown finds the objects by their labels: {lists:?}"
    );
    assert_eq!(
        fake.object_count(),
        0,
        "deployment, service and pod are gone"
    );
}

#[test]
fn fake_api_server_image_pull_backoff_names_the_pod_reason_and_events_and_still_tears_down() {
    let fake = FakeApiServer::start(PodFate::ImagePullBackOff);
    let backend = KubeBackend::new(options(&fake.url, Route::PortForward)).unwrap();
    let err = backend
        .deploy(&small())
        .err()
        .expect("the rollout must fail");
    let DeployError::Startup {
        instance, reason, ..
    } = &err
    else {
        panic!("expected a start-up error, got {err:?}");
    };
    assert_eq!(instance, "small#0");
    for needle in [
        "cl-run-7-small",
        "cl-run-7-small-7d9f8-00001",
        "ImagePullBackOff",
        "Back-off pulling image \"computelocator/target:0.1.0\"",
        "Warning Failed: Failed to pull image",
        "not found",
    ] {
        assert!(reason.contains(needle), "{needle:?} missing in: {reason}");
    }
    let requests = fake.requests();
    assert!(
        with(&requests, "DELETE", "/deployments/cl-run-7-small").len() == 1,
        "teardown after the failure"
    );
    assert!(with(&requests, "DELETE", "/services/cl-run-7-small").len() == 1);
    assert_eq!(fake.object_count(), 0);
}

#[test]
fn fake_api_server_unschedulable_pod_names_the_missing_resource() {
    let fake = FakeApiServer::start(PodFate::Unschedulable);
    let backend = KubeBackend::new(options(&fake.url, Route::PortForward)).unwrap();
    let err = backend
        .deploy(&small())
        .err()
        .expect("the rollout must fail");
    let text = err.to_string();
    for needle in [
        "Pending",
        "Unschedulable",
        "Insufficient memory",
        "Warning FailedScheduling",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in: {text}");
    }
    assert_eq!(fake.object_count(), 0, "teardown still happened");
}

#[test]
fn fake_api_server_missing_rbac_is_named_by_verb_and_resource() {
    let fake = FakeApiServer::start(PodFate::Ready);
    fake.deny("create pods/portforward");
    fake.deny("delete apps/deployments");
    let backend = KubeBackend::new(options(&fake.url, Route::PortForward)).unwrap();
    let err = backend.preflight(&[small()]).unwrap_err();
    let Some(KubeError::Forbidden { missing, namespace }) = kube_error(&err) else {
        panic!("expected Forbidden, got {err:?}");
    };
    assert_eq!(namespace, "computelocator");
    assert_eq!(
        missing,
        &["delete apps/deployments", "create pods/portforward"]
    );
    let text = err.to_string();
    assert!(
        text.contains("cannot delete apps/deployments, cannot create pods/portforward"),
        "{text}"
    );
    let reviews = with(&fake.requests(), "POST", "selfsubjectaccessreviews");
    assert!(
        reviews
            .iter()
            .all(|r| r.body["spec"]["resourceAttributes"]["namespace"] == "computelocator")
    );
}

#[test]
fn fake_api_server_preflight_reports_the_node_and_names_a_size_over_the_quota() {
    let fake = FakeApiServer::start(PodFate::Ready);
    let backend = KubeBackend::new(options(&fake.url, Route::PortForward)).unwrap();
    let report = backend.preflight(&[small()]).unwrap();
    assert_eq!((report.host_cores, report.host_memory_bytes), (4, 8 << 30));
    assert!(report.limits_enforced);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    fake.add_quota(json!({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "compute", "namespace": "computelocator"},
        "spec": {"hard": {"limits.memory": "4Gi"}},
        "status": {"hard": {"limits.memory": "4Gi"}, "used": {"limits.memory": "0"}},
    }));
    let large = PodSize::new("large", 500, 4 << 30);
    let err = backend.preflight(&[small(), large]).unwrap_err();
    let DeployError::InvalidSize { name, reason } = &err else {
        panic!("expected InvalidSize, got {err:?}");
    };
    assert_eq!(name, "large");
    assert!(
        reason.contains("compute") && reason.contains("limits.memory 5Gi"),
        "{reason}"
    );
    assert_eq!(fake.object_count(), 0, "preflight applies nothing");
}

#[test]
fn fake_api_server_missing_namespace_is_named() {
    let fake = FakeApiServer::start(PodFate::Ready);
    fake.remove_namespace("computelocator");
    let backend = KubeBackend::new(options(&fake.url, Route::PortForward)).unwrap();
    let err = backend.preflight(&[small()]).unwrap_err();
    assert!(
        matches!(kube_error(&err), Some(KubeError::NoNamespace { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("\"computelocator\" does not exist"),
        "{err}"
    );
}

#[test]
fn unreachable_api_server_is_an_error_naming_its_url() {
    // A port that was free a moment ago: nothing listens there.
    let url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let backend = KubeBackend::new(options(&url, Route::PortForward)).unwrap();
    let err = backend.preflight(&[small()]).unwrap_err();
    assert!(
        matches!(kube_error(&err), Some(KubeError::Unreachable { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(&url), "{text}");
    assert!(text.contains("does not answer"), "{text}");
    // Deploying fails the same way instead of hanging or panicking.
    let err = backend
        .deploy(&small())
        .err()
        .expect("no server, no deploy");
    assert!(err.to_string().contains(&url), "{err}");
}

#[test]
fn fake_api_server_oom_killed_container_is_reported_as_oom_and_drop_tears_down() {
    let fake = FakeApiServer::start(PodFate::Ready);
    let target = RealTarget::start(fake.log_feed());
    let backend = KubeBackend::new(options(&fake.url, target.route())).unwrap();
    let mut deployed = backend.deploy(&small()).unwrap();
    assert_eq!(deployed.check_exit(), None);
    let pod = fake.pod_names().pop().unwrap();
    fake.set_container_status(&pod, json!({
        "name": "target", "image": "computelocator/target:0.1.0", "imageID": "", "ready": false,
        "restartCount": 1,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
            "startedAt": "2025-06-01T10:00:00Z", "finishedAt": "2025-06-01T10:01:00Z"}},
    }));
    assert_eq!(
        deployed.wait_for_exit(Duration::from_secs(10)),
        Some(Exit::Oom { signal: 9 })
    );
    assert_eq!(
        deployed.check_exit(),
        Some(Exit::Oom { signal: 9 }),
        "the same answer again"
    );
    drop(deployed);
    assert_eq!(
        fake.object_count(),
        0,
        "dropping the target deleted its objects"
    );
}

#[test]
fn fake_api_server_restart_deletes_the_pod_and_waits_for_its_replacement() {
    let fake = FakeApiServer::start(PodFate::Ready);
    let target = RealTarget::start(fake.log_feed());
    let backend = KubeBackend::new(options(&fake.url, target.route())).unwrap();
    let mut deployed = backend.deploy(&small()).unwrap();
    let first = fake.pod_names();
    deployed.restart().unwrap();
    assert_eq!(deployed.instance(), "small#1");
    let second = fake.pod_names();
    assert_eq!(second.len(), 1);
    assert_ne!(first, second, "a new pod replaced the deleted one");
    let deleted = with(&fake.requests(), "DELETE", &format!("/pods/{}", first[0]));
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].body["gracePeriodSeconds"], 0);
    assert_eq!(
        deployed.check_exit(),
        None,
        "our own deletion is not a crash"
    );
    let answer = deploy::http::get(
        &format!("{}/health", deployed.api_url()),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(answer.status, 200);
    deployed.shutdown().unwrap();
    assert_eq!(fake.object_count(), 0);
}

#[test]
fn fake_api_server_delete_run_removes_every_size_of_the_run() {
    let fake = FakeApiServer::start(PodFate::Ready);
    let target = RealTarget::start(fake.log_feed());
    let backend = KubeBackend::new(options(&fake.url, target.route())).unwrap();
    let a = backend.deploy(&small()).unwrap();
    let b = backend
        .deploy(&PodSize::new("medium", 250, 2 << 30))
        .unwrap();
    assert_eq!(fake.object_count(), 6);
    assert_eq!(
        backend.delete_run().unwrap(),
        4,
        "two deployments and two services"
    );
    assert_eq!(fake.object_count(), 0);
    let lists = with(&fake.requests(), "GET", "/services");
    assert!(
        lists
            .iter()
            .any(|r| r.query.get("labelSelector").map(String::as_str) == Some("run-id=run-7"))
    );
    // Their own teardown finds nothing left and does not fail.
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

/// What one cluster saw of a teardown path.
struct Teardown {
    deletes: Vec<Recorded>,
    objects_left: usize,
}

/// Every way a size's objects can be torn down: `small` shut down, `medium` dropped (on a cluster
/// whose pods run), and a deploy that fails (on one whose pods never pull their image).
fn tear_down_every_way(keep: bool) -> (Teardown, Teardown) {
    let running = FakeApiServer::start(PodFate::Ready);
    let target = RealTarget::start(running.log_feed());
    let mut ready_options = options(&running.url, target.route());
    ready_options.keep = keep;
    let backend = KubeBackend::new(ready_options).unwrap();
    backend.deploy(&small()).unwrap().shutdown().unwrap();
    drop(
        backend
            .deploy(&PodSize::new("medium", 250, 2 << 30))
            .unwrap(),
    );
    let served = Teardown {
        deletes: with(&running.requests(), "DELETE", "/"),
        objects_left: running.object_count(),
    };

    let stuck = FakeApiServer::start(PodFate::ImagePullBackOff);
    let mut failing_options = options(&stuck.url, Route::PortForward);
    failing_options.keep = keep;
    let failing = KubeBackend::new(failing_options).unwrap();
    assert!(failing.deploy(&small()).is_err(), "the rollout must fail");
    let failed = Teardown {
        deletes: with(&stuck.requests(), "DELETE", "/"),
        objects_left: stuck.object_count(),
    };
    if keep {
        // The explicit delete of the whole run still deletes what was kept.
        assert_eq!(backend.delete_run().unwrap(), 4);
        assert_eq!(running.object_count(), 0);
        assert_eq!(failing.delete_run().unwrap(), 2);
        assert_eq!(stuck.object_count(), 0);
    }
    (served, failed)
}

#[test]
fn fake_api_server_keep_leaves_the_objects_of_shutdown_drop_and_a_failed_deploy() {
    let (served, failed) = tear_down_every_way(true);
    assert!(served.deletes.is_empty(), "{:?}", served.deletes);
    assert_eq!(
        served.objects_left, 6,
        "two deployments, two services, two pods"
    );
    assert!(failed.deletes.is_empty(), "{:?}", failed.deletes);
    assert_eq!(failed.objects_left, 3, "deployment, service and stuck pod");
}

#[test]
fn fake_api_server_without_keep_shutdown_drop_and_a_failed_deploy_delete() {
    let (served, failed) = tear_down_every_way(false);
    let deleted: Vec<&str> = served.deletes.iter().map(|r| r.path.as_str()).collect();
    for name in ["cl-run-7-small", "cl-run-7-medium"] {
        for kind in ["deployments", "services"] {
            assert!(
                deleted
                    .iter()
                    .any(|p| p.ends_with(&format!("/{kind}/{name}"))),
                "{kind}/{name} not deleted: {deleted:?}"
            );
        }
    }
    assert_eq!(served.objects_left, 0);
    assert_eq!(failed.deletes.len(), 2, "{:?}", failed.deletes);
    assert_eq!(failed.objects_left, 0);
}
