//! The pipeline: synthesise a source frame, scale it to the profile, encode it, mux its packets;
//! repeat. Only the source frame and the scaled frame are ever held here.

use std::path::Path;
use std::time::{Duration, Instant};

use ffmpeg::codec::{self, encoder};
use ffmpeg::format::{self, Pixel};
use ffmpeg::software::scaling;
use ffmpeg::{Dictionary, Packet, Rational, frame};
use ffmpeg_next as ffmpeg;
use workloads::ExecEnv;
use workloads::video::{FPS, VideoOutcome, VideoParams};

use crate::VideoError;
use crate::synth::{PlaneMut, SOURCE_FRAME_BYTES, SOURCE_HEIGHT, SOURCE_WIDTH, SyntheticClip};

const ENCODER: &str = "libx264";
const PRESET: &str = "medium";
const CONTAINER: &str = "mp4";

pub(crate) fn encode(
    params: &VideoParams,
    env: &ExecEnv,
    path: &Path,
) -> Result<VideoOutcome, VideoError> {
    let started = Instant::now();
    let profile = params.profile();
    let frames = params.frames();
    let seed = params.seed.unwrap_or(workloads::DEFAULT_SEED);
    let threads = env.threads.max(1);
    let bit_rate = profile.bitrate_kbps as usize * 1000;
    let frame_time_base = Rational::new(1, FPS as i32);

    let mut muxer =
        format::output_as(path, CONTAINER).map_err(VideoError::at("open the MP4 output"))?;
    let codec = encoder::find_by_name(ENCODER)
        .ok_or(ffmpeg::Error::EncoderNotFound)
        .map_err(VideoError::at("find the libx264 encoder"))?;

    let mut context = codec::context::Context::new_with_codec(codec);
    context.set_threading(ffmpeg::threading::Config::count(threads));
    let mut settings = context
        .encoder()
        .video()
        .map_err(VideoError::at("create the video encoder"))?;
    settings.set_width(profile.width);
    settings.set_height(profile.height);
    settings.set_format(Pixel::YUV420P);
    settings.set_time_base(frame_time_base);
    settings.set_frame_rate(Some(Rational::new(FPS as i32, 1)));
    settings.set_bit_rate(bit_rate);
    settings.set_max_bit_rate(bit_rate);
    let needs_global_header = muxer
        .format()
        .flags()
        .contains(format::Flags::GLOBAL_HEADER);
    // SAFETY: plain field writes on the encoder's own, not yet opened, AVCodecContext. The
    // wrapper has no setter for the VBV buffer, and `set_flags` would replace the flags x264's
    // defaults put there rather than add to them.
    unsafe {
        let raw = settings.as_mut_ptr();
        (*raw).rc_buffer_size = i32::try_from(2 * bit_rate).unwrap_or(i32::MAX);
        if needs_global_header {
            (*raw).flags |= ffmpeg::ffi::AV_CODEC_FLAG_GLOBAL_HEADER as i32;
        }
    }
    let mut options = Dictionary::new();
    options.set("preset", PRESET);
    let mut encoder = settings
        .open_with(options)
        .map_err(VideoError::at("open libx264"))?;

    let stream_index = {
        let mut stream = muxer
            .add_stream(codec)
            .map_err(VideoError::at("add the video stream"))?;
        stream.set_parameters(&encoder);
        stream.set_time_base(frame_time_base);
        stream.index()
    };
    muxer
        .write_header()
        .map_err(VideoError::at("write the MP4 header"))?;
    // The muxer may choose its own time base in write_header.
    let stream_time_base = muxer
        .stream(stream_index)
        .map(|stream| stream.time_base())
        .ok_or(ffmpeg::Error::StreamNotFound)
        .map_err(VideoError::at("find the video stream"))?;
    let mut sink = PacketSink {
        muxer: &mut muxer,
        stream_index,
        frame_time_base,
        stream_time_base,
        packet: Packet::empty(),
    };

    let mut scaler = scaling::Context::get(
        Pixel::YUV420P,
        SOURCE_WIDTH as u32,
        SOURCE_HEIGHT as u32,
        Pixel::YUV420P,
        profile.width,
        profile.height,
        // The original scaled with the ffmpeg CLI's default filter, bicubic.
        scaling::Flags::BICUBIC,
    )
    .map_err(VideoError::at("create the scaler"))?;
    let mut source = allocated_frame(SOURCE_WIDTH as u32, SOURCE_HEIGHT as u32)?;
    let mut scaled = allocated_frame(profile.width, profile.height)?;
    let mut clip = SyntheticClip::new(seed);
    let mut synthesis = Duration::ZERO;

    for index in 0..frames {
        let synthesis_started = Instant::now();
        render_into(&mut clip, &mut source);
        synthesis += synthesis_started.elapsed();

        scaler
            .run(&source, &mut scaled)
            .map_err(VideoError::at("scale a frame"))?;
        scaled.set_pts(Some(i64::from(index)));
        encoder
            .send_frame(&scaled)
            .map_err(VideoError::at("send a frame to libx264"))?;
        // Draining until the encoder wants input also makes it drop its reference to `scaled`,
        // so the frame's buffer is ours to overwrite next time round.
        sink.drain(&mut encoder)?;
    }
    encoder
        .send_eof()
        .map_err(VideoError::at("flush libx264"))?;
    sink.drain(&mut encoder)?;
    muxer
        .write_trailer()
        .map_err(VideoError::at("write the MP4 trailer"))?;
    // Closing the muxer flushes and closes the file before it is measured.
    drop(muxer);
    let output_size = std::fs::metadata(path)?.len();

    let input_size = u64::from(frames) * SOURCE_FRAME_BYTES;
    Ok(VideoOutcome {
        execution_time: started.elapsed().as_secs_f64(),
        input_size,
        output_size,
        profile_name: profile.name.to_owned(),
        resolution: format!("{}x{}", profile.width, profile.height),
        bitrate_kbps: profile.bitrate_kbps,
        compression_percent: 100.0 * (1.0 - output_size as f64 / input_size as f64),
        extraction_time: synthesis.as_secs_f64(),
        frames,
        duration_seconds: f64::from(frames) / f64::from(FPS),
        threads,
        success: true,
    })
}

/// A YUV 4:2:0 frame with its planes allocated: the wrapper ignores allocation failure and
/// would leave null planes behind.
fn allocated_frame(width: u32, height: u32) -> Result<frame::Video, VideoError> {
    let frame = frame::Video::new(Pixel::YUV420P, width, height);
    // SAFETY: reads three plane pointers of a frame we own.
    let planes = unsafe { (*frame.as_ptr()).data };
    let allocated = planes[..3].iter().all(|plane| !plane.is_null());
    if allocated {
        Ok(frame)
    } else {
        Err(VideoError::at("allocate a frame")(ffmpeg::Error::Other {
            errno: ffmpeg::error::ENOMEM,
        }))
    }
}

fn render_into(clip: &mut SyntheticClip, frame: &mut frame::Video) {
    let strides = [frame.stride(0), frame.stride(1), frame.stride(2)];
    // SAFETY: the three planes of a YUV 4:2:0 frame are disjoint buffers; the wrapper only hands
    // them out one `&mut` at a time, so split the borrow through raw parts.
    let [luma, u, v] = [0, 1, 2].map(|plane| {
        let data = frame.data_mut(plane);
        unsafe { std::slice::from_raw_parts_mut(data.as_mut_ptr(), data.len()) }
    });
    clip.render_next(
        &mut PlaneMut {
            data: luma,
            stride: strides[0],
        },
        &mut PlaneMut {
            data: u,
            stride: strides[1],
        },
        &mut PlaneMut {
            data: v,
            stride: strides[2],
        },
    );
}

/// Moves encoded packets into the MP4, each lasting exactly one frame.
struct PacketSink<'a> {
    muxer: &'a mut format::context::Output,
    stream_index: usize,
    frame_time_base: Rational,
    stream_time_base: Rational,
    packet: Packet,
}

impl PacketSink<'_> {
    fn drain(&mut self, encoder: &mut encoder::Video) -> Result<(), VideoError> {
        loop {
            match encoder.receive_packet(&mut self.packet) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::error::EAGAIN => {
                    return Ok(());
                }
                Err(source) => return Err(VideoError::at("receive a packet from libx264")(source)),
            }
            self.packet.set_stream(self.stream_index);
            // Without a duration the muxer guesses the last frame's and the MP4 comes out a
            // frame short.
            self.packet.set_duration(1);
            self.packet
                .rescale_ts(self.frame_time_base, self.stream_time_base);
            self.packet
                .write_interleaved(self.muxer)
                .map_err(VideoError::at("write a packet to the MP4"))?;
        }
    }
}
