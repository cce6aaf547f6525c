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
    let cancel = opts.cancel.clone();
    params.set_abort_callback_safe(move || cancel.is_cancelled());

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
        duration: samples.len() as f64 / 16_000.0,
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
        assert_eq!((w[0].start, w[0].end), (0.0, 0.6));
        // The late punctuation time (1.5) is ignored; the next word starts where "terday" ended.
        assert_eq!((w[1].start, w[1].end), (0.6, 0.9));
        assert_eq!((w[2].start, w[2].end), (0.9, 1.4));
    }
}
