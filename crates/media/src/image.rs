//! Still images (PNG and anything else ffmpeg reads) as RGB floats.

use crate::process::{ffmpeg, Running};
use crate::{probe, MediaError};
use std::io::{Read, Write};
use std::path::Path;
use vantage_core::CancelToken;

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
    let p = path.to_string_lossy();
    let args = [
        "-i",
        &p,
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb48le",
        "-",
    ];
    let mut running = Running::spawn(ffmpeg(&args), &format!("reading {}", path.display()))?;
    drop(running.take_stdin());
    let mut bytes = Vec::new();
    if let Some(mut stdout) = running.take_stdout() {
        stdout
            .read_to_end(&mut bytes)
            .map_err(MediaError::io(format!("reading {}", path.display())))?;
    }
    let expected = width as usize * height as usize * 6;
    let finished = running.finish(&CancelToken::default());
    if let Err(e) = finished.and_then(|()| match bytes.len() == expected {
        true => Ok(()),
        false => Err(MediaError::Tool {
            what: "ffmpeg".into(),
            detail: format!("{} bytes of pixels, expected {expected}", bytes.len()),
        }),
    }) {
        return Err(MediaError::NotMedia {
            path: path.to_path_buf(),
            detail: e.to_string(),
        });
    }
    let data = bytes
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
    // Written beside `path` under a temporary name with the same extension
    // (ffmpeg picks the format by it), then renamed: an interrupted write
    // never leaves half an image where the user asked for one.
    let stem = path
        .file_stem()
        .map_or("image".into(), |n| n.to_string_lossy());
    let ext = path
        .extension()
        .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    let tmp = path.with_file_name(format!(".{stem}.partial-{}{ext}", std::process::id()));
    let written = encode_image(&tmp, image, sixteen_bits).and_then(|()| {
        std::fs::rename(&tmp, path).map_err(MediaError::io(format!("writing {}", path.display())))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn encode_image(path: &Path, image: &RgbImage, sixteen_bits: bool) -> Result<(), MediaError> {
    let size = format!("{}x{}", image.width, image.height);
    let out = path.to_string_lossy();
    let depth = if sixteen_bits { "rgb48be" } else { "rgb24" };
    let args = [
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb48le",
        "-s",
        &size,
        "-i",
        "-",
        "-frames:v",
        "1",
        "-pix_fmt",
        depth,
        &out,
    ];
    let mut running = Running::spawn(ffmpeg(&args), &format!("writing {}", path.display()))?;
    drop(running.take_stdout());
    let bytes: Vec<u8> = image
        .data
        .iter()
        .flat_map(|&v| ((v.clamp(0.0, 1.0) * 65535.0 + 0.5) as u16).to_le_bytes())
        .collect();
    let written = running.take_stdin().map(|mut s| s.write_all(&bytes));
    running.finish(&CancelToken::default())?;
    if !matches!(written, Some(Ok(()))) {
        return Err(MediaError::Tool {
            what: format!("writing {}", path.display()),
            detail: "ffmpeg did not take the pixels".into(),
        });
    }
    Ok(())
}

/// Rasterise an SVG file to PNG (ffmpeg's librsvg decoder; text in the
/// system's fonts through fontconfig).
pub fn svg_to_png(svg: &Path, png: &Path, cancel: &CancelToken) -> Result<(), MediaError> {
    let (i, o) = (svg.to_string_lossy(), png.to_string_lossy());
    crate::process::run_ffmpeg(
        &["-i", &i, "-frames:v", "1", "-update", "1", &o],
        &format!("drawing {}", png.display()),
        cancel,
    )
}
