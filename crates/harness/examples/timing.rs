//! Measures two of the harness's costs from a finished run directory:
//! - scrape-timestamp jitter of the outside sampler: how far each sample lands from its
//!   scheduled tick (start + k · interval), per target;
//! - harness overhead per request: the client's wall time minus the server's kernel time (HTTP,
//!   JSON, queueing and record matching).
//!
//! Usage: cargo run --release -p harness --example timing -- RUN_DIR
use std::collections::BTreeMap;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: timing RUN_DIR")?;
    let run = dataset::open_run(&dir)?;
    let interval_ns = 1e9;
    let mut per_target: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for s in run
        .samples
        .iter()
        .filter(|s| s.metric == "process_cpu_seconds_total")
    {
        per_target.entry(&s.target).or_default().push(s.ts_ns);
    }
    let mut jitter_ms = Vec::new();
    for stamps in per_target.values_mut() {
        stamps.sort_unstable();
        let first = stamps[0];
        for &ts in stamps.iter() {
            let ticks = ((ts - first) as f64 / interval_ns).round();
            jitter_ms.push(((ts - first) as f64 - ticks * interval_ns).abs() / 1e6);
        }
    }
    jitter_ms.sort_by(f64::total_cmp);
    println!(
        "sampler jitter over {} samples: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        jitter_ms.len(),
        percentile(&jitter_ms, 0.5),
        percentile(&jitter_ms, 0.99),
        jitter_ms.last().copied().unwrap_or(0.0)
    );
    let mut overhead_ms: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in run
        .requests
        .iter()
        .map(|r| &r.request)
        .filter(|r| r.outcome == dataset::Outcome::Ok)
    {
        let ms = ((r.client_end_ns - r.client_start_ns) - r.duration_ns) as f64 / 1e6;
        overhead_ms.entry(&r.size).or_default().push(ms);
    }
    // On a throttled target the server's own HTTP handling waits for quota too, so the
    // difference grows as the pod shrinks; the harness's share is what the large pod shows.
    for (size, values) in &mut overhead_ms {
        values.sort_by(f64::total_cmp);
        println!(
            "{size}: client wall − kernel time over {} requests: p50 {:.3} ms, p99 {:.3} ms",
            values.len(),
            percentile(values, 0.5),
            percentile(values, 0.99)
        );
    }
    Ok(())
}
