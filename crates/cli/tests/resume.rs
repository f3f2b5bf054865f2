//! Crash safety through the real `computelocator` binary: a run killed with SIGKILL mid-way is
//! resumed with `--resume` without losing or repeating a request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SPEC: &str = r#"
name = "resumable"
seed = 11
warmup = 0
order = "grouped"
repetitions = 10

[[sizes]]
name = "large"
cpu_millicores = 500
memory = "2Gi"

[[functions]]
function = "pi"
payload.num_samples = [100000000]
"#;

fn computelocator(args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_computelocator"));
    command
        .args(args)
        .args(["--quiet", "--target-bin"])
        .arg(testkit::cl_target_binary())
        .current_dir(dir)
        .env("RUST_LOG", "warn");
    command
}

fn journal_seqs(run_dir: &Path) -> BTreeMap<u64, i64> {
    dataset::Journal::read(run_dir.join(dataset::REQUESTS_JOURNAL))
        .unwrap_or_default()
        .into_iter()
        .map(|row| (row.seq, row.start_ns))
        .collect()
}

fn only_run_dir(out: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(out.join("resumable"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[test]
fn real_cgroup_a_killed_run_resumes_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("resumable.toml"), SPEC).unwrap();
    let mut first = computelocator(
        &["experiment", "resumable.toml", "--out", "runs"],
        dir.path(),
    )
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    // Wait until a few requests are journaled, then kill the harness outright.
    let deadline = Instant::now() + Duration::from_secs(120);
    let run_dir = loop {
        if let Ok(entries) = std::fs::read_dir(dir.path().join("runs/resumable"))
            && let Some(run_dir) = entries.flatten().map(|e| e.path()).next()
            && journal_seqs(&run_dir).len() >= 3
        {
            break run_dir;
        }
        assert!(Instant::now() < deadline, "no progress before the deadline");
        assert!(
            first.try_wait().unwrap().is_none(),
            "the run finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    first.kill().unwrap();
    first.wait().unwrap();
    let before_kill = journal_seqs(&run_dir);
    assert!(
        before_kill.len() < 10,
        "everything finished before the kill"
    );
    assert!(!run_dir.join(dataset::MANIFEST_FILE).exists());

    let resumed = computelocator(
        &[
            "experiment",
            "resumable.toml",
            "--out",
            "runs",
            "--resume",
            run_dir.to_str().unwrap(),
        ],
        dir.path(),
    )
    .output()
    .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let stdout = String::from_utf8(resumed.stdout).unwrap();
    assert_eq!(
        stdout.lines().last().unwrap(),
        run_dir.to_str().unwrap(),
        "the last line is the run dir"
    );
    assert_eq!(only_run_dir(&dir.path().join("runs")), run_dir);

    let run = dataset::open_run(&run_dir).unwrap();
    let seqs: Vec<u64> = run.requests.iter().map(|r| r.request.seq).collect();
    let mut unique = seqs.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique,
        (0..10).collect::<Vec<_>>(),
        "every request once: {seqs:?}"
    );
    assert_eq!(seqs.len(), 10, "no duplicates: {seqs:?}");
    for aligned in &run.requests {
        if let Some(start_ns) = before_kill.get(&aligned.request.seq) {
            assert_eq!(
                aligned.request.start_ns, *start_ns,
                "a finished request was redone"
            );
            assert_eq!(aligned.request.target, "large#0");
        } else {
            // The resumed process's target is a new instance, never confused with the old one.
            assert_eq!(aligned.request.target, "large#1");
        }
        assert_eq!(aligned.request.outcome, dataset::Outcome::Ok);
    }
    assert!(
        run.manifest
            .notes
            .iter()
            .any(|n| n.contains("resumed with")),
        "{:?}",
        run.manifest.notes
    );
}

#[test]
fn dry_run_prints_the_prediction_per_size() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_computelocator"))
        .args(["experiment", "smoke", "--dry-run"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("experiment smoke (seed 1): 54 requests"),
        "{stdout}"
    );
    for size in ["small", "medium", "large"] {
        assert!(stdout.lines().any(|l| l.starts_with(size)), "{stdout}");
    }
}

#[test]
fn a_spec_error_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        SPEC.replace("[100000000]", "[0]"),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_computelocator"))
        .args(["experiment", "bad.toml", "--dry-run"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("bad.toml:") && stderr.contains("num_samples"),
        "{stderr}"
    );
}
