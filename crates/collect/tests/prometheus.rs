//! Against Debian's real `prometheus` and real `cl-target` servers.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use collect::{
    CollectError, DEFAULT_SELECTOR, PrometheusClient, PrometheusServer, ScrapeTarget,
    ServerOptions, TargetHealth, metric_names, wait_for_scrapes,
};
use dataset::SampleRow;

const INTERVAL_NS: i64 = 1_000_000_000;
const JITTER_NS: i64 = 100_000_000;

/// A `cl-target` on loopback ports, killed on drop.
struct TargetProcess {
    child: Child,
    api: String,
    metrics: String,
}

impl TargetProcess {
    fn start(size: &str, instance: &str) -> Self {
        let mut child = Command::new(testkit::cl_target_binary())
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .arg("--label")
            .arg(format!("size={size}"))
            .arg("--label")
            .arg(format!("instance={instance}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn cl-target");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let listening = lines
            .by_ref()
            .map(|line| serde_json::from_str::<serde_json::Value>(&line.unwrap()).unwrap())
            .find(|record| record["type"] == "listening")
            .expect("cl-target announces its ports");
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            api: listening["api"].as_str().unwrap().to_owned(),
            metrics: listening["metrics"].as_str().unwrap().to_owned(),
        }
    }

    fn scrape_target(&self) -> ScrapeTarget {
        ScrapeTarget {
            address: self.metrics.clone(),
            labels: BTreeMap::new(),
        }
    }

    /// The value `/metrics` shows now for an unlabelled-beyond-const-labels metric.
    fn current_value(&self, metric: &str) -> f64 {
        let text = reqwest::blocking::get(format!("http://{}/metrics", self.metrics))
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find(|line| line.starts_with(&format!("{metric}{{")))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{metric} missing from /metrics"))
    }
}

impl Drop for TargetProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn samples_of<'a>(rows: &'a [SampleRow], target: &str, metric: &str) -> Vec<&'a SampleRow> {
    rows.iter()
        .filter(|r| r.target == target && r.metric == metric)
        .collect()
}

fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn closed_loopback_port() -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().to_string()
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn scrapes_targets_into_raw_samples_and_follows_the_targets_file() {
    let dir = tempfile::tempdir().unwrap();
    let small = TargetProcess::start("small", "small#0");
    let starting = Instant::now();
    let server =
        PrometheusServer::start(ServerOptions::new(dir.path().join("prometheus"))).unwrap();
    eprintln!("Prometheus ready after {:?}", starting.elapsed());
    let client = PrometheusClient::new(server.url(), Duration::from_secs(5)).unwrap();

    // (a) Raw samples at real scrape times, named by the target's own labels.
    let start_ns = now_ns();
    server.set_targets(&[small.scrape_target()]).unwrap();
    let waiting = Instant::now();
    let up = wait_for_scrapes(&client, &[&small.metrics], Duration::from_secs(15)).unwrap();
    eprintln!("first target up after {:?}", waiting.elapsed());
    assert_eq!(up[0].health, TargetHealth::Up);
    assert!(up[0].last_scrape_ns.unwrap() >= start_ns - JITTER_NS);
    std::thread::sleep(Duration::from_millis(4500));
    let end_ns = now_ns();
    let rows = client
        .raw_samples(DEFAULT_SELECTOR, start_ns, end_ns)
        .unwrap();
    let names = metric_names(&rows);
    assert!(names.len() >= 20, "only {} metrics: {names:?}", names.len());
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("process_") || n.starts_with("cgroup_"))
    );
    assert!(
        rows.iter()
            .all(|r| r.size == "small" && r.target == "small#0")
    );
    assert!(rows.iter().all(|r| (start_ns..=end_ns).contains(&r.ts_ns)));
    assert!(rows.is_sorted_by(|a, b| (&a.target, &a.metric, a.ts_ns) <= (&b.target, &b.metric, b.ts_ns)));
    for name in &names {
        let samples = samples_of(&rows, "small#0", name);
        assert!(samples.len() >= 4, "{name}: {} samples", samples.len());
        for pair in samples.windows(2) {
            let gap = pair[1].ts_ns - pair[0].ts_ns;
            assert!(
                (gap - INTERVAL_NS).abs() <= JITTER_NS,
                "{name}: gap {gap} ns"
            );
        }
    }
    // Chunked reads return exactly the same samples, none twice, none lost at the seams.
    let chunked = client
        .clone()
        .with_raw_window(Duration::from_secs(1))
        .raw_samples(DEFAULT_SELECTOR, start_ns, end_ns)
        .unwrap();
    assert_eq!(chunked.len(), rows.len());
    assert!(
        chunked.iter().zip(&rows).all(|(a, b)| a.ts_ns == b.ts_ns
            && a.metric == b.metric
            && same_value(a.value, b.value))
    );
    let evaluations = client
        .query_range(
            r#"process_num_threads{job="computelocator"}"#,
            start_ns,
            end_ns,
            Duration::from_secs(1),
        )
        .unwrap();
    assert_eq!(evaluations.len(), 1);
    assert_eq!(evaluations[0].labels["instance"], "small#0");
    assert!(evaluations[0].points.len() >= 4);
    // Step-aligned to the (millisecond) start, unlike the raw samples.
    let start_ms_ns = start_ns.div_euclid(1_000_000) * 1_000_000;
    assert!(
        evaluations[0]
            .points
            .iter()
            .all(|(ts, _)| (ts - start_ms_ns) % INTERVAL_NS == 0)
    );
    let series = client.series(DEFAULT_SELECTOR, start_ns, end_ns).unwrap();
    assert_eq!(series.len(), names.len());
    assert!(series.iter().all(|labels| labels["instance"] == "small#0"));

    // (b) The values are the target's own.
    for constant in [
        "process_start_time_seconds",
        "cgroup_cpu_period_seconds",
        "cgroup_memory_limit_bytes",
    ] {
        let expected = small.current_value(constant);
        for sample in samples_of(&rows, "small#0", constant) {
            assert!(
                same_value(sample.value, expected),
                "{constant}: {} vs {expected}",
                sample.value
            );
        }
    }
    let threads = samples_of(&rows, "small#0", "process_num_threads");
    assert_eq!(
        threads.last().unwrap().value,
        small.current_value("process_num_threads")
    );
    let cpu = samples_of(&rows, "small#0", "process_cpu_seconds_total");
    assert!(cpu.windows(2).all(|pair| pair[0].value <= pair[1].value));

    // (c) A new targets file is picked up by the running server.
    let medium = TargetProcess::start("medium", "medium#0");
    let switch_ns = now_ns();
    let switching = Instant::now();
    server.set_targets(&[medium.scrape_target()]).unwrap();
    wait_for_scrapes(&client, &[&medium.metrics], Duration::from_secs(15)).unwrap();
    eprintln!("new target up after {:?}", switching.elapsed());
    let active = client.targets().unwrap();
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(active[0].address, medium.metrics);
    std::thread::sleep(Duration::from_millis(1500));
    let after = client
        .raw_samples(DEFAULT_SELECTOR, switch_ns, now_ns())
        .unwrap();
    let medium_rows: Vec<_> = after.iter().filter(|r| r.target == "medium#0").collect();
    assert!(!medium_rows.is_empty());
    assert!(medium_rows.iter().all(|r| r.size == "medium"));
    let last_small = after
        .iter()
        .filter(|r| r.target == "small#0")
        .map(|r| r.ts_ns)
        .max();
    let first_medium = medium_rows.iter().map(|r| r.ts_ns).min().unwrap();
    assert!(last_small.is_none_or(|ts| ts < first_medium + INTERVAL_NS + JITTER_NS));

    // (d) Prometheus's own refusal of a bad selector.
    match client.raw_samples(r#"{job=~"("}"#, start_ns, end_ns) {
        Err(CollectError::Query {
            url,
            error_type,
            error,
        }) => {
            assert!(url.starts_with(server.url()), "{url}");
            assert_eq!(error_type, "bad_data");
            assert!(!error.is_empty());
        }
        other => panic!("expected a query error, got {other:?}"),
    }

    // (e) Dropping the server kills it.
    let pid = server.pid();
    assert!(pid_alive(pid));
    drop(server);
    assert!(!pid_alive(pid), "Prometheus {pid} survived its handle");
}

#[test]
fn stop_ends_prometheus_gracefully_and_failed_starts_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("prometheus");
    let server = PrometheusServer::start(ServerOptions {
        scrape_interval: Duration::from_millis(1500),
        ..ServerOptions::new(&data_dir)
    })
    .unwrap();
    let config = std::fs::read_to_string(data_dir.join("prometheus.yml")).unwrap();
    assert!(config.contains("scrape_interval: 1500ms"), "{config}");
    assert_eq!(
        std::fs::read_to_string(data_dir.join("targets.json"))
            .unwrap()
            .trim(),
        "[]"
    );
    let pid = server.pid();
    let status = server.stop().unwrap();
    assert!(status.success(), "{status}");
    assert!(!pid_alive(pid));

    // The port is taken: Prometheus exits, and the error carries its log's explanation.
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let failed = PrometheusServer::start(ServerOptions {
        listen: Some(taken.local_addr().unwrap()),
        ..ServerOptions::new(&data_dir)
    });
    match failed {
        Err(CollectError::ServerExited { log_tail, .. }) => {
            assert!(log_tail.contains("address already in use"), "{log_tail}");
        }
        other => panic!("expected an early exit, got {other:?}"),
    }
    let missing = PrometheusServer::start(ServerOptions {
        binary: dir.path().join("no-such-prometheus"),
        ..ServerOptions::new(&data_dir)
    });
    assert!(
        matches!(missing, Err(CollectError::Spawn { .. })),
        "{missing:?}"
    );
}

#[test]
fn upstream_failures_are_told_apart() {
    let (start_ns, end_ns) = (now_ns() - 60 * INTERVAL_NS, now_ns());

    let closed = closed_loopback_port();
    let client =
        PrometheusClient::new(&format!("http://{closed}"), Duration::from_secs(5)).unwrap();
    let asking = Instant::now();
    match client.raw_samples(DEFAULT_SELECTOR, start_ns, end_ns) {
        Err(CollectError::Unreachable { url, .. }) => assert!(url.contains(&closed), "{url}"),
        other => panic!("expected unreachable, got {other:?}"),
    }
    assert!(
        asking.elapsed() < Duration::from_secs(2),
        "{:?}",
        asking.elapsed()
    );

    // Accepts connections (the kernel completes the handshake) but never answers.
    let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let client =
        PrometheusClient::new(&format!("http://{silent_addr}"), Duration::from_millis(300))
            .unwrap();
    match client.targets() {
        Err(CollectError::Timeout { url, timeout }) => {
            assert!(url.contains(&silent_addr), "{url}");
            assert_eq!(timeout, Duration::from_millis(300));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }

    // Something that is not Prometheus answers 404.
    let target = TargetProcess::start("small", "small#9");
    let client =
        PrometheusClient::new(&format!("http://{}", target.api), Duration::from_secs(5)).unwrap();
    match client.targets() {
        Err(CollectError::HttpStatus { status, url, .. }) => {
            assert_eq!(status, 404);
            assert!(url.ends_with("/api/v1/targets"), "{url}");
        }
        other => panic!("expected HTTP 404, got {other:?}"),
    }

    assert!(matches!(
        client.raw_samples(DEFAULT_SELECTOR, end_ns, start_ns),
        Err(CollectError::InvalidRange { .. })
    ));
}
