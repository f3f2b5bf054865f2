use serde::Serialize;

/// A parameter outside its allowed range. Serialises to the JSON body of a 4xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("field `{field}` must be in {allowed}, got {got}")]
pub struct InvalidParam {
    /// The payload field at fault, as the client spelled it.
    pub field: String,
    /// The allowed values, e.g. `1..=100` or `0, 1 or 2`.
    pub allowed: String,
    /// What the client sent.
    pub got: String,
}

impl InvalidParam {
    pub fn new(
        field: impl Into<String>,
        allowed: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            allowed: allowed.into(),
            got: got.into(),
        }
    }
}
