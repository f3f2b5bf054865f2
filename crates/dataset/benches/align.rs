//! Aligning a long run: 3 targets × 30 metrics × ~11k one-second timestamps (≈1M samples) with
//! 10k requests. Goal: well under a second on one core.

use criterion::{Criterion, criterion_group, criterion_main};
use dataset::{Outcome, RequestRow, SampleRow, Usage, align};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use workloads::Payload;
use workloads::pi::PiParams;

const SECOND: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * SECOND;
const TARGETS: [&str; 3] = ["small#0", "medium#0", "large#0"];
const TIMESTAMPS: i64 = 11_112;
const METRICS: usize = 30;
const REQUESTS: u64 = 10_000;

fn samples() -> Vec<SampleRow> {
    let metrics: Vec<String> = (0..METRICS).map(|m| format!("metric_{m:02}")).collect();
    let mut rows = Vec::with_capacity(TARGETS.len() * METRICS * TIMESTAMPS as usize);
    for second in 0..TIMESTAMPS {
        for (t, target) in TARGETS.iter().enumerate() {
            for (m, metric) in metrics.iter().enumerate() {
                rows.push(SampleRow {
                    ts_ns: T0 + second * SECOND + t as i64 * 1_000_000,
                    size: target.split('#').next().unwrap_or(target).to_owned(),
                    target: (*target).to_owned(),
                    metric: metric.clone(),
                    value: (second as f64 * 0.37 + m as f64).sin(),
                });
            }
        }
    }
    rows
}

fn requests() -> Vec<RequestRow> {
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    (0..REQUESTS)
        .map(|seq| {
            let start = T0 + rng.random_range(0..TIMESTAMPS * SECOND);
            let end = start + rng.random_range(SECOND / 100..20 * SECOND);
            let target = TARGETS[rng.random_range(0..TARGETS.len())];
            RequestRow {
                run_id: "bench".into(),
                seq,
                size: target.split('#').next().unwrap_or(target).to_owned(),
                target: target.into(),
                cpu_millicores: 100,
                memory_bytes: 1 << 30,
                function: workloads::Function::Pi,
                repetition: 0,
                warmup: false,
                payload: Payload::Pi(PiParams {
                    num_samples: 1_000_000,
                    seed: Some(seq),
                }),
                http_status: Some(200),
                outcome: Outcome::Ok,
                error: None,
                start_ns: start,
                end_ns: end,
                duration_ns: end - start,
                queued_ns: Some(0),
                client_start_ns: start,
                client_end_ns: end,
                usage: Usage::default(),
                response: None,
            }
        })
        .collect()
}

fn bench_align(c: &mut Criterion) {
    let samples = samples();
    let requests = requests();
    let mut group = c.benchmark_group("align");
    group.sample_size(10);
    group.bench_function("1M samples x 10k requests", |b| {
        b.iter(|| {
            align(
                std::hint::black_box(&requests),
                std::hint::black_box(&samples),
            )
        })
    });
    group.bench_function("1M samples, index only", |b| {
        b.iter(|| align(&[], std::hint::black_box(&samples)))
    });
    group.finish();
}

criterion_group!(benches, bench_align);
criterion_main!(benches);
