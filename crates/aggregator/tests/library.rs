//! The run-directory source called directly: over the committed reference run, and over small
//! runs written with `dataset::write_run` into temporary roots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aggregator::{ApiError, Cursor, HistoryParams, Query, RunDirSource, Source};
use dataset::{Collector, Host, Manifest, RequestRow, SampleRow, SizeSpec};
use workloads::{Function, Outcome, Payload, Usage};

fn reference_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/reference")
}

fn query(pairs: &[(&str, &str)]) -> Query {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    HistoryParams::parse(&pairs).unwrap().query
}

/// Every record the query selects, page after page.
fn all_pages(source: &RunDirSource, mut query: Query) -> Vec<aggregator::HistoryRecord> {
    let mut records = Vec::new();
    loop {
        let page = source.history(&query).unwrap();
        assert!(page.records.len() <= query.limit);
        records.extend(page.records);
        match page.next_cursor {
            Some(token) => query.cursor = Some(Cursor::decode(&token).unwrap()),
            None => return records,
        }
    }
}

fn manifest(run_id: &str, experiment: &str) -> Manifest {
    Manifest {
        schema_version: dataset::SCHEMA_VERSION,
        run_id: run_id.into(),
        experiment: experiment.into(),
        spec: String::new(),
        spec_sha256: String::new(),
        seed: 1,
        schedule_len: 3,
        started_at: dataset::rfc3339_utc(0),
        finished_at: Some(dataset::rfc3339_utc(10)),
        host: Host {
            cores: 2,
            kernel: "test".into(),
            cgroup_mode: "v2".into(),
            memory_bytes: 1 << 30,
        },
        versions: BTreeMap::new(),
        sizes: vec![SizeSpec {
            name: "small".into(),
            cpu_millicores: 100,
            memory_bytes: 1 << 30,
            price_per_core_second: 0.0,
            price_per_gib_second: 0.0,
        }],
        limits_enforced: true,
        collector: Collector::Probe,
        counts: BTreeMap::new(),
        notes: Vec::new(),
    }
}

fn request(run_id: &str, seq: u64, start_ns: i64) -> RequestRow {
    RequestRow {
        run_id: run_id.into(),
        seq,
        size: "small".into(),
        target: "small#0".into(),
        cpu_millicores: 100,
        memory_bytes: 1 << 30,
        function: Function::Ml,
        repetition: 0,
        warmup: false,
        payload: Payload::Ml(workloads::ml::MlParams {
            input: 10 + seq,
            seed: None,
        }),
        http_status: Some(200),
        outcome: Outcome::Ok,
        error: None,
        start_ns,
        end_ns: start_ns + 2_500,
        duration_ns: 2_500,
        queued_ns: Some(1),
        client_start_ns: start_ns,
        client_end_ns: start_ns + 3_000,
        usage: Usage::default(),
        response: None,
    }
}

fn sample(ts_ns: i64, value: f64) -> SampleRow {
    SampleRow {
        ts_ns,
        size: "small".into(),
        target: "small#0".into(),
        metric: "process_cpu_percent".into(),
        value,
    }
}

/// A run of three requests at 0, 10 000 and 20 000 ns, sampled every 1 000 ns.
fn write_small_run(root: &Path, relative: &str, experiment: &str) {
    let run_id = relative.rsplit('/').next().unwrap();
    let requests: Vec<RequestRow> = (0..3)
        .map(|i| request(run_id, i, i as i64 * 10_000))
        .collect();
    let samples: Vec<SampleRow> = (0..30).map(|i| sample(i * 1_000, i as f64)).collect();
    dataset::write_run(
        root.join(relative),
        &manifest(run_id, experiment),
        &requests,
        &samples,
    )
    .unwrap();
}

#[test]
fn reference_run_pages_cover_every_request_once_in_order() {
    let source = RunDirSource::new(reference_root()).unwrap();
    let runs = source.runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].run_id, "sized-sweep");
    let total = runs[0].counts["total"] as usize;

    let records = all_pages(&source, query(&[("limit", "97")]));
    assert_eq!(records.len(), total);
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seq order, no repeats"
    );
    assert!(records.iter().all(|r| r.run_id == "sized-sweep"));
}

#[test]
fn reference_run_filters_match_the_dataset_exactly() {
    let source = RunDirSource::new(reference_root()).unwrap();
    let run = dataset::open_run(reference_root().join("sized-sweep")).unwrap();
    let mut starts: Vec<i64> = run.requests.iter().map(|r| r.request.start_ns).collect();
    starts.sort_unstable();
    let (from, to) = (starts[100], starts[300]);

    let expected: Vec<u64> = {
        let mut seqs: Vec<u64> = run
            .requests
            .iter()
            .map(|r| &r.request)
            .filter(|r| r.function == Function::Ml && r.size != "medium")
            .filter(|r| r.start_ns >= from && r.start_ns < to)
            .map(|r| r.seq)
            .collect();
        seqs.sort_unstable();
        seqs
    };
    assert!(!expected.is_empty());
    let records = all_pages(
        &source,
        query(&[
            ("function", "ml"),
            ("size", "small"),
            ("size", "large"),
            ("from", &from.to_string()),
            ("to", &dataset::rfc3339_utc(to)),
            ("limit", "7"),
        ]),
    );
    let got: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(got, expected);

    // The states are the aligner's windows, unchanged.
    let first = &records[0];
    let aligned = run
        .requests
        .iter()
        .find(|r| r.request.seq == first.seq)
        .unwrap();
    for (metric, window) in &aligned.states {
        let state = &first.states[metric];
        assert_eq!(
            (state.start, state.end, state.count),
            (window.start, window.end, window.count)
        );
    }
    assert_eq!(first.input, aligned.request.payload.body());
    assert_eq!(
        source
            .history(&query(&[("experiment", "nope")]))
            .unwrap()
            .records
            .len(),
        0
    );
}

#[test]
fn samples_are_the_ones_inside_each_window() {
    let root = tempfile::tempdir().unwrap();
    write_small_run(root.path(), "exp/run-a", "exp");
    let source = RunDirSource::new(root.path()).unwrap();
    let page = source.history(&query(&[("samples", "true")])).unwrap();
    assert_eq!(page.records.len(), 3);
    let second = &page.records[1]; // [10 000, 12 500]
    let state = &second.states["process_cpu_percent"];
    assert_eq!(
        state.samples.as_deref(),
        Some(&[(10_000, 10.0), (11_000, 11.0), (12_000, 12.0)][..])
    );
    assert_eq!(state.count, 3);
    assert_eq!(
        (state.start, state.end, state.max),
        (Some(10.0), Some(13.0), Some(12.0))
    );
    assert_eq!(second.run_id, "exp/run-a");
    assert!(
        source.history(&query(&[])).unwrap().records[0].states["process_cpu_percent"]
            .samples
            .is_none()
    );
}

#[test]
fn runs_nest_one_or_two_levels_and_sort_by_id() {
    let root = tempfile::tempdir().unwrap();
    write_small_run(root.path(), "b-exp/run-2", "b-exp");
    write_small_run(root.path(), "b-exp/run-1", "b-exp");
    write_small_run(root.path(), "a-run", "a");
    let source = RunDirSource::new(root.path()).unwrap();
    assert_eq!(
        source.run_ids().unwrap(),
        ["a-run", "b-exp/run-1", "b-exp/run-2"]
    );
    let records = all_pages(&source, query(&[("limit", "2")]));
    let keys: Vec<(String, u64)> = records.iter().map(|r| (r.run_id.clone(), r.seq)).collect();
    assert_eq!(keys.len(), 9);
    assert_eq!(keys[3], ("b-exp/run-1".to_owned(), 0));
    let only = all_pages(
        &source,
        query(&[("run", "b-exp/run-2"), ("experiment", "b-exp")]),
    );
    assert_eq!(only.len(), 3);
    let endpoints = source.endpoints().unwrap();
    assert_eq!(endpoints.len(), 3);
    assert_eq!(endpoints[0].cpu_millicores, Some(100));
}

#[test]
fn run_ids_cannot_leave_the_root() {
    let outside = tempfile::tempdir().unwrap();
    write_small_run(outside.path(), "secret", "secret");
    let root = tempfile::tempdir().unwrap();
    write_small_run(root.path(), "inside", "inside");
    std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("linked")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("linked-exp")).unwrap();
    let source = RunDirSource::new(root.path()).unwrap();
    assert_eq!(source.run_ids().unwrap(), ["inside"]);

    for bad in [
        "../../etc",
        "..",
        "/etc",
        "inside/../inside",
        "a/b/c",
        "",
        "./inside",
        "x\\..\\y",
    ] {
        match source.history(&query(&[("run", bad)])) {
            Err(ApiError::BadParameter { parameter, .. }) => assert_eq!(parameter, "run", "{bad}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    for unknown in ["linked", "linked-exp/secret", "nothing"] {
        assert!(
            matches!(
                source.history(&query(&[("run", unknown)])),
                Err(ApiError::UnknownRun { .. })
            ),
            "{unknown}"
        );
    }
    assert!(
        source
            .endpoints()
            .unwrap()
            .iter()
            .all(|e| e.run_id.as_deref() == Some("inside"))
    );
}
