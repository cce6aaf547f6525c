//! Accuracy of the warp alone (no video): align each benchmark case's speech
//! and compare `warp.source_at(t)` with the truth every 10 ms of target speech.
//! Fast enough to iterate on the alignment. `WORDS=1` prints per-word errors.

use vantage_analyze::{align, AlignOptions};
use vantage_dsp::features::mfcc;
use vantage_e2e::case::{cases, speech};
use vantage_e2e::speech::Speech;
use vantage_e2e::truth::{Stats, Truth};

/// Linear resampling to the analysis rate (the pipeline uses ffmpeg for this).
fn to_16k(s: &Speech) -> Vec<f32> {
    let step = s.rate as f64 / 16_000.0;
    let n = (s.samples.len() as f64 / step) as usize;
    (0..n)
        .map(|i| {
            let x = i as f64 * step;
            let j = x as usize;
            let f = x - j as f64;
            let a = s.samples[j] as f64;
            let b = *s.samples.get(j + 1).unwrap_or(&s.samples[j]) as f64;
            ((a * (1.0 - f) + b * f) / 32768.0) as f32
        })
        .collect()
}

fn main() {
    let per_word = std::env::var("WORDS").is_ok();
    println!(
        "{:<26} {:>7} {:>7} {:>7}  confidence",
        "case", "median", "p95", "max"
    );
    for spec in cases() {
        let (src, tgt) = speech(&spec);
        let truth = Truth::new(&src.words, &tgt.words);
        let r = match align(
            mfcc(&to_16k(&src)),
            mfcc(&to_16k(&tgt)),
            src.duration(),
            tgt.duration(),
            &AlignOptions::default(),
        ) {
            Ok(r) => r,
            Err(e) => {
                println!("{:<26} failed: {e}", spec.name);
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
        println!(
            "{:<26} {}  {:.2}",
            spec.name,
            Stats::of(&errors),
            r.confidence.score
        );
    }
}
