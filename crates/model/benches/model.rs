//! Training time of each target's booster on the committed `sized-sweep` run (one thread),
//! and the latency of one placement: predicting a request's duration on every size.

use std::collections::BTreeMap;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use model::{DurationSource, Objective, Target, TrainOptions, parse_payload, place, train};

fn reference_run() -> dataset::Run {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/reference/sized-sweep");
    dataset::open_run(dir).expect("reference run opens")
}

fn training(c: &mut Criterion) {
    let run = reference_run();
    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    for target in Target::ALL {
        let options = TrainOptions {
            targets: vec![target],
            nthread: 1,
            ..TrainOptions::default()
        };
        group.bench_function(target.name(), |b| {
            b.iter(|| train(&run, &options).expect("training succeeds"))
        });
    }
    group.finish();
}

fn placement(c: &mut Criterion) {
    let run = reference_run();
    let model = train(&run, &TrainOptions::default()).expect("training succeeds");
    let payload = parse_payload("dense", &serde_json::json!({"epochs": 2})).expect("valid payload");
    let no_state = BTreeMap::new();
    let mut group = c.benchmark_group("place");
    for source in [
        DurationSource::Direct,
        DurationSource::ViaCpu,
        DurationSource::Hybrid,
    ] {
        let name = match source {
            DurationSource::Direct => "one_request_all_sizes_direct",
            DurationSource::ViaCpu => "one_request_all_sizes_via_cpu",
            DurationSource::Hybrid => "one_request_all_sizes_hybrid",
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                place(
                    &model,
                    &payload,
                    &no_state,
                    Some(10.0),
                    Objective::Cost,
                    source,
                )
                .expect("placement succeeds")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, training, placement);
criterion_main!(benches);
