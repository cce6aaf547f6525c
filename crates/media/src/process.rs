//! Running ffmpeg/ffprobe: spawn through ffmpeg-sidecar, drain stderr so the
//! child never blocks on a full pipe, keep its tail for error messages, and
//! kill the child when the run is cancelled.

use crate::MediaError;
use ffmpeg_sidecar::child::FfmpegChild;
use ffmpeg_sidecar::command::FfmpegCommand;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use vantage_core::CancelToken;

/// An ffmpeg command with quiet logging and no prompts.
pub(crate) fn ffmpeg(args: &[&str]) -> FfmpegCommand {
    let mut cmd = FfmpegCommand::new();
    // The crate sets "-loglevel level+info" for its log parser; ours wins as it comes later.
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
    cmd.args(args);
    // Its own process group: a terminal's Ctrl-C reaches only vantage, which
    // cancels cleanly and stops its children itself.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(cmd.as_inner_mut(), 0);
    cmd
}

/// A running ffmpeg whose stderr is collected in the background.
pub(crate) struct Running {
    pub child: FfmpegChild,
    stderr: Arc<Mutex<Vec<String>>>,
    drain: Option<JoinHandle<()>>,
    what: String,
}

impl Running {
    pub fn spawn(mut cmd: FfmpegCommand, what: &str) -> Result<Self, MediaError> {
        // ffmpeg-sidecar insists on piped stdio; callers take and close what they do not use.
        let mut child = cmd
            .spawn()
            .map_err(|e| MediaError::MissingTool(e.to_string()))?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let drain = child.take_stderr().map(|pipe| {
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Ok(mut lines) = sink.lock() {
                        lines.push(line);
                        let excess = lines.len().saturating_sub(20);
                        lines.drain(..excess);
                    }
                }
            })
        });
        Ok(Self {
            child,
            stderr,
            drain,
            what: what.to_string(),
        })
    }

    fn stderr_tail(&mut self) -> String {
        if let Some(h) = self.drain.take() {
            let _ = h.join();
        }
        self.stderr
            .lock()
            .map(|l| l.join(" | "))
            .unwrap_or_default()
    }

    /// Wait for exit, killing the child if `cancel` fires first.
    pub fn finish(mut self, cancel: &CancelToken) -> Result<(), MediaError> {
        loop {
            if cancel.is_cancelled() {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(MediaError::Cancelled);
            }
            match self.child.as_inner_mut().try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    let tail = self.stderr_tail();
                    return Err(MediaError::Tool {
                        what: self.what.clone(),
                        detail: format!("{status}: {tail}"),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(MediaError::io(format!("waiting for {}", self.what))(e)),
            }
        }
    }

    /// Kill without waiting for a clean exit (used when a reader or writer is dropped early).
    pub fn abort(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn failure(mut self, fallback: String) -> MediaError {
        let _ = self.child.wait();
        let tail = self.stderr_tail();
        MediaError::Tool {
            what: self.what.clone(),
            detail: if tail.is_empty() { fallback } else { tail },
        }
    }
}

/// Run ffmpeg to completion.
pub(crate) fn run_ffmpeg(
    args: &[&str],
    what: &str,
    cancel: &CancelToken,
) -> Result<(), MediaError> {
    let mut running = Running::spawn(ffmpeg(args), what)?;
    drop(running.child.take_stdin());
    drop(running.child.take_stdout());
    running.finish(cancel)
}

/// Run ffprobe and return its stdout.
pub(crate) fn run_ffprobe(args: &[&str]) -> Result<(bool, String, String), MediaError> {
    let out = Command::new(ffmpeg_sidecar::ffprobe::ffprobe_path())
        .args(["-hide_banner", "-v", "error"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| MediaError::MissingTool(format!("ffprobe: {e}")))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    ))
}
