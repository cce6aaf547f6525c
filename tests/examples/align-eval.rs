//! Accuracy of the warp alone (no video): align each benchmark case's speech
//! and compare `warp.source_at(t)` with the truth every 10 ms of target
//! speech. Fast enough to iterate on the alignment.
//!
//! `cargo run --release -p vantage-e2e --example align-eval [-- FILTER]`
//! (cases whose name contains FILTER). `ANCHORS=tiny.en` (or another
//! Whisper model in the weights store) anchors on the words as the
//! pipeline does; `WORDS=1` prints the error at each word's (or phrase's)
//! start, middle and end. `ENCODER=tiny.en` aligns on Whisper's encoder
//! states (block 2's output, `vantage_transcribe::encoder`) beside the
//! cepstra, at `STATES_WEIGHT=w` (default: the product's).

use std::sync::Arc;
use std::time::Instant;
use vantage_analyze::words::word_anchors;
use vantage_analyze::{align, AlignOptions, Anchor, Sound};
use vantage_core::{CancelToken, States};
use vantage_dsp::features::{mfcc, Mfcc, VOCAL_TRACT_WARPS};
use vantage_e2e::case::{all_cases, speech, text_of, truth, CaseSpec, Split};
use vantage_e2e::truth::Stats;
use vantage_transcribe::encoder::{Encoder, STATE_BLOCKS, STATE_HOP_S};
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

/// The first three encoder blocks of the Whisper model named by `ENCODER`.
fn encoder() -> Option<Encoder> {
    let name = std::env::var("ENCODER").ok()?;
    let weights = Store::open_default()
        .resolve(&name, Kind::Whisper)
        .unwrap_or_else(|e| panic!("{name}: {e} (vantage weights fetch {name})"));
    Some(Encoder::load(&weights.path, STATE_BLOCKS).expect("loading the encoder"))
}

/// The states of `samples`, kept under `STATES_CACHE=DIR` between runs
/// when set (the cases are generated with a seed, so `name` is enough).
fn cached_states(enc: &Encoder, samples: &[f32], name: &str) -> Vec<Vec<f32>> {
    let file = std::env::var("STATES_CACHE").ok().map(|dir| {
        let slug: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        std::path::Path::new(&dir).join(format!("{slug}.bin"))
    });
    if let Some(states) = file.as_ref().and_then(|f| States::read(f).ok()) {
        return states.rows;
    }
    let rows = enc.states(samples).expect("encoding");
    if let Some(file) = file {
        let _ = std::fs::create_dir_all(file.parent().expect("a folder"));
        let states = States {
            hop_s: STATE_HOP_S,
            rows,
        };
        states.write(&file).expect("writing the states cache");
        return states.rows;
    }
    rows
}

fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name).ok()?.parse().ok()
}

fn main() {
    let per_word = std::env::var("WORDS").is_ok();
    let filter = std::env::args().nth(1).unwrap_or_default();
    let model = whisper();
    let encoder = encoder();
    println!(
        "{:<34} {:>8} {:>7} {:>7} {:>7}  {:>5} {:>8}",
        "case", "split", "median", "p95", "max", "conf", "align ms"
    );
    for spec in all_cases().iter().filter(|c| c.name.contains(&filter)) {
        let (src, tgt) = speech(spec);
        let truth = truth(&src, &tgt);
        if per_word {
            println!(
                "  phones: source {}, target {}",
                src.phones.len(),
                tgt.phones.len()
            );
        }
        let (s16, t16) = (src.to_16k(), tgt.to_16k());
        let opts = AlignOptions {
            anchors: model
                .as_ref()
                .map(|m| anchors(m, &s16, &t16))
                .unwrap_or_default(),
            smoothing_s: env_f64("SMOOTHING").unwrap_or(AlignOptions::default().smoothing_s),
            follow_s: env_f64("FOLLOW").unwrap_or(AlignOptions::default().follow_s),
            states_weight: env_f64("STATES_WEIGHT")
                .unwrap_or(AlignOptions::default().states_weight),
            ..AlignOptions::default()
        };
        if !opts.anchors.is_empty() {
            let errs: Vec<f64> = opts
                .anchors
                .iter()
                .filter_map(|a| truth.source_at(a.target).map(|s| (a.source - s) * 1000.0))
                .collect();
            println!(
                "  anchors {} error {}",
                opts.anchors.len(),
                Stats::of(&errs)
            );
            for a in &opts.anchors {
                if let Some(s) = truth.source_at(a.target) {
                    if (a.source - s).abs() > 0.3 {
                        println!(
                            "    anchor {:.2} -> {:.2}: truth {:.2}",
                            a.source, a.target, s
                        );
                    }
                }
            }
        }
        let states = |s: &[f32], side: &str| match &encoder {
            Some(enc) => cached_states(enc, s, &format!("{}.{side}", spec.name)),
            None => Vec::new(),
        };
        let (source_states, target_states) = (states(&s16, "src"), states(&t16, "tgt"));
        let started = Instant::now();
        let mut target = Mfcc::warped(&VOCAL_TRACT_WARPS);
        target.push(&t16);
        let sound = |features, states| Sound { features, states };
        let result = align(
            sound(mfcc(&s16), source_states),
            sound(target.finish(), target_states),
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
        if let Ok(dir) = std::env::var("DUMP") {
            dump(
                std::path::Path::new(&dir),
                spec,
                &s16,
                &t16,
                &truth,
                &r.warp,
            );
        }
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
        for w in &r.confidence.warnings {
            println!("  warning: {w}");
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
    // Different words (an espeak-ng case's source against a flite case's
    // target): the confidence must say so.
    let all = all_cases();
    let (Some(a), Some(b)) = (all.first(), all.last()) else {
        return;
    };
    let (src, tgt) = (speech(a).0, speech(b).1);
    let opts = AlignOptions::default();
    match align(
        mfcc(&src.to_16k()).into(),
        mfcc(&tgt.to_16k()).into(),
        src.duration(),
        tgt.duration(),
        &opts,
    ) {
        Ok(r) => println!(
            "different words: confidence {:.2}, path cost {:.0}% of chance, warnings {:?}",
            r.confidence.score,
            100.0 * r.confidence.path_cost / r.confidence.chance_cost,
            r.confidence.warnings
        ),
        Err(e) => println!("different words: {e}"),
    }
}

/// `DUMP=DIR`: the case's two 16 kHz signals, their texts, the truth and
/// the warp every 10 ms of target speech, for checking another aligner.
fn dump(
    dir: &std::path::Path,
    spec: &CaseSpec,
    s16: &[f32],
    t16: &[f32],
    truth: &vantage_e2e::truth::Truth,
    warp: &vantage_core::Warp,
) {
    std::fs::create_dir_all(dir).expect("DUMP dir");
    let slug: String = spec
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let wav = |name: &str, samples: &[f32]| {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let path = dir.join(format!("{slug}.{name}.wav"));
        let mut w = hound::WavWriter::create(path, spec).expect("writing");
        for x in samples {
            w.write_sample((x.clamp(-1.0, 1.0) * 32767.0) as i16)
                .expect("writing");
        }
        w.finalize().expect("writing");
    };
    wav("src", s16);
    wav("tgt", t16);
    let points: Vec<[f64; 3]> = (0..(t16.len() / 160))
        .map(|k| k as f64 / 100.0)
        .filter(|&t| truth.in_word(t))
        .filter_map(|t| truth.source_at(t).map(|s| [t, s, warp.source_at(t)]))
        .collect();
    let json = serde_json::json!({
        "name": spec.name,
        "source_text": text_of(&spec.source, spec.words),
        "target_text": text_of(&spec.target, spec.words),
        "points": points,
    });
    std::fs::write(dir.join(format!("{slug}.json")), json.to_string()).expect("writing");
}
