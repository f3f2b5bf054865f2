mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{request, sample};
use dataset::{MetricWindow, RequestRow, SampleRow, align};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

fn window(
    start: Option<f64>,
    end: Option<f64>,
    mean: Option<f64>,
    max: Option<f64>,
    count: u32,
) -> MetricWindow {
    MetricWindow {
        start,
        end,
        mean,
        max,
        count,
    }
}

#[test]
fn hand_made_windows() {
    let samples = vec![
        sample(40, "small#0", "cpu", 4.0),
        sample(10, "small#0", "cpu", 1.0),
        sample(20, "small#0", "cpu", 2.0),
        sample(30, "small#0", "cpu", 3.0),
        // A restarted instance of the same size: its samples must not leak into small#0's.
        sample(20, "small#1", "cpu", 100.0),
        sample(35, "small#1", "cpu", 200.0),
        sample(25, "small#1", "mem", 7.0),
    ];
    let requests = vec![
        request(0, "small#0", 20, 35), // start exactly on a sample
        request(1, "small#0", 5, 10),  // nothing before, end exactly on a sample
        request(2, "small#1", 20, 35),
        request(3, "small#0", 41, 50), // nothing after
        request(4, "large#0", 0, 100), // a target never sampled
    ];
    let aligned = align(&requests, &samples);
    assert_eq!(aligned.len(), 5);
    for (a, r) in aligned.iter().zip(&requests) {
        assert_eq!(&a.request, r);
        assert_eq!(
            a.states.keys().collect::<Vec<_>>(),
            ["cpu", "mem"],
            "every metric, every request"
        );
    }
    let none = MetricWindow::default();
    assert_eq!(
        aligned[0].states["cpu"],
        window(Some(2.0), Some(4.0), Some(2.5), Some(3.0), 2)
    );
    assert_eq!(aligned[0].states["mem"], none);
    assert_eq!(
        aligned[1].states["cpu"],
        window(None, Some(1.0), Some(1.0), Some(1.0), 1)
    );
    assert_eq!(
        aligned[2].states["cpu"],
        window(Some(100.0), Some(200.0), Some(150.0), Some(200.0), 2)
    );
    assert_eq!(
        aligned[2].states["mem"],
        window(None, None, Some(7.0), Some(7.0), 1),
        "a sample inside the window is neither the state before nor after it"
    );
    assert_eq!(
        aligned[3].states["cpu"],
        window(Some(4.0), None, None, None, 0)
    );
    assert_eq!(aligned[4].states["cpu"], none);
}

#[test]
fn nan_samples_are_ignored_and_equal_timestamps_keep_input_order() {
    let samples = vec![
        sample(10, "small#0", "cpu", 1.0),
        sample(10, "small#0", "cpu", 2.0),
        sample(15, "small#0", "cpu", f64::NAN),
        sample(20, "small#0", "cpu", 3.0),
        sample(20, "small#0", "cpu", 4.0),
    ];
    let aligned = align(&[request(0, "small#0", 10, 20)], &samples);
    // Last at-or-before 10 is the later of the two, first at-or-after 20 the earlier of two.
    assert_eq!(
        aligned[0].states["cpu"],
        window(Some(2.0), Some(3.0), Some(2.5), Some(4.0), 4)
    );
}

/// The definition, applied literally: every sample checked for every request and metric.
fn naive(requests: &[RequestRow], samples: &[SampleRow]) -> Vec<BTreeMap<String, MetricWindow>> {
    let metrics: BTreeSet<&str> = samples
        .iter()
        .filter(|s| !s.value.is_nan())
        .map(|s| s.metric.as_str())
        .collect();
    requests
        .iter()
        .map(|r| {
            metrics
                .iter()
                .map(|&metric| {
                    let mut start: Option<(i64, f64)> = None;
                    let mut end: Option<(i64, f64)> = None;
                    let (mut sum, mut max, mut count) = (0.0, f64::NEG_INFINITY, 0u32);
                    for s in samples {
                        if s.target != r.target || s.metric != metric || s.value.is_nan() {
                            continue;
                        }
                        if s.ts_ns <= r.start_ns && start.is_none_or(|(t, _)| s.ts_ns >= t) {
                            start = Some((s.ts_ns, s.value));
                        }
                        if s.ts_ns >= r.end_ns && end.is_none_or(|(t, _)| s.ts_ns < t) {
                            end = Some((s.ts_ns, s.value));
                        }
                        if r.start_ns <= s.ts_ns && s.ts_ns <= r.end_ns {
                            sum += s.value;
                            max = max.max(s.value);
                            count += 1;
                        }
                    }
                    let window = MetricWindow {
                        start: start.map(|(_, v)| v),
                        end: end.map(|(_, v)| v),
                        mean: (count > 0).then(|| sum / f64::from(count)),
                        max: (count > 0).then_some(max),
                        count,
                    };
                    (metric.to_owned(), window)
                })
                .collect()
        })
        .collect()
}

#[test]
fn agrees_with_the_naive_definition_on_random_data() {
    let targets = ["small#0", "small#1", "medium#0", "large#0", "large#1"];
    let metrics = [
        "process_cpu_percent",
        "rss",
        "cgroup_cpu_throttled_periods_total",
        "io",
    ];
    for seed in 0..4 {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        // "large#1" gets no samples; a small time range makes equal timestamps common.
        let samples: Vec<SampleRow> = (0..3000)
            .map(|_| {
                let target = targets[rng.random_range(0..4)];
                let metric = metrics[rng.random_range(0..metrics.len())];
                // Integers, so sums are exact whatever the order; some NaNs to be ignored.
                let value = if rng.random_ratio(1, 50) {
                    f64::NAN
                } else {
                    f64::from(rng.random_range(0..1000u32))
                };
                sample(rng.random_range(0..2000), target, metric, value)
            })
            .collect();
        let requests: Vec<RequestRow> = (0..1500)
            .map(|seq| {
                let start = rng.random_range(-100..2100);
                // Mostly well-formed windows, a few zero-length and inverted ones.
                let end = start + rng.random_range(-20..300);
                request(seq, targets[rng.random_range(0..targets.len())], start, end)
            })
            .collect();
        let fast = align(&requests, &samples);
        let reference = naive(&requests, &samples);
        assert_eq!(fast.len(), reference.len());
        for (i, (a, expected)) in fast.iter().zip(&reference).enumerate() {
            assert_eq!(
                &a.states, expected,
                "seed {seed}, request {i}: {:?}",
                requests[i]
            );
        }
        let matched = fast
            .iter()
            .flat_map(|a| a.states.values())
            .filter(|w| w.count > 0)
            .count();
        assert!(
            matched > 1000,
            "the random data exercises few windows: {matched}"
        );
    }
}
