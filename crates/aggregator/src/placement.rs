//! `POST /place`: the placement question answered with a model loaded at start-up
//! (`--model DIR`), with every invalid field a 400 naming it.

use std::sync::Mutex;

use model::{ModelError, PlaceRequest, PlacementChoice, STATE_GAUGES, TrainedModel};

use crate::error::{ApiError, Result};

/// Largest request body `POST /place` reads: a placement question is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const REQUEST_SHAPE: &str = "a JSON object with function, and optionally payload, \
    deadline_seconds, objective (time|cost), duration_source (direct|via_cpu) and state";

/// A loaded model answering placement questions one at a time (a booster is not shared
/// between threads).
pub struct Placer {
    model: Mutex<TrainedModel>,
}

impl Placer {
    pub fn new(model: TrainedModel) -> Self {
        Self {
            model: Mutex::new(model),
        }
    }

    /// Parses `body` as a [`PlaceRequest`] and answers it.
    pub fn answer(&self, body: &[u8]) -> Result<PlacementChoice> {
        let request: PlaceRequest = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad("body", e.to_string(), REQUEST_SHAPE))?;
        let model = self
            .model
            .lock()
            .map_err(|_| ApiError::Internal("the model lock is poisoned".into()))?;
        model::answer(&model, &request).map_err(|error| match error {
            ModelError::BadField { field, reason } => {
                let allowed = if field == "deadline_seconds" {
                    "a number of seconds in (0, 86400]"
                } else {
                    "a finite number >= 0"
                };
                ApiError::bad(&field, reason, allowed)
            }
            ModelError::UnknownFunction(_) => {
                ApiError::bad("function", error.to_string(), "ml, pi, dense or video")
            }
            ModelError::BadPayload { .. } => ApiError::bad(
                "payload",
                error.to_string(),
                "the function's parameters, as cl-target's API takes them",
            ),
            ModelError::UnknownSize(_) => ApiError::bad(
                "state",
                error.to_string(),
                format!("sizes {}", size_names(&model).join(", ")),
            ),
            ModelError::BadOption(_) => ApiError::bad(
                "state",
                error.to_string(),
                format!("gauges {}", STATE_GAUGES.join(", ")),
            ),
            other => ApiError::Internal(other.to_string()),
        })
    }
}

/// The sizes the model knows, for the error naming an unknown one.
fn size_names(model: &TrainedModel) -> Vec<&str> {
    model
        .metadata
        .sizes
        .iter()
        .map(|s| s.name.as_str())
        .collect()
}
