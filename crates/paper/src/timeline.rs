//! One request's CPU use and throttling over time, from the run's 1 Hz samples of its target.

use std::collections::BTreeMap;

use dataset::{AlignedRequest, PayloadColumns, RequestRow, Run};

/// Cumulative cgroup counters sampled once a second (see `docs/dataset.md`).
const CPU_USAGE: &str = "cgroup_cpu_usage_seconds_total";
const PERIODS: &str = "cgroup_cpu_periods_total";
const THROTTLED_PERIODS: &str = "cgroup_cpu_throttled_periods_total";

/// Seconds of samples shown before the request starts and after it ends.
pub const MARGIN_SECONDS: f64 = 3.0;

/// What happened between two consecutive samples of the request's target.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// Seconds since the request's start.
    pub from: f64,
    pub to: f64,
    /// CPU cores used on average (cgroup CPU seconds per second).
    pub cores: f64,
    /// Share of the CFS periods in which the quota was hit; `None` when no period elapsed.
    pub throttled_share: Option<f64>,
}

/// One request on one size, with its target's intervals around it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestTimeline {
    pub size: String,
    pub seq: u64,
    /// The size's CPU limit in cores.
    pub quota_cores: f64,
    pub duration_seconds: f64,
    pub intervals: Vec<Interval>,
}

/// The request shown: on the smallest and on the largest size (by CPU), the same payload and
/// repetition, the one that took longest on the smallest size (ties: the earlier request).
/// `None` when no successful request was measured on both.
pub fn pick_pair(run: &Run) -> Option<(&AlignedRequest, &AlignedRequest)> {
    let smallest = run.manifest.sizes.iter().min_by_key(|s| s.cpu_millicores)?;
    let largest = run.manifest.sizes.iter().max_by_key(|s| s.cpu_millicores)?;
    if smallest.name == largest.name {
        return None;
    }
    let usable =
        |r: &&AlignedRequest| r.request.outcome == dataset::Outcome::Ok && !r.request.warmup;
    let on = |size: &str| -> Vec<&AlignedRequest> {
        run.requests
            .iter()
            .filter(usable)
            .filter(|r| r.request.size == size)
            .collect()
    };
    let partners = on(&largest.name);
    on(&smallest.name)
        .into_iter()
        .filter_map(|small| {
            let large = partners.iter().find(|large| {
                large.request.payload == small.request.payload
                    && large.request.repetition == small.request.repetition
            })?;
            Some((small, *large))
        })
        .max_by(|(a, _), (b, _)| {
            a.request
                .duration_ns
                .cmp(&b.request.duration_ns)
                .then(b.request.seq.cmp(&a.request.seq))
        })
}

/// The intervals between the samples of `request`'s own target instance from
/// [`MARGIN_SECONDS`] before its start to as long after its end.
pub fn timeline(run: &Run, request: &AlignedRequest) -> RequestTimeline {
    let row = &request.request;
    let from_ns = row.start_ns - (MARGIN_SECONDS * 1e9) as i64;
    let to_ns = row.end_ns + (MARGIN_SECONDS * 1e9) as i64;
    let mut series: BTreeMap<&str, BTreeMap<i64, f64>> = BTreeMap::new();
    for sample in &run.samples {
        if sample.target == row.target
            && (from_ns..=to_ns).contains(&sample.ts_ns)
            && [CPU_USAGE, PERIODS, THROTTLED_PERIODS].contains(&sample.metric.as_str())
        {
            series
                .entry(sample.metric.as_str())
                .or_default()
                .insert(sample.ts_ns, sample.value);
        }
    }
    let empty = BTreeMap::new();
    let usage = series.get(CPU_USAGE).unwrap_or(&empty);
    let periods = series.get(PERIODS).unwrap_or(&empty);
    let throttled = series.get(THROTTLED_PERIODS).unwrap_or(&empty);
    let since_start = |ts: i64| (ts - row.start_ns) as f64 / 1e9;
    let intervals = usage
        .iter()
        .zip(usage.iter().skip(1))
        .filter_map(|((&t0, &u0), (&t1, &u1))| {
            let seconds = (t1 - t0) as f64 / 1e9;
            if seconds <= 0.0 || u1 < u0 {
                // A counter that went back belongs to another process: nothing to show.
                return None;
            }
            let delta = |counter: &BTreeMap<i64, f64>| Some(counter.get(&t1)? - counter.get(&t0)?);
            let throttled_share = match (delta(periods), delta(throttled)) {
                (Some(p), Some(t)) if p > 0.0 => Some((t / p).clamp(0.0, 1.0)),
                _ => None,
            };
            Some(Interval {
                from: since_start(t0),
                to: since_start(t1),
                cores: (u1 - u0) / seconds,
                throttled_share,
            })
        })
        .collect();
    RequestTimeline {
        size: row.size.clone(),
        seq: row.seq,
        quota_cores: f64::from(row.cpu_millicores) / 1000.0,
        duration_seconds: row.duration_ns as f64 / 1e9,
        intervals,
    }
}

/// A request in words: its function and the payload fields that set its work (not the seed).
pub fn describe(request: &RequestRow) -> String {
    let p = PayloadColumns::of(&request.payload);
    let integer = |name: &str, v: Option<u64>| v.map(|v| format!("{name} {v}"));
    let fields: Vec<String> = [
        integer("input", p.input),
        integer("samples", p.num_samples),
        integer("epochs", p.epochs.map(u64::from)),
        integer("batch", p.batch_size.map(u64::from)),
        integer("layers", p.num_layers.map(u64::from)),
        integer("units", p.units.map(u64::from)),
        integer("profile", p.profile.map(u64::from)),
        p.seconds.map(|s| format!("{s} s clip")),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!(
        "/{} {} (repetition {})",
        request.function,
        fields.join(", "),
        request.repetition
    )
}
