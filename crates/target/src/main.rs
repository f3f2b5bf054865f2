use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use target::server::{Config, start};

/// The ComputeLocator workload server: runs the /ml, /pi, /dense and /video benchmarks, logs one
/// JSON line per request with its exact resource use, and serves process and cgroup metrics.
#[derive(Debug, Parser)]
#[command(
    name = "cl-target",
    version,
    after_help = "Logs: request records are JSON lines on stdout (and --log-file); diagnostics go to \
stderr, filtered by RUST_LOG (default: info).\n\nStops gracefully on SIGINT or SIGTERM: running and \
queued requests finish and are logged first."
)]
struct Cli {
    /// Address of the workload API.
    #[arg(long, env = "CL_TARGET_LISTEN", default_value = "0.0.0.0:8000")]
    listen: SocketAddr,
    /// Address of the Prometheus endpoint (GET /metrics).
    #[arg(long, env = "CL_TARGET_METRICS_LISTEN", default_value = "0.0.0.0:9000")]
    metrics_listen: SocketAddr,
    /// Requests run at once. 1 keeps each request's measurements its own.
    #[arg(long, env = "CL_TARGET_CONCURRENCY", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Requests that may wait beyond the running ones; more get 503 with Retry-After.
    #[arg(long, env = "CL_TARGET_QUEUE", default_value_t = 16, value_parser = clap::value_parser!(u16).range(0..=10_000))]
    queue: u16,
    /// Threads a kernel may use [default: the cgroup's CPU quota in whole cores, at least 1].
    #[arg(long, env = "CL_TARGET_THREADS", value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Also append request records to this file.
    #[arg(long, env = "CL_TARGET_LOG_FILE")]
    log_file: Option<PathBuf>,
    /// Do not write request records to stdout.
    #[arg(long, env = "CL_TARGET_NO_STDOUT_LOG")]
    no_stdout_log: bool,
    /// Constant label on every metric, e.g. --label size=small (repeatable).
    #[arg(long = "label", env = "CL_TARGET_LABELS", value_delimiter = ',', value_parser = parse_label)]
    labels: Vec<(String, String)>,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    let valid_key = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_key {
        return Err(format!(
            "label name `{key}` must match [a-zA-Z_][a-zA-Z0-9_]*"
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler cannot fail on Linux");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down: finishing running and queued requests");
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config {
        listen: cli.listen,
        metrics_listen: cli.metrics_listen,
        concurrency: cli.concurrency.into(),
        queue: cli.queue.into(),
        threads: cli.threads.map(usize::from),
        log_stdout: !cli.no_stdout_log,
        log_file: cli.log_file,
        labels: cli.labels.into_iter().collect::<HashMap<_, _>>(),
        ..Config::default()
    };
    // The async runtime only moves bytes; kernels run on the executor's own threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let running = start(config, shutdown_signal())
            .await
            .context("starting cl-target")?;
        running.wait().await.context("serving")
    })
}
