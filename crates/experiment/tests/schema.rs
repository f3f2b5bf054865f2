//! The committed `experiments/schema.json` must be what the spec types generate.
//! Regenerate it with `UPDATE_SCHEMA=1 cargo test -p experiment --test schema`.

use std::path::PathBuf;

fn committed_schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../experiments/schema.json")
}

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&experiment::json_schema())
        .expect("a JSON value always serialises");
    text.push('\n');
    text
}

#[test]
fn committed_schema_is_up_to_date() {
    let path = committed_schema_path();
    let generated = generated();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write experiments/schema.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run `UPDATE_SCHEMA=1 cargo test -p experiment --test schema`",
        path.display()
    );
}

#[test]
fn schema_describes_the_spec_format() {
    let schema = experiment::json_schema();
    let properties = &schema["properties"];
    for field in ["name", "seed", "sizes", "functions", "order", "warmup"] {
        assert!(
            properties.get(field).is_some(),
            "no `{field}` in the schema"
        );
    }
    assert_eq!(schema["additionalProperties"], false);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    for field in ["name", "seed", "sizes", "functions"] {
        assert!(required.contains(&field), "`{field}` should be required");
    }
    // Editors should offer each function's own payload fields, and never `seed`.
    let rules = schema["definitions"]["FunctionSpec"]["allOf"]
        .as_array()
        .expect("per-function payload rules");
    let ml = rules
        .iter()
        .find(|rule| rule["if"]["properties"]["function"]["const"] == "ml")
        .expect("a rule for /ml");
    assert_eq!(
        ml["then"]["properties"]["payload"]["propertyNames"]["enum"],
        serde_json::json!(["input"])
    );
}
