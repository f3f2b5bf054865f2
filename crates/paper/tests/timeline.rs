//! The request followed over time, on the committed reference run: the same work on the
//! smallest and the largest size, with its pod's CPU use read from the 1 Hz samples.

use std::path::Path;

use paper::timeline::{MARGIN_SECONDS, pick_pair, timeline};

fn reference() -> dataset::Run {
    dataset::open_run(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/reference/sized-sweep"),
    )
    .expect("the committed reference run")
}

#[test]
fn the_pair_is_the_same_request_on_the_smallest_and_the_largest_size() {
    let run = reference();
    let (small, large) = pick_pair(&run).expect("a request measured on both sizes");
    assert_eq!(
        (small.request.size.as_str(), large.request.size.as_str()),
        ("small", "large")
    );
    assert_eq!(small.request.payload, large.request.payload);
    assert_eq!(small.request.repetition, large.request.repetition);
    // The longest request on the small pod: no other usable small request took longer.
    assert!(run.requests.iter().all(|r| r.request.size != "small"
        || r.request.warmup
        || r.request.outcome != dataset::Outcome::Ok
        || r.request.duration_ns <= small.request.duration_ns));
    // A fifth of the CPU makes the same work slower.
    assert!(small.request.duration_ns > 2 * large.request.duration_ns);
}

#[test]
fn a_run_on_one_size_has_no_pair() {
    let mut run = reference();
    run.requests.retain(|r| r.request.size == "small");
    assert!(pick_pair(&run).is_none());
}

#[test]
fn the_timeline_covers_the_request_and_never_exceeds_the_quota() {
    let run = reference();
    let (small, large) = pick_pair(&run).unwrap();
    for request in [small, large] {
        let t = timeline(&run, request);
        assert_eq!(t.seq, request.request.seq);
        let first = t.intervals.first().expect("samples around the request");
        let last = t.intervals.last().unwrap();
        // 1 Hz samples: the first and last within a second of the window's edges.
        assert!(
            first.from >= -MARGIN_SECONDS && first.from < -MARGIN_SECONDS + 1.5,
            "{first:?}"
        );
        assert!(last.to <= t.duration_seconds + MARGIN_SECONDS);
        assert!(
            last.to > t.duration_seconds + MARGIN_SECONDS - 1.5,
            "{last:?}"
        );
        for pair in t.intervals.windows(2) {
            assert_eq!(pair[0].to, pair[1].from, "intervals are contiguous");
        }
        // The cgroup cannot use more than its quota over a second (a little slack for the
        // sampler's timing); while the request runs the pod is busy.
        let during: Vec<_> = t
            .intervals
            .iter()
            .filter(|i| i.from >= 0.0 && i.to <= t.duration_seconds)
            .collect();
        assert!(!during.is_empty());
        for interval in &t.intervals {
            assert!(
                interval.cores <= t.quota_cores * 1.1,
                "{interval:?} over {}",
                t.quota_cores
            );
            assert!(
                interval
                    .throttled_share
                    .is_some_and(|s| (0.0..=1.0).contains(&s))
            );
        }
        for interval in during {
            assert!(
                interval.cores > t.quota_cores * 0.8,
                "{interval:?} idle during the request"
            );
        }
    }
}
