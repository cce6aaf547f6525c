//! The media stages: `extract-audio` and `mux`.

use crate::{extract_audio, mux, probe};
use vantage_core::{ParamSpec, Params, Port, PortType, Ports, Stage, StageContext, StageError};

/// Decode any media's first audio stream to 16 kHz mono WAV for analysis.
pub struct ExtractAudio;

impl Stage for ExtractAudio {
    fn kind(&self) -> &'static str {
        "extract-audio"
    }
    fn version(&self) -> u32 {
        1
    }
    fn describe(&self) -> &'static str {
        "first audio stream of any media file, as 16 kHz mono 16-bit WAV"
    }
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    fn ports(&self, _: &Params) -> Ports {
        Ports {
            inputs: vec![Port::required("media", PortType::Media)],
            outputs: vec![Port::required("audio", PortType::Wav)],
        }
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let input = ctx.input("media")?;
        probe(input)?.require_audio(input)?;
        extract_audio(input, ctx.output("audio")?, &ctx.cancel)?;
        Ok(())
    }
}

/// Put the picture and the new audio together; the result lasts as long as the audio.
pub struct Mux;

impl Stage for Mux {
    fn kind(&self) -> &'static str {
        "mux"
    }
    fn version(&self) -> u32 {
        1
    }
    fn describe(&self) -> &'static str {
        "copy the picture, encode the audio to AAC, cut to the audio's length"
    }
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    fn ports(&self, _: &Params) -> Ports {
        Ports {
            inputs: vec![
                Port::required("video", PortType::Video),
                Port::required("audio", PortType::Audio),
            ],
            outputs: vec![Port::required("video", PortType::Video)],
        }
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        mux(
            ctx.input("video")?,
            ctx.input("audio")?,
            ctx.output("video")?,
            &ctx.cancel,
        )?;
        Ok(())
    }
}
