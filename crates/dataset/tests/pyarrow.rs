//! The files must load outside Rust: pyarrow (pinned by scripts/setup) reads both.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::small_run;
use dataset::{REQUESTS_FILE, SAMPLES_FILE, align, write_requests, write_samples};

const READER: &str = r#"
import json, sys
import pyarrow.compute as pc
import pyarrow.parquet as pq
out = {}
for name in ("requests", "samples"):
    path = f"{sys.argv[1]}/{name}.parquet"
    table = pq.read_table(path)
    meta = pq.read_metadata(path).metadata
    out[name] = {
        "rows": table.num_rows,
        "types": {field.name: str(field.type) for field in table.schema},
        "version": meta[b"computelocator.schema_version"].decode(),
    }
requests = pq.read_table(f"{sys.argv[1]}/requests.parquet")
# As docs/dataset.md shows it.
ok = requests.filter(pc.equal(requests["outcome"], "ok"))
out["ok"] = ok.num_rows
out["cpu_states"] = [c for c in ok.column_names if c.startswith("process_cpu_percent.")]
out["seq_sum"] = sum(requests.column("seq").to_pylist())
out["estimated_pi"] = [v for v in requests.column("estimated_pi").to_pylist() if v is not None]
samples = pq.read_table(f"{sys.argv[1]}/samples.parquet")
out["value_sum"] = sum(samples.column("value").to_pylist())
print(json.dumps(out))
"#;

#[test]
fn pyarrow_reads_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let (requests, samples) = small_run(30, 25);
    write_requests(dir.path().join(REQUESTS_FILE), &align(&requests, &samples)).unwrap();
    write_samples(dir.path().join(SAMPLES_FILE), &samples).unwrap();

    let output = Command::new("python3")
        .arg("-c")
        .arg(READER)
        .arg(dir.path())
        .output()
        .unwrap_or_else(|err| {
            panic!("cannot run python3 ({err}); run scripts/setup to install it with pyarrow")
        });
    assert!(
        output.status.success(),
        "pyarrow could not read the dataset (run scripts/setup if pyarrow is missing; PYTHONPATH={:?}):\n{}",
        std::env::var("PYTHONPATH").ok(),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let types = |file: &str| -> BTreeMap<String, String> {
        serde_json::from_value(report[file]["types"].clone()).unwrap()
    };

    let requests_report = &report["requests"];
    assert_eq!(requests_report["rows"], 30);
    assert_eq!(requests_report["version"], "1");
    let request_types = types("requests");
    for (column, expected) in [
        ("seq", "uint64"),
        ("outcome", "string"),
        ("warmup", "bool"),
        ("profile", "uint8"),
        ("seconds", "double"),
        ("start_ns", "int64"),
        ("peak_rss_bytes", "uint64"),
        ("process_cpu_percent.start", "double"),
        ("process_cpu_percent.end", "double"),
        ("process_cpu_percent.mean", "double"),
        ("process_cpu_percent.max", "double"),
        ("process_cpu_percent.count", "uint32"),
    ] {
        assert_eq!(
            request_types.get(column).map(String::as_str),
            Some(expected),
            "{column}"
        );
    }
    let ok = requests
        .iter()
        .filter(|r| r.outcome == dataset::Outcome::Ok)
        .count();
    assert_eq!(report["ok"], ok);
    assert_eq!(
        report["cpu_states"],
        serde_json::json!([
            "process_cpu_percent.start",
            "process_cpu_percent.end",
            "process_cpu_percent.mean",
            "process_cpu_percent.max",
            "process_cpu_percent.count"
        ])
    );
    assert_eq!(
        report["seq_sum"],
        requests.iter().map(|r| r.seq).sum::<u64>()
    );
    let pi_answers = requests
        .iter()
        .filter(|r| {
            r.response
                .as_ref()
                .is_some_and(|v| v.get("estimated_pi").is_some())
        })
        .count();
    assert_eq!(report["estimated_pi"].as_array().unwrap().len(), pi_answers);
    assert!(pi_answers > 0);

    let samples_report = &report["samples"];
    assert_eq!(samples_report["rows"], samples.len());
    assert_eq!(samples_report["version"], "1");
    let sample_types = types("samples");
    assert_eq!(sample_types["ts_ns"], "int64");
    assert_eq!(
        sample_types["metric"],
        "dictionary<values=string, indices=int32, ordered=0>"
    );
    assert_eq!(sample_types["value"], "double");
    let value_sum: f64 = samples.iter().map(|s| s.value).sum();
    let python_sum = report["value_sum"].as_f64().unwrap();
    assert!(
        (python_sum - value_sum).abs() <= 1e-9 * value_sum.abs(),
        "{python_sum} vs {value_sum}"
    );
}
