//! Running Whisper and turning its tokens into timed words.

use crate::{Model, TranscribeError};
use vantage_core::{CancelToken, Transcript, TranscriptSegment, Word};
use whisper_rs::{FullParams, SamplingStrategy};

#[derive(Clone, Debug)]
pub struct Options {
    /// A language code, or `None` to detect it.
    pub language: Option<String>,
    pub threads: usize,
    /// 1: greedy decoding; more: beam search of that width.
    pub beam_size: usize,
    pub cancel: CancelToken,
}

/// Transcribe 16 kHz mono samples. `name` is recorded in the transcript.
pub fn transcribe(
    model: &Model,
    name: &str,
    samples: &[f32],
    opts: &Options,
) -> Result<Transcript, TranscribeError> {
    let speech = vantage_dsp::voice_activity(samples);
    transcribe_speech(model, name, samples, &speech, opts)
}

/// Silence Whisper gets before and after the speech, seconds: with 0.1 s
/// before the first word, tiny.en missed every word of a 2 s clip.
const MARGIN_S: f64 = 0.5;

/// [`transcribe`] given the samples' voice activity (10 ms flags), where
/// the caller has it already. Whisper hears words in long silence (an
/// hour-long silent tail came back as 1,700 words), so it gets the speech
/// and [`MARGIN_S`] either side, padded with zeros where the file has
/// less; times are of the whole `samples`.
pub fn transcribe_speech(
    model: &Model,
    name: &str,
    samples: &[f32],
    speech: &[bool],
    opts: &Options,
) -> Result<Transcript, TranscribeError> {
    let w = Window::around(speech, samples.len());
    let span = &samples[w.from..w.to];
    // At its peak level: a 5.1 mix folded to mono puts the dialogue 10 dB
    // down, where tiny.en heard none of an AC-3 clip's words.
    let peak = span.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let gain = if peak > 0.0 { PEAK / peak } else { 1.0 };
    let zeros = |n| std::iter::repeat_n(0.0, n);
    let heard: Vec<f32> = zeros(w.lead)
        .chain(span.iter().map(|v| v * gain))
        .chain(zeros(w.tail))
        .collect();
    let mut t = run_whisper(model, name, &heard, opts)?;
    let shift = (w.from as f64 - w.lead as f64) / AUDIO_RATE;
    for w in &mut t.words {
        w.start += shift;
        w.end += shift;
    }
    t.duration = samples.len() as f64 / AUDIO_RATE;
    // A segment may begin in the silence Whisper was given before the file.
    for seg in &mut t.segments {
        seg.start = (seg.start + shift).clamp(0.0, t.duration);
        seg.end = (seg.end + shift).clamp(0.0, t.duration);
    }
    t.words = snap_to_speech(t.words, speech);
    Ok(t)
}

const AUDIO_RATE: f64 = 16_000.0;

/// The level Whisper hears the speech at (of full scale).
const PEAK: f32 = 0.9;

/// What Whisper hears: samples `from..to` (the speech flags' span, 10 ms
/// each, with [`MARGIN_S`] either side), after `lead` and before `tail`
/// zeros that make up the margin where the file has less.
#[derive(Debug, PartialEq)]
struct Window {
    from: usize,
    to: usize,
    lead: usize,
    tail: usize,
}

impl Window {
    fn around(speech: &[bool], len: usize) -> Window {
        let per_flag = vantage_dsp::features::HOP_S * AUDIO_RATE;
        let margin = (MARGIN_S * AUDIO_RATE) as usize;
        let first = speech.iter().position(|&s| s).unwrap_or(0);
        let last = speech
            .iter()
            .rposition(|&s| s)
            .map_or(speech.len(), |l| l + 1);
        let start = ((first as f64 * per_flag) as usize).min(len);
        let end = ((last as f64 * per_flag) as usize).clamp(start, len);
        let (from, to) = (start.saturating_sub(margin), (end + margin).min(len));
        Window {
            from,
            to,
            lead: margin - (start - from),
            tail: margin - (to - end),
        }
    }
}

/// Whisper over `samples`; the words are not yet snapped to speech.
fn run_whisper(
    model: &Model,
    name: &str,
    samples: &[f32],
    opts: &Options,
) -> Result<Transcript, TranscribeError> {
    let language = opts.language.as_deref().filter(|l| *l != "auto");
    if model.english_only() && language.is_some_and(|l| l != "en") {
        return Err(TranscribeError::BadOption(format!(
            "the model '{name}' understands English only, but language '{}' was asked for; use a multilingual model (e.g. base) or language en",
            language.unwrap_or_default()
        )));
    }
    if let Some(l) = language {
        if whisper_rs::get_lang_id(l).is_none() {
            return Err(TranscribeError::BadOption(format!(
                "unknown language '{l}'; use a Whisper language code such as en, de, fr, es, ja, or auto"
            )));
        }
    }
    let strategy = if opts.beam_size > 1 {
        SamplingStrategy::BeamSearch {
            beam_size: opts.beam_size as i32,
            patience: -1.0,
        }
    } else {
        SamplingStrategy::Greedy { best_of: 1 }
    };
    let mut params = FullParams::new(strategy);
    params.set_n_threads(opts.threads.max(1) as i32);
    params.set_language(Some(if model.english_only() {
        "en"
    } else {
        language.unwrap_or("auto")
    }));
    params.set_token_timestamps(true);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    params.set_print_timestamps(false);
    // whisper-rs 0.16's `set_abort_callback_safe` hands whisper.cpp a pointer
    // to a boxed trait object but reads it back as the closure itself, so the
    // callback sees garbage and aborts at random ("failed to encode", -6).
    // The raw callback with our own trampoline avoids it.
    unsafe extern "C" fn is_cancelled(token: *mut std::ffi::c_void) -> bool {
        // SAFETY: `token` is `&opts.cancel`, which outlives `state.full` below.
        unsafe { (*(token as *const CancelToken)).is_cancelled() }
    }
    // SAFETY: the pointer stays valid for the whole `full` call (opts is borrowed across it).
    unsafe {
        params.set_abort_callback(Some(is_cancelled));
        params.set_abort_callback_user_data(
            &opts.cancel as *const CancelToken as *mut std::ffi::c_void,
        );
    }

    let mut state = model
        .ctx
        .create_state()
        .map_err(|e| TranscribeError::Whisper(format!("creating a decoder state: {e}")))?;
    let ran = state.full(params, samples);
    if opts.cancel.is_cancelled() {
        return Err(TranscribeError::Cancelled);
    }
    ran.map_err(|e| TranscribeError::Whisper(e.to_string()))?;

    let eot = model.ctx.token_eot();
    let mut segments = Vec::new();
    let mut tokens = Vec::new();
    for seg in state.as_iter() {
        let (start, end) = (
            seg.start_timestamp() as f64 / 100.0,
            seg.end_timestamp() as f64 / 100.0,
        );
        let text = seg
            .to_str_lossy()
            .map(|t| t.trim().to_string())
            .unwrap_or_default();
        segments.push(TranscriptSegment { start, end, text });
        for i in 0..seg.n_tokens() {
            let Some(tok) = seg.get_token(i) else {
                continue;
            };
            if tok.token_id() >= eot {
                continue; // timestamps, language and task markers
            }
            let data = tok.token_data();
            tokens.push(Token {
                bytes: tok.to_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
                probability: data.p as f64,
                dtw_end: (model.dtw && data.t_dtw >= 0).then(|| data.t_dtw as f64 / 100.0),
                start: data.t0 as f64 / 100.0,
                end: data.t1 as f64 / 100.0,
                segment_start: start,
            });
        }
    }
    let detected = state.full_lang_id_from_state();
    let language = if model.english_only() {
        "en".to_string()
    } else {
        whisper_rs::get_lang_str(detected)
            .unwrap_or("unknown")
            .to_string()
    };
    Ok(Transcript {
        model: name.to_string(),
        language,
        duration: samples.len() as f64 / AUDIO_RATE,
        segments,
        words: words(&tokens),
    })
}

/// A text token as decoded.
#[derive(Clone, Debug)]
struct Token {
    bytes: Vec<u8>,
    probability: f64,
    /// End of the token from DTW over the alignment heads.
    dtw_end: Option<f64>,
    /// Timestamp-token estimates (rough).
    start: f64,
    end: f64,
    segment_start: f64,
}

impl Token {
    fn starts_word(&self) -> bool {
        self.bytes.first().is_some_and(|b| b.is_ascii_whitespace())
    }
    fn is_wordlike(&self) -> bool {
        String::from_utf8_lossy(&self.bytes)
            .chars()
            .any(char::is_alphanumeric)
    }
    fn end_time(&self) -> f64 {
        self.dtw_end.unwrap_or(self.end)
    }
}

/// Merge tokens into words. With DTW, a token's time is where it ends, so a
/// word ends at its last spoken token's time and starts where the text token
/// before it ended. Punctuation tokens are kept in the text but not the
/// timing: DTW places them late.
fn words(tokens: &[Token]) -> Vec<Word> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let continues = !groups.is_empty() && !t.starts_word();
        if continues {
            if let Some(g) = groups.last_mut() {
                g.push(i);
            }
        } else {
            groups.push(vec![i]);
        }
    }
    let mut out: Vec<Word> = Vec::new();
    let mut prev_end: Option<f64> = None;
    for g in groups {
        let spoken: Vec<&Token> = g
            .iter()
            .map(|&i| &tokens[i])
            .filter(|t| t.is_wordlike())
            .collect();
        let bytes: Vec<u8> = g
            .iter()
            .flat_map(|&i| tokens[i].bytes.iter().copied())
            .collect();
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        if is_annotation(&text) {
            continue;
        }
        let (Some(first), Some(last)) = (spoken.first(), spoken.last()) else {
            // Punctuation alone: attach it to the previous word's text.
            if let Some(w) = out.last_mut() {
                w.text.push_str(&text);
            }
            continue;
        };
        let end = last.end_time();
        let start = match (first.dtw_end, prev_end) {
            (Some(_), Some(p)) if p >= first.segment_start - 0.5 => p,
            (Some(_), _) => first.segment_start.max(first.start.min(end - 0.1)),
            (None, _) => first.start,
        };
        let start = start.min(end).max(out.last().map_or(0.0, |w| w.start));
        let end = end.max(start);
        let probability = spoken.iter().map(|t| t.probability).sum::<f64>() / spoken.len() as f64;
        prev_end = Some(end);
        out.push(Word {
            text,
            start,
            end,
            probability,
        });
    }
    out
}

/// Whisper's notes about the audio rather than words: `[BLANK_AUDIO]`,
/// `(music)`, `*laughs*`, `♪`.
fn is_annotation(text: &str) -> bool {
    let t = text.trim();
    t.starts_with(['[', '(', '*', '♪']) || t.ends_with([']', ')', '♪'])
}

/// How far a DTW boundary may stray into a neighbouring stretch of speech
/// and still be pulled back to its edge.
const SNAP_S: f64 = 0.15;

/// Move word edges onto the speech they belong to. DTW places the boundary
/// between two words somewhere in the pause between them (early or late by
/// model); voice activity shows where the pause really is. A start in a
/// pause moves to the next onset and an end in a pause to the previous
/// offset; an edge just inside a neighbour's speech (less than [`SNAP_S`])
/// moves back across the pause; an edge just inside its own speech moves out
/// to the speech edge. Inside connected speech nothing changes.
fn snap_to_speech(mut words: Vec<Word>, speech: &[bool]) -> Vec<Word> {
    const HOP: f64 = 0.010;
    let frame = |t: f64| ((t / HOP).round().max(0.0) as usize).min(speech.len().saturating_sub(1));
    let is_speech = |f: usize| speech.get(f).copied().unwrap_or(false);
    // Edges of the speech run around frame f: (first speech frame, one past the last).
    let run = |f: usize| {
        let mut a = f;
        while a > 0 && is_speech(a - 1) {
            a -= 1;
        }
        let mut b = f;
        while b < speech.len() && is_speech(b) {
            b += 1;
        }
        (a, b)
    };
    let next_onset = |f: usize| (f..speech.len()).find(|&g| is_speech(g));
    let prev_offset = |f: usize| (0..=f).rev().find(|&g| is_speech(g)).map(|g| g + 1);
    for w in &mut words {
        let (s, e) = (frame(w.start), frame(w.end));
        let snap = (SNAP_S / HOP) as usize;
        let mut start = s;
        if !is_speech(s) {
            start = next_onset(s).filter(|&g| g < e).unwrap_or(s);
        } else {
            let (a, b) = run(s);
            if b - s < snap && b < e {
                start = next_onset(b).filter(|&g| g < e).unwrap_or(s);
            } else if s - a < snap {
                start = a;
            }
        }
        let mut end = e;
        if e > 0 && !is_speech(e - 1) {
            end = prev_offset(e - 1).filter(|&g| g > start).unwrap_or(e);
        } else if e > 0 {
            let (a, b) = run(e - 1);
            if e - a < snap && a > start {
                end = prev_offset(a.saturating_sub(1))
                    .filter(|&g| g > start)
                    .unwrap_or(e);
            } else if b - e < snap {
                end = b;
            }
        }
        if end > start {
            w.start = start as f64 * HOP;
            w.end = end as f64 * HOP;
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str, dtw_end: f64) -> Token {
        Token {
            bytes: text.as_bytes().to_vec(),
            probability: 0.9,
            dtw_end: Some(dtw_end),
            start: 0.0,
            end: 0.0,
            segment_start: 0.0,
        }
    }

    #[test]
    fn tokens_merge_into_words_with_dtw_boundaries() {
        let toks = [
            tok(" Yes", 0.3),
            tok("terday", 0.6),
            tok(",", 1.5),
            tok(" the", 0.9),
            tok(" fox", 1.4),
            tok(".", 2.5),
        ];
        let w = words(&toks);
        let texts: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["Yesterday,", "the", "fox."]);
        assert!(
            is_annotation("[BLANK_AUDIO]") && is_annotation("(music)") && !is_annotation("fox.")
        );
        assert_eq!((w[0].start, w[0].end), (0.0, 0.6));
        // The late punctuation time (1.5) is ignored; the next word starts where "terday" ended.
        assert_eq!((w[1].start, w[1].end), (0.6, 0.9));
        assert_eq!((w[2].start, w[2].end), (0.9, 1.4));
    }

    fn word(start: f64, end: f64) -> Word {
        Word {
            text: "w".into(),
            start,
            end,
            probability: 1.0,
        }
    }

    #[test]
    fn edges_snap_to_speech_across_pauses_but_not_inside_speech() {
        // Speech 0.50-1.00 and 1.30-1.80 (10 ms frames).
        let speech: Vec<bool> = (0..250)
            .map(|f| (50..100).contains(&f) || (130..180).contains(&f))
            .collect();
        let w = snap_to_speech(vec![word(0.30, 1.35), word(1.35, 2.10)], &speech);
        // First word: the start in the lead-in moves to the onset; the end
        // barely inside the next word moves back across the pause.
        assert!(
            (w[0].start - 0.50).abs() < 1e-9 && (w[0].end - 1.00).abs() < 1e-9,
            "{:?}",
            w[0]
        );
        // Second word: the start just inside its speech moves to the onset; the end in the tail to the offset.
        assert!(
            (w[1].start - 1.30).abs() < 1e-9 && (w[1].end - 1.80).abs() < 1e-9,
            "{:?}",
            w[1]
        );
        // Connected speech: a boundary deep inside a run stays.
        let connected: Vec<bool> = vec![true; 300];
        let w = snap_to_speech(vec![word(0.5, 1.2), word(1.2, 2.0)], &connected);
        assert_eq!((w[0].end, w[1].start), (1.2, 1.2));
    }

    #[test]
    fn the_window_keeps_the_speech_and_a_margin() {
        // 10 s of flags, speech from 2 s to 3 s.
        let speech: Vec<bool> = (0..1000).map(|i| (200..300).contains(&i)).collect();
        let len = 10 * 16_000usize;
        let rate = 16_000usize;
        let window = |from, to, lead, tail| Window {
            from,
            to,
            lead,
            tail,
        };
        assert_eq!(
            Window::around(&speech, len),
            window(rate * 3 / 2, rate * 7 / 2, 0, 0)
        );
        // Speech from 0.2 s to the very end: zeros make up the margins.
        let late: Vec<bool> = (0..1000).map(|i| i >= 20).collect();
        assert_eq!(
            Window::around(&late, len),
            window(0, len, rate * 3 / 10, rate / 2)
        );
    }
}
