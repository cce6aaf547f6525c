//! The `analyze` stage.

use crate::{align, AlignError, AlignOptions, Anchor};
use serde_json::json;
use vantage_core::warp::format_timecodes_v2;
use vantage_core::{
    Alignment, ParamKind, ParamSpec, Params, Port, PortType, Ports, Stage, StageContext, StageError,
};
use vantage_media::{frame_times, probe, read_wav_mono, AUDIO_RATE};

pub struct Analyze;

/// Shift samples by `offset_s` (audio starting that much after the picture):
/// pad with silence, or drop the audio that precedes the first frame.
fn align_to_picture(samples: Vec<f32>, offset_s: f64) -> Vec<f32> {
    let shift = (offset_s * AUDIO_RATE as f64).round() as i64;
    match shift {
        0 => samples,
        s if s > 0 => std::iter::repeat_n(0.0, s as usize)
            .chain(samples)
            .collect(),
        s => samples.into_iter().skip((-s) as usize).collect(),
    }
}

impl Stage for Analyze {
    fn kind(&self) -> &'static str {
        "analyze"
    }
    fn version(&self) -> u32 {
        1
    }
    fn describe(&self) -> &'static str {
        "align source speech to target speech (DTW on MFCCs); writes the warp and timecodes v2"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(
                "max_length_ratio",
                ParamKind::Float {
                    min: 1.1,
                    max: 10.0,
                },
                json!(3.0),
                "refuse to align when one side speaks this many times longer than the other",
            ),
            ParamSpec::new(
                "smoothing_ms",
                ParamKind::Float {
                    min: 10.0,
                    max: 500.0,
                },
                json!(50.0),
                "half-width of the path smoothing inside long runs of connected speech",
            ),
            ParamSpec::new(
                "max_linear_ms",
                ParamKind::Float { min: 100.0, max: 10000.0 },
                json!(800.0),
                "speech without a pause on either side longer than this follows the smoothed path; shorter runs (words) move at a constant rate",
            ),
        ]
    }
    fn ports(&self, _: &Params) -> Ports {
        Ports {
            inputs: vec![
                Port::required("source", PortType::Wav),
                Port::required("target", PortType::Wav),
                Port::required("video", PortType::Video),
                Port::optional("anchors", PortType::Json),
            ],
            outputs: vec![
                Port::required("alignment", PortType::Alignment),
                Port::required("timecodes", PortType::Timecodes),
            ],
        }
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let video_path = ctx.input("video")?;
        let info = probe(video_path)?;
        let stream = info.require_video(video_path)?;
        let video = frame_times(video_path, stream)?;
        let read = |port: &str| -> Result<Vec<f32>, StageError> {
            let path = ctx.input(port)?;
            let (samples, rate) = read_wav_mono(path)?;
            if rate != AUDIO_RATE {
                return Err(StageError::InvalidInput(format!(
                    "input '{port}' ({}) is {rate} Hz; analyze needs {AUDIO_RATE} Hz mono WAV (run it through extract-audio)",
                    path.display()
                )));
            }
            Ok(samples)
        };
        let (source, target) = (read("source")?, read("target")?);
        // Put the source speech on the picture's clock: frame times count from
        // the first frame, the extracted audio from the first audio sample.
        let offset = info.audio.as_ref().map_or(0.0, |a| a.start - stream.start);
        let source = align_to_picture(source, offset);
        let target_duration = target.len() as f64 / AUDIO_RATE as f64;
        if target_duration <= 0.0 {
            return Err(StageError::InvalidInput(
                "the target audio is empty (zero length)".into(),
            ));
        }
        let anchors: Vec<Anchor> = match ctx.optional_input("anchors") {
            Some(_) => ctx.read_json("anchors")?,
            None => Vec::new(),
        };
        ctx.report(0.1, "aligning speech");
        let opts = AlignOptions {
            max_length_ratio: ctx.param_f64("max_length_ratio")?,
            smoothing_s: ctx.param_f64("smoothing_ms")? / 1000.0,
            max_linear_s: ctx.param_f64("max_linear_ms")? / 1000.0,
            anchors,
            cancel: ctx.cancel.clone(),
        };
        let result = align(&source, &target, video.duration, target_duration, &opts).map_err(
            |e| match e {
                AlignError::Warp(_) => StageError::Failed(e.to_string()),
                AlignError::Cancelled => StageError::Cancelled,
                _ => StageError::InvalidInput(e.to_string()),
            },
        )?;
        for w in &result.confidence.warnings {
            tracing::warn!(stage = %ctx.stage_name, "{w}");
        }
        let timecodes = result.warp.timecodes_ms(&video.frame_times);
        let alignment = Alignment {
            warp: result.warp,
            source_duration: video.duration,
            target_duration,
            video,
            confidence: result.confidence,
            anchors_used: result.anchors_used,
        };
        ctx.write_json("alignment", &alignment)?;
        let path = ctx.output("timecodes")?;
        std::fs::write(path, format_timecodes_v2(&timecodes))
            .map_err(StageError::io(format!("writing {}", path.display())))?;
        ctx.report(
            1.0,
            &format!("confidence {:.2}", alignment.confidence.score),
        );
        Ok(())
    }
}
