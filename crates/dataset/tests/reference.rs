//! The committed reference run (data/reference/sized-sweep) must stay readable by this build:
//! a schema change without `make reference` fails here rather than in a user's notebook.

#[test]
fn the_reference_run_opens_with_the_current_schema() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/reference/sized-sweep");
    let run = dataset::open_run(&dir).expect("re-make it with `make reference`");
    assert_eq!(run.manifest.experiment, "sized-sweep");
    assert_eq!(run.requests.len() as u64, run.manifest.schedule_len);
    assert_eq!(run.manifest.counts["total"], run.manifest.schedule_len);
    assert!(run.manifest.limits_enforced);
    assert!(!run.samples.is_empty());
}
