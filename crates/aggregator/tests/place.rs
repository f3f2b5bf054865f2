//! `POST /place` on the real `cl-aggregator` binary, with models trained on the committed
//! reference run: answers match the library's, and every bad field is a 400 naming it.

use std::path::{Path, PathBuf};

use serde_json::json;

mod common;

use common::Aggregator;

fn reference_run() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/reference/sized-sweep")
}

/// Trains the default models on the reference run into a temporary directory.
fn trained_models() -> (tempfile::TempDir, model::TrainedModel) {
    let run = dataset::open_run(reference_run()).unwrap();
    let trained = model::train(&run, &model::TrainOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    trained.save(dir.path()).unwrap();
    (dir, trained)
}

#[test]
fn placement_answers_match_the_library_and_bad_fields_are_named() {
    let (dir, trained) = trained_models();
    let server = Aggregator::start(&[
        "--data",
        reference_run().parent().unwrap().to_str().unwrap(),
        "--model",
        dir.path().to_str().unwrap(),
    ]);

    let question = json!({
        "function": "pi",
        "payload": {"num_samples": 20_000_000},
        "deadline_seconds": 2.0,
        "state": {"small": {"process_memory_rss_bytes": 9.0e6}},
    });
    let response = server.post("/place", question.to_string());
    assert_eq!(response.status(), 200);
    let answered: model::PlacementChoice = response.json().unwrap();
    let request: model::PlaceRequest = serde_json::from_value(question).unwrap();
    assert_eq!(answered, model::answer(&trained, &request).unwrap());
    let sizes: Vec<&str> = answered.estimates.iter().map(|e| e.size.as_str()).collect();
    assert_eq!(sizes, ["small", "medium", "large"]);
    assert!(sizes.contains(&answered.chosen.as_str()));
    for estimate in &answered.estimates {
        let [low, high] = estimate.duration_band_seconds.expect("a band");
        assert!(low <= high, "{estimate:?}");
    }

    let cases = [
        ("not json", "body"),
        (r#"{"function": "pi", "colour": 1}"#, "body"),
        (r#"{"payload": {}}"#, "body"),
        (r#"{"function": "sort"}"#, "function"),
        (
            r#"{"function": "pi", "payload": {"samples": 3}}"#,
            "payload",
        ),
        (
            r#"{"function": "pi", "payload": {"num_samples": -3}}"#,
            "payload",
        ),
        (
            r#"{"function": "pi", "deadline_seconds": -1}"#,
            "deadline_seconds",
        ),
        (
            r#"{"function": "pi", "deadline_seconds": 1e300}"#,
            "deadline_seconds",
        ),
        (r#"{"function": "pi", "objective": "fast"}"#, "body"),
        (r#"{"function": "pi", "state": {"huge": {}}}"#, "state"),
        (
            r#"{"function": "pi", "state": {"small": {"uptime": 1}}}"#,
            "state",
        ),
        (
            r#"{"function": "pi", "state": {"small": {"process_num_threads": -2}}}"#,
            "state.small.process_num_threads",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = server.post_error("/place", body);
        assert_eq!(status, 400, "{body}: {error:?}");
        assert_eq!(error.parameter.as_deref(), Some(field), "{body}: {error:?}");
        assert!(error.allowed.is_some(), "{body}");
    }
    let huge = format!(
        r#"{{"function": "pi", "payload": "{}"}}"#,
        "x".repeat(100_000)
    );
    let (status, error) = server.post_error("/place", huge);
    assert_eq!((status, error.parameter.as_deref()), (413, Some("body")));
    let (status, error) = server.post_error("/place?explain=1", "{}");
    assert_eq!((status, error.parameter.as_deref()), (400, Some("explain")));
    // Still answering.
    assert_eq!(server.post("/place", r#"{"function": "ml"}"#).status(), 200);
}

#[test]
fn a_model_directory_that_does_not_load_stops_the_server_at_start() {
    let empty = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cl-aggregator"))
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(reference_run().parent().unwrap())
        .arg("--model")
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot load the models"), "{stderr}");
}
