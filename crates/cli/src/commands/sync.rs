//! `vantage sync`: the built-in sync pipeline with friendly flags.

use super::run::{execute, CommonArgs};
use crate::failure::{self, Command};
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use vantage_app::diagnostic::{self, DiagnosticDir};
use vantage_app::{
    Device as AppDevice, Mode as AppMode, OnMismatch as AppOnMismatch, SyncOutput, SyncRequest,
};
use vantage_runner::RunOutcome;

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum Mode {
    /// Nearest source frame (repeats where the picture slows down)
    Off,
    /// Cross-fade between the two nearest frames at the exact position
    Blend,
    /// RIFE at the exact position, only where the nearest frame would repeat
    Adaptive,
    /// RIFE at every position that is not on a real frame
    Precision,
    /// Precision, each frame computed both ways and averaged (twice the cost)
    Maximum,
    /// Keep every source frame, restamp it (variable frame rate, no picture re-encode)
    Vfr,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum OnMismatch {
    /// Stop before anything is rendered
    Fail,
    /// Align the sounds anyway
    Acoustic,
    /// Stretch the picture evenly to the new length
    Linear,
}

/// Where Whisper and RIFE run (shared with `vantage serve`).
#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum Device {
    /// The CPU
    Cpu,
    /// The first NVIDIA GPU (builds with --features cuda)
    Cuda,
}

impl Device {
    pub fn app(self) -> AppDevice {
        match self {
            Device::Cpu => AppDevice::Cpu,
            Device::Cuda => AppDevice::Cuda,
        }
    }
}

#[derive(Args)]
pub struct SyncArgs {
    /// Source video with the original speech
    pub src_video: PathBuf,
    /// New narration (any audio or video file with the same words)
    pub target_audio: PathBuf,
    /// Output video
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// How frames between source frames are made
    #[arg(long, value_enum, default_value_t = Mode::Adaptive)]
    pub mode: Mode,
    /// Output frame rate (default: the source's)
    #[arg(long)]
    pub fps: Option<String>,
    /// Where Whisper and RIFE run
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    pub device: Device,
    /// Whisper model for both transcripts (tiny.en, base, or a GGML file)
    #[arg(long)]
    pub model: Option<String>,
    /// When source and target say different things
    #[arg(long, value_enum)]
    pub on_mismatch: Option<OnMismatch>,
    /// Also write the timecodes (v2) here
    #[arg(long)]
    pub timecodes: Option<PathBuf>,
    /// Also write the predicted freezes (JSON) here
    #[arg(long)]
    pub freezes: Option<PathBuf>,
    /// Also write the alignment (warp + confidence, JSON) here
    #[arg(long)]
    pub alignment: Option<PathBuf>,
    /// Also write how each output frame was made (real, blended, synthesised; JSON) here
    #[arg(long)]
    pub frames: Option<PathBuf>,
    /// Also write the diagnostic here: diagnostic.mp4, report.html, warp.svg, warp.png
    #[arg(long, value_name = "DIR")]
    pub diagnostic: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl SyncArgs {
    fn request(&self) -> SyncRequest {
        SyncRequest {
            mode: match self.mode {
                Mode::Off => AppMode::Off,
                Mode::Blend => AppMode::Blend,
                Mode::Adaptive => AppMode::Adaptive,
                Mode::Precision => AppMode::Precision,
                Mode::Maximum => AppMode::Maximum,
                Mode::Vfr => AppMode::Vfr,
            },
            fps: self.fps.clone(),
            model: self.model.clone(),
            diagnostic: self.diagnostic.is_some(),
            on_mismatch: self.on_mismatch.map(|m| match m {
                OnMismatch::Fail => AppOnMismatch::Fail,
                OnMismatch::Acoustic => AppOnMismatch::Acoustic,
                OnMismatch::Linear => AppOnMismatch::Linear,
            }),
            device: self.device.app(),
        }
    }

    /// Every output asked for, and where it goes.
    fn outputs(&self) -> Vec<(SyncOutput, PathBuf)> {
        let mut outputs = vec![(SyncOutput::Video, self.output.clone())];
        for (output, path) in [
            (SyncOutput::Timecodes, &self.timecodes),
            (SyncOutput::Freezes, &self.freezes),
            (SyncOutput::Alignment, &self.alignment),
            (SyncOutput::Frames, &self.frames),
        ] {
            if let Some(p) = path {
                outputs.push((output, p.clone()));
            }
        }
        if let Some(dir) = &self.diagnostic {
            outputs.push((SyncOutput::Diagnostic, DiagnosticDir(dir.clone()).video()));
        }
        outputs
    }
}

pub fn sync(args: SyncArgs, cache: &super::CacheOpts) -> Result<ExitCode> {
    let cfg = args.common.engine_config(cache);
    let registry = vantage_app::registry::registry(&cfg.weights);
    let extra = args.common.overrides()?;
    let request = args.request().run_request(
        &registry,
        &extra,
        args.src_video.clone(),
        args.target_audio.clone(),
        &args.outputs(),
    );
    let request = match request {
        Ok(request) => request,
        Err(e) => return Ok(failure::report(&e, Command::Sync)),
    };
    // The plot and the report come from the finished run's artifacts.
    let report = |outcome: &RunOutcome| match &args.diagnostic {
        Some(dir) => {
            let dir = DiagnosticDir(dir.clone());
            let title = format!(
                "{} → {}",
                args.src_video.display(),
                args.target_audio.display()
            );
            for warning in diagnostic::write_report(outcome, &dir, &args.output, &title)? {
                eprintln!("warning: {warning}");
            }
            if !args.common.json {
                eprintln!("wrote the report: {}", dir.report().display());
            }
            Ok(())
        }
        _ => Ok(()),
    };
    execute(
        &cfg,
        registry,
        request,
        &args.common,
        Command::Sync,
        &report,
    )
}
