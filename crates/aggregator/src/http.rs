//! The HTTP layer: parse and validate, call the [`Source`] off the async workers, encode.
//! Handlers hold no logic of their own.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};

use crate::error::{ApiError, Result};
use crate::format;
use crate::placement::{MAX_BODY_BYTES, Placer};
use crate::query::{Format, HistoryParams, decode_query_string, reject_parameters};
use crate::source::Source;

/// The one route answered to `POST` (with a model loaded; 501 without).
pub const PLACE_ROUTE: &str = "/place";

/// Every route the server answers to `GET`; the OpenAPI document describes exactly these and
/// [`PLACE_ROUTE`].
pub const ROUTES: [&str; 5] = [
    "/history",
    "/endpoints",
    "/runs",
    "/health",
    "/openapi.json",
];

/// The header carrying the next page's cursor for formats without an envelope.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

#[derive(Clone)]
struct AppState {
    source: Arc<dyn Source>,
    placer: Option<Arc<Placer>>,
}

/// The API over `source`, without placement (`POST /place` answers 501).
pub fn router(source: Arc<dyn Source>) -> Router {
    router_with_placer(source, None)
}

/// The API over `source`, answering `POST /place` with `placer` when given.
pub fn router_with_placer(source: Arc<dyn Source>, placer: Option<Arc<Placer>>) -> Router {
    ROUTES
        .iter()
        .fold(Router::new(), |router, &path| {
            router.route(path, handler(path))
        })
        .route(
            PLACE_ROUTE,
            post(place).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .fallback(|| async { error_response(StatusCode::NOT_FOUND, "no such route", None) })
        .with_state(AppState { source, placer })
}

fn handler(path: &str) -> MethodRouter<AppState> {
    match path {
        "/history" => get(history),
        "/endpoints" => get(endpoints),
        "/runs" => get(runs),
        "/health" => get(health),
        _ => get(openapi),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        (status, axum::Json(self.body())).into_response()
    }
}

fn error_response(status: StatusCode, message: &str, parameter: Option<&str>) -> Response {
    let body = crate::error::ErrorBody {
        error: message.to_owned(),
        parameter: parameter.map(str::to_owned),
        allowed: None,
        upstream: None,
    };
    (status, axum::Json(body)).into_response()
}

/// Runs a blocking source call on the blocking pool.
async fn blocking<T: Send + 'static>(
    source: &Arc<dyn Source>,
    call: impl FnOnce(&dyn Source) -> Result<T> + Send + 'static,
) -> Result<T> {
    let source = Arc::clone(source);
    tokio::task::spawn_blocking(move || call(source.as_ref()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

async fn history(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let params = HistoryParams::parse(&decode_query_string(raw.as_deref())?)?;
    let format = params.format.unwrap_or_else(|| {
        Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()))
    });
    if params.query.samples && matches!(format, Format::Csv | Format::Parquet) {
        return Err(ApiError::bad(
            "samples",
            format!("raw samples do not fit the {} table", format.name()),
            "samples=true with format json or ndjson",
        ));
    }
    let query = params.query;
    let page = blocking(&app.source, move |source| source.history(&query)).await?;
    let body = match format {
        Format::Json => Body::from(format::json(&page)?),
        Format::Ndjson => Body::from_stream(futures_util::stream::iter(
            format::ndjson_chunks(page.records).map(Ok::<_, Infallible>),
        )),
        Format::Csv => Body::from(format::csv(&page.records)),
        Format::Parquet => {
            let records = page.records;
            Body::from(
                tokio::task::spawn_blocking(move || format::parquet(&records))
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))??,
            )
        }
    };
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Some(cursor) = page
        .next_cursor
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        response.headers_mut().insert(NEXT_CURSOR_HEADER, cursor);
    }
    Ok(response)
}

async fn endpoints(State(app): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response> {
    reject_parameters(&decode_query_string(raw.as_deref())?)?;
    let endpoints = blocking(&app.source, |source| source.endpoints()).await?;
    Ok(axum::Json(endpoints).into_response())
}

async fn runs(State(app): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response> {
    reject_parameters(&decode_query_string(raw.as_deref())?)?;
    let runs = blocking(&app.source, |source| source.runs()).await?;
    Ok(axum::Json(runs).into_response())
}

async fn health(State(app): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response> {
    reject_parameters(&decode_query_string(raw.as_deref())?)?;
    Ok(axum::Json(serde_json::json!({
        "status": "healthy",
        "source": app.source.kind(),
    }))
    .into_response())
}

async fn place(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    reject_parameters(&decode_query_string(raw.as_deref())?)?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge {
            limit: MAX_BODY_BYTES,
        },
        _ => ApiError::bad("body", rejection.body_text(), "a JSON object"),
    })?;
    let placer = app.placer.ok_or_else(|| ApiError::NotAvailable {
        what: "placement",
        detail: "the server was started without --model DIR".into(),
    })?;
    let choice = tokio::task::spawn_blocking(move || placer.answer(&body))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(axum::Json(choice).into_response())
}

async fn openapi(RawQuery(raw): RawQuery) -> Result<Response> {
    reject_parameters(&decode_query_string(raw.as_deref())?)?;
    Ok(axum::Json(crate::openapi::document()).into_response())
}
