//! Still images (PNG and anything else ffmpeg reads) as RGB floats.

use crate::{probe, MediaError};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// An RGB image, row-major, 3 values per pixel in 0..1.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

/// Decode the first picture of `path` at 16 bits per channel (8-bit sources
/// come out exactly as v/255).
pub fn read_image(path: &Path) -> Result<RgbImage, MediaError> {
    let info = probe(path)?;
    // A still has no duration, so `require_video` (which wants frames over time) does not apply.
    let video = info
        .video
        .as_ref()
        .ok_or_else(|| MediaError::NoVideo(path.to_path_buf()))?;
    let (width, height) = (video.width, video.height);
    let out = Command::new(ffmpeg_sidecar::paths::ffmpeg_path())
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb48le",
            "-",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| MediaError::MissingTool(format!("ffmpeg: {e}")))?;
    let expected = width as usize * height as usize * 6;
    if !out.status.success() || out.stdout.len() != expected {
        return Err(MediaError::NotMedia {
            path: path.to_path_buf(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let data = out
        .stdout
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as f32 / 65535.0)
        .collect();
    Ok(RgbImage {
        width,
        height,
        data,
    })
}

/// Encode `image` to `path` (format from the extension), 8 or 16 bits per channel.
pub fn write_image(path: &Path, image: &RgbImage, sixteen_bits: bool) -> Result<(), MediaError> {
    let size = format!("{}x{}", image.width, image.height);
    let mut child = Command::new(ffmpeg_sidecar::paths::ffmpeg_path())
        .args([
            "-hide_banner",
            "-v",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb48le",
            "-s",
            &size,
            "-i",
            "-",
        ])
        .args([
            "-frames:v",
            "1",
            "-pix_fmt",
            if sixteen_bits { "rgb48be" } else { "rgb24" },
        ])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| MediaError::MissingTool(format!("ffmpeg: {e}")))?;
    let bytes: Vec<u8> = image
        .data
        .iter()
        .flat_map(|&v| ((v.clamp(0.0, 1.0) * 65535.0 + 0.5) as u16).to_le_bytes())
        .collect();
    let written = child.stdin.take().map(|mut s| s.write_all(&bytes));
    let out = child
        .wait_with_output()
        .map_err(MediaError::io("running ffmpeg"))?;
    if !out.status.success() || !matches!(written, Some(Ok(()))) {
        return Err(MediaError::Tool {
            what: format!("writing {}", path.display()),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}
