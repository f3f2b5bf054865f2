//! Faults are recorded, not lost: an OOM kill and a timeout each land on the request that
//! caused them, the target is restarted, and the run goes on.

mod common;

#[test]
fn real_cgroup_oom_and_timeout_are_recorded_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // The target rests at ~200 MB (libtorch loaded); x264 at 1440p needs ~650 MB.
    let spec = common::inline_spec(
        dir.path(),
        r#"
name = "faults"
seed = 3
warmup = 0
order = "grouped"
request_timeout_s = 1

[[sizes]]
name = "tight"
cpu_millicores = 1000
memory = "400Mi"

[[functions]]
function = "video"
payload.profile = [2]
payload.seconds = [2]
timeout_s = 60

[[functions]]
function = "pi"
payload.num_samples = [10000000000]

[[functions]]
function = "ml"
payload.input = [1000]
"#,
    );
    let result = common::run_spec(spec, &dir.path().join("runs")).unwrap();
    let rows: Vec<_> = result.requests.iter().map(|r| &r.request).collect();
    let outcome = |f: workloads::Function| rows.iter().find(|r| r.function == f).unwrap();
    let video = outcome(workloads::Function::Video);
    assert_eq!(video.outcome, dataset::Outcome::Oom, "{video:?}");
    assert_eq!(video.target, "tight#0");
    let pi = outcome(workloads::Function::Pi);
    assert_eq!(pi.outcome, dataset::Outcome::Timeout, "{pi:?}");
    assert_eq!(pi.target, "tight#1", "restarted after the OOM kill");
    let ml = outcome(workloads::Function::Ml);
    assert_eq!(ml.outcome, dataset::Outcome::Ok, "{ml:?}");
    assert_eq!(ml.target, "tight#2", "restarted after the timeout");
    assert_eq!(result.manifest.counts["oom"], 1);
    assert_eq!(result.manifest.counts["timeout"], 1);
}
