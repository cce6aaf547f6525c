//! A synchronisation case with exact ground truth: a bar video over speech in
//! one voice, and the same words in another voice with other pauses.

use crate::bars;
use crate::speech::{script, script_of, sequence, speak, speak_flite, Speech, Voice, LONG_WORDS};
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

/// How a side of a case is spoken.
#[derive(Clone, Debug)]
pub enum Speaker {
    /// espeak-ng, word by word (the truth is known at every word's ends,
    /// and at its phones' where the library times them).
    Espeak(Voice, Pacing),
    /// flite, connected speech a phrase at a time (the truth is known at
    /// every phone's ends): the long-word sentences, each phrase at its
    /// own pace, so the rate changes inside a sentence.
    Flite(Flite),
}

#[derive(Clone, Debug)]
pub struct Flite {
    /// A voice flite has built in: kal16, awb, rms, slt.
    pub voice: &'static str,
    /// Each phrase's duration stretch is drawn from this range.
    pub stretch: (f64, f64),
    /// Most silence between the phrases of a sentence (drawn from 0 up),
    /// and the typical one before a sentence (drawn from half to 1.5 times it).
    pub phrase_pause: f64,
    pub sentence_pause: f64,
    pub seed: u64,
}

/// What is mixed under the target's speech.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    None,
    /// Music and noise at a fixed level (1: about as loud as the speech).
    Level(f64),
    /// Music and noise this many dB under the speech (over the words).
    SnrDb(f64),
}

/// Which half of the benchmark a case is in: the alignment is tuned on
/// the first and only reported on the second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Split {
    Tuning,
    HeldOut,
}

#[derive(Clone, Debug)]
pub struct CaseSpec {
    pub name: &'static str,
    pub words: usize,
    pub fps: Rational,
    pub width: u32,
    pub height: u32,
    pub source: Speaker,
    pub target: Speaker,
    /// Music and noise mixed under the target.
    pub target_noise: Noise,
    /// Reverberation time (RT60, seconds) put on the target; 0: dry.
    pub target_reverb_s: f64,
    pub split: Split,
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

/// The sentences' words in phrases of 3 to 5 words (a sentence's last
/// phrase takes what is left), and whether each phrase starts a sentence.
fn phrases(count: usize) -> Vec<(String, bool)> {
    let (words, starts) = script_of(LONG_WORDS, count);
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut in_phrase = 0;
    for (k, (word, start)) in words.iter().zip(&starts).enumerate() {
        let sentence_ends = starts.get(k + 1).is_none_or(|&s| s);
        match out.last_mut() {
            Some((phrase, _)) if !start && in_phrase < 3 + k % 3 => {
                phrase.push(' ');
                phrase.push_str(word);
                in_phrase += 1;
            }
            _ => {
                out.push((word.to_string(), *start));
                in_phrase = 1;
            }
        }
        if sentence_ends {
            in_phrase = usize::MAX / 2;
        }
    }
    out
}

/// The words `speaker` says in a case of `words` words, as text.
pub fn text_of(speaker: &Speaker, words: usize) -> String {
    match speaker {
        Speaker::Espeak(..) => script(words).0.join(" "),
        Speaker::Flite(_) => {
            let phrases: Vec<String> = phrases(words).into_iter().map(|(p, _)| p).collect();
            phrases.join(" ")
        }
    }
}

fn speak_as(speaker: &Speaker, words: usize) -> Speech {
    match speaker {
        Speaker::Espeak(voice, pacing) => {
            let (words, starts) = script(words);
            speak(&words, voice, &pauses(&starts, pacing), pacing.tail)
        }
        Speaker::Flite(f) => {
            let phrases = phrases(words);
            let r = sequence(f.seed, 2 * phrases.len());
            let (lo, hi) = f.stretch;
            let stretches: Vec<f64> = (0..phrases.len())
                .map(|k| lo + (hi - lo) * r[2 * k])
                .collect();
            let pauses: Vec<f64> = phrases
                .iter()
                .enumerate()
                .map(|(k, (_, starts))| match (k, starts) {
                    (0, _) => 0.4,
                    (_, true) => f.sentence_pause * (0.5 + r[2 * k + 1]),
                    _ => f.phrase_pause * r[2 * k + 1],
                })
                .collect();
            let text: Vec<String> = phrases.into_iter().map(|(p, _)| p).collect();
            speak_flite(&text, f.voice, &stretches, &pauses, 0.5)
        }
    }
}

/// A chord that changes every 0.6 s plus white noise, about unit RMS.
fn music(rate: f64, len: usize) -> impl Fn(usize) -> f64 {
    let noise = sequence(99, len);
    move |i| {
        let t = i as f64 / rate;
        let root = [220.0, 246.9, 196.0, 261.6][(t / 0.6) as usize % 4];
        let chord: f64 = [1.0, 1.26, 1.5]
            .iter()
            .map(|k| (2.0 * std::f64::consts::PI * root * k * t).sin())
            .sum();
        0.5 * chord / 3.0 + 0.5 * (noise[i] * 2.0 - 1.0)
    }
}

/// RMS of [`music`] (measured: the chord's three sines and uniform noise).
const MUSIC_RMS: f64 = 0.3536;

/// The case's source and target speech.
pub fn speech(spec: &CaseSpec) -> (Speech, Speech) {
    let mut target = speak_as(&spec.target, spec.words);
    if spec.target_reverb_s > 0.0 {
        target.reverb(spec.target_reverb_s, 77);
    }
    let level = match spec.target_noise {
        Noise::None => 0.0,
        Noise::Level(level) => level * 3000.0,
        Noise::SnrDb(db) => target.speech_rms() / MUSIC_RMS / 10f64.powf(db / 20.0),
    };
    if level > 0.0 {
        let music = music(target.rate as f64, target.samples.len());
        target.add(|i| level * music(i));
    }
    (speak_as(&spec.source, spec.words), target)
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
        truth: truth(&src, &tgt),
        fps: spec.fps,
        source_duration: frames as f64 / spec.fps.as_f64(),
    }
}

/// The truth between two voices: word by word (phrase by phrase for
/// flite), and phone by phone inside them.
pub fn truth(source: &Speech, target: &Speech) -> Truth {
    Truth::with_phones(&source.words, &target.words, &source.phones, &target.phones)
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
            source: Speaker::Espeak(voice("en-us", 140, 50), calm.clone()),
            target: Speaker::Espeak(voice("en+f3", 185, 60), hurried.clone()),
            target_noise: Noise::None,
            target_reverb_s: 0.0,
            split: Split::Tuning,
        },
        CaseSpec {
            name: "gb fast -> us halting",
            words: 40,
            fps: r(25, 1),
            width: 320,
            height: 180,
            source: Speaker::Espeak(voice("en-gb", 180, 40), hurried.clone()),
            target: Speaker::Espeak(voice("en-us+m3", 150, 50), halting.clone()),
            target_noise: Noise::None,
            target_reverb_s: 0.0,
            split: Split::Tuning,
        },
        CaseSpec {
            name: "f2 halting -> rp calm",
            words: 40,
            fps: r(30, 1),
            width: 320,
            height: 180,
            source: Speaker::Espeak(voice("en-us+f2", 160, 70), halting.clone()),
            target: Speaker::Espeak(voice("en-gb-x-rp", 135, 45), calm.clone()),
            target_noise: Noise::None,
            target_reverb_s: 0.0,
            split: Split::HeldOut,
        },
        CaseSpec {
            name: "us -> us-nyc, 29.97",
            words: 40,
            fps: r(30000, 1001),
            width: 320,
            height: 180,
            source: Speaker::Espeak(voice("en-us", 170, 50), Pacing { seed: 4, ..calm }),
            target: Speaker::Espeak(voice("en-us-nyc", 150, 30), Pacing { seed: 5, ..halting }),
            target_noise: Noise::None,
            target_reverb_s: 0.0,
            split: Split::HeldOut,
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
            source: Speaker::Espeak(voice("en-us", 150, 40), calm.clone()),
            target: Speaker::Espeak(
                voice("en+whisper", 140, 50),
                Pacing {
                    seed: 13,
                    ..calm.clone()
                },
            ),
            target_noise: Noise::None,
            target_reverb_s: 0.0,
            split: Split::Tuning,
        },
        CaseSpec {
            name: "us -> gb, long pauses",
            words: 40,
            fps: r(24, 1),
            width: 320,
            height: 180,
            source: Speaker::Espeak(voice("en-us", 165, 50), calm.clone()),
            target: Speaker::Espeak(voice("en-gb-x-rp", 150, 45), long_pauses),
            target_noise: Noise::None,
            target_reverb_s: 0.0,
            split: Split::HeldOut,
        },
        CaseSpec {
            name: "us -> f3, music+noise",
            words: 40,
            fps: r(30, 1),
            width: 320,
            height: 180,
            source: Speaker::Espeak(voice("en-us", 150, 50), calm.clone()),
            target: Speaker::Espeak(voice("en+f3", 170, 60), Pacing { seed: 14, ..calm }),
            target_noise: Noise::Level(0.25),
            target_reverb_s: 0.0,
            split: Split::Tuning,
        },
    ]
}

/// Connected speech from flite in other voices, with the truth phone by
/// phone: long words, the pace changing inside sentences, reverberation,
/// music and noise at set levels under the speech, one clip past a minute.
pub fn voice_cases() -> Vec<CaseSpec> {
    let flite = |voice, stretch, seed| {
        Speaker::Flite(Flite {
            voice,
            stretch,
            phrase_pause: 0.08,
            sentence_pause: 0.5,
            seed,
        })
    };
    let r = |n, d| Rational { num: n, den: d };
    let case = |name, fps, source, target| CaseSpec {
        name,
        words: 45,
        fps,
        width: 320,
        height: 180,
        source,
        target,
        target_noise: Noise::None,
        target_reverb_s: 0.0,
        split: Split::Tuning,
    };
    vec![
        case(
            "rms -> slt, long words",
            r(24, 1),
            flite("rms", (0.9, 1.2), 21),
            flite("slt", (0.75, 1.35), 22),
        ),
        case(
            "awb -> kal16, pace changes",
            r(25, 1),
            flite("awb", (0.8, 1.1), 23),
            flite("kal16", (0.7, 1.5), 24),
        ),
        CaseSpec {
            target_reverb_s: 0.5,
            ..case(
                "slt -> rms, reverb",
                r(30, 1),
                flite("slt", (0.9, 1.1), 25),
                flite("rms", (0.8, 1.3), 26),
            )
        },
        CaseSpec {
            target_noise: Noise::SnrDb(10.0),
            ..case(
                "kal16 -> slt, music 10 dB",
                r(30000, 1001),
                flite("kal16", (0.9, 1.2), 27),
                flite("slt", (0.8, 1.3), 28),
            )
        },
        CaseSpec {
            split: Split::HeldOut,
            ..case(
                "slt -> awb, pace changes",
                r(24, 1),
                flite("slt", (0.7, 1.4), 31),
                flite("awb", (0.85, 1.2), 32),
            )
        },
        CaseSpec {
            words: 160,
            split: Split::HeldOut,
            ..case(
                "rms -> kal16, 70 s",
                r(30, 1),
                flite("rms", (0.85, 1.15), 33),
                flite("kal16", (0.75, 1.35), 34),
            )
        },
        CaseSpec {
            target_noise: Noise::SnrDb(0.0),
            split: Split::HeldOut,
            ..case(
                "awb -> slt, music 0 dB",
                r(25, 1),
                flite("awb", (0.9, 1.2), 35),
                flite("slt", (0.8, 1.3), 36),
            )
        },
        CaseSpec {
            target_noise: Noise::SnrDb(10.0),
            target_reverb_s: 0.4,
            split: Split::HeldOut,
            ..case(
                "kal16 -> rms, reverb, music 10 dB",
                r(30000, 1001),
                flite("kal16", (0.85, 1.2), 37),
                flite("rms", (0.8, 1.3), 38),
            )
        },
    ]
}

/// Every benchmark case: the foundation's, the hard ones, the other voices.
pub fn all_cases() -> Vec<CaseSpec> {
    let mut all = cases();
    all.extend(hard_cases());
    all.extend(voice_cases());
    all
}
