//! Speech with known word times, from espeak-ng one word at a time.

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

/// How a voice speaks a script.
#[derive(Clone, Debug)]
pub struct Voice {
    /// espeak-ng voice, e.g. "en-us" or "en+f3".
    pub name: &'static str,
    /// Words per minute.
    pub speed: u32,
    /// Pitch 0..99.
    pub pitch: u32,
}

/// Silence before each word, in seconds (the first entry is the lead-in).
pub type Pauses = Vec<f64>;

pub struct Speech {
    pub rate: u32,
    pub samples: Vec<i16>,
    /// (start, end) of each word in seconds.
    pub words: Vec<(f64, f64)>,
}

impl Speech {
    pub fn duration(&self) -> f64 {
        self.samples.len() as f64 / self.rate as f64
    }

    pub fn write_wav(&self, path: &Path) -> std::io::Result<()> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).map_err(std::io::Error::other)?;
        for &s in &self.samples {
            w.write_sample(s).map_err(std::io::Error::other)?;
        }
        w.finalize().map_err(std::io::Error::other)
    }

    /// Mix in a signal (e.g. noise) at `gain`.
    pub fn add(&mut self, other: impl Fn(usize) -> f64) {
        for (i, s) in self.samples.iter_mut().enumerate() {
            *s = (*s as f64 + other(i)).clamp(-32768.0, 32767.0) as i16;
        }
    }
}

/// One word from espeak-ng, trimmed to where it is audible.
fn say(word: &str, voice: &Voice) -> (Vec<i16>, u32) {
    let out = Command::new("espeak-ng")
        .args([
            "-v",
            voice.name,
            "-s",
            &voice.speed.to_string(),
            "-p",
            &voice.pitch.to_string(),
            "--stdout",
            word,
        ])
        .output()
        .expect("espeak-ng must be installed (apt-get install espeak-ng)");
    assert!(out.status.success(), "espeak-ng failed for {word:?}");
    let mut reader = hound::WavReader::new(Cursor::new(out.stdout)).expect("espeak-ng wrote a WAV");
    let rate = reader.spec().sample_rate;
    // Piped WAVs carry a placeholder length: read until the data actually ends.
    let samples: Vec<i16> = reader.samples::<i16>().map_while(Result::ok).collect();
    let peak = samples
        .iter()
        .map(|s| s.unsigned_abs())
        .max()
        .unwrap_or(0)
        .max(1);
    let threshold = peak / 50;
    let first = samples
        .iter()
        .position(|s| s.unsigned_abs() > threshold)
        .unwrap_or(0);
    let last = samples
        .iter()
        .rposition(|s| s.unsigned_abs() > threshold)
        .unwrap_or(samples.len() - 1);
    (samples[first..=last].to_vec(), rate)
}

/// Speak each sentence whole (natural prosody), `pause` seconds apart;
/// `words` holds each sentence's (start, end).
pub fn speak_sentences(sentences: &[&str], voice: &Voice, pause: f64) -> Speech {
    let pauses = vec![pause; sentences.len()];
    speak(sentences, voice, &pauses, pause)
}

/// Speak `words` with `voice`, inserting `pauses[k]` seconds before word k and `tail` after the last.
pub fn speak(words: &[&str], voice: &Voice, pauses: &[f64], tail: f64) -> Speech {
    assert_eq!(words.len(), pauses.len());
    let mut samples = Vec::new();
    let mut times = Vec::new();
    let mut rate = 22_050;
    for (word, pause) in words.iter().zip(pauses) {
        let (w, r) = say(word, voice);
        rate = r;
        samples.extend(std::iter::repeat_n(
            0i16,
            (pause * r as f64).round() as usize,
        ));
        let start = samples.len() as f64 / r as f64;
        samples.extend_from_slice(&w);
        times.push((start, samples.len() as f64 / r as f64));
    }
    samples.extend(std::iter::repeat_n(
        0i16,
        (tail * rate as f64).round() as usize,
    ));
    Speech {
        rate,
        samples,
        words: times,
    }
}

/// A deterministic pseudo-random sequence in 0..1 (xorshift), for pause patterns.
pub fn sequence(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// Sentences for the scripts (sentence breaks get longer pauses).
pub const SENTENCES: &[&str] = &[
    "the quick brown fox jumps over the lazy dog",
    "every morning we walk along the river to the old mill",
    "she sells bright shells by the sandy shore",
    "a gentle breeze carried the smell of fresh bread",
    "our captain checked the maps before the long journey",
    "please remember to close the window when it rains",
    "seven purple birds landed quietly on the fence",
    "music filled the hall as the dancers took their places",
];

/// The first `count` words of the sentences (cycling), and whether each starts a sentence.
pub fn script(count: usize) -> (Vec<&'static str>, Vec<bool>) {
    let mut words = Vec::new();
    let mut starts = Vec::new();
    for sentence in SENTENCES.iter().cycle() {
        for (i, w) in sentence.split(' ').enumerate() {
            if words.len() == count {
                return (words, starts);
            }
            words.push(w);
            starts.push(i == 0);
        }
    }
    (words, starts)
}
