//! Mel-frequency cepstra at a 10 ms hop.

/// Analysis hop in seconds.
pub const HOP_S: f64 = 0.010;
const RATE: usize = 16_000;
const HOP: usize = 160;
const WINDOW: usize = 400;
const FFT: usize = 512;
const MELS: usize = 40;
/// Cepstral coefficients kept (c0..c7): the spectral envelope, which is
/// what the words share. The higher ones carry the speaker (pitch
/// harmonics, vocal tract length) and, kept, led the alignment astray
/// between a male and a female voice and under music (on the accuracy
/// benchmark's tuning half, p95 175 -> 106 ms and 169 -> 64 ms).
const CEPSTRA: usize = 8;
/// Feature dimensions: the cepstra and their time derivatives.
pub const DIMS: usize = 2 * CEPSTRA;

/// Frequency scalings a side's features can also be computed at (vocal
/// tract length normalisation): a shorter vocal tract puts every formant
/// higher, by 15-20% from a man's voice to a woman's, and scaling one
/// side's filter bank by the right factor lines the two envelopes up.
pub const VOCAL_TRACT_WARPS: [f32; 5] = [0.86, 0.93, 1.0, 1.07, 1.15];

/// Per-frame features and log energy (dBFS).
pub struct Features {
    pub frames: Vec<[f32; DIMS]>,
    pub energy_db: Vec<f32>,
    /// The same frames with the frequency axis scaled by each factor
    /// ([`Mfcc::warped`]; empty unless asked for).
    pub warped: Vec<(f32, Vec<[f32; DIMS]>)>,
}

/// MFCCs of 16 kHz mono samples, one frame per 10 ms.
pub fn mfcc(samples: &[f32]) -> Features {
    let mut m = Mfcc::new();
    m.push(samples);
    m.finish()
}

/// Triangular mel filters as sparse (FFT bin, weight) lists.
type Bank = Vec<Vec<(usize, f32)>>;

/// [`mfcc`] over samples that arrive in pieces (a file read a block at a
/// time): only a window's worth of samples is kept, so memory is the
/// features' (1/50 of the samples').
pub struct Mfcc {
    window: Vec<f32>,
    /// Filter banks with their frequency scaling; the first is unscaled.
    banks: Vec<(f32, Bank)>,
    dct: Vec<[f32; MELS]>,
    /// Samples not yet behind every window (zeros before the signal's
    /// start for the first frames); the next frame's window starts at
    /// `next`, and the buffer is compacted once per push.
    held: Vec<f32>,
    next: usize,
    /// Samples pushed so far.
    seen: usize,
    /// The FFT's buffers, reused frame after frame.
    re: Vec<f32>,
    im: Vec<f32>,
    /// Frames per bank.
    frames: Vec<Vec<[f32; DIMS]>>,
    energy_db: Vec<f32>,
}

impl Default for Mfcc {
    fn default() -> Self {
        Self::new()
    }
}

impl Mfcc {
    pub fn new() -> Self {
        Self::warped(&[])
    }

    /// Also compute the frames with the frequency axis scaled by each of
    /// `factors` (1.0 among them is skipped: it is the plain frames).
    pub fn warped(factors: &[f32]) -> Self {
        let mut banks = vec![(1.0, mel_bank(1.0))];
        banks.extend(
            factors
                .iter()
                .filter(|&&f| f != 1.0)
                .map(|&f| (f, mel_bank(f))),
        );
        let window = (0..WINDOW)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / WINDOW as f32).cos())
            .collect();
        let dct = (0..CEPSTRA)
            .map(|k| {
                let mut row = [0f32; MELS];
                for (m, r) in row.iter_mut().enumerate() {
                    *r = (std::f32::consts::PI * k as f32 * (m as f32 + 0.5) / MELS as f32).cos();
                }
                row
            })
            .collect();
        Mfcc {
            window,
            frames: vec![Vec::new(); banks.len()],
            banks,
            dct,
            held: vec![0.0; WINDOW / 2],
            next: 0,
            seen: 0,
            re: vec![0.0; FFT],
            im: vec![0.0; FFT],
            energy_db: Vec::new(),
        }
    }

    /// Samples `pushed` so far.
    pub fn samples(&self) -> usize {
        self.seen
    }

    /// The next samples of the signal.
    pub fn push(&mut self, samples: &[f32]) {
        self.held.extend_from_slice(samples);
        self.seen += samples.len();
        // Frame f is centred on sample f*HOP and needs WINDOW samples from f*HOP - WINDOW/2.
        while self.held.len() - self.next >= WINDOW {
            self.frame();
        }
        self.held.drain(..self.next);
        self.next = 0;
    }

    /// The features of every sample pushed: frames past the end see zeros.
    pub fn finish(mut self) -> Features {
        let n_frames = self.seen.div_ceil(HOP);
        while self.energy_db.len() < n_frames {
            if self.held.len() - self.next < WINDOW {
                self.held.resize(self.next + WINDOW, 0.0);
            }
            self.frame();
        }
        for frames in &mut self.frames {
            add_deltas(frames);
        }
        let mut frames = self.frames.into_iter();
        let plain = frames.next().unwrap_or_default();
        Features {
            frames: plain,
            energy_db: self.energy_db,
            warped: self.banks.iter().skip(1).map(|b| b.0).zip(frames).collect(),
        }
    }

    /// Compute the frame whose window starts at `next` and move on by a hop.
    fn frame(&mut self) {
        let (re, im) = (&mut self.re, &mut self.im);
        re.fill(0.0);
        im.fill(0.0);
        let (mut power, mut prev) = (0f32, 0f32);
        for (i, &x) in self.held[self.next..self.next + WINDOW].iter().enumerate() {
            power += x * x;
            // Pre-emphasis flattens the spectral tilt of voiced speech.
            re[i] = (x - 0.97 * prev) * self.window[i];
            prev = x;
        }
        self.energy_db
            .push(10.0 * (power / WINDOW as f32 + 1e-10).log10());
        fft(re, im);
        let spec: Vec<f32> = (0..=FFT / 2)
            .map(|k| re[k] * re[k] + im[k] * im[k])
            .collect();
        for ((_, bank), frames) in self.banks.iter().zip(&mut self.frames) {
            let mut logmel = [0f32; MELS];
            for (m, filter) in bank.iter().enumerate() {
                let e: f32 = filter.iter().map(|&(k, w)| spec[k] * w).sum();
                logmel[m] = (e + 1e-8).ln();
            }
            let mut c = [0f32; DIMS];
            for (k, row) in self.dct.iter().enumerate() {
                c[k] = row.iter().zip(&logmel).map(|(a, b)| a * b).sum();
            }
            frames.push(c);
        }
        self.next += HOP;
    }
}

/// Fill the upper half of each frame with the regression slope of the cepstra
/// over +-2 frames: it marks onsets and transitions, which differ less between
/// speakers than the spectra themselves.
fn add_deltas(frames: &mut [[f32; DIMS]]) {
    let n = frames.len();
    let at = |i: isize| i.clamp(0, n as isize - 1) as usize;
    let deltas: Vec<[f32; CEPSTRA]> = (0..n as isize)
        .map(|t| {
            let mut d = [0f32; CEPSTRA];
            for (k, v) in d.iter_mut().enumerate() {
                *v = (frames[at(t + 1)][k] - frames[at(t - 1)][k]
                    + 2.0 * (frames[at(t + 2)][k] - frames[at(t - 2)][k]))
                    / 10.0;
            }
            d
        })
        .collect();
    for (f, d) in frames.iter_mut().zip(deltas) {
        f[CEPSTRA..].copy_from_slice(&d);
    }
}

/// Triangular filters on the HTK mel scale, 60 Hz .. 7.6 kHz, as sparse
/// (bin, weight) lists; with `scale` != 1 every edge frequency is scaled
/// by it (kept under the Nyquist frequency).
fn mel_bank(scale: f32) -> Bank {
    let mel = |hz: f32| 2595.0 * (1.0 + hz / 700.0).log10();
    let hz = |m: f32| 700.0 * (10f32.powf(m / 2595.0) - 1.0);
    let (lo, hi) = (mel(60.0), mel(7600.0));
    let edges: Vec<f32> = (0..MELS + 2)
        .map(|i| (scale * hz(lo + (hi - lo) * i as f32 / (MELS + 1) as f32)).min(7990.0))
        .collect();
    let bin_hz = RATE as f32 / FFT as f32;
    (0..MELS)
        .map(|m| {
            let (l, c, r) = (edges[m], edges[m + 1], edges[m + 2]);
            (0..=FFT / 2)
                .filter_map(|k| {
                    let f = k as f32 * bin_hz;
                    let w = if f > l && f <= c {
                        (f - l) / (c - l)
                    } else if f > c && f < r {
                        (r - f) / (r - c)
                    } else {
                        0.0
                    };
                    (w > 0.0).then_some((k, w))
                })
                .collect()
        })
        .collect()
}

/// In-place iterative radix-2 FFT (length must be a power of two).
fn fft(re: &mut [f32], im: &mut [f32]) {
    let n = re.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let ang = -2.0 * std::f32::consts::PI / len as f32;
        for start in (0..n).step_by(len) {
            for k in 0..len / 2 {
                let (s, c) = (ang * k as f32).sin_cos();
                let (a, b) = (start + k, start + k + len / 2);
                let tr = re[b] * c - im[b] * s;
                let ti = re[b] * s + im[b] * c;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len <<= 1;
    }
}

/// Normalise each dimension to zero mean, unit variance over the frames where `use_frame` is set.
pub fn normalise(frames: &mut [[f32; DIMS]], use_frame: &[bool]) {
    let chosen: Vec<&[f32; DIMS]> = frames
        .iter()
        .zip(use_frame)
        .filter_map(|(f, &u)| u.then_some(f))
        .collect();
    if chosen.is_empty() {
        return;
    }
    let n = chosen.len() as f32;
    let mut mean = [0f32; DIMS];
    let mut var = [0f32; DIMS];
    for f in &chosen {
        for d in 0..DIMS {
            mean[d] += f[d] / n;
        }
    }
    for f in &chosen {
        for d in 0..DIMS {
            var[d] += (f[d] - mean[d]).powi(2) / n;
        }
    }
    for f in frames.iter_mut() {
        for d in 0..DIMS {
            f[d] = (f[d] - mean[d]) / var[d].sqrt().max(1e-3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_do_not_depend_on_how_the_samples_arrive() {
        let s: Vec<f32> = (0..16_037)
            .map(|i| ((i as f32 * 0.031).sin() * (i as f32 * 0.0007).cos()) * 0.5)
            .collect();
        let whole = mfcc(&s);
        let mut m = Mfcc::new();
        for chunk in s.chunks(97) {
            m.push(chunk);
        }
        assert_eq!(m.samples(), s.len());
        let pieces = m.finish();
        assert_eq!(whole.frames.len(), s.len().div_ceil(HOP));
        assert_eq!(whole.frames, pieces.frames);
        assert_eq!(whole.energy_db, pieces.energy_db);
    }

    #[test]
    fn fft_finds_a_pure_tone() {
        let mut re: Vec<f32> = (0..64)
            .map(|i| (2.0 * std::f32::consts::PI * 5.0 * i as f32 / 64.0).cos())
            .collect();
        let mut im = vec![0f32; 64];
        fft(&mut re, &mut im);
        let mag: Vec<f32> = (0..32)
            .map(|k| (re[k].powi(2) + im[k].powi(2)).sqrt())
            .collect();
        let peak = mag
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(peak, 5);
        assert!((mag[5] - 32.0).abs() < 1e-3);
    }

    #[test]
    fn one_frame_per_hop_and_energy_tracks_loudness() {
        let mut s = vec![0f32; 16_000];
        for (i, v) in s.iter_mut().enumerate().skip(8_000) {
            *v = 0.5 * (i as f32 * 0.3).sin();
        }
        let f = mfcc(&s);
        assert_eq!(f.frames.len(), 100);
        assert!(f.energy_db[20] < -90.0);
        assert!(f.energy_db[80] > -12.0);
    }
}
