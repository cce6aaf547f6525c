//! Probe a media file: [`probe`] reads the container's stream table (one
//! cheap ffprobe call); [`frame_times`] lists the picture's real frame
//! timestamps (one pass over the packet index) for the stages that need them.

use crate::process::run_ffprobe;
use crate::MediaError;
use serde::Deserialize;
use std::path::Path;
use vantage_core::CancelToken;
use vantage_core::{Rational, VideoInfo};

#[derive(Clone, Debug, PartialEq)]
pub struct AudioStream {
    /// Start of the stream on the container's clock, in seconds.
    pub start: f64,
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u32,
    pub duration: f64,
}

/// The picture stream as the container describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoStream {
    /// Absolute index of the stream in the file (cover art is skipped).
    pub index: usize,
    pub codec: String,
    /// Size as displayed, i.e. after rotation (ffmpeg's decoder rotates).
    pub width: u32,
    pub height: u32,
    pub fps: Rational,
    /// Start of the stream on the container's clock, in seconds.
    pub start: f64,
    pub duration: f64,
    /// Frame count from the container header, where it has one.
    pub frames: Option<usize>,
    /// Degrees the picture is turned for display; decoded frames come upright.
    pub rotation: i64,
    /// ffmpeg's pixel format of the coded picture (yuv420p10le, yuv444p, ...).
    pub pixel_format: String,
    pub colour: crate::Colour,
}

impl VideoStream {
    /// What rendering this picture anew changes, in words (none: nothing).
    pub fn render_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.rotation.rem_euclid(360) != 0 {
            notes.push(format!(
                "the source is stored turned by {}°: the output is rendered upright, with no rotation tag",
                self.rotation
            ));
        }
        if !matches!(self.pixel_format.as_str(), "yuv420p" | "yuvj420p" | "") {
            notes.push(format!(
                "the source's pixels are {}: the output is 8-bit 4:2:0 (--mode vfr keeps the coded picture)",
                self.pixel_format
            ));
        }
        if self.width % 2 == 1 || self.height % 2 == 1 {
            notes.push(format!(
                "the source is {}x{}: 4:2:0 video needs even sizes, so the output is {}x{} with a black edge",
                self.width,
                self.height,
                self.width.div_ceil(2) * 2,
                self.height.div_ceil(2) * 2
            ));
        }
        notes
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MediaInfo {
    pub format: String,
    pub duration: f64,
    pub video: Option<VideoStream>,
    pub audio: Option<AudioStream>,
}

impl MediaInfo {
    /// The video stream, or a clear error naming the file.
    pub fn require_video(&self, path: &Path) -> Result<&VideoStream, MediaError> {
        let v = self
            .video
            .as_ref()
            .ok_or_else(|| MediaError::NoVideo(path.to_path_buf()))?;
        if v.frames == Some(0) || v.duration <= 0.0 {
            return Err(MediaError::Empty(path.to_path_buf(), "video"));
        }
        Ok(v)
    }

    /// The audio stream, or a clear error naming the file.
    pub fn require_audio(&self, path: &Path) -> Result<&AudioStream, MediaError> {
        let a = self
            .audio
            .as_ref()
            .ok_or_else(|| MediaError::NoAudio(path.to_path_buf()))?;
        if a.duration <= 0.0 {
            return Err(MediaError::Empty(path.to_path_buf(), "audio"));
        }
        Ok(a)
    }
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}

#[derive(Deserialize)]
struct Stream {
    index: usize,
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u32>,
    duration: Option<String>,
    start_time: Option<String>,
    nb_frames: Option<String>,
    pix_fmt: Option<String>,
    color_space: Option<String>,
    color_range: Option<String>,
    color_primaries: Option<String>,
    color_transfer: Option<String>,
    #[serde(default)]
    disposition: Disposition,
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
}

impl Stream {
    /// The picture's nominal rate, as ffmpeg guesses it for a re-encode:
    /// the base rate (a phone's 30 when it drops frames in the dark, not
    /// their average), unless that is implausibly high beside the average
    /// (timestamps in a fine time base).
    fn frame_rate(&self) -> Rational {
        let rate = |r: &Option<String>| r.as_deref().and_then(Rational::parse);
        match (rate(&self.r_frame_rate), rate(&self.avg_frame_rate)) {
            (Some(base), Some(avg)) if base.as_f64() > 210.0 && avg.as_f64() < 70.0 => avg,
            (Some(base), _) => base,
            (None, Some(avg)) => avg,
            (None, None) => Rational { num: 25, den: 1 },
        }
    }

    /// Rotation in degrees from the display matrix (or the legacy `rotate` tag).
    fn rotation(&self) -> i64 {
        self.side_data_list
            .iter()
            .find_map(|d| d.get("rotation").and_then(serde_json::Value::as_f64))
            .or_else(|| self.tags.get("rotate").and_then(|r| r.parse().ok()))
            .map_or(0, |r: f64| r.round() as i64)
    }
}

#[derive(Deserialize, Default)]
struct Disposition {
    #[serde(default)]
    attached_pic: u8,
}

#[derive(Deserialize)]
struct Format {
    format_name: Option<String>,
    duration: Option<String>,
}

fn num(s: &Option<String>) -> Option<f64> {
    s.as_deref()?.parse().ok().filter(|v: &f64| v.is_finite())
}

/// Probe `path`. Fails with a clear message when the file is missing or not media.
pub fn probe(path: &Path) -> Result<MediaInfo, MediaError> {
    if !path.is_file() {
        return Err(MediaError::NotFound(path.to_path_buf()));
    }
    let p = path.to_string_lossy();
    let (ok, out, err) = run_ffprobe(
        &["-print_format", "json", "-show_format", "-show_streams", &p],
        &CancelToken::default(),
    )?;
    if !ok {
        return Err(MediaError::NotMedia {
            path: path.to_path_buf(),
            detail: if err.is_empty() {
                "ffprobe failed".into()
            } else {
                err
            },
        });
    }
    let parsed: Probe = serde_json::from_str(&out).map_err(|e| MediaError::NotMedia {
        path: path.to_path_buf(),
        detail: format!("unreadable ffprobe output: {e}"),
    })?;
    let format = parsed.format.as_ref();
    let format_name = format
        .and_then(|f| f.format_name.clone())
        .unwrap_or_default();
    // ffprobe "reads" plain text files as tty/ANSI art: that is not media for us.
    if parsed.streams.is_empty() || format_name == "tty" {
        return Err(MediaError::NotMedia {
            path: path.to_path_buf(),
            detail: "no audio or video streams found".into(),
        });
    }
    let format_duration = format.and_then(|f| num(&f.duration)).unwrap_or(0.0);

    let audio = parsed
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .map(|s| AudioStream {
            start: num(&s.start_time).unwrap_or(0.0),
            codec: s.codec_name.clone().unwrap_or_default(),
            sample_rate: s
                .sample_rate
                .as_deref()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
            channels: s.channels.unwrap_or(0),
            duration: num(&s.duration).unwrap_or(format_duration),
        });

    let video = parsed
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video") && s.disposition.attached_pic == 0)
        .map(|s| {
            let (mut width, mut height) = (s.width.unwrap_or(0), s.height.unwrap_or(0));
            if s.rotation().rem_euclid(180) == 90 {
                std::mem::swap(&mut width, &mut height);
            }
            VideoStream {
                index: s.index,
                codec: s.codec_name.clone().unwrap_or_default(),
                width,
                height,
                fps: s.frame_rate(),
                start: num(&s.start_time).unwrap_or(0.0),
                duration: num(&s.duration).unwrap_or(format_duration),
                frames: num(&s.nb_frames).map(|n| n as usize),
                rotation: s.rotation(),
                pixel_format: s.pix_fmt.clone().unwrap_or_default(),
                colour: crate::Colour::from_probe(
                    s.color_space.as_deref(),
                    s.color_range.as_deref(),
                    s.color_primaries.as_deref(),
                    s.color_transfer.as_deref(),
                ),
            }
        });
    Ok(MediaInfo {
        format: format_name,
        duration: format_duration,
        video,
        audio,
    })
}

/// Presentation time of every frame of `stream` (from the packet index: no
/// decoding), from the first frame at 0, and whether the rate varies. One
/// pass over a long file's packets takes a while: `cancel` stops it.
/// Fail when the file ends before the data its index describes (a
/// download cut short whose index came first: ffmpeg reads the start and
/// quietly stops where the bytes do). `info` is the file's probe. Only the
/// video's last second is read (from the keyframe before it), not the file.
pub fn check_complete(
    path: &Path,
    info: &MediaInfo,
    cancel: &CancelToken,
) -> Result<(), MediaError> {
    let Some(video) = &info.video else {
        return Ok(());
    };
    let p = path.to_string_lossy();
    let select = video.index.to_string();
    let last_second = (video.start + video.duration - 1.0).max(0.0);
    let interval = format!("{last_second}%");
    let (ok, out, err) = run_ffprobe(
        &[
            "-select_streams",
            &select,
            "-read_intervals",
            &interval,
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
            &p,
        ],
        cancel,
    )?;
    let reached = out
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok())
        .fold(f64::NEG_INFINITY, f64::max);
    // The demuxer's own word for it (mov: "stream N, offset X: partial
    // file"), or no frame at all where the index lists the last second.
    if err.contains("partial file") || (ok && reached.is_infinite()) {
        let until = if reached.is_finite() {
            reached - video.start
        } else {
            0.0
        };
        return Err(MediaError::Truncated {
            path: path.to_path_buf(),
            detail: format!(
                "its video frames stop at {until:.1} s of the {:.1} s its index lists",
                video.duration
            ),
        });
    }
    Ok(())
}

pub fn frame_times(
    path: &Path,
    stream: &VideoStream,
    cancel: &CancelToken,
) -> Result<VideoInfo, MediaError> {
    let fps = stream.fps;
    let p = path.to_string_lossy();
    let select = stream.index.to_string();
    let (ok, out, _) = run_ffprobe(
        &[
            "-select_streams",
            &select,
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "compact=p=0",
            &p,
        ],
        cancel,
    )?;
    // `pts_time=T|flags=K_D`: packets an edit list trims are flagged D
    // (discard): the decoder drops them, so they are no frames of the clip.
    let field = |line: &str, name: &str| -> Option<String> {
        line.split('|')
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    let mut times: Vec<f64> = if ok {
        out.lines()
            .filter(|l| !field(l, "flags").is_some_and(|f| f.contains('D')))
            .filter_map(|l| field(l, "pts_time")?.trim().parse().ok())
            .filter(|t: &f64| t.is_finite())
            .collect()
    } else {
        Vec::new()
    };
    if times.is_empty() {
        // Containers without timestamps: fall back to a constant rate. The
        // count comes from metadata, so it is bounded by the file itself (a
        // frame takes at least a byte) before anything is allocated for it.
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len()) as usize;
        let n = stream
            .frames
            .unwrap_or_else(|| (stream.duration * fps.as_f64()).round() as usize)
            .min(bytes);
        times = (0..n).map(|i| i as f64 / fps.as_f64()).collect();
    }
    times.sort_by(f64::total_cmp);
    times.dedup();
    let first = times.first().copied().unwrap_or(0.0);
    for t in &mut times {
        *t -= first;
    }
    if times.is_empty() {
        return Err(MediaError::Empty(path.to_path_buf(), "video"));
    }
    let intervals: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let median = median(&intervals).unwrap_or(1.0 / fps.as_f64());
    let vfr = intervals
        .iter()
        .any(|d| (d - median).abs() > (0.0015f64).max(0.05 * median));
    let duration = times.last().map(|t| t + median).unwrap_or(0.0);
    Ok(VideoInfo {
        width: stream.width,
        height: stream.height,
        fps,
        frame_times: times,
        duration,
        vfr,
    })
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    Some(s[s.len() / 2])
}
