//! Probing real processes: spawned children and this test process itself.

use std::collections::{HashMap, HashSet};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use probe::{Error, Exporter, METRICS, ProcessProbe, Sample};

/// Tests that count this process's own fds or threads must not overlap.
fn self_probe_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn self_pid() -> i32 {
    std::process::id() as i32
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn busy_child() -> KillOnDrop {
    KillOnDrop(
        Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap(),
    )
}

#[test]
fn busy_child_shows_rising_cpu_threads_and_memory() {
    let child = busy_child();
    let pid = child.0.id() as i32;
    let mut probe = ProcessProbe::open(pid, None).unwrap();
    assert_eq!(probe.pid(), pid);

    std::thread::sleep(Duration::from_millis(400));
    let first = probe.sample().unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let second = probe.sample().unwrap();

    assert!(first.cpu_seconds_total > 0.0, "{first:?}");
    assert!(second.cpu_seconds_total > first.cpu_seconds_total);
    assert!(
        (second.cpu_user_seconds + second.cpu_system_seconds - second.cpu_seconds_total).abs()
            < 1e-9
    );
    // A spinning shell uses most of a core (the machine is shared, so leave room).
    assert!(
        (30.0..=105.0).contains(&second.cpu_percent),
        "{}",
        second.cpu_percent
    );
    assert!(second.num_threads >= 1);
    assert!(second.memory_rss_bytes > 0);
    assert!(second.memory_vms_bytes >= second.memory_rss_bytes);
    assert!(second.memory_peak_rss_bytes >= second.memory_rss_bytes);
    assert!(second.memory_percent > 0.0 && second.memory_percent < 100.0);
    assert!(second.timestamp_ns > first.timestamp_ns);
    assert!(second.uptime_seconds > first.uptime_seconds);
    assert!(second.uptime_seconds < 10.0, "{}", second.uptime_seconds);
    let now = second.timestamp_ns as f64 / 1e9;
    assert!(
        (now - second.uptime_seconds - second.start_time_seconds).abs() < 1.0,
        "start {} uptime {} now {now}",
        second.start_time_seconds,
        second.uptime_seconds
    );
    assert!(second.cgroup.is_none());
    assert_eq!(probe.name().unwrap(), "sh");
    let cmdline = probe.cmdline().unwrap();
    assert_eq!(cmdline, "sh -c while :; do :; done");
}

#[test]
fn connections_count_this_process_sockets() {
    let _guard = self_probe_lock();
    let mut probe = ProcessProbe::open(self_pid(), None).unwrap();
    let before = probe.sample().unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let clients = [
        TcpStream::connect(address).unwrap(),
        TcpStream::connect(address).unwrap(),
    ];
    let accepted = [listener.accept().unwrap().0, listener.accept().unwrap().0];
    let during = probe.sample().unwrap();
    drop((clients, accepted, listener));
    let after = probe.sample().unwrap();

    // A listener, two client ends and two accepted ends.
    assert!(
        during.connections >= before.connections + 5,
        "{} -> {}",
        before.connections,
        during.connections
    );
    assert!(during.open_fds >= before.open_fds + 5);
    assert!(after.connections + 5 <= during.connections);
}

#[test]
fn open_fds_follow_opened_files() {
    let _guard = self_probe_lock();
    let mut probe = ProcessProbe::open(self_pid(), None).unwrap();
    let before = probe.sample().unwrap();
    let files: Vec<_> = (0..10)
        .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
        .collect();
    let during = probe.sample().unwrap();
    drop(files);
    assert!(
        during.open_fds >= before.open_fds + 10,
        "{} -> {}",
        before.open_fds,
        during.open_fds
    );
    assert_eq!(during.connections, before.connections);
}

fn main_thread_voluntary_switches() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn context_switches_are_summed_over_threads() {
    let _guard = self_probe_lock();
    const THREADS: usize = 4;
    const SLEEPS: u64 = 20;
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = std::sync::Arc::new(Mutex::new(release_rx));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let done_tx = done_tx.clone();
            let release_rx = release_rx.clone();
            std::thread::spawn(move || {
                // Each sleep blocks: one voluntary switch each.
                for _ in 0..SLEEPS {
                    std::thread::sleep(Duration::from_millis(1));
                }
                done_tx.send(()).unwrap();
                // Stay alive until sampled: exited threads' counts are gone.
                let _ = release_rx.lock().unwrap().recv();
            })
        })
        .collect();
    for _ in 0..THREADS {
        done_rx.recv().unwrap();
    }

    let mut probe = ProcessProbe::open(self_pid(), None).unwrap();
    let sample = probe.sample().unwrap();
    let main_only = main_thread_voluntary_switches();
    for _ in 0..THREADS {
        release_tx.send(()).unwrap();
    }
    for worker in workers {
        worker.join().unwrap();
    }

    assert!(sample.num_threads > THREADS as u64);
    assert!(
        sample.ctx_switches_voluntary >= main_only + THREADS as u64 * SLEEPS,
        "summed {} vs main thread {main_only}",
        sample.ctx_switches_voluntary
    );
}

#[test]
fn an_exited_process_is_reported_gone() {
    let mut child = Command::new("true").spawn().unwrap();
    let mut probe = ProcessProbe::open(child.id() as i32, None);
    child.wait().unwrap();
    // Opening may already have lost the race with a fast exit; both are "gone".
    let result = match probe.as_mut() {
        Ok(probe) => probe.sample().map(|_| ()),
        Err(_) => probe.map(|_| ()),
    };
    assert!(
        matches!(result, Err(Error::ProcessGone { .. })),
        "{result:?}"
    );
}

#[test]
fn a_missing_pid_cannot_be_opened() {
    // PIDs are below pid_max (at most 2^22); this one never exists.
    let result = ProcessProbe::open(i32::MAX, None);
    assert!(matches!(result, Err(Error::ProcessGone { pid: i32::MAX })));
}

#[test]
fn metric_names_are_unique_and_cover_the_original() {
    let names: HashSet<&str> = METRICS.iter().map(|m| m.name).collect();
    assert_eq!(names.len(), METRICS.len());
    assert!(METRICS.len() >= 20);
    for original in [
        "process_cpu_percent",
        "process_cpu_user_seconds",
        "process_cpu_system_seconds",
        "process_memory_rss_bytes",
        "process_memory_vms_bytes",
        "process_memory_percent",
        "process_num_threads",
        "process_io_read_bytes",
        "process_io_write_bytes",
        "process_ctx_switches_voluntary",
        "process_ctx_switches_involuntary",
        "process_connections",
        "process_uptime_seconds",
        "process_cpu_seconds_total",
    ] {
        assert!(names.contains(original), "{original} missing");
    }
}

#[test]
fn a_sample_without_cgroup_leaves_cgroup_metrics_out() {
    let _guard = self_probe_lock();
    let mut probe = ProcessProbe::open(self_pid(), None).unwrap();
    let metrics = probe.sample().unwrap().metrics();
    assert!(metrics.iter().all(|(name, _)| !name.starts_with("cgroup_")));
    assert!(
        metrics
            .iter()
            .any(|(name, _)| *name == "process_io_read_bytes")
    );
    assert!(metrics.iter().all(|(_, value)| value.is_finite()));
}

/// Checks one exposition line: comment lines name a metric; sample lines are
/// `name{label="value",…} number`.
fn check_exposition_line(line: &str) -> Option<String> {
    if let Some(rest) = line.strip_prefix("# HELP ") {
        return Some(rest.split_once(' ')?.0.to_string());
    }
    if let Some(rest) = line.strip_prefix("# TYPE ") {
        let (name, kind) = rest.split_once(' ')?;
        return (kind == "gauge").then(|| name.to_string());
    }
    let (series, value) = line.rsplit_once(' ')?;
    value.parse::<f64>().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, labels)) => (name, labels.strip_suffix('}')?),
        None => (series, ""),
    };
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if !valid_name {
        return None;
    }
    // Label values are quoted; commas inside quotes are part of the value.
    let mut in_quotes = false;
    let mut pairs = vec![String::new()];
    for c in labels.chars() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => pairs.push(String::new()),
            _ => {}
        }
        pairs.last_mut()?.push(c);
    }
    for pair in pairs.iter().filter(|p| !p.is_empty()) {
        let (key, quoted) = pair.trim_start_matches(',').split_once('=')?;
        if key.is_empty() || !quoted.starts_with('"') || !quoted.ends_with('"') {
            return None;
        }
    }
    Some(name.to_string())
}

fn exposition_of(sample: &Sample) -> String {
    let labels = HashMap::from([
        ("size".to_string(), "small".to_string()),
        ("pod".to_string(), "p-1".to_string()),
    ]);
    let exporter = Exporter::new(labels).unwrap();
    exporter.set_info(sample.pid, "cl-target", "cl-target --port 8000, \"quoted\"");
    exporter.update(sample);
    exporter.encode().unwrap()
}

#[test]
fn exposition_has_every_metric_and_parses_line_by_line() {
    let _guard = self_probe_lock();
    let mut probe = ProcessProbe::open(self_pid(), None).unwrap();
    let sample = probe.sample().unwrap();
    let text = exposition_of(&sample);

    let mut seen = HashSet::new();
    for line in text.lines() {
        let name = check_exposition_line(line).unwrap_or_else(|| panic!("bad line {line:?}"));
        seen.insert(name);
    }
    for def in METRICS {
        assert!(seen.contains(def.name), "{} missing", def.name);
    }
    assert!(seen.contains("process"));
    assert!(text.contains(&format!("pid=\"{}\"", sample.pid)), "{text}");
    assert!(text.contains("size=\"small\""));
    let rss_line = text
        .lines()
        .find(|l| l.starts_with("process_memory_rss_bytes{"))
        .unwrap();
    let rss: f64 = rss_line.rsplit_once(' ').unwrap().1.parse().unwrap();
    assert!(rss > 0.0);
    // No cgroup given: its gauges are NaN (no data), not 0.
    let quota_line = text
        .lines()
        .find(|l| l.starts_with("cgroup_cpu_quota_seconds{"))
        .unwrap();
    assert!(quota_line.ends_with(" NaN"), "{quota_line}");
}

#[test]
fn exporter_registry_takes_extra_metrics() {
    let exporter = Exporter::new(HashMap::new()).unwrap();
    let build_info = prometheus::Gauge::new("build_info", "Build information").unwrap();
    build_info.set(1.0);
    exporter.registry().register(Box::new(build_info)).unwrap();
    assert!(exporter.encode().unwrap().contains("build_info 1"));
    assert!(exporter.content_type().starts_with("text/plain"));
}

#[test]
fn invalid_const_label_is_an_error() {
    let labels = HashMap::from([("not a label".to_string(), "x".to_string())]);
    assert!(matches!(Exporter::new(labels), Err(Error::Prometheus(_))));
}
