//! From two speech signals to a warp and a confidence.

use crate::dtw::{dtw, Window};
use serde::{Deserialize, Serialize};
use vantage_core::{CancelToken, Confidence, Knot, Warp};
use vantage_dsp::features::{normalise, Features, DIMS, HOP_S};
use vantage_dsp::vad::{
    check_lengths, dynamic_range_db, flagged_seconds, speech_frames, LengthMismatch, MIN_SPEECH_S,
};

/// A known correspondence (e.g. the same word found in both transcripts).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    pub source: f64,
    pub target: f64,
}

#[derive(Clone, Debug)]
pub struct AlignOptions {
    /// Largest accepted ratio between the two speech spans (either way round).
    pub max_length_ratio: f64,
    /// Half-width of the path smoothing the warp follows inside speech, in seconds.
    pub smoothing_s: f64,
    /// Between two word edges the warp is straight unless the smoothed
    /// path strays from the line by more than this, in source seconds.
    pub follow_s: f64,
    /// Known correspondences that narrow the search (sorted or not; conflicting ones are dropped).
    pub anchors: Vec<Anchor>,
    /// With encoder states on both sides: their distance's weight against
    /// the cepstral distance's (each measured against its own chance level).
    pub states_weight: f64,
    /// Checked between the alignment's phases (each takes at most a few seconds).
    pub cancel: CancelToken,
}

impl Default for AlignOptions {
    fn default() -> Self {
        Self {
            max_length_ratio: 3.0,
            smoothing_s: 0.05,
            follow_s: 0.01,
            anchors: Vec::new(),
            states_weight: 3.0,
            cancel: CancelToken::default(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlignError {
    #[error("no speech found in the {0} audio (it is silent or too quiet); check that the right file was passed")]
    NoSpeech(&'static str),
    #[error(transparent)]
    LengthMismatch(#[from] LengthMismatch),
    #[error("could not build a warp: {0}")]
    Warp(String),
    #[error("cancelled")]
    Cancelled,
}

pub struct AlignResult {
    pub warp: Warp,
    pub confidence: Confidence,
    pub anchors_used: usize,
}

/// One side's sound as the alignment hears it.
pub struct Sound {
    pub features: Features,
    /// Whisper's encoder states (unit vectors, one every [`STATE_FRAMES`]
    /// feature frames), or none: they tell the words apart where the cepstra
    /// of two voices, or of a voice under music, differ.
    pub states: Vec<Vec<f32>>,
}

impl From<Features> for Sound {
    fn from(features: Features) -> Self {
        Self {
            features,
            states: Vec::new(),
        }
    }
}

/// Feature frames per encoder state (20 ms against 10 ms).
pub const STATE_FRAMES: usize = 2;

/// Frames at one resolution.
struct Track {
    frames: Vec<[f32; DIMS]>,
    silent: Vec<bool>,
    /// The encoder state each frame falls in (empty without states).
    state: Vec<usize>,
}

/// Speech part of one signal, with normalised features.
struct Side {
    track: Track,
    /// The frames at other frequency scalings, likewise trimmed and normalised.
    warped: Vec<(f32, Vec<[f32; DIMS]>)>,
    states: Vec<Vec<f32>>,
    /// Index of the first kept frame in the whole signal.
    first: usize,
    speech_s: f64,
}

impl Side {
    fn len(&self) -> usize {
        self.track.len()
    }
}

/// Less detected speech than this (in 10 ms frames) is no speech.
const MIN_SPEECH_FRAMES: usize = 25;

/// The checks `align` starts with, on voice activity alone (cheap, so they
/// come before the transcripts are compared): speech on both sides, and
/// speech spans within `limit` of each other either way round.
pub fn check_speech(source: &Features, target: &Features, limit: f64) -> Result<(), AlignError> {
    let seconds = |f: &Features| flagged_seconds(&speech_frames(&f.energy_db));
    let (source_s, target_s) = (seconds(source), seconds(target));
    for (seconds, which) in [(source_s, "source"), (target_s, "target")] {
        if seconds < MIN_SPEECH_S {
            return Err(AlignError::NoSpeech(which));
        }
    }
    Ok(check_lengths(source_s, target_s, limit)?)
}

fn prepare(sound: Sound, which: &'static str) -> Result<Side, AlignError> {
    let Sound {
        features: f,
        states,
    } = sound;
    let speech = speech_frames(&f.energy_db);
    let speech_frames_count = speech.iter().filter(|&&s| s).count();
    if speech_frames_count < MIN_SPEECH_FRAMES {
        return Err(AlignError::NoSpeech(which));
    }
    let first = speech.iter().position(|&s| s).unwrap_or(0);
    let last = speech.iter().rposition(|&s| s).unwrap_or(speech.len() - 1);
    // Every speech frame is in the span, so its statistics are the whole's.
    let span = |mut frames: Vec<[f32; DIMS]>| {
        frames.truncate(last + 1);
        frames.drain(..first);
        normalise(&mut frames, &speech[first..=last]);
        frames
    };
    let state = match states.len() {
        0 => Vec::new(),
        n => (first..=last)
            .map(|i| (i / STATE_FRAMES).min(n - 1))
            .collect(),
    };
    Ok(Side {
        track: Track {
            frames: span(f.frames),
            silent: speech[first..=last].iter().map(|s| !s).collect(),
            state,
        },
        warped: f.warped.into_iter().map(|(k, w)| (k, span(w))).collect(),
        states,
        first,
        speech_s: speech_frames_count as f64 * HOP_S,
    })
}

fn distance(a: &[f32; DIMS], b: &[f32; DIMS]) -> f32 {
    let sum: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    (sum / DIMS as f32).sqrt()
}

/// The dot product, in eight lanes the compiler keeps in vector registers
/// (a single running sum is one long dependency chain: the states' 384
/// products are most of a DTW cell's cost).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut lanes = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            lanes[k] += x[k] * y[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Average every `factor` frames (a frame is silent only if all of its
/// group are, and stands for the state of its group's middle).
fn decimate(frames: &[[f32; DIMS]], silent: &[bool], state: &[usize], factor: usize) -> Track {
    let (frames, silent) = frames
        .chunks(factor)
        .zip(silent.chunks(factor))
        .map(|(fs, ss)| {
            let mut avg = [0f32; DIMS];
            for f in fs {
                for d in 0..DIMS {
                    avg[d] += f[d] / fs.len() as f32;
                }
            }
            (avg, ss.iter().all(|&s| s))
        })
        .unzip();
    let state = state
        .chunks(factor)
        .map(|group| group[group.len() / 2])
        .collect();
    Track {
        frames,
        silent,
        state,
    }
}

impl Track {
    fn len(&self) -> usize {
        self.frames.len()
    }

    fn decimate(&self, factor: usize) -> Track {
        decimate(&self.frames, &self.silent, &self.state, factor)
    }
}

/// How far (seconds) an anchor may sit from the acoustic alignment and still agree with it.
const ANCHOR_AGREEMENT_S: f64 = 0.15;

/// Align `source` to `target` (the features of 16 kHz mono speech). Durations are those of the
/// picture and of the target audio: the warp covers both completely.
///
/// With anchors, the sound is aligned on its own first and each anchor is
/// compared with the result. One or two anchors that disagree among
/// agreeing neighbours are recognition slips and are dropped; where a run
/// of anchors disagrees at paces plausible between each other, the sound
/// went astray (a long pause, noise) and the alignment is redone inside
/// the anchors' bounds.
pub fn align(
    source: Sound,
    target: Sound,
    source_duration: f64,
    target_duration: f64,
    opts: &AlignOptions,
) -> Result<AlignResult, AlignError> {
    let ranges = [
        (dynamic_range_db(&source.features.energy_db), "source"),
        (dynamic_range_db(&target.features.energy_db), "target"),
    ];
    let mut result = align_speech(source, target, source_duration, target_duration, opts)?;
    for (range, which) in ranges {
        if range < NOISY_RANGE_DB {
            result.confidence.warnings.push(format!(
                "the {which} has music or noise under the speech (the voice stands only {range:.0} dB above the quietest moments): the picture may be off by a frame or more in places; check the diagnostic"
            ));
        }
    }
    Ok(result)
}

/// Below this dynamic range (dB, [`dynamic_range_db`]) a side is noisy:
/// measured 5.7 dB with music as loud as the voice (0 dB SNR), 14 at
/// 10 dB SNR, 29 under reverberation, 77-90 for clean speech.
const NOISY_RANGE_DB: f32 = 10.0;

/// [`align`], before the noise warnings.
fn align_speech(
    source: Sound,
    target: Sound,
    source_duration: f64,
    target_duration: f64,
    opts: &AlignOptions,
) -> Result<AlignResult, AlignError> {
    let check = || not_cancelled(opts);
    let src = prepare(source, "source")?;
    let tgt = prepare(target, "target")?;
    // Compare the speech itself: pauses of any length are absorbed by the warp.
    check_lengths(src.speech_s, tgt.speech_s, opts.max_length_ratio)?;
    let tgt = with_best_warp(&src, tgt);
    check()?;
    let sides = Sides {
        src: &src,
        tgt: &tgt,
        source_duration,
        target_duration,
    };
    let acoustic = align_within(&sides, opts, &[])?;
    if opts.anchors.is_empty() {
        return Ok(acoustic);
    }
    let mut anchors = opts.anchors.clone();
    anchors.sort_by(|a, b| a.source.total_cmp(&b.source));
    let disagrees: Vec<bool> = anchors
        .iter()
        .map(|a| (acoustic.warp.source_at(a.target) - a.source).abs() > ANCHOR_AGREEMENT_S)
        .collect();
    for (a, _) in anchors.iter().zip(&disagrees).filter(|(_, d)| **d) {
        tracing::debug!(
            "anchor {:.2}s -> {:.2}s disagrees with the sound ({:.2}s)",
            a.source,
            a.target,
            acoustic.warp.source_at(a.target)
        );
    }
    let (kept, overruled) = judge_anchors(&anchors, &disagrees);
    if !overruled {
        return Ok(AlignResult {
            anchors_used: kept.len(),
            ..acoustic
        });
    }
    align_within(&sides, opts, &kept)
}

/// Fewest disagreeing anchors in a row that overrule the sound: one or two
/// are recognition slips (a repeated word matched to its twin elsewhere).
const MIN_OVERRULING_RUN: usize = 3;

/// Steepest pace between two consecutive anchors of a run that overrules
/// the sound (either way round): a long pause on one side is slow, but
/// no faster than this.
const MAX_ANCHOR_RATE: f64 = 8.0;

/// The anchors to keep (sorted by source time), given which disagree with
/// the acoustic alignment, and whether any run of them overrules it: a
/// run of at least [`MIN_OVERRULING_RUN`] anchors at plausible paces
/// between each other; shorter or self-contradicting runs are dropped.
fn judge_anchors(anchors: &[Anchor], disagrees: &[bool]) -> (Vec<Anchor>, bool) {
    let plausible = |a: &Anchor, b: &Anchor| {
        let (ds, dt) = (b.source - a.source, b.target - a.target);
        ds > 0.0 && dt > 0.0 && (dt / ds).max(ds / dt) <= MAX_ANCHOR_RATE
    };
    let (mut kept, mut overruled, mut k) = (Vec::new(), false, 0);
    while k < anchors.len() {
        if !disagrees[k] {
            kept.push(anchors[k]);
            k += 1;
            continue;
        }
        let start = k;
        while k < anchors.len() && disagrees[k] {
            k += 1;
        }
        let run = &anchors[start..k];
        if run.len() >= MIN_OVERRULING_RUN && run.windows(2).all(|w| plausible(&w[0], &w[1])) {
            kept.extend_from_slice(run);
            overruled = true;
        }
    }
    (kept, overruled)
}

fn not_cancelled(opts: &AlignOptions) -> Result<(), AlignError> {
    if opts.cancel.is_cancelled() {
        Err(AlignError::Cancelled)
    } else {
        Ok(())
    }
}

/// Both prepared signals, and the durations the warp must cover.
struct Sides<'a> {
    src: &'a Side,
    tgt: &'a Side,
    source_duration: f64,
    target_duration: f64,
}

/// One alignment, searching only paths that pass near `anchors` (sorted by
/// source time).
fn align_within(
    sides: &Sides,
    opts: &AlignOptions,
    anchors: &[Anchor],
) -> Result<AlignResult, AlignError> {
    let check = || not_cancelled(opts);
    let (src, tgt) = (sides.src, sides.tgt);
    let (n, m) = (src.len(), tgt.len());
    let anchors = frame_anchors(anchors, src, tgt);
    let fine = Compare::new(&src.track, &tgt.track, sides, opts.states_weight);

    const FACTOR: usize = 4;
    let path = if n * m <= 4_000_000 {
        run(&fine, &anchored_band(n, m, &anchors, 1, n.max(m)))
    } else {
        // Coarse pass at 40 ms in a band, then a full-resolution pass around its path.
        let (cs, ct) = (src.track.decimate(FACTOR), tgt.track.decimate(FACTOR));
        let coarse = Compare::new(&cs, &ct, sides, opts.states_weight);
        let radius = (cs.len().max(ct.len()) / 4).clamp(50, 750);
        let band = anchored_band(cs.len(), ct.len(), &anchors, FACTOR, radius);
        let coarse = run(&coarse, &band)?;
        check()?;
        run(
            &fine,
            &Window::around_path(&coarse, FACTOR, n, m, 2 * FACTOR),
        )
    }?;
    check()?;

    let knots = path_to_knots(&path, &fine, sides, opts);
    let warp = Warp::new(knots).map_err(|e| AlignError::Warp(e.to_string()))?;
    let confidence = confidence(&path, src, tgt, &warp);
    Ok(AlignResult {
        warp,
        confidence,
        anchors_used: anchors.len(),
    })
}

/// The target with the frequency scaling (of those it has) whose coarse
/// alignment to the source matches best against chance: the one that
/// lines the two voices' spectral envelopes up.
fn with_best_warp(src: &Side, mut tgt: Side) -> Side {
    if tgt.warped.is_empty() {
        return tgt;
    }
    // At 80 ms: choosing needs the gist of the path, five times over.
    const FACTOR: usize = 8;
    let cs = src.track.decimate(FACTOR);
    let score = |frames: &[[f32; DIMS]]| {
        let ct = decimate(frames, &tgt.track.silent, &[], FACTOR);
        let cepstra = Compare::cepstra(&cs, &ct);
        let radius = (cs.len().max(ct.len()) / 4).clamp(50, 750);
        let band = Window::band(cs.len(), ct.len(), radius);
        run(&cepstra, &band).map_or(f64::INFINITY, |path| {
            mean(&speech_distances(&path, &cepstra)) / cepstra.chance().max(1e-6)
        })
    };
    let plain = score(&tgt.track.frames);
    let best = tgt
        .warped
        .iter()
        .enumerate()
        .map(|(k, (_, frames))| (k, score(frames)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((k, ratio)) = best.filter(|&(_, ratio)| ratio < plain) {
        tracing::debug!(
            "target frequencies scaled by {} (match {ratio:.3} of chance against {plain:.3})",
            tgt.warped[k].0
        );
        tgt.track.frames = tgt.warped.swap_remove(k).1;
    }
    tgt.warped.clear();
    tgt
}

/// How the frames of two tracks are compared: by cepstral distance and,
/// where both sides have them, by the cosine distance of their encoder
/// states, each scaled to its own chance level.
#[derive(Clone, Copy)]
struct Compare<'a> {
    a: &'a Track,
    b: &'a Track,
    states: (&'a [Vec<f32>], &'a [Vec<f32>]),
    /// The factors of the cepstral and the state distance (0: cepstra alone).
    factors: (f32, f32),
}

impl<'a> Compare<'a> {
    fn cepstra(a: &'a Track, b: &'a Track) -> Self {
        Self {
            a,
            b,
            states: (&[], &[]),
            factors: (1.0, 0.0),
        }
    }

    /// Cepstra and states at `weight` against each other (cepstra alone
    /// where a side has no states).
    fn new(a: &'a Track, b: &'a Track, sides: &Sides<'a>, weight: f64) -> Self {
        let cepstra = Self::cepstra(a, b);
        if a.state.is_empty() || b.state.is_empty() || weight <= 0.0 {
            return cepstra;
        }
        let states = Self {
            states: (&sides.src.states, &sides.tgt.states),
            factors: (0.0, 1.0),
            ..cepstra
        };
        // The sum stays on the cepstral scale the constants are set on.
        let scale = (cepstra.chance() / states.chance().max(1e-6)) as f32;
        let weight = weight as f32;
        Self {
            factors: (1.0 / (1.0 + weight), weight * scale / (1.0 + weight)),
            ..states
        }
    }

    fn distance(&self, i: usize, j: usize) -> f32 {
        let (cepstra, states) = self.factors;
        let mut d = 0.0;
        if cepstra > 0.0 {
            d += cepstra * distance(&self.a.frames[i], &self.b.frames[j]);
        }
        if states > 0.0 {
            let x = &self.states.0[self.a.state[i]];
            let y = &self.states.1[self.b.state[j]];
            d += states * (1.0 - dot(x, y));
        }
        d
    }

    /// Mean distance between pseudo-random speech frames of the two sides:
    /// what matching costs by chance.
    fn chance(&self) -> f64 {
        let speech = |t: &Track| -> Vec<usize> { (0..t.len()).filter(|&i| !t.silent[i]).collect() };
        let (si, tj) = (speech(self.a), speech(self.b));
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound.max(1) as u64) as usize
        };
        let chance: Vec<f32> = (0..4000)
            .map(|_| {
                let (i, j) = (next(si.len()), next(tj.len()));
                self.distance(si[i], tj[j])
            })
            .collect();
        mean(&chance)
    }

    /// The distance, except that two silent frames match for free, and
    /// speech against silence is told by the cepstra alone: the states of
    /// a long silence are no quieter than speech.
    fn cost(&self, i: usize, j: usize) -> f32 {
        match (self.a.silent[i], self.b.silent[j]) {
            (true, true) => 0.0,
            (false, false) => self.distance(i, j),
            _ => distance(&self.a.frames[i], &self.b.frames[j]) + SPEECH_VS_SILENCE,
        }
    }
}

/// Distances along `path` where both sides speak.
fn speech_distances(path: &[(usize, usize)], compare: &Compare) -> Vec<f32> {
    path.iter()
        .filter(|&&(i, j)| !compare.a.silent[i] && !compare.b.silent[j])
        .map(|&(i, j)| compare.distance(i, j))
        .collect()
}

/// Extra cost of matching speech against silence (about a third of the chance
/// distance): a pause absorbs a length difference only where the other side
/// has no pause to match it.
const SPEECH_VS_SILENCE: f32 = 0.5;

/// DTW with the slope limits, falling back to unconstrained straight moves
/// when the window admits no slope-limited path.
fn run(compare: &Compare, window: &Window) -> Result<Vec<(usize, usize)>, AlignError> {
    let (n, m) = (compare.a.len(), compare.b.len());
    let cost = |i, j| compare.cost(i, j);
    let free = |i: usize, j: usize| compare.a.silent[i] || compare.b.silent[j];
    dtw(n, m, window, cost, free, true)
        .or_else(|| dtw(n, m, window, cost, free, false))
        .ok_or_else(|| AlignError::Warp("no alignment path inside the search window".into()))
}

/// Anchors (sorted by source time) as (source frame, target frame) inside the
/// trimmed speech, monotone.
fn frame_anchors(anchors: &[Anchor], src: &Side, tgt: &Side) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for a in anchors {
        let i = (a.source / HOP_S).round() as isize - src.first as isize;
        let j = (a.target / HOP_S).round() as isize - tgt.first as isize;
        if i <= 0 || j <= 0 || i as usize >= src.len() - 1 || j as usize >= tgt.len() - 1 {
            continue;
        }
        // Drop anchors that would make the correspondence go backwards.
        if out
            .last()
            .is_some_and(|&(pi, pj)| i as usize <= pi || j as usize <= pj)
        {
            continue;
        }
        out.push((i as usize, j as usize));
    }
    out
}

/// The search window given anchors: between two consecutive anchors, the
/// path may take any target frame from the first's minus a margin to the
/// second's plus a margin. Any monotone path that passes within the margin of
/// every anchor fits, however unevenly it moves between them (a long pause on
/// one side between two close words is a steep stretch), while a path that
/// strays to another word or sentence does not.
fn anchored_band(
    n: usize,
    m: usize,
    anchors: &[(usize, usize)],
    factor: usize,
    radius: usize,
) -> Window {
    if anchors.is_empty() {
        return Window::band(n, m, radius);
    }
    let mut line = vec![(0usize, 0usize)];
    line.extend(anchors.iter().map(|&(i, j)| (i / factor, j / factor)));
    line.push((n - 1, m - 1));
    // Half a second: word times from transcripts can be a few hundred ms off.
    let margin = (50 / factor).max(2);
    let (mut lo, mut hi) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let k = line
            .partition_point(|&(li, _)| li <= i)
            .clamp(1, line.len() - 1);
        let (j0, j1) = (line[k - 1].1, line[k].1);
        lo.push(j0.saturating_sub(margin).min(m - 1));
        hi.push((j1 + margin + 1).min(m));
    }
    Window { lo, hi }
}

/// Turn the staircase path into strictly increasing knots.
///
/// Knots go where the path crosses a speech/silence edge on either side:
/// word edges are where the alignment is most reliable. Between two edges
/// the warp follows the smoothed path wherever it strays from a straight
/// line by more than `follow_s` and the line matches the sound clearly
/// worse than the path (the syllables of the two voices timed
/// differently), and is straight otherwise. The lead-in and tail silences
/// are added by [`end_knot`].
fn path_to_knots(
    path: &[(usize, usize)],
    compare: &Compare,
    sides: &Sides,
    opts: &AlignOptions,
) -> Vec<Knot> {
    let (src, tgt) = (sides.src, sides.tgt);
    let smoothed = smooth_path(path, opts.smoothing_s);
    let state = |k: usize| (compare.a.silent[path[k].0], compare.b.silent[path[k].1]);
    let edge = |k: usize| {
        k == 0 || k + 1 == path.len() || state(k) != state(k - 1) || state(k) != state(k + 1)
    };
    let edges: Vec<usize> = (0..path.len()).filter(|&k| edge(k)).collect();
    let fit = Fit {
        path,
        smoothed: &smoothed,
        cost: |i: usize, j: usize| compare.distance(i, j),
        rows: src.len(),
        tolerance: opts.follow_s / HOP_S,
        margin: FOLLOW_MARGIN * compare.chance(),
    };
    let mut chosen = Vec::with_capacity(edges.len());
    for pair in edges.windows(2) {
        chosen.push(pair[0]);
        if state(pair[0] + 1) == (false, false) {
            let cell = |k: usize| (k, (path[k].0 as f64, path[k].1 as f64));
            follow(&fit, cell(pair[0]), cell(pair[1]), &mut chosen);
        }
    }
    chosen.extend(edges.last());
    let mut knots: Vec<Knot> = Vec::new();
    for k in chosen {
        let (i, j) = if edge(k) {
            (path[k].0 as f64, path[k].1 as f64)
        } else {
            smoothed[k]
        };
        let knot = Knot {
            source: (src.first as f64 + i) * HOP_S,
            target: (tgt.first as f64 + j) * HOP_S,
        };
        // Flat stretches (the middle of a pause) are bridged by one straight segment.
        if knots
            .last()
            .is_none_or(|p| knot.source > p.source + 1e-4 && knot.target > p.target + 1e-4)
        {
            knots.push(knot);
        }
    }
    let (first, last) = (knots[0], knots[knots.len() - 1]);
    if let Some(lead) = end_knot(first.source, first.target) {
        knots.insert(
            0,
            Knot {
                source: first.source - lead.0,
                target: first.target - lead.1,
            },
        );
    }
    let tail = end_knot(
        sides.source_duration - last.source,
        sides.target_duration - last.target,
    );
    if let Some(tail) = tail {
        knots.push(Knot {
            source: last.source + tail.0,
            target: last.target + tail.1,
        });
    }
    knots
}

/// How much worse (mean distance along it, as a share of the distance by
/// chance) a straight line must match the frames than the path does
/// before the warp leaves it.
const FOLLOW_MARGIN: f64 = 0.04;

/// What [`follow`] fits the knots to.
struct Fit<'a, C: Fn(usize, usize) -> f32> {
    path: &'a [(usize, usize)],
    smoothed: &'a [(f64, f64)],
    cost: C,
    rows: usize,
    /// Source frames the smoothed path may stray from a straight line.
    tolerance: f64,
    margin: f64,
}

/// Douglas-Peucker between path cells `a` and `b` (exclusive), at points
/// `pa` and `pb` (source, target frames): push, in order, the cells where
/// the smoothed path is furthest (in source frames, at the same target
/// time) from the straight line between the points chosen around it,
/// while it strays more than the tolerance and the line matches worse.
fn follow<C: Fn(usize, usize) -> f32>(
    fit: &Fit<C>,
    (a, pa): (usize, (f64, f64)),
    (b, pb): (usize, (f64, f64)),
    chosen: &mut Vec<usize>,
) {
    if b <= a + 1 || pb.1 <= pa.1 {
        return;
    }
    let line = |j: f64| pa.0 + (j - pa.1) * (pb.0 - pa.0) / (pb.1 - pa.1);
    let far = (a + 1..b)
        .map(|k| (k, (fit.smoothed[k].0 - line(fit.smoothed[k].1)).abs()))
        .max_by(|x, y| x.1.total_cmp(&y.1));
    let Some((k, _)) = far.filter(|&(_, d)| d > fit.tolerance) else {
        return;
    };
    let (j0, j1) = (pa.1.round() as usize, pb.1.round() as usize);
    let on_line: Vec<f32> = (j0..=j1)
        .map(|j| {
            (fit.cost)(
                (line(j as f64).round().max(0.0) as usize).min(fit.rows - 1),
                j,
            )
        })
        .collect();
    let on_path: Vec<f32> = (a..=b)
        .map(|k| (fit.cost)(fit.path[k].0, fit.path[k].1))
        .collect();
    if mean(&on_line) - mean(&on_path) < fit.margin {
        return;
    }
    let pk = fit.smoothed[k];
    follow(fit, (a, pa), (k, pk), chosen);
    chosen.push(k);
    follow(fit, (k, pk), (b, pb), chosen);
}

/// Moving average of the path over +-`smoothing_s` (non-decreasing, endpoints pinned).
fn smooth_path(path: &[(usize, usize)], smoothing_s: f64) -> Vec<(f64, f64)> {
    let half = ((smoothing_s / HOP_S).round() as usize).max(1);
    let len = path.len();
    let mut prefix = vec![(0f64, 0f64); len + 1];
    for (k, &(i, j)) in path.iter().enumerate() {
        prefix[k + 1] = (prefix[k].0 + i as f64, prefix[k].1 + j as f64);
    }
    (0..len)
        .map(|k| {
            let h = half.min(k).min(len - 1 - k);
            let (a, b) = (k - h, k + h + 1);
            let count = (b - a) as f64;
            (
                (prefix[b].0 - prefix[a].0) / count,
                (prefix[b].1 - prefix[a].1) / count,
            )
        })
        .collect()
}

/// Span (source, target) covered by a lead-in or tail of `ds` source and `dt`
/// target seconds: both wholly when their ratio is within 1/2..2, otherwise as
/// much as a 2x (or 1/2x) rate allows from the speech edge. What is left over
/// shows the first/last frame held, or is skipped.
fn end_knot(ds: f64, dt: f64) -> Option<(f64, f64)> {
    if ds < 0.005 || dt < 0.005 {
        return None;
    }
    let rate = dt / ds;
    Some(if rate > 2.0 {
        (ds, 2.0 * ds)
    } else if rate < 0.5 {
        (2.0 * dt, dt)
    } else {
        (ds, dt)
    })
}

fn confidence(path: &[(usize, usize)], src: &Side, tgt: &Side, warp: &Warp) -> Confidence {
    // On the cepstra alone: the thresholds below are measured on them.
    let cepstra = Compare::cepstra(&src.track, &tgt.track);
    let path_cost = mean(&speech_distances(path, &cepstra));
    let chance_cost = cepstra.chance();
    let tj: Vec<usize> = (0..tgt.len()).filter(|&j| !tgt.track.silent[j]).collect();
    let rates: Vec<bool> = tj
        .iter()
        .map(|&j| {
            let t = (tgt.first + j) as f64 * HOP_S;
            let r = (warp.source_at(t + 0.02) - warp.source_at(t - 0.02)) / 0.04;
            (0.5..=2.0).contains(&r)
        })
        .collect();
    let plausible_rate_share =
        rates.iter().filter(|&&r| r).count() as f64 / rates.len().max(1) as f64;
    let ratio = path_cost / chance_cost.max(1e-6);
    // Matching speech sits well under chance (about 0.5-0.7 of it); unrelated speech near 0.9-1.
    let score = ((0.95 - ratio) / 0.35).clamp(0.0, 1.0) * plausible_rate_share.clamp(0.0, 1.0);
    let mut warnings = Vec::new();
    if ratio > 0.85 {
        warnings.push(format!(
            "the audios barely match (path cost {:.0}% of chance): the source and target may not say the same words",
            ratio * 100.0
        ));
    }
    if plausible_rate_share < 0.8 {
        warnings.push(format!(
            "only {:.0}% of the target's speech maps at a plausible pace (0.5x-2x)",
            plausible_rate_share * 100.0
        ));
    }
    Confidence {
        score,
        path_cost,
        chance_cost,
        plausible_rate_share,
        source_speech_s: src.speech_s,
        target_speech_s: tgt.speech_s,
        words: None,
        warnings,
    }
}

fn mean(v: &[f32]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vantage_dsp::features::mfcc;

    #[test]
    fn anchors_narrow_the_search_around_themselves() {
        let window = anchored_band(400, 400, &[(100, 300)], 1, 150);
        // The path passes within half a second (50 frames) of the anchor...
        assert!(window.lo[100] <= 300 && 300 < window.hi[100]);
        assert_eq!(window.lo[100], 250);
        // ...cannot reach beyond it before it, nor fall back behind it after it...
        assert!((0..100).all(|i| window.hi[i] <= 351));
        assert!((100..400).all(|i| window.lo[i] >= 250));
        // ...and may move as unevenly as it likes in between.
        assert_eq!((window.lo[50], window.hi[50]), (0, 351));
    }

    #[test]
    fn only_consistent_runs_of_anchors_overrule_the_sound() {
        let at = |source, target| Anchor { source, target };
        let anchors = [
            at(1.0, 1.0),
            at(2.0, 2.0),
            at(3.0, 9.0), // a slip, and a second one in a row
            at(3.1, 14.0),
            at(4.0, 4.0),
            at(5.0, 7.0), // a run of three at plausible paces
            at(6.0, 8.0),
            at(7.0, 9.5),
            at(8.0, 10.0),
        ];
        let disagrees = [false, false, true, true, false, true, true, true, false];
        let (kept, overruled) = judge_anchors(&anchors, &disagrees);
        assert!(overruled);
        let sources: Vec<f64> = kept.iter().map(|a| a.source).collect();
        assert_eq!(sources, [1.0, 2.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        // The same run with one pace no pause explains (0.1 s against 5 s) is dropped.
        let mut contradictory = anchors;
        contradictory[6] = at(5.1, 12.0);
        let (kept, overruled) = judge_anchors(&contradictory, &disagrees);
        assert!(!overruled);
        assert_eq!(kept.len(), 4);
    }

    #[test]
    fn lead_and_tail_rates_stay_within_half_to_double() {
        assert_eq!(end_knot(1.0, 1.5), Some((1.0, 1.5)));
        assert_eq!(end_knot(0.5, 3.0), Some((0.5, 1.0)));
        assert_eq!(end_knot(3.0, 0.5), Some((1.0, 0.5)));
        assert_eq!(end_knot(0.0, 1.0), None);
    }

    #[test]
    fn silence_is_rejected_with_a_reason() {
        let silent = vec![0f32; 16_000 * 3];
        let speechy: Vec<f32> = (0..16_000 * 3)
            .map(|i| ((i as f32) * 0.05).sin() * 0.3)
            .collect();
        let (speechy, silent) = (mfcc(&speechy), mfcc(&silent));
        let opts = AlignOptions::default();
        let err = align(speechy.into(), silent.into(), 3.0, 3.0, &opts).err();
        assert_eq!(err, Some(AlignError::NoSpeech("target")));
    }
}
