//! The real `cl-target` binary on loopback: every endpoint, the log, metrics, bad input.

mod common;

use std::time::Duration;

use common::{Target, client};
use serde_json::{Value, json};

#[test]
fn every_endpoint_answers_real_work_and_logs_it() {
    let target = Target::start(&[]);
    let http = client();
    let health: Value = http
        .get(target.url("/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health, json!({"status": "healthy"}));

    let calls = [
        ("/ml", json!({"input": 1000, "seed": 1})),
        ("/pi", json!({"num_samples": 1_000_000, "seed": 2})),
        (
            "/dense",
            json!({"num_samples": 400, "epochs": 1, "units": 16, "seed": 3}),
        ),
        ("/video", json!({"profile": 0, "seconds": 0.2, "seed": 4})),
    ];
    for (path, body) in &calls {
        let response = http.post(target.url(path)).json(body).send().unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let answer: Value = response.json().unwrap();
        assert_eq!(answer["success"], true, "{path}: {answer}");
        assert!(
            answer["execution_time"].as_f64().unwrap() >= 0.0,
            "{path}: {answer}"
        );
    }
    let records = target.wait_for_requests(calls.len());
    for ((path, body), record) in calls.iter().zip(&records) {
        assert_eq!(record["endpoint"], *path);
        assert_eq!(record["method"], "POST");
        assert_eq!(record["status"], 200);
        assert_eq!(record["outcome"], "ok");
        assert_eq!(record["payload"]["seed"], body["seed"]);
        let (start, end) = (
            record["start_timestamp_ns"].as_u64().unwrap(),
            record["end_timestamp_ns"].as_u64().unwrap(),
        );
        assert!(
            end >= start && record["duration_ns"].as_u64().unwrap() > 0,
            "{record}"
        );
        let usage = &record["usage"];
        assert!(
            usage["process_cpu_ns"].as_u64().unwrap() >= usage["thread_cpu_ns"].as_u64().unwrap(),
            "{record}"
        );
        assert!(usage["peak_rss_bytes"].as_u64().unwrap() > 0, "{record}");
    }
    // Defaults fill in what the client left out, and the log shows the effective payload.
    assert_eq!(records[2]["payload"]["batch_size"], 32);
    assert_eq!(records[3]["payload"]["seconds"], 0.2);
}

#[test]
fn get_uses_the_defaults() {
    let target = Target::start(&[]);
    let answer: Value = client()
        .get(target.url("/pi"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["num_samples"], 100_000_000);
    assert!(answer["error"].as_f64().unwrap() < 0.001, "{answer}");
    let record = &target.wait_for_requests(1)[0];
    assert_eq!(record["method"], "GET");
}

#[test]
fn metrics_expose_process_and_cgroup_series() {
    let target = Target::start(&["--label", "size=test"]);
    client()
        .post(target.url("/ml"))
        .json(&json!({"input": 10}))
        .send()
        .unwrap();
    let text = target.metrics_text();
    let mut names: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 20, "only {} series: {names:?}", names.len());
    for required in [
        "process_cpu_percent",
        "process_memory_rss_bytes",
        "process_connections",
        "process_open_fds",
        "process_cpu_seconds_total",
        "cgroup_memory_usage_bytes",
        "cl_target_build_info",
        "cl_target_requests_total",
    ] {
        assert!(
            names.contains(&required),
            "{required} missing from {names:?}"
        );
    }
    assert!(text.contains(r#"size="test""#), "const label missing");
    assert!(
        text.contains(r#"cl_target_requests_total{endpoint="/ml",outcome="ok""#),
        "{text}"
    );
}

#[test]
fn bad_input_gets_4xx_json_naming_the_field_and_the_server_keeps_serving() {
    let target = Target::start(&[]);
    let http = client();
    let cases: &[(&str, &str, u16, Option<&str>)] = &[
        ("/ml", "{not json", 400, None),
        ("/ml", r#"{"input": -5}"#, 422, Some("input")),
        ("/pi", r#"{"num_samples": 1e30}"#, 422, Some("num_samples")),
        ("/dense", r#"{"epochs": 1000000000}"#, 422, Some("epochs")),
        ("/dense", r#"{"units": 0}"#, 422, Some("units")),
        ("/video", r#"{"profile": 7}"#, 422, Some("profile")),
        ("/video", r#"{"bogus": 1}"#, 400, Some("bogus")),
    ];
    for &(path, body, status, field) in cases {
        let response = http
            .post(target.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path} {body}");
        let answer: Value = response.json().unwrap();
        assert_eq!(answer["success"], false);
        assert_eq!(answer["field"].as_str(), field, "{path} {body}: {answer}");
        if field.is_some() {
            assert!(answer["allowed"].is_string(), "{answer}");
        }
    }
    let oversized = format!(r#"{{"input": 1, "pad": "{}"}}"#, "x".repeat(100_000));
    let refused = http.post(target.url("/ml")).body(oversized).send().unwrap();
    assert_eq!(refused.status(), 413);
    // The unread rest of the body makes the connection unusable; the client must not reuse it.
    assert_eq!(refused.headers()["connection"], "close");
    // Still serving, and every refusal is on record.
    assert_eq!(
        http.get(target.url("/health")).send().unwrap().status(),
        200
    );
    let records = target.wait_for_requests(cases.len() + 1);
    assert!(
        records
            .iter()
            .all(|r| r["outcome"] == "invalid" && r["error"].is_string()),
        "{records:?}"
    );
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let target = Target::start(&["--queue", "0"]);
    let slow_url = target.url("/pi");
    let slow = std::thread::spawn(move || {
        client()
            .post(slow_url)
            .json(&json!({"num_samples": 1_000_000_000u64}))
            .send()
            .unwrap()
            .status()
    });
    // Wait until the slow request is running: its worker is busy, the queue holds nothing.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = target.metrics_text();
        if text
            .lines()
            .any(|l| l.starts_with("cl_target_pending_requests") && l.ends_with(" 1"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "slow request never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = client()
        .post(target.url("/ml"))
        .json(&json!({"input": 1}))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(slow.join().unwrap(), 200);
    let records = target.wait_for_requests(2);
    assert_eq!(records[0]["outcome"], "rejected");
    assert_eq!(records[1]["outcome"], "ok");
}

#[test]
fn sigterm_lets_the_running_request_finish_and_log() {
    let mut target = Target::start(&[]);
    let url = target.url("/pi");
    let running = std::thread::spawn(move || {
        client()
            .post(url)
            .json(&json!({"num_samples": 300_000_000u64}))
            .send()
            .map(|r| r.status())
    });
    std::thread::sleep(Duration::from_millis(300));
    let status = target.terminate();
    assert!(status.success(), "exit {status:?}");
    assert_eq!(running.join().unwrap().unwrap(), 200);
    let records = target.wait_for_requests(1);
    assert_eq!(records[0]["outcome"], "ok");
}
