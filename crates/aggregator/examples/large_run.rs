//! Writes a data root holding one run of N requests (default 100,000): the committed reference
//! run's aligned requests repeated with fresh sequence numbers, its manifest and samples as they
//! are. `scripts/bench-history` serves it with `cl-aggregator` and streams it through `/history`.
//!
//!     cargo run --release -p aggregator --example large_run -- OUT_ROOT [N]

use std::path::{Path, PathBuf};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: large_run OUT_ROOT [N]"))?,
    );
    let records: usize = args.next().map_or(Ok(100_000), |n| n.parse())?;
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/reference/sized-sweep");
    let run = dataset::open_run(&reference)?;
    let dir = root.join("large");
    std::fs::create_dir_all(&dir)?;
    let requests: Vec<dataset::AlignedRequest> = run
        .requests
        .iter()
        .cycle()
        .take(records)
        .enumerate()
        .map(|(seq, request)| {
            let mut request = request.clone();
            request.request.seq = seq as u64;
            request
        })
        .collect();
    dataset::write_samples(dir.join(dataset::SAMPLES_FILE), &run.samples)?;
    dataset::write_requests(dir.join(dataset::REQUESTS_FILE), &requests)?;
    run.manifest.write(dir.join(dataset::MANIFEST_FILE))?;
    println!("{}", dir.display());
    Ok(())
}
