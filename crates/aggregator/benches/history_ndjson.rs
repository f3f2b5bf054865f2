//! NDJSON encoding of `/history` records: 100k records built from the committed reference run
//! (its 624 rows repeated with fresh `seq`s), drained chunk by chunk as the HTTP body streams them.

use std::path::Path;

use aggregator::{HistoryParams, RunDirSource, Source, format};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const RECORDS: usize = 100_000;

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/reference");
    let source = RunDirSource::new(root).expect("reference data root");
    let mut query = HistoryParams::parse(&[]).expect("empty query").query;
    query.limit = aggregator::query::MAX_LIMIT;
    let base = source.history(&query).expect("reference history").records;
    let records: Vec<_> = base
        .iter()
        .cycle()
        .take(RECORDS)
        .enumerate()
        .map(|(seq, record)| {
            let mut record = record.clone();
            record.seq = seq as u64;
            record
        })
        .collect();

    let mut group = c.benchmark_group("history_ndjson");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(10);
    group.bench_function("100k_records", |b| {
        b.iter_batched(
            || records.clone(),
            |records| {
                let mut bytes = 0usize;
                let mut largest_chunk = 0usize;
                for chunk in format::ndjson_chunks(records) {
                    bytes += chunk.len();
                    largest_chunk = largest_chunk.max(chunk.len());
                }
                (bytes, largest_chunk)
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
