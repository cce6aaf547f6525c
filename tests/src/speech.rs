//! Speech with known times: espeak-ng one word at a time (word times), or
//! flite a phrase at a time (connected speech, with every phone's times).

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
    /// (start, end) in seconds of each word (espeak-ng) or phrase (flite).
    pub words: Vec<(f64, f64)>,
    /// Every phone, where the synthesiser says it; pauses are left out.
    pub phones: Vec<Phone>,
}

/// A phone and where it sounds, in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Phone {
    pub label: String,
    pub start: f64,
    pub end: f64,
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

    /// The samples at 16 kHz, as floats (linear interpolation: plenty for
    /// speech analysis; the pipeline itself resamples with ffmpeg).
    pub fn to_16k(&self) -> Vec<f32> {
        let step = self.rate as f64 / 16_000.0;
        let n = (self.samples.len() as f64 / step) as usize;
        (0..n)
            .map(|i| {
                let x = i as f64 * step;
                let (k, f) = (x as usize, x.fract());
                let a = self.samples[k] as f64;
                let b = *self.samples.get(k + 1).unwrap_or(&self.samples[k]) as f64;
                ((a + (b - a) * f) / 32768.0) as f32
            })
            .collect()
    }

    /// Root-mean-square level over the words (or phrases).
    pub fn speech_rms(&self) -> f64 {
        let (mut sum, mut count) = (0.0, 0usize);
        for &(a, b) in &self.words {
            let span = (a * self.rate as f64) as usize..(b * self.rate as f64) as usize;
            for &v in &self.samples[span.start..span.end.min(self.samples.len())] {
                sum += (v as f64).powi(2);
                count += 1;
            }
        }
        (sum / count.max(1) as f64).sqrt()
    }

    /// Room reverberation: the direct sound plus echoes dying away by 60 dB
    /// over `rt60` seconds (sparse random taps, seeded), at the same peak.
    /// The direct sound is undelayed, so the word times still hold.
    pub fn reverb(&mut self, rt60: f64, seed: u64) {
        const TAPS: usize = 400;
        let r = sequence(seed, 2 * TAPS);
        let rate = self.rate as f64;
        let taps: Vec<(usize, f64)> = (0..TAPS)
            .map(|k| {
                let delay = 0.003 + r[2 * k] * rt60;
                let sign = if r[2 * k + 1] < 0.5 { -1.0 } else { 1.0 };
                (
                    (delay * rate) as usize,
                    sign * 0.15 * 10f64.powf(-3.0 * delay / rt60),
                )
            })
            .collect();
        let dry: Vec<f64> = self.samples.iter().map(|&v| v as f64).collect();
        let wet: Vec<f64> = (0..dry.len())
            .map(|i| {
                let echoes: f64 = taps
                    .iter()
                    .filter(|&&(d, _)| d <= i)
                    .map(|&(d, a)| a * dry[i - d])
                    .sum();
                dry[i] + echoes
            })
            .collect();
        let peak = |v: &[f64]| v.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        let gain = peak(&dry) / peak(&wet);
        for (s, w) in self.samples.iter_mut().zip(wet) {
            *s = (w * gain).round() as i16;
        }
    }

    /// Mix in a signal (e.g. noise) at `gain`.
    pub fn add(&mut self, other: impl Fn(usize) -> f64) {
        for (i, s) in self.samples.iter_mut().enumerate() {
            *s = (*s as f64 + other(i)).clamp(-32768.0, 32767.0) as i16;
        }
    }
}

/// One word from espeak-ng, trimmed to where it is audible, and its phones
/// there (none if the library's sound is not as long as the command line's).
fn say(word: &str, voice: &Voice) -> (Vec<i16>, u32, Vec<Phone>) {
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
    let (heard, phones) = crate::espeak::phones(word, voice);
    let (offset, end) = (
        first as f64 / rate as f64,
        (last + 1 - first) as f64 / rate as f64,
    );
    // The library carries some state from word to word (its sound can
    // differ from the command line's in the last bits, and a repeated
    // word came out 40 ms longer): its times hold only where the lengths
    // agree within a millisecond.
    let phones = if heard.len().abs_diff(samples.len()) <= rate as usize / 1000 {
        phones
            .into_iter()
            .map(|p| Phone {
                start: (p.start - offset).clamp(0.0, end),
                end: (p.end - offset).clamp(0.0, end),
                ..p
            })
            .filter(|p| p.end > p.start)
            .collect()
    } else {
        Vec::new()
    };
    (samples[first..=last].to_vec(), rate, phones)
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
    let mut phones = Vec::new();
    let mut rate = 22_050;
    for (word, pause) in words.iter().zip(pauses) {
        let (w, r, word_phones) = say(word, voice);
        rate = r;
        samples.extend(std::iter::repeat_n(
            0i16,
            (pause * r as f64).round() as usize,
        ));
        let start = samples.len() as f64 / r as f64;
        samples.extend_from_slice(&w);
        times.push((start, samples.len() as f64 / r as f64));
        phones.extend(word_phones.into_iter().map(|p| Phone {
            start: p.start + start,
            end: p.end + start,
            ..p
        }));
    }
    samples.extend(std::iter::repeat_n(
        0i16,
        (tail * rate as f64).round() as usize,
    ));
    Speech {
        rate,
        samples,
        words: times,
        phones,
    }
}

/// One phrase from flite with `voice` at `stretch` times its usual
/// duration: the samples from the first phone to the last (flite's own
/// lead-in and tail pauses dropped) and the phones' times in them.
fn say_flite(phrase: &str, voice: &str, stretch: f64) -> (Vec<i16>, u32, Vec<Phone>) {
    let wav = tempfile::NamedTempFile::new().expect("temp file");
    let out = Command::new("flite")
        .args(["-voice", voice, "--setf"])
        .arg(format!("duration_stretch={stretch}"))
        .args(["-psdur", "-t", phrase, "-o"])
        .arg(wav.path())
        .output()
        .expect("flite must be installed (apt-get install flite)");
    assert!(out.status.success(), "flite failed for {phrase:?}");
    let mut reader = hound::WavReader::open(wav.path()).expect("flite wrote a WAV");
    let rate = reader.spec().sample_rate;
    let samples: Vec<i16> = reader.samples::<i16>().map_while(Result::ok).collect();
    // "-psdur" prints "phone:end" for every phone, pauses ("pau") included.
    let mut phones = Vec::new();
    let mut start = 0.0;
    for item in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let Some((label, end)) = item.split_once(':') else {
            continue;
        };
        let end: f64 = end.parse().expect("flite phone end time");
        if label != "pau" {
            phones.push(Phone {
                label: label.to_string(),
                start,
                end,
            });
        }
        start = end;
    }
    let (first, last) = (phones[0].start, phones[phones.len() - 1].end);
    let at = |t: f64| ((t * rate as f64).round() as usize).min(samples.len());
    for p in &mut phones {
        p.start -= first;
        p.end -= first;
    }
    (samples[at(first)..at(last)].to_vec(), rate, phones)
}

/// Speak `phrases` with flite's `voice` (connected speech inside each
/// phrase), phrase k at `stretches[k]` times the voice's pace after
/// `pauses[k]` seconds of silence, and `tail` after the last.
pub fn speak_flite(
    phrases: &[String],
    voice: &str,
    stretches: &[f64],
    pauses: &[f64],
    tail: f64,
) -> Speech {
    let mut speech = Speech {
        rate: 16_000,
        samples: Vec::new(),
        words: Vec::new(),
        phones: Vec::new(),
    };
    for ((phrase, &stretch), &pause) in phrases.iter().zip(stretches).zip(pauses) {
        let (samples, rate, phones) = say_flite(phrase, voice, stretch);
        speech.rate = rate;
        let silence = (pause * rate as f64).round() as usize;
        speech.samples.extend(std::iter::repeat_n(0i16, silence));
        let start = speech.samples.len() as f64 / rate as f64;
        speech.samples.extend_from_slice(&samples);
        speech
            .words
            .push((start, speech.samples.len() as f64 / rate as f64));
        speech.phones.extend(phones.into_iter().map(|p| Phone {
            start: p.start + start,
            end: p.end + start,
            ..p
        }));
    }
    let tail = (tail * speech.rate as f64).round() as usize;
    speech.samples.extend(std::iter::repeat_n(0i16, tail));
    speech
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

/// Sentences rich in long words of several syllables, whose second halves
/// are where a straight line through the word goes wrong.
pub const LONG_WORDS: &[&str] = &[
    "the temperature at the museum was extraordinary that afternoon",
    "nobody noticed the photographer sleeping beside the enormous painting",
    "our neighbours celebrated their anniversary with unbelievable enthusiasm",
    "the university library opens early on saturday mornings",
    "a mysterious melody echoed through the abandoned cathedral",
    "please remember to water the vegetables every evening",
    "the government announced a comprehensive investigation yesterday",
    "several butterflies appeared above the beautiful meadow",
];

/// The first `count` words of the sentences (cycling), and whether each starts a sentence.
pub fn script(count: usize) -> (Vec<&'static str>, Vec<bool>) {
    script_of(SENTENCES, count)
}

/// [`script`] over other sentences.
pub fn script_of(sentences: &[&'static str], count: usize) -> (Vec<&'static str>, Vec<bool>) {
    let mut words = Vec::new();
    let mut starts = Vec::new();
    for sentence in sentences.iter().cycle() {
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
