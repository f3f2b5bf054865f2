//! The real `cl-aggregator` binary on an ephemeral loopback port, over the committed reference
//! run: formats, errors, and the OpenAPI document against the router.

use std::path::Path;

use aggregator::{HistoryRecord, Page};
use arrow_array::{Array, Float64Array, UInt64Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

mod common;

use common::Aggregator;

/// The aggregator over the committed reference data.
fn reference_server() -> Aggregator {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/reference");
    Aggregator::start(&["--data", root.to_str().unwrap()])
}

#[test]
fn every_format_carries_the_same_rows() {
    let server = reference_server();
    let query = "/history?function=dense&limit=40";
    let page: Page<HistoryRecord> = server.get(query).json().unwrap();
    assert_eq!(page.records.len(), 40);
    assert!(page.next_cursor.is_some());
    let seqs: Vec<u64> = page.records.iter().map(|r| r.seq).collect();
    let metric = page.records[0].states.keys().next().unwrap().clone();
    let means: Vec<Option<f64>> = page
        .records
        .iter()
        .map(|r| r.states[&metric].mean)
        .collect();

    let ndjson = server.get(&format!("{query}&format=ndjson"));
    assert_eq!(
        ndjson.headers()[aggregator::http::NEXT_CURSOR_HEADER]
            .to_str()
            .unwrap(),
        page.next_cursor.as_deref().unwrap()
    );
    let lines: Vec<HistoryRecord> = ndjson
        .text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, page.records);

    let by_accept = server
        .http
        .get(format!("{}{query}", server.base))
        .header("accept", "text/csv")
        .send()
        .unwrap();
    assert!(
        by_accept.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = by_accept.text().unwrap();
    let mut rows = csv.split("\r\n");
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let seq_column = header.iter().position(|h| *h == "seq").unwrap();
    let mean_column = header
        .iter()
        .position(|h| *h == format!("{metric}.mean"))
        .unwrap();
    // The input JSON is quoted and holds commas: split outside quotes only.
    let cells: Vec<Vec<String>> = rows.filter(|r| !r.is_empty()).map(split_csv).collect();
    assert_eq!(cells.len(), 40);
    let csv_seqs: Vec<u64> = cells
        .iter()
        .map(|c| c[seq_column].parse().unwrap())
        .collect();
    assert_eq!(csv_seqs, seqs);
    let csv_means: Vec<Option<f64>> = cells.iter().map(|c| c[mean_column].parse().ok()).collect();
    assert_eq!(csv_means, means);

    let bytes = server
        .get(&format!("{query}&format=parquet"))
        .bytes()
        .unwrap();
    let file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut &file, &bytes).unwrap();
    let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let batch = &batches[0];
    let parquet_seqs = batch
        .column_by_name("seq")
        .unwrap()
        .as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap();
    assert_eq!(parquet_seqs.values().to_vec(), seqs);
    let parquet_means = batch
        .column_by_name(&format!("{metric}.mean"))
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let parquet_means: Vec<Option<f64>> = (0..parquet_means.len())
        .map(|i| parquet_means.is_valid(i).then(|| parquet_means.value(i)))
        .collect();
    assert_eq!(parquet_means, means);
}

fn split_csv(row: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(String::new()),
            _ => cells.last_mut().unwrap().push(c),
        }
    }
    cells
}

#[test]
fn bad_input_gets_a_json_error_naming_the_parameter() {
    let server = reference_server();
    for (query, status, parameter) in [
        ("/history?pod_size=small", 400, "pod_size"),
        ("/history?from=yesterday", 400, "from"),
        ("/history?to=2026-13-01T00:00:00Z", 400, "to"),
        ("/history?limit=-1", 400, "limit"),
        ("/history?limit=10001", 400, "limit"),
        ("/history?limit=184467440737095516160", 400, "limit"),
        ("/history?run=../../etc", 400, "run"),
        ("/history?run=..%2F..%2Fetc%2Fpasswd", 400, "run"),
        ("/history?run=%2Fetc", 400, "run"),
        ("/history?run=no-such-run", 404, "run"),
        ("/history?cursor=garbage", 400, "cursor"),
        ("/history?samples=true&format=csv", 400, "samples"),
        ("/endpoints?verbose=1", 400, "verbose"),
    ] {
        let (got, body) = server.error(query);
        assert_eq!(got, status, "{query}: {body:?}");
        assert_eq!(body.parameter.as_deref(), Some(parameter), "{query}");
        assert!(body.allowed.is_some(), "{query}");
    }
    let (status, body) = server.error("/nowhere");
    assert_eq!((status, body.error.as_str()), (404, "no such route"));
    // The server is still answering after all that.
    assert_eq!(server.get("/health").status(), 200);
}

#[test]
fn openapi_document_describes_exactly_the_router() {
    let server = reference_server();
    let document: serde_json::Value = server.get("/openapi.json").json().unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    let mut routes: Vec<&str> = aggregator::http::ROUTES.to_vec();
    routes.push(aggregator::http::PLACE_ROUTE);
    routes.sort_unstable();
    let mut documented: Vec<&str> = paths.iter().map(|p| p.as_str()).collect();
    documented.sort_unstable();
    assert_eq!(documented, routes);
    for route in aggregator::http::ROUTES {
        assert!(document["paths"][route]["get"].is_object(), "{route}");
        assert_eq!(server.get(route).status(), 200, "{route}");
    }
    let place = &document["paths"][aggregator::http::PLACE_ROUTE]["post"];
    assert!(place["requestBody"].is_object());
    // Without --model the route exists and says why it cannot answer.
    let (status, body) = server.post_error(aggregator::http::PLACE_ROUTE, "{}");
    assert_eq!(status, 501, "{body:?}");
    assert!(body.error.contains("--model"), "{body:?}");
    let parameters: Vec<&str> = document["paths"]["/history"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(parameters, aggregator::query::HISTORY_PARAMETERS);
    // Every $ref resolves to a component schema.
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            document["components"]["schemas"][name].is_object(),
            "{name}"
        );
    }
    assert!(document["components"]["schemas"]["HistoryRecord"]["properties"]["states"].is_object());
}

/// Runs the pinned openapi-spec-validator (scripts/setup puts it on the tests' PYTHONPATH) over
/// `document`; `Err` carries its report.
fn validate_openapi(document: &serde_json::Value) -> Result<(), String> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), document.to_string()).unwrap();
    let output = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output()
        .expect("python3 runs");
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[test]
fn the_openapi_document_validates_against_the_3_1_specification() {
    let server = reference_server();
    let document: serde_json::Value = server.get("/openapi.json").json().unwrap();
    validate_openapi(&document).unwrap();
    // The validator rejects what the specification does: a parameter that does not say where
    // it goes.
    let mut broken = document.clone();
    broken["paths"]["/history"]["get"]["parameters"][0]
        .as_object_mut()
        .unwrap()
        .remove("in");
    let report = validate_openapi(&broken).unwrap_err();
    assert!(report.contains("'in' is a required property"), "{report}");
}

#[test]
fn runs_and_endpoints_describe_the_reference_run() {
    let server = reference_server();
    let runs: Vec<aggregator::RunSummary> = server.get("/runs").json().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].experiment, "sized-sweep");
    let endpoints: Vec<aggregator::Endpoint> = server.get("/endpoints").json().unwrap();
    let mut sizes: Vec<(String, Option<u32>)> = endpoints
        .iter()
        .map(|e| (e.size.clone().unwrap(), e.cpu_millicores))
        .collect();
    sizes.sort();
    assert_eq!(
        sizes,
        [
            ("large".to_owned(), Some(500)),
            ("medium".to_owned(), Some(250)),
            ("small".to_owned(), Some(100))
        ]
    );
}
