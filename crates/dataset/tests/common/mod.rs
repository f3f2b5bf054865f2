//! Rows for the tests: every payload kind, answered and unanswered requests.
#![allow(dead_code)]

use dataset::{Outcome, RequestRow, SampleRow, Usage};
use workloads::Payload;
use workloads::dense::DenseParams;
use workloads::ml::MlParams;
use workloads::pi::PiParams;
use workloads::video::VideoParams;

pub const SECOND: i64 = 1_000_000_000;
/// 2023-11-14T22:13:20Z: realistic CLOCK_REALTIME values.
pub const T0: i64 = 1_700_000_000 * SECOND;

/// A request of `target` (size taken from its name) running from `start_ns` to `end_ns`.
pub fn request(seq: u64, target: &str, start_ns: i64, end_ns: i64) -> RequestRow {
    let size = target.split('#').next().unwrap_or(target).to_owned();
    let payload = match seq % 4 {
        0 => Payload::Ml(MlParams {
            input: 1000 + seq,
            seed: Some(seq),
        }),
        1 => Payload::Pi(PiParams {
            num_samples: 1_000_000,
            seed: Some(u64::MAX - seq),
        }),
        2 => Payload::Dense(DenseParams {
            epochs: 2,
            seed: None,
            ..DenseParams::default()
        }),
        _ => Payload::Video(VideoParams {
            profile: 2,
            seconds: 0.5,
            seed: Some(7),
        }),
    };
    let answered = seq % 5 != 4;
    let response = answered.then(|| match &payload {
        Payload::Ml(_) => serde_json::json!({"data": "endpoint OK\n", "result": 48576}),
        Payload::Pi(_) => serde_json::json!({"estimated_pi": 3.1393, "num_samples": 1_000_000}),
        Payload::Dense(_) => serde_json::json!({"accuracy": 0.93, "loss": 0.21}),
        Payload::Video(_) => {
            serde_json::json!({"output_size": 123_456_789_u64, "profile_name": "Quad HD"})
        }
    });
    let usage = if answered {
        Usage {
            thread_cpu_ns: Some(5_000_000 + seq),
            process_cpu_ns: Some(6_000_000 + seq),
            cgroup_cpu_ns: (!seq.is_multiple_of(3)).then_some(6_500_000),
            peak_rss_bytes: Some(40 << 20),
            cgroup_memory_peak_bytes: Some(60 << 20),
            ctx_switches_voluntary: Some(3),
            ctx_switches_involuntary: Some(seq),
            io_read_bytes: Some(0),
            io_write_bytes: Some(4096),
            cgroup_periods: Some(10),
            cgroup_throttled_periods: Some(4),
            cgroup_throttled_ns: Some(u64::MAX),
        }
    } else {
        Usage::default()
    };
    RequestRow {
        run_id: "run-1".into(),
        seq,
        size,
        target: target.into(),
        cpu_millicores: 100,
        memory_bytes: 1 << 30,
        function: payload.function(),
        repetition: (seq % 3) as u32,
        warmup: seq == 0,
        payload,
        http_status: answered.then_some(200),
        outcome: if answered {
            Outcome::Ok
        } else {
            Outcome::Timeout
        },
        error: (!answered).then(|| "no answer within 30 s, \"deadline\"\n".to_owned()),
        start_ns,
        end_ns,
        duration_ns: end_ns - start_ns,
        queued_ns: answered.then_some(12_345),
        client_start_ns: start_ns - 1_000,
        client_end_ns: end_ns + 1_000,
        usage,
        response,
    }
}

pub fn sample(ts_ns: i64, target: &str, metric: &str, value: f64) -> SampleRow {
    SampleRow {
        ts_ns,
        size: target.split('#').next().unwrap_or(target).to_owned(),
        target: target.into(),
        metric: metric.into(),
        value,
    }
}

/// 1 Hz samples of a few metrics for two instances of `small` and one `medium`, plus requests
/// spread over them.
pub fn small_run(requests: u64, seconds: i64) -> (Vec<RequestRow>, Vec<SampleRow>) {
    let targets = ["small#0", "small#1", "medium#0"];
    let metrics = [
        "process_cpu_percent",
        "process_memory_rss_bytes",
        "cgroup_cpu_throttled_periods_total",
    ];
    let mut samples = Vec::new();
    for second in 0..seconds {
        for (t, target) in targets.iter().enumerate() {
            for (m, metric) in metrics.iter().enumerate() {
                let value = (second * 7 + t as i64 * 100 + m as i64 * 1000) as f64 / 3.0;
                samples.push(sample(
                    T0 + second * SECOND + 3_000_000 * t as i64,
                    target,
                    metric,
                    value,
                ));
            }
        }
    }
    let rows = (0..requests)
        .map(|seq| {
            let start = T0 + (seq as i64 % seconds) * SECOND + 500_000_000;
            request(
                seq,
                targets[seq as usize % targets.len()],
                start,
                start + (seq as i64 % 4) * SECOND / 2,
            )
        })
        .collect();
    (rows, samples)
}

/// Names of a directory's entries, sorted.
pub fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
