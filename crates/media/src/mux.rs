//! Mux a rendered picture with the target audio.

use crate::process::run_ffmpeg;
use crate::{probe, MediaError};
use std::path::Path;
use vantage_core::CancelToken;

/// Copy the picture of `video` (no re-encode) and the first audio stream of
/// `audio` (encoded to AAC) into `output`.
///
/// The result lasts exactly as long as the audio: a longer picture is cut at
/// the audio's end; a shorter one stops early and players hold its last frame
/// until the audio ends (the sync pipeline always renders the picture to the
/// audio's length, so this only matters for hand-made pipelines).
pub fn mux(
    video: &Path,
    audio: &Path,
    output: &Path,
    cancel: &CancelToken,
) -> Result<(), MediaError> {
    let audio_info = probe(audio)?;
    let a = audio_info.require_audio(audio)?;
    probe(video)?.require_video(video)?;
    let duration = format!("{:.6}", a.duration);
    let (v, au, o) = (
        video.to_string_lossy(),
        audio.to_string_lossy(),
        output.to_string_lossy(),
    );
    run_ffmpeg(
        &[
            "-i",
            &v,
            "-i",
            &au,
            "-map",
            "0:v:0",
            "-map",
            "1:a:0",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            "-b:a",
            "192k",
            "-t",
            &duration,
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            &o,
        ],
        "muxing picture and audio",
        cancel,
    )
}
