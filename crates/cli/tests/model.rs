//! `train`, `place` and `evaluate` through the real binary on the committed reference run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn reference_run() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/reference/sized-sweep")
}

fn computelocator(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_computelocator"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn train_then_place_picks_a_known_size_and_refuses_bad_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let trained = stdout(&computelocator(&[
        "train",
        reference_run().to_str().unwrap(),
        "--out",
        models.to_str().unwrap(),
    ]));
    assert_eq!(trained.lines().last().unwrap(), models.to_str().unwrap());
    assert!(models.join(model::METADATA_FILE).exists());

    let placed = stdout(&computelocator(&[
        "place",
        "--model",
        models.to_str().unwrap(),
        "--function",
        "video",
        "--payload",
        r#"{"profile": 2, "seconds": 4}"#,
        "--objective",
        "time",
    ]));
    // Time objective: the fastest size, which for a CPU-bound encode is the largest quota.
    assert_eq!(placed.lines().last().unwrap(), "large", "{placed}");

    let refused = computelocator(&[
        "place",
        "--model",
        models.to_str().unwrap(),
        "--function",
        "video",
        "--payload",
        r#"{"profile": 9}"#,
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("profile") && stderr.contains("0, 1 or 2"),
        "{stderr}"
    );

    let deadline = computelocator(&[
        "place",
        "--model",
        models.to_str().unwrap(),
        "--function",
        "ml",
        "--deadline",
        "-1",
    ]);
    assert!(!deadline.status.success());
}

#[test]
fn evaluate_json_holds_every_split_and_the_noise_floor() {
    let output = stdout(&computelocator(&[
        "evaluate",
        reference_run().to_str().unwrap(),
        "--json",
    ]));
    let evaluation: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(
        evaluation["leave_one_size_out"].as_array().unwrap().len(),
        3
    );
    assert!(
        evaluation["random_split"]["results"]
            .as_array()
            .unwrap()
            .len()
            >= 6
    );
    assert!(evaluation["k_fold"].as_array().unwrap().len() >= 2);
    assert!(evaluation["noise_floor"].is_object());
}
