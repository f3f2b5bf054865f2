//! The facts a measurement depends on, logged at start-up and exposed as a metric: which
//! libtorch and BLAS, which FFmpeg and x264, how many kernel threads the CPU quota allows.

use serde::Serialize;
use workloads::ExecEnv;

#[derive(Debug, Clone, Serialize)]
pub struct BuildInfo {
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub version: &'static str,
    pub libtorch: String,
    pub blas: String,
    pub blas_is_reference: bool,
    pub libavcodec: String,
    pub libavformat: String,
    pub libswscale: String,
    pub x264: String,
    /// Threads each kernel may use (from the CPU quota).
    pub kernel_threads: usize,
    /// The cgroup whose limits apply to this process, if any.
    pub cgroup: Option<String>,
}

impl BuildInfo {
    pub fn collect(env: &ExecEnv, cgroup: Option<String>) -> Self {
        let torch = workload_dense::torch_info();
        let ffmpeg = workload_video::ffmpeg_info();
        Self {
            record_type: "build_info",
            version: env!("CARGO_PKG_VERSION"),
            libtorch: torch.libtorch_version,
            blas: torch.blas_backend,
            blas_is_reference: torch.blas_is_reference,
            libavcodec: ffmpeg.libavcodec,
            libavformat: ffmpeg.libavformat,
            libswscale: ffmpeg.libswscale,
            x264: ffmpeg.x264,
            kernel_threads: env.threads,
            cgroup,
        }
    }

    /// Label pairs for the `cl_target_build_info` gauge.
    pub fn labels(&self) -> Vec<(&'static str, String)> {
        vec![
            ("version", self.version.to_owned()),
            ("libtorch", self.libtorch.clone()),
            ("blas", self.blas.clone()),
            ("libavcodec", self.libavcodec.clone()),
            ("x264", self.x264.clone()),
            ("kernel_threads", self.kernel_threads.to_string()),
        ]
    }
}
