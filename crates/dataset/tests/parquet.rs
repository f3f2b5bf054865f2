mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use common::{entries, small_run};
use dataset::{
    Collector, DatasetError, Host, MANIFEST_FILE, Manifest, REQUESTS_FILE, SAMPLES_FILE,
    SCHEMA_VERSION, SCHEMA_VERSION_KEY, SizeSpec, align, open_run, outcome_counts, read_requests,
    read_samples, rfc3339_utc, write_requests, write_run, write_samples,
};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

fn manifest(requests: &[dataset::RequestRow]) -> Manifest {
    Manifest {
        schema_version: SCHEMA_VERSION,
        run_id: "run-1".into(),
        experiment: "smoke".into(),
        spec: "name = \"smoke\"\nseed = 42\n".into(),
        spec_sha256: "0".repeat(64),
        seed: 42,
        schedule_len: requests.len() as u64,
        started_at: rfc3339_utc(common::T0),
        finished_at: Some(rfc3339_utc(common::T0 + 60 * common::SECOND)),
        host: Host {
            cores: 2,
            kernel: "6.1.0".into(),
            cgroup_mode: "hybrid".into(),
            memory_bytes: 8 << 30,
        },
        versions: BTreeMap::from([
            ("crate".into(), "0.1.0".into()),
            ("libtorch".into(), "1.13.1".into()),
        ]),
        sizes: vec![SizeSpec {
            name: "small".into(),
            cpu_millicores: 100,
            memory_bytes: 1 << 30,
            price_per_core_second: 1.2e-5,
            price_per_gib_second: 1.5e-6,
        }],
        limits_enforced: true,
        collector: Collector::Probe,
        counts: outcome_counts(requests),
        notes: vec!["test".into()],
    }
}

#[test]
fn requests_and_samples_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (requests, samples) = small_run(40, 30);
    let aligned = align(&requests, &samples);
    write_requests(dir.path().join(REQUESTS_FILE), &aligned).unwrap();
    write_samples(dir.path().join(SAMPLES_FILE), &samples).unwrap();
    assert_eq!(
        read_requests(dir.path().join(REQUESTS_FILE)).unwrap(),
        aligned
    );
    assert_eq!(
        read_samples(dir.path().join(SAMPLES_FILE)).unwrap(),
        samples
    );
    assert_eq!(
        entries(dir.path()),
        [REQUESTS_FILE, SAMPLES_FILE],
        "no temp files left"
    );
}

#[test]
fn batches_larger_than_one_record_batch_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (_, samples) = small_run(0, 8000); // 72k samples: more than one 64k batch
    write_samples(dir.path().join(SAMPLES_FILE), &samples).unwrap();
    assert_eq!(
        read_samples(dir.path().join(SAMPLES_FILE)).unwrap(),
        samples
    );
}

#[test]
fn empty_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    write_requests(dir.path().join(REQUESTS_FILE), &[]).unwrap();
    write_samples(dir.path().join(SAMPLES_FILE), &[]).unwrap();
    assert_eq!(read_requests(dir.path().join(REQUESTS_FILE)).unwrap(), []);
    assert_eq!(read_samples(dir.path().join(SAMPLES_FILE)).unwrap(), []);
}

#[test]
fn a_run_directory_round_trips_and_holds_only_its_three_files() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("smoke").join("run-1");
    let (requests, samples) = small_run(25, 20);
    let manifest = manifest(&requests);
    let aligned = write_run(&run_dir, &manifest, &requests, &samples).unwrap();
    assert_eq!(
        entries(&run_dir),
        [MANIFEST_FILE, REQUESTS_FILE, SAMPLES_FILE]
    );
    let run = open_run(&run_dir).unwrap();
    assert_eq!(run.manifest, manifest);
    assert_eq!(run.requests, aligned);
    assert_eq!(run.samples, samples);
    assert_eq!(run.manifest.counts["total"], 25);
    assert_eq!(run.manifest.counts["timeout"], 5);
    assert_eq!(run.manifest.counts["failed"], 5);
    assert_eq!(run.manifest.counts["ok"], 20);
    assert_eq!(run.manifest.counts["oom"], 0);
}

#[test]
fn a_request_whose_function_is_not_its_payloads_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut requests, _) = small_run(1, 1);
    requests[0].function = workloads::Function::Video;
    let aligned = align(&requests, &[]);
    let err = write_requests(dir.path().join(REQUESTS_FILE), &aligned).unwrap_err();
    assert!(
        matches!(err, DatasetError::InconsistentRow { seq: 0, .. }),
        "{err}"
    );
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

/// A file shaped like samples.parquet but stamped with `version` (or nothing).
fn write_foreign_samples(path: &std::path::Path, version: Option<&str>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts_ns", DataType::Int64, false),
        Field::new("value", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1_i64])),
            Arc::new(Float64Array::from(vec![0.5])),
        ],
    )
    .unwrap();
    let metadata =
        version.map(|v| vec![KeyValue::new(SCHEMA_VERSION_KEY.to_owned(), v.to_owned())]);
    let properties = WriterProperties::builder()
        .set_key_value_metadata(metadata)
        .build();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        schema,
        Some(properties),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn readers_refuse_another_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SAMPLES_FILE);
    write_foreign_samples(&path, Some("2"));
    match read_samples(&path) {
        Err(DatasetError::SchemaVersion {
            found, expected, ..
        }) => {
            assert_eq!(found.as_deref(), Some("2"));
            assert_eq!(expected, SCHEMA_VERSION);
        }
        other => panic!("expected a schema version error, got {other:?}"),
    }
    assert!(matches!(
        read_requests(&path),
        Err(DatasetError::SchemaVersion { .. })
    ));

    write_foreign_samples(&path, None);
    assert!(matches!(
        read_samples(&path),
        Err(DatasetError::SchemaVersion { found: None, .. })
    ));
}

#[test]
fn the_manifest_reader_refuses_another_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(MANIFEST_FILE);
    let mut manifest = manifest(&[]);
    manifest.schema_version = SCHEMA_VERSION + 1;
    manifest.write(&path).unwrap();
    match Manifest::read(&path) {
        Err(DatasetError::SchemaVersion {
            found, expected, ..
        }) => {
            assert_eq!(found, Some((SCHEMA_VERSION + 1).to_string()));
            assert_eq!(expected, SCHEMA_VERSION);
        }
        other => panic!("expected a schema version error, got {other:?}"),
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\n  \"run_id\": \"run-1\""),
        "pretty JSON: {text}"
    );
}

#[test]
fn a_file_of_the_wrong_shape_is_a_column_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SAMPLES_FILE);
    // Right version, but samples.parquet lacks `size`, `target`, `metric`.
    write_foreign_samples(&path, Some(&SCHEMA_VERSION.to_string()));
    match read_samples(&path) {
        Err(DatasetError::Column { column, .. }) => assert_eq!(column, "size"),
        other => panic!("expected a column error, got {other:?}"),
    }
}
