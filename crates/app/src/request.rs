//! Typed sync requests: what `vantage sync` and the server's `/sync` take,
//! turned into the built-in pipeline plus overrides.
//!
//! Overrides are built as typed values, never as text re-parsed as YAML: a
//! model path with a `#`, or named `1.10` or `true`, stays exactly what it was.

use crate::pipelines::built_in;
use crate::{AppError, RunRequest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use vantage_runner::{Override, Pipeline, Registry, RunOptions};

/// How frames between source frames are made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Nearest source frame (repeats where the picture slows down).
    Off,
    /// Cross-fade between the two nearest frames at the exact position.
    Blend,
    /// RIFE at the exact position, only where the nearest frame would repeat.
    #[default]
    Adaptive,
    /// RIFE at every position that is not on a real frame.
    Precision,
    /// Precision, each frame computed both ways and averaged (twice the cost).
    Maximum,
    /// Keep every source frame, restamp it (variable frame rate, no picture re-encode).
    Vfr,
}

impl Mode {
    /// The `interpolate` stage's mode, or `None` for VFR (no interpolation).
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

/// Where the models (Whisper, RIFE) run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    #[default]
    Cpu,
    /// The first CUDA GPU (builds with the `cuda` feature).
    Cuda,
}

impl Device {
    /// The stages' `device` parameter.
    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}

/// What to do when source and target do not say the same words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnMismatch {
    /// Stop before anything is rendered.
    Fail,
    /// Align the sounds anyway.
    Acoustic,
    /// Stretch the picture evenly to the new length.
    Linear,
}

impl OnMismatch {
    pub fn name(self) -> &'static str {
        match self {
            OnMismatch::Fail => "fail",
            OnMismatch::Acoustic => "acoustic",
            OnMismatch::Linear => "linear",
        }
    }
}

/// What a sync can deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutput {
    /// The re-timed video with the target audio.
    Video,
    /// "timecode format v2": one new timestamp per source frame.
    Timecodes,
    /// The predicted freezes (JSON); not in mode vfr, which repeats no frame.
    Freezes,
    /// The warp and its confidence (JSON).
    Alignment,
    /// How each output frame was made: real, blended or synthesised, from
    /// which source frames, and the cuts (JSON); not in mode vfr.
    Frames,
    /// The diagnostic video (runs the `diagnostic` pipeline); not in mode vfr.
    Diagnostic,
}

impl SyncOutput {
    /// The pipeline output it is.
    pub fn name(self) -> &'static str {
        match self {
            SyncOutput::Video => "video",
            SyncOutput::Timecodes => "timecodes",
            SyncOutput::Freezes => "freezes",
            SyncOutput::Alignment => "alignment",
            SyncOutput::Frames => "frames",
            SyncOutput::Diagnostic => "diagnostic",
        }
    }
}

/// Synchronise a video to a new narration with the built-in pipeline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    #[serde(default)]
    pub mode: Mode,
    /// Output frame rate ("24", "30000/1001"); the source's when absent.
    #[serde(default)]
    pub fps: Option<String>,
    /// Whisper model for both transcripts: an installed name or a GGML file.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub on_mismatch: Option<OnMismatch>,
    /// Also render the diagnostic (the `diagnostic` pipeline: the same
    /// stages and parameters, so a diagnostic after a sync reuses it all).
    #[serde(default)]
    pub diagnostic: bool,
    /// Where Whisper and RIFE run.
    #[serde(default)]
    pub device: Device,
}

impl SyncRequest {
    /// The built-in pipeline this request runs: `sync`, `sync-vfr` or `diagnostic`.
    pub fn pipeline_name(&self) -> &'static str {
        match (self.mode, self.diagnostic) {
            (Mode::Vfr, _) => "sync-vfr",
            (_, true) => "diagnostic",
            _ => "sync",
        }
    }

    /// The request's own overrides (typed), before any the user adds.
    pub fn overrides(&self) -> Result<Vec<Override>, AppError> {
        let mut out = Vec::new();
        let text = |s: &str| Value::String(s.to_string());
        match self.mode.interpolate_mode() {
            Some(mode) => {
                out.push(Override::new("interpolate", "mode", text(mode)));
                if let Some(fps) = &self.fps {
                    out.push(Override::new("retime", "fps", text(fps)));
                }
            }
            None if self.fps.is_some() => {
                return Err(AppError::Request(
                    "fps does not apply to mode vfr, which keeps every source frame".into(),
                ))
            }
            None => {}
        }
        if let Some(model) = &self.model {
            for stage in ["source-words", "target-words"] {
                out.push(Override::new(stage, "model", text(model)));
            }
        }
        if let Some(m) = self.on_mismatch {
            out.push(Override::new("analyze", "on_mismatch", text(m.name())));
        }
        if self.device != Device::Cpu {
            // The stages' default is the CPU: a CPU run's cache keys stay as they were.
            let device = text(self.device.name());
            for stage in ["source-words", "target-words"] {
                out.push(Override::new(stage, "device", device.clone()));
            }
            if self.mode != Mode::Vfr {
                out.push(Override::new("interpolate", "device", device));
            }
        }
        Ok(out)
    }

    /// The pipeline to run: the built-in one with this request's overrides,
    /// then `extra` (the user's own `--set`s, which win).
    pub fn pipeline(&self, registry: &Registry, extra: &[Override]) -> Result<Pipeline, AppError> {
        let mut overrides = self.overrides()?;
        overrides.extend_from_slice(extra);
        built_in(self.pipeline_name(), registry, &overrides)
    }

    /// The whole run: this request's pipeline (plus the user's `extra`
    /// overrides), the source video and target audio, and where each
    /// requested output goes.
    pub fn run_request(
        &self,
        registry: &Registry,
        extra: &[Override],
        video: PathBuf,
        audio: PathBuf,
        outputs: &[(SyncOutput, PathBuf)],
    ) -> Result<RunRequest, AppError> {
        let not_vfr = [
            SyncOutput::Freezes,
            SyncOutput::Frames,
            SyncOutput::Diagnostic,
        ];
        let asked = outputs
            .iter()
            .find(|(o, _)| not_vfr.contains(o))
            .map(|(o, _)| o.name());
        let asked = asked.or(self.diagnostic.then_some("diagnostic"));
        if let (Mode::Vfr, Some(what)) = (self.mode, asked) {
            return Err(AppError::Request(format!(
                "the {what} does not apply to mode vfr, which keeps every source frame as it is"
            )));
        }
        if outputs.iter().any(|(o, _)| *o == SyncOutput::Diagnostic) && !self.diagnostic {
            return Err(AppError::Request(
                "the diagnostic output needs a diagnostic request".into(),
            ));
        }
        Ok(RunRequest {
            pipeline: self.pipeline(registry, extra)?,
            inputs: BTreeMap::from([("video".to_string(), video), ("audio".to_string(), audio)]),
            outputs: outputs
                .iter()
                .map(|(o, path)| (o.name().to_string(), path.clone()))
                .collect(),
            opts: RunOptions::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::registry;
    use vantage_weights::Store;

    fn model_param(model: &str) -> Value {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(&Store::open(dir.path()));
        let req = SyncRequest {
            model: Some(model.to_string()),
            ..SyncRequest::default()
        };
        let p = req.pipeline(&reg, &[]).unwrap();
        p.stage("source-words").unwrap().params["model"].clone()
    }

    #[test]
    fn model_names_reach_the_stage_exactly() {
        // Each of these was mangled when overrides were text re-read as YAML.
        for model in [
            "/models/v #2/ggml.bin",
            "1.10",
            "true",
            "null",
            "[a]",
            "x: y",
        ] {
            assert_eq!(model_param(model), Value::String(model.into()), "{model}");
        }
    }

    #[test]
    fn mode_fps_and_fallback_become_overrides() {
        let req = SyncRequest {
            mode: Mode::Precision,
            fps: Some("30000/1001".into()),
            on_mismatch: Some(OnMismatch::Linear),
            model: None,
            diagnostic: false,
            device: Device::Cuda,
        };
        let o = req.overrides().unwrap();
        let find = |stage: &str, param: &str| {
            o.iter()
                .find(|x| x.stage == stage && x.param == param)
                .map(|x| x.value.clone())
        };
        assert_eq!(find("interpolate", "mode"), Some("precision".into()));
        assert_eq!(find("retime", "fps"), Some("30000/1001".into()));
        assert_eq!(find("analyze", "on_mismatch"), Some("linear".into()));
        for stage in ["source-words", "target-words", "interpolate"] {
            assert_eq!(find(stage, "device"), Some("cuda".into()), "{stage}");
        }
        // The CPU is every stage's default: no override, the same cache keys.
        let cpu = SyncRequest::default().overrides().unwrap();
        assert!(cpu.iter().all(|x| x.param != "device"));
        let vfr = SyncRequest {
            mode: Mode::Vfr,
            fps: Some("24".into()),
            ..SyncRequest::default()
        };
        assert!(vfr.overrides().is_err());
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(&Store::open(dir.path()));
        let vfr = SyncRequest {
            mode: Mode::Vfr,
            ..SyncRequest::default()
        };
        let run = |req: &SyncRequest, out: SyncOutput| {
            req.run_request(
                &reg,
                &[],
                "v.mp4".into(),
                "a.wav".into(),
                &[(out, "o".into())],
            )
        };
        assert!(run(&vfr, SyncOutput::Freezes).is_err());
        let r = run(&vfr, SyncOutput::Timecodes).unwrap();
        assert_eq!(r.pipeline.name, "sync-vfr");
        assert_eq!(r.outputs, [("timecodes".to_string(), PathBuf::from("o"))]);
    }
}
