//! `/video` parameters and result. The kernel (FFmpeg + x264) lives in the `workload-video` crate.

use serde::{Deserialize, Serialize};

use crate::{Bound, InvalidParam};

/// Frame rate of the synthetic source.
pub const FPS: u32 = 25;
pub const MAX_SECONDS: f64 = 60.0;
/// One frame.
pub const MIN_SECONDS: f64 = 1.0 / FPS as f64;
pub const SECONDS: Bound<f64> = Bound::new("seconds", MIN_SECONDS, MAX_SECONDS);
pub const PROFILE_ALLOWED: &str = "0, 1 or 2";

/// An output profile of the original: resolution and constant bitrate target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
}

pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "HD-ready",
        width: 1280,
        height: 720,
        bitrate_kbps: 1500,
    },
    Profile {
        name: "Full HD",
        width: 1920,
        height: 1080,
        bitrate_kbps: 3000,
    },
    Profile {
        name: "Quad HD",
        width: 2560,
        height: 1440,
        bitrate_kbps: 6500,
    },
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoParams {
    /// Index into [`PROFILES`]: 0 = 720p, 1 = 1080p, 2 = 1440p.
    #[serde(default = "default_profile")]
    pub profile: u8,
    /// Length of the source clip; the original encoded a 4-second segment.
    #[serde(default = "default_seconds")]
    pub seconds: f64,
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_profile() -> u8 {
    1
}
fn default_seconds() -> f64 {
    4.0
}

impl Default for VideoParams {
    fn default() -> Self {
        Self {
            profile: default_profile(),
            seconds: default_seconds(),
            seed: None,
        }
    }
}

impl VideoParams {
    pub fn validate(&self) -> Result<(), InvalidParam> {
        if usize::from(self.profile) >= PROFILES.len() {
            return Err(InvalidParam::new(
                "profile",
                PROFILE_ALLOWED,
                self.profile.to_string(),
            ));
        }
        SECONDS.check(self.seconds)
    }

    /// The allowed values of a payload field, for error messages.
    pub fn allowed(field: &str) -> Option<String> {
        match field {
            "profile" => Some(PROFILE_ALLOWED.to_owned()),
            "seconds" => Some(SECONDS.allowed()),
            "seed" => Some(crate::SEED_ALLOWED.to_owned()),
            _ => None,
        }
    }

    pub fn profile(&self) -> Profile {
        PROFILES[usize::from(self.profile)]
    }

    /// Frames in the clip: `seconds` rounded to whole frames.
    pub fn frames(&self) -> u32 {
        (self.seconds * f64::from(FPS)).round() as u32
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoOutcome {
    /// Wall seconds for the whole request: synthesis, scaling, encoding and muxing.
    pub execution_time: f64,
    /// Bytes of the raw source frames fed to the scaler (YUV 4:2:0).
    pub input_size: u64,
    /// Bytes of the H.264 MP4 produced.
    pub output_size: u64,
    pub profile_name: String,
    /// `WIDTHxHEIGHT`.
    pub resolution: String,
    pub bitrate_kbps: u32,
    /// `100 · (1 − output_size / input_size)`.
    pub compression_percent: f64,
    /// Seconds spent synthesising source frames (the original's segment extraction).
    pub extraction_time: f64,
    pub frames: u32,
    pub duration_seconds: f64,
    pub threads: usize,
    pub success: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unknown_profile_and_bad_lengths() {
        for profile in [3, 7, 255] {
            let params = VideoParams {
                profile,
                ..Default::default()
            };
            assert_eq!(params.validate().unwrap_err().field, "profile");
        }
        for seconds in [0.0, -1.0, 0.03, 61.0, f64::NAN, f64::INFINITY] {
            let params = VideoParams {
                seconds,
                ..Default::default()
            };
            assert_eq!(params.validate().unwrap_err().field, "seconds", "{seconds}");
        }
        assert_eq!(VideoParams::default().frames(), 100);
    }
}
