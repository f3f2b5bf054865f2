//! Per-request CPU use in the log against an independent count: the target's own
//! /proc/<pid>/stat, read by the test before and after a known burn.

mod common;

use common::{Target, client, proc_cpu_ticks, ticks_per_second};
use serde_json::json;

#[test]
fn exact_usage_matches_an_independent_count_within_one_percent() {
    let target = Target::start(&[]);
    let http = client();
    // Warm up so lazy initialisation is not part of the measured request.
    http.post(target.url("/pi"))
        .json(&json!({"num_samples": 1000}))
        .send()
        .unwrap();
    target.wait_for_requests(1);

    let before = proc_cpu_ticks(target.pid());
    // About 2.5 s of CPU: procfs counts in 10 ms ticks, so the reference is good to ~0.5 %.
    let response = http
        .post(target.url("/pi"))
        .json(&json!({"num_samples": 1_200_000_000u64, "seed": 1}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let record = target.wait_for_requests(2)[1].clone();
    let after = proc_cpu_ticks(target.pid());

    let reference_ns = (after - before) * 1_000_000_000 / ticks_per_second();
    let logged_ns = record["usage"]["process_cpu_ns"].as_u64().unwrap();
    let thread_ns = record["usage"]["thread_cpu_ns"].as_u64().unwrap();
    assert!(
        reference_ns >= 2_000_000_000,
        "burn too short to judge: {reference_ns} ns"
    );
    let relative = (logged_ns as f64 - reference_ns as f64).abs() / reference_ns as f64;
    assert!(
        relative < 0.01,
        "logged {logged_ns} ns vs /proc {reference_ns} ns ({:.2} %)",
        relative * 100.0
    );
    // The kernel ran on one thread: nearly all the process's CPU is the worker's.
    assert!(
        thread_ns as f64 > 0.95 * logged_ns as f64,
        "thread {thread_ns} vs process {logged_ns}"
    );
}
