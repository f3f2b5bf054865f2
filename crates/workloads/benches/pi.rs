//! Pi throughput: CPU time for 100M samples on one core (goal: well under the original NumPy
//! version's 0.44 s ÷ 4).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use workloads::pi::{PiParams, run};

fn pi(c: &mut Criterion) {
    let mut group = c.benchmark_group("pi");
    group.sample_size(10);
    let samples = 100_000_000;
    group.throughput(Throughput::Elements(samples));
    group.bench_function("100M samples", |b| {
        b.iter(|| {
            run(&PiParams {
                num_samples: samples,
                seed: Some(1),
            })
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, pi);
criterion_main!(benches);
