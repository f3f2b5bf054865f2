//! Measures one `/dense` request: wall time per epoch and peak resident memory.
//!
//! `cargo run --release -p workload-dense --example measure [threads]`

use workload_dense::{run, torch_info};
use workloads::ExecEnv;
use workloads::dense::DenseParams;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let threads = std::env::args()
        .nth(1)
        .map(|arg| arg.parse())
        .transpose()?
        .unwrap_or(1);
    let env = ExecEnv { threads };
    println!("{:?}", torch_info());
    println!("VmHWM before any request: {}", peak_rss()?);
    // Epoch cost is the difference between a 1-epoch and a 5-epoch run, so loading, model set-up
    // and testing cancel out.
    let one = run(
        &DenseParams {
            epochs: 1,
            ..Default::default()
        },
        &env,
    )?;
    let five = run(&DenseParams::default(), &env)?;
    println!("1 epoch:  {one:?}");
    println!("5 epochs: {five:?}");
    println!(
        "per epoch: {:.1} ms; data load: {:.1} ms; VmHWM after: {}",
        (five.execution_time - one.execution_time) / 4.0 * 1e3,
        five.data_load_time * 1e3,
        peak_rss()?
    );
    Ok(())
}

fn peak_rss() -> std::io::Result<String> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    Ok(status
        .lines()
        .find(|line| line.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_owned())
}
