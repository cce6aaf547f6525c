//! A synchronisation case with exact ground truth: a bar video over speech in
//! one voice, and the same words in another voice with other pauses.

use crate::bars;
use crate::speech::{script, sequence, speak, Speech, Voice};
use crate::truth::{Stats, Truth};
use std::path::{Path, PathBuf};
use vantage_core::{CancelToken, Rational};

/// Silence around words: `word` between words, `sentence` before a sentence,
/// each stretched by up to `jitter` (random, seeded).
#[derive(Clone, Debug)]
pub struct Pacing {
    pub lead: f64,
    pub word: f64,
    pub sentence: f64,
    pub jitter: f64,
    pub tail: f64,
    pub seed: u64,
}

#[derive(Clone, Debug)]
pub struct CaseSpec {
    pub name: &'static str,
    pub words: usize,
    pub fps: Rational,
    pub width: u32,
    pub height: u32,
    pub source: (Voice, Pacing),
    pub target: (Voice, Pacing),
    /// Level of music and noise mixed under the target (0: none; 1: about as loud as the speech).
    pub target_noise: f64,
}

pub struct Case {
    pub source_video: PathBuf,
    pub target_audio: PathBuf,
    pub truth: Truth,
    pub fps: Rational,
    pub source_duration: f64,
}

fn pauses(starts: &[bool], p: &Pacing) -> Vec<f64> {
    let r = sequence(p.seed, starts.len());
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let base = if i == 0 {
                p.lead
            } else if s {
                p.sentence
            } else {
                p.word
            };
            base + if i == 0 { 0.0 } else { p.jitter * r[i] }
        })
        .collect()
}

/// The case's source and target speech.
pub fn speech(spec: &CaseSpec) -> (Speech, Speech) {
    let (words, starts) = script(spec.words);
    let say = |(voice, pacing): &(Voice, Pacing)| {
        speak(&words, voice, &pauses(&starts, pacing), pacing.tail)
    };
    let mut target = say(&spec.target);
    if spec.target_noise > 0.0 {
        let (rate, level) = (target.rate as f64, spec.target_noise * 3000.0);
        let noise = sequence(99, target.samples.len());
        // A chord that changes every 0.6 s, plus white noise.
        target.add(|i| {
            let t = i as f64 / rate;
            let root = [220.0, 246.9, 196.0, 261.6][(t / 0.6) as usize % 4];
            let chord: f64 = [1.0, 1.26, 1.5]
                .iter()
                .map(|k| (2.0 * std::f64::consts::PI * root * k * t).sin())
                .sum();
            level * (0.5 * chord / 3.0 + 0.5 * (noise[i] * 2.0 - 1.0))
        });
    }
    (say(&spec.source), target)
}

/// Generate the case's files in `dir`.
pub fn build(spec: &CaseSpec, dir: &Path) -> Case {
    let (src, tgt) = speech(spec);
    let source_wav = dir.join("source.wav");
    let target_audio = dir.join("target.wav");
    src.write_wav(&source_wav).expect("writing source speech");
    tgt.write_wav(&target_audio).expect("writing target speech");
    let picture = dir.join("picture.mp4");
    let frames = (src.duration() * spec.fps.as_f64()).round() as usize;
    bars::write_video(&picture, spec.width, spec.height, spec.fps, frames)
        .expect("writing bar video");
    let source_video = dir.join("source.mp4");
    vantage_media::mux(
        &picture,
        &source_wav,
        &source_video,
        &CancelToken::default(),
    )
    .expect("muxing source");
    Case {
        source_video,
        target_audio,
        truth: Truth::new(&src.words, &tgt.words),
        fps: spec.fps,
        source_duration: frames as f64 / spec.fps.as_f64(),
    }
}

/// Errors (ms) over the target's words of: the output, the identity baseline
/// (unchanged video + new audio), and the nearest-frame floor.
pub struct Scores {
    pub output: Stats,
    /// Output frames during speech that repeat the previous frame's picture
    /// (same shown time within 0.5 ms) while the truth moved on by more
    /// than a tenth of a frame, and how many frames were checked.
    pub frozen: (usize, usize),
    pub identity: Stats,
    pub floor: Stats,
}

pub fn score(case: &Case, output_video: &Path) -> Scores {
    let shown = bars::read_video_times(output_video).expect("reading output frames");
    let fps = case.fps.as_f64();
    let last_source = case.source_duration - 1.0 / fps;
    let (mut out, mut id, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    let mut frozen = (0, 0);
    let mut previous: Option<(f64, f64)> = None;
    for (k, s) in shown.iter().enumerate() {
        let t = k as f64 / fps;
        if !case.truth.in_word(t) {
            previous = None;
            continue;
        }
        let Some(truth) = case.truth.source_at(t) else {
            previous = None;
            continue;
        };
        if let Some((shown_before, truth_before)) = previous {
            frozen.1 += 1;
            if (s - shown_before).abs() < 0.0005 && truth - truth_before > 0.1 / fps {
                frozen.0 += 1;
            }
        }
        previous = Some((*s, truth));
        out.push((s - truth) * 1000.0);
        let identity_frame = ((t * fps).round() / fps).min(last_source);
        id.push((identity_frame - truth) * 1000.0);
        floor.push(((truth * fps).round() / fps - truth) * 1000.0);
    }
    Scores {
        output: Stats::of(&out),
        frozen,
        identity: Stats::of(&id),
        floor: Stats::of(&floor),
    }
}

pub fn voice(name: &'static str, speed: u32, pitch: u32) -> Voice {
    Voice { name, speed, pitch }
}

/// Even speech with short pauses.
fn calm() -> Pacing {
    Pacing {
        lead: 0.4,
        word: 0.06,
        sentence: 0.45,
        jitter: 0.05,
        tail: 0.5,
        seed: 1,
    }
}

/// The benchmark's cases (the end-to-end test uses the first, shortened).
pub fn cases() -> Vec<CaseSpec> {
    let calm = calm();
    let hurried = Pacing {
        lead: 0.2,
        word: 0.02,
        sentence: 0.25,
        jitter: 0.03,
        tail: 0.3,
        seed: 2,
    };
    let halting = Pacing {
        lead: 0.8,
        word: 0.08,
        sentence: 0.9,
        jitter: 0.45,
        tail: 1.0,
        seed: 3,
    };
    let r = |n, d| Rational { num: n, den: d };
    vec![
        CaseSpec {
            name: "us-male slow -> f3 fast",
            words: 40,
            fps: r(24, 1),
            width: 320,
            height: 180,
            source: (voice("en-us", 140, 50), calm.clone()),
            target: (voice("en+f3", 185, 60), hurried.clone()),
            target_noise: 0.0,
        },
        CaseSpec {
            name: "gb fast -> us halting",
            words: 40,
            fps: r(25, 1),
            width: 320,
            height: 180,
            source: (voice("en-gb", 180, 40), hurried.clone()),
            target: (voice("en-us+m3", 150, 50), halting.clone()),
            target_noise: 0.0,
        },
        CaseSpec {
            name: "f2 halting -> rp calm",
            words: 40,
            fps: r(30, 1),
            width: 320,
            height: 180,
            source: (voice("en-us+f2", 160, 70), halting.clone()),
            target: (voice("en-gb-x-rp", 135, 45), calm.clone()),
            target_noise: 0.0,
        },
        CaseSpec {
            name: "us -> us-nyc, 29.97",
            words: 40,
            fps: r(30000, 1001),
            width: 320,
            height: 180,
            source: (voice("en-us", 170, 50), Pacing { seed: 4, ..calm }),
            target: (voice("en-us-nyc", 150, 30), Pacing { seed: 5, ..halting }),
            target_noise: 0.0,
        },
    ]
}

/// Cases where sound alone misleads the alignment and the transcripts' words help.
pub fn hard_cases() -> Vec<CaseSpec> {
    let calm = Pacing { seed: 11, ..calm() };
    let long_pauses = Pacing {
        lead: 1.5,
        word: 0.1,
        sentence: 2.5,
        jitter: 1.2,
        tail: 1.5,
        seed: 12,
    };
    let r = |n, d| Rational { num: n, den: d };
    vec![
        CaseSpec {
            name: "us -> whispered",
            words: 40,
            fps: r(25, 1),
            width: 320,
            height: 180,
            source: (voice("en-us", 150, 40), calm.clone()),
            target: (
                voice("en+whisper", 140, 50),
                Pacing {
                    seed: 13,
                    ..calm.clone()
                },
            ),
            target_noise: 0.0,
        },
        CaseSpec {
            name: "us -> gb, long pauses",
            words: 40,
            fps: r(24, 1),
            width: 320,
            height: 180,
            source: (voice("en-us", 165, 50), calm.clone()),
            target: (voice("en-gb-x-rp", 150, 45), long_pauses),
            target_noise: 0.0,
        },
        CaseSpec {
            name: "us -> f3, music+noise",
            words: 40,
            fps: r(30, 1),
            width: 320,
            height: 180,
            source: (voice("en-us", 150, 50), calm.clone()),
            target: (voice("en+f3", 170, 60), Pacing { seed: 14, ..calm }),
            target_noise: 0.25,
        },
    ]
}
