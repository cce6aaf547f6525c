//! `vantage transcribe`: print the words of a recording with their times.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use vantage_core::CancelToken;
use vantage_transcribe::{default_threads, load, transcribe, Device, Options};
use vantage_weights::{Kind, Store};

#[derive(Args)]
pub struct TranscribeArgs {
    /// An audio or video file (anything ffmpeg reads).
    input: PathBuf,
    /// Installed model name (tiny.en, base) or the path of a GGML model file.
    #[arg(long, default_value = "tiny.en")]
    model: String,
    /// Language code, or auto to detect it.
    #[arg(long, default_value = "auto")]
    language: String,
    /// whisper.cpp CPU threads [default: one fewer than the cores]
    #[arg(long)]
    threads: Option<usize>,
    /// cpu, or cuda in builds with the cuda feature.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Beam width (1: greedy).
    #[arg(long, default_value_t = 1)]
    beam: usize,
    /// Print the transcript as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: TranscribeArgs) -> Result<ExitCode> {
    // Everything that can be wrong with the request is found before decoding.
    let weights = Store::open_default()
        .resolve(&args.model, Kind::Whisper)
        .map_err(crate::failure::weights)?;
    let device = Device::parse(&args.device).map_err(crate::failure::unusable)?;
    let info = vantage_media::probe(&args.input)?;
    info.require_audio(&args.input)?;
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    let wav = scratch.path().join("audio.wav");
    vantage_media::extract_audio(&args.input, &wav, &CancelToken::default())?;
    let (samples, _) = vantage_media::read_wav_mono(&wav)?;
    let model = load(&weights.path, &weights.blake3, true, device)?;
    let opts = Options {
        language: Some(args.language),
        threads: args.threads.unwrap_or_else(default_threads),
        beam_size: args.beam.max(1),
        cancel: CancelToken::default(),
    };
    let transcript = transcribe(&model, &weights.name, &samples, &opts)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&transcript)?);
    } else {
        println!(
            "# {} ({}, {:.1} s)",
            weights.name, transcript.language, transcript.duration
        );
        for w in &transcript.words {
            println!(
                "{:8.2} {:8.2}  {:4.2}  {}",
                w.start, w.end, w.probability, w.text
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
