//! The `/video` kernel: encodes a seeded synthetic 25 fps 1080p clip to H.264 (libx264, preset
//! medium, constrained bitrate) in an MP4, in process through FFmpeg.
//!
//! Invariant: frames are synthesised, scaled and encoded one at a time, so memory stays bounded
//! by the encoder's own look-ahead whatever the clip length; and the encoder never starts more
//! threads than [`ExecEnv::threads`]. With one thread the output is byte-for-byte reproducible
//! for a given seed.
//!
//! FFmpeg's log level is lowered to errors on first use: x264's per-encode statistics would
//! otherwise be written to stderr on every request.

mod encode;
mod synth;

use std::path::Path;
use std::sync::OnceLock;

use ffmpeg_next as ffmpeg;
use workloads::ExecEnv;
use workloads::InvalidParam;
use workloads::video::{VideoOutcome, VideoParams};

pub use synth::{SOURCE_FRAME_BYTES, SOURCE_HEIGHT, SOURCE_WIDTH};

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error(transparent)]
    Invalid(#[from] InvalidParam),
    /// An FFmpeg call failed; `step` says which part of the pipeline made it.
    #[error("ffmpeg failed to {step}: {source}")]
    Ffmpeg {
        step: &'static str,
        #[source]
        source: ffmpeg::Error,
    },
    #[error("video i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl VideoError {
    /// Maps an FFmpeg error to a `VideoError` naming the failed `step`.
    pub(crate) fn at(step: &'static str) -> impl FnOnce(ffmpeg::Error) -> Self {
        move |source| Self::Ffmpeg { step, source }
    }
}

/// Encodes the clip `params` describes into a temporary MP4 (deleted before returning) and
/// reports its size and timings.
pub fn run(params: &VideoParams, env: &ExecEnv) -> Result<VideoOutcome, VideoError> {
    params.validate()?;
    let output = tempfile::Builder::new()
        .prefix("video-")
        .suffix(".mp4")
        .tempfile()?;
    encode_to_file(params, env, output.path())
}

/// As [`run`], keeping the MP4 at `path`.
pub fn encode_to_file(
    params: &VideoParams,
    env: &ExecEnv,
    path: &Path,
) -> Result<VideoOutcome, VideoError> {
    params.validate()?;
    init()?;
    encode::encode(params, env, path)
}

/// Initialises FFmpeg once per process.
fn init() -> Result<(), VideoError> {
    static INIT: OnceLock<Result<(), ffmpeg::Error>> = OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg::init()?;
        ffmpeg::log::set_level(ffmpeg::log::Level::Error);
        Ok(())
    })
    .map_err(VideoError::at("initialise"))
}

/// Versions of the native libraries doing the work, for run manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FfmpegInfo {
    pub libavcodec: String,
    pub libavformat: String,
    pub libavutil: String,
    pub libswscale: String,
    /// `core N` (x264's build number, as its own banner names it), or `unknown`.
    pub x264: String,
}

pub fn ffmpeg_info() -> FfmpegInfo {
    // Versions are readable without initialising; x264's is found from the loaded libraries,
    // which initialisation does not change either, but a failed init must not hide them.
    let _ = init();
    FfmpegInfo {
        libavcodec: dotted_version(ffmpeg::codec::version()),
        libavformat: dotted_version(ffmpeg::format::version()),
        libavutil: dotted_version(ffmpeg::util::version()),
        libswscale: dotted_version(ffmpeg::software::scaling::version()),
        x264: std::fs::read_to_string("/proc/self/maps")
            .ok()
            .and_then(|maps| x264_build_in_maps(&maps))
            .map_or_else(|| "unknown".to_owned(), |build| format!("core {build}")),
    }
}

/// FFmpeg packs versions as `major << 16 | minor << 8 | micro`.
fn dotted_version(packed: u32) -> String {
    format!(
        "{}.{}.{}",
        packed >> 16,
        (packed >> 8) & 0xff,
        packed & 0xff
    )
}

/// x264's shared object is named after its build (`libx264.so.164` is core 164); libavcodec
/// links it, so it is mapped into any process using the encoder.
fn x264_build_in_maps(maps: &str) -> Option<u32> {
    maps.lines().find_map(|line| {
        let file = line.rsplit('/').next()?;
        let build = file.strip_prefix("libx264.so.")?;
        build.split('.').next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_dotted() {
        assert_eq!(dotted_version((59 << 16) | (37 << 8) | 100), "59.37.100");
    }

    #[test]
    fn x264_build_is_read_from_its_soname() {
        let maps = "7f0000-7f1000 r--p 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libavcodec.so.59.37.100\n\
                    7f2000-7f3000 r-xp 00000000 08:01 456 /usr/lib/x86_64-linux-gnu/libx264.so.164\n";
        assert_eq!(x264_build_in_maps(maps), Some(164));
        assert_eq!(x264_build_in_maps("7f 1 /usr/lib/libc.so.6\n"), None);
    }
}
