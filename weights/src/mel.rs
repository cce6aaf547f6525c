//! Whisper's mel filterbank: Slaney-style mel scale with Slaney area
//! normalisation, 16 kHz, n_fft 400 (201 bins), 80 bands. This is what
//! `librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)` computes and what
//! OpenAI ships as `mel_80`; the arithmetic follows the same f64 steps and
//! f32 roundings so the values are bit-identical.

pub const SAMPLE_RATE: f64 = 16000.0;
pub const N_FFT: usize = 400;
pub const N_BINS: usize = N_FFT / 2 + 1;

const F_SP: f64 = 200.0 / 3.0; // Hz per mel below 1 kHz
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

/// `n_mels` × [`N_BINS`] filter weights, row-major.
pub fn filterbank(n_mels: usize) -> Vec<f32> {
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2.0));
    // np.linspace(lo, hi, n_mels + 2)
    let points = n_mels + 2;
    let step = (hi - lo) / (points - 1) as f64;
    let mel_hz: Vec<f64> = (0..points)
        .map(|i| {
            let m = if i == points - 1 {
                hi
            } else {
                lo + i as f64 * step
            };
            mel_to_hz(m)
        })
        .collect();
    // np.fft.rfftfreq(400, 1/16000)
    let bin_hz = 1.0 / (N_FFT as f64 * (1.0 / SAMPLE_RATE));
    let fft_hz: Vec<f64> = (0..N_BINS).map(|k| k as f64 * bin_hz).collect();
    let mut out = vec![0f32; n_mels * N_BINS];
    for m in 0..n_mels {
        let (f0, f1, f2) = (mel_hz[m], mel_hz[m + 1], mel_hz[m + 2]);
        let norm = 2.0 / (f2 - f0);
        for (k, &f) in fft_hz.iter().enumerate() {
            let lower = -(f0 - f) / (f1 - f0);
            let upper = (f2 - f) / (f2 - f1);
            let w = lower.min(upper).max(0.0) as f32;
            out[m * N_BINS + k] = (w as f64 * norm) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_are_triangles_of_equal_area() {
        let fb = filterbank(80);
        assert_eq!(fb.len(), 80 * N_BINS);
        for m in 0..80 {
            let row = &fb[m * N_BINS..(m + 1) * N_BINS];
            assert!(row.iter().all(|&w| w >= 0.0));
            let peak = row.iter().cloned().fold(0f32, f32::max);
            assert!(peak > 0.0, "band {m} is empty");
        }
        // Hand-computed from the Slaney formulas.
        // Band 0 spans 0..37.2..74.5 Hz: at 40 Hz, (74.48-40)/(74.48-37.24) × 2/74.48.
        assert!((fb[1] - 0.024_862_6).abs() < 1e-7, "{}", fb[1]);
        assert_eq!(fb[0], 0.0);
    }
}
