//! A video whose every frame shows its own source time, and the reader for it.
//!
//! The top half holds a bar that crosses the frame every [`FAST_PERIOD_S`]
//! (fine time), the bottom half one that crosses every [`SLOW_PERIOD_S`]
//! (which lap the fine bar is on). Bars are anti-aliased, so their intensity
//! centroid encodes the time to a fraction of a pixel, and a cross-fade of two
//! frames reads back as the weighted mean of their times.

use std::path::Path;
use vantage_core::{CancelToken, Rational};
use vantage_media::{Colour, EncodeSettings, Frame, FrameReader, FrameWriter, MediaError};

pub const FAST_PERIOD_S: f64 = 2.0;
pub const SLOW_PERIOD_S: f64 = 128.0;
const BAR_FRACTION: f64 = 0.08;

/// Per-column coverage of a bar centred at `centre` (pixels), wrapping around.
fn bar_profile(width: usize, centre: f64) -> Vec<f64> {
    let half = BAR_FRACTION * width as f64 / 2.0;
    let w = width as f64;
    (0..width)
        .map(|x| {
            let mut cover = 0.0;
            for shift in [-w, 0.0, w] {
                let (a, b) = (centre - half + shift, centre + half + shift);
                cover += (b.min(x as f64 + 1.0) - a.max(x as f64)).max(0.0);
            }
            cover.min(1.0)
        })
        .collect()
}

/// Draw the frame that shows source time `t`.
pub fn draw(frame: &mut Frame, t: f64) {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let fast = bar_profile(w, (t / FAST_PERIOD_S).rem_euclid(1.0) * w as f64);
    let slow = bar_profile(w, (t / SLOW_PERIOD_S).rem_euclid(1.0) * w as f64);
    let luma = frame.luma_mut();
    for y in 0..h {
        let profile = if y < h / 2 { &fast } else { &slow };
        for x in 0..w {
            luma[y * w + x] = (16.0 + 219.0 * profile[x]).round() as u8;
        }
    }
}

/// Read back the source time a frame shows.
pub fn read_time(frame: &Frame) -> f64 {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let luma = frame.luma();
    let centre = |rows: std::ops::Range<usize>| {
        let (mut s, mut c) = (0.0, 0.0);
        for x in 0..w {
            let v: f64 = rows
                .clone()
                .map(|y| (luma[y * w + x] as f64 - 16.0).max(0.0))
                .sum();
            let a = 2.0 * std::f64::consts::PI * (x as f64 + 0.5) / w as f64;
            s += v * a.sin();
            c += v * a.cos();
        }
        (s.atan2(c) / (2.0 * std::f64::consts::PI)).rem_euclid(1.0)
    };
    // Skip rows next to the split, where chroma subsampling and compression blur the bands.
    let fine = centre(2..h / 2 - 2) * FAST_PERIOD_S;
    let coarse = centre(h / 2 + 2..h - 2) * SLOW_PERIOD_S;
    let lap = ((coarse - fine) / FAST_PERIOD_S).round();
    let t = fine + lap * FAST_PERIOD_S;
    // Times just under a slow lap are really just after 0.
    if t >= SLOW_PERIOD_S - FAST_PERIOD_S / 2.0 {
        t - SLOW_PERIOD_S
    } else {
        t
    }
}

/// Write a lossless bar video of `frames` frames at `fps`.
pub fn write_video(
    path: &Path,
    width: u32,
    height: u32,
    fps: Rational,
    frames: usize,
) -> Result<(), MediaError> {
    let mut writer = FrameWriter::create(
        path,
        (width, height),
        fps,
        &Colour::default(),
        &EncodeSettings::lossless(),
    )?;
    let mut frame = Frame::black(width, height);
    for k in 0..frames {
        draw(&mut frame, k as f64 / fps.as_f64());
        writer.write(&frame)?;
    }
    writer.finish(&CancelToken::default())
}

/// Times shown by every frame of a video.
pub fn read_video_times(path: &Path) -> Result<Vec<f64>, MediaError> {
    let info = vantage_media::probe(path)?;
    let v = info.require_video(path)?;
    let mut reader = FrameReader::open(path, &info)?;
    let mut frame = Frame::black(v.width, v.height);
    let mut times = Vec::new();
    while reader.read_into(&mut frame)? {
        times.push(read_time(&frame));
    }
    reader.finish(&CancelToken::default())?;
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_times_including_blends() {
        let mut a = Frame::black(320, 180);
        let mut b = Frame::black(320, 180);
        for &t in &[0.0, 0.5, 1.99, 2.01, 37.3, 100.04] {
            draw(&mut a, t);
            assert!(
                (read_time(&a) - t).abs() < 0.002,
                "t={t}: {}",
                read_time(&a)
            );
        }
        draw(&mut a, 10.0);
        draw(&mut b, 10.0 + 1.0 / 24.0);
        let mut mix = a.clone();
        for ((m, x), y) in mix.data.iter_mut().zip(&a.data).zip(&b.data) {
            *m = ((*x as f64 * 0.75 + *y as f64 * 0.25).round()) as u8;
        }
        let expected = 10.0 + 0.25 / 24.0;
        assert!(
            (read_time(&mix) - expected).abs() < 0.002,
            "{}",
            read_time(&mix)
        );
    }
}
