//! End-to-end: encode real clips with libx264 and read them back with FFmpeg's demuxer and
//! H.264 decoder.

use std::path::Path;

use ffmpeg_next as ffmpeg;
use workload_video::{SOURCE_FRAME_BYTES, VideoError, encode_to_file, ffmpeg_info, run};
use workloads::ExecEnv;
use workloads::video::{PROFILES, VideoOutcome, VideoParams};

const ONE_THREAD: ExecEnv = ExecEnv { threads: 1 };

/// What a decoder sees in an MP4.
#[derive(Debug)]
struct Decoded {
    width: u32,
    height: u32,
    frames: u32,
    container_seconds: f64,
    stream_seconds: f64,
}

fn decode(path: &Path) -> Decoded {
    ffmpeg::init().unwrap();
    let mut input = ffmpeg::format::input(path).unwrap();
    let container_seconds = input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE);
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .expect("a video stream");
    let stream_index = stream.index();
    let stream_seconds = stream.duration() as f64 * f64::from(stream.time_base());
    let mut decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .unwrap()
        .decoder()
        .video()
        .unwrap();
    assert_eq!(decoder.id(), ffmpeg::codec::Id::H264);

    let mut picture = ffmpeg::frame::Video::empty();
    let mut frames = 0;
    let mut dimensions = None;
    let mut take_pictures = |decoder: &mut ffmpeg::decoder::Video| {
        while decoder.receive_frame(&mut picture).is_ok() {
            frames += 1;
            dimensions = Some((picture.width(), picture.height()));
        }
    };
    for (stream, packet) in input.packets() {
        if stream.index() == stream_index {
            decoder.send_packet(&packet).unwrap();
            take_pictures(&mut decoder);
        }
    }
    decoder.send_eof().unwrap();
    take_pictures(&mut decoder);
    let (width, height) = dimensions.expect("at least one decoded picture");
    Decoded {
        width,
        height,
        frames,
        container_seconds,
        stream_seconds,
    }
}

fn encode(params: &VideoParams, env: &ExecEnv) -> (VideoOutcome, Decoded, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let outcome = encode_to_file(params, env, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (outcome, decode(&path), bytes)
}

fn short_clip(profile: u8, seed: u64) -> VideoParams {
    VideoParams {
        profile,
        seconds: 0.4,
        seed: Some(seed),
    }
}

#[test]
fn default_request_encodes_four_seconds_of_full_hd() {
    let params = VideoParams::default();
    let (outcome, decoded, bytes) = encode(&params, &ONE_THREAD);

    assert_eq!((decoded.width, decoded.height), (1920, 1080));
    assert_eq!(decoded.frames, 100);
    assert!(
        (decoded.container_seconds - 4.0).abs() < 1e-3,
        "{decoded:?}"
    );
    assert!((decoded.stream_seconds - 4.0).abs() < 1e-3, "{decoded:?}");

    assert_eq!(outcome.output_size, bytes.len() as u64);
    assert_eq!(outcome.input_size, 100 * 1920 * 1080 * 3 / 2);
    assert_eq!((outcome.frames, outcome.duration_seconds), (100, 4.0));
    assert_eq!(
        (
            outcome.profile_name.as_str(),
            outcome.resolution.as_str(),
            outcome.bitrate_kbps
        ),
        ("Full HD", "1920x1080", 3000)
    );
    assert_eq!((outcome.threads, outcome.success), (1, true));
    let expected_compression = 100.0 * (1.0 - bytes.len() as f64 / outcome.input_size as f64);
    assert!((outcome.compression_percent - expected_compression).abs() < 1e-9);
    assert!(outcome.extraction_time > 0.0 && outcome.extraction_time < outcome.execution_time);

    // The VBV (maxrate R, buffer 2R) caps a 4 s clip at 4R + 2R bits; a rate control that
    // ignored the target would land far off either way.
    let bits_per_second = bytes.len() as f64 * 8.0 / 4.0;
    let target = 3_000_000.0;
    assert!(
        bits_per_second > 0.5 * target && bits_per_second < 1.5 * target,
        "{bits_per_second} b/s for a {target} b/s target"
    );
}

#[test]
fn every_profile_decodes_at_its_resolution() {
    for (index, profile) in PROFILES.iter().enumerate() {
        let params = short_clip(index as u8, 11);
        let (outcome, decoded, bytes) = encode(&params, &ONE_THREAD);
        assert_eq!(
            (decoded.width, decoded.height),
            (profile.width, profile.height)
        );
        assert_eq!(decoded.frames, 10, "{}", profile.name);
        assert!((decoded.stream_seconds - 0.4).abs() < 1e-3, "{decoded:?}");
        assert_eq!(
            outcome.resolution,
            format!("{}x{}", profile.width, profile.height)
        );
        assert_eq!(outcome.input_size, 10 * SOURCE_FRAME_BYTES);
        assert!((bytes.len() as u64) < outcome.input_size);
        assert!(outcome.compression_percent > 0.0 && outcome.compression_percent < 100.0);
    }
}

#[test]
fn one_thread_output_is_reproducible_and_follows_the_seed() {
    let (_, _, first) = encode(&short_clip(0, 42), &ONE_THREAD);
    let (_, _, again) = encode(&short_clip(0, 42), &ONE_THREAD);
    let (_, _, other) = encode(&short_clip(0, 43), &ONE_THREAD);
    assert!(first == again, "same seed, one thread: bytes differ");
    assert!(first != other, "different seeds gave the same clip");
}

#[test]
fn single_frame_clip_and_two_threads_work() {
    let one_frame = VideoParams {
        profile: 0,
        seconds: workloads::video::MIN_SECONDS,
        seed: None,
    };
    let (outcome, decoded, _) = encode(&one_frame, &ONE_THREAD);
    assert_eq!((outcome.frames, decoded.frames), (1, 1));

    let (outcome, decoded, _) = encode(&short_clip(0, 5), &ExecEnv { threads: 2 });
    assert_eq!((outcome.threads, decoded.frames), (2, 10));
}

#[test]
fn run_reports_size_and_leaves_no_file() {
    let temp_dir = std::env::temp_dir();
    let leftovers = || {
        std::fs::read_dir(&temp_dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                name.starts_with("video-") && name.ends_with(".mp4")
            })
            .count()
    };
    let before = leftovers();
    let outcome = run(&short_clip(0, 9), &ONE_THREAD).unwrap();
    assert!(outcome.output_size > 0 && outcome.success);
    assert!(leftovers() <= before, "run left its MP4 behind");
}

#[test]
fn invalid_params_name_the_field_and_write_nothing() {
    // Every field's range is tested with the parameter types (crate `workloads`); here: both
    // entry points validate before doing anything.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never.mp4");
    let params = VideoParams {
        profile: 3,
        ..Default::default()
    };
    match run(&params, &ONE_THREAD) {
        Err(VideoError::Invalid(invalid)) => assert_eq!(invalid.field, "profile"),
        other => panic!("expected Invalid(profile), got {other:?}"),
    }
    match encode_to_file(&params, &ONE_THREAD, &path) {
        Err(VideoError::Invalid(invalid)) => assert_eq!(invalid.field, "profile"),
        other => panic!("expected Invalid(profile), got {other:?}"),
    }
    assert!(!path.exists());
}

#[test]
fn unwritable_output_is_an_ffmpeg_error_naming_the_step() {
    let error = encode_to_file(
        &short_clip(0, 1),
        &ONE_THREAD,
        Path::new("/nonexistent-dir/clip.mp4"),
    )
    .unwrap_err();
    match &error {
        VideoError::Ffmpeg { step, .. } => assert_eq!(*step, "open the MP4 output"),
        other => panic!("expected an FFmpeg error, got {other:?}"),
    }
    assert!(error.to_string().contains("open the MP4 output"));
}

#[test]
fn ffmpeg_info_names_ffmpeg_5_1_and_x264() {
    let info = ffmpeg_info();
    for version in [
        &info.libavcodec,
        &info.libavformat,
        &info.libavutil,
        &info.libswscale,
    ] {
        let parts: Vec<u32> = version
            .split('.')
            .map(|part| part.parse().unwrap())
            .collect();
        assert_eq!(parts.len(), 3, "{version}");
    }
    assert!(info.libavcodec.starts_with("59."), "{info:?}");
    let build: u32 = info
        .x264
        .strip_prefix("core ")
        .and_then(|build| build.parse().ok())
        .unwrap_or_else(|| panic!("x264 version {:?}", info.x264));
    assert!(build > 100);
}
