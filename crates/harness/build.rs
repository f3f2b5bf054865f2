//! Records the git revision the harness was built from, for each run's provenance. A build
//! without git (the Nix sandbox) passes it in `CL_GIT_REV`.
fn main() {
    println!("cargo:rerun-if-env-changed=CL_GIT_REV");
    if let Some(rev) = std::env::var("CL_GIT_REV").ok().filter(|r| !r.is_empty()) {
        println!("cargo:rustc-env=CL_GIT_REV={rev}");
        return;
    }
    let rev = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|out| !out.stdout.is_empty());
    println!(
        "cargo:rustc-env=CL_GIT_REV={rev}{}",
        if dirty { "-dirty" } else { "" }
    );
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/index");
}
