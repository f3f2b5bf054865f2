//! The live source through the real `cl-aggregator` binary: a real Prometheus (Debian's
//! `prometheus`) scraping a real `cl-target` on loopback, and Loki as a loopback fixture
//! answering Loki's documented `query_range` format with the request lines that cl-target
//! really wrote to its stdout.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use aggregator::loki::REQUEST_LINES_QUERY;
use aggregator::{Endpoint, ErrorBody, HistoryRecord, Page};
use collect::{PrometheusClient, PrometheusServer, ScrapeTarget, ServerOptions};
use common::Aggregator;

const SIZE: &str = "small";
const INSTANCE: &str = "small#0";
/// The run id a cluster's pod discovery labels a run's own targets with.
const RUN_ID: &str = "20261204t210857z-cf99";
/// Prometheus's first scrape of a new target takes about 5 s.
const SCRAPE_PATIENCE: Duration = Duration::from_secs(30);

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real cl-target; its stdout lines after `listening` arrive on `lines`.
struct Target {
    _process: Process,
    api: String,
    metrics: String,
    lines: Receiver<String>,
}

fn start_target() -> Target {
    let mut child = Command::new(testkit::cl_target_binary())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--label",
            &format!("size={SIZE}"),
            "--label",
            &format!("instance={INSTANCE}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cl-target");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let process = Process(child);
    let listening = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "cl-target exited");
        let value: serde_json::Value = match serde_json::from_str(&line) {
            Ok(value) => value,
            Err(_) => continue,
        };
        if value["type"] == "listening" {
            break value;
        }
    };
    let (sender, lines) = channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    Target {
        _process: process,
        api: listening["api"].as_str().unwrap().to_owned(),
        metrics: listening["metrics"].as_str().unwrap().to_owned(),
        lines,
    }
}

/// A real Prometheus scraping `target` (labelled as the cluster's pod discovery labels a run's
/// target: `size`, `instance`, `pod`, `pod_ip`, `run_id`), after its first successful scrape.
fn start_prometheus(dir: &std::path::Path, target: &Target) -> PrometheusServer {
    let server = PrometheusServer::start(ServerOptions::new(dir)).expect("start prometheus");
    server
        .set_targets(&[ScrapeTarget {
            address: target.metrics.clone(),
            labels: BTreeMap::from([
                ("size".to_owned(), SIZE.to_owned()),
                ("instance".to_owned(), INSTANCE.to_owned()),
                ("pod".to_owned(), INSTANCE.to_owned()),
                ("pod_ip".to_owned(), "127.0.0.1".to_owned()),
                ("run_id".to_owned(), RUN_ID.to_owned()),
            ]),
        }])
        .unwrap();
    let client = PrometheusClient::new(server.url(), Duration::from_secs(5)).unwrap();
    collect::wait_for_scrapes(&client, &[&target.metrics], SCRAPE_PATIENCE).unwrap();
    server
}

/// The real aggregator binary in live mode.
fn live_aggregator(prometheus: &str, loki: Option<&str>) -> Aggregator {
    let mut args = vec!["--prometheus", prometheus];
    if let Some(loki) = loki {
        args.extend(["--loki", loki]);
    }
    Aggregator::start(&args)
}

/// A loopback Loki answering every request with `body`, counting the requests and keeping
/// their request lines.
struct LokiFixture {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
}

fn loki_fixture(body: String) -> LokiFixture {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let (seen, counted) = (Arc::clone(&requests), Arc::clone(&count));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            counted.fetch_add(1, Ordering::SeqCst);
            seen.lock().unwrap().push(request_line);
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    LokiFixture {
        base,
        requests,
        count,
    }
}

/// Loki's documented `query_range` answer: one stream with cl-target's labels, each line at the
/// time cl-target wrote it (its end timestamp).
fn loki_answer(lines: &[String]) -> String {
    let values: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            serde_json::json!([record["end_timestamp_ns"].to_string(), line])
        })
        .collect();
    serde_json::json!({
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": [{
                "stream": {"app": "cl-target", "size": SIZE, "instance": INSTANCE},
                "values": values,
            }],
            "stats": {},
        },
    })
    .to_string()
}

/// Prometheus's own count of instant queries (`/api/v1/query`), read from its `/metrics`, which
/// is not a query itself.
fn instant_queries_served(prometheus: &str) -> u64 {
    let mut text = String::new();
    reqwest::blocking::get(format!("{prometheus}/metrics"))
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("prometheus_http_requests_total{")
                && l.contains(r#"handler="/api/v1/query""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn decode_query(request_line: &str) -> BTreeMap<String, String> {
    let target = request_line.split(' ').nth(1).unwrap();
    let query = target.split_once('?').map_or("", |(_, q)| q);
    serde_urlencoded::from_str(query).unwrap()
}

#[test]
fn endpoints_list_the_real_target_real_prometheus_scrapes() {
    let dir = tempfile::tempdir().unwrap();
    let target = start_target();
    let prometheus = start_prometheus(dir.path(), &target);
    let aggregator = live_aggregator(prometheus.url(), None);

    let response = aggregator.get("/endpoints");
    assert_eq!(response.status().as_u16(), 200);
    let endpoints: Vec<Endpoint> = response.json().unwrap();
    assert_eq!(endpoints.len(), 1, "{endpoints:?}");
    let endpoint = &endpoints[0];
    assert_eq!(endpoint.pod, INSTANCE);
    assert_eq!(endpoint.size.as_deref(), Some(SIZE));
    assert_eq!(endpoint.address.as_deref(), Some(target.metrics.as_str()));
    assert_eq!(endpoint.health.as_deref(), Some("up"));
    assert_eq!(endpoint.run_id.as_deref(), Some(RUN_ID));

    let runs: Vec<aggregator::RunSummary> = aggregator.get("/runs").json().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].run_id, "live");
    assert_eq!(runs[0].sizes, [SIZE]);

    // Without Loki, history cannot be answered, and says why.
    let response = aggregator.get("/history");
    assert_eq!(response.status().as_u16(), 501);
    let error: ErrorBody = response.json().unwrap();
    assert!(error.error.contains("--loki"), "{}", error.error);
}

#[test]
fn loki_fixture_live_history_joins_real_prometheus_samples() {
    let dir = tempfile::tempdir().unwrap();
    let target = start_target();
    let prometheus = start_prometheus(dir.path(), &target);

    let http = reqwest::blocking::Client::new();
    let bodies = [
        serde_json::json!({"num_samples": 200_000, "seed": 1}),
        serde_json::json!({"num_samples": 300_000, "seed": 2}),
    ];
    for body in &bodies {
        let response = http
            .post(format!("http://{}/pi", target.api))
            .json(body)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    let request_lines: Vec<String> = (0..bodies.len())
        .map(|_| {
            target
                .lines
                .recv_timeout(Duration::from_secs(10))
                .expect("a request line on cl-target's stdout")
        })
        .collect();
    // Let Prometheus scrape after the last request, so every request has an `end` sample.
    std::thread::sleep(Duration::from_secs(3));

    let loki = loki_fixture(loki_answer(&request_lines));
    let aggregator = live_aggregator(prometheus.url(), Some(&loki.base));
    let queries_before = instant_queries_served(prometheus.url());
    let response = aggregator.get("/history?limit=10");
    assert_eq!(response.status().as_u16(), 200);
    let page: Page<HistoryRecord> = response.json().unwrap();
    // Prometheus counts a request once its handler returned, which may be after we read the
    // answer.
    std::thread::sleep(Duration::from_millis(500));
    let queries_after = instant_queries_served(prometheus.url());

    assert_eq!(
        loki.count.load(Ordering::SeqCst),
        1,
        "one Loki query per page"
    );
    assert_eq!(
        queries_after - queries_before,
        1,
        "one Prometheus query per page"
    );
    let sent = decode_query(&loki.requests.lock().unwrap()[0]);
    assert_eq!(sent["query"], REQUEST_LINES_QUERY);
    assert_eq!(sent["direction"], "forward");

    assert_eq!(page.records.len(), 2);
    assert_eq!(page.next_cursor, None);
    for (record, (body, line)) in page.records.iter().zip(bodies.iter().zip(&request_lines)) {
        let logged: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(record.pod, INSTANCE);
        assert_eq!(record.size, SIZE);
        assert_eq!(record.run_id, "live");
        assert_eq!(record.function, "pi");
        assert_eq!(&record.input, body);
        assert_eq!(record.status, Some(200));
        assert_eq!(record.outcome, "ok");
        assert_eq!(record.start_ns as u64, logged["start_timestamp_ns"]);
        assert_eq!(record.end_ns as u64, logged["end_timestamp_ns"]);
        assert!(!record.states.is_empty(), "no metric joined");
        // The target's identity labels are not folded into the metric names.
        assert!(
            record.states.contains_key("process_cpu_seconds_total"),
            "{:?}",
            record.states.keys()
        );
        let joined = record
            .states
            .values()
            .filter(|s| s.start.is_some() && s.end.is_some())
            .count();
        assert!(
            joined > 0,
            "no metric has start and end values: {:?}",
            record.states
        );
    }

    // A size filter is pushed into the LogQL, not applied per request.
    let response = aggregator.get("/history?size=small&function=pi");
    assert_eq!(response.status().as_u16(), 200);
    let sent = decode_query(&loki.requests.lock().unwrap()[1]);
    assert!(sent["query"].starts_with(REQUEST_LINES_QUERY));
    assert!(sent["query"].contains("size=~`small`"), "{}", sent["query"]);
    assert!(
        sent["query"].contains("endpoint=~`/pi`"),
        "{}",
        sent["query"]
    );
}

#[test]
fn prometheus_down_is_a_502_naming_prometheus() {
    // A port that was free a moment ago: nothing answers there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let aggregator = live_aggregator(&format!("http://127.0.0.1:{port}"), None);
    let response = aggregator.get("/endpoints");
    assert_eq!(response.status().as_u16(), 502);
    let error: ErrorBody = response.json().unwrap();
    assert_eq!(error.upstream.as_deref(), Some("prometheus"));
}

#[test]
fn loki_down_is_a_502_naming_loki() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("http://127.0.0.1:{port}");
    let aggregator = live_aggregator(&unreachable, Some(&unreachable));
    let response = aggregator.get("/history");
    assert_eq!(response.status().as_u16(), 502);
    let error: ErrorBody = response.json().unwrap();
    assert_eq!(error.upstream.as_deref(), Some("loki"));
}
