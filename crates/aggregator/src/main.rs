//! `cl-aggregator`: serves run directories (`--data DIR`) or a live Prometheus + Loki
//! (`--prometheus URL [--loki URL]`) over HTTP. Prints `listening on <addr>` once bound.

use std::net::SocketAddr;
use std::sync::Arc;

use aggregator::{RunDirSource, Source};
use anyhow::Context;
use clap::Parser;

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
    /// Serve live data from the Prometheus at URL.
    #[arg(long, value_name = "URL")]
    prometheus: Option<String>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1:5000")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
        _ => anyhow::bail!("the live source is not available in this build"),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot bind {}", args.listen))?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, aggregator::http::router(source))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
