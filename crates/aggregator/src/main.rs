//! `cl-aggregator`: serves run directories (`--data DIR`) or a live Prometheus + Loki
//! (`--prometheus URL [--loki URL]`) over HTTP. Prints `listening on <addr>` once bound.

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;

use aggregator::loki::LokiClient;
use aggregator::{LiveSource, RunDirSource, Source};
use anyhow::Context;
use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "cl-aggregator", version, about)]
struct Args {
    /// Serve the run directories under DIR (`DIR/<run>` and `DIR/<experiment>/<run>`).
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "prometheus",
        conflicts_with = "prometheus"
    )]
    data: Option<std::path::PathBuf>,
    /// Serve live data: targets and samples from the Prometheus at URL.
    #[arg(long, value_name = "URL")]
    prometheus: Option<String>,
    /// With --prometheus: read request records from the Loki at URL (without it, /history
    /// answers 501).
    #[arg(long, value_name = "URL", requires = "prometheus")]
    loki: Option<String>,
    /// Seconds an upstream (Prometheus, Loki) gets to answer before a 504.
    #[arg(long, default_value_t = 10)]
    upstream_timeout_secs: u64,
    /// Answer `POST /place` with the models trained into DIR (`computelocator train --out DIR`).
    #[arg(long, value_name = "DIR")]
    model: Option<std::path::PathBuf>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1:5000")]
    listen: SocketAddr,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let source: Arc<dyn Source> = match (&args.data, &args.prometheus) {
        (Some(dir), _) => Arc::new(
            RunDirSource::new(dir).with_context(|| format!("cannot serve {}", dir.display()))?,
        ),
        (None, Some(prometheus)) => {
            let timeout = Duration::from_secs(args.upstream_timeout_secs.max(1));
            let prometheus = collect::PrometheusClient::new(prometheus, timeout)
                .context("invalid --prometheus")?;
            let loki = args
                .loki
                .as_deref()
                .map(|url| LokiClient::new(url, timeout))
                .transpose()
                .context("invalid --loki")?;
            Arc::new(LiveSource::new(prometheus, loki))
        }
        (None, None) => anyhow::bail!("give --data DIR or --prometheus URL"),
    };
    let placer = args
        .model
        .as_deref()
        .map(|dir| {
            model::TrainedModel::load(dir)
                .map(|m| Arc::new(aggregator::Placer::new(m)))
                .with_context(|| format!("cannot load the models in {}", dir.display()))
        })
        .transpose()?;
    // The upstream clients are blocking ones, which own a runtime of their own: they must be
    // built, and finally dropped, outside the server's runtime.
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let served = runtime.block_on(serve(args.listen, Arc::clone(&source), placer));
    drop(runtime);
    drop(source);
    served
}

async fn serve(
    listen: SocketAddr,
    source: Arc<dyn Source>,
    placer: Option<Arc<aggregator::Placer>>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot bind {listen}"))?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(
        listener,
        aggregator::http::router_with_placer(source, placer),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
