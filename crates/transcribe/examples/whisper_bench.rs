//! Whisper's real-time factor on each device, for the GPU measurement
//! (`scripts/gpu/bench.sh`) where there is no ffmpeg: it reads a 16 kHz
//! mono WAV itself.
//!
//!   whisper_bench MODEL.bin SPEECH.wav [cpu,cuda] [THREADS]
//!
//! Prints one JSON line per device: load time, transcription time (the
//! second of two runs, so the first's one-time GPU set-up is not counted)
//! and the real-time factor (seconds of audio per second of work).

use std::time::Instant;
use vantage_core::CancelToken;
use vantage_transcribe::{load, transcribe, Device, Options};

fn main() {
    if let Err(e) = run() {
        eprintln!("whisper_bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, wav, rest @ ..] = args.as_slice() else {
        return Err("usage: whisper_bench MODEL.bin SPEECH.wav [cpu,cuda] [THREADS]".into());
    };
    let devices = rest.first().map_or("cpu,cuda", String::as_str);
    let threads = rest.get(1).map_or(Ok(4), |t| t.parse())?;
    let (samples, rate) = vantage_media::read_wav_mono(std::path::Path::new(wav))?;
    if rate != vantage_media::AUDIO_RATE {
        return Err(format!("{wav} is {rate} Hz; Whisper takes 16 kHz mono").into());
    }
    let audio_s = samples.len() as f64 / f64::from(rate);
    let digest = blake3::hash(&std::fs::read(model)?).to_hex().to_string();
    for name in devices.split(',') {
        let device = Device::parse(name)?;
        let start = Instant::now();
        let loaded = load(std::path::Path::new(model), &digest, true, device)?;
        let load_s = start.elapsed().as_secs_f64();
        let opts = Options {
            language: Some("en".into()),
            threads,
            beam_size: 1,
            cancel: CancelToken::default(),
        };
        let mut run_s = 0.0;
        let mut words = 0;
        for _ in 0..2 {
            let start = Instant::now();
            words = transcribe(&loaded, "bench", &samples, &opts)?.words.len();
            run_s = start.elapsed().as_secs_f64();
        }
        println!(
            "{{\"impl\":\"whisper.cpp\",\"device\":\"{name}\",\"model\":\"{model}\",\"threads\":{threads},\"audio_s\":{audio_s:.1},\"load_s\":{load_s:.2},\"transcribe_s\":{run_s:.2},\"rtf\":{:.1},\"words\":{words}}}",
            audio_s / run_s
        );
    }
    Ok(())
}
