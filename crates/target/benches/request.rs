//! Request overhead of the server: a full HTTP round trip over loopback for `/ml` with
//! `input: 0` (no work), including parsing, queueing, usage measurement and the log line.
use criterion::{Criterion, criterion_group, criterion_main};
use target::server::{Config, start};

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: ([127, 0, 0, 1], 0).into(),
        metrics_listen: ([127, 0, 0, 1], 0).into(),
        log_stdout: false,
        log_file: Some(dir.path().join("requests.jsonl")),
        ..Config::default()
    };
    let server = runtime
        .block_on(start(config, std::future::pending()))
        .unwrap();
    let url = format!("http://{}/ml", server.api_addr);
    let client = reqwest::Client::new();
    c.bench_function("POST /ml input=0 round trip", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = client
                .post(&url)
                .body(r#"{"input": 0}"#)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
            response.bytes().await.unwrap()
        })
    });
    let metrics_url = format!("http://{}/metrics", server.metrics_addr);
    c.bench_function("GET /metrics", |b| {
        b.to_async(&runtime).iter(|| async {
            client
                .get(&metrics_url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        })
    });
}

criterion_group!(benches, overhead);
criterion_main!(benches);
