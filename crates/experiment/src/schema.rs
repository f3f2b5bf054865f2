//! The spec format as a JSON Schema, for editors (taplo / Even Better TOML read the
//! `#:schema ./schema.json` line at the top of each spec).

use schemars::generate::SchemaSettings;

use crate::spec::Spec;

/// The JSON Schema (draft-07, the newest taplo understands fully) of a spec file.
pub fn json_schema() -> serde_json::Value {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Spec>();
    schema.to_value()
}
