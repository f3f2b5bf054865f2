//! The two HTTP listeners: the API (`/ml /pi /dense /video /health /info`) and `/metrics`.
//! Handlers only translate between HTTP and the library pieces.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;
use workloads::{ExecEnv, Function, Payload};

use crate::api::{ApiError, MAX_BODY_BYTES, parse_payload};
use crate::build_info::BuildInfo;
use crate::executor::{Completed, Executor, Kernel, KernelFailure, run_kernel};
use crate::metrics::Metrics;
use crate::request_log::{Outcome, RECORD_TYPE, RequestLog, RequestRecord};
use crate::usage::realtime_ns;

/// Everything `cl-target` can be told at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub metrics_listen: SocketAddr,
    /// Kernels running at once.
    pub concurrency: usize,
    /// Requests allowed to wait beyond those running.
    pub queue: usize,
    /// Kernel threads; `None` derives them from the cgroup's CPU quota.
    pub threads: Option<usize>,
    pub log_stdout: bool,
    pub log_file: Option<PathBuf>,
    /// Constant labels on every metric (e.g. `size=small`).
    pub labels: HashMap<String, String>,
    /// Seconds a client should wait after a 503.
    pub retry_after_secs: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: ([0, 0, 0, 0], 8000).into(),
            metrics_listen: ([0, 0, 0, 0], 9000).into(),
            concurrency: 1,
            queue: 16,
            threads: None,
            log_stdout: true,
            log_file: None,
            labels: HashMap::new(),
            retry_after_secs: 1,
        }
    }
}

struct AppState {
    executor: Executor,
    recorder: Arc<Recorder>,
    build: BuildInfo,
    retry_after: HeaderValue,
}

/// Writes the log line and updates the request metrics for every request, answered or not.
struct Recorder {
    log: RequestLog,
    metrics: Metrics,
    seq: AtomicU64,
}

impl Recorder {
    /// A request refused before any work (bad payload, full queue).
    fn refused(
        &self,
        endpoint: &str,
        method: &str,
        payload: serde_json::Value,
        error: &ApiError,
        outcome: Outcome,
    ) {
        let now = realtime_ns();
        self.write(
            endpoint,
            outcome,
            None,
            RequestRecord {
                record_type: RECORD_TYPE.into(),
                seq: 0,
                start_timestamp_ns: now,
                end_timestamp_ns: now,
                duration_ns: 0,
                queued_ns: 0,
                endpoint: endpoint.to_owned(),
                method: method.to_owned(),
                payload,
                status: error.status.as_u16(),
                outcome,
                error: Some(error.error_message.clone()),
                usage: None,
            },
        );
    }

    /// A request the executor ran.
    fn completed(&self, payload: &Payload, method: &str, done: &Completed) {
        let endpoint = format!("/{}", payload.function());
        let (status, outcome) = status_of(&done.result);
        self.write(
            &endpoint,
            outcome,
            Some(done.duration_ns),
            RequestRecord {
                record_type: RECORD_TYPE.into(),
                seq: 0,
                start_timestamp_ns: done.start_timestamp_ns,
                end_timestamp_ns: done.end_timestamp_ns,
                duration_ns: done.duration_ns,
                queued_ns: done.queued_ns,
                endpoint: endpoint.clone(),
                method: method.to_owned(),
                payload: payload.body(),
                status: status.as_u16(),
                outcome,
                error: done.result.as_ref().err().map(ToString::to_string),
                usage: Some(done.usage),
            },
        );
    }

    fn write(
        &self,
        endpoint: &str,
        outcome: Outcome,
        duration_ns: Option<u64>,
        mut record: RequestRecord,
    ) {
        record.seq = self.seq.fetch_add(1, Ordering::SeqCst);
        self.metrics.record(
            endpoint,
            outcome,
            duration_ns.filter(|_| outcome == Outcome::Ok),
        );
        self.log.write(&record);
    }
}

fn status_of(result: &Result<serde_json::Value, KernelFailure>) -> (StatusCode, Outcome) {
    match result {
        Ok(_) => (StatusCode::OK, Outcome::Ok),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, Outcome::Error),
    }
}

/// A server that is bound and serving.
pub struct Running {
    pub api_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub build: BuildInfo,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Waits until the server has shut down and the last request is logged.
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.map_err(std::io::Error::other)?
    }
}

#[derive(Serialize)]
struct Listening {
    #[serde(rename = "type")]
    record_type: &'static str,
    api: SocketAddr,
    metrics: SocketAddr,
}

/// The kernel threads the quota of our own cgroup allows.
fn exec_env(config: &Config, cgroups: Option<&cgroup::Hierarchy>) -> (ExecEnv, Option<String>) {
    let host_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let own =
        cgroups.and_then(|h| cgroup::CounterFiles::for_pid(h, std::process::id() as i32).ok());
    let path = own.as_ref().map(|files| files.cgroup_path().to_owned());
    let counters = own.and_then(|mut files| files.read().ok());
    let env = match config.threads {
        Some(threads) => ExecEnv {
            threads: threads.max(1),
        },
        None => ExecEnv::from_quota(
            counters.as_ref().and_then(|c| c.cpu_quota_us),
            counters
                .as_ref()
                .and_then(|c| c.cpu_period_us)
                .unwrap_or(100_000),
            host_cores,
        ),
    };
    (env, path)
}

/// Binds both listeners and serves until `shutdown` resolves; then stops accepting, lets the
/// running and queued requests finish and log, and returns.
pub async fn start(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<Running> {
    start_with_kernel(config, shutdown, run_kernel).await
}

/// [`start`] with another kernel runner (tests inject failures with it).
pub async fn start_with_kernel(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    kernel: Kernel,
) -> std::io::Result<Running> {
    let cgroups = cgroup::Hierarchy::detect()
        .map_err(|e| tracing::warn!("no cgroup counters: {e}"))
        .ok();
    let (env, cgroup_path) = exec_env(&config, cgroups.as_ref());
    let build = BuildInfo::collect(&env, cgroup_path);
    if build.blas_is_reference {
        tracing::warn!(
            "libtorch is using reference BLAS ({}): /dense will be ~9x slower; install libopenblas0-openmp",
            build.blas
        );
    }
    let log = RequestLog::new(config.log_stdout, config.log_file.as_deref())?;
    log.write(&build);
    let metrics = Metrics::new(config.labels.clone(), cgroups.as_ref(), &build)
        .map_err(std::io::Error::other)?;
    let recorder = Arc::new(Recorder {
        log,
        metrics,
        seq: AtomicU64::new(0),
    });
    let on_done = {
        let recorder = Arc::clone(&recorder);
        Arc::new(move |payload: &Payload, method: &str, done: &Completed| {
            recorder.completed(payload, method, done)
        })
    };
    let executor = Executor::start(
        config.concurrency,
        config.queue,
        env,
        cgroups,
        kernel,
        on_done,
    )?;

    let api_listener = TcpListener::bind(config.listen).await?;
    let metrics_listener = TcpListener::bind(config.metrics_listen).await?;
    let api_addr = api_listener.local_addr()?;
    let metrics_addr = metrics_listener.local_addr()?;
    recorder.log.write(&Listening {
        record_type: "listening",
        api: api_addr,
        metrics: metrics_addr,
    });
    tracing::info!(%api_addr, %metrics_addr, threads = env.threads, "cl-target serving");

    let state = Arc::new(AppState {
        executor,
        recorder,
        build: build.clone(),
        retry_after: HeaderValue::from(config.retry_after_secs),
    });
    let api = api_router(Arc::clone(&state));
    let metrics_app = Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(Arc::clone(&state));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let signal = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let metrics_server =
        axum::serve(metrics_listener, metrics_app).with_graceful_shutdown(signal(stop_rx.clone()));
    let api_server = axum::serve(api_listener, api).with_graceful_shutdown(signal(stop_rx));
    let task = tokio::spawn(async move {
        let (api, metrics) = tokio::join!(api_server.into_future(), metrics_server.into_future());
        // Every handler has returned; finish whatever the executor still holds.
        if let Ok(state) = Arc::try_unwrap(state) {
            tokio::task::spawn_blocking(move || state.executor.shutdown())
                .await
                .ok();
        }
        api.and(metrics)
    });
    Ok(Running {
        api_addr,
        metrics_addr,
        build,
        task,
    })
}

fn api_router(state: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"status": "healthy"})) }),
        )
        .route("/info", get(info_handler));
    for function in Function::ALL {
        let path = format!("/{function}");
        router = router.route(
            &path,
            get(move |state, body| workload_handler(function, Method::GET, state, body))
                .post(move |state, body| workload_handler(function, Method::POST, state, body)),
        );
    }
    router.with_state(state)
}

async fn info_handler(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    axum::Json(state.build.clone())
}

async fn metrics_handler(State(state): State<Arc<AppState>>) -> Response {
    let metrics = &state.recorder.metrics;
    metrics.pending.set(state.executor.pending() as i64);
    match metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(&self)).into_response()
    }
}

async fn workload_handler(
    function: Function,
    method: Method,
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Response {
    let endpoint = format!("/{function}");
    let recorder = &state.recorder;
    // GET takes the defaults, as the original's did.
    let bytes = if method == Method::GET {
        Bytes::new()
    } else {
        match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(_) => {
                let error = ApiError::body_too_large();
                recorder.refused(
                    &endpoint,
                    method.as_str(),
                    serde_json::Value::Null,
                    &error,
                    Outcome::Invalid,
                );
                // The rest of the body is still on the wire: this connection cannot carry
                // another request, so tell the client not to reuse it.
                let mut response = error.into_response();
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return response;
            }
        }
    };
    let payload = match parse_payload(function, &bytes) {
        Ok(payload) => payload,
        Err(error) => {
            let raw = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).into_owned();
            recorder.refused(
                &endpoint,
                method.as_str(),
                raw.into(),
                &error,
                Outcome::Invalid,
            );
            return error.into_response();
        }
    };
    let logged_payload = payload.body();
    let completion = match state.executor.submit(payload, method.as_str()) {
        Ok(completion) => completion,
        Err(overloaded) => {
            let error = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                overloaded.to_string(),
            );
            recorder.refused(
                &endpoint,
                method.as_str(),
                logged_payload,
                &error,
                Outcome::Rejected,
            );
            let mut response = error.into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, state.retry_after.clone());
            return response;
        }
    };
    // The worker has already logged the request when the answer arrives.
    let Ok(done) = completion.await else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
        .into_response();
    };
    match done.result {
        Ok(value) => (StatusCode::OK, axum::Json(value)).into_response(),
        Err(failure) => {
            let kind = match failure {
                KernelFailure::Error(_) => "kernel_error",
                KernelFailure::Panic(_) => "kernel_panic",
            };
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, kind, failure.to_string())
                .into_response()
        }
    }
}
