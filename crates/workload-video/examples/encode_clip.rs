//! Encodes one clip and prints its outcome and the process's peak memory, for measuring:
//! `cargo run --release -p workload-video --example encode_clip -- PROFILE SECONDS THREADS [SEED]`.

use workloads::ExecEnv;
use workloads::video::VideoParams;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let params = VideoParams {
        profile: arg(0, "1").parse()?,
        seconds: arg(1, "4").parse()?,
        seed: args.get(3).map(|s| s.parse()).transpose()?,
    };
    let env = ExecEnv {
        threads: arg(2, "1").parse()?,
    };
    let outcome = workload_video::run(&params, &env)?;
    println!("{outcome:#?}");
    let status = std::fs::read_to_string("/proc/self/status")?;
    if let Some(peak) = status.lines().find(|line| line.starts_with("VmHWM")) {
        println!("{peak}");
    }
    println!("{:?}", workload_video::ffmpeg_info());
    Ok(())
}
