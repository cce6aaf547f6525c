//! The `transcribe` stage.

use crate::encoder::STATE_HOP_S;
use crate::{
    default_threads, load, transcribe, transcribe_speech, Device, Options, TranscribeError,
};
use serde_json::json;
use vantage_core::{
    ParamKind, ParamSpec, Params, Port, PortType, Ports, Resources, Stage, StageContext,
    StageError, States, Transcript,
};
use vantage_dsp::features::Mfcc;
use vantage_dsp::vad::{flagged_seconds, speech_frames, MIN_SPEECH_S};
use vantage_media::{read_wav_blocks, read_wav_mono, AUDIO_RATE};
use vantage_weights::{Installed, Kind, Store};

/// The `transcribe` stage, finding its models in `weights`.
pub struct Transcribe {
    weights: Store,
}

impl Transcribe {
    pub fn new(weights: Store) -> Self {
        Self { weights }
    }

    fn resolve(&self, params: &Params) -> Result<Installed, StageError> {
        Ok(self.weights.resolve(model_param(params), Kind::Whisper)?)
    }

    /// Load `model` on `device` (as the stage would) and transcribe a second
    /// of silence, so that a server's first request pays for neither.
    pub fn warm_up(&self, model: &str, device: &str) -> Result<(), StageError> {
        let device = Device::parse(device).map_err(StageError::InvalidInput)?;
        let weights = self.weights.resolve(model, Kind::Whisper)?;
        let loaded = load(&weights.path, &weights.blake3, true, device).map_err(to_stage_error)?;
        let opts = Options {
            language: None,
            threads: 1,
            beam_size: 1,
            cancel: vantage_core::CancelToken::default(),
        };
        let silence = vec![0.0; AUDIO_RATE as usize];
        transcribe(&loaded, &weights.name, &silence, &opts).map_err(to_stage_error)?;
        Ok(())
    }
}

fn model_param(params: &Params) -> &str {
    params
        .get("model")
        .and_then(|v| v.as_str())
        .unwrap_or("tiny.en")
}

fn device_param(params: &Params) -> &str {
    params
        .get("device")
        .and_then(|v| v.as_str())
        .unwrap_or("cpu")
}

/// Threads this run asks for (0 in the params: leave a core free).
fn states_param(params: &Params) -> bool {
    params
        .get("states")
        .and_then(|v| v.as_bool())
        .unwrap_or(true)
}

fn threads(params: &Params) -> usize {
    match params.get("threads").and_then(|v| v.as_u64()) {
        Some(n) if n > 0 => n as usize,
        _ => default_threads(),
    }
}

impl Stage for Transcribe {
    fn kind(&self) -> &'static str {
        "transcribe"
    }
    fn version(&self) -> u32 {
        4
    }
    fn describe(&self) -> &'static str {
        "speech to words with start/end times and probabilities (Whisper, DTW word timestamps), and the encoder states the alignment compares"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(
                "model",
                ParamKind::Text,
                json!("tiny.en"),
                "installed Whisper model (tiny.en, base; see `vantage weights list`) or the path of a GGML model file",
            ),
            ParamSpec::new(
                "language",
                ParamKind::Text,
                json!("auto"),
                "language code (en, de, ...) or auto to detect it; English-only models always use en",
            ),
            ParamSpec::new(
                "threads",
                ParamKind::Int { min: 0, max: 64 },
                json!(0),
                "CPU threads for whisper.cpp; 0 leaves one core free (ggml threads busy-wait, so oversubscribing is very slow)",
            ),
            ParamSpec::new(
                "beam_size",
                ParamKind::Int { min: 1, max: 8 },
                json!(1),
                "1 decodes greedily; more runs a beam search of that width (slower, sometimes more accurate)",
            ),
            ParamSpec::new(
                "on_silence",
                ParamKind::Choice(&["fail", "empty"]),
                json!("fail"),
                "audio without speech: fail at once (before loading Whisper, which would hallucinate words), or give an empty transcript",
            ),
            ParamSpec::new(
                "max_length_ratio",
                ParamKind::Float {
                    min: 1.1,
                    max: 10.0,
                },
                json!(3.0),
                "with the other side's audio (input source or target): refuse before Whisper runs when one side speaks this many times longer than the other",
            ),
            ParamSpec::new(
                "states",
                ParamKind::Bool,
                json!(true),
                "also write the output `states`: the encoder states analyze compares beside the cepstra (its third block's output; about half as long again as tiny.en's transcription on a CPU); false drops the output",
            ),
            ParamSpec::new(
                "device",
                ParamKind::Choice(&["cpu", "cuda"]),
                json!("cpu"),
                "where whisper.cpp runs (cuda needs a build with --features cuda and a GPU)",
            ),
        ]
    }
    fn ports(&self, params: &Params) -> Ports {
        let mut outputs = vec![Port::required("transcript", PortType::Transcript)];
        if states_param(params) {
            outputs.push(Port::required("states", PortType::States));
        }
        Ports {
            // The other side of a sync (this audio is then its target or
            // its source), for the length check before Whisper.
            inputs: vec![
                Port::required("audio", PortType::Wav),
                Port::optional("source", PortType::Wav),
                Port::optional("target", PortType::Wav),
            ],
            outputs,
        }
    }
    fn resources(&self, params: &Params) -> Resources {
        if device_param(params) == "cuda" {
            Resources { cpu: 1, gpu: true }
        } else {
            Resources {
                cpu: threads(params),
                gpu: false,
            }
        }
    }
    fn weight_digests(&self, params: &Params) -> Result<Vec<String>, StageError> {
        // Checked with the weights, before anything runs.
        Device::parse(device_param(params)).map_err(StageError::InvalidInput)?;
        Ok(vec![self.resolve(params)?.blake3])
    }
    /// The other side's audio and the ratio only refuse: a transcript is
    /// the same whatever it is checked against.
    fn guards(&self) -> &'static [&'static str] {
        &["source", "target", "max_length_ratio"]
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let weights = self.resolve(&ctx.params)?;
        let path = ctx.input("audio")?;
        let (samples, rate) = read_wav_mono(path)?;
        if rate != AUDIO_RATE {
            return Err(StageError::InvalidInput(format!(
                "{} is {rate} Hz; transcribe needs {AUDIO_RATE} Hz mono WAV (run it through extract-audio)",
                path.display()
            )));
        }
        let speech = vantage_dsp::voice_activity(&samples);
        if vantage_dsp::vad::flagged_seconds(&speech) < vantage_dsp::vad::MIN_SPEECH_S {
            if ctx.param_str("on_silence")? == "fail" {
                return Err(StageError::InvalidInput(
                    "no speech found in its audio (it is silent or too quiet); check that the right file was passed".into(),
                ));
            }
            let empty = Transcript {
                model: weights.name.clone(),
                language: ctx.param_str("language")?.to_string(),
                duration: samples.len() as f64 / AUDIO_RATE as f64,
                segments: Vec::new(),
                words: Vec::new(),
            };
            ctx.write_json("transcript", &empty)?;
            if states_param(&ctx.params) {
                write_states(ctx, Vec::new())?;
            }
            ctx.report(1.0, "no speech: empty transcript");
            return Ok(());
        }
        check_against_other_side(ctx, flagged_seconds(&speech))?;
        ctx.report(0.05, &format!("loading {}", weights.name));
        let device = Device::parse(ctx.param_str("device")?).map_err(StageError::InvalidInput)?;
        let model = load(&weights.path, &weights.blake3, true, device).map_err(to_stage_error)?;
        ctx.report(0.1, "transcribing");
        let opts = Options {
            language: Some(ctx.param_str("language")?.to_string()),
            // What the runner granted (the slots this run holds), not the request.
            threads: ctx.threads,
            beam_size: ctx.param_i64("beam_size")?.max(1) as usize,
            cancel: ctx.cancel.clone(),
        };
        let transcript = transcribe_speech(&model, &weights.name, &samples, &speech, &opts)
            .map_err(to_stage_error)?;
        ctx.write_json("transcript", &transcript)?;
        if states_param(&ctx.params) {
            if ctx.cancel.is_cancelled() {
                return Err(StageError::Cancelled);
            }
            ctx.report(0.8, "encoding the sound for the alignment");
            let encoder = model.encoder().map_err(to_stage_error)?;
            write_states(ctx, encoder.states(&samples).map_err(to_stage_error)?)?;
        }
        ctx.report(
            1.0,
            &format!("{} words ({})", transcript.words.len(), transcript.language),
        );
        Ok(())
    }
}

fn write_states(ctx: &StageContext, rows: Vec<Vec<f32>>) -> Result<(), StageError> {
    let path = ctx.output("states")?;
    let states = States {
        hop_s: STATE_HOP_S,
        rows,
    };
    states
        .write(path)
        .map_err(StageError::io(format!("writing {}", path.display())))
}

/// Refuse speech `speech_s` long beside the other side's (input `source`
/// or `target`) when no plausible pace explains the difference: cheap
/// (voice activity), so it comes before either side's Whisper run.
fn check_against_other_side(ctx: &StageContext, speech_s: f64) -> Result<(), StageError> {
    let (source_s, target_s) = match (ctx.optional_input("source"), ctx.optional_input("target")) {
        (Some(source), None) => (speech_seconds(source)?, speech_s),
        (None, Some(target)) => (speech_s, speech_seconds(target)?),
        (None, None) => return Ok(()),
        (Some(_), Some(_)) => {
            return Err(StageError::InvalidInput(
                "give transcribe the other side's audio as source or as target, not both".into(),
            ))
        }
    };
    // Silence on the other side is its own transcription's to report.
    if source_s.min(target_s) < MIN_SPEECH_S {
        return Ok(());
    }
    vantage_dsp::vad::check_lengths(source_s, target_s, ctx.param_f64("max_length_ratio")?)
        .map_err(|e| StageError::InvalidInput(e.to_string()))
}

/// Seconds of speech in the 16 kHz mono WAV at `path`, read a block at a time.
fn speech_seconds(path: &std::path::Path) -> Result<f64, StageError> {
    let mut features = Mfcc::new();
    read_wav_blocks(path, |block| features.push(block))?;
    Ok(flagged_seconds(&speech_frames(
        &features.finish().energy_db,
    )))
}

fn to_stage_error(e: TranscribeError) -> StageError {
    match e {
        TranscribeError::Cancelled => StageError::Cancelled,
        TranscribeError::BadOption(m) => StageError::InvalidInput(m),
        TranscribeError::Model(message) => StageError::MissingWeights {
            message,
            fetch: None,
        },
        TranscribeError::Whisper(m) => StageError::Tool(m),
    }
}
