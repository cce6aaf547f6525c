//! Voice activity from frame energy, with an adaptive threshold.

/// Frames per second of the analysis.
const FPS: usize = 100;

/// Speech flags per frame. Bursts shorter than 40 ms (clicks) are dropped.
/// Gaps are kept however short: even a 20 ms gap between words is a
/// boundary the alignment can anchor on, and a stop closure inside a word
/// that looks like one costs nothing where both sides have it.
pub fn speech_frames(energy_db: &[f32]) -> Vec<bool> {
    let Some([low, high]) = quantiles(energy_db, [0.05, 0.98]) else {
        return Vec::new();
    };
    // Absolute floor: nothing under -55 dBFS counts as speech.
    let threshold = (low + 0.25 * (high - low)).max(high - 40.0).max(-55.0);
    let mut speech: Vec<bool> = energy_db.iter().map(|&e| e > threshold).collect();
    drop_bursts(&mut speech, FPS * 4 / 100);
    speech
}

/// How far (dB) the loud speech stands above the quietest tenth of the
/// frames: the pauses, in clean speech (60 dB and more), or the music and
/// noise that never stop under it (a few dB at equal levels).
pub fn dynamic_range_db(energy_db: &[f32]) -> f32 {
    quantiles(energy_db, [0.10, 0.95]).map_or(0.0, |[quiet, loud]| loud - quiet)
}

/// The values at fractions `qs` (0..1) of the way through `values` sorted;
/// `None` for no values.
fn quantiles<const N: usize>(values: &[f32], qs: [f32; N]) -> Option<[f32; N]> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    Some(qs.map(|q| sorted[((sorted.len() - 1) as f32 * q) as usize]))
}

/// Turn runs of speech shorter than `min_len` frames into silence.
fn drop_bursts(flags: &mut [bool], min_len: usize) {
    let mut i = 0;
    while i < flags.len() {
        if !flags[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < flags.len() && flags[i] {
            i += 1;
        }
        if i - start < min_len {
            flags[start..i].fill(false);
        }
    }
}

/// Speech flags, one per 10 ms, of 16 kHz mono samples.
pub fn voice_activity(samples: &[f32]) -> Vec<bool> {
    speech_frames(&crate::features::mfcc(samples).energy_db)
}

/// Less detected speech than this is no speech.
pub const MIN_SPEECH_S: f64 = 0.25;

/// Seconds of speech in 16 kHz mono samples.
pub fn speech_seconds(samples: &[f32]) -> f64 {
    flagged_seconds(&voice_activity(samples))
}

/// Speech lengths no plausible pace explains: one side speaks more than
/// `limit` times as long as the other.
#[derive(Clone, Debug, PartialEq)]
pub struct LengthMismatch {
    pub source_s: f64,
    pub target_s: f64,
    pub ratio: f64,
    pub limit: f64,
}

impl std::fmt::Display for LengthMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the source speaks for {:.1} s but the target for {:.1} s (ratio {:.1}, limit {:.1}); they cannot be the same words at a plausible pace: check the files",
            self.source_s, self.target_s, self.ratio, self.limit
        )
    }
}

impl std::error::Error for LengthMismatch {}

/// Refuse `source_s` and `target_s` seconds of speech whose ratio, either
/// way round, passes `limit`.
pub fn check_lengths(source_s: f64, target_s: f64, limit: f64) -> Result<(), LengthMismatch> {
    let ratio = (target_s / source_s).max(source_s / target_s);
    if ratio > limit {
        return Err(LengthMismatch {
            source_s,
            target_s,
            ratio,
            limit,
        });
    }
    Ok(())
}

/// Seconds of speech in [`voice_activity`]'s flags.
pub fn flagged_seconds(speech: &[bool]) -> f64 {
    speech.iter().filter(|&&s| s).count() as f64 * crate::features::HOP_S
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_gaps_and_drops_clicks() {
        let mut e = vec![-100.0f32; 300];
        e[50..100].fill(-20.0);
        e[102..150].fill(-20.0); // 20 ms gap: kept
        e[200..202].fill(-20.0); // 20 ms click: dropped
        let s = speech_frames(&e);
        assert!(!s[40]);
        assert!(s[60] && !s[100] && !s[101] && s[140]);
        assert!(!s[170] && !s[201]);
    }

    #[test]
    fn dynamic_range_tells_pauses_from_noise_that_never_stops() {
        let mut clean = vec![-100.0f32; 300];
        clean[50..250].fill(-20.0);
        assert!(dynamic_range_db(&clean) > 70.0);
        // Speech 5 dB over a noise floor that fills the pauses.
        let noisy: Vec<f32> = clean.iter().map(|&e| e.max(-25.0)).collect();
        assert!((dynamic_range_db(&noisy) - 5.0).abs() < 1e-3);
        assert_eq!(dynamic_range_db(&[]), 0.0);
    }

    #[test]
    fn silence_has_no_speech() {
        assert!(speech_frames(&[-120.0; 500]).iter().all(|&s| !s));
    }
}
