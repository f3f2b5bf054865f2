//! The rendered Prometheus configuration, evaluated the way Prometheus evaluates it: pod
//! discovery over a target pod as the Deployment templates it, the relabelling of each scrape
//! job, and the metric relabelling of the series each port serves (the real metric names of
//! `probe::METRICS`). Checks that each series is scraped once, that a run's targets are found
//! like the static ones, and that the cgroup gauges `cl-aggregator`'s live source reads
//! (`cgroup_cpu_quota_cores`, `cgroup_memory_limit_bytes`, by `instance`, for targets it lists
//! by `size`; crates/aggregator/src/live.rs) are there under the labels it reads.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use regex::Regex;
use serde_json::Value;

use common::{RUN_ID, base_stack, config_file, pod_labels, pod_template, selector_matches};
use manifests::RenderOptions;

type Labels = BTreeMap<String, String>;

/// What the aggregator's live source reads: the sample selector's job
/// (`collect::DEFAULT_SELECTOR`), the target labels, and the two limit gauges.
const AGGREGATOR_JOB: &str = "computelocator";
const SAMPLE_NAMES: &str = "process_.+|cgroup_.+";
const LIMIT_GAUGES: [&str; 2] = ["cgroup_cpu_quota_cores", "cgroup_memory_limit_bytes"];

const POD_IP: &str = "10.244.0.7";

/// A Prometheus regex: RE2 syntax, anchored at both ends.
fn prometheus_regex(rule: &Value, key: &str, default: &str) -> Regex {
    let pattern = rule[key].as_str().unwrap_or(default);
    Regex::new(&format!("^(?:{pattern})$")).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

/// One `relabel_configs` / `metric_relabel_configs` list applied to `labels`; `None` when a
/// `keep` or `drop` rule drops them. An action this evaluator does not know fails the test.
fn relabel(mut labels: Labels, rules: &Value) -> Option<Labels> {
    for rule in rules.as_array().into_iter().flatten() {
        let action = rule["action"].as_str().unwrap_or("replace");
        let regex = prometheus_regex(rule, "regex", "(.*)");
        let separator = rule["separator"].as_str().unwrap_or(";");
        let value: Vec<&str> = rule["source_labels"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|name| {
                labels
                    .get(name.as_str().unwrap())
                    .map_or("", String::as_str)
            })
            .collect();
        let value = value.join(separator);
        match action {
            "keep" if !regex.is_match(&value) => return None,
            "drop" if regex.is_match(&value) => return None,
            "keep" | "drop" => {}
            "replace" => {
                let Some(captures) = regex.captures(&value) else {
                    continue;
                };
                let mut replaced = String::new();
                captures.expand(rule["replacement"].as_str().unwrap_or("$1"), &mut replaced);
                let target = rule["target_label"]
                    .as_str()
                    .expect("a target_label")
                    .to_owned();
                if replaced.is_empty() {
                    labels.remove(&target);
                } else {
                    labels.insert(target, replaced);
                }
            }
            "labeldrop" => labels.retain(|name, _| !regex.is_match(name)),
            other => panic!("relabel action {other} is not evaluated here"),
        }
    }
    Some(labels)
}

/// Prometheus's label-name sanitising of discovered Kubernetes labels and annotations.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A pod of `deployment`, running in `namespace`.
struct Pod<'a> {
    name: String,
    namespace: String,
    deployment: &'a Deployment,
}

impl<'a> Pod<'a> {
    fn of(deployment: &'a Deployment) -> Self {
        Pod {
            name: format!(
                "{}-7d4b9c6f5-x2kq8",
                deployment.metadata.name.as_deref().unwrap()
            ),
            namespace: deployment.metadata.namespace.clone().unwrap(),
            deployment,
        }
    }

    /// What `kubernetes_sd_configs` role `pod` discovers: one target per container port, with
    /// the pod's metadata.
    fn discovered(&self) -> Vec<Labels> {
        let template = pod_template(self.deployment);
        let mut pod_meta = Labels::from([
            ("__meta_kubernetes_namespace".into(), self.namespace.clone()),
            ("__meta_kubernetes_pod_name".into(), self.name.clone()),
            ("__meta_kubernetes_pod_ip".into(), POD_IP.into()),
        ]);
        for (name, value) in pod_labels(self.deployment) {
            let name = sanitize(&name);
            pod_meta.insert(format!("__meta_kubernetes_pod_label_{name}"), value);
            pod_meta.insert(
                format!("__meta_kubernetes_pod_labelpresent_{name}"),
                "true".into(),
            );
        }
        let annotations = template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.clone());
        for (name, value) in annotations.unwrap_or_default() {
            let name = sanitize(&name);
            pod_meta.insert(format!("__meta_kubernetes_pod_annotation_{name}"), value);
            pod_meta.insert(
                format!("__meta_kubernetes_pod_annotationpresent_{name}"),
                "true".into(),
            );
        }
        let mut targets = Vec::new();
        for container in &template.spec.as_ref().unwrap().containers {
            for port in container.ports.iter().flatten() {
                let mut labels = pod_meta.clone();
                labels.extend([
                    (
                        "__address__".into(),
                        format!("{POD_IP}:{}", port.container_port),
                    ),
                    (
                        "__meta_kubernetes_pod_container_name".into(),
                        container.name.clone(),
                    ),
                    (
                        "__meta_kubernetes_pod_container_init".into(),
                        "false".into(),
                    ),
                    (
                        "__meta_kubernetes_pod_container_port_name".into(),
                        port.name.clone().unwrap_or_default(),
                    ),
                    (
                        "__meta_kubernetes_pod_container_port_number".into(),
                        port.container_port.to_string(),
                    ),
                    (
                        "__meta_kubernetes_pod_container_port_protocol".into(),
                        port.protocol.clone().unwrap_or_default(),
                    ),
                ]);
                targets.push(labels);
            }
        }
        targets
    }

    /// The metric names the container listening on `port` serves: both export the probe's
    /// gauges and the `process` info series (probe::Exporter), and each its own counters. The
    /// observer exports the `cgroup_*` names too (NaN while it cannot read the target's
    /// cgroup), so they must not reach Prometheus twice.
    fn served_names(&self, port: &str) -> Vec<String> {
        let own: &[&str] = match port.parse::<i32>().unwrap() {
            manifests::names::OBSERVER_PORT => {
                &["cl_observer_target_up", "cl_observer_targets_found_total"]
            }
            manifests::names::TARGET_METRICS_PORT => &[
                "cl_target_requests_total",
                "cl_target_pending_requests",
                "cl_target_build_info",
            ],
            other => panic!("port {other} serves no metrics"),
        };
        probe::METRICS
            .iter()
            .map(|m| m.name)
            .chain(["process"])
            .chain(own.iter().copied())
            .map(str::to_owned)
            .collect()
    }
}

/// A scrape target after relabelling.
#[derive(Debug)]
struct Target {
    job_name: String,
    /// `host:port` and path it is scraped at.
    address: String,
    path: String,
    /// Its labels, as `/api/v1/targets` lists them and every series of it carries.
    labels: Labels,
    metric_relabelling: Value,
}

/// The targets `job` (one entry of `scrape_configs`) finds in `pod`.
fn scrape_targets(job: &Value, pod: &Pod) -> Vec<Target> {
    let job_name = job["job_name"].as_str().unwrap().to_owned();
    let mut found = Vec::new();
    for sd in job["kubernetes_sd_configs"].as_array().unwrap() {
        assert_eq!(sd["role"], "pod", "{job_name}");
        let namespaces: Vec<&str> = sd["namespaces"]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let selected = sd["selectors"].as_array().into_iter().flatten().all(|s| {
            s["role"] != "pod"
                || selector_matches(s["label"].as_str().unwrap(), &pod_labels(pod.deployment))
        });
        if !namespaces.contains(&pod.namespace.as_str()) || !selected {
            continue;
        }
        for discovered in pod.discovered() {
            let mut labels = discovered;
            labels.insert("job".into(), job_name.clone());
            labels.insert(
                "__metrics_path__".into(),
                job["metrics_path"].as_str().unwrap_or("/metrics").into(),
            );
            let Some(mut labels) = relabel(labels, &job["relabel_configs"]) else {
                continue;
            };
            let address = labels["__address__"].clone();
            let path = labels["__metrics_path__"].clone();
            labels
                .entry("instance".into())
                .or_insert_with(|| address.clone());
            labels.retain(|name, _| !name.starts_with("__"));
            found.push(Target {
                job_name: job_name.clone(),
                address,
                path,
                labels,
                metric_relabelling: job["metric_relabel_configs"].clone(),
            });
        }
    }
    found
}

impl Target {
    /// The series this target stores: every name its port serves, metric-relabelled, plus the
    /// synthetic `up` (which metric relabelling does not touch).
    fn series(&self, pod: &Pod) -> Vec<Labels> {
        let port = self.address.rsplit_once(':').unwrap().1;
        let mut series: Vec<Labels> = pod
            .served_names(port)
            .into_iter()
            .filter_map(|name| {
                let mut labels = self.labels.clone();
                labels.insert("__name__".into(), name);
                relabel(labels, &self.metric_relabelling)
            })
            .collect();
        let mut up = self.labels.clone();
        up.insert("__name__".into(), "up".into());
        series.push(up);
        series
    }
}

fn prometheus_jobs() -> Vec<Value> {
    let text = config_file(&base_stack(), "prometheus-config", "prometheus.yml");
    let config = common::parse_yaml(&text);
    config["scrape_configs"].as_array().unwrap().clone()
}

/// A static target and a run's, of different sizes.
fn target_deployments() -> Vec<(Deployment, Option<&'static str>)> {
    let spec = common::sized_sweep();
    let static_small =
        manifests::target_objects(&spec, &spec.sizes[0], &RenderOptions::default()).unwrap();
    let run_medium =
        manifests::target_objects(&spec, &spec.sizes[1], &common::run_options()).unwrap();
    vec![
        (static_small.deployment, None),
        (run_medium.deployment, Some(RUN_ID)),
    ]
}

#[test]
fn each_target_pod_is_scraped_at_its_observer_and_at_its_own_metrics_port() {
    let jobs = prometheus_jobs();
    for (deployment, _) in target_deployments() {
        let pod = Pod::of(&deployment);
        let mut scraped: Vec<(String, String)> = jobs
            .iter()
            .flat_map(|job| scrape_targets(job, &pod))
            .map(|t| (t.address, t.path))
            .collect();
        scraped.sort();
        assert_eq!(
            scraped,
            [
                (format!("{POD_IP}:9000"), "/metrics".to_owned()),
                (format!("{POD_IP}:9100"), "/metrics".to_owned()),
            ],
            "{}",
            pod.name
        );
    }
}

#[test]
fn no_series_is_stored_twice_and_every_exported_name_is_stored_once_per_pod() {
    let jobs = prometheus_jobs();
    for (deployment, _) in target_deployments() {
        let pod = Pod::of(&deployment);
        let targets: Vec<Target> = jobs
            .iter()
            .flat_map(|job| scrape_targets(job, &pod))
            .collect();
        let mut seen = BTreeSet::new();
        let mut names = BTreeMap::<String, usize>::new();
        for target in &targets {
            for series in target.series(&pod) {
                let name = series["__name__"].clone();
                assert!(seen.insert(series), "{name} of {} stored twice", pod.name);
                if name != "up" {
                    *names.entry(name).or_default() += 1;
                }
            }
        }
        for metric in probe::METRICS {
            assert_eq!(
                names.get(metric.name),
                Some(&1),
                "{} of {}",
                metric.name,
                pod.name
            );
        }
    }
}

#[test]
fn the_live_aggregator_finds_each_pod_once_and_its_limit_gauges_by_instance() {
    let jobs = prometheus_jobs();
    let sample_names = Regex::new(&format!("^(?:{SAMPLE_NAMES})$")).unwrap();
    for (deployment, run_id) in target_deployments() {
        let pod = Pod::of(&deployment);
        let size = pod_labels(&deployment)["size"].clone();
        let targets: Vec<Target> = jobs
            .iter()
            .flat_map(|job| scrape_targets(job, &pod))
            .collect();

        // `/endpoints` lists the active targets that have a `size` label, named by `instance`.
        let listed: Vec<&Target> = targets
            .iter()
            .filter(|t| t.labels.contains_key("size"))
            .collect();
        assert_eq!(
            listed.len(),
            1,
            "{} listed {} times",
            pod.name,
            listed.len()
        );
        let endpoint = &listed[0].labels;
        assert_eq!(endpoint["size"], size);
        assert_eq!(
            endpoint["instance"], pod.name,
            "instance is the pod name, as in Loki"
        );
        assert_eq!(endpoint.get("run_id").map(String::as_str), run_id);

        // Its limits: one series of each gauge with that instance, from the target container.
        for gauge in LIMIT_GAUGES {
            let found: Vec<(Labels, &Target)> = targets
                .iter()
                .flat_map(|t| t.series(&pod).into_iter().map(move |s| (s, t)))
                .filter(|(s, _)| s["__name__"] == gauge)
                .collect();
            assert_eq!(found.len(), 1, "{gauge} of {}", pod.name);
            let (series, target) = &found[0];
            assert_eq!(series["instance"], endpoint["instance"], "{gauge}");
            assert_eq!(series["size"], size, "{gauge}");
            assert_eq!(
                target.address,
                format!("{POD_IP}:9000"),
                "{gauge} comes from cl-target"
            );
        }

        // `/history` samples: every process and cgroup series matches the live source's
        // selector and carries the target labels its rows are keyed by.
        for target in &targets {
            for series in target.series(&pod) {
                if !sample_names.is_match(&series["__name__"]) {
                    continue;
                }
                assert_eq!(
                    series["job"], AGGREGATOR_JOB,
                    "{series:?} ({})",
                    target.job_name
                );
                assert_eq!(series["size"], size, "{series:?}");
                assert_eq!(series["instance"], pod.name, "{series:?}");
                assert_eq!(
                    series.get("run_id").map(String::as_str),
                    run_id,
                    "{series:?}"
                );
            }
        }
    }
}

#[test]
fn a_pod_without_the_target_labels_or_opted_out_is_not_scraped() {
    let jobs = prometheus_jobs();
    // A target's Deployment with its pod template's metadata changed by `change`.
    let changed = |change: &dyn Fn(&mut ObjectMeta)| {
        let (mut deployment, _) = target_deployments().remove(1);
        change(
            deployment
                .spec
                .as_mut()
                .unwrap()
                .template
                .metadata
                .as_mut()
                .unwrap(),
        );
        deployment
    };
    let opted_out = changed(&|meta| {
        meta.annotations
            .as_mut()
            .unwrap()
            .insert("prometheus.io/scrape".into(), "false".into());
    });
    assert!(
        jobs.iter()
            .all(|job| scrape_targets(job, &Pod::of(&opted_out)).is_empty())
    );

    let other_app = changed(&|meta| {
        meta.labels
            .as_mut()
            .unwrap()
            .insert("app".into(), "cl-aggregator".into());
    });
    assert!(
        jobs.iter()
            .all(|job| scrape_targets(job, &Pod::of(&other_app)).is_empty())
    );
}
