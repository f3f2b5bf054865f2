//! The `smoke` experiment end to end on the real local backend: real cgroups, real targets, real
//! workloads. One run, shared by these tests.

mod common;

use std::collections::BTreeSet;

use dataset::Outcome;

#[test]
fn real_cgroup_smoke_writes_one_row_per_scheduled_request() {
    let run = dataset::open_run(common::smoke_run()).unwrap();
    let spec = experiment::load("smoke", &common::workspace_root())
        .unwrap()
        .spec;
    let schedule = experiment::schedule(&spec);
    assert_eq!(run.requests.len(), schedule.len());
    let scheduled: BTreeSet<u64> = schedule.requests().map(|r| r.seq).collect();
    let recorded: BTreeSet<u64> = run.requests.iter().map(|r| r.request.seq).collect();
    assert_eq!(recorded, scheduled, "every scheduled request exactly once");
    for aligned in &run.requests {
        let row = &aligned.request;
        assert_eq!(row.outcome, Outcome::Ok, "{row:?}");
        assert!(row.end_ns >= row.start_ns && row.duration_ns > 0, "{row:?}");
        assert!(
            row.usage.process_cpu_ns.is_some_and(|ns| ns > 0),
            "no exact usage: {row:?}"
        );
        assert!(
            row.usage.cgroup_cpu_ns.is_some(),
            "no cgroup usage: {row:?}"
        );
        let cpu = &aligned.states["process_cpu_seconds_total"];
        assert!(
            cpu.start.is_some() && cpu.end.is_some(),
            "seq {} lacks start/end state: {cpu:?}",
            row.seq
        );
        assert!(cpu.end >= cpu.start);
    }
}

#[test]
fn real_cgroup_smoke_shows_throttling_on_small() {
    let run = dataset::open_run(common::smoke_run()).unwrap();
    let throttled = |size: &str| -> u64 {
        run.requests
            .iter()
            .filter(|r| r.request.size == size)
            .filter_map(|r| r.request.usage.cgroup_throttled_periods)
            .sum()
    };
    assert!(throttled("small") > 0, "a 100m pod must be throttled");
    // The same work takes longer on the smaller pod.
    let video_seconds = |size: &str| -> i64 {
        run.requests
            .iter()
            .filter(|r| r.request.size == size && r.request.function == workloads::Function::Video)
            .map(|r| r.request.duration_ns)
            .sum()
    };
    assert!(
        video_seconds("small") > video_seconds("large"),
        "small should be slower than large"
    );
}

#[test]
fn real_cgroup_smoke_manifest_is_complete() {
    let dir = common::smoke_run();
    let run = dataset::open_run(&dir).unwrap();
    let m = &run.manifest;
    assert_eq!(m.experiment, "smoke");
    assert_eq!(m.schema_version, dataset::SCHEMA_VERSION);
    assert!(m.limits_enforced);
    assert!(m.finished_at.is_some());
    assert_eq!(m.counts["total"], m.schedule_len);
    assert_eq!(m.counts["ok"], m.schedule_len);
    assert_eq!(m.sizes.len(), 3);
    for key in [
        "computelocator",
        "git_rev",
        "libtorch",
        "blas",
        "libavcodec",
        "x264",
    ] {
        assert!(
            m.versions.contains_key(key),
            "versions lack {key}: {:?}",
            m.versions
        );
    }
    assert!(m.spec.contains("name = \"smoke\""));
    assert!(
        !dir.join(dataset::REQUESTS_JOURNAL).exists(),
        "journals are removed once the Parquet files exist"
    );
}

#[test]
fn real_cgroup_smoke_samples_arrive_at_the_scrape_interval() {
    let run = dataset::open_run(common::smoke_run()).unwrap();
    for target in ["small#0", "medium#0", "large#0"] {
        let mut stamps: Vec<i64> = run
            .samples
            .iter()
            .filter(|s| s.target == target && s.metric == "process_cpu_seconds_total")
            .map(|s| s.ts_ns)
            .collect();
        stamps.sort_unstable();
        assert!(stamps.len() >= 3, "{target}: {} samples", stamps.len());
        let mut gaps: Vec<i64> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_unstable();
        let median = gaps[gaps.len() / 2];
        assert!(
            (median - 1_000_000_000).abs() < 50_000_000,
            "{target}: median gap {median} ns"
        );
    }
}
