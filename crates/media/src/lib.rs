//! Media I/O over the system ffmpeg (through ffmpeg-sidecar; never a downloaded binary).
//!
//! Video is streamed as raw YUV 4:2:0 frames over pipes, so memory is bounded by
//! a few frames whatever the length.
//!
//! * `probe`: stream facts (one ffprobe call) and the picture's frame times.
//! * `audio`: extraction to 16 kHz mono WAV, WAV reading.
//! * `colour`: what a picture's YUV numbers mean, carried from source to output.
//! * `frames`: streaming raw-frame decode and encode over pipes.
//! * `image`: still images as RGB floats (for `vantage interpolate`).
//! * `mp4`: new presentation times for every frame of an MP4, no re-encode.
//! * `mux`: the rendered picture with the target audio.
//! * `process`: ffmpeg/ffprobe command lines over [`vantage_core::process`].
//! * `error`: [`MediaError`], and how it maps to a stage error's kind.
//! * [`stages`]: the `extract-audio` and `mux` stages.

mod audio;
mod colour;
mod error;
mod frames;
mod image;
mod mp4;
mod mux;
mod probe;
mod process;
pub mod stages;

pub use audio::{extract_audio, read_wav_blocks, read_wav_mono, AUDIO_RATE};
pub use colour::{Colour, Matrix};
pub use error::MediaError;
pub use frames::{EncodeSettings, Frame, FrameReader, FrameWriter, PRESETS};
pub use image::{read_image, svg_to_png, write_image, RgbImage};
pub use mp4::{restamp_moov, restamp_video};
pub use mux::{concat, mux};
pub use probe::{check_complete, frame_times, probe, AudioStream, MediaInfo, VideoStream};
