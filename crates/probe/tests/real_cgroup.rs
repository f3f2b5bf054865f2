//! Probing a process inside a real cgroup on this machine (root required).

use std::process::Command;
use std::time::Duration;

use cgroup::{Cgroup, Hierarchy, Limits};
use probe::ProcessProbe;

#[test]
fn real_cgroup_sample_reports_quota_throttling_and_limit() {
    let h = Hierarchy::detect().unwrap();
    let limits = Limits {
        cpu_quota_us: Some(10_000),
        cpu_period_us: 100_000,
        memory_bytes: Some(256 << 20),
    };
    let name = format!("probe-test-{}", std::process::id());
    let cg = Cgroup::create(&h, &name, &limits).unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "while :; do :; done"]);
    cg.attach_before_exec(&mut cmd).unwrap();
    let mut child = cmd.spawn().unwrap();

    let sampled = (|| {
        let mut probe = ProcessProbe::open(child.id() as i32, Some(&h))?;
        std::thread::sleep(Duration::from_millis(1200));
        let sample = probe.sample()?;
        Ok::<_, probe::Error>((sample, probe.cgroup_path().map(str::to_string)))
    })();
    cg.kill_all().unwrap();
    child.wait().unwrap();
    let expected_path = cg.cgroup_path().to_string();
    cg.remove().unwrap();
    let (sample, path) = sampled.unwrap();

    assert_eq!(path.as_deref(), Some(expected_path.as_str()));
    let counters = sample.cgroup.expect("cgroup counters");
    assert_eq!(counters.cpu_quota_us, Some(10_000));
    assert!(counters.nr_throttled.unwrap() > 0, "{counters:?}");
    // Throttled to 10 % of a core.
    assert!(sample.cpu_percent < 25.0, "{}", sample.cpu_percent);

    let metrics: std::collections::HashMap<_, _> = sample.metrics().into_iter().collect();
    assert_eq!(metrics["cgroup_cpu_quota_cores"], 0.1);
    assert_eq!(metrics["cgroup_cpu_quota_seconds"], 0.01);
    assert_eq!(metrics["cgroup_memory_limit_bytes"], (256u64 << 20) as f64);
    assert!(metrics["cgroup_cpu_throttled_seconds_total"] > 0.0);
    assert!(metrics.len() >= 28, "{}", metrics.len());
    // Memory percent is relative to the cgroup's limit, which is below MemTotal here.
    let expected = 100.0 * sample.memory_rss_bytes as f64 / (256u64 << 20) as f64;
    assert!((sample.memory_percent - expected).abs() < 1e-9);
}
