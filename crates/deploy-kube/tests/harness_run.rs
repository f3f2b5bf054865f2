//! A whole experiment through the Kubernetes backend: `harness::run` deploys with a
//! [`KubeBackend`] talking to the fake API server, applying the objects `manifests` renders; the
//! pod's ports are a real `cl-target` reached through the backend's relay, its request records
//! come from the followed pod log, and a real Prometheus scrapes the relayed metrics URL. The
//! run directory must hold what a local run writes: every request, aligned with its samples.

mod fake_api;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use dataset::Outcome;
use deploy::Backend;
use deploy_kube::{ClusterAccess, KubeBackend, KubeOptions, ObjectBuilder, Route};
use fake_api::{FakeApiServer, PodFate, RealTarget, Recorded};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;

/// One size; a few fast requests, the `/pi` ones long enough (about 0.6 s) to hold several
/// 200 ms scrapes.
const SPEC: &str = r#"
name = "kube-e2e"
seed = 11
repetitions = 2
warmup = 1
order = "shuffled"
scrape_interval_ms = 200
request_timeout_s = 30

[[sizes]]
name = "small"
cpu_millicores = 500
memory = "1Gi"

[[functions]]
function = "ml"
payload.input = [1000]

[[functions]]
function = "pi"
payload.num_samples = [300000000]
"#;

/// What the CLI's `--backend kube` makes for a run, pointed at `cluster_url` and `route`: each
/// size's Deployment and Service rendered by `manifests` with the run id.
fn kube_backend_factory(
    spec: experiment::Spec,
    cluster_url: String,
    route: Route,
) -> harness::BackendFactory {
    Box::new(move |run: harness::BackendContext<'_>| {
        let run_id = run.run_id;
        let render = manifests::RenderOptions {
            run_id: Some(run_id.to_owned()),
            ..Default::default()
        };
        let rendered: BTreeMap<String, (Deployment, Service)> = spec
            .sizes
            .iter()
            .map(|size| {
                let objects = manifests::target_objects(&spec, size, &render)
                    .unwrap_or_else(|e| panic!("rendering size {}: {e}", size.name));
                (size.name.clone(), (objects.deployment, objects.service))
            })
            .collect();
        // A size without objects gets empty ones, which the backend refuses by name.
        let builder: ObjectBuilder =
            Box::new(move |pod, _labels| rendered.get(&pod.name).cloned().unwrap_or_default());
        let mut options = KubeOptions::new(run_id, builder);
        options.namespace = render.namespace.clone();
        options.first_instance = run.first_instance;
        options.cluster =
            ClusterAccess::Config(Box::new(kube::Config::new(cluster_url.parse().unwrap())));
        options.route = route.clone();
        options.rollout_timeout = Duration::from_secs(10);
        options.teardown_timeout = Duration::from_secs(10);
        options.poll_interval = Duration::from_millis(50);
        Ok(Box::new(KubeBackend::new(options)?) as Box<dyn Backend>)
    })
}

fn position(requests: &[Recorded], found: impl Fn(&Recorded) -> bool) -> Option<usize> {
    requests.iter().position(found)
}

#[test]
fn fake_api_server_harness_run_writes_the_same_run_directory_as_locally() {
    let fake = FakeApiServer::start(PodFate::Ready);
    let target = RealTarget::start(fake.log_feed());
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.toml");
    std::fs::write(&spec_path, SPEC).unwrap();
    let loaded = experiment::load(spec_path.to_str().unwrap(), dir.path()).unwrap();
    let schedule = experiment::schedule(&loaded.spec);

    let result = harness::run(harness::RunOptions {
        backend: harness::BackendChoice::External(kube_backend_factory(
            loaded.spec.clone(),
            fake.url.clone(),
            target.route(),
        )),
        spec: loaded,
        out: dir.path().join("runs"),
        resume: None,
        collector: harness::CollectorChoice::StartPrometheus,
        progress: false,
        interrupted: Arc::new(AtomicBool::new(false)),
    })
    .unwrap();

    // The run directory: the dataset's files, as a local run leaves them (which adds only its
    // targets' `logs/`): no journals, no partial manifest, no Prometheus storage.
    let entries: BTreeSet<String> = std::fs::read_dir(&result.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = [
        dataset::MANIFEST_FILE,
        dataset::REQUESTS_FILE,
        dataset::SAMPLES_FILE,
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(entries, expected);

    let run = dataset::open_run(&result.dir).unwrap();
    let manifest = &run.manifest;
    assert!(
        manifest.notes.iter().any(|n| n == "backend: kube"),
        "{:?}",
        manifest.notes
    );
    assert_eq!(manifest.collector, dataset::Collector::Prometheus);
    assert!(manifest.limits_enforced);
    assert_eq!(manifest.schedule_len, schedule.len() as u64);
    assert_eq!(manifest.counts["ok"], manifest.schedule_len);
    assert!(manifest.finished_at.is_some());

    let scheduled: BTreeSet<u64> = schedule.requests().map(|r| r.seq).collect();
    let recorded: BTreeSet<u64> = run.requests.iter().map(|r| r.request.seq).collect();
    assert_eq!(run.requests.len(), scheduled.len());
    assert_eq!(recorded, scheduled, "every scheduled request exactly once");
    let mut pi_requests = 0;
    for aligned in &run.requests {
        let row = &aligned.request;
        assert_eq!(row.outcome, Outcome::Ok, "{row:?}");
        assert_eq!(
            (row.size.as_str(), row.target.as_str()),
            ("small", "small#0")
        );
        assert!(row.end_ns >= row.start_ns && row.duration_ns > 0, "{row:?}");
        // The target's own accounting, read from the pod log: not the client's clock.
        assert!(
            row.usage.process_cpu_ns.is_some_and(|ns| ns > 0),
            "no exact usage: {row:?}"
        );
        assert!(row.usage.thread_cpu_ns.is_some(), "{row:?}");
        let cpu = &aligned.states["process_cpu_seconds_total"];
        assert!(
            cpu.start.is_some() && cpu.end.is_some(),
            "seq {} lacks its start/end state: {cpu:?}",
            row.seq
        );
        assert!(cpu.end >= cpu.start, "{cpu:?}");
        if row.function.name() == "pi" {
            // ~0.6 s of CPU, about three 200 ms scrapes: the scraped target is the one that
            // did the work, and its samples fall inside the request.
            assert!(cpu.end.unwrap() - cpu.start.unwrap() > 0.3, "{cpu:?}");
            assert!(cpu.mean.is_some() && cpu.count >= 1, "{cpu:?}");
            pi_requests += 1;
        }
    }
    assert_eq!(pi_requests, 3, "one warm-up and two repetitions of /pi");

    let run_id = &manifest.run_id;
    let requests = fake.requests();
    let name = manifests::names::target_name("small", Some(run_id));
    let apply_of = |kind: &str| {
        position(&requests, |r| {
            r.method == "PATCH"
                && r.path.ends_with(&format!("/{kind}/{name}"))
                && r.content_type == "application/apply-patch+yaml"
                && r.body["metadata"]["labels"]["run-id"] == run_id.as_str()
        })
        .unwrap_or_else(|| panic!("no apply of {kind}/{name}"))
    };
    let applied = apply_of("deployments").max(apply_of("services"));
    let selector = format!("app=cl-target,size=small,run-id={run_id}");
    let listed = position(&requests, |r| {
        r.method == "GET"
            && r.path.ends_with("/deployments")
            && r.query.get("labelSelector") == Some(&selector)
    })
    .expect("the teardown lists the run's objects by label");
    let delete_of = |kind: &str| {
        position(&requests, |r| {
            r.method == "DELETE" && r.path.ends_with(&format!("/{kind}/{name}"))
        })
        .unwrap_or_else(|| panic!("no delete of {kind}/{name}"))
    };
    let deleted = delete_of("deployments").min(delete_of("services"));
    assert!(
        applied < listed && listed < deleted,
        "apply ({applied}), list by label ({listed}), delete ({deleted}) out of order"
    );
    assert!(
        requests[deleted..]
            .iter()
            .all(|r| r.method != "PATCH" && !r.path.ends_with("/log")),
        "the deletes come at the end"
    );
    assert_eq!(fake.object_count(), 0, "nothing of the run is left");
}
