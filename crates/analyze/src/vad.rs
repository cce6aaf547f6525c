//! Voice activity from frame energy, with an adaptive threshold.

/// Frames per second of the analysis.
const FPS: usize = 100;

/// Speech flags per frame. Gaps shorter than 120 ms (stop closures) are filled;
/// bursts shorter than 40 ms (clicks) are dropped.
pub fn speech_frames(energy_db: &[f32]) -> Vec<bool> {
    if energy_db.is_empty() {
        return Vec::new();
    }
    let mut sorted = energy_db.to_vec();
    sorted.sort_by(f32::total_cmp);
    let pick = |q: f32| sorted[((sorted.len() - 1) as f32 * q) as usize];
    let (low, high) = (pick(0.05), pick(0.98));
    // Absolute floor: nothing under -55 dBFS counts as speech.
    let threshold = (low + 0.25 * (high - low)).max(high - 40.0).max(-55.0);
    let mut speech: Vec<bool> = energy_db.iter().map(|&e| e > threshold).collect();
    fill_runs(&mut speech, false, FPS * 12 / 100);
    fill_runs(&mut speech, true, FPS * 4 / 100);
    speech
}

/// Flip interior runs of `value` shorter than `min_len` frames.
fn fill_runs(flags: &mut [bool], value: bool, min_len: usize) {
    let n = flags.len();
    let mut i = 0;
    while i < n {
        if flags[i] != value {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && flags[i] == value {
            i += 1;
        }
        let interior = start > 0 && i < n;
        // Silence at the very ends is real lead-in/out, never a gap to fill.
        if i - start < min_len && (interior || value) {
            flags[start..i].fill(!value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_short_gaps_and_drops_clicks() {
        let mut e = vec![-100.0f32; 300];
        e[50..100].fill(-20.0);
        e[105..150].fill(-20.0); // 50 ms gap: filled
        e[200..202].fill(-20.0); // 20 ms click: dropped
        let s = speech_frames(&e);
        assert!(!s[40]);
        assert!(s[60] && s[102] && s[140]);
        assert!(!s[170] && !s[201]);
    }

    #[test]
    fn silence_has_no_speech() {
        assert!(speech_frames(&[-120.0; 500]).iter().all(|&s| !s));
    }
}
