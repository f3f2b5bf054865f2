//! The aligner: the only place where metric samples meet request records.
//!
//! For each request and each metric it finds, among the samples of the request's own target
//! instance, the state before the request (last sample at or before `start_ns`), the state after
//! it (first sample at or after `end_ns`) and the samples inside `[start_ns, end_ns]`. Matching by
//! instance (`small#1`), not by size, keeps a restarted target's fresh counters apart from its
//! predecessor's.
//!
//! Cost: samples are grouped once by (target, metric) and sorted by time; each request then does
//! a few binary searches per metric (series by series, so each stays in cache) and reads only
//! its own window's samples: O(S log S + R·M·(log S + w)), never a pass over all samples per
//! request.

use std::collections::{BTreeMap, HashMap};

use crate::{RequestRow, SampleRow};

/// One metric around one request. `None` where no sample qualifies.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MetricWindow {
    /// Value of the last sample with `ts_ns <= start_ns`: the state the request met.
    pub start: Option<f64>,
    /// Value of the first sample with `ts_ns >= end_ns`: the state the request left.
    pub end: Option<f64>,
    /// Mean of the samples with `start_ns <= ts_ns <= end_ns`.
    pub mean: Option<f64>,
    /// Maximum of the same samples.
    pub max: Option<f64>,
    /// Number of samples in that window.
    pub count: u32,
}

/// A request with the state of every metric around it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlignedRequest {
    pub request: RequestRow,
    /// Every metric present in the samples (of any target), by name; an all-`None` window where
    /// the request's target has no such series.
    pub states: BTreeMap<String, MetricWindow>,
}

/// Joins every request with the samples of its target instance, keeping the requests' order.
/// Samples whose value is NaN are ignored; ties in time keep the samples' input order.
pub fn align(requests: &[RequestRow], samples: &[SampleRow]) -> Vec<AlignedRequest> {
    let index = SampleIndex::build(samples);
    let metrics = index.metrics.len();
    // windows[request * metrics + metric]
    let mut windows = vec![MetricWindow::default(); requests.len() * metrics];

    let mut requests_by_target: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, request) in requests.iter().enumerate() {
        requests_by_target
            .entry(request.target.as_str())
            .or_default()
            .push(i);
    }
    for (target, mut members) in requests_by_target {
        let Some(series_of_target) = index.by_target.get(target) else {
            continue;
        };
        // One series at a time, its requests in time order: the series stays in cache and
        // consecutive binary searches walk the same few lines, where visiting requests in
        // schedule order would miss the cache at nearly every step.
        members.sort_by_key(|&i| requests[i].start_ns);
        for (position, series) in series_of_target.iter().enumerate() {
            let Some(series) = series else { continue };
            for &i in &members {
                let request = &requests[i];
                windows[i * metrics + position] = series.window(request.start_ns, request.end_ns);
            }
        }
    }

    requests
        .iter()
        .zip(
            windows
                .chunks(metrics.max(1))
                .chain(std::iter::repeat(&[][..])),
        )
        .map(|(request, windows)| AlignedRequest {
            request: request.clone(),
            states: index
                .metrics
                .iter()
                .zip(windows)
                .map(|(metric, window)| ((*metric).to_owned(), *window))
                .collect(),
        })
        .collect()
}

/// One (target, metric) series, sorted by time; times and values apart so the binary searches
/// touch only the times.
#[derive(Default)]
struct Series {
    ts: Vec<i64>,
    values: Vec<f64>,
}

impl Series {
    fn window(&self, start_ns: i64, end_ns: i64) -> MetricWindow {
        let ts = &self.ts[..];
        let first_from_start = ts.partition_point(|&t| t < start_ns);
        let past_start =
            first_from_start + ts[first_from_start..].partition_point(|&t| t <= start_ns);
        // For a well-formed window (end >= start) the rest lies after the start: search only there.
        let from = if end_ns >= start_ns {
            first_from_start
        } else {
            0
        };
        let first_from_end = from + ts[from..].partition_point(|&t| t < end_ns);
        let past_end = first_from_end + ts[first_from_end..].partition_point(|&t| t <= end_ns);

        let inside = &self.values[first_from_start..past_end.max(first_from_start)];
        let (mean, max) = if inside.is_empty() {
            (None, None)
        } else {
            let sum: f64 = inside.iter().sum();
            let max = inside.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (Some(sum / inside.len() as f64), Some(max))
        };
        MetricWindow {
            start: past_start.checked_sub(1).map(|i| self.values[i]),
            end: self.values.get(first_from_end).copied(),
            mean,
            max,
            count: u32::try_from(inside.len()).unwrap_or(u32::MAX),
        }
    }
}

struct SampleIndex<'a> {
    /// Every metric name in the samples, sorted.
    metrics: Vec<&'a str>,
    /// Per target instance, its series in the order of `metrics` (`None`: never sampled).
    by_target: HashMap<&'a str, Vec<Option<Series>>>,
}

impl<'a> SampleIndex<'a> {
    fn build(samples: &'a [SampleRow]) -> Self {
        let mut grouped: HashMap<(&str, &str), Vec<(i64, f64)>> = HashMap::new();
        for sample in samples.iter().filter(|s| !s.value.is_nan()) {
            grouped
                .entry((sample.target.as_str(), sample.metric.as_str()))
                .or_default()
                .push((sample.ts_ns, sample.value));
        }
        let mut metrics: Vec<&str> = grouped.keys().map(|&(_, metric)| metric).collect();
        metrics.sort_unstable();
        metrics.dedup();

        let mut by_target: HashMap<&str, Vec<Option<Series>>> = HashMap::new();
        for ((target, metric), mut points) in grouped {
            // Stable: equal timestamps keep their input order.
            points.sort_by_key(|&(ts, _)| ts);
            let series = Series {
                ts: points.iter().map(|&(ts, _)| ts).collect(),
                values: points.iter().map(|&(_, value)| value).collect(),
            };
            let position = metrics.binary_search(&metric).unwrap_or_default();
            let slots = by_target.entry(target).or_insert_with(|| {
                std::iter::repeat_with(|| None)
                    .take(metrics.len())
                    .collect()
            });
            slots[position] = Some(series);
        }
        Self { metrics, by_target }
    }
}
