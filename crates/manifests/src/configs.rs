//! The configuration files of Prometheus, Loki and Alloy, as the ConfigMaps carry them.

use serde_json::json;

use crate::names::{
    LOKI, LOKI_PORT, OBSERVER_CONTAINER, RUN_ID_LABEL, SIZE_LABEL, TARGET_APP, TARGET_CONTAINER,
};
use crate::yaml::value_to_yaml;

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

/// Scrapes every target pod's observer (found through the pod's `prometheus.io/*`
/// annotations) at the spec's interval, labelled as the aggregator expects: `size`, `pod`,
/// `instance` (= the pod name, as in Loki), `pod_ip`, and `run_id` for a run's own targets.
pub(crate) fn prometheus_config(namespace: &str, scrape_interval_ms: u64) -> String {
    let interval = prometheus_duration(scrape_interval_ms);
    let copy = |source: &str, target: &str| json!({"action": "replace", "source_labels": [source], "target_label": target});
    let config = json!({
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": "15s",
        },
        "scrape_configs": [{
            "job_name": "cl-observer",
            "kubernetes_sd_configs": [{
                "role": "pod",
                "namespaces": {"names": [namespace]},
                "selectors": [{"role": "pod", "label": format!("app={TARGET_APP}")}],
            }],
            "relabel_configs": [
                {
                    "action": "keep",
                    "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                    "regex": "true",
                },
                // One target per pod: the observer's container, whatever ports others declare.
                {
                    "action": "keep",
                    "source_labels": ["__meta_kubernetes_pod_container_name"],
                    "regex": OBSERVER_CONTAINER,
                },
                {
                    "action": "replace",
                    "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
                    "regex": "(.+)",
                    "target_label": "__metrics_path__",
                },
                {
                    "action": "replace",
                    "source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
                    "regex": "([^:]+)(?::\\d+)?;(\\d+)",
                    "replacement": "$1:$2",
                    "target_label": "__address__",
                },
                copy(&pod_label_meta(SIZE_LABEL), "size"),
                copy("__meta_kubernetes_pod_name", "pod"),
                copy("__meta_kubernetes_pod_name", "instance"),
                copy("__meta_kubernetes_pod_ip", "pod_ip"),
                copy(&pod_label_meta(RUN_ID_LABEL), "run_id"),
            ],
        }],
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
