//! Reading pod and Deployment status: whether a pod is ready, why a rollout is stuck, and how a
//! target container ended. Pure functions over the API objects.

use deploy::Exit;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};

/// SIGKILL: what the kernel's OOM killer sends, and what a 137 exit code stands for.
const SIGKILL: i32 = 9;

/// A pod that can serve: running, Ready, and not being deleted.
pub fn is_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    pod.metadata.deletion_timestamp.is_none()
        && status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
}

/// The Deployment's controller has seen its latest spec.
pub fn is_observed(deployment: &Deployment) -> bool {
    let generation = deployment.metadata.generation.unwrap_or(0);
    let observed = deployment
        .status
        .as_ref()
        .and_then(|s| s.observed_generation)
        .unwrap_or(0);
    observed >= generation
}

/// The controller gave up (`Progressing=False`, e.g. `ProgressDeadlineExceeded`): the message.
pub fn gave_up(deployment: &Deployment) -> Option<String> {
    let conditions = deployment.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|c| c.type_ == "Progressing" && c.status == "False")
        .map(|c| {
            format!(
                "{}: {}",
                c.reason.as_deref().unwrap_or("Progressing=False"),
                c.message.as_deref().unwrap_or("")
            )
        })
}

fn container_statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let status = pod.status.as_ref();
    let init = status.and_then(|s| s.init_container_statuses.as_deref());
    let main = status.and_then(|s| s.container_statuses.as_deref());
    init.into_iter().chain(main).flatten()
}

/// Why `pod` is not serving, naming the container and the kubelet's reason
/// (`ImagePullBackOff`, `CrashLoopBackOff`, `OOMKilled`, `Unschedulable`, …).
pub fn why_not_ready(pod: &Pod) -> String {
    let name = pod.metadata.name.as_deref().unwrap_or("<unnamed>");
    if pod.metadata.deletion_timestamp.is_some() {
        return format!("pod {name} is being deleted");
    }
    for cs in container_statuses(pod) {
        let waiting = cs.state.as_ref().and_then(|s| s.waiting.as_ref());
        let last_oom = cs
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .filter(|t| t.reason.as_deref() == Some("OOMKilled"));
        if let Some(terminated) = last_oom {
            return format!(
                "pod {name}: container {} was OOMKilled (exit code {}) and restarted {} time(s){}",
                cs.name,
                terminated.exit_code,
                cs.restart_count,
                waiting
                    .and_then(|w| w.reason.as_deref())
                    .map(|r| format!(", now {r}"))
                    .unwrap_or_default()
            );
        }
        if let Some(reason) = waiting.and_then(|w| w.reason.as_deref())
            && reason != "ContainerCreating"
            && reason != "PodInitializing"
        {
            let message = waiting.and_then(|w| w.message.as_deref()).unwrap_or("");
            return format!("pod {name}: container {} is {reason}: {message}", cs.name)
                .trim_end_matches([':', ' '])
                .to_owned();
        }
    }
    let status = pod.status.as_ref();
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
    if let Some(unscheduled) = conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    {
        return format!(
            "pod {name} is Pending, {}: {}",
            unscheduled.reason.as_deref().unwrap_or("not scheduled"),
            unscheduled.message.as_deref().unwrap_or("")
        );
    }
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
    let detail = status
        .and_then(|s| s.reason.as_deref().or(s.message.as_deref()))
        .map(|d| format!(" ({d})"))
        .or_else(|| {
            conditions
                .iter()
                .find(|c| c.type_ == "Ready" && c.status != "True")
                .and_then(|c| c.message.as_deref())
                .map(|m| format!(" (not Ready: {m})"))
        })
        .unwrap_or_default();
    format!("pod {name} is {phase}{detail}")
}

/// Why a Deployment has no pod at all (a quota refusing the ReplicaSet's pods shows up here).
pub fn why_no_pod(deployment: Option<&Deployment>) -> String {
    let conditions = deployment
        .and_then(|d| d.status.as_ref())
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[]);
    let problems: Vec<String> = conditions
        .iter()
        .filter(|c| {
            (c.type_ == "ReplicaFailure" && c.status == "True")
                || (c.type_ != "ReplicaFailure" && c.status == "False")
        })
        .map(|c| {
            format!(
                "{} {}: {}",
                c.type_,
                c.reason.as_deref().unwrap_or(""),
                c.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    if problems.is_empty() {
        "no pod was created".to_owned()
    } else {
        format!("no pod was created ({})", problems.join("; "))
    }
}

/// Events as `Warning Failed: message (x3)`, oldest first.
pub fn describe_events(events: &[Event]) -> Vec<String> {
    let mut events: Vec<&Event> = events.iter().collect();
    events.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
    });
    events
        .iter()
        .map(|e| {
            let count = e.count.filter(|&c| c > 1).map(|c| format!(" (x{c})"));
            format!(
                "{} {}: {}{}",
                e.type_.as_deref().unwrap_or("Normal"),
                e.reason.as_deref().unwrap_or(""),
                e.message.as_deref().unwrap_or("").trim_end(),
                count.unwrap_or_default()
            )
        })
        .collect()
}

/// How the target container ended since it had `baseline_restarts` restarts, if it has:
/// a restart or a terminated state, or a pod that failed as a whole (evicted).
pub fn exit_of(pod: &Pod, container: &str, baseline_restarts: i32) -> Option<Exit> {
    let status = pod.status.as_ref()?;
    let cs = status
        .container_statuses
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|cs| cs.name == container);
    if let Some(cs) = cs {
        let terminated = cs
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .or_else(|| {
                (cs.restart_count > baseline_restarts)
                    .then(|| cs.last_state.as_ref()?.terminated.as_ref())
                    .flatten()
            });
        if let Some(t) = terminated {
            return Some(if t.reason.as_deref() == Some("OOMKilled") {
                Exit::Oom { signal: SIGKILL }
            } else if let Some(signal) = t.signal {
                Exit::Crashed {
                    code: None,
                    signal: Some(signal),
                }
            } else if t.exit_code == 0 {
                Exit::Exited { code: 0 }
            } else if t.exit_code > 128 {
                // The runtime reports a death by signal N as exit code 128 + N.
                Exit::Crashed {
                    code: None,
                    signal: Some(t.exit_code - 128),
                }
            } else {
                Exit::Crashed {
                    code: Some(t.exit_code),
                    signal: None,
                }
            });
        }
        if cs.restart_count > baseline_restarts {
            // Restarted, but the kubelet no longer says how the old container ended.
            return Some(Exit::Crashed {
                code: None,
                signal: None,
            });
        }
    }
    (status.phase.as_deref() == Some("Failed")).then_some(Exit::Crashed {
        code: None,
        signal: None,
    })
}

/// The target container's restart count now (the baseline for [`exit_of`]).
pub fn restarts(pod: &Pod, container: &str) -> i32 {
    container_statuses(pod)
        .find(|cs| cs.name == container)
        .map_or(0, |cs| cs.restart_count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "cl-small-abc"},
            "status": status,
        }))
        .unwrap()
    }

    fn target_status(state: serde_json::Value, last: serde_json::Value, restarts: i32) -> Pod {
        pod(json!({
            "phase": "Running",
            "containerStatuses": [{
                "name": "target", "image": "computelocator/target:0.1.0", "imageID": "",
                "ready": false, "restartCount": restarts, "state": state, "lastState": last,
            }],
        }))
    }

    #[test]
    fn an_oom_killed_restart_is_an_oom_exit() {
        let p = target_status(
            json!({"running": {}}),
            json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
            1,
        );
        assert_eq!(exit_of(&p, "target", 0), Some(Exit::Oom { signal: 9 }));
        // Already seen at the baseline: not a new exit.
        assert_eq!(exit_of(&p, "target", 1), None);
        assert!(
            why_not_ready(&p).contains("OOMKilled"),
            "{}",
            why_not_ready(&p)
        );
    }

    #[test]
    fn exit_codes_and_signals_are_told_apart() {
        let ended = |t: serde_json::Value| {
            exit_of(
                &target_status(json!({"terminated": t}), json!({}), 0),
                "target",
                0,
            )
        };
        assert_eq!(
            ended(json!({"exitCode": 139, "reason": "Error"})),
            Some(Exit::Crashed {
                code: None,
                signal: Some(11)
            })
        );
        assert_eq!(
            ended(json!({"exitCode": 3, "reason": "Error"})),
            Some(Exit::Crashed {
                code: Some(3),
                signal: None
            })
        );
        assert_eq!(
            ended(json!({"exitCode": 0, "reason": "Completed"})),
            Some(Exit::Exited { code: 0 })
        );
        let healthy = target_status(json!({"running": {}}), json!({}), 0);
        assert_eq!(exit_of(&healthy, "target", 0), None);
        let evicted = pod(json!({"phase": "Failed", "reason": "Evicted"}));
        assert!(matches!(
            exit_of(&evicted, "target", 0),
            Some(Exit::Crashed { .. })
        ));
    }

    #[test]
    fn stuck_pods_are_explained_by_the_kubelet_reason() {
        let pulling = target_status(
            json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"computelocator/target:9.9.9\""}}),
            json!({}),
            0,
        );
        let why = why_not_ready(&pulling);
        assert!(
            why.contains("cl-small-abc") && why.contains("ImagePullBackOff"),
            "{why}"
        );
        let pending = pod(json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                            "message": "0/1 nodes are available: 1 Insufficient memory."}],
        }));
        let why = why_not_ready(&pending);
        assert!(
            why.contains("Unschedulable") && why.contains("Insufficient memory"),
            "{why}"
        );
    }
}
