//! A kernel that panics becomes a 500 JSON error; the server stays up and logs the failure.
//! (The real kernels do not panic on any accepted input, so the failure is injected through the
//! kernel-runner seam of the in-process server.)

use std::time::Duration;

use serde_json::Value;
use target::executor::{KernelFailure, run_kernel};
use target::server::{Config, start_with_kernel};
use workloads::{ExecEnv, Payload};

fn panics_on_666(payload: &Payload, env: &ExecEnv) -> Result<Value, KernelFailure> {
    if matches!(payload, Payload::Ml(p) if p.input == 666) {
        panic!("injected kernel failure");
    }
    run_kernel(payload, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_kernel_answers_500_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("requests.jsonl");
    let config = Config {
        listen: ([127, 0, 0, 1], 0).into(),
        metrics_listen: ([127, 0, 0, 1], 0).into(),
        log_stdout: false,
        log_file: Some(log_file.clone()),
        ..Config::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = start_with_kernel(
        config,
        async {
            stopped.await.ok();
        },
        panics_on_666,
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.api_addr);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    let failed = http
        .post(format!("{base}/ml"))
        .json(&serde_json::json!({"input": 666}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);
    let body: Value = failed.json().await.unwrap();
    assert_eq!(body["kind"], "kernel_panic");
    assert!(
        body["error_message"]
            .as_str()
            .unwrap()
            .contains("injected kernel failure")
    );

    let ok = http
        .post(format!("{base}/ml"))
        .json(&serde_json::json!({"input": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    stop.send(()).unwrap();
    server.wait().await.unwrap();
    let records: Vec<Value> = std::fs::read_to_string(&log_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["type"] == "prev_request_history")
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(
        (
            records[0]["status"].as_u64(),
            records[0]["outcome"].as_str()
        ),
        (Some(500), Some("error"))
    );
    assert!(records[0]["error"].as_str().unwrap().contains("panicked"));
    assert_eq!(records[1]["outcome"], "ok");
}
