//! Labels, ports, images and object names shared by the objects, the Prometheus and Alloy
//! configurations that select them, and the backend that looks them up.

/// The label every component's pods are selected by.
pub const APP_LABEL: &str = "app";
/// The pod size of a target (`small`, `medium`, …).
pub const SIZE_LABEL: &str = "size";
/// Tells runs apart when the backend deploys per-run targets.
pub const RUN_ID_LABEL: &str = "run-id";
/// Only on the static targets (`components/static-targets`): their Services and Deployments
/// select it, so they never pick up a run's pods, which share `app` and `size`.
pub const TARGET_SET_LABEL: &str = "target-set";
pub const STATIC_TARGET_SET: &str = "static";
/// On every object, so `kubectl get all -l app.kubernetes.io/part-of=computelocator` finds them.
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
pub const PART_OF: &str = "computelocator";

/// `app` label values. The target's is the one the aggregator's Loki query selects.
pub const TARGET_APP: &str = "cl-target";
pub const AGGREGATOR_APP: &str = "cl-aggregator";
pub const HARNESS_APP: &str = "harness";
pub const PROMETHEUS_APP: &str = "prometheus";
pub const LOKI_APP: &str = "loki";
pub const ALLOY_APP: &str = "alloy";

/// Container names inside a target pod.
pub const TARGET_CONTAINER: &str = "target";
pub const OBSERVER_CONTAINER: &str = "observer";

/// cl-target's workload API, its own `/metrics`, and the observer's `/metrics`.
pub const TARGET_HTTP_PORT: i32 = 8000;
pub const TARGET_METRICS_PORT: i32 = 9000;
pub const OBSERVER_PORT: i32 = 9100;
/// The name of cl-target's metrics port, which Prometheus's cgroup job selects.
pub const TARGET_METRICS_PORT_NAME: &str = "metrics";
pub const AGGREGATOR_PORT: i32 = 5000;
pub const PROMETHEUS_PORT: i32 = 9090;
pub const LOKI_PORT: i32 = 3100;

/// The `job` label of every target series in Prometheus: the one the aggregator's sample
/// selector names (`collect::DEFAULT_SELECTOR`).
pub const METRICS_JOB: &str = "computelocator";

pub const TARGET_IMAGE: &str = "computelocator/target";
pub const AGGREGATOR_IMAGE: &str = "computelocator/aggregator";
pub const HARNESS_IMAGE: &str = "computelocator/harness";
/// Upstream images, pinned by release tag.
pub const PROMETHEUS_IMAGE: &str = "prom/prometheus:v3.5.0";
pub const LOKI_IMAGE: &str = "grafana/loki:3.5.0";
pub const ALLOY_IMAGE: &str = "grafana/alloy:v1.10.0";

/// Object names of the shared components (Services are reached by these names).
pub const PROMETHEUS: &str = "prometheus";
pub const LOKI: &str = "loki";
pub const ALLOY: &str = "alloy";
pub const AGGREGATOR: &str = "aggregator";
pub const HARNESS: &str = "harness";
/// The ServiceAccount of the target pods (no API access).
pub const TARGET_SERVICE_ACCOUNT: &str = "target";
/// Where the harness Job writes its run directories.
pub const HARNESS_RUNS_CLAIM: &str = "harness-runs";

/// The Deployment and Service name of a size's target: `target-<size>`, or
/// `target-<size>-<run id, lowercased>` for a run's own targets.
pub fn target_name(size: &str, run_id: Option<&str>) -> String {
    match run_id {
        Some(run_id) => format!("target-{size}-{}", run_id.to_ascii_lowercase()),
        None => format!("target-{size}"),
    }
}

/// A DNS-1035 label (what Service names must be): 1–63 lowercase letters, digits or '-',
/// starting with a letter and ending with a letter or digit.
pub(crate) fn check_dns1035_label(name: &str) -> Result<(), String> {
    let valid = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a DNS-1035 label (1 to 63 lowercase letters, digits or '-', starting with a letter, not ending with '-')"
        ))
    }
}

/// A label value: at most 63 characters, alphanumeric at both ends, `-`, `_` or `.` inside.
pub(crate) fn check_label_value(value: &str) -> Result<(), String> {
    let inner_ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let ends_ok = value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if value.len() <= 63 && inner_ok && ends_ok {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not a label value (at most 63 letters, digits, '-', '_' or '.', alphanumeric at both ends)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1035_labels() {
        assert!(check_dns1035_label("target-small").is_ok());
        assert!(check_dns1035_label("target-2xl").is_ok());
        for bad in ["", "2xl", "Small", "a-", "a_b", &"a".repeat(64)] {
            assert!(check_dns1035_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn label_values() {
        assert!(check_label_value("20240601T120000Z-ab12").is_ok());
        for bad in ["", "-a", "a-", "a/b", &"a".repeat(64)] {
            assert!(check_label_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn target_names_carry_the_run_lowercased() {
        assert_eq!(target_name("small", None), "target-small");
        assert_eq!(
            target_name("small", Some("20240601T120000Z-AB12")),
            "target-small-20240601t120000z-ab12"
        );
    }
}
