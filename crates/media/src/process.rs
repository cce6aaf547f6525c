//! Running ffmpeg/ffprobe: the command lines, started through
//! [`vantage_core::process`] (own process group, killed with us, stderr tail
//! kept for error messages, killed when the run is cancelled).

use crate::MediaError;
use ffmpeg_sidecar::command::FfmpegCommand;
use std::io::Read;
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use vantage_core::process::{self, Child, Heartbeat, Stopped};
use vantage_core::CancelToken;

/// A decoder or encoder that takes no frame and gives none for this long is
/// stuck (a 4K frame takes seconds; ten minutes is never normal).
pub(crate) const STALL: Duration = Duration::from_secs(600);

/// ffprobe reads headers (or packet timestamps): minutes means it is stuck
/// on a network mount or a pathological file.
const PROBE_TIMEOUT: Duration = Duration::from_secs(300);

/// An ffmpeg command with quiet logging and no prompts.
pub(crate) fn ffmpeg(args: &[&str]) -> FfmpegCommand {
    let mut cmd = FfmpegCommand::new();
    // The crate sets "-loglevel level+info" for its log parser; ours wins as it comes later.
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
    cmd.args(args);
    cmd
}

/// A running ffmpeg whose stderr is collected in the background.
pub(crate) struct Running {
    child: Child,
    what: String,
}

impl Running {
    pub fn spawn(cmd: FfmpegCommand, what: &str) -> Result<Self, MediaError> {
        let mut cmd: Command = cmd.into();
        // Callers take the pipes they use and drop the others.
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let child = process::spawn(&mut cmd).map_err(|e| MediaError::MissingTool(e.to_string()))?;
        Ok(Self {
            child,
            what: what.to_string(),
        })
    }

    /// Kill ffmpeg as soon as `cancel` fires, or once `heartbeat` has been
    /// quiet for [`STALL`], unblocking pipe reads and writes. The flag tells
    /// a stall from the end of the stream.
    pub fn watch(&self, cancel: &CancelToken, heartbeat: &Heartbeat) -> Arc<AtomicBool> {
        self.child.watch(cancel, Some((heartbeat.clone(), STALL)))
    }

    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.inner().stdin.take()
    }

    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.inner().stdout.take()
    }

    /// Wait for exit, killing the child if `cancel` fires first.
    pub fn finish(mut self, cancel: &CancelToken) -> Result<(), MediaError> {
        match self.child.wait(cancel, None) {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(MediaError::Tool {
                what: self.what.clone(),
                detail: format!("{status}: {}", self.child.stderr_tail()),
            }),
            Err(Stopped::Cancelled) => Err(MediaError::Cancelled),
            Err(Stopped::TimedOut(t)) => Err(MediaError::Tool {
                what: self.what.clone(),
                detail: format!("no exit after {} s", t.as_secs()),
            }),
            Err(Stopped::Io(e)) => Err(MediaError::io(format!("waiting for {}", self.what))(e)),
        }
    }

    /// Kill without waiting for a clean exit (used when a reader or writer is dropped early).
    pub fn abort(mut self) {
        self.child.kill();
    }

    pub fn failure(mut self, fallback: String) -> MediaError {
        let _ = self
            .child
            .wait(&CancelToken::default(), Some(Duration::from_secs(10)));
        let tail = self.child.stderr_tail();
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
    drop(running.take_stdin());
    drop(running.take_stdout());
    running.finish(cancel)
}

/// Run ffprobe and return (success, stdout, stderr); killed when `cancel`
/// fires or after [`PROBE_TIMEOUT`].
pub(crate) fn run_ffprobe(
    args: &[&str],
    cancel: &CancelToken,
) -> Result<(bool, String, String), MediaError> {
    let mut cmd = Command::new(ffmpeg_sidecar::ffprobe::ffprobe_path());
    cmd.args(["-hide_banner", "-v", "error"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child =
        process::spawn(&mut cmd).map_err(|e| MediaError::MissingTool(format!("ffprobe: {e}")))?;
    // Read stdout while waiting: a long listing would fill the pipe.
    let stdout = child.inner().stdout.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = stdout {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    let waited = child.wait(cancel, Some(PROBE_TIMEOUT));
    let out = reader.join().unwrap_or_default();
    let status = match waited {
        Ok(status) => status,
        Err(Stopped::TimedOut(t)) => {
            return Err(MediaError::Tool {
                what: "ffprobe".into(),
                detail: format!("gave no answer in {} s", t.as_secs()),
            })
        }
        Err(Stopped::Cancelled) => return Err(MediaError::Cancelled),
        Err(Stopped::Io(e)) => return Err(MediaError::io("waiting for ffprobe")(e)),
    };
    Ok((status.success(), out, child.stderr_tail()))
}
