//! Mux a rendered picture with the target audio; join rendered segments.

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

/// Join encoded segments (MPEG-TS, as [`crate::FrameWriter`] writes for a
/// `.ts` path) into one MP4 without re-encoding. Their timestamps run on:
/// the joined picture has each frame at the time, and in the time base, a
/// single encode at `fps` gives it.
pub fn concat(
    parts: &[std::path::PathBuf],
    fps: vantage_core::Rational,
    output: &Path,
    cancel: &CancelToken,
) -> Result<(), MediaError> {
    let name = output
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy());
    let list = output.with_file_name(format!(".{name}.concat.txt"));
    // The concat demuxer's quoting: a ' inside a path is written '\''.
    let lines: String = parts
        .iter()
        .map(|p| format!("file '{}'\n", p.to_string_lossy().replace('\'', "'\\''")))
        .collect();
    std::fs::write(&list, lines).map_err(|e| MediaError::Tool {
        what: "concat".into(),
        detail: format!("writing {}: {e}", list.display()),
    })?;
    // ffmpeg's MP4 muxer gives a stream at 1/fps the time scale fps.num,
    // doubled until it reaches 10000; the segments' MPEG-TS clock is 90 kHz.
    let mut timescale = fps.num.max(1);
    while timescale < 10_000 {
        timescale *= 2;
    }
    let timescale = timescale.to_string();
    let (l, o) = (list.to_string_lossy(), output.to_string_lossy());
    let joined = run_ffmpeg(
        &[
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            &l,
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-video_track_timescale",
            &timescale,
            "-f",
            "mp4",
            &o,
        ],
        "joining rendered segments",
        cancel,
    );
    let _ = std::fs::remove_file(&list);
    joined
}
