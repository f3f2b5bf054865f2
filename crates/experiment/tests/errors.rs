//! Bad specs are refused with the file, line, column and field at fault; loading finds specs
//! in the working tree before the built-in ones.

use std::path::Path;

use experiment::{Origin, Position, Spec, SpecError, load};
use sha2::{Digest, Sha256};

const HEAD: &str = r#"name = "bad"
seed = 1

[[sizes]]
name = "small"
cpu_millicores = 100
memory = "1Gi"
"#;

/// Parses HEAD + `tail` and returns the error's (line, column, path, message).
fn refused(tail: &str) -> (Option<Position>, String, String, String) {
    let text = format!("{HEAD}{tail}");
    match Spec::from_toml(&text, "experiments/bad.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(err @ SpecError::Invalid { .. }) => {
            let display = err.to_string();
            let SpecError::Invalid {
                file,
                position,
                path,
                message,
            } = err
            else {
                unreachable!()
            };
            assert_eq!(file, "experiments/bad.toml");
            (position, path, message, display)
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

fn at(line: usize, column: usize) -> Option<Position> {
    Some(Position { line, column })
}

#[test]
fn a_workload_range_error_names_file_line_field_and_range() {
    let (position, path, message, display) = refused(
        r#"
[[functions]]
function = "ml"

[[functions]]
function = "video"
payload.profile = [0, 7]
"#,
    );
    assert_eq!(path, "functions[1].payload.profile");
    assert_eq!(message, "value 7 not in 0, 1 or 2");
    // Line 14 of the file, at the `7` inside the list.
    assert_eq!(position, at(14, 23));
    assert_eq!(
        display,
        "experiments/bad.toml:14:23: functions[1].payload.profile: value 7 not in 0, 1 or 2"
    );
}

#[test]
fn range_points_are_checked_against_the_workload() {
    let (position, path, message, _) = refused(
        "[[functions]]\nfunction = \"dense\"\npayload.epochs = { from = 50, to = 150, step = 50 }\n",
    );
    assert_eq!(path, "functions[0].payload.epochs");
    assert_eq!(message, "value 150 not in 1..=100");
    assert_eq!(position, at(10, 18));
}

#[test]
fn out_of_type_values_report_the_fields_range() {
    let (_, path, message, _) =
        refused("[[functions]]\nfunction = \"video\"\npayload.profile = 300\n");
    assert_eq!(path, "functions[0].payload.profile");
    assert_eq!(message, "value 300 not in 0, 1 or 2");
    let (_, path, message, _) = refused("[[functions]]\nfunction = \"ml\"\npayload.input = -1\n");
    assert_eq!(path, "functions[0].payload.input");
    assert!(message.starts_with("value -1 not in 0..="), "{message}");
    let (_, _, message, _) =
        refused("[[functions]]\nfunction = \"dense\"\npayload.units = [16, 32.5]\n");
    assert_eq!(message, "value 32.5 is not a whole number");
}

#[test]
fn payload_fields_must_belong_to_the_function_and_seed_is_the_schedules() {
    let (position, path, message, _) =
        refused("[[functions]]\nfunction = \"pi\"\npayload.epochs = [1, 2]\n");
    assert_eq!(path, "functions[0].payload.epochs");
    assert!(message.contains("not a field of /pi"), "{message}");
    assert_eq!(position, at(10, 18));
    let (_, path, message, _) =
        refused("[[functions]]\nfunction = \"pi\"\npayload.seed = [1, 2]\n");
    assert_eq!(path, "functions[0].payload.seed");
    assert!(
        message.contains("assigns every request's seed"),
        "{message}"
    );
}

#[test]
fn toml_and_type_errors_carry_their_position_and_path() {
    // An unknown key, here inside the last `[[sizes]]` table.
    let (position, path, message, _) = refused("colour = \"red\"\n");
    assert!(message.contains("unknown field `colour`"), "{message}");
    assert_eq!(path, "sizes[0].colour");
    assert_eq!(position.map(|p| p.line), Some(8));
    // Unknown function.
    let (position, path, message, _) = refused("[[functions]]\nfunction = \"gpu\"\n");
    assert_eq!(path, "functions[0].function");
    assert!(message.contains("unknown variant `gpu`"), "{message}");
    assert_eq!(position, at(9, 12));
    // A range with both step kinds.
    let (_, path, message, _) = refused(
        "[[functions]]\nfunction = \"ml\"\npayload.input = { from = 1, to = 2, step = 1, log_steps = 2 }\n",
    );
    assert_eq!(path, "functions[0].payload.input");
    assert!(message.contains("exactly one of `step`"), "{message}");
    // Broken TOML.
    let (position, _, _, display) = refused("[[functions]\n");
    assert_eq!(position.map(|p| p.line), Some(8));
    assert!(display.starts_with("experiments/bad.toml:8:"), "{display}");
}

#[test]
fn sizes_are_checked() {
    let function = "[[functions]]\nfunction = \"ml\"\n";
    let twice =
        format!("{function}[[sizes]]\nname = \"small\"\ncpu_millicores = 200\nmemory = \"1Gi\"\n");
    let (position, path, message, _) = refused(&twice);
    assert_eq!(path, "sizes[1].name");
    assert_eq!(message, "size `small` is listed twice");
    assert_eq!(position, at(11, 8));

    let tiny =
        format!("{function}[[sizes]]\nname = \"tiny\"\ncpu_millicores = 100\nmemory = \"32Mi\"\n");
    let (_, path, message, _) = refused(&tiny);
    assert_eq!(path, "sizes[1].memory");
    assert_eq!(message, "32Mi is below the minimum of 64Mi");

    let greedy =
        format!("{function}[[sizes]]\nname = \"huge\"\ncpu_millicores = 64001\nmemory = \"1Gi\"\n");
    let (_, path, message, _) = refused(&greedy);
    assert_eq!(path, "sizes[1].cpu_millicores");
    assert_eq!(message, "value 64001 not in 1..=64000");

    let (position, path, message, _) = refused(&format!(
        "{function}[[sizes]]\nname = \"odd\"\ncpu_millicores = 100\nmemory = \"1GB\"\n"
    ));
    assert_eq!(path, "sizes[1].memory");
    assert!(message.contains("not a memory quantity"), "{message}");
    assert_eq!(position, at(13, 10));

    let (_, path, _, _) = refused(&format!(
        "{function}[[sizes]]\nname = \"Big_One\"\ncpu_millicores = 100\nmemory = \"1Gi\"\n"
    ));
    assert_eq!(path, "sizes[1].name");
}

#[test]
fn experiment_wide_settings_are_checked() {
    let function = "[[functions]]\nfunction = \"ml\"\n";
    let text = |setting: &str| format!("{setting}\n{HEAD}{function}");
    for (setting, field) in [
        ("repetitions = 0", "repetitions"),
        ("scrape_interval_ms = 50", "scrape_interval_ms"),
        ("request_timeout_s = 0", "request_timeout_s"),
    ] {
        let err = Spec::from_toml(&text(setting), "x.toml").unwrap_err();
        match err {
            SpecError::Invalid { path, position, .. } => {
                assert_eq!(path, field);
                assert_eq!(position, at(1, field.len() + 4));
            }
            other => panic!("{other}"),
        }
    }
    let huge = format!(
        "repetitions = 100000\n{HEAD}[[functions]]\nfunction = \"ml\"\npayload.input = {{ from = 1, to = 100, step = 1 }}\n"
    );
    let err = Spec::from_toml(&huge, "x.toml").unwrap_err().to_string();
    assert!(err.contains("the schedule would hold"), "{err}");
    let missing_seed =
        "name = \"x\"\n[[sizes]]\nname = \"a\"\ncpu_millicores = 1\nmemory = \"1Gi\"\n";
    let err = Spec::from_toml(missing_seed, "x.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing field `seed`"), "{err}");
}

#[test]
fn load_prefers_the_working_tree_then_the_built_in_spec() {
    let workdir = tempfile::tempdir().unwrap();
    let experiments = workdir.path().join("experiments");
    std::fs::create_dir(&experiments).unwrap();
    let own = format!("{HEAD}[[functions]]\nfunction = \"pi\"\n").replace("\"bad\"", "\"smoke\"");
    std::fs::write(experiments.join("smoke.toml"), &own).unwrap();

    let from_tree = load("smoke", workdir.path()).unwrap();
    assert_eq!(
        from_tree.origin,
        Origin::File(experiments.join("smoke.toml"))
    );
    assert_eq!(from_tree.source, own);
    let expected_hash: String = Sha256::digest(own.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(from_tree.sha256, expected_hash);
    assert_eq!(from_tree.spec.sizes.len(), 1);

    let built_in = load("original", workdir.path()).unwrap();
    assert_eq!(built_in.origin, Origin::Embedded("original"));
    assert_eq!(built_in.spec.name, "original");

    let by_path = experiments.join("smoke.toml");
    let direct = load(by_path.to_str().unwrap(), Path::new("/elsewhere")).unwrap();
    assert_eq!(direct.source, own);

    match load("nonsense", workdir.path()) {
        Err(SpecError::NotFound { name, .. }) => assert_eq!(name, "nonsense"),
        other => panic!("{other:?}"),
    }
    match load("missing/file.toml", workdir.path()) {
        Err(SpecError::Read { .. }) => {}
        other => panic!("{other:?}"),
    }

    // A broken spec in the tree is reported, not silently replaced by the built-in one.
    std::fs::write(experiments.join("sized-sweep.toml"), "name = 1\n").unwrap();
    let err = load("sized-sweep", workdir.path()).unwrap_err().to_string();
    assert!(err.contains("sized-sweep.toml:1:8: name:"), "{err}");
}

#[test]
fn specs_built_in_code_are_validated_too() {
    let mut spec = load("smoke", Path::new("/nonexistent")).unwrap().spec;
    spec.validate().unwrap();
    spec.sizes[1].name = spec.sizes[0].name.clone();
    let err = spec.validate().unwrap_err().to_string();
    assert_eq!(err, "smoke: sizes[1].name: size `small` is listed twice");
}
