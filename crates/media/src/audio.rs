//! Audio extraction to 16 kHz mono and WAV reading.

use crate::process::run_ffmpeg;
use crate::MediaError;
use std::path::Path;
use vantage_core::CancelToken;

/// Sample rate of every analysis signal.
pub const AUDIO_RATE: u32 = 16_000;

/// Decode the first audio stream of `input` to 16 kHz mono 16-bit WAV at `output`.
pub fn extract_audio(input: &Path, output: &Path, cancel: &CancelToken) -> Result<(), MediaError> {
    let (i, o) = (input.to_string_lossy(), output.to_string_lossy());
    let rate = AUDIO_RATE.to_string();
    run_ffmpeg(
        &[
            "-i",
            &i,
            "-map",
            "0:a:0",
            "-vn",
            "-ac",
            "1",
            "-ar",
            &rate,
            "-c:a",
            "pcm_s16le",
            "-f",
            "wav",
            &o,
        ],
        &format!("extracting audio from {}", input.display()),
        cancel,
    )
}

/// Read a mono 16-bit WAV as samples in -1..1 and its sample rate.
pub fn read_wav_mono(path: &Path) -> Result<(Vec<f32>, u32), MediaError> {
    let reader = hound::WavReader::open(path).map_err(|e| MediaError::NotMedia {
        path: path.to_path_buf(),
        detail: format!("not a readable WAV: {e}"),
    })?;
    let spec = reader.spec();
    if spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(MediaError::NotMedia {
            path: path.to_path_buf(),
            detail: format!(
                "expected mono 16-bit PCM, got {} channel(s) of {}-bit {:?}",
                spec.channels, spec.bits_per_sample, spec.sample_format
            ),
        });
    }
    let samples = reader
        .into_samples::<i16>()
        .map(|s| s.map(|v| v as f32 / 32768.0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MediaError::NotMedia {
            path: path.to_path_buf(),
            detail: format!("truncated WAV: {e}"),
        })?;
    Ok((samples, spec.sample_rate))
}
