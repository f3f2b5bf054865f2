//! Every generated table and figure of the committed reference run is snapshot-tested: a changed
//! number fails with a reviewable diff (`cargo insta review`). The committed `paper/` files must
//! equal what the code generates, and generating twice gives the same bytes.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference() -> dataset::Run {
    dataset::open_run(workspace().join("data/reference/sized-sweep"))
        .expect("the committed reference run")
}

#[test]
fn generated_files_match_their_snapshots() {
    for file in paper::render(&reference()).unwrap() {
        insta::assert_snapshot!(file.path.replace('/', "__"), file.contents);
    }
}

#[test]
fn the_committed_paper_files_are_up_to_date() {
    for file in paper::render(&reference()).unwrap() {
        let committed = std::fs::read_to_string(workspace().join("paper").join(file.path))
            .unwrap_or_else(|e| panic!("paper/{}: {e}; run `computelocator paper`", file.path));
        assert!(
            committed == file.contents,
            "paper/{} is stale; run `computelocator paper`",
            file.path
        );
    }
}

#[test]
fn rendering_is_deterministic() {
    let run = reference();
    assert_eq!(paper::render(&run).unwrap(), paper::render(&run).unwrap());
}

#[test]
fn a_run_of_another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let source = workspace().join("data/reference/sized-sweep");
    for name in [dataset::REQUESTS_FILE, dataset::SAMPLES_FILE] {
        std::fs::copy(source.join(name), dir.path().join(name)).unwrap();
    }
    let manifest = std::fs::read_to_string(source.join(dataset::MANIFEST_FILE)).unwrap();
    let bumped = manifest.replacen(
        &format!("\"schema_version\": {}", dataset::SCHEMA_VERSION),
        &format!("\"schema_version\": {}", dataset::SCHEMA_VERSION + 1),
        1,
    );
    assert_ne!(bumped, manifest);
    std::fs::write(dir.path().join(dataset::MANIFEST_FILE), bumped).unwrap();
    let err = paper::generate(dir.path(), &dir.path().join("out")).unwrap_err();
    assert!(
        matches!(
            err,
            paper::PaperError::Dataset(dataset::DatasetError::SchemaVersion { .. })
        ),
        "{err}"
    );
}
