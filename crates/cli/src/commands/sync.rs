//! `vantage sync`: the built-in sync pipeline with friendly flags.

use super::run::{execute_and_deliver, CommonArgs};
use crate::pipelines;
use crate::registry::registry;
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vantage_runner::Override;

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

impl Mode {
    fn interpolate_mode(self) -> Option<&'static str> {
        Some(match self {
            Mode::Off => "off",
            Mode::Blend => "blend",
            Mode::Adaptive => "adaptive",
            Mode::Precision => "precision",
            Mode::Maximum => "maximum",
            Mode::Vfr => return None,
        })
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
    /// Whisper model for both transcripts (tiny.en, base, or a GGML file)
    #[arg(long)]
    pub model: Option<String>,
    /// When source and target say different things: fail, acoustic (align the sounds anyway) or linear (even stretch)
    #[arg(long, value_name = "fail|acoustic|linear")]
    pub on_mismatch: Option<String>,
    /// Also write the timecodes (v2) here
    #[arg(long)]
    pub timecodes: Option<PathBuf>,
    /// Also write the predicted freezes (JSON) here
    #[arg(long)]
    pub freezes: Option<PathBuf>,
    /// Also write the alignment (warp + confidence, JSON) here
    #[arg(long)]
    pub alignment: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn sync(args: SyncArgs, cache_dir: &Path) -> Result<ExitCode> {
    let mut overrides = args.common.overrides()?;
    let vfr = args.mode == Mode::Vfr;
    let set = |text: String| Override::parse(&text).map_err(anyhow::Error::msg);
    if let Some(mode) = args.mode.interpolate_mode() {
        overrides.insert(0, set(format!("interpolate.mode={mode}"))?);
        if let Some(fps) = &args.fps {
            overrides.insert(0, set(format!("retime.fps={fps}"))?);
        }
    } else if args.fps.is_some() || args.freezes.is_some() {
        anyhow::bail!(
            "--fps and --freezes do not apply to --mode vfr, which keeps every source frame"
        );
    }
    if let Some(model) = &args.model {
        for stage in ["source-words", "target-words"] {
            overrides.insert(0, set(format!("{stage}.model={model}"))?);
        }
    }
    if let Some(fallback) = &args.on_mismatch {
        overrides.insert(0, set(format!("analyze.on_mismatch={fallback}"))?);
    }
    let reg = registry();
    let pipeline = pipelines::load(if vfr { "sync-vfr" } else { "sync" }, &reg, &overrides)?;
    let inputs = BTreeMap::from([
        ("video".to_string(), args.src_video.clone()),
        ("audio".to_string(), args.target_audio.clone()),
    ]);
    let mut outputs = vec![("video".to_string(), args.output.clone())];
    for (name, path) in [
        ("timecodes", &args.timecodes),
        ("freezes", &args.freezes),
        ("alignment", &args.alignment),
    ] {
        if let Some(p) = path {
            outputs.push((name.to_string(), p.clone()));
        }
    }
    execute_and_deliver(&reg, &pipeline, inputs, outputs, &args.common, cache_dir)
}
