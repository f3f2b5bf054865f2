//! The sample journal at the size of a long run: 1 Hz × 30 metrics × 3 targets × 30 min
//! (162k rows), flushed (write + fsync) every 1,000 rows, then read back.

use criterion::{Criterion, criterion_group, criterion_main};
use dataset::{SampleJournal, SampleRow};

const SECOND: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * SECOND;
const ROWS_PER_FLUSH: usize = 1_000;

fn rows() -> Vec<SampleRow> {
    let mut rows = Vec::new();
    for second in 0..1_800 {
        for target in ["small#0", "medium#0", "large#0"] {
            for m in 0..30 {
                rows.push(SampleRow {
                    ts_ns: T0 + second * SECOND,
                    size: target.split('#').next().unwrap_or(target).to_owned(),
                    target: target.to_owned(),
                    metric: format!("cgroup_cpu_throttled_periods_{m:02}_total"),
                    value: second as f64 * 1.37 + f64::from(m),
                });
            }
        }
    }
    rows
}

fn bench_sample_journal(c: &mut Criterion) {
    let rows = rows();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("samples.jsonl");
    let mut group = c.benchmark_group("sample journal 162k rows");
    group.sample_size(10);
    group.bench_function("push + flush every 1000", |b| {
        b.iter(|| {
            let _ = std::fs::remove_file(&path);
            let mut journal = SampleJournal::open(&path, ROWS_PER_FLUSH).expect("open");
            for row in &rows {
                journal.push(row).expect("push");
            }
            journal.flush().expect("flush");
        })
    });
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "journal file: {} bytes, {:.0} bytes/row",
        size,
        size as f64 / rows.len() as f64
    );
    group.bench_function("read", |b| {
        b.iter(|| SampleJournal::read(&path).expect("read"))
    });
    group.finish();
}

criterion_group!(benches, bench_sample_journal);
criterion_main!(benches);
