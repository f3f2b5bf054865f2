//! The Prometheus path, with Debian's real Prometheus server: a run collected through it, and
//! its values against the outside probe's for the same target at the same moments.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use collect::{PrometheusClient, PrometheusServer, ScrapeTarget, ServerOptions};
use dataset::{SampleJournal, SampleRow};
use deploy::{Backend, LocalBackend, LocalOptions, PodSize};
use harness::sampler::{Sampler, SamplerTarget};

#[test]
fn real_cgroup_a_run_collected_by_prometheus_has_aligned_states() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::inline_spec(
        dir.path(),
        r#"
name = "scraped"
seed = 5
warmup = 0
repetitions = 3

[[sizes]]
name = "large"
cpu_millicores = 500
memory = "2Gi"

[[functions]]
function = "pi"
payload.num_samples = [300000000]
"#,
    );
    let result = common::run_spec_with(
        spec,
        &dir.path().join("runs"),
        harness::CollectorChoice::StartPrometheus,
    )
    .unwrap();
    assert_eq!(result.manifest.collector, dataset::Collector::Prometheus);
    let run = dataset::open_run(&result.dir).unwrap();
    assert_eq!(run.requests.len(), 3);
    for aligned in &run.requests {
        let cpu = &aligned.states["process_cpu_seconds_total"];
        assert!(cpu.start.is_some() && cpu.end.is_some(), "{cpu:?}");
        // ~0.6 s of CPU per request: the scraped counter must have moved across the window.
        assert!(cpu.end.unwrap() - cpu.start.unwrap() > 0.3, "{cpu:?}");
    }
    assert!(
        !result.dir.join("prometheus").exists(),
        "Prometheus's storage is removed once the samples are in Parquet"
    );
}

/// How far apart the two collectors may be for a metric, given the time between their readings.
fn tolerance(metric: &str, value: f64, dt_seconds: f64) -> Option<f64> {
    Some(match metric {
        // Constant while the target lives.
        "cgroup_memory_limit_bytes"
        | "cgroup_cpu_quota_cores"
        | "cgroup_cpu_period_seconds"
        | "cgroup_cpu_quota_seconds"
        | "process_start_time_seconds" => 1e-9 * value.abs().max(1.0),
        // A scrape opens a connection (and its socket) while it reads.
        "process_num_threads" | "process_open_fds" | "process_connections" => 2.0,
        "process_uptime_seconds" => dt_seconds + 0.05,
        "process_memory_rss_bytes"
        | "process_memory_vms_bytes"
        | "cgroup_memory_usage_bytes"
        | "process_memory_percent" => 0.05 * value.abs(),
        // Counters of an idle target (but for the scrapes themselves) move slowly.
        "process_cpu_seconds_total"
        | "process_cpu_user_seconds"
        | "process_cpu_system_seconds"
        | "cgroup_cpu_usage_seconds_total" => 0.05,
        "cgroup_cpu_periods_total" | "cgroup_cpu_throttled_periods_total" => {
            10.0 * dt_seconds + 2.0
        }
        _ => return None,
    })
}

#[test]
fn real_cgroup_probe_and_prometheus_agree_at_the_nearest_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(
        testkit::cl_target_binary(),
        LocalOptions {
            cgroup_prefix: format!("cl-compare-{}", std::process::id()),
            ..LocalOptions::default()
        },
    )
    .unwrap();
    let target = backend
        .deploy(&PodSize::new("large", 500, 2 << 30))
        .unwrap();
    let server =
        PrometheusServer::start(ServerOptions::new(dir.path().join("prometheus"))).unwrap();
    let address = target
        .metrics_url()
        .trim_start_matches("http://")
        .to_owned();
    let labels = BTreeMap::from([
        ("size".to_owned(), "large".to_owned()),
        ("instance".to_owned(), target.instance().to_owned()),
    ]);
    server
        .set_targets(&[ScrapeTarget {
            address: address.clone(),
            labels,
        }])
        .unwrap();
    let client = PrometheusClient::new(server.url(), Duration::from_secs(10)).unwrap();
    collect::wait_for_scrapes(&client, &[address.as_str()], Duration::from_secs(30)).unwrap();

    let journal_path = dir.path().join("samples.jsonl");
    let journal = Arc::new(Mutex::new(SampleJournal::open(&journal_path, 1).unwrap()));
    let cgroups = cgroup::Hierarchy::detect().ok();
    let started_ns = now_ns();
    let sampler = Sampler::start(
        SamplerTarget {
            pid: target.pid().unwrap(),
            size: "large",
            instance: target.instance(),
            interval: Duration::from_millis(250),
        },
        cgroups.as_ref(),
        Arc::clone(&journal),
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    drop(sampler);
    let probe_rows = SampleJournal::read(&journal_path).unwrap();
    let scraped = client
        .raw_samples(collect::DEFAULT_SELECTOR, started_ns, now_ns())
        .unwrap();
    target.shutdown().unwrap();

    let mut by_metric: BTreeMap<&str, Vec<&SampleRow>> = BTreeMap::new();
    for row in &probe_rows {
        by_metric.entry(&row.metric).or_default().push(row);
    }
    let mut compared: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &scraped {
        let Some(probe) = by_metric.get(row.metric.as_str()) else {
            continue;
        };
        let nearest = probe
            .iter()
            .min_by_key(|p| (p.ts_ns - row.ts_ns).abs())
            .unwrap();
        let dt = (nearest.ts_ns - row.ts_ns).abs() as f64 / 1e9;
        if dt > 0.2 || row.value.is_nan() {
            continue;
        }
        let Some(allowed) = tolerance(&row.metric, row.value, dt) else {
            continue;
        };
        let diff = (nearest.value - row.value).abs();
        assert!(
            diff <= allowed,
            "{}: prometheus {} vs probe {} ({dt:.3} s apart), allowed ±{allowed}",
            row.metric,
            row.value,
            nearest.value
        );
        *compared.entry(&row.metric).or_default() += 1;
    }
    assert!(
        compared.len() >= 12,
        "too few metrics compared: {compared:?}"
    );
    assert!(compared.values().all(|&n| n >= 2), "{compared:?}");
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}
