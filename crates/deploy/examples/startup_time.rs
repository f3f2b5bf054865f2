//! Measures how long a target takes from spawn to its first healthy answer under each pod size.
//!
//! `cargo run -p deploy --example startup_time -- <path/to/cl-target> [repetitions]`

use std::path::PathBuf;
use std::time::Duration;

use deploy::{Backend, LocalBackend, LocalOptions, PodSize};

const GIB: u64 = 1 << 30;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(
        args.next()
            .ok_or("usage: startup_time <cl-target> [repetitions]")?,
    );
    let repetitions: u32 = args.next().map(|r| r.parse()).transpose()?.unwrap_or(3);
    let backend = LocalBackend::new(
        binary,
        LocalOptions {
            startup_timeout: Duration::from_secs(300),
            cgroup_prefix: format!("cl-startup-time-{}", std::process::id()),
            log_dir: Some(std::env::temp_dir().join("cl-startup-time")),
            ..LocalOptions::default()
        },
    )?;
    let sizes = [
        PodSize::new("small", 100, GIB),
        PodSize::new("medium", 250, 2 * GIB),
        PodSize::new("large", 500, 4 * GIB),
    ];
    println!("{:?}", backend.preflight(&sizes)?);
    for size in &sizes {
        let mut times = Vec::new();
        for _ in 0..repetitions {
            let target = backend.deploy(size)?;
            times.push(target.startup_time());
            target.shutdown()?;
        }
        let seconds: Vec<String> = times
            .iter()
            .map(|t| format!("{:.2}", t.as_secs_f64()))
            .collect();
        println!(
            "{} ({}m): spawn to healthy [s] = {}",
            size.name,
            size.cpu_millicores,
            seconds.join(" ")
        );
    }
    Ok(())
}
