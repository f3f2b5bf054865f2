//! Shared fixtures: the `smoke` experiment, run for real once and reused by every test (across
//! the processes nextest runs tests in), and a helper to run small inline specs.

#![allow(dead_code)] // each test binary uses a different part

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::UNIX_EPOCH;

use experiment::LoadedSpec;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn run_spec(spec: LoadedSpec, out: &Path) -> Result<harness::RunResult, harness::HarnessError> {
    run_spec_with(spec, out, harness::CollectorChoice::Probe)
}

pub fn run_spec_with(
    spec: LoadedSpec,
    out: &Path,
    collector: harness::CollectorChoice,
) -> Result<harness::RunResult, harness::HarnessError> {
    harness::run(harness::RunOptions {
        collector,
        spec,
        out: out.to_owned(),
        resume: None,
        backend: harness::BackendChoice::Local {
            target_binary: testkit::cl_target_binary(),
            limits: true,
        },
        progress: false,
        interrupted: Arc::new(AtomicBool::new(false)),
    })
}

/// Loads a spec written inline in a test.
pub fn inline_spec(dir: &Path, toml: &str) -> LoadedSpec {
    let path = dir.join("spec.toml");
    std::fs::write(&path, toml).unwrap();
    experiment::load(path.to_str().unwrap(), dir).unwrap()
}

/// The run directory of the shared `smoke` run, made on first use. A file lock makes the
/// other test processes wait for it instead of running it again; the key is the build, so a
/// rebuilt harness or target runs it afresh.
pub fn smoke_run() -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("smoke-fixture");
    std::fs::create_dir_all(&base).unwrap();
    let lock = File::create(base.join("lock")).unwrap();
    // SAFETY: flock on a file descriptor we own; released when `lock` closes.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let key = [
        std::env::current_exe().unwrap(),
        testkit::cl_target_binary(),
    ]
    .iter()
    .map(|p| {
        let modified = std::fs::metadata(p).unwrap().modified().unwrap();
        modified
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            .to_string()
    })
    .collect::<Vec<_>>()
    .join("-");
    let marker = base.join(format!("{key}.run"));
    if let Ok(dir) = std::fs::read_to_string(&marker) {
        let dir = PathBuf::from(dir);
        if dir.join(dataset::MANIFEST_FILE).exists() {
            return dir;
        }
    }
    let spec = experiment::load("smoke", &workspace_root()).unwrap();
    let result = run_spec(spec, &base.join("runs")).expect("the smoke experiment runs");
    std::fs::write(&marker, result.dir.to_str().unwrap()).unwrap();
    result.dir
}
