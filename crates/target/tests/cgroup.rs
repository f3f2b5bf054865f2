//! `cl-target` inside a real cgroup with a small pod's CPU quota (100m): the throttling must show
//! in the request log and in /metrics.

mod common;

use std::process::Command;

use common::{Target, client};
use serde_json::json;

#[test]
fn real_cgroup_small_pod_reports_throttling() {
    let hierarchy = cgroup::Hierarchy::detect().expect("cgroups");
    let name = format!("cl-target-test-{}", std::process::id());
    let limits = cgroup::Limits {
        cpu_quota_us: Some(10_000),
        cpu_period_us: 100_000,
        memory_bytes: Some(1 << 30),
    };
    let pod =
        cgroup::Cgroup::create(&hierarchy, &name, &limits).expect("create cgroup (needs root)");
    let mut command = Command::new(env!("CARGO_BIN_EXE_cl-target"));
    pod.attach_before_exec(&mut command).unwrap();
    let target = Target::start_with(command, &[]);

    let build = target.wait_for(
        |v| v["type"] == "build_info",
        std::time::Duration::from_secs(5),
    );
    assert_eq!(build["kernel_threads"], 1, "{build}");
    assert!(
        build["cgroup"].as_str().is_some_and(|p| p.contains(&name)),
        "{build}"
    );

    // ~0.1 s of CPU: at 10 % of a core it needs about a second of wall time.
    let answer = client()
        .post(target.url("/pi"))
        .json(&json!({"num_samples": 30_000_000, "seed": 5}))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
    let record = &target.wait_for_requests(1)[0];
    let usage = &record["usage"];
    let cpu_ns = usage["process_cpu_ns"].as_u64().unwrap();
    let wall_ns = record["duration_ns"].as_u64().unwrap();
    assert!(
        usage["cgroup_throttled_periods"].as_u64().unwrap() > 0,
        "{record}"
    );
    assert!(
        usage["cgroup_throttled_ns"].as_u64().unwrap() > 0,
        "{record}"
    );
    assert!(
        usage["cgroup_cpu_ns"].as_u64().unwrap() >= cpu_ns / 2,
        "{record}"
    );
    // A 10 % quota stretches wall time to several times the CPU time.
    assert!(
        wall_ns > 4 * cpu_ns,
        "wall {wall_ns} ns for {cpu_ns} ns of CPU"
    );

    let text = target.metrics_text();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    assert!(value("cgroup_cpu_throttled_periods_total") > 0.0);
    assert_eq!(value("cgroup_memory_limit_bytes"), (1u64 << 30) as f64);
    drop(target);
    pod.kill_all().ok();
    pod.remove().expect("remove cgroup");
}
