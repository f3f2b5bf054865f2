//! The OpenAPI 3.1 document of the API, built from the same types the handlers serialise
//! (their JSON Schemas come from `schemars`) and the same route and parameter lists they use.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::error::ErrorBody;
use crate::http::{NEXT_CURSOR_HEADER, PLACE_ROUTE, ROUTES};
use crate::query::{Format, HISTORY_PARAMETERS, MAX_LIMIT};
use crate::record::{Endpoint, HistoryRecord, Page, RunSummary};

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    let page = generator.subschema_for::<Page<HistoryRecord>>().to_value();
    let record = generator.subschema_for::<HistoryRecord>().to_value();
    let endpoints = generator.subschema_for::<Vec<Endpoint>>().to_value();
    let runs = generator.subschema_for::<Vec<RunSummary>>().to_value();
    let error = generator.subschema_for::<ErrorBody>().to_value();
    let place_request = generator.subschema_for::<model::PlaceRequest>().to_value();
    let place_choice = generator
        .subschema_for::<model::PlacementChoice>()
        .to_value();
    let schemas = generator.take_definitions(true);

    let errors = |codes: &[(&str, &str)]| -> Value {
        codes
            .iter()
            .map(|(code, text)| {
                (
                    (*code).to_owned(),
                    json!({"description": text, "content": {"application/json": {"schema": error}}}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let mut paths = serde_json::Map::new();
    for route in ROUTES {
        let operation = match route {
            "/history" => {
                let mut responses = errors(&[
                    ("400", "a parameter is unknown or malformed"),
                    ("404", "the run does not exist"),
                    (
                        "501",
                        "live source without Loki: request records are unavailable",
                    ),
                    ("502", "an upstream failed (names it)"),
                    ("504", "an upstream did not answer in time"),
                ]);
                responses["200"] = json!({
                    "description": "One page of records. JSON is an envelope `{records, next_cursor}`; \
                        NDJSON (streamed, one record per line), CSV and Parquet hold the records only and \
                        carry the next page's cursor in the `x-next-cursor` header (absent on the last page). \
                        CSV and Parquet flatten `states` into `<metric>.start|end|mean|max|count` columns \
                        and `usage` into its fields; `input` is a JSON string.",
                    "headers": {NEXT_CURSOR_HEADER: {"schema": {"type": "string"}}},
                    "content": {
                        Format::Json.content_type(): {"schema": page},
                        // `itemSchema` only arrives with OpenAPI 3.2; in 3.1 a line's schema is an
                        // extension.
                        Format::Ndjson.content_type(): {"x-item-schema": record, "schema": {"type": "string"}},
                        Format::Csv.content_type(): {"schema": {"type": "string"}},
                        Format::Parquet.content_type(): {"schema": {"type": "string", "contentMediaType": "application/vnd.apache.parquet"}},
                    }
                });
                json!({
                    "summary": "Per-request records joined with the metric state around each request",
                    "parameters": HISTORY_PARAMETERS.iter().map(|p| history_parameter(p)).collect::<Vec<_>>(),
                    "responses": responses,
                })
            }
            "/endpoints" => simple(
                "The targets with their size, pod, address and limits",
                endpoints.clone(),
                &errors,
            ),
            "/runs" => simple(
                "The run directories under the data root",
                runs.clone(),
                &errors,
            ),
            "/health" => simple(
                "Liveness",
                json!({"type": "object", "properties": {"status": {"const": "healthy"}, "source": {"enum": ["runs", "live"]}}}),
                &errors,
            ),
            _ => simple("This document", json!({"type": "object"}), &errors),
        };
        paths.insert(route.to_owned(), json!({ "get": operation }));
    }
    let mut responses = errors(&[
        (
            "400",
            "a field is unknown, malformed or out of range (names it)",
        ),
        ("413", "the body is larger than the limit"),
        ("501", "the server was started without --model"),
    ]);
    responses["200"] = json!({
        "description": "Each size's predicted duration (with its uncertainty band) and cost, and the chosen size",
        "content": {"application/json": {"schema": place_choice}},
    });
    paths.insert(
        PLACE_ROUTE.to_owned(),
        json!({"post": {
            "summary": "Where to run a request: the cheapest size predicted to meet the deadline, or the fastest",
            "requestBody": {"required": true, "content": {"application/json": {"schema": place_request}}},
            "responses": responses,
        }}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "cl-aggregator",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Per-request history and targets of ComputeLocator runs, from run directories or a live Prometheus + Loki. Read-only.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// Builds the error responses of an operation from `(status code, description)` pairs.
type ErrorResponses<'a> = &'a dyn Fn(&[(&str, &str)]) -> Value;

fn simple(summary: &str, schema: Value, errors: ErrorResponses<'_>) -> Value {
    let mut responses = errors(&[
        ("400", "the route takes no parameters"),
        ("502", "an upstream failed (names it)"),
        ("504", "an upstream did not answer in time"),
    ]);
    responses["200"] =
        json!({"description": summary, "content": {"application/json": {"schema": schema}}});
    json!({"summary": summary, "responses": responses})
}

fn history_parameter(name: &str) -> Value {
    let (description, schema) = match name {
        "run" => (
            "Run id from /runs; repeat for several",
            json!({"type": "string"}),
        ),
        "experiment" => ("Experiment name; repeatable", json!({"type": "string"})),
        "function" => (
            "Function; repeatable",
            json!({"enum": ["ml", "pi", "dense", "video"]}),
        ),
        "size" => ("Pod size name; repeatable", json!({"type": "string"})),
        "outcome" => (
            "Outcome; repeatable",
            json!({"enum": workloads::Outcome::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>()}),
        ),
        "status" => (
            "HTTP status of the answer; repeatable",
            json!({"type": "integer", "minimum": 100, "maximum": 599}),
        ),
        "from" => (
            "Keep start_ns >= from: ns since the epoch or RFC 3339",
            json!({"type": "string"}),
        ),
        "to" => (
            "Keep start_ns < to: ns since the epoch or RFC 3339",
            json!({"type": "string"}),
        ),
        "limit" => (
            "Records per page",
            json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": crate::query::DEFAULT_LIMIT}),
        ),
        "cursor" => (
            "next_cursor of the previous page",
            json!({"type": "string"}),
        ),
        "samples" => (
            "Add raw in-window samples to states (json, ndjson only)",
            json!({"type": "boolean", "default": false}),
        ),
        _ => (
            "Output format; overrides Accept",
            json!({"enum": Format::ALL.iter().map(|f| f.name()).collect::<Vec<_>>()}),
        ),
    };
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}
