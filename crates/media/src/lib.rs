//! Media I/O over the system ffmpeg (through ffmpeg-sidecar; never a downloaded binary).
//!
//! Video is streamed as raw YUV 4:2:0 frames over pipes, so memory is bounded by
//! a few frames whatever the length.

mod audio;
mod error;
mod frames;
mod image;
mod mp4;
mod mux;
mod probe;
mod process;
pub mod stages;

pub use audio::{extract_audio, read_wav_mono, AUDIO_RATE};
pub use error::MediaError;
pub use frames::{EncodeSettings, Frame, FrameReader, FrameWriter};
pub use image::{read_image, write_image, RgbImage};
pub use mp4::restamp_video;
pub use mux::mux;
pub use probe::{frame_times, probe, AudioStream, MediaInfo, VideoStream};
