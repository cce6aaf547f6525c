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
    let mut samples = Vec::new();
    let rate = read_wav_blocks(path, |block| samples.extend_from_slice(block))?;
    Ok((samples, rate))
}

/// Samples in a block of [`read_wav_blocks`] (4 s at 16 kHz).
const BLOCK: usize = 65_536;

/// Read a mono 16-bit WAV a block at a time, handing each block of samples
/// (in -1..1) to `each`: memory stays one block whatever the length.
/// Returns the sample rate.
pub fn read_wav_blocks(path: &Path, mut each: impl FnMut(&[f32])) -> Result<u32, MediaError> {
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
    let mut block = Vec::with_capacity(BLOCK);
    for sample in reader.into_samples::<i16>() {
        let v = sample.map_err(|e| MediaError::NotMedia {
            path: path.to_path_buf(),
            detail: format!("truncated WAV: {e}"),
        })?;
        block.push(v as f32 / 32768.0);
        if block.len() == BLOCK {
            each(&block);
            block.clear();
        }
    }
    if !block.is_empty() {
        each(&block);
    }
    Ok(spec.sample_rate)
}
