//! The `analyze` stage.

use crate::words::word_anchors;
use crate::{align, check_speech, AlignError, AlignOptions, AlignResult, Sound, STATE_FRAMES};
use serde_json::json;
use vantage_core::warp::format_timecodes_v2;
use vantage_core::{
    Alignment, Confidence, Knot, ParamKind, ParamSpec, Params, Port, PortType, Ports, Stage,
    StageContext, StageError, States, Transcript, Warp, WordMatch,
};
use vantage_dsp::features::{Features, Mfcc, HOP_S, VOCAL_TRACT_WARPS};
use vantage_media::{frame_times, probe, read_wav_blocks, AUDIO_RATE};

pub struct Analyze;

/// Samples of silence to put before the source's audio (negative: to drop
/// from its start) so that it sits on the picture's clock, for audio that
/// starts `offset_s` after the first frame. An offset past the picture's
/// `picture_s` or the audio's own `audio_s` is a broken timestamp (a
/// wrapped or bogus start time), refused before it can ask for hours of
/// silence.
fn picture_shift(offset_s: f64, picture_s: f64, audio_s: f64) -> Result<i64, StageError> {
    let limit = if offset_s >= 0.0 { picture_s } else { audio_s };
    if !offset_s.is_finite() || offset_s.abs() > limit {
        return Err(StageError::InvalidInput(format!(
            "the source's audio starts {:.1} s {} its picture, past the {:.1} s of {}: its start times are broken; rewrite them (ffmpeg -i IN -c copy OUT.mp4) and try again",
            offset_s.abs(),
            if offset_s >= 0.0 { "after" } else { "before" },
            limit,
            if offset_s >= 0.0 { "the picture" } else { "the audio" },
        )));
    }
    Ok((offset_s * AUDIO_RATE as f64).round() as i64)
}

/// The features of the 16 kHz mono WAV at input `port` (and at the
/// frequency scalings `warps`), read a block at a time, after `shift`
/// samples of silence (negative: with that many of its first samples
/// dropped); and its length then, in seconds.
fn read_speech(
    ctx: &StageContext,
    port: &str,
    shift: i64,
    warps: &[f32],
) -> Result<(Features, f64), StageError> {
    let path = ctx.input(port)?;
    let mut mfcc = Mfcc::warped(warps);
    let zeros = vec![0f32; AUDIO_RATE as usize];
    let mut pad = shift.max(0) as usize;
    while pad > 0 {
        let n = pad.min(zeros.len());
        mfcc.push(&zeros[..n]);
        pad -= n;
    }
    let mut skip = shift.min(0).unsigned_abs() as usize;
    let rate = read_wav_blocks(path, |block| {
        let dropped = skip.min(block.len());
        skip -= dropped;
        mfcc.push(&block[dropped..]);
    })?;
    if rate != AUDIO_RATE {
        return Err(StageError::InvalidInput(format!(
            "input '{port}' ({}) is {rate} Hz; analyze needs {AUDIO_RATE} Hz mono WAV (run it through extract-audio)",
            path.display()
        )));
    }
    let seconds = mfcc.samples() as f64 / AUDIO_RATE as f64;
    Ok((mfcc.finish(), seconds))
}

/// Encoder states, a row each.
type Rows = Vec<Vec<f32>>;

/// Seconds between two encoder states, as the alignment reads them.
const STATES_HOP_S: f64 = HOP_S * STATE_FRAMES as f64;

/// The encoder states at input `port`, checked.
fn read_states(ctx: &StageContext, port: &str) -> Result<Rows, StageError> {
    let path = ctx.input(port)?;
    let states = States::read(path).map_err(|e| {
        StageError::InvalidInput(format!(
            "input '{port}': {e} (it comes from a transcribe stage)"
        ))
    })?;
    if (states.hop_s - STATES_HOP_S).abs() > 1e-6 {
        return Err(StageError::InvalidInput(format!(
            "input '{port}' has encoder states every {} s; analyze compares them every {STATES_HOP_S} s",
            states.hop_s
        )));
    }
    Ok(states.rows)
}

/// Both sides' encoder states, or neither.
fn read_both_states(ctx: &StageContext) -> Result<Option<(Rows, Rows)>, StageError> {
    match (
        ctx.optional_input("source-states"),
        ctx.optional_input("target-states"),
    ) {
        (Some(_), Some(_)) => {
            let source = read_states(ctx, "source-states")?;
            let target = read_states(ctx, "target-states")?;
            let width = |rows: &[Vec<f32>]| rows.first().map(Vec::len);
            if let (Some(a), Some(b)) = (width(&source), width(&target)) {
                if a != b {
                    return Err(StageError::InvalidInput(format!(
                        "source-states and target-states come from different Whisper models ({a} and {b} wide): give both transcribe stages the same model"
                    )));
                }
            }
            Ok(Some((source, target)))
        }
        (None, None) => Ok(None),
        _ => Err(StageError::InvalidInput(
            "analyze needs both source-states and target-states, or neither".into(),
        )),
    }
}

/// `rows`, the states of input `port`, checked against the `seconds` of
/// its audio.
fn states_of(rows: Rows, seconds: f64, port: &str) -> Result<Rows, StageError> {
    let covered = rows.len() as f64 * STATES_HOP_S;
    if !rows.is_empty() && (covered - seconds).abs() > 0.1 {
        return Err(StageError::InvalidInput(format!(
            "input '{port}' covers {covered:.2} s but its audio lasts {seconds:.2} s: they are of different audio; give analyze the states of the transcribe stage that heard the same audio"
        )));
    }
    Ok(rows)
}

/// `rows` after `shift` samples of silence (negative: with that many
/// dropped), like the samples, to the nearest state (20 ms).
fn shift_states(mut rows: Rows, shift: i64) -> Rows {
    let by = (shift as f64 / (AUDIO_RATE as f64 * STATES_HOP_S)).round() as i64;
    if by < 0 {
        rows.drain(..(by.unsigned_abs() as usize).min(rows.len()));
    } else if let Some(first) = rows.first().cloned() {
        // Silence there: the voice activity keeps it out of the comparison.
        rows.splice(0..0, std::iter::repeat_n(first, by as usize));
    }
    rows
}

/// A warning when the source's picture stops well before its sound does
/// (times on the picture's clock): past its end the output can only hold
/// the last frame.
fn picture_ends_early(audio_s: f64, picture_s: f64) -> Option<String> {
    (audio_s - picture_s > 0.5).then(|| {
        format!(
            "the source's picture stops at {picture_s:.2} s but its sound runs to {audio_s:.2} s: \
             the output holds the last frame over the speech after that"
        )
    })
}

const WORDS_CHOICES: &[&str] = &["anchor", "check", "off"];
const MISMATCH_CHOICES: &[&str] = &["fail", "acoustic", "linear"];

/// Why the two transcripts do not say the same thing, if they do not.
fn different_content(
    source: &Transcript,
    target: &Transcript,
    report: &WordMatch,
    min_match: f64,
) -> Option<String> {
    let known = |l: &str| l != "unknown" && !l.is_empty();
    if known(&source.language) && known(&target.language) && source.language != target.language {
        return Some(format!(
            "the source speaks '{}' and the target '{}'",
            source.language, target.language
        ));
    }
    let quote = |t: &Transcript| {
        let words: Vec<&str> = t.words.iter().take(8).map(|w| w.text.as_str()).collect();
        let more = if t.words.len() > 8 { " ..." } else { "" };
        format!("\"{}{more}\"", words.join(" "))
    };
    let most = report.source_words.max(report.target_words);
    if most >= 4 && report.match_ratio < min_match {
        return Some(format!(
            "the source and target do not say the same thing: {} of {} words match ({:.0}%, at least {:.0}% expected); the source says {}, the target says {}",
            report.matched,
            most,
            report.match_ratio * 100.0,
            min_match * 100.0,
            quote(source),
            quote(target)
        ));
    }
    None
}

/// The documented fallback for different content: an even stretch, flagged.
fn linear(
    source_duration: f64,
    target_duration: f64,
    report: WordMatch,
    reason: &str,
) -> Result<AlignResult, StageError> {
    let warp = Warp::new(vec![
        Knot {
            source: 0.0,
            target: 0.0,
        },
        Knot {
            source: source_duration,
            target: target_duration,
        },
    ])
    .map_err(|e| StageError::internal(e.to_string()))?;
    Ok(AlignResult {
        warp,
        confidence: Confidence {
            score: 0.0,
            path_cost: 0.0,
            chance_cost: 0.0,
            plausible_rate_share: 1.0,
            source_speech_s: 0.0,
            target_speech_s: 0.0,
            words: Some(report),
            warnings: vec![format!(
                "{reason}; the picture was stretched evenly (on_mismatch=linear), not aligned to the words"
            )],
        },
        anchors_used: 0,
    })
}

impl Stage for Analyze {
    fn kind(&self) -> &'static str {
        "analyze"
    }
    fn version(&self) -> u32 {
        6
    }
    fn describe(&self) -> &'static str {
        "align source speech to target speech (DTW on MFCCs and Whisper's encoder states, anchored on the words both transcripts share); writes the warp and timecodes v2"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(
                "max_length_ratio",
                ParamKind::Float {
                    min: 1.1,
                    max: 10.0,
                },
                json!(3.0),
                "refuse to align when one side speaks this many times longer than the other",
            ),
            ParamSpec::new(
                "smoothing_ms",
                ParamKind::Float {
                    min: 10.0,
                    max: 500.0,
                },
                json!(50.0),
                "half-width of the smoothing of the aligned path that the picture follows inside words",
            ),
            ParamSpec::new(
                "follow_ms",
                ParamKind::Float { min: 1.0, max: 1000.0 },
                json!(10.0),
                "between word edges the picture moves at a constant rate unless the aligned path strays from that line by more than this (syllables timed differently)",
            ),
            ParamSpec::new(
                "states_weight",
                ParamKind::Float { min: 0.0, max: 100.0 },
                json!(AlignOptions::default().states_weight),
                "with encoder states (from the transcribe stages): how much their distance counts against the cepstral one; 0 aligns on the cepstra alone",
            ),
            ParamSpec::new(
                "words",
                ParamKind::Choice(WORDS_CHOICES),
                json!("anchor"),
                "with transcripts: anchor (matched words guide the alignment, and different words are caught), check (only catch different words), off (ignore the transcripts)",
            ),
            ParamSpec::new(
                "min_word_match",
                ParamKind::Float { min: 0.0, max: 1.0 },
                json!(0.4),
                "with transcripts: below this share of matching (same or similar) words, source and target are judged to say different things",
            ),
            ParamSpec::new(
                "on_mismatch",
                ParamKind::Choice(MISMATCH_CHOICES),
                json!("fail"),
                "when the transcripts say different things: fail (the default), acoustic (align the sounds anyway, flagged low-confidence), linear (stretch the picture evenly)",
            ),
        ]
    }
    fn ports(&self, _: &Params) -> Ports {
        Ports {
            inputs: vec![
                Port::required("source", PortType::Wav),
                Port::required("target", PortType::Wav),
                Port::required("video", PortType::Video),
                Port::optional("source-words", PortType::Transcript),
                Port::optional("target-words", PortType::Transcript),
                Port::optional("source-states", PortType::States),
                Port::optional("target-states", PortType::States),
            ],
            outputs: vec![
                Port::required("alignment", PortType::Alignment),
                Port::required("timecodes", PortType::Timecodes),
            ],
        }
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let states = read_both_states(ctx)?;
        let video_path = ctx.input("video")?;
        let info = probe(video_path)?;
        let stream = info.require_video(video_path)?;
        let video = frame_times(video_path, stream, &ctx.cancel)?;
        // Put the source speech on the picture's clock: frame times count from
        // the first frame, the extracted audio from the first audio sample.
        let (offset, audio_s) = info
            .audio
            .as_ref()
            .map_or((0.0, 0.0), |a| (a.start - stream.start, a.duration));
        let shift = picture_shift(offset, video.duration, audio_s)?;
        let (source, source_s) = read_speech(ctx, "source", shift, &[])?;
        // The target also at other vocal tract lengths: the alignment
        // keeps the one that matches the source's voice best.
        let (target, target_duration) = read_speech(ctx, "target", 0, &VOCAL_TRACT_WARPS)?;
        if target_duration <= 0.0 {
            return Err(StageError::InvalidInput(
                "the target audio is empty (zero length)".into(),
            ));
        }
        let states = match states {
            Some((source, target)) => Some((
                states_of(shift_states(source, shift), source_s, "source-states")?,
                states_of(target, target_duration, "target-states")?,
            )),
            None => None,
        };
        let use_words = ctx.param_str("words")?;
        let words = match (
            ctx.optional_input("source-words"),
            ctx.optional_input("target-words"),
        ) {
            _ if use_words == "off" => None,
            (Some(_), Some(_)) => {
                let (mut s, t): (Transcript, Transcript) = (
                    ctx.read_json("source-words")?,
                    ctx.read_json("target-words")?,
                );
                // Source words onto the picture's clock, like the source samples.
                for w in &mut s.words {
                    w.start += offset;
                    w.end += offset;
                }
                let (anchors, report) = word_anchors(&s, &t);
                // Whisper hearing nothing on one side (music or noise as
                // loud as the voice) says nothing of the content: the VAD
                // has found speech there, so align on the sound.
                let unheard = [(&s, "source"), (&t, "target")]
                    .into_iter()
                    .find(|(t, _)| t.words.is_empty())
                    .map(|(_, which)| which);
                let mismatch = match unheard {
                    Some(_) => None,
                    None => different_content(&s, &t, &report, ctx.param_f64("min_word_match")?),
                };
                Some((anchors, report, mismatch, unheard))
            }
            (None, None) => None,
            _ => {
                return Err(StageError::InvalidInput(
                    "analyze needs both source-words and target-words, or neither".into(),
                ))
            }
        };
        let fallback = ctx.param_str("on_mismatch")?;
        let mut opts = AlignOptions {
            max_length_ratio: ctx.param_f64("max_length_ratio")?,
            smoothing_s: ctx.param_f64("smoothing_ms")? / 1000.0,
            follow_s: ctx.param_f64("follow_ms")? / 1000.0,
            anchors: Vec::new(),
            states_weight: ctx.param_f64("states_weight")?,
            cancel: ctx.cancel.clone(),
        };
        ctx.report(0.1, "aligning speech");
        let to_stage_error = |e: AlignError| match e {
            AlignError::Warp(_) => StageError::internal(e.to_string()),
            AlignError::Cancelled => StageError::Cancelled,
            _ => StageError::InvalidInput(e.to_string()),
        };
        // Silence on one side, or lengths no pace explains, are the clearer
        // diagnosis when the words differ too (cheap: voice activity).
        let speech_check = matches!(words, Some((_, _, Some(_), _)))
            .then(|| check_speech(&source, &target, opts.max_length_ratio));
        // The features move into the alignment, which keeps only their speech.
        let (source_states, target_states) = states.unwrap_or_default();
        let source = Sound {
            features: source,
            states: source_states,
        };
        let target = Sound {
            features: target,
            states: target_states,
        };
        let run_align = move |opts: &AlignOptions| {
            align(source, target, video.duration, target_duration, opts).map_err(to_stage_error)
        };
        let unheard = words.as_ref().and_then(|w| w.3);
        let mut result = match words {
            None => run_align(&opts)?,
            Some((anchors, report, None, _)) => {
                if use_words == "anchor" {
                    opts.anchors = anchors;
                }
                let mut r = run_align(&opts)?;
                r.confidence.words = Some(report);
                r
            }
            Some((_, report, Some(reason), _)) => {
                speech_check.transpose().map_err(to_stage_error)?;
                match fallback {
                "acoustic" => {
                    let mut r = run_align(&opts)?;
                    r.confidence.score = r.confidence.score.min(report.match_ratio);
                    r.confidence.warnings.insert(0, format!("{reason}; aligned on sound alone (on_mismatch=acoustic): check the result"));
                    r.confidence.words = Some(report);
                    r
                }
                "linear" => linear(video.duration, target_duration, report, &reason)?,
                _ => {
                    return Err(StageError::DifferentContent {
                        message: format!("{reason}. Source and target must say the same words for a word-accurate re-timing"),
                        param: "on_mismatch",
                        choices: &["acoustic", "linear"],
                    })
                }
                }
            }
        };
        result
            .confidence
            .warnings
            .extend(picture_ends_early(source_s, video.duration));
        if let Some(which) = unheard {
            result.confidence.warnings.push(format!(
                "Whisper heard no words in the {which} (music or noise over the voice?): the words could not be compared, and the alignment is on the sound alone"
            ));
        }
        for w in &result.confidence.warnings {
            tracing::warn!(stage = %ctx.stage_name, "{w}");
        }
        let timecodes = result.warp.timecodes_ms(&video.frame_times);
        let alignment = Alignment {
            warp: result.warp,
            source_duration: video.duration,
            target_duration,
            video,
            confidence: result.confidence,
            anchors_used: result.anchors_used,
        };
        ctx.write_json("alignment", &alignment)?;
        let path = ctx.output("timecodes")?;
        std::fs::write(path, format_timecodes_v2(&timecodes))
            .map_err(StageError::io(format!("writing {}", path.display())))?;
        ctx.report(
            1.0,
            &format!("confidence {:.2}", alignment.confidence.score),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{picture_shift, shift_states};

    #[test]
    fn states_move_with_the_samples_onto_the_pictures_clock() {
        let rows: Vec<Vec<f32>> = (0..5).map(|k| vec![k as f32]).collect();
        let firsts = |rows: Vec<Vec<f32>>| -> Vec<f32> { rows.iter().map(|r| r[0]).collect() };
        // 40 ms of silence before the audio: two states more, in front.
        assert_eq!(
            firsts(shift_states(rows.clone(), 640)),
            [0., 0., 0., 1., 2., 3., 4.]
        );
        // 20 ms of audio dropped; 25 ms rounds to one state (20 ms) too.
        assert_eq!(firsts(shift_states(rows.clone(), -320)), [1., 2., 3., 4.]);
        assert_eq!(firsts(shift_states(rows.clone(), -400)), [1., 2., 3., 4.]);
        assert!(shift_states(rows, -32_000).is_empty());
    }

    #[test]
    fn audio_offsets_shift_within_bounds_and_broken_ones_are_refused() {
        assert_eq!(picture_shift(0.25, 10.0, 1.0).unwrap(), 4000);
        assert_eq!(picture_shift(-0.5, 10.0, 1.0).unwrap(), -8000);
        // A wrapped start time (about 13 hours) asks for no silence.
        let err = picture_shift(47721.9, 10.0, 1.0).unwrap_err();
        assert!(err.to_string().contains("start times are broken"), "{err}");
        assert!(picture_shift(-2.0, 10.0, 1.0).is_err());
        assert!(picture_shift(f64::NAN, 10.0, 1.0).is_err());
    }
}
