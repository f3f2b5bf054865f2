//! `/metrics` and `/health`, and the sampling loop that runs beside them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::observer::{Observer, Status};

/// `GET /metrics` (a fresh sample, Prometheus text) and `GET /health` (200 while the target is
/// watched, 503 while it is searched for).
pub fn router(observer: Arc<Observer>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(observer)
}

async fn metrics(State(observer): State<Arc<Observer>>) -> Response {
    match observer.render() {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

async fn health(State(observer): State<Arc<Observer>>) -> Response {
    match observer.status() {
        Status::Watching { pid } => (StatusCode::OK, format!("watching pid {pid}\n")),
        Status::Searching => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no target process found yet\n".to_owned(),
        ),
    }
    .into_response()
}

/// Serves `observer` on `listener` and refreshes it every `interval` (finding a target that
/// started or restarted, and keeping `/health` current between scrapes) until `shutdown`
/// completes.
pub async fn serve(
    listener: TcpListener,
    observer: Arc<Observer>,
    interval: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sampler = {
        let observer = Arc::clone(&observer);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            // A late tick is skipped, not made up with a burst of samples.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticks.tick().await;
                if let Err(err) = observer.refresh() {
                    tracing::warn!("sampling round failed: {err}");
                }
            }
        })
    };
    let served = axum::serve(listener, router(observer))
        .with_graceful_shutdown(shutdown)
        .await;
    sampler.abort();
    served
}
