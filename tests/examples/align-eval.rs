//! Accuracy of the warp alone (no video): align each benchmark case's speech
//! and compare `warp.source_at(t)` with the truth every 10 ms of target
//! speech. Fast enough to iterate on the alignment.
//!
//! `cargo run --release -p vantage-e2e --example align-eval [-- FILTER]`
//! (cases whose name contains FILTER). `ANCHORS=tiny.en` (or another
//! Whisper model in the weights store) anchors on the words as the
//! pipeline does; `WORDS=1` prints the error at each word's (or phrase's)
//! start, middle and end.

use std::sync::Arc;
use std::time::Instant;
use vantage_analyze::words::word_anchors;
use vantage_analyze::{align, AlignOptions, Anchor};
use vantage_core::CancelToken;
use vantage_dsp::features::mfcc;
use vantage_e2e::case::{all_cases, speech, truth, Split};
use vantage_e2e::truth::Stats;
use vantage_transcribe::{load, transcribe, Device, Model, Options};
use vantage_weights::{Kind, Store};

/// The Whisper model named by `ANCHORS`, if any.
fn whisper() -> Option<Arc<Model>> {
    let name = std::env::var("ANCHORS").ok()?;
    let store = Store::open_default();
    let weights = store
        .resolve(&name, Kind::Whisper)
        .unwrap_or_else(|e| panic!("{name}: {e} (vantage weights fetch {name})"));
    // DTW word times, as the transcribe stage uses.
    Some(
        load(&weights.path, &weights.blake3, true, Device::Cpu).expect("loading the Whisper model"),
    )
}

fn anchors(model: &Model, source: &[f32], target: &[f32]) -> Vec<Anchor> {
    let opts = Options {
        language: Some("en".into()),
        threads: 2,
        beam_size: 1,
        cancel: CancelToken::default(),
    };
    let heard = |s: &[f32]| transcribe(model, "eval", s, &opts).expect("transcribing");
    word_anchors(&heard(source), &heard(target)).0
}

fn main() {
    let per_word = std::env::var("WORDS").is_ok();
    let filter = std::env::args().nth(1).unwrap_or_default();
    let model = whisper();
    println!(
        "{:<34} {:>8} {:>7} {:>7} {:>7}  {:>5} {:>8}",
        "case", "split", "median", "p95", "max", "conf", "align ms"
    );
    for spec in all_cases().iter().filter(|c| c.name.contains(&filter)) {
        let (src, tgt) = speech(spec);
        let truth = truth(&src, &tgt);
        let (s16, t16) = (src.to_16k(), tgt.to_16k());
        let opts = AlignOptions {
            anchors: model
                .as_ref()
                .map(|m| anchors(m, &s16, &t16))
                .unwrap_or_default(),
            ..AlignOptions::default()
        };
        let started = Instant::now();
        let result = align(
            mfcc(&s16),
            mfcc(&t16),
            src.duration(),
            tgt.duration(),
            &opts,
        );
        let took = started.elapsed().as_secs_f64() * 1000.0;
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                println!("{:<34} failed: {e}", spec.name);
                continue;
            }
        };
        let error = |t: f64| {
            truth
                .source_at(t)
                .map(|s| (r.warp.source_at(t) - s) * 1000.0)
        };
        let errors: Vec<f64> = (0..(tgt.duration() * 100.0) as usize)
            .map(|k| k as f64 / 100.0)
            .filter(|&t| truth.in_word(t))
            .filter_map(error)
            .collect();
        if per_word {
            for (k, &(a, b)) in tgt.words.iter().enumerate() {
                let e = |t| error(t).unwrap_or(f64::NAN);
                println!(
                    "  word {k:3} {a:6.2}-{b:6.2}  start {:6.0}  middle {:6.0}  end {:6.0}",
                    e(a),
                    e((a + b) / 2.0),
                    e(b)
                );
            }
        }
        let split = match spec.split {
            Split::Tuning => "tuning",
            Split::HeldOut => "held-out",
        };
        println!(
            "{:<34} {split:>8} {}  {:>5.2} {took:>8.0}",
            spec.name,
            Stats::of(&errors),
            r.confidence.score
        );
    }
}
