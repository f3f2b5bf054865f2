use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use observer::Observer;

/// Samples the workload server of this pod from outside its container: finds the process by
/// executable name in the shared process namespace (again after every restart), reads its procfs
/// files and serves them as Prometheus metrics.
#[derive(Debug, Parser)]
#[command(
    name = "cl-observer",
    version,
    after_help = "GET /metrics samples the target now; GET /health answers 200 while a target is \
watched and 503 while none is found. Diagnostics go to stderr, filtered by RUST_LOG (default: info)."
)]
struct Cli {
    /// Address of the HTTP endpoint (/metrics, /health).
    #[arg(long, env = "CL_OBSERVER_LISTEN", default_value = "0.0.0.0:9100")]
    listen: SocketAddr,
    /// File name of the target's executable.
    #[arg(long, env = "CL_OBSERVER_TARGET_EXE", default_value = "cl-target")]
    target_exe: String,
    /// Milliseconds between sampling rounds (finding a restarted target, keeping /health current).
    #[arg(long, env = "CL_OBSERVER_INTERVAL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    interval_ms: u64,
    /// Also read the target's cgroup counters, when its cgroup is visible from this container.
    #[arg(long, env = "CL_OBSERVER_CGROUPS")]
    cgroups: bool,
}

async fn shutdown_signal() {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cgroups = if cli.cgroups {
        cgroup::Hierarchy::detect()
            .map_err(|err| tracing::warn!("no cgroup counters: {err}"))
            .ok()
    } else {
        None
    };
    let observer = Arc::new(Observer::new(cli.target_exe, HashMap::new(), cgroups)?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(cli.listen)
            .await
            .with_context(|| format!("cannot bind {}", cli.listen))?;
        println!("listening on {}", listener.local_addr()?);
        observer::serve(
            listener,
            observer,
            Duration::from_millis(cli.interval_ms),
            shutdown_signal(),
        )
        .await
        .context("serving")
    })
}
