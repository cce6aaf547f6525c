//! Streaming raw-frame decode and encode over pipes.
//!
//! Frames are planar YUV 4:2:0 (what nearly every source already is), so no
//! colour conversion happens on either side of the pipe.

use crate::process::{ffmpeg, Running};
use crate::MediaError;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{ChildStdin, ChildStdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use vantage_core::process::Heartbeat;
use vantage_core::{CancelToken, ParamKind, ParamSpec, Rational, StageContext, StageError};

/// Grow a pipe's kernel buffer (Linux; a no-op elsewhere). With the default
/// 64 KiB, every 1.4 MB frame takes ~20 context switches between ffmpeg and us;
/// with 1 MiB it takes two, which is most of the difference to a single ffmpeg.
fn widen_pipe(fd: &impl std::os::fd::AsRawFd) {
    #[cfg(target_os = "linux")]
    // SAFETY: F_SETPIPE_SZ on a pipe fd we own; failure just leaves the default size.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

/// One planar YUV 4:2:0 picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Frame {
    pub fn byte_len(width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        w * h + 2 * w.div_ceil(2) * h.div_ceil(2)
    }

    /// A black frame.
    pub fn black(width: u32, height: u32) -> Self {
        let luma = width as usize * height as usize;
        let mut data = vec![128u8; Self::byte_len(width, height)];
        data[..luma].fill(16);
        Self {
            width,
            height,
            data,
        }
    }

    /// The luma plane, row-major.
    pub fn luma(&self) -> &[u8] {
        &self.data[..self.width as usize * self.height as usize]
    }

    pub fn luma_mut(&mut self) -> &mut [u8] {
        let n = self.width as usize * self.height as usize;
        &mut self.data[..n]
    }
}

/// A reader's or writer's watch on its ffmpeg: progress while we wait on
/// the pipe, and whether the watcher stopped it for stalling.
#[derive(Default)]
struct Watch {
    heartbeat: Heartbeat,
    stalled: Arc<AtomicBool>,
}

impl Watch {
    fn start(&mut self, running: &Running, cancel: &CancelToken) {
        self.stalled = running.watch(cancel, &self.heartbeat);
    }

    /// The error to report instead of a closed pipe, if it stalled.
    fn stalled(&self, what: &str) -> Option<MediaError> {
        self.stalled
            .load(Ordering::SeqCst)
            .then(|| MediaError::Tool {
                what: what.into(),
                detail: format!(
                    "made no progress for {} s and was stopped",
                    crate::process::STALL.as_secs()
                ),
            })
    }
}

/// Decodes the first video stream of a file, one frame at a time.
pub struct FrameReader {
    running: Option<Running>,
    stdout: ChildStdout,
    width: u32,
    height: u32,
    colour: crate::Colour,
    frames_read: usize,
    watch: Watch,
}

impl FrameReader {
    /// Stop the ffmpeg behind this as soon as `cancel` fires, or when it
    /// makes no progress for [`STALL`](crate::process::STALL) while we wait
    /// on it: a read or write blocked on its pipe then fails at once.
    pub fn cancel_with(&mut self, cancel: &CancelToken) {
        if let Some(r) = &self.running {
            self.watch.start(r, cancel);
        }
    }

    /// Start decoding the picture of `path`, as described by its
    /// [`crate::probe`], in the source's colour at limited range
    /// ([`FrameReader::colour`]).
    pub fn open(path: &Path, info: &crate::MediaInfo) -> Result<Self, MediaError> {
        let video = info.require_video(path)?;
        let colour = video.colour.in_pipe();
        let size = (video.width, video.height);
        Self::spawn(path, video, size, video.colour.pipe_filter(), colour)
    }

    /// Decode scaled to `size` (area-averaged, for a render at a fraction
    /// of the source's size) and converted to BT.709 at limited range, for
    /// drawing on a canvas of that colour.
    pub fn open_bt709(
        path: &Path,
        info: &crate::MediaInfo,
        size: Option<(u32, u32)>,
    ) -> Result<Self, MediaError> {
        let video = info.require_video(path)?;
        let (width, height) = size.unwrap_or((video.width, video.height));
        let filter = format!(
            "scale={width}:{height}:flags=area:{}",
            video.colour.to_bt709_options(video.width, video.height)
        );
        Self::spawn(path, video, (width, height), filter, crate::Colour::bt709())
    }

    fn spawn(
        path: &Path,
        video: &crate::VideoStream,
        (width, height): (u32, u32),
        filter: String,
        colour: crate::Colour,
    ) -> Result<Self, MediaError> {
        let p = path.to_string_lossy();
        let map = format!("0:{}", video.index);
        let mut args = vec!["-i", &p, "-map", &map, "-an", "-sn", "-vf", &filter];
        // passthrough: every coded frame exactly once, no rate conversion.
        args.extend([
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "pipe:1",
        ]);
        let cmd = ffmpeg(&args);
        let mut running = Running::spawn(cmd, &format!("decoding {}", path.display()))?;
        drop(running.take_stdin());
        let stdout = running.take_stdout().ok_or_else(|| MediaError::Tool {
            what: "decoder".into(),
            detail: "no stdout pipe".into(),
        })?;
        widen_pipe(&stdout);
        Ok(Self {
            running: Some(running),
            stdout,
            width,
            height,
            colour,
            frames_read: 0,
            watch: Watch::default(),
        })
    }

    /// The colour of the frames this yields.
    pub fn colour(&self) -> &crate::Colour {
        &self.colour
    }

    /// Read the next frame into `frame` (reusing its buffer). `Ok(false)` at the end.
    pub fn read_into(&mut self, frame: &mut Frame) -> Result<bool, MediaError> {
        let len = Frame::byte_len(self.width, self.height);
        frame.width = self.width;
        frame.height = self.height;
        frame.data.resize(len, 0);
        let mut filled = 0;
        self.watch.heartbeat.wait();
        while filled < len {
            match self.stdout.read(&mut frame.data[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    self.watch.heartbeat.beat();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.watch.heartbeat.done();
                    return Err(MediaError::io("reading decoded frames")(e));
                }
            }
        }
        self.watch.heartbeat.done();
        if let Some(e) = self.watch.stalled("decoder") {
            return Err(e);
        }
        if filled == 0 {
            return Ok(false);
        }
        if filled < len {
            let running = self.running.take();
            return Err(match running {
                Some(r) => r.failure(format!("decoder stopped inside frame {}", self.frames_read)),
                None => MediaError::Tool {
                    what: "decoder".into(),
                    detail: "truncated frame".into(),
                },
            });
        }
        self.frames_read += 1;
        Ok(true)
    }

    /// Stop decoding early (the rest of the stream is not needed).
    pub fn close(mut self) {
        if let Some(r) = self.running.take() {
            r.abort();
        }
    }

    /// Wait for the decoder after the last frame and report its failure, if any.
    pub fn finish(mut self, cancel: &CancelToken) -> Result<(), MediaError> {
        match self.running.take() {
            Some(r) => r.finish(cancel),
            None => Ok(()),
        }
    }
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.abort();
        }
    }
}

/// How the single lossy encode of a render is done.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodeSettings {
    pub codec: String,
    pub crf: u32,
    pub preset: String,
}

impl Default for EncodeSettings {
    fn default() -> Self {
        Self {
            codec: "libx264".into(),
            crf: 18,
            preset: "veryfast".into(),
        }
    }
}

/// x264 speed presets, fastest first.
pub const PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
];

impl EncodeSettings {
    /// The `crf` and `preset` parameters of a stage that encodes H.264.
    pub fn params(default_crf: u32) -> [ParamSpec; 2] {
        [
            ParamSpec::new(
                "crf",
                ParamKind::Int { min: 0, max: 51 },
                serde_json::json!(default_crf),
                "x264 quality (lower is better)",
            ),
            ParamSpec::new(
                "preset",
                ParamKind::Choice(PRESETS),
                serde_json::json!("veryfast"),
                "x264 speed preset",
            ),
        ]
    }

    /// libx264 with a stage's [`EncodeSettings::params`].
    pub fn from_stage(ctx: &StageContext) -> Result<Self, StageError> {
        Ok(Self {
            codec: "libx264".into(),
            crf: ctx.param_i64("crf")?.clamp(0, 51) as u32,
            preset: ctx.param_str("preset")?.to_string(),
        })
    }

    /// Lossless H.264, for intermediates and generated test media.
    pub fn lossless() -> Self {
        Self {
            codec: "libx264".into(),
            crf: 0,
            preset: "ultrafast".into(),
        }
    }

    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["-c:v".to_string(), self.codec.clone()];
        if self.codec.starts_with("libx26") {
            a.extend([
                "-preset".into(),
                self.preset.clone(),
                "-crf".into(),
                self.crf.to_string(),
            ]);
            if self.crf == 0 && self.codec == "libx264" {
                a.extend(["-qp".into(), "0".into()]);
            }
        }
        a
    }
}

/// Encodes raw frames piped in at a constant rate into an MP4 (or, for a
/// `.ts` path, an MPEG-TS segment that [`crate::concat`] joins losslessly).
pub struct FrameWriter {
    running: Option<Running>,
    stdin: Option<ChildStdin>,
    width: u32,
    height: u32,
    frames_written: usize,
    watch: Watch,
}

impl FrameWriter {
    /// Stop the ffmpeg behind this as soon as `cancel` fires, or when it
    /// makes no progress for [`STALL`](crate::process::STALL) while we wait
    /// on it: a read or write blocked on its pipe then fails at once.
    pub fn cancel_with(&mut self, cancel: &CancelToken) {
        if let Some(r) = &self.running {
            self.watch.start(r, cancel);
        }
    }

    /// Encode frames of `colour` (declared in the output as it is).
    pub fn create(
        path: &Path,
        (width, height): (u32, u32),
        fps: Rational,
        colour: &crate::Colour,
        settings: &EncodeSettings,
    ) -> Result<Self, MediaError> {
        Self::create_filtered(path, (width, height), fps, colour, settings, None)
    }

    /// The same, with an ffmpeg video filter applied before encoding (the
    /// diagnostic burns its labels in with `ass`).
    pub fn create_filtered(
        path: &Path,
        (width, height): (u32, u32),
        fps: Rational,
        colour: &crate::Colour,
        settings: &EncodeSettings,
        filter: Option<&str>,
    ) -> Result<Self, MediaError> {
        let size = format!("{width}x{height}");
        let rate = fps.to_string();
        let out = path.to_string_lossy();
        let mut args: Vec<String> = [
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-s",
            &size,
            "-framerate",
            &rate,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Declared on both sides, so ffmpeg sees nothing to convert.
        let tags = colour.encode_args();
        args.extend(tags.iter().cloned());
        args.extend(["-i".to_string(), "pipe:0".to_string()]);
        // 4:2:0 encoders need even sizes: pad an odd row or column (with black).
        let pad = (width % 2 == 1 || height % 2 == 1).then_some("pad=ceil(iw/2)*2:ceil(ih/2)*2");
        let filters: Vec<&str> = pad.into_iter().chain(filter).collect();
        if !filters.is_empty() {
            args.extend(["-vf".to_string(), filters.join(",")]);
        }
        args.extend(settings.args());
        args.extend(tags);
        // No +faststart here: that rewrites the whole file once more, and `mux`
        // lays out the final file anyway.
        let format = if out.ends_with(".ts") {
            // A segment, which a resumed run may render again and must
            // get byte for byte: one encoder thread. x264's frame threads
            // gave a resumed segment other bytes now and then (the same
            // frames in; the crash test saw it); segments run side by side
            // for parallelism instead.
            args.extend(["-threads".to_string(), "1".to_string()]);
            "mpegts"
        } else {
            "mp4"
        };
        args.extend(
            ["-pix_fmt", "yuv420p", "-f", format, &out]
                .iter()
                .map(|s| s.to_string()),
        );
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut running =
            Running::spawn(ffmpeg(&arg_refs), &format!("encoding {}", path.display()))?;
        drop(running.take_stdout());
        let stdin = running.take_stdin();
        if let Some(pipe) = &stdin {
            widen_pipe(pipe);
        }
        Ok(Self {
            running: Some(running),
            stdin,
            width,
            height,
            frames_written: 0,
            watch: Watch::default(),
        })
    }

    pub fn write(&mut self, frame: &Frame) -> Result<(), MediaError> {
        if frame.width != self.width || frame.height != self.height {
            return Err(MediaError::Tool {
                what: "encoder".into(),
                detail: format!(
                    "frame is {}x{}, stream is {}x{}",
                    frame.width, frame.height, self.width, self.height
                ),
            });
        }
        self.watch.heartbeat.wait();
        let result = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(&frame.data),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        self.watch.heartbeat.done();
        if let Some(e) = self.watch.stalled("encoder") {
            return Err(e);
        }
        if result.is_err() {
            self.stdin = None;
            return Err(match self.running.take() {
                Some(r) => r.failure(format!("encoder stopped at frame {}", self.frames_written)),
                None => MediaError::Tool {
                    what: "encoder".into(),
                    detail: "closed".into(),
                },
            });
        }
        self.frames_written += 1;
        Ok(())
    }

    /// Close the pipe and wait for the encoder to write the file.
    pub fn finish(mut self, cancel: &CancelToken) -> Result<(), MediaError> {
        drop(self.stdin.take());
        match self.running.take() {
            Some(r) => r.finish(cancel),
            None => Ok(()),
        }
    }
}

impl Drop for FrameWriter {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(r) = self.running.take() {
            r.abort();
        }
    }
}
