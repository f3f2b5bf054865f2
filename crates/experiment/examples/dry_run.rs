//! Prints a spec's schedule size and predicted CPU and wall time per size:
//! `cargo run -p experiment --example dry_run -- <NAME|PATH> [SEED]`.

use std::collections::BTreeMap;
use std::path::Path;

use experiment::{cost, load, predict, predicted_run_wall_seconds, schedule};

fn main() {
    if let Err(err) = run() {
        eprintln!("{err}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "sized-sweep".to_owned());
    let loaded = load(&name, Path::new("."))?;
    let spec = match args.next() {
        Some(seed) => loaded.spec.with_seed(seed.parse()?),
        None => loaded.spec,
    };
    let schedule = schedule(&spec);
    println!(
        "{}: {} requests, sha256 {}",
        spec.name,
        schedule.len(),
        loaded.sha256
    );
    if let Some(first) = schedule.sizes.first() {
        let mut per_function: BTreeMap<String, f64> = BTreeMap::new();
        for request in first.requests.iter().filter(|r| !r.warmup) {
            *per_function
                .entry(request.function.to_string())
                .or_default() += cost::cpu_seconds(&request.payload);
        }
        for (function, cpu) in per_function {
            println!(
                "  {function:>5}: {:.2} CPU-s per repetition",
                cpu / f64::from(spec.repetitions)
            );
        }
    }
    let predictions = predict(&spec, &schedule);
    for p in &predictions {
        println!(
            "  {:>6}: {} requests, {:.1} CPU-s, {:.0} s wall ({:.1} min)",
            p.size,
            p.requests,
            p.cpu_seconds,
            p.wall_seconds,
            p.wall_seconds / 60.0
        );
    }
    let wall = predicted_run_wall_seconds(&spec, &predictions);
    println!("  run: {wall:.0} s wall ({:.1} min)", wall / 60.0);
    Ok(())
}
