//! Request parsing and the JSON error body. Every way a peer can get a payload wrong ends here as
//! an [`ApiError`] with a 4xx status that names the field and its allowed values.

use axum::http::StatusCode;
use serde::Serialize;
use workloads::{Function, InvalidParam, Payload};

/// Largest request body accepted. Payloads are a handful of numbers.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What went wrong, as the JSON body of an error answer. Keeps the original's `success` and
/// `error_message` keys so its clients can read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub success: bool,
    /// Machine-readable category: `malformed_json`, `invalid_field`, `unknown_field`,
    /// `body_too_large`, `overloaded`, `kernel_error`, `kernel_panic`, `shutting_down`.
    pub kind: &'static str,
    pub error_message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            success: false,
            kind,
            error_message: message.into(),
            field: None,
            allowed: None,
        }
    }

    fn with_field(mut self, field: impl Into<String>, allowed: Option<String>) -> Self {
        self.field = Some(field.into());
        self.allowed = allowed;
        self
    }

    pub fn invalid_param(err: InvalidParam) -> Self {
        let allowed = Some(err.allowed.clone());
        let field = err.field.clone();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            err.to_string(),
        )
        .with_field(field, allowed)
    }

    pub fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body exceeds {MAX_BODY_BYTES} bytes"),
        )
    }
}

/// Parses and validates a request body for `function`. An empty body means "all defaults", as a
/// `GET` does.
pub fn parse_payload(function: Function, body: &[u8]) -> Result<Payload, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    let payload = match function {
        Function::Ml => deserialize(function, body).map(Payload::Ml),
        Function::Pi => deserialize(function, body).map(Payload::Pi),
        Function::Dense => deserialize(function, body).map(Payload::Dense),
        Function::Video => deserialize(function, body).map(Payload::Video),
    }?;
    payload.validate().map_err(ApiError::invalid_param)?;
    Ok(payload)
}

fn deserialize<T: serde::de::DeserializeOwned>(
    function: Function,
    body: &[u8],
) -> Result<T, ApiError> {
    // serde would also build a struct from a JSON array; only an object names its fields.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        let fields = function.fields().join(", ");
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body must be a JSON object of /{function}'s fields ({fields})"),
        ));
    }
    let mut json = serde_json::Deserializer::from_slice(body);
    let value =
        serde_path_to_error::deserialize(&mut json).map_err(|err| describe(function, err))?;
    // Trailing garbage after the object is malformed input, not something to ignore.
    json.end().map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("malformed JSON: {err}"),
        )
    })?;
    Ok(value)
}

/// Turns a serde error into an answer that names the field and what it accepts.
fn describe(function: Function, err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    let message = inner.to_string();
    if let Some(unknown) = unknown_field(&message) {
        let allowed = function.fields().join(", ");
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown_field",
            format!("unknown field `{unknown}` for /{function}; accepted fields: {allowed}"),
        )
        .with_field(unknown, Some(allowed));
    }
    match inner.classify() {
        serde_json::error::Category::Data if path != "." => {
            let allowed = function.allowed(&path);
            let range = allowed
                .as_deref()
                .map(|a| format!(" (allowed: {a})"))
                .unwrap_or_default();
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                format!("field `{path}`: {message}{range}"),
            )
            .with_field(path, allowed)
        }
        serde_json::error::Category::Data => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body must be a JSON object of /{function}'s fields: {message}"),
        ),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("malformed JSON: {message}"),
        ),
    }
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn rejects(function: Function, body: &str, status: u16, kind: &str, field: Option<&str>) {
        let err = parse_payload(function, body.as_bytes()).expect_err(body);
        assert_eq!(err.status.as_u16(), status, "{body}: {err:?}");
        assert_eq!(err.kind, kind, "{body}: {err:?}");
        assert_eq!(err.field.as_deref(), field, "{body}: {err:?}");
        if field.is_some() {
            assert!(err.allowed.is_some(), "{body}: no allowed range in {err:?}");
        }
    }

    #[test]
    fn bad_payloads_are_4xx_naming_the_field() {
        use Function::*;
        let cases: &[(Function, &str, u16, &str, Option<&str>)] = &[
            (Ml, "{", 400, "malformed_json", None),
            (Ml, "[1,2]", 400, "malformed_json", None),
            (Ml, "\"text\"", 400, "malformed_json", None),
            (Ml, r#"{"input": 5} trailing"#, 400, "malformed_json", None),
            (
                Ml,
                r#"{"input": "ten"}"#,
                422,
                "invalid_field",
                Some("input"),
            ),
            (Ml, r#"{"input": -1}"#, 422, "invalid_field", Some("input")),
            (Ml, r#"{"input": 1.5}"#, 422, "invalid_field", Some("input")),
            (
                Ml,
                r#"{"input": 10000000001}"#,
                422,
                "invalid_field",
                Some("input"),
            ),
            (Ml, r#"{"inputs": 5}"#, 400, "unknown_field", Some("inputs")),
            (
                Pi,
                r#"{"num_samples": 0}"#,
                422,
                "invalid_field",
                Some("num_samples"),
            ),
            (
                Pi,
                r#"{"num_samples": 1e30}"#,
                422,
                "invalid_field",
                Some("num_samples"),
            ),
            (
                Pi,
                r#"{"num_samples": 100000000000000000000000}"#,
                422,
                "invalid_field",
                Some("num_samples"),
            ),
            (Pi, r#"{"seed": -3}"#, 422, "invalid_field", Some("seed")),
            (
                Dense,
                r#"{"epochs": 1000000000}"#,
                422,
                "invalid_field",
                Some("epochs"),
            ),
            (
                Dense,
                r#"{"units": 0}"#,
                422,
                "invalid_field",
                Some("units"),
            ),
            (
                Dense,
                r#"{"num_samples": 100000000}"#,
                422,
                "invalid_field",
                Some("num_samples"),
            ),
            (
                Dense,
                r#"{"batch_size": null}"#,
                422,
                "invalid_field",
                Some("batch_size"),
            ),
            (
                Dense,
                r#"{"num_layers": 11}"#,
                422,
                "invalid_field",
                Some("num_layers"),
            ),
            (
                Video,
                r#"{"profile": 7}"#,
                422,
                "invalid_field",
                Some("profile"),
            ),
            (
                Video,
                r#"{"profile": 300}"#,
                422,
                "invalid_field",
                Some("profile"),
            ),
            (
                Video,
                r#"{"seconds": 0}"#,
                422,
                "invalid_field",
                Some("seconds"),
            ),
            (
                Video,
                r#"{"seconds": 3600}"#,
                422,
                "invalid_field",
                Some("seconds"),
            ),
            (
                Video,
                r#"{"codec": "vp9"}"#,
                400,
                "unknown_field",
                Some("codec"),
            ),
        ];
        for &(function, body, status, kind, field) in cases {
            rejects(function, body, status, kind, field);
        }
    }

    #[test]
    fn empty_body_means_defaults() {
        assert_eq!(
            parse_payload(Function::Pi, b"").unwrap(),
            Payload::Pi(Default::default())
        );
        assert_eq!(
            parse_payload(Function::Dense, b"  \n").unwrap(),
            Payload::Dense(Default::default())
        );
    }

    #[test]
    fn valid_payload_parses() {
        let p = parse_payload(
            Function::Video,
            br#"{"profile": 0, "seconds": 0.4, "seed": 9}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            Payload::Video(workloads::video::VideoParams {
                profile: 0,
                seconds: 0.4,
                seed: Some(9)
            })
        );
    }
}
