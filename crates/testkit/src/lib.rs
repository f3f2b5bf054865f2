//! Test support shared by integration tests across the workspace. Dev-dependency only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `CL_TARGET_BIN`, or `cl-target` built once per test process into the target directory the
/// running test binary lives in (so it matches the profile under test).
pub fn cl_target_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("CL_TARGET_BIN") {
                return PathBuf::from(path);
            }
            let exe = std::env::current_exe().expect("test binary path");
            // <target-dir>/<profile>/deps/<test binary>
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("test binary inside <target>/<profile>/deps");
            let target_dir = profile_dir.parent().expect("profile dir has a parent");
            let profile = profile_dir
                .file_name()
                .and_then(|n| n.to_str())
                .expect("profile dir name");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = Command::new(cargo);
            build
                .args(["build", "-p", "target", "--bin", "cl-target"])
                .env("CARGO_TARGET_DIR", target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            if profile != "debug" {
                build.args(["--profile", profile]);
            }
            let status = build.status().expect("run cargo build");
            assert!(status.success(), "building cl-target failed: {status}");
            profile_dir.join("cl-target")
        })
        .clone()
}
