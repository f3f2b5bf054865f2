//! The configuration files of Prometheus, Loki and Alloy, as the ConfigMaps carry them.

use serde_json::json;

use crate::names::{
    APP_LABEL, LOKI, LOKI_PORT, METRICS_JOB, OBSERVER_CONTAINER, RUN_ID_LABEL, SIZE_LABEL,
    TARGET_APP, TARGET_CONTAINER, TARGET_METRICS_PORT_NAME,
};
use crate::yaml::value_to_yaml;

/// The series cl-target's own `/metrics` contributes (the rest come from the observer).
const CGROUP_METRICS: &str = "cgroup_.*";
/// The cgroup job's target label for the size, renamed to `size` on its series (see
/// [`prometheus_config`]).
const CGROUP_TARGET_SIZE_LABEL: &str = "target_size";

/// A Prometheus duration for milliseconds: `1s`, `1500ms`.
fn prometheus_duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// `__meta_kubernetes_pod_label_<name>` with the characters Prometheus replaces.
fn pod_label_meta(label: &str) -> String {
    format!(
        "__meta_kubernetes_pod_label_{}",
        label.replace(['-', '.', '/'], "_")
    )
}

/// Where each target pod's series come from. Two scrape jobs per pod, split by metric name so
/// no series name is served twice:
///
/// - `computelocator` scrapes the observer sidecar (found through the pod's `prometheus.io/*`
///   annotations): the target's process gauges, sampled from outside its CPU budget. It drops
///   any `cgroup_*` series, so an observer that can see the target's cgroup does not duplicate
///   the job below.
/// - `computelocator-cgroup` scrapes the target container's own `/metrics` (its `metrics`
///   port) and keeps only the `cgroup_*` series: quota, memory limit, throttling. From the
///   sidecar the target's cgroup is in another cgroup namespace; only the target itself sees
///   its limits.
///
/// Every series is labelled as the aggregator reads it: `job="computelocator"` (what its sample
/// selector names), `size`, `instance` (= the pod name, as in Loki), `pod`, `pod_ip`, and
/// `run_id` for a run's own targets; so `/endpoints` finds `cgroup_cpu_quota_cores` and
/// `cgroup_memory_limit_bytes` under the `instance` of the pod it lists. The cgroup job's
/// *targets* carry the size as `target_size` and the series get it back as `size` through
/// metric relabelling: `/endpoints` lists every active target that has a `size` label, so each
/// pod is listed once (by its observer job) rather than twice, and the two jobs' `up` series
/// never collide.
pub(crate) fn prometheus_config(namespace: &str, scrape_interval_ms: u64) -> String {
    let interval = prometheus_duration(scrape_interval_ms);
    let discovery = json!([{
        "role": "pod",
        "namespaces": {"names": [namespace]},
        "selectors": [{"role": "pod", "label": format!("{APP_LABEL}={TARGET_APP}")}],
    }]);
    let copy = |source: &str, target: &str| json!({"action": "replace", "source_labels": [source], "target_label": target});
    let scrape_opted_in = json!({
        "action": "keep",
        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
        "regex": "true",
    });
    // The labels both jobs give their series; `size_label` is where the target's size goes.
    let target_labels = |size_label: &str| {
        vec![
            copy(&pod_label_meta(SIZE_LABEL), size_label),
            copy("__meta_kubernetes_pod_name", "pod"),
            copy("__meta_kubernetes_pod_name", "instance"),
            copy("__meta_kubernetes_pod_ip", "pod_ip"),
            copy(&pod_label_meta(RUN_ID_LABEL), "run_id"),
        ]
    };
    let mut observer_relabelling = vec![
        scrape_opted_in.clone(),
        // One target per pod: the observer's container, whatever ports others declare.
        json!({
            "action": "keep",
            "source_labels": ["__meta_kubernetes_pod_container_name"],
            "regex": OBSERVER_CONTAINER,
        }),
        json!({
            "action": "replace",
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
            "regex": "(.+)",
            "target_label": "__metrics_path__",
        }),
        json!({
            "action": "replace",
            "source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
            "regex": "([^:]+)(?::\\d+)?;(\\d+)",
            "replacement": "$1:$2",
            "target_label": "__address__",
        }),
    ];
    observer_relabelling.extend(target_labels(SIZE_LABEL));
    let mut cgroup_relabelling = vec![
        scrape_opted_in,
        // One target per pod: the target container's metrics port (discovery already set
        // `__address__` to the pod IP and that port).
        json!({
            "action": "keep",
            "source_labels": [
                "__meta_kubernetes_pod_container_name",
                "__meta_kubernetes_pod_container_port_name",
            ],
            "regex": format!("{TARGET_CONTAINER};{TARGET_METRICS_PORT_NAME}"),
        }),
        // Job names are unique per scrape config; the series share the observer job's.
        json!({"action": "replace", "target_label": "job", "replacement": METRICS_JOB}),
    ];
    cgroup_relabelling.extend(target_labels(CGROUP_TARGET_SIZE_LABEL));
    let config = json!({
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": "15s",
        },
        "scrape_configs": [
            {
                "job_name": METRICS_JOB,
                "kubernetes_sd_configs": discovery,
                "relabel_configs": observer_relabelling,
                "metric_relabel_configs": [{
                    "action": "drop",
                    "source_labels": ["__name__"],
                    "regex": CGROUP_METRICS,
                }],
            },
            {
                "job_name": format!("{METRICS_JOB}-cgroup"),
                "kubernetes_sd_configs": discovery,
                "metrics_path": "/metrics",
                "relabel_configs": cgroup_relabelling,
                "metric_relabel_configs": [
                    {
                        "action": "keep",
                        "source_labels": ["__name__"],
                        "regex": CGROUP_METRICS,
                    },
                    copy(CGROUP_TARGET_SIZE_LABEL, SIZE_LABEL),
                    {"action": "labeldrop", "regex": CGROUP_TARGET_SIZE_LABEL},
                ],
            },
        ],
    });
    value_to_yaml(&config)
}

/// Loki as one process (`-target=all`) keeping its chunks and index on the pod's emptyDir.
pub(crate) fn loki_config() -> String {
    let config = json!({
        "auth_enabled": false,
        "server": {"http_listen_port": LOKI_PORT, "grpc_listen_port": 9095, "log_level": "warn"},
        "common": {
            "instance_addr": "127.0.0.1",
            "path_prefix": "/loki",
            "replication_factor": 1,
            "ring": {"kvstore": {"store": "inmemory"}},
            "storage": {"filesystem": {
                "chunks_directory": "/loki/chunks",
                "rules_directory": "/loki/rules",
            }},
        },
        "schema_config": {"configs": [{
            "from": "2024-01-01",
            "store": "tsdb",
            "object_store": "filesystem",
            "schema": "v13",
            "index": {"prefix": "index_", "period": "24h"},
        }]},
        "analytics": {"reporting_enabled": false},
    });
    value_to_yaml(&config)
}

/// Alloy tails the target containers' stdout (the JSON request records) through the
/// Kubernetes API — no hostPath, no DaemonSet — and pushes it to Loki with the stream labels
/// the aggregator queries: `app`, `size`, `instance` (= the pod name), plus `pod` and `run_id`.
pub(crate) fn alloy_config(namespace: &str) -> String {
    let rules: String = [
        (pod_label_meta("app"), "app"),
        (pod_label_meta(SIZE_LABEL), "size"),
        ("__meta_kubernetes_pod_name".to_owned(), "instance"),
        ("__meta_kubernetes_pod_name".to_owned(), "pod"),
        (pod_label_meta(RUN_ID_LABEL), "run_id"),
    ]
    .iter()
    .map(|(source, target)| {
        format!(
            "  rule {{\n    source_labels = [\"{source}\"]\n    target_label  = \"{target}\"\n  }}\n"
        )
    })
    .collect();
    format!(
        r#"// Tails the {TARGET_APP} containers' logs through the Kubernetes API and ships them to Loki.
discovery.kubernetes "targets" {{
  role = "pod"
  namespaces {{
    names = ["{namespace}"]
  }}
  selectors {{
    role  = "pod"
    label = "app={TARGET_APP}"
  }}
}}

discovery.relabel "targets" {{
  targets = discovery.kubernetes.targets.targets
  rule {{
    source_labels = ["__meta_kubernetes_pod_container_name"]
    regex         = "{TARGET_CONTAINER}"
    action        = "keep"
  }}
{rules}}}

loki.source.kubernetes "targets" {{
  targets    = discovery.relabel.targets.output
  forward_to = [loki.write.local.receiver]
}}

loki.write "local" {{
  endpoint {{
    url = "http://{LOKI}:{LOKI_PORT}/loki/api/v1/push"
  }}
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_meta_labels() {
        assert_eq!(prometheus_duration(1000), "1s");
        assert_eq!(prometheus_duration(1500), "1500ms");
        assert_eq!(
            pod_label_meta("run-id"),
            "__meta_kubernetes_pod_label_run_id"
        );
    }

    #[test]
    fn the_alloy_configuration_has_balanced_braces() {
        let config = alloy_config("computelocator");
        assert_eq!(config.matches('{').count(), config.matches('}').count());
        assert!(config.contains("names = [\"computelocator\"]"));
    }
}
